//! Select items that are expressions over aggregates, in the form the merge evaluates (see
//! [`crate::merge_expr`]). The aggregates inside become hidden columns, in the list HAVING's
//! hidden aggregates use.

use std::cell::RefCell;

use sqlparser::ast::{
    BinaryOperator as B, CastKind, CeilFloorKind, DataType, DateTimeField, ExactNumberInfo, Expr,
    FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
};

use super::having::HavingAggregate;
use super::merge::{aggregate_of, single_argument, SelectList};
use crate::condition::{CondBuilder, Operand};
use crate::merge_expr::{CastTo, MergeExpr, MergeFunction, MergeOp};
use crate::plan::AggregateFunction;

pub(super) struct ProjectionBuilder<'f> {
    pub(super) list: &'f SelectList,
    /// Select-list positions of the group keys: the only columns an expression may read
    /// besides aggregates (any other column's value would be one row's).
    pub(super) group_columns: &'f [Option<usize>],
    pub(super) param_at: &'f dyn Fn(&Expr) -> Option<usize>,
    pub(super) aggregates: &'f RefCell<Vec<HavingAggregate>>,
}

type Built = Result<MergeExpr<Operand>, String>;

/// A function that reads its arguments as text must see them spelled as MySQL spells
/// them: a quotient (`/`, AVG) is computed to more digits than it shows, and MySQL rounds
/// it to its decimals before spelling it, which the merge does not know here.
fn spelled_exactly(function: MergeFunction, args: &[MergeExpr<Operand>]) -> Result<(), String> {
    let reads_text = matches!(
        function,
        MergeFunction::Concat
            | MergeFunction::ConcatWs
            | MergeFunction::Length
            | MergeFunction::CharLength
            | MergeFunction::Upper
            | MergeFunction::Lower
            | MergeFunction::Cast(CastTo::Char)
    );
    if reads_text && args.iter().any(has_quotient) {
        return Err("a quotient (`/` or AVG) read as text (CAST it to DECIMAL first)".into());
    }
    Ok(())
}

fn has_quotient(e: &MergeExpr<Operand>) -> bool {
    match e {
        MergeExpr::Binary {
            op: MergeOp::Div, ..
        } => true,
        MergeExpr::Binary { left, right, .. } => has_quotient(left) || has_quotient(right),
        MergeExpr::Negate(e) | MergeExpr::Not(e) | MergeExpr::IsNull { expr: e, .. } => {
            has_quotient(e)
        }
        // A CAST to a number, FLOOR and CEILING give a value of their own scale.
        MergeExpr::Call {
            function:
                MergeFunction::Cast(CastTo::Signed | CastTo::Unsigned | CastTo::Decimal { .. })
                | MergeFunction::Floor
                | MergeFunction::Ceiling,
            ..
        } => false,
        MergeExpr::Call { args, .. } => args.iter().any(has_quotient),
        MergeExpr::Aggregate(_) | MergeExpr::Column(_) | MergeExpr::Const(_) => false,
    }
}

/// The CASTs the merge evaluates: to CHAR (no length), SIGNED, UNSIGNED, DECIMAL(p, s).
fn cast_to(data_type: &DataType) -> Option<CastTo> {
    Some(match data_type {
        DataType::Char(None) => CastTo::Char,
        DataType::Signed | DataType::SignedInteger => CastTo::Signed,
        DataType::Unsigned | DataType::UnsignedInteger => CastTo::Unsigned,
        DataType::Decimal(info) => {
            let (precision, scale) = match info {
                ExactNumberInfo::None => (10, 0),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, u64::try_from(*s).ok()?),
            };
            if precision == 0 || precision > 38 || scale > precision || scale > 30 {
                return None;
            }
            CastTo::Decimal {
                precision: precision as u8,
                scale: scale as u8,
            }
        }
        _ => return None,
    })
}

/// An expression in a reason, as its shape (literals as `?`): the same whether the plan came
/// from the shape cache or not.
fn shape(e: &Expr) -> String {
    crate::normalize::normalize(&e.to_string()).shape
}

