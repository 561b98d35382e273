//! SHOW and DESCRIBE, read into what they ask: facts about the logical schema, which the
//! session answers itself or from a representative physical table, or server-wide facts a
//! backend answers as they are.

use super::lex::{unquote, words};
use crate::analyze::policy::check_set_value;
use crate::error::{Result, RouterError};

/// What a SHOW or DESCRIBE statement asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Show {
    /// `SHOW DATABASES` / `SCHEMAS` `[LIKE 'pattern']`.
    Databases { like: Option<String> },
    /// `SHOW [FULL] TABLES [FROM|IN db] [LIKE 'pattern']`.
    Tables {
        full: bool,
        like: Option<String>,
        from: Option<String>,
    },
    /// `SHOW [FULL] COLUMNS|FIELDS FROM t [LIKE 'pattern']`, `DESCRIBE t [column|'pattern']`.
    Columns {
        full: bool,
        table: String,
        like: Option<String>,
    },
    /// `SHOW INDEX|INDEXES|KEYS FROM t`.
    Index { table: String },
    /// `SHOW CREATE TABLE t`.
    CreateTable { table: String },
    /// `SHOW WARNINGS`, `SHOW ERRORS`, `SHOW COUNT(*) WARNINGS|ERRORS`: about the
    /// session's last statement. `count` asks for the number alone.
    Diagnostics {
        errors: bool,
        count: bool,
        limit: Option<(u64, u64)>,
    },
    /// Server-wide facts (variables, status, character sets, collations, engines, plugins):
    /// answered by a backend as written: the statement's text. A WHERE condition has been
    /// checked.
    Server(String),
}

/// SHOW statements a backend answers as they are (server-wide facts, not tables).
const SERVER_SHOWS: [&str; 7] = [
    "VARIABLES",
    "STATUS",
    "ENGINES",
    "CHARSET",
    "CHARACTER",
    "COLLATION",
    "PLUGINS",
];

impl Show {
    /// Reads a SHOW, DESC or DESCRIBE statement.
    pub fn parse(sql: &str) -> Result<Show> {
        let words = words(sql);
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let at = |i: usize| upper.get(i).map(String::as_str).unwrap_or("");
        let table = |i: usize| -> Result<String> {
            let written = words.get(i).ok_or_else(|| {
                RouterError::Parse(format!("`{}` needs a table", upper.join(" ")))
            })?;
            Ok(written.to_string())
        };
        // `SHOW COLUMNS FROM t FROM db` names the database after the table.
        let qualified = |i: usize| -> Result<String> {
            let name = table(i)?;
            match (at(i + 1), words.get(i + 2)) {
                ("FROM" | "IN", Some(db)) => Ok(format!("{db}.{name}")),
                _ => Ok(name),
            }
        };
        if matches!(at(0), "DESC" | "DESCRIBE" | "EXPLAIN") {
            // `DESCRIBE t column` names one column; `DESCRIBE t 'pat%'` a LIKE pattern.
            let like = match words.len() {
                2 => None,
                3 => Some(words[2].trim_matches(['\'', '"', '`']).to_string()),
                _ => {
                    return Err(RouterError::NotRoutable(format!(
                        "{} other than `{} table [column]`",
                        at(0),
                        at(0)
                    )))
                }
            };
            return Ok(Show::Columns {
                full: false,
                table: table(1)?,
                like,
            });
        }
        // Skip SESSION/GLOBAL/FULL modifiers.
        let mut i = 1;
        let mut full = false;
        while matches!(at(i), "FULL" | "SESSION" | "GLOBAL" | "LOCAL") {
            full |= at(i) == "FULL";
            i += 1;
        }
        let show = match at(i) {
            "DATABASES" | "SCHEMAS" => Show::Databases {
                like: like_pattern(&words, &upper),
            },
            "TABLES" => Show::Tables {
                full,
                like: like_pattern(&words, &upper),
                from: matches!(at(i + 1), "FROM" | "IN")
                    .then(|| words.get(i + 2).map(|db| unquote(db).to_string()))
                    .flatten(),
            },
            "COLUMNS" | "FIELDS" if matches!(at(i + 1), "FROM" | "IN") => Show::Columns {
                full,
                table: qualified(i + 2)?,
                like: like_pattern(&words, &upper),
            },
            "INDEX" | "INDEXES" | "KEYS" if matches!(at(i + 1), "FROM" | "IN") => Show::Index {
                table: qualified(i + 2)?,
            },
            "CREATE" if at(i + 1) == "TABLE" => Show::CreateTable {
                table: table(i + 2)?,
            },
            "WARNINGS" | "ERRORS" => Show::Diagnostics {
                errors: at(i) == "ERRORS",
                count: false,
                limit: limit(&upper[i + 1..])?,
            },
            "COUNT(*)" if matches!(at(i + 1), "WARNINGS" | "ERRORS") && upper.len() == i + 2 => {
                Show::Diagnostics {
                    errors: at(i + 1) == "ERRORS",
                    count: true,
                    limit: None,
                }
            }
            w if SERVER_SHOWS.contains(&w) => {
                // `SHOW ... WHERE <expression>` runs on a backend: the expression may not
                // read tables or call refused functions.
                if let Some(at) = upper.iter().position(|w| w == "WHERE") {
                    check_set_value(&words[at + 1..].join(" "))?;
                }
                Show::Server(sql.to_string())
            }
            w => {
                return Err(RouterError::NotRoutable(format!(
                    "SHOW {}",
                    if w.is_empty() { "?" } else { w }
                )))
            }
        };
        Ok(show)
    }
}

