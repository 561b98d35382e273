//! The SELECT merge: concatenation, ORDER BY, LIMIT/OFFSET, and aggregates without GROUP BY.

use std::cmp::Ordering;

use shardgate_router::{AggregateFunction, SelectMerge};

use super::value::{compare, ColumnKind, Decimal};

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
    /// Each column's protocol type and flags (for re-encoding binary rows).
    pub types: Vec<(u8, u16)>,
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
    if !spec.group_by.is_empty() {
        return Err("GROUP BY over several physical tables".into());
    }
    if spec.distinct && !spec.aggregates.is_empty() {
        return Err("SELECT DISTINCT with aggregates over several physical tables".into());
    }
    if spec.having.is_some() {
        return Err("HAVING over several physical tables".into());
    }
    if let Some(key) = spec.order_by.iter().find(|k| k.column.is_none()) {
        return Err(format!(
            "ORDER BY `{}`, which is not a selected column, over several physical tables",
            key.expr
        ));
    }
    if let Some(a) = spec
        .aggregates
        .iter()
        .find(|a| a.distinct || a.function == AggregateFunction::Avg)
    {
        let what = if a.distinct {
            "an aggregate of DISTINCT values"
        } else {
            "AVG"
        };
        return Err(format!("{what} over several physical tables"));
    }
    if !spec.aggregates.is_empty() && !spec.order_by.is_empty() {
        return Err("ORDER BY with aggregates over several physical tables".into());
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
    if !spec.aggregates.is_empty() {
        if spec.aggregates.len() != out.columns.len() {
            return Err(MergeError::NotSupported(
                "a select list that mixes aggregates and plain columns over several physical tables".into(),
            ));
        }
        if out.binary {
            // Folded values are re-encoded from their text form: drop the row packets.
            let columns = out.columns.len();
            out.rows.iter_mut().for_each(|r| r.truncate(columns));
        }
        let mut row = out
            .rows
            .pop()
            .unwrap_or_else(|| vec![None; out.columns.len()]);
        for shard in &shards {
            let Some(other) = shard.rows.first() else {
                continue;
            };
            for a in &spec.aggregates {
                let (Some(slot), Some(value)) = (row.get_mut(a.column), other.get(a.column)) else {
                    continue;
                };
                let kind = out
                    .kinds
                    .get(a.column)
                    .copied()
                    .unwrap_or(ColumnKind::Bytes);
                *slot = fold(a.function, slot.take(), value.clone(), kind)?;
            }
        }
        out.rows = vec![row];
    } else {
        for shard in shards {
            out.rows.extend(shard.rows);
        }
        let mut keys: Vec<(usize, bool, ColumnKind)> = spec
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

fn fold(
    function: AggregateFunction,
    acc: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    kind: ColumnKind,
) -> Result<Option<Vec<u8>>, MergeError> {
    let (acc, value) = match (acc, value) {
        (None, v) | (v, None) => return Ok(v),
        (Some(a), Some(v)) => (a, v),
    };
    Ok(Some(match function {
        AggregateFunction::Count | AggregateFunction::Sum => {
            let overflow = || {
                MergeError::Overflow(
                    "shardgate: a SUM or COUNT over several physical tables does not fit 38 digits"
                        .into(),
                )
            };
            let (Some(a), Some(b)) = (Decimal::parse(&acc), Decimal::parse(&value)) else {
                return Err(MergeError::NotSupported(
                    "SUM of a floating-point column over several physical tables".into(),
                ));
            };
            a.checked_add(b)
                .ok_or_else(overflow)?
                .to_text()
                .into_bytes()
        }
        AggregateFunction::Min => {
            if compare(&value, &acc, kind) == Ordering::Less {
                value
            } else {
                acc
            }
        }
        AggregateFunction::Max => {
            if compare(&value, &acc, kind) == Ordering::Greater {
                value
            } else {
                acc
            }
        }
        AggregateFunction::Avg => {
            return Err(MergeError::NotSupported(
                "AVG over several physical tables".into(),
            ))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_router::{Aggregate, SortKey};

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
            group_by: vec!["x".into()],
            ..Default::default()
        };
        assert!(support(&spec).unwrap_err().contains("GROUP BY"));
        let spec = SelectMerge {
            aggregates: vec![Aggregate {
                function: AggregateFunction::Avg,
                column: 0,
                distinct: false,
            }],
            ..Default::default()
        };
        assert!(support(&spec).unwrap_err().contains("AVG"));
    }
}
