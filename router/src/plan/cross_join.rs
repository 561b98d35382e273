//! A join of two tables that do not live together, joined by the proxy (see
//! `analyze::cross_join`): the left table's rows first, then the right table's rows whose
//! join column holds one of their values, looked up in batches.

use super::{proxy_sorted, SelectMerge};

/// The two phases of a join across shards and how their rows become the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossJoin {
    /// LEFT JOIN: left rows without a match are kept, the right table's columns NULL.
    pub left: bool,
    /// The left table's SELECT, a logical statement: its items, then its join column.
    pub outer_sql: String,
    /// How many items it has before its join column.
    pub outer_items: usize,
    /// The right table's SELECT up to its join column's `IN (`: its items, then its join
    /// column; the values and `)` follow.
    pub inner_prefix: String,
    pub inner_items: usize,
    /// Each result column: (from the right table, its item there).
    pub output: Vec<(bool, usize)>,
    /// ORDER BY keys: (from the right table, its item there, descending).
    pub order_by: Vec<(bool, usize, bool)>,
    pub limit: Option<u64>,
    pub offset: u64,
}

impl CrossJoin {
    /// How many join values one lookup of the right table takes.
    pub const BATCH: usize = 1000;

    /// The right table's lookup for `values` (SQL literals).
    pub fn inner_sql(&self, values: &[String]) -> String {
        format!("{}{})", self.inner_prefix, values.join(", "))
    }

    /// The joined row's columns: the result's, then the sort keys it does not show; and
    /// the merge that sorts, limits and hides those.
    pub fn layout(&self) -> (Vec<(bool, usize)>, SelectMerge) {
        let order_by: Vec<((bool, usize), bool)> = self
            .order_by
            .iter()
            .map(|&(inner, item, descending)| ((inner, item), descending))
            .collect();
        proxy_sorted(&self.output, &order_by, self.limit, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_not_shown_are_hidden_columns() {
        let join = CrossJoin {
            left: false,
            outer_sql: String::new(),
            outer_items: 2,
            inner_prefix: "SELECT u.name, u.id AS __sg_key FROM t_user u WHERE u.id IN (".into(),
            inner_items: 2,
            output: vec![(false, 0), (true, 0)],
            order_by: vec![(true, 0, true), (false, 1, false)],
            limit: Some(5),
            offset: 0,
        };
        let (columns, merge) = join.layout();
        assert_eq!(columns, [(false, 0), (true, 0), (false, 1)]);
        assert_eq!(merge.order_by[0].column, Some(1));
        assert_eq!(merge.order_by[1].column, Some(2));
        assert_eq!(merge.visible(3), 2);
        assert_eq!(
            join.inner_sql(&["1".into(), "2".into()]),
            "SELECT u.name, u.id AS __sg_key FROM t_user u WHERE u.id IN (1, 2)"
        );
    }
}
