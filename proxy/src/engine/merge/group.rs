//! GROUP BY and aggregates over several shards: each shard returns partial groups; rows with
//! equal group keys (equal as the column's collation compares) fold into one, AVG is divided
//! out of the SUM and COUNT the shards also returned, aggregates of DISTINCT values are
//! computed from the distinct arguments the shards grouped by, and HAVING filters the whole
//! groups.

use std::cmp::Ordering;
use std::collections::HashMap;

use shardgate_router::{
    AggregateFunction, CompareOp, Derived, HavingFilter, HavingOperand, SelectMerge,
};

use shardgate_router::merge_expr::Projection;

use super::fold::{average, fold};
use super::group_concat::{ConcatPlan, Element, GroupConcatCuts};
use super::project::{evaluate, GroupValues};
use super::select::MergeError;
use super::stream::ShardHeader;
use super::value::{compare, fold_text, ColumnKind, Decimal};
use super::variance::variance;

/// A row's values in the text protocol's spelling; `None` is NULL.
pub type Values = Vec<Option<Vec<u8>>>;

/// A group being folded.
#[derive(Debug)]
pub struct Group {
    pub row: Values,
    /// For each aggregate of DISTINCT values: the distinct arguments seen, by their
    /// collation-normalized form.
    distinct: Vec<HashMap<Vec<u8>, Vec<u8>>>,
    /// For each GROUP_CONCAT: the values seen.
    concat: Vec<Vec<Element>>,
}

/// How to fold the rows of one query's shard results into groups.
#[derive(Debug)]
pub struct GroupFolder {
    pub visible: usize,
    /// Shard-row columns of the group keys, in GROUP BY order.
    pub keys: Vec<usize>,
    folds: Vec<(usize, AggregateFunction)>,
    /// (select-list column, function, argument column) of each aggregate of DISTINCT values.
    distinct: Vec<(usize, AggregateFunction, usize)>,
    /// (AVG column, its SUM column; COUNT follows).
    avg_parts: Vec<(usize, usize)>,
    /// (variance column, its function, its COUNT column; SUM and the sum of squares follow).
    variances: Vec<(usize, AggregateFunction, usize)>,
    /// Shard-row columns of the aggregates HAVING names and the client did not select.
    having_aggregates: Vec<usize>,
    having: Option<HavingFilter>,
    /// Select items computed from the folded values.
    projections: Vec<Projection>,
    kinds: Vec<ColumnKind>,
    types: Vec<(u8, u16, u8)>,
    /// Whether rows go out in the binary protocol, where computed doubles go out whole.
    binary: bool,
    count_columns: Vec<usize>,
    concats: Vec<ConcatPlan>,
    /// Groups whose GROUP_CONCAT was cut, for the warnings.
    pub cuts: GroupConcatCuts,
}

