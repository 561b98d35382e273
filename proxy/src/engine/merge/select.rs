//! What the SELECT merge can do, its errors, and how it compares rows.

use std::cmp::Ordering;

use shardgate_router::{Derived, SelectMerge};

use super::stream::StreamError;
use super::value::{compare, ColumnKind};

#[derive(Debug, Clone, thiserror::Error)]
pub enum MergeError {
    /// The query needs a merge this version does not do.
    #[error("{0}")]
    NotSupported(String),
    /// A value the merge cannot compute exactly (a SUM beyond 38 digits).
    #[error("{0}")]
    Overflow(String),
    /// A shard's rows did not come in the order its statement asked for (a collation the
    /// merge compares differently from the server): refused rather than merged wrongly.
    #[error("{0}")]
    Unordered(String),
    /// Reading a shard's result failed.
    #[error("reading a shard result failed")]
    Stream(StreamError),
}

impl From<StreamError> for MergeError {
    fn from(e: StreamError) -> Self {
        MergeError::Stream(e)
    }
}

/// Whether `spec` is a merge this version does; the reason when it is not.
pub fn support(spec: &SelectMerge) -> Result<(), String> {
    if let Some(reason) = &spec.unsupported {
        return Err(reason.clone());
    }
    let grouped = spec.grouped();
    if let Some((k, _)) = spec
        .group_by_columns
        .iter()
        .enumerate()
        .find(|(k, c)| c.is_none() && !spec.derived.contains(&Derived::GroupKey { key: *k }))
    {
        return Err(format!(
            "GROUP BY `{}`, which is neither selected nor derived, over several physical tables",
            spec.group_by[k]
        ));
    }
    if spec.distinct && !spec.aggregates.is_empty() {
        return Err("SELECT DISTINCT with aggregates over several physical tables".into());
    }
    if let (Some(having), None) = (&spec.having, &spec.having_filter) {
        return Err(format!(
            "HAVING {having} over several physical tables (the merge evaluates comparisons, IN and BETWEEN of selected columns, COUNT/SUM/MIN/MAX and constants)"
        ));
    }
    let resolvable = |i: usize, key: &shardgate_router::SortKey| {
        key.column.is_some()
            || spec.derived.contains(&Derived::SortKey { key: i })
            || (grouped
                && spec.group_by.iter().enumerate().any(|(g, e)| {
                    *e == key.expr && spec.derived.contains(&Derived::GroupKey { key: g })
                }))
    };
    if let Some((_, key)) = spec
        .order_by
        .iter()
        .enumerate()
        .find(|(i, k)| !resolvable(*i, k))
    {
        return Err(format!(
            "ORDER BY `{}`, which is not a selected column, over several physical tables",
            key.expr
        ));
    }
    Ok(())
}

/// Compares rows by `(column, descending, kind)` keys, NULLs as MySQL orders them: first in
/// ascending order, last in descending.
pub fn compare_rows(
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
