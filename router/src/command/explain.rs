//! `EXPLAIN [EXTENDED | PARTITIONS | FORMAT = name] statement` (and `DESC`/`DESCRIBE` of a
//! statement): the statement is planned, not run. `EXPLAIN t` / `DESCRIBE t` of a table stay
//! SHOW COLUMNS.

use super::lex;

/// The statements EXPLAIN takes.
const EXPLAINED: [&str; 6] = ["SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"];

/// An EXPLAIN of a statement: its modifiers as written (upper case, one space apart) and
/// the statement's text. `None` when `text` is not one (a table's DESCRIBE).
pub fn split(text: &str) -> Option<(String, &str)> {
    let mut rest = lex::skip_comments(text);
    // The EXPLAIN / DESC / DESCRIBE keyword.
    rest = lex::skip_comments(&rest[word_len(rest)..]);
    let mut modifiers = Vec::new();
    loop {
        let word = rest[..word_len(rest)].to_ascii_uppercase();
        match word.as_str() {
            "EXTENDED" | "PARTITIONS" => {
                rest = lex::skip_comments(&rest[word.len()..]);
                modifiers.push(word);
            }
            "FORMAT" => {
                let after = lex::skip_comments(&rest[word.len()..]);
                let value = lex::skip_comments(after.strip_prefix('=')?);
                let name = &value[..word_len(value)];
                if name.is_empty() {
                    return None;
                }
                modifiers.push(format!("FORMAT={}", name.to_ascii_uppercase()));
                rest = lex::skip_comments(&value[name.len()..]);
            }
            _ if rest.starts_with('(') || EXPLAINED.contains(&word.as_str()) => {
                return Some((modifiers.join(" "), rest));
            }
            _ => return None,
        }
    }
}

fn word_len(text: &str) -> usize {
    text.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count()
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn reads_the_modifiers_and_the_statement() {
        assert_eq!(
            split("EXPLAIN SELECT * FROM t"),
            Some((String::new(), "SELECT * FROM t"))
        );
        assert_eq!(
            split("explain /* c */ format = json\n  update t set a = 1"),
            Some(("FORMAT=JSON".into(), "update t set a = 1"))
        );
        assert_eq!(
            split("DESC EXTENDED (SELECT 1)"),
            Some(("EXTENDED".into(), "(SELECT 1)"))
        );
        assert_eq!(split("DESCRIBE t_order"), None);
        assert_eq!(split("EXPLAIN t_order order_id"), None);
        assert_eq!(split("EXPLAIN FORMAT SELECT 1"), None);
        assert_eq!(split("EXPLAIN"), None);
    }
}
