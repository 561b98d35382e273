//! Session functions inside larger statements: `SELECT DATABASE(), order_id FROM t_order
//! WHERE ...` or `INSERT ... VALUES (CONNECTION_ID(), ...)`. A backend would answer for its
//! own pooled connection (a physical database, the backend account), so the planner refuses
//! them; the session then writes its own answers in as literals and plans the statement
//! again. A function that is a whole select item keeps its column name through an alias, as
//! MySQL names the column by the text written.

/// What the session knows of itself, for the functions that ask: the planner's view of the
/// session's state. Borrowed, so handing it over costs nothing on the hot path.
#[derive(Debug, Clone, Copy)]
pub struct SessionFacts<'a> {
    pub database: Option<&'a str>,
    /// The account the client logged in as: `USER()` is `user@client_host`,
    /// `CURRENT_USER()` is `user@%`.
    pub user: &'a str,
    pub client_host: &'a str,
    pub connection_id: u32,
    /// `LAST_INSERT_ID()`; `None` where the value is not fixed (a prepared statement runs
    /// later, after other inserts), which leaves the function refused.
    pub last_insert_id: Option<u64>,
}

impl SessionFacts<'_> {
    fn literal(&self, name: &str) -> Option<String> {
        let quoted = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"));
        Some(match name {
            "DATABASE" | "SCHEMA" => self.database.map_or_else(|| "NULL".to_string(), quoted),
            "USER" | "SESSION_USER" | "SYSTEM_USER" => {
                quoted(&format!("{}@{}", self.user, self.client_host))
            }
            "CURRENT_USER" => quoted(&format!("{}@%", self.user)),
            "CONNECTION_ID" => self.connection_id.to_string(),
            "LAST_INSERT_ID" => self.last_insert_id?.to_string(),
            "VERSION" => quoted(crate::SERVER_VERSION),
            _ => return None,
        })
    }
}

/// Keywords that end a select list.
const AFTER_SELECT_LIST: &[&str] = &[
    "FROM",
    "WHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "LIMIT",
    "UNION",
    "INTO",
    "FOR",
    "WINDOW",
    "LOCK",
    "EXCEPT",
    "INTERSECT",
];

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    Open,
    Close,
    Comma,
    Other,
}