impl GroupFolder {
    pub fn new(spec: &SelectMerge, header: &ShardHeader) -> Result<Self, MergeError> {
        let visible = spec.visible(header.columns.len());
        let keys = (0..spec.group_by.len())
            .map(|k| {
                spec.group_column(k, visible).ok_or_else(|| {
                    MergeError::NotSupported(format!(
                        "GROUP BY `{}` over several physical tables",
                        spec.group_by[k]
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let aggregate_of = |column: usize| spec.aggregates.iter().find(|a| a.column == column);
        let projected = |column: usize| spec.projections.iter().any(|p| p.column == column);
        if let Some(column) =
            (0..visible).find(|c| !keys.contains(c) && aggregate_of(*c).is_none() && !projected(*c))
        {
            return Err(MergeError::NotSupported(format!(
                "a selected column (number {}) that is neither grouped nor aggregated over several physical tables",
                column + 1
            )));
        }
        let mut folds = Vec::new();
        let mut distinct = Vec::new();
        let mut count_columns = Vec::new();
        for a in &spec.aggregates {
            // MIN and MAX of distinct values are MIN and MAX; GROUP_CONCAT drops its repeats
            // itself.
            let plain_min_max = matches!(
                a.function,
                AggregateFunction::Min | AggregateFunction::Max | AggregateFunction::GroupConcat
            );
            if a.function == AggregateFunction::Count {
                count_columns.push(a.column);
            }
            if a.distinct && !plain_min_max {
                let argument = spec
                    .derived_at(
                        visible,
                        Derived::DistinctArg {
                            aggregate: a.column,
                        },
                    )
                    .ok_or_else(|| {
                        MergeError::NotSupported(
                            "an aggregate of DISTINCT values without its argument".into(),
                        )
                    })?;
                distinct.push((a.column, a.function, argument));
            } else if !matches!(
                a.function,
                AggregateFunction::Avg | AggregateFunction::GroupConcat
            ) && !a.function.is_variance()
            {
                folds.push((a.column, a.function));
            }
        }
        let mut concats = Vec::new();
        for g in &spec.group_concats {
            let parts = spec
                .derived_at(
                    visible,
                    Derived::GroupConcatParts {
                        aggregate: g.column,
                    },
                )
                .ok_or_else(|| {
                    MergeError::NotSupported("GROUP_CONCAT without its values".into())
                })?;
            concats.push(ConcatPlan::new(g.clone(), parts));
        }
        let mut avg_parts = Vec::new();
        let mut variances = Vec::new();
        let mut having_aggregates = Vec::new();
        let mut at = visible;
        for d in &spec.derived {
            match *d {
                Derived::AvgParts { avg } => {
                    avg_parts.push((avg, at));
                    folds.push((at, AggregateFunction::Sum));
                    folds.push((at + 1, AggregateFunction::Count));
                    count_columns.push(at + 1);
                }
                Derived::VarianceParts { aggregate } => {
                    if let Some(a) = aggregate_of(aggregate) {
                        variances.push((aggregate, a.function, at));
                    }
                    folds.push((at, AggregateFunction::Count));
                    folds.push((at + 1, AggregateFunction::Sum));
                    folds.push((at + 2, AggregateFunction::Sum));
                }
                Derived::HavingAggregate {
                    index,
                    function,
                    distinct: of_distinct,
                } => {
                    having_aggregates.push(at);
                    if function == AggregateFunction::Count {
                        count_columns.push(at);
                    }
                    let argument = spec.derived_at(visible, Derived::HavingDistinctArg { index });
                    match argument {
                        Some(argument) if of_distinct => distinct.push((at, function, argument)),
                        _ => folds.push((at, function)),
                    }
                }
                _ => {}
            }
            at += d.width();
        }
        // MariaDB spells MIN and MAX of a BIT column as decimal digits when a statement has
        // one SELECT and as the raw bits inside a UNION, under the same column type: the
        // shards' values cannot be compared with each other.
        let bit = |c: &usize| header.types.get(*c).is_some_and(|t| t.0 == 0x10);
        if let Some(c) = folds
            .iter()
            .map(|(c, _)| c)
            .chain(distinct.iter().map(|(c, _, _)| c))
            .find(|c| bit(c))
        {
            return Err(MergeError::NotSupported(format!(
                "an aggregate of a BIT column (column {}) over several physical tables",
                c + 1
            )));
        }
        if let Some(avg) = spec.aggregates.iter().find(|a| {
            a.function == AggregateFunction::Avg
                && !a.distinct
                && !avg_parts.iter().any(|(c, _)| *c == a.column)
        }) {
            return Err(MergeError::NotSupported(format!(
                "AVG (column {}) without its SUM and COUNT",
                avg.column + 1
            )));
        }
        for a in spec.aggregates.iter().filter(|a| a.function.is_variance()) {
            if !variances.iter().any(|(c, _, _)| *c == a.column) {
                return Err(MergeError::NotSupported(format!(
                    "a variance (column {}) without its COUNT, SUM and sum of squares",
                    a.column + 1
                )));
            }
            // MariaDB gives a variance of an integer or DECIMAL its argument's decimals + 4;
            // of a floating-point or string argument, as many as a double shows.
            if header.types.get(a.column).is_none_or(|t| t.2 >= 31) {
                return Err(MergeError::NotSupported(format!(
                    "a variance or standard deviation (column {}) of a floating-point or string value over several physical tables: only integer and DECIMAL arguments are computed exactly",
                    a.column + 1
                )));
            }
        }
        Ok(GroupFolder {
            visible,
            keys,
            folds,
            distinct,
            avg_parts,
            variances,
            having_aggregates,
            having: spec.having_filter.clone(),
            projections: spec.projections.clone(),
            kinds: header.kinds.clone(),
            types: header.types.clone(),
            binary: header.binary,
            count_columns,
            concats,
            cuts: GroupConcatCuts::default(),
        })
    }

    fn kind(&self, column: usize) -> ColumnKind {
        self.kinds.get(column).copied().unwrap_or(ColumnKind::Bytes)
    }

    /// The row's group key, in a form equal exactly when the collations say so.
    pub fn key(&self, row: &[Option<Vec<u8>>]) -> Values {
        self.keys
            .iter()
            .map(|&c| {
                row.get(c)
                    .cloned()
                    .flatten()
                    .map(|v| normalize(&v, self.kind(c)))
            })
            .collect()
    }

    /// A new group from its first row.
    pub fn start(&self, row: Values) -> Result<Group, MergeError> {
        let mut concat = vec![Vec::new(); self.concats.len()];
        for (plan, elements) in self.concats.iter().zip(&mut concat) {
            plan.absorb(elements, &row)?;
        }
        let mut group = Group {
            row,
            distinct: vec![HashMap::new(); self.distinct.len()],
            concat,
        };
        self.note_distinct(&mut group, None);
        Ok(group)
    }

    /// Folds one more row of the same group in.
    pub fn absorb(&self, group: &mut Group, row: &[Option<Vec<u8>>]) -> Result<(), MergeError> {
        for &(column, function) in &self.folds {
            let value = row.get(column).cloned().flatten();
            let kind = self.kind(column);
            if let Some(slot) = group.row.get_mut(column) {
                *slot = fold(function, slot.take(), value, kind)?;
            }
        }
        self.note_distinct(group, Some(row));
        for (plan, elements) in self.concats.iter().zip(&mut group.concat) {
            plan.absorb(elements, row)?;
        }
        Ok(())
    }

    fn note_distinct(&self, group: &mut Group, row: Option<&[Option<Vec<u8>>]>) {
        for (i, &(_, _, argument)) in self.distinct.iter().enumerate() {
            let value = match row {
                Some(r) => r.get(argument).cloned().flatten(),
                None => group.row.get(argument).cloned().flatten(),
            };
            if let Some(v) = value {
                let key = normalize(&v, self.kind(argument));
                group.distinct[i].entry(key).or_insert(v);
            }
        }
    }

    /// Finishes a group: AVG divided out, DISTINCT aggregates computed, HAVING applied.
    /// `None` when HAVING rejects it. The row keeps its derived columns (for sorting).
    pub fn finish(&self, mut group: Group) -> Result<Option<Values>, MergeError> {
        for &(avg, at) in &self.avg_parts {
            let (sum, count) = (
                group.row.get(at).cloned().flatten(),
                group.row.get(at + 1).cloned().flatten(),
            );
            let (decimals, floating) = self.decimals(avg);
            if let Some(slot) = group.row.get_mut(avg) {
                *slot = average(sum.as_deref(), count.as_deref(), decimals, floating)?;
            }
        }
        for &(column, function, at) in &self.variances {
            let part = |i: usize| group.row.get(at + i).and_then(Option::as_deref);
            let decimals = (!self.binary).then(|| self.decimals(column).0);
            let value = variance(function, part(0), part(1), part(2), decimals)?;
            if let Some(slot) = group.row.get_mut(column) {
                *slot = value;
            }
        }
        for (i, &(column, function, argument)) in self.distinct.iter().enumerate() {
            let values = std::mem::take(&mut group.distinct[i]);
            let count = values.len();
            let mut sum: Option<Vec<u8>> = None;
            if function != AggregateFunction::Count {
                let kind = self.kind(argument);
                for v in values.into_values() {
                    sum = fold(AggregateFunction::Sum, sum, Some(v), kind)?;
                }
            }
            let value = match function {
                AggregateFunction::Count => Some(count.to_string().into_bytes()),
                AggregateFunction::Sum => sum,
                AggregateFunction::Avg => {
                    let (decimals, floating) = self.decimals(column);
                    let count = count.to_string();
                    average(sum.as_deref(), Some(count.as_bytes()), decimals, floating)?
                }
                AggregateFunction::Min
                | AggregateFunction::Max
                | AggregateFunction::BitAnd
                | AggregateFunction::BitOr
                | AggregateFunction::BitXor
                | AggregateFunction::GroupConcat
                | AggregateFunction::VarPop
                | AggregateFunction::VarSamp
                | AggregateFunction::StdPop
                | AggregateFunction::StdSamp => continue,
            };
            if let Some(slot) = group.row.get_mut(column) {
                *slot = value;
            }
        }
        let concat = std::mem::take(&mut group.concat);
        let mut cut = false;
        for (plan, elements) in self.concats.iter().zip(concat) {
            let (value, was_cut) = plan.finish(elements, &group.row);
            cut |= was_cut;
            if let Some(slot) = group.row.get_mut(plan.column()) {
                *slot = value;
            }
        }
        for projection in &self.projections {
            let (column_type, decimals) = self
                .types
                .get(projection.column)
                .map_or((0xFD, 0), |t| (t.0, t.2));
            let values = FoldedGroup {
                row: &group.row,
                folder: self,
            };
            let value = evaluate(&projection.expr, &values, column_type, decimals)?;
            if let Some(slot) = group.row.get_mut(projection.column) {
                *slot = value;
            }
        }
        if let Some(filter) = &self.having {
            if having(filter, &group.row, self) != Some(true) {
                return Ok(None);
            }
        }
        if !self.concats.is_empty() {
            self.cuts.finished(cut);
        }
        Ok(Some(group.row))
    }

    /// What an aggregate query without GROUP BY answers when no shard returned a row: one
    /// row of COUNTs of 0 and NULLs, if HAVING keeps it.
    pub fn empty_result(&self, columns: usize) -> Result<Option<Values>, MergeError> {
        let mut row: Values = vec![None; columns];
        for &c in &self.count_columns {
            if let Some(slot) = row.get_mut(c) {
                *slot = Some(b"0".to_vec());
            }
        }
        let group = Group {
            row,
            distinct: vec![HashMap::new(); self.distinct.len()],
            concat: vec![Vec::new(); self.concats.len()],
        };
        self.finish(group)
    }

    fn decimals(&self, column: usize) -> (u8, bool) {
        let decimals = self.types.get(column).map_or(4, |t| t.2);
        let floating = self
            .types
            .get(column)
            .is_some_and(|t| matches!(t.0, 0x04 | 0x05));
        (decimals, floating)
    }

    /// Compares finished groups by their group keys, ascending: MariaDB's order of GROUP BY
    /// results without ORDER BY.
    pub fn compare_keys(&self, a: &[Option<Vec<u8>>], b: &[Option<Vec<u8>>]) -> Ordering {
        for &c in &self.keys {
            let o = match (
                a.get(c).and_then(Option::as_ref),
                b.get(c).and_then(Option::as_ref),
            ) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => compare(x, y, self.kind(c)),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

/// A finished group's values, as the projections read them.
struct FoldedGroup<'g> {
    row: &'g [Option<Vec<u8>>],
    folder: &'g GroupFolder,
}

impl GroupValues for FoldedGroup<'_> {
    fn aggregate(&self, index: usize) -> Option<(Option<&[u8]>, u8)> {
        let column = *self.folder.having_aggregates.get(index)?;
        self.column(column)
    }

    fn column(&self, column: usize) -> Option<(Option<&[u8]>, u8)> {
        let value = self.row.get(column)?.as_deref();
        Some((value, self.folder.types.get(column)?.0))
    }
}

/// SQL's three-valued HAVING: `None` is unknown (a comparison with NULL).
fn having(filter: &HavingFilter, row: &[Option<Vec<u8>>], folder: &GroupFolder) -> Option<bool> {
    match filter {
        HavingFilter::And(a, b) => match (having(a, row, folder), having(b, row, folder)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        HavingFilter::Or(a, b) => match (having(a, row, folder), having(b, row, folder)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        HavingFilter::Not(a) => having(a, row, folder).map(|v| !v),
        HavingFilter::IsNull { operand, negated } => {
            Some(operand_value(operand, row, folder).0.is_none() != *negated)
        }
        HavingFilter::Compare { left, op, right } => {
            let (left, left_kind) = operand_value(left, row, folder);
            let (right, right_kind) = operand_value(right, row, folder);
            let kind = match (left_kind, right_kind) {
                (Some(ColumnKind::Numeric), _) | (_, Some(ColumnKind::Numeric)) => {
                    ColumnKind::Numeric
                }
                (Some(k), _) | (None, Some(k)) => k,
                (None, None) => ColumnKind::Bytes,
            };
            let ordering = compare(left?, right?, kind);
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

/// A HAVING operand's value in a group, and the column kind it compares by (`None` for a
/// constant, which takes the other side's).
fn operand_value<'r>(
    operand: &'r HavingOperand,
    row: &'r [Option<Vec<u8>>],
    folder: &GroupFolder,
) -> (Option<&'r [u8]>, Option<ColumnKind>) {
    let column = match operand {
        HavingOperand::Const(value) => return (value.as_deref().map(str::as_bytes), None),
        HavingOperand::Column(c) => Some(*c),
        HavingOperand::Aggregate(i) => folder.having_aggregates.get(*i).copied(),
    };
    match column {
        Some(c) => (row.get(c).and_then(|v| v.as_deref()), Some(folder.kind(c))),
        None => (None, None),
    }
}

/// A group key's value in a form that is equal exactly when the collation says so.
fn normalize(value: &[u8], kind: ColumnKind) -> Vec<u8> {
    match kind {
        ColumnKind::TextCi => fold_text(value),
        ColumnKind::Numeric => match Decimal::parse(value) {
            Some(d) => d.normalized().to_text().into_bytes(),
            None => value.to_vec(),
        },
        ColumnKind::Time => super::value::time_micros(value).to_string().into_bytes(),
        ColumnKind::Temporal | ColumnKind::Bytes => value.to_vec(),
    }
}
