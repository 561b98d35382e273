//! Window functions computed over kept rows: each function's rows sorted by its PARTITION
//! BY and ORDER BY (values compared as the columns' kinds compare, NULLs first, as MySQL
//! sorts), then numbered or aggregated partition by partition. An aggregate with ORDER BY
//! covers the rows up to the current row's last peer (the default frame, RANGE BETWEEN
//! UNBOUNDED PRECEDING AND CURRENT ROW); without, the whole partition.

use std::cmp::Ordering;

use shardgate_router::{AggregateFunction, WindowFunction, WindowKind};

use super::fold::{average, fold};
use super::select::{compare_rows, MergeError};
use super::stream::ShardHeader;
use super::value::{ColumnKind, Decimal};

/// A row's values, as the rows' SELECT returned them.
pub type Values = Vec<Option<Vec<u8>>>;

/// MYSQL_TYPE_FLOAT and MYSQL_TYPE_DOUBLE.
fn is_floating(column_type: u8) -> bool {
    matches!(column_type, 0x04 | 0x05)
}

/// The value of `function` for each of `rows` (in their order); `decimals` is the result
/// column's, as MariaDB describes it (SUM and AVG are spelled with it).
pub fn window_values(
    rows: &[&Values],
    header: &ShardHeader,
    function: &WindowFunction,
    decimals: u8,
) -> Result<Vec<Option<Vec<u8>>>, MergeError> {
    let kind = |column: usize| {
        header
            .kinds
            .get(column)
            .copied()
            .unwrap_or(ColumnKind::Bytes)
    };
    if let Some(argument) = function.argument {
        let column_type = header.types.get(argument).map_or(0xFD, |t| t.0);
        if matches!(function.kind, WindowKind::Sum | WindowKind::Avg) && is_floating(column_type) {
            return Err(MergeError::NotSupported(
                "a window SUM or AVG of floating-point values over several physical tables (their sum depends on the order they are added in: CAST them to DECIMAL)".into(),
            ));
        }
    }
    let partition: Vec<(usize, bool, ColumnKind)> = function
        .partition_by
        .iter()
        .map(|&c| (c, false, kind(c)))
        .collect();
    let order: Vec<(usize, bool, ColumnKind)> = function
        .order_by
        .iter()
        .map(|&(c, descending)| (c, descending, kind(c)))
        .collect();
    let mut keys = partition.clone();
    keys.extend(order.iter().copied());
    let mut sorted: Vec<usize> = (0..rows.len()).collect();
    sorted.sort_by(|&a, &b| compare_rows(rows[a], rows[b], &keys));

    let mut out: Vec<Option<Vec<u8>>> = vec![None; rows.len()];
    let argument_kind = function.argument.map_or(ColumnKind::Numeric, kind);
    let mut start = 0;
    while start < sorted.len() {
        // One partition: sorted[start..end].
        let mut end = start + 1;
        while end < sorted.len()
            && compare_rows(rows[sorted[start]], rows[sorted[end]], &partition) == Ordering::Equal
        {
            end += 1;
        }
        let mut acc = Accumulator::new(function, argument_kind, decimals);
        let mut peers_start = start;
        let mut dense = 0u64;
        while peers_start < end {
            // One group of peers: sorted[peers_start..peers_end].
            let mut peers_end = peers_start + 1;
            while peers_end < end
                && compare_rows(rows[sorted[peers_start]], rows[sorted[peers_end]], &order)
                    == Ordering::Equal
            {
                peers_end += 1;
            }
            dense += 1;
            for &at in &sorted[peers_start..peers_end] {
                let value = function
                    .argument
                    .and_then(|c| rows[at].get(c).cloned().flatten());
                acc.add(value)?;
            }
            for (n, &at) in sorted[peers_start..peers_end].iter().enumerate() {
                out[at] = match function.kind {
                    WindowKind::RowNumber => Some(number(peers_start - start + n + 1)),
                    WindowKind::Rank => Some(number(peers_start - start + 1)),
                    WindowKind::DenseRank => Some(dense.to_string().into_bytes()),
                    _ => acc.value()?,
                };
            }
            peers_start = peers_end;
        }
        start = end;
    }
    Ok(out)
}

fn number(n: usize) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// An aggregate over the rows of a frame so far.
struct Accumulator {
    kind: WindowKind,
    /// COUNT(*): rows are counted, not values.
    star: bool,
    argument: ColumnKind,
    decimals: u8,
    rows: u64,
    values: u64,
    /// SUM, MIN or MAX so far (SUM also for AVG).
    folded: Option<Vec<u8>>,
}

impl Accumulator {
    fn new(function: &WindowFunction, argument: ColumnKind, decimals: u8) -> Self {
        Accumulator {
            kind: function.kind,
            star: function.argument.is_none(),
            argument,
            decimals,
            rows: 0,
            values: 0,
            folded: None,
        }
    }

    fn add(&mut self, value: Option<Vec<u8>>) -> Result<(), MergeError> {
        self.rows += 1;
        let Some(value) = value else {
            return Ok(());
        };
        self.values += 1;
        let function = match self.kind {
            WindowKind::Min => AggregateFunction::Min,
            WindowKind::Max => AggregateFunction::Max,
            WindowKind::Sum | WindowKind::Avg => AggregateFunction::Sum,
            _ => return Ok(()),
        };
        self.folded = fold(function, self.folded.take(), Some(value), self.argument)?;
        Ok(())
    }

