//! Text the merge adds to a statement (sort keys, group keys and aggregate parts the shards
//! must also return), split where it names a logical table: `t_order.amount` in an added
//! `ORDER BY` key is rendered with the target's physical table, as the statement's own
//! qualifiers are (MariaDB answers 1054 to a logical name).

use super::Analysis;
use crate::template::AddedPiece;

/// `text` in pieces: qualifiers (`t_order.`, `shop.t_order.`, back-quoted or not) that name
/// a table of the statement without an alias become [`AddedPiece::Table`]; the rest is kept.
pub(super) fn added_pieces(a: &Analysis<'_>, text: &str) -> Vec<AddedPiece> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut kept = 0;
    let mut i = 0;
    let mut after_dot = false;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"') => {
                i = skip_quoted(bytes, i, q);
                after_dot = false;
            }
            b'`' | b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'$' | b'0'..=b'9' => {
                let first = identifier(bytes, i);
                let starts_name = !after_dot;
                let mut parts = vec![first];
                let mut end = first.1;
                // `a.b.` and `a.` ahead: the qualifier candidates.
                if bytes.get(end) == Some(&b'.') {
                    let second = identifier(bytes, end + 1);
                    if second.1 > end + 1 && bytes.get(second.1) == Some(&b'.') {
                        parts.push(second);
                    }
                }
                let names: Vec<String> = parts.iter().map(|p| unquote(&text[p.0..p.1])).collect();
                let resolved = if !starts_name || bytes.get(first.1) != Some(&b'.') {
                    None
                } else if names.len() == 2 {
                    let two: Vec<&str> = names.iter().map(String::as_str).collect();
                    a.qualifier_ref(&two)
                        .map(|r| (r, parts[1].1))
                        .or_else(|| a.qualifier_ref(&[&names[0]]).map(|r| (r, first.1)))
                } else {
                    a.qualifier_ref(&[&names[0]]).map(|r| (r, first.1))
                };
                if let Some((r, qualifier_end)) = resolved {
                    if kept < i {
                        pieces.push(AddedPiece::Text(text[kept..i].to_string()));
                    }
                    pieces.push(AddedPiece::Table(r));
                    kept = qualifier_end;
                    end = qualifier_end;
                }
                i = end;
                after_dot = false;
            }
            b'.' => {
                after_dot = true;
                i += 1;
            }
            _ => {
                after_dot = false;
                i += 1;
            }
        }
    }
    if kept < text.len() {
        pieces.push(AddedPiece::Text(text[kept..].to_string()));
    }
    pieces
}

/// The span of the identifier at `at`: back-quoted (with ``` `` ``` inside) or bare.
fn identifier(bytes: &[u8], at: usize) -> (usize, usize) {
    if bytes.get(at) == Some(&b'`') {
        return (at, skip_quoted(bytes, at, b'`'));
    }
    let mut end = at;
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'_' | b'$'))
    {
        end += 1;
    }
    (at, end)
}

/// Past the quoted text opening at `at` with `q` (doubled quotes and backslashes inside).
fn skip_quoted(bytes: &[u8], at: usize, q: u8) -> usize {
    let mut i = at + 1;
    while i < bytes.len() {
        if bytes[i] == b'\\' && q != b'`' {
            i += 2;
            continue;
        }
        if bytes[i] == q {
            if bytes.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn unquote(name: &str) -> String {
    match name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`"),
        None => name.to_string(),
    }
}
