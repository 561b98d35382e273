//! How deep a statement's syntax tree can get, read from its text before anything parses it.
//! sqlparser builds `a OR b OR c ...` as a left-deep tree, one level per operator, and every
//! walk over the tree (analysis, rendering, visiting, even dropping it) recurses once per
//! level: a long enough chain overflows a thread's stack and takes the whole proxy down.
//! Parentheses are bounded by the parser's own recursion limit; operator chains are bounded
//! here, before parsing: a statement whose expressions chain more operators than
//! [`MAX_EXPRESSION_DEPTH`] is refused. Commas end a chain (`IN (1, 2, ...)` and `VALUES`
//! rows are wide, not deep), parentheses nest them.

use crate::error::{Result, RouterError};

/// The most operators one expression may chain, nested chains added up. The deepest walk
/// costs a few KiB of stack per level in a debug build; this keeps it well inside the 2 MiB
/// of a runtime worker thread.
pub const MAX_EXPRESSION_DEPTH: usize = 400;

/// Refuses a statement whose expressions chain more than [`MAX_EXPRESSION_DEPTH`] operators.
pub fn check_expression_depth(sql: &str) -> Result<()> {
    let depth = expression_depth(sql);
    if depth > MAX_EXPRESSION_DEPTH {
        return Err(RouterError::Unsafe(format!(
            "an expression that chains {depth} operators is deeper than shardgate plans ({MAX_EXPRESSION_DEPTH}); use IN (...) for long lists of alternatives"
        )));
    }
    Ok(())
}

/// The deepest chain of operators in the text, nested chains added up (an upper bound of
/// the syntax tree's depth from operators and parentheses).
pub fn expression_depth(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    // Operators chained so far at each parenthesis level.
    let mut levels: Vec<usize> = vec![0];
    let mut total = 0usize;
    let mut deepest = 0usize;
    let mut i = 0;
    let mut after_operator = false;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' | b'`' => {
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
                i += 1;
                after_operator = false;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 2 + e + 2);
                continue;
            }
            b'#' => {
                i = sql[i..].find('\n').map_or(bytes.len(), |e| i + e + 1);
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-')
                && bytes.get(i + 2).is_none_or(|b| b.is_ascii_whitespace()) =>
            {
                i = sql[i..].find('\n').map_or(bytes.len(), |e| i + e + 1);
                continue;
            }
            b'(' => {
                levels.push(0);
                total += 1;
                after_operator = false;
            }
            b')' => {
                if levels.len() > 1 {
                    total -= levels.pop().unwrap_or(0) + 1;
                }
                after_operator = false;
            }
            b',' | b';' => {
                if let Some(level) = levels.last_mut() {
                    total -= *level;
                    *level = 0;
                }
                after_operator = false;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^' | b'~' | b'=' | b'<' | b'>'
            | b'!' => {
                // A run of operator characters (`<=`, `||`, `- -`) counts once per character
                // that starts a new operator; unary chains (`- - - 1`) count each.
                if !after_operator || c == b'-' || c == b'~' || c == b'!' || c == b'+' {
                    bump(&mut levels, &mut total);
                }
                after_operator = true;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &sql[start..i];
                if [
                    "AND", "OR", "XOR", "NOT", "DIV", "MOD", "IS", "LIKE", "REGEXP", "RLIKE",
                ]
                .iter()
                .any(|k| word.eq_ignore_ascii_case(k))
                {
                    bump(&mut levels, &mut total);
                    after_operator = true;
                } else {
                    after_operator = false;
                }
                deepest = deepest.max(total);
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => after_operator = false,
        }
        deepest = deepest.max(total);
        i += 1;
    }
    deepest
}

fn bump(levels: &mut [usize], total: &mut usize) {
    if let Some(level) = levels.last_mut() {
        *level += 1;
        *total += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_are_deep_lists_are_wide() {
        let or_chain = (0..1000)
            .map(|i| format!("id = {i}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        assert!(expression_depth(&format!("SELECT * FROM t WHERE {or_chain}")) >= 1999);
        let in_list = (0..100_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        assert!(expression_depth(&format!("SELECT * FROM t WHERE id IN ({in_list})")) < 5);
        let rows = (0..10_000)
            .map(|i| format!("({i}, -{i}, 'a-b')"))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(expression_depth(&format!("INSERT INTO t VALUES {rows}")) < 5);
        assert!(expression_depth("SELECT '((((((' + `a+b` /* + + + */") < 3);
        let nested = format!("SELECT {}1{}", "(1 + ".repeat(300), ")".repeat(300));
        assert!(expression_depth(&nested) >= 600);
        assert!(check_expression_depth(&format!("SELECT * FROM t WHERE {or_chain}")).is_err());
        assert!(check_expression_depth("SELECT a FROM t WHERE a = 1 AND b <= 2 OR c <> 3").is_ok());
    }
}
