//! SAVEPOINT, ROLLBACK TO and RELEASE SAVEPOINT, read whatever the whitespace and comments
//! between their words (`ROLLBACK` + newline + `TO SAVEPOINT sp` is a savepoint rollback, not
//! the end of the transaction).

/// What a savepoint statement does to the transaction's savepoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavepointOp {
    Set(String),
    RollbackTo(String),
    Release(String),
}

impl SavepointOp {
    /// `SAVEPOINT sp`, `ROLLBACK [WORK] TO [SAVEPOINT] sp`, `RELEASE SAVEPOINT sp`; `None`
    /// for anything else.
    pub fn parse(sql: &str) -> Option<SavepointOp> {
        let words = super::lex::words(sql);
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
        let name = |i: usize| -> Option<String> {
            (words.len() == i + 1).then_some(())?;
            let name = words[i];
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
            let quoted = name.len() > 2
                && name.starts_with('`')
                && name.ends_with('`')
                && !name[1..name.len() - 1].contains('`');
            (plain || quoted).then(|| name.to_string())
        };
        match upper.as_slice() {
            ["SAVEPOINT", _] => name(1).map(SavepointOp::Set),
            ["RELEASE", "SAVEPOINT", _] => name(2).map(SavepointOp::Release),
            ["ROLLBACK", "WORK", "TO", "SAVEPOINT", _] => name(4).map(SavepointOp::RollbackTo),
            ["ROLLBACK", "WORK", "TO", _] | ["ROLLBACK", "TO", "SAVEPOINT", _] => {
                name(3).map(SavepointOp::RollbackTo)
            }
            ["ROLLBACK", "TO", _] => name(2).map(SavepointOp::RollbackTo),
            _ => None,
        }
    }
}

/// Whether a ROLLBACK statement rolls back to a savepoint (`ROLLBACK [WORK] TO ...`).
pub fn rolls_back_to_savepoint(sql: &str) -> bool {
    let words = super::lex::words(sql);
    let at = |i: usize| words.get(i).is_some_and(|w| w.eq_ignore_ascii_case("TO"));
    at(1) || (words.get(1).is_some_and(|w| w.eq_ignore_ascii_case("WORK")) && at(2))
}

#[cfg(test)]
mod tests {
    use super::{rolls_back_to_savepoint as to, SavepointOp as Op};

    #[test]
    fn parses_savepoint_statements() {
        assert_eq!(Op::parse("SAVEPOINT s1"), Some(Op::Set("s1".into())));
        assert_eq!(
            Op::parse("savepoint `my sp`;"),
            Some(Op::Set("`my sp`".into()))
        );
        assert_eq!(
            Op::parse("ROLLBACK\nTO SAVEPOINT s1"),
            Some(Op::RollbackTo("s1".into()))
        );
        assert_eq!(
            Op::parse("rollback work /* c */ to s1"),
            Some(Op::RollbackTo("s1".into()))
        );
        assert_eq!(
            Op::parse("RELEASE SAVEPOINT s1"),
            Some(Op::Release("s1".into()))
        );
        assert_eq!(
            Op::parse("ROLLBACK\nTO SAVEPOINT `a b`;"),
            Some(Op::RollbackTo("`a b`".into()))
        );
        assert_eq!(Op::parse("SAVEPOINT s1; DROP TABLE x"), None);
        assert_eq!(Op::parse("SAVEPOINT a b"), None);
        assert_eq!(Op::parse("SAVEPOINT"), None);
        assert_eq!(Op::parse("ROLLBACK"), None);
    }

    #[test]
    fn tells_a_savepoint_rollback() {
        assert!(to("ROLLBACK\nTO SAVEPOINT sp"));
        assert!(to("rollback work /* c */ to sp"));
        assert!(to("ROLLBACK\tTO\nsp"));
        assert!(!to("ROLLBACK"));
        assert!(!to("ROLLBACK WORK"));
        assert!(!to("ROLLBACK /* TO */"));
    }
}
