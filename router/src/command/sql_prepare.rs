//! PREPARE / EXECUTE / DEALLOCATE PREPARE as SQL statements (what PyMySQL and other
//! text-protocol clients use for server-side prepared statements).

use super::lex::{strip_keyword, unquote, words};
use crate::error::{Result, RouterError};
use crate::params::ParamValue;

/// Where `PREPARE name FROM ...` takes the statement text from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareSource {
    /// A string literal, its value.
    Text(String),
    /// A user variable (`@sql`), which the session holds.
    Variable(String),
}

/// A SQL-level prepared statement command. Names are lower-cased and unquoted, as MySQL
/// compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlPrepared {
    Prepare {
        name: String,
        source: PrepareSource,
    },
    /// `EXECUTE name [USING @a, @b]`: the user variables, as written.
    Execute {
        name: String,
        using: Vec<String>,
    },
    Deallocate {
        name: String,
    },
}

/// The text of `sql` after `word`, one of its [`words`].
fn rest_after<'a>(sql: &'a str, word: &str) -> &'a str {
    let end = (word.as_ptr() as usize + word.len()).saturating_sub(sql.as_ptr() as usize);
    sql.get(end..).unwrap_or("")
}

fn statement_name(word: &str) -> String {
    unquote(word).to_ascii_lowercase()
}

impl SqlPrepared {
    pub fn parse(sql: &str) -> Result<SqlPrepared> {
        let words = words(sql);
        let first = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        match first.as_str() {
            "PREPARE" => {
                let bad = || RouterError::Parse("expected PREPARE name FROM 'statement'".into());
                let name = words.get(1).ok_or_else(bad)?;
                if !words.get(2).is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
                    return Err(bad());
                }
                // The source is the rest of the text, not just a word: a literal may
                // hold spaces.
                let from = rest_after(sql, words[2])
                    .trim()
                    .trim_end_matches(';')
                    .trim_end();
                let source = if from.starts_with('@') {
                    PrepareSource::Variable(from.to_string())
                } else {
                    let literals = crate::normalize(from).literals;
                    match literals.as_slice() {
                        [one] if one.span.start == 0 && one.span.end == from.len() => {
                            match &one.value {
                                ParamValue::Str(s) => PrepareSource::Text(s.to_string()),
                                _ => return Err(bad()),
                            }
                        }
                        _ => return Err(bad()),
                    }
                };
                Ok(SqlPrepared::Prepare {
                    name: statement_name(name),
                    source,
                })
            }
            "EXECUTE" => {
                let bad = || RouterError::Parse("expected EXECUTE name [USING @var, ...]".into());
                let name = words.get(1).ok_or_else(bad)?;
                let rest = rest_after(sql, name)
                    .trim()
                    .trim_end_matches(';')
                    .trim_end();
                let using = match strip_keyword(rest, "USING") {
                    Some(list) => list.split(',').map(|v| v.trim().to_string()).collect(),
                    None if rest.is_empty() => Vec::new(),
                    None => return Err(bad()),
                };
                Ok(SqlPrepared::Execute {
                    name: statement_name(name),
                    using,
                })
            }
            "DEALLOCATE" | "DROP"
                if words.len() == 3 && words[1].eq_ignore_ascii_case("PREPARE") =>
            {
                Ok(SqlPrepared::Deallocate {
                    name: statement_name(words[2]),
                })
            }
            _ => Err(RouterError::Parse(
                "expected DEALLOCATE PREPARE name".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sql_prepared_statements() {
        assert_eq!(
            SqlPrepared::parse("PREPARE s1 FROM 'SELECT * FROM t WHERE id = ?'"),
            Ok(SqlPrepared::Prepare {
                name: "s1".into(),
                source: PrepareSource::Text("SELECT * FROM t WHERE id = ?".into())
            })
        );
        assert_eq!(
            SqlPrepared::parse("prepare `S1` from @q;"),
            Ok(SqlPrepared::Prepare {
                name: "s1".into(),
                source: PrepareSource::Variable("@q".into())
            })
        );
        assert_eq!(
            SqlPrepared::parse("EXECUTE s1 USING @a, @b"),
            Ok(SqlPrepared::Execute {
                name: "s1".into(),
                using: vec!["@a".into(), "@b".into()]
            })
        );
        assert_eq!(
            SqlPrepared::parse("DROP PREPARE s1"),
            Ok(SqlPrepared::Deallocate { name: "s1".into() })
        );
        assert!(SqlPrepared::parse("PREPARE s1 FROM 'a' 'b'").is_err());
        assert_eq!(
            SqlPrepared::parse("PREPARE from_x /* c */ FROM 'SELECT 1';"),
            Ok(SqlPrepared::Prepare {
                name: "from_x".into(),
                source: PrepareSource::Text("SELECT 1".into())
            })
        );
        assert!(SqlPrepared::parse("EXECUTE s1 WITH x").is_err());
        assert!(SqlPrepared::parse("DEALLOCATE s1").is_err());
    }
}