/// The logical table a metadata statement names: `t`, `` `t` ``, `shop.t`; `None` when it
/// names another schema.
pub fn table_in_schema<'a>(written: &'a str, schema: &str) -> Option<&'a str> {
    match written.split_once('.') {
        Some((db, table)) => unquote(db)
            .eq_ignore_ascii_case(schema)
            .then(|| unquote(table)),
        None => Some(unquote(written)),
    }
}

fn like_pattern(words: &[&str], upper: &[String]) -> Option<String> {
    let i = upper.iter().position(|w| w == "LIKE")?;
    Some(words.get(i + 1)?.trim_matches(['\'', '"']).to_string())
}

/// `LIMIT n` or `LIMIT offset, n` of SHOW WARNINGS, as (offset, count).
fn limit(rest: &[String]) -> Result<Option<(u64, u64)>> {
    let bad = || RouterError::Parse("expected SHOW WARNINGS [LIMIT [offset,] count]".into());
    match rest {
        [] => Ok(None),
        [l, spec @ ..] if l == "LIMIT" => {
            let joined = spec.join("");
            let numbers: Vec<&str> = joined.split(',').collect();
            let parse = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
            match numbers.as_slice() {
                [n] => Ok(Some((0, parse(n)?))),
                [o, n] => Ok(Some((parse(o)?, parse(n)?))),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

/// SQL LIKE with `%`, `_` and `\` escapes, case-insensitive.
pub fn like_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('\\', [c, rest @ ..])) => {
                t.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &t[1..])
            }
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => {
                t.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &t[1..])
            }
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_show_statements() {
        assert_eq!(
            Show::parse("SHOW FULL TABLES LIKE 't_%'"),
            Ok(Show::Tables {
                full: true,
                like: Some("t_%".into()),
                from: None,
            })
        );
        // What DBD::mysql's table_info sends, executable comment written out first.
        assert_eq!(
            Show::parse("SHOW  FULL  TABLES FROM `shop` LIKE 't\\_order'"),
            Ok(Show::Tables {
                full: true,
                like: Some("t\\_order".into()),
                from: Some("shop".into()),
            })
        );
        assert_eq!(
            Show::parse("SHOW DATABASES LIKE 'shop'"),
            Ok(Show::Databases {
                like: Some("shop".into())
            })
        );
        assert_eq!(
            Show::parse("describe `t_order`;"),
            Ok(Show::Columns {
                full: false,
                table: "`t_order`".into(),
                like: None,
            })
        );
        assert_eq!(
            Show::parse("DESCRIBE `shop`.`t_order` '%'"),
            Ok(Show::Columns {
                full: false,
                table: "`shop`.`t_order`".into(),
                like: Some("%".into()),
            })
        );
        assert_eq!(
            Show::parse("SHOW /* c */ INDEX FROM shop.t_order"),
            Ok(Show::Index {
                table: "shop.t_order".into()
            })
        );
        assert_eq!(
            Show::parse("SHOW WARNINGS LIMIT 1, 2"),
            Ok(Show::Diagnostics {
                errors: false,
                count: false,
                limit: Some((1, 2))
            })
        );
        assert_eq!(
            Show::parse("show count(*) errors"),
            Ok(Show::Diagnostics {
                errors: true,
                count: true,
                limit: None
            })
        );
        assert_eq!(
            Show::parse("SHOW SESSION VARIABLES LIKE 'x'"),
            Ok(Show::Server("SHOW SESSION VARIABLES LIKE 'x'".into()))
        );
        assert!(
            Show::parse("SHOW VARIABLES WHERE Variable_name = (SELECT user FROM mysql.user)")
                .is_err()
        );
        assert!(Show::parse("SHOW PROCESSLIST").is_err());
        assert_eq!(
            Show::parse("SHOW COLUMNS FROM t_order FROM mysql"),
            Ok(Show::Columns {
                full: false,
                table: "mysql.t_order".into(),
                like: None,
            })
        );
        assert!(Show::parse("SHOW COLUMNS").is_err());
    }

    #[test]
    fn like_patterns() {
        assert!(like_match("t_%", "t_order"));
        assert!(!like_match("x%", "t_order"));
        assert!(like_match("t\\_order", "t_order"));
        assert!(!like_match("t\\_order", "txorder"));
        assert_eq!(table_in_schema("`shop`.`t`", "shop"), Some("t"));
        assert_eq!(table_in_schema("mysql.user", "shop"), None);
    }
}
