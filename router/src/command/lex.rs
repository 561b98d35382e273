//! Word-level reading of statement text, for the decisions that come before sqlparser (which
//! command a statement is) and for the session statements sqlparser does not model the way
//! MySQL means them. Comments are skipped as MySQL skips them; `/*! ... */` is code.

/// The server version executable comments are read against: the one shardgate claims
/// ([`crate::server_version::VERSION_ID`]).
const EXECUTABLE_UP_TO: u32 = crate::server_version::VERSION_ID;

/// Executable comments written out as the code they hold, as MariaDB reads them:
/// `SHOW /*!50002 FULL*/ TABLES` is `SHOW  FULL  TABLES`, and `/*M!NNNNNN ... */` is code to
/// MariaDB as well; one versioned for a later server than shardgate claims is a comment.
/// Quoted text is left alone. Borrowed when there are none.
pub fn expand_executable_comments(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains("/*!") && !sql.contains("/*M!") {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quote = None::<char>;
    let mut at = 0;
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' && q != '`' {
                    i += 2;
                    continue;
                }
                if c == q as u8 {
                    quote = None;
                }
                i += 1;
            }
            None if matches!(c, b'\'' | b'"' | b'`') => {
                quote = Some(c as char);
                i += 1;
            }
            // Byte comparisons: `i` may be inside a multi-byte character until a match on an
            // ASCII byte puts it on a boundary.
            None if bytes[i..].starts_with(b"/*!") || bytes[i..].starts_with(b"/*M!") => {
                let mariadb = bytes[i + 2] == b'M';
                let body_start = i + if mariadb { 4 } else { 3 };
                let Some(len) = sql[body_start..].find("*/") else {
                    break;
                };
                let body = &sql[body_start..body_start + len];
                let digits = body.bytes().take_while(u8::is_ascii_digit).count();
                // Five digits (50002) or six (100101).
                let digits = if digits >= 6 { 6 } else { digits.min(5) };
                let version: Option<u32> = body[..digits].parse().ok();
                // `/*M!` needs a version; `/*!` runs without one.
                let code = match version {
                    Some(v) => v <= EXECUTABLE_UP_TO,
                    None => !mariadb,
                };
                out.push_str(&sql[at..i]);
                out.push(' ');
                if code {
                    out.push_str(&body[digits..]);
                    out.push(' ');
                }
                i = body_start + len + 2;
                at = i;
            }
            None if bytes[i..].starts_with(b"/*") => match sql[i + 2..].find("*/") {
                Some(len) => i += len + 4,
                None => break,
            },
            None if c == b'#' || bytes[i..].starts_with(b"-- ") => match sql[i..].find('\n') {
                Some(len) => i += len + 1,
                None => break,
            },
            None => i += 1,
        }
    }
    out.push_str(&sql[at..]);
    std::borrow::Cow::Owned(out)
}

/// A SELECT without its query-cache hint (`SELECT SQL_NO_CACHE ...`, mariadb-dump's
/// `SELECT /*!40001 SQL_NO_CACHE */ *` once written out): the hint changes nothing on
/// InnoDB without the query cache, and MariaDB refuses it (1234) inside the UNION ALL that
/// reads many tables at once. Borrowed when there is none.
pub fn strip_query_cache_hint(sql: &str) -> std::borrow::Cow<'_, str> {
    let rest = skip_comments(sql);
    let Some(after) = strip_keyword(rest, "SELECT") else {
        return std::borrow::Cow::Borrowed(sql);
    };
    let after = skip_comments(after);
    for hint in ["SQL_NO_CACHE", "SQL_CACHE"] {
        if let Some(tail) = strip_keyword(after, hint) {
            let head = sql.len() - after.len();
            return std::borrow::Cow::Owned(format!("{} {}", &sql[..head], tail));
        }
    }
    std::borrow::Cow::Borrowed(sql)
}

/// `/*!40101 SET NAMES utf8 */` is code to MySQL: the text inside.
pub fn unwrap_executable_comment(sql: &str) -> &str {
    let t = sql.trim();
    match (t.strip_prefix("/*!"), t.ends_with("*/")) {
        (Some(inner), true) if inner.len() >= 2 => inner[..inner.len() - 2]
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim(),
        _ => sql,
    }
}

/// The first keyword of a statement, upper-cased, after whitespace and comments (but not
/// after `/*!` executable comments, which are code).
pub fn leading_keyword(sql: &str) -> String {
    let rest = skip_comments(sql);
    rest.chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

/// The text after leading whitespace and comments.
pub fn skip_comments(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if rest.starts_with("/*") && !rest.starts_with("/*!") {
            match rest.find("*/") {
                Some(end) => rest = rest[end + 2..].trim_start(),
                None => return "",
            }
        } else if rest.starts_with("-- ") || rest.starts_with("--\n") || rest.starts_with('#') {
            match rest.find('\n') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => return "",
            }
        } else {
            break;
        }
    }
    rest
}

/// The words of a session statement with its comments removed (outside quotes) and its
/// trailing `;` dropped: `ROLLBACK /* x */ TO sp;` reads `["ROLLBACK", "TO", "sp"]`.
pub fn words(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = skip_comments(sql);
    while !rest.is_empty() {
        let end = word_end(rest);
        let word = rest[..end].trim_end_matches(';');
        if !word.is_empty() {
            out.push(word);
        }
        rest = skip_comments(&rest[end..]);
    }
    out
}

/// Where the word at the start of `text` ends: at whitespace or a comment, quotes kept whole.
fn word_end(text: &str) -> usize {
    let mut quote = None::<char>;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, c) if c.is_whitespace() => return i,
            (None, '/') if text[i..].starts_with("/*") && i > 0 => return i,
            (None, '#') if i > 0 => return i,
            _ => {}
        }
    }
    text.len()
}

