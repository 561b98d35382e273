//! Binding a multi-target SELECT's merge: the LIMIT values, the HAVING constants and the
//! constants of expressions over aggregates, from this statement's values.

use crate::bind::{int_of, Params};
use crate::condition::{Operand, ParamSource};
use crate::params::ParamValue;
use crate::plan::{Aggregate, HavingFilter, HavingOperand, SelectMerge};
use crate::template::{HavingOperandTemplate, HavingTemplate, Template};

impl Template {
    pub(crate) fn select_merge(&self, params: &Params<'_>) -> SelectMerge {
        let m = &self.merge;
        let (limit, offset) = match &m.limit {
            Some((offset, count)) => (
                int_of(count, params).map(|v| v.max(0) as u64),
                int_of(offset, params).map_or(0, |v| v.max(0) as u64),
            ),
            None => (None, 0),
        };
        SelectMerge {
            order_by: m.order_by.clone(),
            limit,
            offset,
            group_by: m.group_by.clone(),
            aggregates: m
                .aggregates
                .iter()
                .map(|(function, column, distinct)| Aggregate {
                    function: *function,
                    column: *column,
                    distinct: *distinct,
                })
                .collect(),
            group_concats: m
                .group_concats
                .iter()
                .map(|g| crate::plan::GroupConcat {
                    column: g.column,
                    separator: match &g.separator {
                        None => b",".to_vec(),
                        Some(op) => match merge_const(op, params) {
                            crate::merge_expr::MergeConst::Str(s) => s.into_bytes(),
                            crate::merge_expr::MergeConst::Int(i) => i.to_string().into_bytes(),
                            crate::merge_expr::MergeConst::Number(t) => t.into_bytes(),
                            crate::merge_expr::MergeConst::Null => Vec::new(),
                        },
                    },
                    descending: g.descending.clone(),
                    distinct: g.distinct,
                })
                .collect(),
            projections: m
                .projections
                .iter()
                .map(|(column, expr)| crate::merge_expr::Projection {
                    column: *column,
                    expr: expr.map_consts(&|op| merge_const(op, params)),
                })
                .collect(),
            distinct: m.distinct,
            having: m.having.clone(),
            group_by_columns: m.group_by_columns.clone(),
            having_filter: m.having_filter.as_ref().map(|h| resolve_having(h, params)),
            derived: m.derived.clone(),
            unsupported: m.unsupported.clone(),
            shard_order: m.shard_order.clone(),
            union_safe: m.union_safe,
        }
    }
}

/// Binds a HAVING template's constants.
fn resolve_having(h: &HavingTemplate, params: &Params<'_>) -> HavingFilter {
    match h {
        HavingTemplate::And(a, b) => HavingFilter::And(
            Box::new(resolve_having(a, params)),
            Box::new(resolve_having(b, params)),
        ),
        HavingTemplate::Or(a, b) => HavingFilter::Or(
            Box::new(resolve_having(a, params)),
            Box::new(resolve_having(b, params)),
        ),
        HavingTemplate::Not(a) => HavingFilter::Not(Box::new(resolve_having(a, params))),
        HavingTemplate::IsNull { operand, negated } => HavingFilter::IsNull {
            operand: resolve_having_operand(operand, params),
            negated: *negated,
        },
        HavingTemplate::Compare { left, op, right } => HavingFilter::Compare {
            left: resolve_having_operand(left, params),
            op: *op,
            right: resolve_having_operand(right, params),
        },
    }
}

fn resolve_having_operand(op: &HavingOperandTemplate, params: &Params<'_>) -> HavingOperand {
    match op {
        HavingOperandTemplate::Column(c) => HavingOperand::Column(*c),
        HavingOperandTemplate::Aggregate(i) => HavingOperand::Aggregate(*i),
        HavingOperandTemplate::Const(value) => HavingOperand::Const(operand_text(value, params)),
    }
}

/// A constant's text as the merge compares it; `None` for NULL.
fn operand_text(op: &Operand, params: &Params<'_>) -> Option<String> {
    let (value, negate) = match op {
        Operand::Param { index, negate } => (params.param(*index)?.clone(), *negate),
        Operand::Const(v) => (v.clone(), false),
        Operand::Unknown => return None,
    };
    let text = match value {
        ParamValue::Null => return None,
        ParamValue::Int(v) => v.to_string(),
        ParamValue::Number(t) => t.into_owned(),
        ParamValue::Str(s) => s.into_owned(),
        ParamValue::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
    };
    Some(if negate { format!("-{text}") } else { text })
}

/// A constant of an expression the merge evaluates.
fn merge_const(op: &Operand, params: &Params<'_>) -> crate::merge_expr::MergeConst {
    use crate::merge_expr::MergeConst;
    let (value, negate) = match op {
        Operand::Param { index, negate } => match params.param(*index) {
            Some(v) => (v.clone(), *negate),
            None => return MergeConst::Null,
        },
        Operand::Const(v) => (v.clone(), false),
        Operand::Unknown => return MergeConst::Null,
    };
    match value {
        ParamValue::Null => MergeConst::Null,
        ParamValue::Int(v) => MergeConst::Int(if negate { -v } else { v }),
        ParamValue::Number(t) if negate => MergeConst::Number(format!("-{t}")),
        ParamValue::Number(t) => MergeConst::Number(t.into_owned()),
        ParamValue::Str(s) => MergeConst::Str(s.into_owned()),
        ParamValue::Bytes(b) => MergeConst::Str(String::from_utf8_lossy(&b).into_owned()),
    }
}
