//! The ORDER BY a per-server statement ends with so its rows arrive sorted for a streaming
//! merge (by the groups, or by the client's ORDER BY through derived key columns).

use crate::plan::{Derived, SortKey};

/// The ORDER BY that sorts a per-server statement's rows for a streaming merge (see
/// [`crate::plan::SelectMerge::shard_order`]); `None` where the merge buffers.
pub(super) fn shard_order(
    order_by: &[SortKey],
    group_by: &[String],
    group_by_columns: &[Option<usize>],
    derived: &[Derived],
    grouped: bool,
    distinct: bool,
) -> Option<String> {
    let group_key = |g: usize| match group_by_columns.get(g).copied().flatten() {
        Some(c) => Some(format!("{}", c + 1)),
        None => derived
            .contains(&Derived::GroupKey { key: g })
            .then(|| format!("__sg_g{g}")),
    };
    let keys: Vec<String> = if distinct {
        return None;
    } else if grouped {
        if group_by.is_empty() {
            // One group: folded in any order.
            return None;
        }
        // Groups fold as they pass when the rows come sorted by every group key, the query's
        // own sort keys first (they must be group keys).
        let mut used = Vec::new();
        let mut keys = Vec::new();
        for sort in order_by {
            let g = (0..group_by.len()).find(|&g| {
                (sort.column.is_some() && sort.column == group_by_columns[g])
                    || group_by[g] == sort.expr
            })?;
            if used.contains(&g) {
                continue;
            }
            used.push(g);
            keys.push(format!(
                "{}{}",
                group_key(g)?,
                if sort.descending { " DESC" } else { "" }
            ));
        }
        for g in (0..group_by.len()).filter(|g| !used.contains(g)) {
            keys.push(group_key(g)?);
        }
        keys
    } else {
        if order_by.is_empty() {
            return None;
        }
        let mut keys = Vec::new();
        for (i, sort) in order_by.iter().enumerate() {
            let column = match sort.column {
                Some(c) => format!("{}", c + 1),
                None if derived.contains(&Derived::SortKey { key: i }) => format!("__sg_k{i}"),
                None => return None,
            };
            keys.push(format!(
                "{column}{}",
                if sort.descending { " DESC" } else { "" }
            ));
        }
        keys
    };
    Some(format!(" ORDER BY {}", keys.join(", ")))
}