impl ProjectionBuilder<'_> {
    pub(super) fn build(&self, expr: &Expr) -> Built {
        if let Some((function, distinct)) = aggregate_of(expr) {
            return self.aggregate(expr, function, distinct);
        }
        let boxed =
            |e: &Expr| -> Result<Box<MergeExpr<Operand>>, String> { Ok(Box::new(self.build(e)?)) };
        Ok(match expr {
            Expr::Nested(inner) => return self.build(inner),
            Expr::Value(_) => self.constant(expr)?,
            Expr::UnaryOp { op, expr: inner } => match op {
                UnaryOperator::Minus => match self.constant(expr) {
                    Ok(c) => c,
                    Err(_) => MergeExpr::Negate(boxed(inner)?),
                },
                UnaryOperator::Plus => return self.build(inner),
                UnaryOperator::Not => MergeExpr::Not(boxed(inner)?),
                other => return Err(format!("the operator {other}")),
            },
            Expr::BinaryOp { left, op, right } => {
                let op = match op {
                    B::Plus => MergeOp::Add,
                    B::Minus => MergeOp::Sub,
                    B::Multiply => MergeOp::Mul,
                    B::Divide => MergeOp::Div,
                    B::MyIntegerDivide => MergeOp::IntDiv,
                    B::Modulo => MergeOp::Mod,
                    B::Eq => MergeOp::Eq,
                    B::NotEq => MergeOp::NotEq,
                    B::Lt => MergeOp::Lt,
                    B::LtEq => MergeOp::LtEq,
                    B::Gt => MergeOp::Gt,
                    B::GtEq => MergeOp::GtEq,
                    B::And => MergeOp::And,
                    B::Or => MergeOp::Or,
                    other => return Err(format!("the operator {other}")),
                };
                MergeExpr::Binary {
                    op,
                    left: boxed(left)?,
                    right: boxed(right)?,
                }
            }
            Expr::IsNull(inner) => MergeExpr::IsNull {
                expr: boxed(inner)?,
                negated: false,
            },
            Expr::IsNotNull(inner) => MergeExpr::IsNull {
                expr: boxed(inner)?,
                negated: true,
            },
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => match self.list.position(expr) {
                Some(c) if self.group_columns.contains(&Some(c)) => MergeExpr::Column(c),
                _ => {
                    return Err(format!(
                        "`{}`, which is not a selected group key",
                        shape(expr)
                    ))
                }
            },
            Expr::Function(f) => {
                let name = f.name.to_string().to_ascii_uppercase();
                let FunctionArguments::List(list) = &f.args else {
                    return Err(format!("{name}() without an argument list"));
                };
                let plain = f.over.is_none()
                    && f.filter.is_none()
                    && f.within_group.is_empty()
                    && list.clauses.is_empty()
                    && list.duplicate_treatment.is_none();
                let function = MergeFunction::named(&name, list.args.len())
                    .filter(|_| plain)
                    .ok_or_else(|| format!("{name}() over aggregates"))?;
                let args = list
                    .args
                    .iter()
                    .map(|arg| match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => self.build(e),
                        _ => Err(format!("an argument of {name}()")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                spelled_exactly(function, &args)?;
                MergeExpr::Call { function, args }
            }
            Expr::Floor { expr: inner, field } | Expr::Ceil { expr: inner, field }
                if matches!(
                    field,
                    CeilFloorKind::DateTimeField(DateTimeField::NoDateTime)
                ) =>
            {
                let function = if matches!(expr, Expr::Floor { .. }) {
                    MergeFunction::Floor
                } else {
                    MergeFunction::Ceiling
                };
                MergeExpr::Call {
                    function,
                    args: vec![self.build(inner)?],
                }
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let mut args = Vec::with_capacity(conditions.len() * 2 + 2);
                if let Some(operand) = operand {
                    args.push(self.build(operand)?);
                }
                for when in conditions {
                    args.push(self.build(&when.condition)?);
                    args.push(self.build(&when.result)?);
                }
                if let Some(otherwise) = else_result {
                    args.push(self.build(otherwise)?);
                }
                MergeExpr::Call {
                    function: MergeFunction::Case {
                        simple: operand.is_some(),
                        has_else: else_result.is_some(),
                    },
                    args,
                }
            }
            Expr::Cast {
                kind: CastKind::Cast,
                expr: inner,
                data_type,
                format: None,
            } => {
                let function = MergeFunction::Cast(
                    cast_to(data_type)
                        .ok_or_else(|| format!("CAST(... AS {data_type}) over aggregates"))?,
                );
                let args = vec![self.build(inner)?];
                spelled_exactly(function, &args)?;
                MergeExpr::Call { function, args }
            }
            other => return Err(format!("`{}` over aggregates", shape(other))),
        })
    }

    fn constant(&self, expr: &Expr) -> Built {
        let is_key = |_: &Expr| false;
        let op = CondBuilder {
            is_key: &is_key,
            param_at: self.param_at,
            runs: &crate::condition::Unfolded,
        }
        .operand(expr);
        match op {
            Operand::Unknown => Err(format!("the value `{}`", shape(expr))),
            op => Ok(MergeExpr::Const(op)),
        }
    }

    /// An aggregate inside the expression: a hidden column (AVG: SUM and COUNT, divided as
    /// MySQL divides decimals).
    fn aggregate(&self, expr: &Expr, function: AggregateFunction, distinct: bool) -> Built {
        if function == AggregateFunction::GroupConcat || function.is_variance() {
            return Err(format!("`{}` inside an expression", shape(expr)));
        }
        if distinct {
            return Err(format!(
                "`{}` (an aggregate of DISTINCT values) inside an expression",
                shape(expr)
            ));
        }
        if function == AggregateFunction::Avg {
            let argument = single_argument(expr).ok_or("AVG of several arguments")?;
            let sum = self.hidden(AggregateFunction::Sum, format!("SUM({argument})"));
            let count = self.hidden(AggregateFunction::Count, format!("COUNT({argument})"));
            return Ok(MergeExpr::Binary {
                op: MergeOp::Div,
                left: Box::new(MergeExpr::Aggregate(sum)),
                right: Box::new(MergeExpr::Aggregate(count)),
            });
        }
        Ok(MergeExpr::Aggregate(
            self.hidden(function, expr.to_string()),
        ))
    }

    fn hidden(&self, function: AggregateFunction, text: String) -> usize {
        let mut aggregates = self.aggregates.borrow_mut();
        match aggregates.iter().position(|h| h.text == text) {
            Some(i) => i,
            None => {
                aggregates.push(HavingAggregate {
                    function,
                    text,
                    distinct_argument: None,
                });
                aggregates.len() - 1
            }
        }
    }
}
