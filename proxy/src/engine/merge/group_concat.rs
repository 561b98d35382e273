//! GROUP_CONCAT computed by the merge from every shard's values (see the router's
//! `analyze/group_concat`): each shard row brings its group's values with their sort keys
//! and collations as a JSON array; the merge sorts them all by the keys as the collations
//! compare, drops repeats for DISTINCT, joins them with the separator and cuts the result at
//! `group_concat_max_len`.

use std::cmp::Ordering;
use std::sync::{Arc, Mutex};

use shardgate_router::GroupConcat;

use super::select::MergeError;
use super::value::{compare, ColumnKind};

/// The groups, numbered as they finish (1-based), whose GROUP_CONCAT was cut: MySQL warns
/// `Row N was cut by GROUP_CONCAT()` for each.
#[derive(Debug, Clone, Default)]
pub struct GroupConcatCuts(Arc<Mutex<(u64, Vec<u64>)>>);

impl GroupConcatCuts {
    /// Counts a finished group, and notes it when `cut`.
    pub fn finished(&self, cut: bool) {
        if let Ok(mut state) = self.0.lock() {
            state.0 += 1;
            if cut {
                let row = state.0;
                state.1.push(row);
            }
        }
    }

    pub fn rows(&self) -> Vec<u64> {
        self.0.lock().map(|s| s.1.clone()).unwrap_or_default()
    }
}

/// One row's contribution: its value and its sort keys.
#[derive(Debug, Clone)]
pub struct Element {
    value: Vec<u8>,
    value_kind: ColumnKind,
    keys: Vec<Key>,
}

#[derive(Debug, Clone)]
enum Key {
    Null,
    Number(String),
    Text(Vec<u8>, ColumnKind),
}

/// A GROUP_CONCAT of the merge: where its hidden columns are in a shard row.
#[derive(Debug, Clone)]
pub struct ConcatPlan {
    spec: GroupConcat,
    /// The JSON array of values; `@@group_concat_max_len` follows.
    parts: usize,
}

/// How a collation compares: byte by byte, or folded (case- and accent-insensitively).
fn kind_of(collation: &serde_json::Value) -> ColumnKind {
    match collation.as_str() {
        Some(c) if c == "binary" || c.ends_with("_bin") => ColumnKind::Bytes,
        _ => ColumnKind::TextCi,
    }
}

fn text_of(value: &serde_json::Value) -> Option<Vec<u8>> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.as_bytes().to_vec()),
        other => Some(other.to_string().into_bytes()),
    }
}

fn compare_keys(a: &Key, b: &Key) -> Ordering {
    match (a, b) {
        (Key::Null, Key::Null) => Ordering::Equal,
        (Key::Null, _) => Ordering::Less,
        (_, Key::Null) => Ordering::Greater,
        (Key::Number(x), Key::Number(y)) => {
            compare(x.as_bytes(), y.as_bytes(), ColumnKind::Numeric)
        }
        (Key::Text(x, kind), Key::Text(y, _)) => compare(x, y, *kind),
        (Key::Number(x), Key::Text(y, _)) => x.as_bytes().cmp(y),
        (Key::Text(x, _), Key::Number(y)) => x.as_slice().cmp(y.as_bytes()),
    }
}

impl ConcatPlan {
    pub fn new(spec: GroupConcat, parts: usize) -> Self {
        ConcatPlan { spec, parts }
    }

    pub fn column(&self) -> usize {
        self.spec.column
    }

