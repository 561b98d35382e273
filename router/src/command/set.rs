//! SET statements, read into the settings they make. The session keeps each setting as the
//! SQL that re-creates it (`sql_mode = 'ANSI'`, `NAMES utf8mb4`, `@cart = 42`), keyed by the
//! variable it sets, so it can be replayed on whichever backend connection runs the client's
//! next statement. `SET SESSION TRANSACTION ...` becomes the plain assignments it stands for,
//! because it cannot share a SET with other settings when replayed.

use super::lex::{split_top_level, strip_keyword};

/// One parsed element of a SET statement's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetItem {
    /// A session or user variable: key (`sql_mode`, `@x`), the SQL to replay, and whether the
    /// value is a literal (otherwise it must be read back after running the SET once).
    Variable {
        key: String,
        sql: String,
        literal: bool,
    },
    /// `SET GLOBAL ...`: not passed to backends.
    Global(String),
    /// `SET TRANSACTION ...` without SESSION: applies to the next transaction only.
    NextTransaction(String),
    /// A SET shardgate refuses, with the reason (`SET STATEMENT ... FOR`, a name that is
    /// not a variable's).
    Refused(String),
}

/// Why shardgate refuses a SET with these items, before anything runs: a SET it does not
/// plan, or a value that is an expression it may not send to a backend.
pub fn refusal(items: &[SetItem]) -> Option<String> {
    items.iter().find_map(|item| match item {
        SetItem::Refused(why) => Some(why.clone()),
        SetItem::Variable {
            sql,
            literal: false,
            ..
        } => {
            let value = sql.split_once('=').map_or("", |(_, v)| v);
            crate::analyze::policy::check_set_value(value)
                .err()
                .map(|e| e.to_string().trim_start_matches("router: ").to_string())
        }
        _ => None,
    })
}

/// Splits `SET a = 1, SESSION b = 'x', NAMES utf8mb4` into its items. `None` when the text is
/// not a SET statement this parser understands.
pub fn parse_set(sql: &str) -> Option<Vec<SetItem>> {
    let body = strip_keyword(sql.trim().trim_end_matches(';').trim(), "SET")?;
    if strip_keyword(body, "STATEMENT").is_some() {
        return Some(vec![SetItem::Refused(
            "SET STATEMENT ... FOR is not supported: shardgate plans the statement itself, not one wrapped in a SET".into(),
        )]);
    }
    // `SET [SESSION] TRANSACTION a, b`: the commas separate characteristics, and the
    // statement sets nothing else.
    if let Some(rest) = strip_keyword(body, "TRANSACTION") {
        return Some(vec![SetItem::NextTransaction(format!(
            "TRANSACTION {}",
            rest.trim()
        ))]);
    }
    let session_tx = strip_keyword(body, "SESSION")
        .or_else(|| strip_keyword(body, "LOCAL"))
        .and_then(|rest| strip_keyword(rest, "TRANSACTION"));
    if let Some(rest) = session_tx {
        return transaction_characteristics(rest);
    }
    let mut items = Vec::new();
    for part in split_top_level(body) {
        let part = part.trim();
        if part.is_empty() {
            return None;
        }
        items.push(parse_item(part)?);
    }
    (!items.is_empty()).then_some(items)
}

fn parse_item(part: &str) -> Option<SetItem> {
    let upper = part.to_ascii_uppercase();
    if let Some(rest) =
        strip_keyword(part, "GLOBAL").or_else(|| upper.starts_with("@@GLOBAL.").then(|| &part[9..]))
    {
        return Some(SetItem::Global(rest.to_string()));
    }
    if let Some(rest) = strip_keyword(part, "NAMES") {
        return Some(SetItem::Variable {
            key: "names".into(),
            sql: format!("NAMES {}", rest.trim()),
            literal: true,
        });
    }
    for cs in ["CHARACTER SET", "CHARSET"] {
        if let Some(rest) = strip_keyword(part, cs) {
            return Some(SetItem::Variable {
                key: "names".into(),
                sql: format!("CHARACTER SET {}", rest.trim()),
                literal: true,
            });
        }
    }
    let name_part = strip_keyword(part, "SESSION")
        .or_else(|| strip_keyword(part, "LOCAL"))
        .unwrap_or(part);
    let (name, value) = split_assignment(name_part)?;
    let name = name.trim();
    let value = value.trim();
    if !is_variable_name(name) {
        return Some(SetItem::Refused(format!(
            "`{name}` is not a variable name shardgate can set"
        )));
    }
    let lower = name.to_ascii_lowercase();
    let (key, sql_name) =
        if let Some(user_var) = lower.strip_prefix('@').filter(|v| !v.starts_with('@')) {
            (format!("@{}", user_var.trim_matches('`')), name.to_string())
        } else {
            let plain = lower
                .trim_start_matches("@@session.")
                .trim_start_matches("@@local.")
                .trim_start_matches("@@")
                .trim_matches('`')
                .to_string();
            (plain.clone(), plain)
        };
    // Aliases of one setting share a key, so the later SET replaces the earlier; MySQL 8's
    // names are replayed under MariaDB's.
    let (key, sql_name) = match key.as_str() {
        "tx_isolation" | "transaction_isolation" => (
            "transaction_isolation".to_string(),
            "tx_isolation".to_string(),
        ),
        "tx_read_only" | "transaction_read_only" => (
            "transaction_read_only".to_string(),
            "tx_read_only".to_string(),
        ),
        _ => (key, sql_name),
    };
    Some(SetItem::Variable {
        sql: format!("{sql_name} = {value}"),
        literal: is_literal(value),
        key,
    })
}

