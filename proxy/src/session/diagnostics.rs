//! The diagnostics area of the client's last statement: what `SHOW WARNINGS`, `SHOW ERRORS`,
//! `@@warning_count` and `@@error_count` answer. A backend's warnings live on the backend
//! connection that ran the statement, which goes back to the pool; so when a statement's
//! answer says it has warnings, the session reads them from that connection before it gives
//! it back (this costs a round trip only when there are warnings). Errors shardgate sends
//! itself, or relays, are recorded as MySQL records them: the error replaces the list.

use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use crate::engine::warnings::{Condition, Warnings};
use crate::protocol::resultset::TextResult;

/// The last statement's conditions.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    conditions: Vec<Condition>,
    /// The warning count the client was told (which may exceed the rows kept, as the
    /// server keeps at most `max_error_count`).
    warnings: u64,
}

impl Diagnostics {
    /// A statement that uses tables starts a new list.
    pub fn clear(&mut self) {
        self.conditions.clear();
        self.warnings = 0;
    }

    /// The statement failed with this error.
    pub fn error(&mut self, code: u16, message: &str) {
        self.clear();
        self.conditions.push(Condition {
            level: "Error".into(),
            code: code.to_string(),
            message: message.to_string(),
        });
        self.warnings = 1;
    }

    /// Warnings backends reported for the statement.
    pub fn add(&mut self, warnings: Warnings) {
        self.warnings += warnings.count;
        self.conditions.extend(warnings.conditions);
    }

    pub fn warning_count(&self) -> u64 {
        self.warnings.max(self.conditions.len() as u64)
    }

    pub fn error_count(&self) -> u64 {
        self.conditions
            .iter()
            .filter(|c| c.level == "Error")
            .count() as u64
    }

    fn rows(&self, errors: bool, limit: Option<(u64, u64)>) -> Vec<Vec<Option<String>>> {
        let (offset, count) = limit.unwrap_or((0, u64::MAX));
        self.conditions
            .iter()
            .filter(|c| !errors || c.level == "Error")
            .skip(offset.min(usize::MAX as u64) as usize)
            .take(count.min(usize::MAX as u64) as usize)
            .map(|c| {
                vec![
                    Some(c.level.clone()),
                    Some(c.code.clone()),
                    Some(c.message.clone()),
                ]
            })
            .collect()
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// `SHOW WARNINGS`, `SHOW ERRORS`, `SHOW COUNT(*) WARNINGS|ERRORS`.
    pub(crate) fn diagnostics_result(
        &self,
        errors: bool,
        count: bool,
        limit: Option<(u64, u64)>,
    ) -> TextResult {
        if count {
            let (label, n) = if errors {
                (
                    "@@session.error_count",
                    self.state.diagnostics.error_count(),
                )
            } else {
                (
                    "@@session.warning_count",
                    self.state.diagnostics.warning_count(),
                )
            };
            TextResult::new(&[label])
                .unsigned([0])
                .row(vec![Some(n.to_string())])
        } else {
            let mut result = TextResult::new(&["Level", "Code", "Message"]).unsigned([1]);
            result.rows = self.state.diagnostics.rows(errors, limit);
            result
        }
    }

    /// Keeps the warnings of the running statement, physical names made logical.
    pub(crate) fn keep_warnings(&mut self, mut warnings: Warnings) {
        for condition in &mut warnings.conditions {
            condition.message = self.rules.names.logical_text(&condition.message);
        }
        self.state.diagnostics.add(warnings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_replaces_the_warnings() {
        let mut d = Diagnostics::default();
        let warning = Condition {
            level: "Warning".into(),
            code: "1265".into(),
            message: "Data truncated".into(),
        };
        d.add(Warnings {
            count: 2,
            conditions: vec![warning.clone(), warning],
        });
        assert_eq!(d.warning_count(), 2);
        assert_eq!(d.rows(false, Some((1, 5))).len(), 1);
        assert_eq!(d.error_count(), 0);
        d.error(1146, "Table 'shop.x' doesn't exist");
        assert_eq!((d.warning_count(), d.error_count()), (1, 1));
        assert_eq!(d.rows(true, None)[0][1].as_deref(), Some("1146"));
        d.clear();
        assert_eq!(d.warning_count(), 0);
    }
}
