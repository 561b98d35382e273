//! Folding one aggregate's values: SUM and COUNT added exactly as decimals (a double only
//! for floating-point values), MIN and MAX by the column's comparison, BIT_AND/OR/XOR as
//! 64-bit words, and AVG divided out as MySQL rounds it.

use std::cmp::Ordering;

use shardgate_router::AggregateFunction;

use super::select::MergeError;
use super::value::{compare, ColumnKind, Decimal};

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
        AggregateFunction::GroupConcat => {
            return Err(MergeError::NotSupported("GROUP_CONCAT without its values".into()))
        }
        AggregateFunction::VarPop
        | AggregateFunction::VarSamp
        | AggregateFunction::StdPop
        | AggregateFunction::StdSamp => {
            return Err(MergeError::NotSupported("a variance without its parts".into()))
        }
        AggregateFunction::BitAnd | AggregateFunction::BitOr | AggregateFunction::BitXor => {
            let bits = |v: &[u8]| std::str::from_utf8(v).ok().and_then(|s| s.trim().parse::<u64>().ok());
            let (Some(a), Some(b)) = (bits(&acc), bits(&value)) else {
                return Err(MergeError::NotSupported("a BIT_AND/OR/XOR result that is not a 64-bit unsigned number".into()));
            };
            let folded = match function {
                AggregateFunction::BitAnd => a & b,
                AggregateFunction::BitOr => a | b,
                _ => a ^ b,
            };
            folded.to_string().into_bytes()
        }
    }))
}

/// SUM / COUNT rounded half away from zero to the AVG column's decimals (MySQL's
/// div_precision_increment), or as a double for floating-point columns.
pub(super) fn average(
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