/// `SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY` as the session
/// variables it sets, so it is replayed as plain assignments (it cannot share a SET with
/// other settings).
fn transaction_characteristics(rest: &str) -> Option<Vec<SetItem>> {
    let mut items = Vec::new();
    for part in rest.split(',') {
        let words: Vec<String> = part
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let (key, sql) = match words.as_slice() {
            ["ISOLATION", "LEVEL", level @ ..] => {
                let level = match level {
                    ["READ", "UNCOMMITTED"] => "READ-UNCOMMITTED",
                    ["READ", "COMMITTED"] => "READ-COMMITTED",
                    ["REPEATABLE", "READ"] => "REPEATABLE-READ",
                    ["SERIALIZABLE"] => "SERIALIZABLE",
                    _ => return None,
                };
                ("transaction_isolation", format!("tx_isolation = '{level}'"))
            }
            ["READ", "ONLY"] => ("transaction_read_only", "tx_read_only = 1".to_string()),
            ["READ", "WRITE"] => ("transaction_read_only", "tx_read_only = 0".to_string()),
            _ => return None,
        };
        items.push(SetItem::Variable {
            key: key.into(),
            sql,
            literal: true,
        });
    }
    (!items.is_empty()).then_some(items)
}

/// `sql_mode`, `@@session.sql_mode`, `@x`, `` @`my var` ``: a variable, and nothing else.
fn is_variable_name(name: &str) -> bool {
    let bare = name.trim_start_matches('@');
    if name.len() - bare.len() > 2 || bare.is_empty() {
        return false;
    }
    if let Some(quoted) = bare.strip_prefix('`').and_then(|b| b.strip_suffix('`')) {
        return name.starts_with('@') && !name.starts_with("@@") && !quoted.contains('`');
    }
    bare.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.')
}

