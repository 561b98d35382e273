//! Window functions over several physical tables (see `analyze::window_functions`): the
//! statement's rows without its window functions first (a SELECT of their own, planned and
//! merged like any), then each window function computed by the proxy over those rows,
//! sorted by its PARTITION BY and ORDER BY, then the statement's ORDER BY and LIMIT.

use super::{proxy_sorted, PhysicalStatement, SelectMerge};

/// What a window function computes over its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// The row's position in its partition, from 1.
    RowNumber,
    /// 1 + the rows before the row's peers (rows equal on the window's ORDER BY).
    Rank,
    /// 1 + the groups of peers before the row's.
    DenseRank,
    /// COUNT(*) without an argument, else COUNT of the non-NULL values.
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

impl WindowKind {
    /// The kind a function's name (any case) stands for.
    pub fn of(name: &str) -> Option<WindowKind> {
        Some(match name.to_ascii_uppercase().as_str() {
            "ROW_NUMBER" => WindowKind::RowNumber,
            "RANK" => WindowKind::Rank,
            "DENSE_RANK" => WindowKind::DenseRank,
            "COUNT" => WindowKind::Count,
            "SUM" => WindowKind::Sum,
            "MIN" => WindowKind::Min,
            "MAX" => WindowKind::Max,
            "AVG" => WindowKind::Avg,
            _ => return None,
        })
    }

    /// Whether it numbers rows rather than aggregating an argument.
    pub fn is_ranking(self) -> bool {
        matches!(
            self,
            WindowKind::RowNumber | WindowKind::Rank | WindowKind::DenseRank
        )
    }
}

/// One window function: what it computes, over which columns of the rows' SELECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowFunction {
    pub kind: WindowKind,
    /// The argument's column (`None`: COUNT(*), or a ranking function).
    pub argument: Option<usize>,
    pub partition_by: Vec<usize>,
    /// (column, descending). Without it, every row of a partition is a peer of every other
    /// and an aggregate covers the whole partition; with it, the default frame (RANGE
    /// BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) covers the rows up to the row's last
    /// peer.
    pub order_by: Vec<(usize, bool)>,
}

/// Where a result column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowColumn {
    /// A column of the rows' SELECT.
    Row(usize),
    /// The value of a window function (by its index).
    Function(usize),
}

/// The phases of a SELECT with window functions over several physical tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowFunctions {
    /// The rows' SELECT, a logical statement: the statement's other items, then the
    /// window functions' arguments, PARTITION BY and ORDER BY expressions (hidden).
    pub rows_sql: String,
    /// The statement as it runs on one physical table, prepared (never run) to learn the
    /// result's column definitions as MariaDB makes them.
    pub describe: PhysicalStatement,
    pub functions: Vec<WindowFunction>,
    /// Each result column.
    pub output: Vec<WindowColumn>,
    /// The statement's ORDER BY: (value, descending).
    pub order_by: Vec<(WindowColumn, bool)>,
    pub limit: Option<u64>,
    pub offset: u64,
}

impl WindowFunctions {
    /// The rows the proxy sorts: the result's columns, then the sort keys it does not
    /// show; and the merge that sorts, limits and hides those.
    pub fn layout(&self) -> (Vec<WindowColumn>, SelectMerge) {
        proxy_sorted(&self.output, &self.order_by, self.limit, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_not_shown_are_hidden_columns() {
        let w = WindowFunctions {
            rows_sql: String::new(),
            describe: PhysicalStatement {
                backend: 0,
                database: None,
                sql: String::new(),
                params: Vec::new(),
            },
            functions: Vec::new(),
            output: vec![WindowColumn::Row(0), WindowColumn::Function(0)],
            order_by: vec![
                (WindowColumn::Function(0), true),
                (WindowColumn::Row(3), false),
            ],
            limit: Some(5),
            offset: 1,
        };
        let (columns, merge) = w.layout();
        assert_eq!(
            columns,
            [
                WindowColumn::Row(0),
                WindowColumn::Function(0),
                WindowColumn::Row(3)
            ]
        );
        assert_eq!(merge.order_by[0].column, Some(1));
        assert_eq!(merge.order_by[1].column, Some(2));
        assert_eq!(merge.visible(3), 2);
        assert_eq!(WindowKind::of("dense_rank"), Some(WindowKind::DenseRank));
        assert_eq!(WindowKind::of("ntile"), None);
    }
}
