//! GROUP BY and aggregates over several shards: each shard returns partial groups; rows with
//! equal group keys (equal as the column's collation compares) are folded into one, AVG is
//! divided out of the SUM and COUNT the shards also returned, and the derived columns are
//! dropped.

use std::cmp::Ordering;
use std::collections::HashMap;

use shardgate_router::{AggregateFunction, CompareOp, Derived, HavingFilter, SelectMerge};

use super::select::{MergeError, ShardRows};
use super::value::{compare, fold_text, ColumnKind, Decimal};

/// Folds `rows` (already concatenated from every shard, row packets dropped) into groups.
/// Returns the grouped rows with only the client's columns, in group-key order.
pub fn group(spec: &SelectMerge, out: &mut ShardRows) -> Result<(), MergeError> {
    let derived_columns: usize = spec.derived.iter().map(|d| d.width()).sum();
    let visible = out.columns.len().saturating_sub(derived_columns);
    let keys: Vec<usize> = spec.group_by_columns.iter().flatten().copied().collect();
    let aggregate_of = |column: usize| {
        spec.aggregates
            .iter()
            .find(|a| a.column == column)
            .map(|a| a.function)
    };
    if let Some(column) = (0..visible).find(|c| !keys.contains(c) && aggregate_of(*c).is_none()) {
        return Err(MergeError::NotSupported(format!(
            "a selected column (number {}) that is neither grouped nor aggregated over several physical tables",
            column + 1
        )));
    }
    // Each AVG's derived pair is SUM then COUNT; the pairs start after the client's columns.
    let avg_parts: Vec<(usize, usize)> = {
        let mut offset = visible;
        let mut parts = Vec::new();
        for d in &spec.derived {
            if let Derived::AvgParts { avg } = *d {
                parts.push((avg, offset));
            }
            offset += d.width();
        }
        parts
    };
    let mut folds: Vec<(usize, AggregateFunction)> = spec
        .aggregates
        .iter()
        .filter(|a| a.function != AggregateFunction::Avg)
        .map(|a| (a.column, a.function))
        .collect();
    for &(_, at) in &avg_parts {
        folds.push((at, AggregateFunction::Sum));
        folds.push((at + 1, AggregateFunction::Count));
    }
    let kinds = out.kinds.clone();
    let kind = |c: usize| kinds.get(c).copied().unwrap_or(ColumnKind::Bytes);

    let mut groups: Vec<Vec<Option<Vec<u8>>>> = Vec::new();
    let mut index: HashMap<Vec<Option<Vec<u8>>>, usize> = HashMap::new();
    for mut row in std::mem::take(&mut out.rows) {
        row.truncate(out.columns.len());
        let key: Vec<Option<Vec<u8>>> = keys
            .iter()
            .map(|&c| {
                row.get(c)
                    .cloned()
                    .flatten()
                    .map(|v| normalize(&v, kind(c)))
            })
            .collect();
        match index.get(&key) {
            Some(&g) => {
                let acc = &mut groups[g];
                for &(column, function) in &folds {
                    let value = row.get(column).cloned().flatten();
                    if let Some(slot) = acc.get_mut(column) {
                        *slot = fold(function, slot.take(), value, kind(column))?;
                    }
                }
            }
            None => {
                index.insert(key, groups.len());
                groups.push(row);
            }
        }
    }
    for &(avg, at) in &avg_parts {
        let decimals = out.types.get(avg).map_or(4, |t| t.2);
        let floating = out
            .types
            .get(avg)
            .is_some_and(|t| matches!(t.0, 0x04 | 0x05));
        for row in &mut groups {
            let (sum, count) = (
                row.get(at).cloned().flatten(),
                row.get(at + 1).cloned().flatten(),
            );
            if let Some(slot) = row.get_mut(avg) {
                *slot = average(sum.as_deref(), count.as_deref(), decimals, floating)?;
            }
        }
    }
    if let Some(filter) = &spec.having_filter {
        // HAVING on whole groups: the shards' statements left it out.
        groups.retain(|row| having(filter, row, &kinds) == Some(true));
    }
    for row in &mut groups {
        row.truncate(visible);
    }
    out.columns.truncate(visible);
    out.kinds.truncate(visible);
    out.types.truncate(visible);
    if spec.order_by.is_empty() && !keys.is_empty() {
        // MariaDB sorts GROUP BY results by the group keys when there is no ORDER BY.
        groups.sort_by(|a, b| {
            for &c in &keys {
                let o = match (
                    a.get(c).and_then(Option::as_ref),
                    b.get(c).and_then(Option::as_ref),
                ) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => compare(x, y, kind(c)),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    out.rows = groups;
    Ok(())
}

/// SQL's three-valued HAVING: `None` is unknown (a comparison with NULL).
fn having(filter: &HavingFilter, row: &[Option<Vec<u8>>], kinds: &[ColumnKind]) -> Option<bool> {
    let kind = |c: usize| kinds.get(c).copied().unwrap_or(ColumnKind::Bytes);
    match filter {
        HavingFilter::And(a, b) => match (having(a, row, kinds), having(b, row, kinds)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        HavingFilter::Or(a, b) => match (having(a, row, kinds), having(b, row, kinds)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        HavingFilter::Not(a) => having(a, row, kinds).map(|v| !v),
        HavingFilter::IsNull { column, negated } => {
            Some(row.get(*column).is_some_and(Option::is_none) != *negated)
        }
        HavingFilter::Compare { column, op, value } => {
            let (Some(Some(left)), Some(right)) = (row.get(*column), value) else {
                return None;
            };
            let ordering = compare(left, right.as_bytes(), kind(*column));
            Some(match op {
                CompareOp::Eq => ordering == Ordering::Equal,
                CompareOp::NotEq => ordering != Ordering::Equal,
                CompareOp::Lt => ordering == Ordering::Less,
                CompareOp::LtEq => ordering != Ordering::Greater,
                CompareOp::Gt => ordering == Ordering::Greater,
                CompareOp::GtEq => ordering != Ordering::Less,
            })
        }
    }
}

/// A group key's value in a form that is equal exactly when the collation says so.
fn normalize(value: &[u8], kind: ColumnKind) -> Vec<u8> {
    match kind {
        ColumnKind::TextCi => fold_text(value).into_bytes(),
        ColumnKind::Numeric => match Decimal::parse(value) {
            Some(d) => d.normalized().to_text().into_bytes(),
            None => value.to_vec(),
        },
        ColumnKind::Temporal | ColumnKind::Bytes => value.to_vec(),
    }
}

/// One aggregate step; NULLs are skipped, as in SQL.
pub fn fold(
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
        AggregateFunction::Count | AggregateFunction::Sum => match (Decimal::parse(&acc), Decimal::parse(&value)) {
            (Some(a), Some(b)) => a
                .checked_add(b)
                .ok_or_else(|| MergeError::Overflow("shardgate: a SUM or COUNT over several physical tables does not fit 38 digits".into()))?
                .to_text()
                .into_bytes(),
            _ => {
                let f = |v: &[u8]| std::str::from_utf8(v).ok().and_then(|s| s.trim().parse::<f64>().ok()).unwrap_or(0.0);
                (f(&acc) + f(&value)).to_string().into_bytes()
            }
        },
        AggregateFunction::Min => {
            if compare(&value, &acc, kind) == Ordering::Less { value } else { acc }
        }
        AggregateFunction::Max => {
            if compare(&value, &acc, kind) == Ordering::Greater { value } else { acc }
        }
        AggregateFunction::Avg => return Err(MergeError::NotSupported("AVG without its SUM and COUNT".into())),
    }))
}

/// SUM / COUNT rounded half away from zero to the AVG column's decimals (MySQL's
/// div_precision_increment), or as a double for floating-point columns.
fn average(
    sum: Option<&[u8]>,
    count: Option<&[u8]>,
    decimals: u8,
    floating: bool,
) -> Result<Option<Vec<u8>>, MergeError> {
    let (Some(sum), Some(count)) = (sum, count) else {
        return Ok(None);
    };
    let count: i128 = std::str::from_utf8(count)
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    if count == 0 {
        return Ok(None);
    }
    if floating {
        let s = std::str::from_utf8(sum)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        return Ok(Some((s / count as f64).to_string().into_bytes()));
    }
    let sum = Decimal::parse(sum)
        .ok_or_else(|| MergeError::NotSupported("AVG of a value that is not a number".into()))?;
    let result = sum.divide(count, u32::from(decimals)).ok_or_else(|| {
        MergeError::Overflow(
            "shardgate: an AVG over several physical tables does not fit 38 digits".into(),
        )
    })?;
    Ok(Some(result.to_text().into_bytes()))
}