/// Numbers, quoted strings, NULL, ON/OFF, TRUE/FALSE, DEFAULT and bare words (`SYSTEM`).
fn is_literal(value: &str) -> bool {
    let v = value.trim();
    if v.len() >= 2
        && (v.starts_with('\'') && v.ends_with('\'') || v.starts_with('"') && v.ends_with('"'))
    {
        return !v[1..v.len() - 1].contains(['\'', '"']) || !v.contains('\\');
    }
    v.parse::<f64>().is_ok() || v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn split_assignment(part: &str) -> Option<(&str, &str)> {
    if let Some(i) = part.find(":=") {
        return Some((&part[..i], &part[i + 2..]));
    }
    let i = part.find('=')?;
    Some((&part[..i], &part[i + 1..]))
}

/// The value an `autocommit = ...` assignment sets: `Some(true)` for 1, ON or TRUE,
/// `Some(false)` for 0, OFF or FALSE.
pub fn autocommit_value(assignment: &str) -> Option<bool> {
    let value = assignment
        .rsplit('=')
        .next()?
        .trim()
        .trim_matches('\'')
        .to_ascii_uppercase();
    match value.as_str() {
        "1" | "ON" | "TRUE" => Some(true),
        "0" | "OFF" | "FALSE" => Some(false),
        _ => None,
    }
}

/// The key a user variable is kept under: `@X`, `` @`x` `` and `@x` are one variable.
pub fn user_variable_key(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.strip_prefix('@') {
        Some(v) => format!("@{}", v.trim_matches('`')),
        None => lower,
    }
}

/// The value a kept assignment (`@x = 'abc'`, `@x = -7`) gives its variable; `None` when
/// it is not one literal or signed number (the proxy cannot tell the value).
pub fn assigned_value(assignment: &str) -> Option<crate::ParamValue<'static>> {
    let value = assignment.split_once('=').map_or("", |(_, v)| v.trim());
    if value.eq_ignore_ascii_case("NULL") {
        return Some(crate::ParamValue::Null);
    }
    let normalized = crate::normalize(value);
    let shape: String = normalized
        .shape
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let [literal] = normalized.literals.as_slice() else {
        return None;
    };
    let literal = literal.value.clone().into_owned();
    // Only a value that is one literal, or a signed number: of an expression (`1 + 2`,
    // `-'7'`) the first literal is not the value, and routing by it would go astray.
    match (shape.as_str(), literal) {
        ("?", v) | ("+?", v @ (crate::ParamValue::Int(_) | crate::ParamValue::Number(_))) => {
            Some(v)
        }
        ("-?", crate::ParamValue::Int(v)) => Some(crate::ParamValue::Int(-v)),
        ("-?", crate::ParamValue::Number(text)) => {
            Some(crate::ParamValue::Number(format!("-{text}").into()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kept_values() {
        assert_eq!(user_variable_key("@`X`"), "@x");
        assert_eq!(
            assigned_value("@x = 'a=b'"),
            Some(crate::ParamValue::Str("a=b".into()))
        );
        assert_eq!(assigned_value("@x = NULL"), Some(crate::ParamValue::Null));
        // A negative number is the number, not its digits (routing by 7 for -7 went to
        // another table).
        assert_eq!(assigned_value("@x = -7"), Some(crate::ParamValue::Int(-7)));
        assert_eq!(
            assigned_value("@x = - 1.5"),
            Some(crate::ParamValue::Number("-1.5".into()))
        );
        assert_eq!(assigned_value("@x = +7"), Some(crate::ParamValue::Int(7)));
        for expression in [
            "@x = 1 + 2",
            "@x = -'7'",
            "@x = CONCAT('a')",
            "@x = @y",
            "@x = 0x41",
        ] {
            assert_eq!(assigned_value(expression), None, "{expression}");
        }
    }

    #[test]
    fn reads_the_autocommit_value() {
        assert_eq!(autocommit_value("autocommit = 1"), Some(true));
        assert_eq!(autocommit_value("autocommit='ON'"), Some(true));
        assert_eq!(autocommit_value("autocommit = off"), Some(false));
        assert_eq!(autocommit_value("autocommit = @x"), None);
    }

    #[test]
    fn parses_set_lists() {
        let items = parse_set("SET SESSION sql_mode = 'ANSI', @x := 5, NAMES utf8mb4 COLLATE utf8mb4_bin, @@time_zone='+00:00'").unwrap();
        assert_eq!(
            items[0],
            SetItem::Variable {
                key: "sql_mode".into(),
                sql: "sql_mode = 'ANSI'".into(),
                literal: true
            }
        );
        assert_eq!(
            items[1],
            SetItem::Variable {
                key: "@x".into(),
                sql: "@x = 5".into(),
                literal: true
            }
        );
        assert_eq!(
            items[2],
            SetItem::Variable {
                key: "names".into(),
                sql: "NAMES utf8mb4 COLLATE utf8mb4_bin".into(),
                literal: true
            }
        );
        assert_eq!(
            items[3],
            SetItem::Variable {
                key: "time_zone".into(),
                sql: "time_zone = '+00:00'".into(),
                literal: true
            }
        );
        assert!(matches!(
            parse_set("SET GLOBAL max_connections = 10").unwrap()[0],
            SetItem::Global(_)
        ));
        assert!(matches!(
            parse_set("SET TRANSACTION READ ONLY").unwrap()[0],
            SetItem::NextTransaction(_)
        ));
        let items = parse_set("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").unwrap();
        assert_eq!(
            items[0],
            SetItem::Variable {
                key: "transaction_isolation".into(),
                sql: "tx_isolation = 'READ-COMMITTED'".into(),
                literal: true
            }
        );
        let items =
            parse_set("set session transaction isolation level serializable, read only").unwrap();
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[1], SetItem::Variable { sql, .. } if sql == "tx_read_only = 1"));
        assert!(matches!(
            parse_set("SET STATEMENT max_statement_time=1 FOR CREATE DATABASE x").unwrap()[0],
            SetItem::Refused(_)
        ));
        assert!(matches!(
            parse_set("SET x = 1 FOR y, (SELECT 1) = 2").unwrap()[1],
            SetItem::Refused(_)
        ));
        let items = parse_set("SET @a = CONCAT('x', ','), autocommit=0").unwrap();
        assert_eq!(items.len(), 2);
        assert!(matches!(
            &items[0],
            SetItem::Variable { literal: false, .. }
        ));
        assert!(parse_set("SELECT 1").is_none());
    }
}
