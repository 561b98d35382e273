//! The statement-shape normalizer: a single cheap scan that replaces number and string literals
//! with `?`, so `... WHERE order_id = 4242` and `... WHERE order_id = 77` share one shape, one
//! parse and one cached plan template. The literals come out in text order, as the values of
//! the shape's placeholders.
//!
//! It only has to be right about where literals are, not about SQL: quoted identifiers,
//! comments (hints included) and double-quoted strings are copied as they are, and a shape that
//! does not parse back falls back to parsing the original text.

use std::borrow::Cow;
use std::ops::Range;

use crate::params::ParamValue;

/// A literal taken out of the statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal<'a> {
    /// Where the literal stands in the original text (quotes included).
    pub span: Range<usize>,
    pub value: ParamValue<'a>,
}

#[derive(Debug)]
pub struct Normalized<'a> {
    /// The statement with each literal replaced by `?`.
    pub shape: String,
    pub literals: Vec<Literal<'a>>,
}

pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

pub fn normalize(sql: &str) -> Normalized<'_> {
    let bytes = sql.as_bytes();
    let mut shape = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    let mut copied = 0; // bytes of `sql` already in `shape`
    let mut i = 0;
    let mut take = |shape: &mut String, copied: &mut usize, span: Range<usize>, value| {
        shape.push_str(&sql[*copied..span.start]);
        shape.push('?');
        *copied = span.end;
        literals.push(Literal { span, value });
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' => {
                let end = quoted_end(bytes, i, b'\'');
                let introduced = i > 0 && is_word_byte(bytes[i - 1]);
                if !introduced && end <= bytes.len() && bytes[end - 1] == b'\'' && end - i >= 2 {
                    let value = ParamValue::Str(unescape(&sql[i + 1..end - 1]));
                    take(&mut shape, &mut copied, i..end, value);
                }
                i = end;
            }
            b'"' | b'`' => i = quoted_end(bytes, i, b),
            b'#' | b'-' | b'/' if comment_end(sql, i).is_some() => {
                i = comment_end(sql, i).unwrap_or(bytes.len())
            }
            b'0'..=b'9' | b'.'
                if (b != b'.' || bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
                    && (i == 0 || !(is_word_byte(bytes[i - 1]) || bytes[i - 1] == b'.')) =>
            {
                let end = number_end(bytes, i);
                if end < bytes.len() && is_word_byte(bytes[end]) {
                    // `1abc` and `0x1F` are words, not decimal numbers: skip the whole word.
                    i = word_end(bytes, end);
                } else {
                    let text = &sql[i..end];
                    let value = match text.parse::<i128>() {
                        Ok(v) => ParamValue::Int(v),
                        Err(_) => ParamValue::Number(Cow::Borrowed(text)),
                    };
                    take(&mut shape, &mut copied, i..end, value);
                    i = end;
                }
            }
            _ if is_word_byte(b) => i = word_end(bytes, i),
            _ => i += 1,
        }
    }
    shape.push_str(&sql[copied..]);
    Normalized { shape, literals }
}

/// Splits a multi-statement text at the `;` that end statements: never inside strings,
/// quoted identifiers or comments. Empty statements (`;;`, a trailing `;`) are dropped.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' | b'`' => i = quoted_end(bytes, i, bytes[i]),
            b'#' | b'-' | b'/' if comment_end(sql, i).is_some() => {
                i = comment_end(sql, i).unwrap_or(bytes.len())
            }
            b';' => {
                let piece = sql[start..i].trim();
                if !piece.is_empty() {
                    out.push(piece);
                }
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    let piece = sql[start..].trim();
    if !piece.is_empty() {
        out.push(piece);
    }
    out
}

/// End (exclusive) of the comment starting at `i` (`# ...`, `-- ...`, `/* ... */`), or
/// `None` when no comment starts there.
pub(crate) fn comment_end(sql: &str, i: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    match bytes.get(i)? {
        b'#' => Some(line_end(bytes, i)),
        b'-' if bytes.get(i + 1) == Some(&b'-')
            && bytes.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
        {
            Some(line_end(bytes, i))
        }
        b'/' if bytes.get(i + 1) == Some(&b'*') => Some(match sql[i + 2..].find("*/") {
            Some(p) => i + 2 + p + 2,
            None => bytes.len(),
        }),
        _ => None,
    }
}

/// End (exclusive) of a quoted run starting at `start`; a doubled quote or a backslash escape
/// (not in backticks) stays inside. Unterminated runs end at the end of the text.
pub(crate) fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && quote != b'`' {
            i += 2;
        } else if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

fn line_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |p| start + p)
}

pub(crate) fn word_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| !is_word_byte(*b))
        .map_or(bytes.len(), |p| start + p)
}

/// `123`, `1.5`, `.5`, `1e-3`, `2.5E+10`.
fn number_end(bytes: &[u8], start: usize) -> usize {
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    if i < bytes.len() && bytes[i] == b'.' {
        i = digits(i + 1);
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            i = digits(j);
        }
    }
    i
}