    /// Adds a shard row's values to the group's.
    pub fn absorb(
        &self,
        elements: &mut Vec<Element>,
        row: &[Option<Vec<u8>>],
    ) -> Result<(), MergeError> {
        let Some(json) = row.get(self.parts).and_then(Option::as_deref) else {
            // A shard's group without rows (no GROUP BY, no rows): nothing to add.
            return Ok(());
        };
        let rows: Vec<Vec<serde_json::Value>> = serde_json::from_slice(json).map_err(|_| {
            MergeError::NotSupported(
                "GROUP_CONCAT over several physical tables whose values, with their sort keys, are longer than a shard's group_concat_max_len (raise group_concat_max_len)".into(),
            )
        })?;
        for parts in rows {
            let mut parts = parts.into_iter();
            let (Some(collation), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            // GROUP_CONCAT skips NULL values.
            let Some(value) = text_of(&value) else {
                continue;
            };
            let mut keys = Vec::new();
            while let (Some(collation), Some(key)) = (parts.next(), parts.next()) {
                keys.push(match key {
                    serde_json::Value::Null => Key::Null,
                    serde_json::Value::Number(n) => Key::Number(n.to_string()),
                    other => Key::Text(text_of(&other).unwrap_or_default(), kind_of(&collation)),
                });
            }
            elements.push(Element {
                value,
                value_kind: kind_of(&collation),
                keys,
            });
        }
        Ok(())
    }

    /// The group's GROUP_CONCAT: `None` (NULL) when it has no values; and whether it was
    /// cut at `group_concat_max_len`.
    pub fn finish(
        &self,
        mut elements: Vec<Element>,
        row: &[Option<Vec<u8>>],
    ) -> (Option<Vec<u8>>, bool) {
        if !self.spec.descending.is_empty() {
            elements.sort_by(|a, b| {
                for (i, descending) in self.spec.descending.iter().enumerate() {
                    let o = match (a.keys.get(i), b.keys.get(i)) {
                        (Some(x), Some(y)) => compare_keys(x, y),
                        _ => Ordering::Equal,
                    };
                    let o = if *descending { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        } else if self.spec.distinct {
            elements.sort_by(|a, b| compare(&a.value, &b.value, a.value_kind));
        }
        if self.spec.distinct {
            elements.dedup_by(|a, b| compare(&a.value, &b.value, a.value_kind) == Ordering::Equal);
        }
        if elements.is_empty() {
            return (None, false);
        }
        let mut out = Vec::new();
        for (i, e) in elements.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.spec.separator);
            }
            out.extend_from_slice(&e.value);
        }
        let max_len = row
            .get(self.parts + 1)
            .and_then(Option::as_deref)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let mut cut = false;
        if let Some(max) = max_len.filter(|max| out.len() > *max) {
            // Cut as the server cuts: at the limit, on a character boundary.
            let mut end = max;
            while end > 0 && (out[end] & 0xC0) == 0x80 {
                end -= 1;
            }
            out.truncate(end);
            cut = true;
        }
        (Some(out), cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(descending: Vec<bool>, distinct: bool) -> ConcatPlan {
        ConcatPlan::new(
            GroupConcat {
                column: 0,
                separator: b"|".to_vec(),
                descending,
                distinct,
            },
            1,
        )
    }

    #[test]
    fn sorts_all_shards_values_by_their_keys() {
        let p = plan(vec![true], false);
        let mut elements = Vec::new();
        let shard = |json: &str| vec![None, Some(json.as_bytes().to_vec()), Some(b"1024".to_vec())];
        p.absorb(&mut elements, &shard(r#"[["utf8mb4_general_ci", "a|b", "binary", 3], ["utf8mb4_general_ci", null, "binary", 9]]"#)).unwrap();
        p.absorb(&mut elements, &shard(r#"[["utf8mb4_general_ci", "c", "binary", 10], ["utf8mb4_general_ci", "d", "binary", 1]]"#)).unwrap();
        assert_eq!(
            p.finish(elements, &shard("[]")),
            (Some(b"c|a|b|d".to_vec()), false)
        );
    }

    #[test]
    fn distinct_values_compare_by_their_collation() {
        let p = plan(vec![], true);
        let mut elements = Vec::new();
        let row = vec![None, Some(br#"[["utf8mb4_general_ci", "New"], ["utf8mb4_general_ci", "paid"], ["utf8mb4_general_ci", "new"]]"#.to_vec()), Some(b"5".to_vec())];
        p.absorb(&mut elements, &row).unwrap();
        // Sorted, one of `New`/`new`, then cut at 5 bytes.
        assert_eq!(p.finish(elements, &row), (Some(b"New|p".to_vec()), true));
    }

    #[test]
    fn no_values_is_null() {
        let p = plan(vec![], false);
        let mut elements = Vec::new();
        p.absorb(&mut elements, &[None, None, None]).unwrap();
        assert_eq!(p.finish(elements, &[None, None, None]), (None, false));
    }
}
