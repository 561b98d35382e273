//! Session settings a client makes with SET, kept so they can be applied to whichever backend
//! connection runs the client's next statement, and never leak to another client.
//!
//! Each setting is kept as the SQL that re-creates it (`sql_mode = 'ANSI'`, `NAMES utf8mb4`,
//! `@cart = 42`), keyed by the variable it sets. A backend connection remembers the settings it
//! carries; before a statement, the difference is applied with one SET, or, when the
//! connection carries something this session does not have, the connection is reset first.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionVars {
    pub settings: BTreeMap<String, String>,
}

impl SessionVars {
    /// What a connection carrying `applied` needs: `None` when it carries exactly these
    /// settings; `Some((reset, sql))` otherwise, `reset` when it carries settings this session
    /// lacks (or with other values) so it must be reset first, and the SET statement to run.
    pub fn plan(&self, applied: &BTreeMap<String, String>) -> Option<(bool, Option<String>)> {
        if applied == &self.settings {
            return None;
        }
        let reset = applied.iter().any(|(k, v)| self.settings.get(k) != Some(v));
        let missing: Vec<&str> = self
            .settings
            .iter()
            .filter(|(k, v)| reset || applied.get(*k) != Some(v))
            .map(|(_, v)| v.as_str())
            .collect();
        let sql = (!missing.is_empty()).then(|| format!("SET {}", missing.join(", ")));
        Some((reset, sql))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_router::command::{parse_set, SetItem};

    #[test]
    fn settings_replay_as_one_valid_set() {
        // Django's connection setup: NAMES, then the isolation level.
        let mut vars = SessionVars::default();
        for sql in [
            "SET NAMES utf8mb4",
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ] {
            for item in parse_set(sql).unwrap() {
                if let SetItem::Variable { key, sql, .. } = item {
                    vars.settings.insert(key, sql);
                }
            }
        }
        assert_eq!(
            vars.plan(&BTreeMap::new()),
            Some((
                false,
                Some("SET NAMES utf8mb4, tx_isolation = 'READ-COMMITTED'".into())
            ))
        );
    }

    #[test]
    fn plans_the_difference() {
        let mut vars = SessionVars::default();
        assert_eq!(vars.plan(&BTreeMap::new()), None);
        vars.settings
            .insert("sql_mode".into(), "sql_mode = 'ANSI'".into());
        assert_eq!(
            vars.plan(&BTreeMap::new()),
            Some((false, Some("SET sql_mode = 'ANSI'".into())))
        );
        let mut applied = vars.settings.clone();
        applied.insert("@x".into(), "@x = 1".into());
        // The connection carries a user variable this session never set: reset it.
        assert_eq!(
            vars.plan(&applied),
            Some((true, Some("SET sql_mode = 'ANSI'".into())))
        );
        assert_eq!(SessionVars::default().plan(&applied), Some((true, None)));
    }
}