/// The statement with the session functions it calls written in as literals; `None` when
/// it calls none that the session answers.
pub fn substitute_session_values(sql: &str, facts: &SessionFacts) -> Option<String> {
    let tokens = tokenize(sql);
    let mut out = String::with_capacity(sql.len() + 32);
    let mut copied = 0;
    let mut changed = false;
    // For each open parenthesis depth that holds a SELECT: whether its select list is open.
    let mut selects: Vec<(usize, bool)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let (token, span) = &tokens[i];
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth = depth.saturating_sub(1);
                while selects.last().is_some_and(|(d, _)| *d > depth) {
                    selects.pop();
                }
            }
            Token::Word(w) if w.eq_ignore_ascii_case("SELECT") => {
                while selects.last().is_some_and(|(d, _)| *d >= depth) {
                    selects.pop();
                }
                selects.push((depth, true));
            }
            Token::Word(w)
                if AFTER_SELECT_LIST.iter().any(|k| w.eq_ignore_ascii_case(k))
                    && selects.last().is_some_and(|(d, _)| *d == depth) =>
            {
                if let Some(top) = selects.last_mut() {
                    top.1 = false;
                }
            }
            Token::Word(w)
                if matches!(tokens.get(i + 1), Some((Token::Open, _)))
                    && matches!(tokens.get(i + 2), Some((Token::Close, _))) =>
            {
                let name = w.to_ascii_uppercase();
                if let Some(literal) = facts.literal(&name) {
                    let end = tokens[i + 2].1.end;
                    let in_list = selects.last().is_some_and(|(d, open)| *d == depth && *open);
                    let before = i.checked_sub(1).map(|p| &tokens[p].0);
                    let starts_item = matches!(before, Some(Token::Comma))
                        || matches!(before, Some(Token::Word(b)) if ["SELECT", "DISTINCT", "ALL"].iter().any(|k| b.eq_ignore_ascii_case(k)));
                    let after = tokens.get(i + 3).map(|t| &t.0);
                    let ends_item = match after {
                        None | Some(Token::Comma) | Some(Token::Close) => true,
                        Some(Token::Word(a)) => {
                            AFTER_SELECT_LIST.iter().any(|k| a.eq_ignore_ascii_case(k))
                        }
                        _ => false,
                    };
                    out.push_str(&sql[copied..span.start]);
                    out.push_str(&literal);
                    if in_list && starts_item && ends_item {
                        out.push_str(&format!(" AS `{w}()`"));
                    }
                    copied = end;
                    changed = true;
                    i += 3;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
    changed.then_some(out)
}

/// Words, parentheses and commas, with their spans; quoted text and comments skipped
/// (a quoted string or identifier is one `Other` token).
fn tokenize(sql: &str) -> Vec<(Token<'_>, std::ops::Range<usize>)> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' | b'`' => {
                let start = i;
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\\' && c != b'`' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == c {
                        if bytes.get(i + 1) == Some(&c) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i = (i + 1).min(bytes.len());
                tokens.push((Token::Other, start..i));
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') && bytes.get(i + 2) != Some(&b'!') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 2 + e + 2);
            }
            b'#' => i = sql[i..].find('\n').map_or(bytes.len(), |e| i + e + 1),
            b'-' if bytes.get(i + 1) == Some(&b'-')
                && bytes.get(i + 2).is_none_or(|b| b.is_ascii_whitespace()) =>
            {
                i = sql[i..].find('\n').map_or(bytes.len(), |e| i + e + 1);
            }
            b'(' => {
                tokens.push((Token::Open, i..i + 1));
                i += 1;
            }
            b')' => {
                tokens.push((Token::Close, i..i + 1));
                i += 1;
            }
            b',' => {
                tokens.push((Token::Comma, i..i + 1));
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'_'
                        || bytes[i] == b'$'
                        || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                // A qualified name (`db.f()`) is not a session function.
                let qualified = start > 0 && bytes[start - 1] == b'.';
                let token = if qualified {
                    Token::Other
                } else {
                    Token::Word(&sql[start..i])
                };
                tokens.push((token, start..i));
            }
            _ => {
                tokens.push((Token::Other, i..i + 1));
                i += 1;
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> SessionFacts<'static> {
        SessionFacts {
            database: Some("shop"),
            user: "app",
            client_host: "localhost",
            connection_id: 7,
            last_insert_id: Some(42),
        }
    }

    fn sub(sql: &str) -> Option<String> {
        substitute_session_values(sql, &facts())
    }

    #[test]
    fn writes_session_values_in() {
        assert_eq!(
            sub("SELECT DATABASE(), order_id FROM t_order WHERE order_id = 1").as_deref(),
            Some("SELECT 'shop' AS `DATABASE()`, order_id FROM t_order WHERE order_id = 1")
        );
        assert_eq!(
            sub("select user ( ) u, CONCAT(current_user(), 'x') FROM t").as_deref(),
            Some("select 'app@localhost' u, CONCAT('app@%', 'x') FROM t")
        );
        assert_eq!(
            sub("SELECT IF(a, DATABASE(), 'y') FROM t").as_deref(),
            Some("SELECT IF(a, 'shop', 'y') FROM t")
        );
        assert_eq!(
            sub("INSERT INTO t (a, b) VALUES (CONNECTION_ID(), LAST_INSERT_ID())").as_deref(),
            Some("INSERT INTO t (a, b) VALUES (7, 42)")
        );
        assert_eq!(
            sub("SELECT a FROM t GROUP BY a, DATABASE()").as_deref(),
            Some("SELECT a FROM t GROUP BY a, 'shop'")
        );
        assert_eq!(
            sub("SELECT (SELECT DATABASE()) AS d, x FROM t").as_deref(),
            Some("SELECT (SELECT 'shop' AS `DATABASE()`) AS d, x FROM t")
        );
        // Quoted text, comments and qualified names are left alone.
        assert_eq!(sub("SELECT 'DATABASE()' /* USER() */ FROM t"), None);
        assert_eq!(sub("SELECT db.user() FROM t"), None);
        assert_eq!(sub("SELECT FOUND_ROWS() FROM t"), None);
        let prepared = SessionFacts {
            last_insert_id: None,
            ..facts()
        };
        assert_eq!(
            substitute_session_values("SELECT LAST_INSERT_ID() FROM t", &prepared),
            None
        );
    }
}
