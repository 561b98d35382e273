//! Probes: `SELECT` lists without a table whose every item is a question about the session
//! (`DATABASE()`, `USER()`, `LAST_INSERT_ID()`, `@@warning_count`) or a server variable
//! (`@@session.transaction_isolation`). The session answers them; a backend, which knows
//! neither the logical schema nor the client, never sees them.

use super::lex::{skip_comments, split_top_level, strip_keyword};

/// A fact the session itself knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionValue {
    /// `DATABASE()`, `SCHEMA()`: the logical schema, or NULL before one is chosen.
    Database,
    /// `USER()`, `SESSION_USER()`, `SYSTEM_USER()`: the client as it connected.
    User,
    /// `CURRENT_USER()`: the account it authenticated as.
    CurrentUser,
    /// `CONNECTION_ID()`: the proxy's id for this client connection.
    ConnectionId,
    /// `LAST_INSERT_ID()`, `@@IDENTITY`, `@@LAST_INSERT_ID`.
    LastInsertId,
    /// `@@warning_count`: warnings of the last statement.
    WarningCount,
    /// `@@error_count`: errors of the last statement.
    ErrorCount,
    /// `VERSION()`, `@@version`: the server shardgate says it is.
    Version,
}

/// One item of a probe's select list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeItem {
    Session(SessionValue),
    /// A server variable, as the expression to ask a backend (MySQL 8 names turned into
    /// MariaDB's: `@@session.tx_isolation`).
    Variable(String),
    /// An integer or a quoted string beside the other items (`SELECT 1, 2,
    /// @@transaction_isolation`, MySQL Connector/J's first query): asked of the backend
    /// with the variables, so its value is the server's own.
    Constant(String),
}

/// A probe's select list: each item with the column name the client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub items: Vec<(String, ProbeItem)>,
}

impl Probe {
    /// Reads `SELECT item [AS label], ...`; `None` when the statement is anything else (it
    /// then goes to the planner, which refuses session functions inside larger statements).
    pub fn parse(sql: &str) -> Option<Probe> {
        let body = sql.trim().trim_end_matches(';').trim_end();
        let list = strip_keyword(skip_comments(body), "SELECT")?;
        let mut items = Vec::new();
        for item in split_top_level(list) {
            let item = item.trim();
            let probe = split_alias(item)
                .and_then(|(expr, label)| Some((label.to_string(), probe_item(expr)?)))
                .or_else(|| Some((item.to_string(), probe_item(item)?)))?;
            items.push(probe);
        }
        // Constants alone are a plain SELECT (a backend answers it, types and all).
        let asks = items
            .iter()
            .any(|(_, i)| !matches!(i, ProbeItem::Constant(_)));
        asks.then_some(Probe { items })
    }

    /// The items a backend answers (variables and constants), in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|(_, item)| match item {
            ProbeItem::Variable(expr) | ProbeItem::Constant(expr) => Some(expr.as_str()),
            ProbeItem::Session(_) => None,
        })
    }
}

/// `expr AS label`, `expr label` or `expr` (labelled as written).
fn split_alias(item: &str) -> Option<(&str, &str)> {
    let upper = item.to_ascii_uppercase();
    if let Some(i) = upper.rfind(" AS ") {
        let label = unquote_label(item[i + 4..].trim())?;
        return Some((item[..i].trim(), label));
    }
    match item.rsplit_once(char::is_whitespace) {
        Some((expr, label)) if !expr.trim().is_empty() => {
            Some((expr.trim(), unquote_label(label.trim())?))
        }
        _ => Some((item, item)),
    }
}

fn unquote_label(label: &str) -> Option<&str> {
    for q in ['`', '\'', '"'] {
        if let Some(inner) = label.strip_prefix(q).and_then(|l| l.strip_suffix(q)) {
            return (!inner.contains(q)).then_some(inner);
        }
    }
    label
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        .then_some(label)
}

fn probe_item(expr: &str) -> Option<ProbeItem> {
    if is_constant(expr) {
        return Some(ProbeItem::Constant(expr.to_string()));
    }
    if let Some(name) = expr.strip_prefix("@@") {
        let lower = name.to_ascii_lowercase();
        let bare = lower
            .trim_start_matches("session.")
            .trim_start_matches("local.");
        if !bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || bare.is_empty()
            || lower.starts_with("global.")
        {
            return None;
        }
        let value = match bare {
            "identity" | "last_insert_id" => ProbeItem::Session(SessionValue::LastInsertId),
            "warning_count" => ProbeItem::Session(SessionValue::WarningCount),
            "error_count" => ProbeItem::Session(SessionValue::ErrorCount),
            "version" => ProbeItem::Session(SessionValue::Version),
            "transaction_read_only" | "tx_read_only" => {
                ProbeItem::Variable("@@session.tx_read_only".into())
            }
            "transaction_isolation" | "tx_isolation" => {
                ProbeItem::Variable("@@session.tx_isolation".into())
            }
            _ => ProbeItem::Variable(format!("@@{lower}")),
        };
        return Some(value);
    }
    let call = expr
        .split_whitespace()
        .collect::<String>()
        .to_ascii_uppercase();
    let name = call.strip_suffix("()")?;
    let value = match name {
        "DATABASE" | "SCHEMA" => SessionValue::Database,
        "USER" | "SESSION_USER" | "SYSTEM_USER" => SessionValue::User,
        "CURRENT_USER" => SessionValue::CurrentUser,
        "CONNECTION_ID" => SessionValue::ConnectionId,
        "LAST_INSERT_ID" => SessionValue::LastInsertId,
        "VERSION" => SessionValue::Version,
        _ => return None,
    };
    Some(ProbeItem::Session(value))
}