/// The rest after a leading keyword (case-insensitive, followed by whitespace or the end).
pub fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let text = text.trim_start();
    let head = text.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = &text[keyword.len()..];
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if c.is_whitespace() => Some(rest),
        _ => None,
    }
}

/// Splits at commas outside quotes and parentheses.
pub fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Whether the statement holds a `?` parameter marker (outside quotes and comments).
pub fn has_placeholder(sql: &str) -> bool {
    let mut quote = None::<char>;
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '?') => return true,
            (None, '/') if sql[i..].starts_with("/*") => {
                let end = sql[i + 2..].find("*/").map_or(sql.len(), |e| i + 2 + e + 2);
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
            }
            (None, '#') => {
                while chars.peek().is_some_and(|(_, c)| *c != '\n') {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    false
}

/// A name as written, unquoted: `` `my sp` `` is `my sp`.
pub fn unquote(name: &str) -> &str {
    name.strip_prefix('`')
        .and_then(|n| n.strip_suffix('`'))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_leading_keyword() {
        assert_eq!(leading_keyword("  select 1"), "SELECT");
        assert_eq!(leading_keyword("/* hi */ INSERT INTO t"), "INSERT");
        assert_eq!(leading_keyword("-- c\nSET x=1"), "SET");
        assert_eq!(leading_keyword("# c\nSET x=1"), "SET");
        assert_eq!(leading_keyword("/*!40101 SET NAMES utf8 */"), "");
        assert_eq!(leading_keyword(""), "");
    }

    #[test]
    fn reads_words_without_comments() {
        assert_eq!(
            words("ROLLBACK /* TO */ WORK\n-- x\nTO `my sp`;"),
            vec!["ROLLBACK", "WORK", "TO", "`my sp`"]
        );
        assert_eq!(
            words("SHOW TABLES LIKE 't %'"),
            vec!["SHOW", "TABLES", "LIKE", "'t %'"]
        );
        assert_eq!(words("a/*x*/b"), vec!["a", "b"]);
    }

    #[test]
    fn finds_parameter_markers() {
        assert!(has_placeholder("SET @a = ?"));
        assert!(!has_placeholder("SET @a = '?' /* ? */ # ?"));
        assert!(!has_placeholder("SET @`a?` = 1"));
    }

    #[test]
    fn unwraps_executable_comments() {
        assert_eq!(
            unwrap_executable_comment("/*!40101 SET NAMES utf8 */"),
            "SET NAMES utf8"
        );
        assert_eq!(unwrap_executable_comment("/*!*/"), "");
        assert_eq!(unwrap_executable_comment("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn query_cache_hints_are_dropped() {
        assert_eq!(
            strip_query_cache_hint("SELECT  SQL_NO_CACHE  * FROM `t_order`"),
            "SELECT     * FROM `t_order`"
        );
        assert_eq!(
            strip_query_cache_hint("select sql_cache a from t"),
            "select   a from t"
        );
        assert_eq!(
            strip_query_cache_hint("SELECT SQL_NO_CACHEX FROM t"),
            "SELECT SQL_NO_CACHEX FROM t"
        );
        assert_eq!(
            strip_query_cache_hint("SELECT 'SQL_NO_CACHE'"),
            "SELECT 'SQL_NO_CACHE'"
        );
    }

    #[test]
    fn expands_executable_comments_as_mariadb_reads_them() {
        // Whitespace collapsed: where the comment's delimiters leave blanks does not matter.
        let expand = |s| {
            expand_executable_comments(s)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(expand("SHOW /*!50002 FULL*/ TABLES"), "SHOW FULL TABLES");
        assert_eq!(
            expand("SELECT 'é' /*!50000 , 'ü' */, 'ß'"),
            "SELECT 'é' , 'ü' , 'ß'"
        );
        assert_eq!(expand("SELECT é/*!50000 ü */"), "SELECT é ü");
        assert_eq!(
            expand("SELECT /*!40001 SQL_NO_CACHE */ * FROM t"),
            "SELECT SQL_NO_CACHE * FROM t"
        );
        assert_eq!(
            expand("/*!40000 ALTER TABLE t DISABLE KEYS */"),
            "ALTER TABLE t DISABLE KEYS"
        );
        assert_eq!(expand("SELECT 1 /*!*/"), "SELECT 1");
        // MySQL 8's and MariaDB's own are code to MariaDB 10.11; a later server's are not.
        assert_eq!(expand("SELECT 1 /*!80000 , 2 */"), "SELECT 1 , 2");
        assert_eq!(expand("/*M!100101 SELECT 1 */"), "SELECT 1");
        assert_eq!(expand("SELECT 1 /*M!110000 , 2 */"), "SELECT 1");
        assert_eq!(expand("SELECT 1 /*!110000 , 2 */"), "SELECT 1");
        // Inside quotes, and in ordinary comments, nothing is code.
        assert_eq!(expand("SELECT '/*!50002 x */'"), "SELECT '/*!50002 x */'");
        assert_eq!(
            expand("SELECT 'it\\'s /*!1 x*/' /*!50000 , 2*/"),
            "SELECT 'it\\'s /*!1 x*/' , 2"
        );
        assert_eq!(
            expand("SELECT 1 /* /*!50000 , 2 */"),
            "SELECT 1 /* /*!50000 , 2 */"
        );
        assert_eq!(
            expand("SELECT 1 -- /*!50000 , 2 */\n"),
            "SELECT 1 -- /*!50000 , 2 */"
        );
        assert!(matches!(
            expand_executable_comments("SELECT 1"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
