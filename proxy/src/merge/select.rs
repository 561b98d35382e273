//! The SELECT merge: concatenation, ORDER BY, LIMIT/OFFSET, and aggregates without GROUP BY.

use std::cmp::Ordering;

use shardgate_router::{Derived, SelectMerge};

use super::value::{compare, ColumnKind};

/// One shard's result set in the text protocol.
#[derive(Debug, Clone, Default)]
pub struct ShardRows {
    /// Column definition payloads, as the backend sent them.
    pub columns: Vec<Vec<u8>>,
    pub kinds: Vec<ColumnKind>,
    /// Values; `None` is NULL. In a binary-protocol result each row ends with one more
    /// value past the columns: the row packet itself, which is what the client is sent.
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
    /// The rows came from COM_STMT_EXECUTE (binary protocol).
    pub binary: bool,
    /// Each column's protocol type, flags and decimals (for re-encoding binary rows and
    /// rounding AVG).
    pub types: Vec<(u8, u16, u8)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// The query needs a merge this version does not do.
    #[error("{0}")]
    NotSupported(String),
    /// A value the merge cannot compute exactly (a SUM beyond 38 digits).
    #[error("{0}")]
    Overflow(String),
}

/// Whether `spec` is a merge this version does; the reason when it is not.
pub fn support(spec: &SelectMerge) -> Result<(), String> {
    if let Some(reason) = &spec.unsupported {
        return Err(reason.clone());
    }
    if spec.group_by_columns.iter().any(Option::is_none) {
        return Err(
            "GROUP BY an expression that is not selected, over several physical tables".into(),
        );
    }
    if spec.distinct && !spec.aggregates.is_empty() {
        return Err("SELECT DISTINCT with aggregates over several physical tables".into());
    }
    if spec.having.is_some() && spec.group_by.is_empty() && spec.aggregates.is_empty() {
        return Err("HAVING without GROUP BY or aggregates over several physical tables".into());
    }
    if let (Some(having), None) = (&spec.having, &spec.having_filter) {
        return Err(format!(
            "HAVING {having} over several physical tables (the merge evaluates comparisons of selected columns with constants)"
        ));
    }
    let derived_key = |i: usize| spec.derived.contains(&Derived::SortKey { key: i });
    if let Some((_, key)) = spec
        .order_by
        .iter()
        .enumerate()
        .find(|(i, k)| k.column.is_none() && !derived_key(*i))
    {
        return Err(format!(
            "ORDER BY `{}`, which is not a selected column, over several physical tables",
            key.expr
        ));
    }
    if spec.aggregates.iter().any(|a| a.distinct) {
        return Err("an aggregate of DISTINCT values over several physical tables".into());
    }
    Ok(())
}