/// An integer (`2`, `-1`) or a single-quoted string with no quote or backslash inside.
fn is_constant(expr: &str) -> bool {
    let digits = expr.strip_prefix('-').unwrap_or(expr);
    if !digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    expr.len() >= 2
        && expr.starts_with('\'')
        && expr.ends_with('\'')
        && !expr[1..expr.len() - 1].contains(['\'', '\\'])
}

/// The generator name of `SELECT NEXTVAL('name')` (any case, spacing, trailing `;`).
pub fn nextval_of(sql: &str) -> Option<String> {
    let compact: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let compact = compact.trim_end_matches(';').trim_end();
    let strip = |text: &'_ str, word: &str| -> Option<String> {
        let head = text.get(..word.len())?;
        head.eq_ignore_ascii_case(word)
            .then(|| text[word.len()..].trim_start().to_string())
    };
    let rest = strip(compact, "SELECT ")?;
    let rest = strip(&rest, "NEXTVAL")?;
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?.trim();
    let name = inner.strip_prefix('\'')?.strip_suffix('\'')?;
    (!name.is_empty() && !name.contains('\'')).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_probes() {
        let p = Probe::parse("SELECT DATABASE()").unwrap();
        assert_eq!(
            p.items,
            vec![(
                "DATABASE()".into(),
                ProbeItem::Session(SessionValue::Database)
            )]
        );
        let p = Probe::parse("select database() as db, user() `u`, @@session.transaction_isolation, CURRENT_USER ( )").unwrap();
        assert_eq!(p.items[0].0, "db");
        assert_eq!(
            p.items[1],
            ("u".into(), ProbeItem::Session(SessionValue::User))
        );
        assert_eq!(
            p.items[2],
            (
                "@@session.transaction_isolation".into(),
                ProbeItem::Variable("@@session.tx_isolation".into())
            )
        );
        assert_eq!(p.items[3].1, ProbeItem::Session(SessionValue::CurrentUser));
        assert_eq!(
            Probe::parse("SELECT @@warning_count").unwrap().items[0].1,
            ProbeItem::Session(SessionValue::WarningCount)
        );
        assert!(Probe::parse("SELECT DATABASE(), id FROM t").is_none());
        assert!(Probe::parse("SELECT LOAD_FILE('/etc/passwd')").is_none());
        assert!(Probe::parse("SELECT @@global.max_connections").is_none());
        assert!(Probe::parse("SELECT @@x, (SELECT 1)").is_none());
        assert!(Probe::parse("SELECT 1").is_none());
        assert!(Probe::parse("SELECT 1, 'a'").is_none());
        let p = Probe::parse("SELECT 1, 2, @@transaction_isolation").unwrap();
        assert_eq!(
            p.items,
            vec![
                ("1".to_string(), ProbeItem::Constant("1".into())),
                ("2".to_string(), ProbeItem::Constant("2".into())),
                (
                    "@@transaction_isolation".to_string(),
                    ProbeItem::Variable("@@session.tx_isolation".into())
                ),
            ]
        );
        assert_eq!(
            p.variables().collect::<Vec<_>>(),
            ["1", "2", "@@session.tx_isolation"]
        );
        assert!(Probe::parse("SELECT 'it''s', DATABASE()").is_none());
        assert!(Probe::parse("SELECT 1 + 1, DATABASE()").is_none());
    }

    #[test]
    fn nextval_names() {
        assert_eq!(
            nextval_of("SELECT NEXTVAL('order_id_gen')").as_deref(),
            Some("order_id_gen")
        );
        assert_eq!(
            nextval_of("select nextval( 'Seq' ) ;").as_deref(),
            Some("Seq")
        );
        assert_eq!(nextval_of("SELECT NEXTVAL(order_id_gen)"), None);
        assert_eq!(nextval_of("SELECT NEXTVAL('a'), 1"), None);
        assert_eq!(nextval_of("SELECT 1"), None);
    }
}
