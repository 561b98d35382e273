//! Long placeholder lists, folded before parsing. `IN (?, ?, ..., ?)` with 100,000 values
//! costs sqlparser some 80 MB (a token and a 328-byte expression per value) and says
//! nothing the first value does not: every value is a placeholder. The parser reads the
//! list as `(?)`; the analysis maps what it finds back to the whole text (the folded `?`
//! stands for the run of values), and every consumer of an IN list expands the folded
//! placeholder into its run of parameters ([`Folds::run_len`]).

use crate::normalize::{comment_end, quoted_end};

/// Lists shorter than this parse as written.
const FOLD_MIN: usize = 64;

/// One folded list: `removed` bytes of the text (from just after its first `?` to just
/// after its last) are not in the parsed text, at parsed offset `at`.
#[derive(Debug, Clone)]
pub(crate) struct Fold {
    pub at: usize,
    pub removed: usize,
    /// The whole text's offset of the list's first `?`, the one the parser sees.
    pub first: usize,
    /// Offsets in the whole text of the list's `?`s after the first.
    pub placeholders: Vec<usize>,
}

/// The folds of a text, in text order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Folds {
    pub folds: Vec<Fold>,
}

impl Folds {
    /// The text to parse, and its folds; `None` when nothing is folded.
    pub(crate) fn fold(text: &str) -> Option<(String, Folds)> {
        let bytes = text.as_bytes();
        let mut parsed = String::new();
        let mut copied = 0;
        let mut folds = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\'' | b'"' | b'`' => i = quoted_end(bytes, i, bytes[i]),
                b'#' | b'-' | b'/' if comment_end(text, i).is_some() => {
                    i = comment_end(text, i).unwrap_or(bytes.len())
                }
                b'(' if after_in(&text[..i]) => match placeholder_run(bytes, i + 1) {
                    Some(run) if run.len() >= FOLD_MIN => {
                        let (first, last) = (run[0], run[run.len() - 1]);
                        parsed.push_str(&text[copied..first + 1]);
                        folds.push(Fold {
                            at: parsed.len(),
                            removed: last - first,
                            first,
                            placeholders: run[1..].to_vec(),
                        });
                        copied = last + 1;
                        i = last + 1;
                    }
                    _ => i += 1,
                },
                _ => i += 1,
            }
        }
        if folds.is_empty() {
            return None;
        }
        parsed.push_str(&text[copied..]);
        Some((parsed, Folds { folds }))
    }

    /// The whole text's offset of parsed offset `at`: after a fold's `?`, past its run.
    pub(crate) fn unfold(&self, at: usize) -> usize {
        at + self
            .folds
            .iter()
            .take_while(|f| f.at <= at)
            .map(|f| f.removed)
            .sum::<usize>()
    }

    /// Every folded placeholder's offset in the whole text.
    pub(crate) fn placeholders(&self) -> impl Iterator<Item = usize> + '_ {
        self.folds
            .iter()
            .flat_map(|f| f.placeholders.iter().copied())
    }

    /// How many placeholders the `?` at whole-text offset `offset` stands for: the length
    /// of its run when it starts a folded list, else 1.
    pub(crate) fn run_len(&self, offset: usize) -> usize {
        self.folds
            .iter()
            .find(|f| f.first == offset)
            .map_or(1, |f| f.placeholders.len() + 1)
    }
}

/// Whether `before` ends with the keyword IN (and whitespace): only IN lists fold, never
/// a VALUES row or a function's arguments.
fn after_in(before: &str) -> bool {
    let word = before.trim_end().as_bytes();
    let n = word.len();
    n >= 2
        && word[n - 2..].eq_ignore_ascii_case(b"in")
        && !word[..n - 2].last().is_some_and(|&b| {
            b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'`' || b >= 0x80
        })
}

/// The offsets of `?, ?, ..., ?` from `start` to a closing parenthesis (whitespace allowed
/// around each), or `None` when the list holds anything else.
fn placeholder_run(bytes: &[u8], start: usize) -> Option<Vec<usize>> {
    let mut run = Vec::new();
    let mut i = start;
    loop {
        while bytes.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i] != b'?' {
            return None;
        }
        run.push(i);
        i += 1;
        while bytes.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        match bytes[i] {
            b',' => i += 1,
            b')' => return Some(run),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_fold_and_offsets_map_back() {
        let list = vec!["?"; 100].join(", ");
        let text = format!("SELECT a FROM t WHERE id IN ({list}) AND b = ? AND c IN (?, ?)");
        let (parsed, folds) = Folds::fold(&text).unwrap();
        assert_eq!(
            parsed,
            "SELECT a FROM t WHERE id IN (?) AND b = ? AND c IN (?, ?)"
        );
        assert_eq!(folds.folds.len(), 1);
        assert_eq!(folds.placeholders().count(), 99);
        let first = text.find('?').unwrap();
        let b = text.find("b = ?").unwrap() + 4;
        assert_eq!(folds.unfold(parsed.find('?').unwrap()), first);
        assert_eq!(folds.unfold(parsed.find("b = ?").unwrap() + 4), b);
        // The end of the folded `?` is the end of its run.
        assert_eq!(
            folds.unfold(parsed.find('?').unwrap() + 1),
            text.find(") AND b").unwrap()
        );
    }

    #[test]
    fn short_lists_quotes_and_comments_stay() {
        let list = vec!["?"; 100].join(",");
        assert!(Folds::fold("SELECT 1 FROM t WHERE id IN (?, ?, ?)").is_none());
        assert!(Folds::fold(&format!("SELECT '({list})'")).is_none());
        assert!(Folds::fold(&format!("SELECT 1 /* ({list}) */")).is_none());
        assert!(Folds::fold(&format!("SELECT 1 FROM t WHERE id IN ({list}, 5)")).is_none());
        // Only IN lists: not a VALUES row, not a function's arguments.
        assert!(Folds::fold(&format!("INSERT INTO t VALUES ({list})")).is_none());
        assert!(Folds::fold(&format!("SELECT CONCAT({list})")).is_none());
        assert!(Folds::fold(&format!("SELECT 1 FROM t WHERE id NOT IN ({list})")).is_some());
        // Other characters before `in`: a name that ends in "in", in any script.
        assert!(Folds::fold(&format!("SELECT 1 FROM t WHERE ෛin ({list})")).is_none());
    }
}