/// Merges shard results as one unsharded table would have answered.
pub fn merge(spec: &SelectMerge, shards: Vec<ShardRows>) -> Result<ShardRows, MergeError> {
    let mut shards = shards.into_iter();
    let Some(mut out) = shards.next() else {
        return Ok(ShardRows::default());
    };
    let shards: Vec<ShardRows> = shards.collect();
    let mut keep_columns = None;
    if !spec.aggregates.is_empty() || !spec.group_by.is_empty() {
        // Folded values are re-encoded from their text form: the row packets go.
        let columns = out.columns.len();
        for shard in shards {
            out.rows.extend(shard.rows);
        }
        out.rows.iter_mut().for_each(|r| r.truncate(columns));
        super::group::group(spec, &mut out)?;
        if !spec.order_by.is_empty() {
            let keys: Vec<(usize, bool, ColumnKind)> = spec
                .order_by
                .iter()
                .filter_map(|k| {
                    k.column.map(|c| {
                        (
                            c,
                            k.descending,
                            out.kinds.get(c).copied().unwrap_or(ColumnKind::Bytes),
                        )
                    })
                })
                .collect();
            out.rows.sort_by(|a, b| compare_rows(a, b, &keys));
        }
    } else {
        for shard in shards {
            out.rows.extend(shard.rows);
        }
        // ORDER BY keys that are not selected come after the client's columns.
        let visible = out.columns.len()
            - spec
                .derived
                .iter()
                .map(|d| d.width())
                .sum::<usize>()
                .min(out.columns.len());
        if visible < out.columns.len() {
            keep_columns = Some(visible);
        }
        let derived_at = |key: usize| {
            let mut at = visible;
            for d in &spec.derived {
                if *d == (Derived::SortKey { key }) {
                    return Some(at);
                }
                at += d.width();
            }
            None
        };
        let mut keys: Vec<(usize, bool, ColumnKind)> = spec
            .order_by
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                k.column.or_else(|| derived_at(i)).map(|c| {
                    (
                        c,
                        k.descending,
                        out.kinds.get(c).copied().unwrap_or(ColumnKind::Bytes),
                    )
                })
            })
            .collect();
        if spec.distinct {
            // Equal rows from different shards must meet: after the ORDER BY keys, sort by
            // every column, then keep the first of each run of equal rows.
            keys.extend((0..out.columns.len()).map(|c| {
                (
                    c,
                    false,
                    out.kinds.get(c).copied().unwrap_or(ColumnKind::Bytes),
                )
            }));
        }
        if !keys.is_empty() {
            out.rows.sort_by(|a, b| compare_rows(a, b, &keys));
        }
        if spec.distinct {
            let all: Vec<(usize, bool, ColumnKind)> = (0..out.columns.len())
                .map(|c| {
                    (
                        c,
                        false,
                        out.kinds.get(c).copied().unwrap_or(ColumnKind::Bytes),
                    )
                })
                .collect();
            out.rows
                .dedup_by(|later, earlier| compare_rows(later, earlier, &all) == Ordering::Equal);
        }
    }
    let offset = usize::try_from(spec.offset).unwrap_or(usize::MAX);
    let limit = spec
        .limit
        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    out.rows = out.rows.into_iter().skip(offset).take(limit).collect();
    if let Some(visible) = keep_columns {
        // Hide the sort columns the client did not select; binary rows are then re-encoded.
        out.rows.iter_mut().for_each(|r| r.truncate(visible));
        out.columns.truncate(visible);
        out.kinds.truncate(visible);
        out.types.truncate(visible);
    }
    Ok(out)
}

