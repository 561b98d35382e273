//! UNION and UNION ALL over sharded tables: each branch is a SELECT of its own, planned
//! when the statement runs (so each prunes by its own sharding key), and the union of their
//! rows is one more merge: concatenated, deduplicated for UNION (as the result column's
//! collation compares), sorted by the union's ORDER BY and cut by its LIMIT.

use super::{SelectMerge, SortKey};

/// A UNION of SELECTs, at least one over a sharded table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Union {
    /// Each branch as a logical SELECT with its values written in, in the statement's
    /// order: the first names the result's columns.
    pub branches: Vec<String>,
    /// UNION (DISTINCT): equal rows of every branch count once. MySQL's rule that a
    /// DISTINCT union overrides the ALL unions to its left makes this all or nothing for
    /// the statements the planner takes.
    pub distinct: bool,
    /// The union's ORDER BY, by result column.
    pub order_by: Vec<SortKey>,
    pub limit: Option<u64>,
    pub offset: u64,
}

impl Union {
    /// How many branches a UNION over sharded tables may have.
    pub const MAX_BRANCHES: usize = 64;

    /// The merge over the branches' rows.
    pub fn merge(&self) -> SelectMerge {
        SelectMerge {
            order_by: self.order_by.clone(),
            limit: self.limit,
            offset: self.offset,
            distinct: self.distinct,
            ..SelectMerge::default()
        }
    }
}