/// MySQL string escapes. `\%` and `\_` keep their backslash, as MySQL does (they matter to LIKE).
fn unescape(body: &str) -> Cow<'_, str> {
    if !body.contains(['\\', '\'']) {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('0') => out.push('\0'),
                Some('b') => out.push('\u{8}'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('Z') => out.push('\u{1a}'),
                Some(e @ ('%' | '_')) => {
                    out.push('\\');
                    out.push(e);
                }
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '\'' => {
                // A doubled quote stands for one.
                out.push('\'');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Where `word` (a keyword, matched case-insensitively as a whole word) first stands at the
/// statement's top level at or after byte `from`: never inside strings, quoted identifiers,
/// comments or parentheses (subqueries, function arguments).
pub fn top_level_keyword(sql: &str, word: &str, from: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' | b'`' => {
                i = quoted_end(bytes, i, bytes[i]);
                continue;
            }
            b'#' | b'-' | b'/' if comment_end(sql, i).is_some() => {
                i = comment_end(sql, i).unwrap_or(bytes.len());
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b if is_word_byte(b) => {
                let end = word_end(bytes, i);
                if depth == 0 && i >= from && sql[i..end].eq_ignore_ascii_case(word) {
                    return Some(i);
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The position of the `)` that closes the parenthesis `sql[start..]` is inside (a
/// subquery's end), skipping strings, quoted identifiers, comments and nested parentheses.
pub(crate) fn closing_parenthesis(sql: &str, start: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' | b'`' => {
                i = quoted_end(bytes, i, bytes[i]);
                continue;
            }
            b'#' | b'-' | b'/' if comment_end(sql, i).is_some() => {
                i = comment_end(sql, i).unwrap_or(bytes.len());
                continue;
            }
            b'(' => depth += 1,
            b')' if depth == 0 => return Some(i),
            b')' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closing_parenthesis_skips_quotes_comments_and_nesting() {
        let text = "(SELECT a, ')' , `)`, f(1) /* ) */ FROM t -- )\n LIMIT 2) AS x";
        let end = closing_parenthesis(text, 1).unwrap();
        assert_eq!(&text[end..], ") AS x");
        assert_eq!(closing_parenthesis("(SELECT 'a\\')'", 1), None);
    }

    #[test]
    fn replaces_numbers_and_strings() {
        let n =
            normalize("SELECT * FROM t_order WHERE order_id = 4242 AND name = 'it''s' LIMIT 10");
        assert_eq!(
            n.shape,
            "SELECT * FROM t_order WHERE order_id = ? AND name = ? LIMIT ?"
        );
        assert_eq!(n.literals.len(), 3);
        assert_eq!(n.literals[0].value, ParamValue::Int(4242));
        assert_eq!(n.literals[1].value, ParamValue::Str("it's".into()));
        assert_eq!(n.literals[1].span, 55..62);
    }

    #[test]
    fn leaves_identifiers_comments_and_quotes() {
        let sql = "SELECT t1.a, `x 1`, \"dq 2\" /* 3 */ FROM db_2.t_3 -- 4\n# 5\nWHERE a = 0x1F AND b = _utf8mb4'x' AND c = 1e3 AND d = .5";
        let n = normalize(sql);
        assert_eq!(
            n.shape,
            "SELECT t1.a, `x 1`, \"dq 2\" /* 3 */ FROM db_2.t_3 -- 4\n# 5\nWHERE a = 0x1F AND b = _utf8mb4'x' AND c = ? AND d = ?"
        );
        assert_eq!(n.literals[0].value, ParamValue::Number("1e3".into()));
        assert_eq!(n.literals[1].value, ParamValue::Number(".5".into()));
    }

    #[test]
    fn escapes() {
        let n = normalize(r"SELECT 'a\'b\\c\n\%'");
        assert_eq!(n.literals[0].value, ParamValue::Str("a'b\\c\n\\%".into()));
        assert_eq!(n.shape, "SELECT ?");
    }

    #[test]
    fn negative_numbers_keep_their_sign_in_the_shape() {
        let n = normalize("SELECT * FROM t WHERE id = -5");
        assert_eq!(n.shape, "SELECT * FROM t WHERE id = -?");
        assert_eq!(n.literals[0].value, ParamValue::Int(5));
    }

    #[test]
    fn splits_statements_by_the_grammar() {
        assert_eq!(
            split_statements(
                "SELECT ';' ; /* ; */ SELECT `a;b` FROM t -- ;\n; INSERT INTO t VALUES ('x\\';');;"
            ),
            vec![
                "SELECT ';'",
                "/* ; */ SELECT `a;b` FROM t -- ;",
                "INSERT INTO t VALUES ('x\\';')"
            ]
        );
        assert_eq!(split_statements("SELECT 1"), vec!["SELECT 1"]);
        assert!(split_statements(" ; ").is_empty());
    }

    #[test]
    fn unterminated_string_is_left_alone() {
        let n = normalize("SELECT 'abc");
        assert_eq!(n.shape, "SELECT 'abc");
        assert!(n.literals.is_empty());
    }

    #[test]
    fn keywords_at_the_top_level_only() {
        let sql =
            "SELECT 'ORDER', (SELECT 1 ORDER BY 1) FROM t /* ORDER */ WHERE `order` = 1 ORDER BY x";
        assert_eq!(top_level_keyword(sql, "ORDER", 0), sql.rfind("ORDER"));
        assert_eq!(top_level_keyword(sql, "from", 0), sql.find("FROM"));
        assert_eq!(top_level_keyword(sql, "HAVING", 0), None);
    }
}