/// Compares rows by `(column, descending, kind)` keys, NULLs as MySQL orders them: first in
/// ascending order, last in descending.
fn compare_rows(
    a: &[Option<Vec<u8>>],
    b: &[Option<Vec<u8>>],
    keys: &[(usize, bool, ColumnKind)],
) -> Ordering {
    for &(column, descending, kind) in keys {
        let ordering = match (
            a.get(column).and_then(Option::as_ref),
            b.get(column).and_then(Option::as_ref),
        ) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => compare(x, y, kind),
        };
        let ordering = if descending {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_router::{Aggregate, AggregateFunction, SortKey};

    fn shard(kinds: &[ColumnKind], rows: &[&[Option<&str>]]) -> ShardRows {
        ShardRows {
            columns: kinds.iter().map(|_| Vec::new()).collect(),
            kinds: kinds.to_vec(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(|s| s.as_bytes().to_vec())).collect())
                .collect(),
            binary: false,
            types: Vec::new(),
        }
    }

    fn texts(rows: &ShardRows) -> Vec<Vec<Option<String>>> {
        rows.rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn order_by_with_nulls_limit_and_offset() {
        let spec = SelectMerge {
            order_by: vec![SortKey {
                column: Some(0),
                expr: "n".into(),
                descending: false,
            }],
            limit: Some(3),
            offset: 1,
            ..Default::default()
        };
        let a = shard(&[ColumnKind::Numeric], &[&[Some("10")], &[None]]);
        let b = shard(&[ColumnKind::Numeric], &[&[Some("9")], &[Some("-1")]]);
        let out = merge(&spec, vec![a, b]).unwrap();
        assert_eq!(
            texts(&out),
            vec![
                vec![Some("-1".into())],
                vec![Some("9".into())],
                vec![Some("10".into())]
            ]
        );
    }

    #[test]
    fn aggregates_fold_across_shards() {
        let spec = SelectMerge {
            aggregates: vec![
                Aggregate {
                    function: AggregateFunction::Count,
                    column: 0,
                    distinct: false,
                },
                Aggregate {
                    function: AggregateFunction::Sum,
                    column: 1,
                    distinct: false,
                },
                Aggregate {
                    function: AggregateFunction::Min,
                    column: 2,
                    distinct: false,
                },
                Aggregate {
                    function: AggregateFunction::Max,
                    column: 3,
                    distinct: false,
                },
            ],
            ..Default::default()
        };
        let kinds = [
            ColumnKind::Numeric,
            ColumnKind::Numeric,
            ColumnKind::TextCi,
            ColumnKind::Numeric,
        ];
        let a = shard(&kinds, &[&[Some("2"), Some("1.50"), Some("b"), Some("7")]]);
        let b = shard(&kinds, &[&[Some("0"), None, None, None]]);
        let c = shard(
            &kinds,
            &[&[Some("3"), Some("-0.25"), Some("A"), Some("12")]],
        );
        let out = merge(&spec, vec![a, b, c]).unwrap();
        assert_eq!(
            texts(&out),
            vec![vec![
                Some("5".into()),
                Some("1.25".into()),
                Some("A".into()),
                Some("12".into())
            ]]
        );
    }

    #[test]
    fn unsupported_merges_say_why() {
        let spec = SelectMerge {
            group_by: vec!["x + 1".into()],
            group_by_columns: vec![None],
            ..Default::default()
        };
        assert!(support(&spec)
            .unwrap_err()
            .contains("GROUP BY an expression that is not selected"));
        let spec = SelectMerge {
            having: Some("c > 1".into()),
            ..Default::default()
        };
        assert!(support(&spec).unwrap_err().contains("HAVING"));
    }

    #[test]
    fn groups_fold_and_average() {
        // SELECT k, COUNT(*), AVG(v) ... GROUP BY k, with SUM(v), COUNT(v) derived.
        let spec = SelectMerge {
            group_by: vec!["k".into()],
            group_by_columns: vec![Some(0)],
            aggregates: vec![
                Aggregate {
                    function: AggregateFunction::Count,
                    column: 1,
                    distinct: false,
                },
                Aggregate {
                    function: AggregateFunction::Avg,
                    column: 2,
                    distinct: false,
                },
            ],
            derived: vec![shardgate_router::Derived::AvgParts { avg: 2 }],
            ..Default::default()
        };
        let kinds = [
            ColumnKind::TextCi,
            ColumnKind::Numeric,
            ColumnKind::Numeric,
            ColumnKind::Numeric,
            ColumnKind::Numeric,
        ];
        let mut a = shard(
            &kinds,
            &[
                &[Some("b"), Some("2"), Some("1.5000"), Some("3"), Some("2")],
                &[Some("A"), Some("1"), Some("4.0000"), Some("4"), Some("1")],
            ],
        );
        a.types = vec![
            (0xFD, 0, 0),
            (0x08, 0, 0),
            (0xF6, 0, 4),
            (0xF6, 0, 0),
            (0x08, 0, 0),
        ];
        let b = shard(
            &kinds,
            &[&[Some("a"), Some("2"), Some("1.0000"), Some("2"), Some("2")]],
        );
        let out = merge(&spec, vec![a, b]).unwrap();
        assert_eq!(out.columns.len(), 3);
        assert_eq!(
            texts(&out),
            vec![
                vec![Some("A".into()), Some("3".into()), Some("2.0000".into())],
                vec![Some("b".into()), Some("2".into()), Some("1.5000".into())],
            ]
        );
    }
}
