//! The text of a statement's parts, found by scanning it (quotes, comments and parentheses
//! skipped) and checked by parsing each part again. sqlparser's spans do not cover every
//! expression (`x IS NULL` spans `x`, an IN list stops before its `)`), so text cut by a
//! span could drop part of a condition; a part whose text does not parse back to the same
//! syntax tree is not used.

use std::ops::Range;

use sqlparser::ast::{Expr, SelectItem};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::normalize::{comment_end, is_word_byte, quoted_end, top_level_keyword, word_end};

/// What separates a clause's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Separator {
    /// A list: select items, ORDER BY keys.
    Comma,
    /// A condition's conjuncts (not BETWEEN's AND, nor one inside CASE ... END).
    And,
}

/// The text after `keyword` (at the top level, at or after `from`) up to the first of
/// `ends` after it, or the end of the text.
pub(super) fn clause(
    text: &str,
    keyword: &str,
    from: usize,
    ends: &[&str],
) -> Option<Range<usize>> {
    let start = top_level_keyword(text, keyword, from)? + keyword.len();
    let end = ends
        .iter()
        .filter_map(|w| top_level_keyword(text, w, start))
        .min()
        .unwrap_or(text.len());
    Some(start..end)
}

/// `text[range]` split at its top-level separators, each part trimmed.
pub(super) fn split(text: &str, range: Range<usize>, separator: Separator) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut start = range.start;
    let mut depth = 0usize;
    let mut case_depth = 0usize;
    let mut between = false;
    let mut i = range.start;
    while i < range.end {
        match bytes[i] {
            b'\'' | b'"' | b'`' => {
                i = quoted_end(bytes, i, bytes[i]);
                continue;
            }
            b'#' | b'-' | b'/' if comment_end(text, i).is_some() => {
                i = comment_end(text, i).unwrap_or(range.end);
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 && separator == Separator::Comma => {
                parts.push(trimmed(text, start..i));
                start = i + 1;
            }
            b if is_word_byte(b) => {
                let end = word_end(bytes, i).min(range.end);
                if depth == 0 && separator == Separator::And {
                    let word = &text[i..end];
                    if word.eq_ignore_ascii_case("CASE") {
                        case_depth += 1;
                    } else if word.eq_ignore_ascii_case("END") {
                        case_depth = case_depth.saturating_sub(1);
                    } else if word.eq_ignore_ascii_case("BETWEEN") {
                        between = true;
                    } else if word.eq_ignore_ascii_case("AND") && case_depth == 0 {
                        if between {
                            between = false;
                        } else {
                            parts.push(trimmed(text, start..i));
                            start = end;
                        }
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(trimmed(text, start..range.end));
    parts
}

/// The text ranges of the statement's top-level ORDER BY keys (at or after `from`, up to
/// LIMIT or a locking clause), each with its ASC or DESC; `None` without one.
pub(super) fn order_by_keys(text: &str, from: usize) -> Option<Vec<Range<usize>>> {
    let range = clause(
        text,
        "ORDER",
        from,
        &["LIMIT", "FOR", "LOCK", "INTO", "PROCEDURE"],
    )?;
    let range = trimmed(text, range);
    if !text[range.clone()].to_ascii_uppercase().starts_with("BY") {
        return None;
    }
    Some(split(text, range.start + 2..range.end, Separator::Comma))
}

/// Past whitespace and comments.
pub(super) fn skip_blank(text: &str, mut at: usize) -> usize {
    let bytes = text.as_bytes();
    while at < bytes.len() {
        if bytes[at].is_ascii_whitespace() {
            at += 1;
        } else if let Some(end) = comment_end(text, at) {
            at = end;
        } else {
            break;
        }
    }
    at
}

/// `range` without the whitespace around it.
pub(super) fn trimmed(text: &str, range: Range<usize>) -> Range<usize> {
    let piece = &text[range.clone()];
    let start = range.start + (piece.len() - piece.trim_start().len());
    let end = range.end - (piece.len() - piece.trim_end().len());
    start..end.max(start)
}

fn parser(text: &str) -> Option<Parser<'static>> {
    Parser::new(&MySqlDialect {}).try_with_sql(text).ok()
}

/// `text` as one expression, all of it.
pub(super) fn parse_expr(text: &str) -> Option<Expr> {
    let mut p = parser(text)?;
    let expr = p.parse_expr().ok()?;
    (p.peek_token().token == Token::EOF).then_some(expr)
}

/// `text` as one select item, all of it.
pub(super) fn parse_select_item(text: &str) -> Option<SelectItem> {
    let mut p = parser(text)?;
    let item = p.parse_select_item().ok()?;
    (p.peek_token().token == Token::EOF).then_some(item)
}

/// The two sides of the equality `text[range]`, split at its top-level `=`.
pub(super) fn equality_sides(
    text: &str,
    range: Range<usize>,
) -> Option<(Range<usize>, Range<usize>)> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = range.start;
    while i < range.end {
        match bytes[i] {
            b'\'' | b'"' | b'`' => {
                i = quoted_end(bytes, i, bytes[i]);
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'=' if depth == 0
                && !matches!(
                    bytes.get(i.wrapping_sub(1)),
                    Some(b'<' | b'>' | b'!' | b':')
                )
                && bytes.get(i + 1) != Some(&b'>') =>
            {
                return Some((
                    trimmed(text, range.start..i),
                    trimmed(text, i + 1..range.end),
                ));
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A sort key's text without its ASC or DESC.
pub(super) fn without_direction(text: &str, range: Range<usize>) -> Range<usize> {
    let piece = &text[range.clone()];
    let upper = piece.to_ascii_uppercase();
    for word in [" ASC", " DESC", "\tASC", "\tDESC", "\nASC", "\nDESC"] {
        if upper.ends_with(word) {
            return trimmed(text, range.start..range.end - word.len() + 1);
        }
    }
    range
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str, separator: Separator) -> Vec<&str> {
        split(text, 0..text.len(), separator)
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn splits_at_top_level_separators_only() {
        assert_eq!(
            parts(
                "a.x IS NULL AND b BETWEEN 1 AND 2 and CASE WHEN c AND d THEN 1 END AND f(1 AND 2) AND 'x AND y' AND e /* AND */ = 1",
                Separator::And
            ),
            [
                "a.x IS NULL",
                "b BETWEEN 1 AND 2",
                "CASE WHEN c AND d THEN 1 END",
                "f(1 AND 2)",
                "'x AND y'",
                "e /* AND */ = 1"
            ]
        );
        assert_eq!(
            parts(" a.x, f(b, c) AS `d,e` , 'x,y'", Separator::Comma),
            ["a.x", "f(b, c) AS `d,e`", "'x,y'"]
        );
    }

    #[test]
    fn parts_parse_back_and_sides_split() {
        assert!(parse_expr("a.x IS NULL").is_some());
        assert!(parse_expr("a.x IS NULL )").is_none());
        assert!(parse_select_item("CAST(a.x AS CHAR) AS y").is_some());
        let t = "o.user_id = i.line";
        let (l, r) = equality_sides(t, 0..t.len()).expect("an equality");
        assert_eq!((&t[l], &t[r]), ("o.user_id", "i.line"));
        let t = "a.x <=> b.y";
        assert_eq!(equality_sides(t, 0..t.len()), None);
        let t = "a.x DESC";
        assert_eq!(&t[without_direction(t, 0..t.len())], "a.x");
        let t = "describe";
        assert_eq!(&t[without_direction(t, 0..t.len())], "describe");
    }
}