    fn value(&self) -> Result<Option<Vec<u8>>, MergeError> {
        Ok(match self.kind {
            WindowKind::Count if self.star => Some(self.rows.to_string().into_bytes()),
            WindowKind::Count => Some(self.values.to_string().into_bytes()),
            WindowKind::Min | WindowKind::Max => self.folded.clone(),
            // Spelled with the column's decimals, as MariaDB spells it.
            WindowKind::Sum => self.folded.as_ref().map(|sum| {
                Decimal::parse(sum)
                    .and_then(|d| d.with_scale(u32::from(self.decimals)))
                    .map_or_else(|| sum.clone(), |d| d.to_text().into_bytes())
            }),
            WindowKind::Avg => {
                let count = self.values.to_string();
                average(
                    self.folded.as_deref(),
                    Some(count.as_bytes()),
                    self.decimals,
                    false,
                )?
            }
            // A ranking function is numbered by the caller.
            WindowKind::RowNumber | WindowKind::Rank | WindowKind::DenseRank => {
                Some(self.rows.to_string().into_bytes())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kinds: Vec<ColumnKind>) -> ShardHeader {
        ShardHeader {
            types: kinds.iter().map(|_| (0x08, 0, 0)).collect(),
            columns: kinds.iter().map(|_| Vec::new()).collect(),
            kinds,
            binary: false,
        }
    }

    fn rows(values: &[(&str, Option<&str>)]) -> Vec<Values> {
        values
            .iter()
            .map(|(p, v)| {
                vec![
                    Some(p.as_bytes().to_vec()),
                    v.map(|v| v.as_bytes().to_vec()),
                ]
            })
            .collect()
    }

    fn text(values: Vec<Option<Vec<u8>>>) -> Vec<Option<String>> {
        values
            .into_iter()
            .map(|v| v.map(|v| String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }

    fn run(
        kind: WindowKind,
        argument: Option<usize>,
        ordered: bool,
        data: &[Values],
        decimals: u8,
    ) -> Vec<Option<String>> {
        let function = WindowFunction {
            kind,
            argument,
            partition_by: vec![0],
            order_by: if ordered {
                vec![(1, false)]
            } else {
                Vec::new()
            },
        };
        let refs: Vec<&Values> = data.iter().collect();
        let h = header(vec![ColumnKind::TextCi, ColumnKind::Numeric]);
        text(window_values(&refs, &h, &function, decimals).unwrap_or_default())
    }

    fn some(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[test]
    fn ranks_count_peers_and_partitions_fold_case() {
        // Partitions `a` (with `A`) and `b`; peers on the ORDER BY value.
        let data = rows(&[
            ("a", Some("10")),
            ("b", Some("5")),
            ("A", Some("10")),
            ("a", Some("7")),
            ("b", None),
        ]);
        assert_eq!(
            run(WindowKind::Rank, None, true, &data, 0),
            some(&["2", "2", "2", "1", "1"])
        );
        assert_eq!(
            run(WindowKind::DenseRank, None, true, &data, 0),
            some(&["2", "2", "2", "1", "1"])
        );
        let numbers = run(WindowKind::RowNumber, None, true, &data, 0);
        assert_eq!(
            (
                numbers[3].as_deref(),
                numbers[4].as_deref(),
                numbers[1].as_deref()
            ),
            (Some("1"), Some("1"), Some("2"))
        );
        // The running SUM covers the row's peers; NULLs count for COUNT(*) only.
        assert_eq!(
            run(WindowKind::Sum, Some(1), true, &data, 2),
            vec![
                Some("27.00".into()),
                Some("5.00".into()),
                Some("27.00".into()),
                Some("7.00".into()),
                None
            ]
        );
        assert_eq!(
            run(WindowKind::Count, Some(1), false, &data, 0),
            some(&["3", "1", "3", "3", "1"])
        );
        assert_eq!(
            run(WindowKind::Count, None, false, &data, 0),
            some(&["3", "2", "3", "3", "2"])
        );
        assert_eq!(
            run(WindowKind::Avg, Some(1), false, &data, 4),
            some(&["9.0000", "5.0000", "9.0000", "9.0000", "5.0000"])
        );
        assert_eq!(
            run(WindowKind::Min, Some(1), false, &data, 0),
            some(&["7", "5", "7", "7", "5"])
        );
        assert_eq!(
            run(WindowKind::Max, Some(1), true, &data, 0),
            vec![
                Some("10".into()),
                Some("5".into()),
                Some("10".into()),
                Some("7".into()),
                None
            ]
        );
    }

    #[test]
    fn floating_sums_are_refused() {
        let function = WindowFunction {
            kind: WindowKind::Sum,
            argument: Some(1),
            partition_by: Vec::new(),
            order_by: Vec::new(),
        };
        let mut h = header(vec![ColumnKind::Numeric, ColumnKind::Numeric]);
        h.types[1].0 = 0x05;
        let data = rows(&[("1", Some("1.5"))]);
        let refs: Vec<&Values> = data.iter().collect();
        assert!(window_values(&refs, &h, &function, 31).is_err());
    }
}
