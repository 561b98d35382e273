//! HAVING over merged groups: the merge's form of the clause (comparisons, BETWEEN, IN,
//! IS NULL under AND / OR / NOT, between selected columns, aggregates and constants), the
//! aggregates it names that the client did not select, and where the clause stands in the
//! text so the shard statements can leave it out.

use std::cell::RefCell;

use sqlparser::ast::{Expr, InTarget};

use super::merge::{aggregate_of, single_argument, SelectList, AFTER_GROUP_BY};
use crate::condition::{CondBuilder, Operand};
use crate::normalize::top_level_keyword;
use crate::plan::{AggregateFunction, CompareOp};
use crate::template::{HavingOperandTemplate, HavingTemplate};

/// An aggregate HAVING names that is not selected.
pub(super) struct HavingAggregate {
    pub(super) function: AggregateFunction,
    pub(super) text: String,
    /// The argument of COUNT/SUM/AVG(DISTINCT x), by which the shards also group.
    pub(super) distinct_argument: Option<String>,
}

/// Builds the merge's form of a HAVING clause: comparisons between selected columns (by
/// expression or alias), aggregates and constants, under AND / OR / NOT, BETWEEN and IN.
pub(super) struct HavingBuilder<'f> {
    pub(super) list: &'f SelectList,
    pub(super) param_at: &'f dyn Fn(&Expr) -> Option<usize>,
    /// Aggregates HAVING names that are not selected: the shards return them as derived
    /// columns.
    pub(super) aggregates: &'f RefCell<Vec<HavingAggregate>>,
    /// Folded IN lists (see [`crate::fold`]), which HAVING does not evaluate.
    pub(super) runs: &'f dyn crate::condition::PlaceholderRuns,
}

impl HavingBuilder<'_> {
    pub(super) fn build(&self, expr: &Expr) -> Option<HavingTemplate> {
        use sqlparser::ast::{BinaryOperator as B, UnaryOperator};
        let compare = |left: &Expr, op: CompareOp, right: &Expr| {
            Some(HavingTemplate::Compare {
                left: self.operand(left)?,
                op,
                right: self.operand(right)?,
            })
        };
        Some(match expr {
            Expr::Nested(e) => self.build(e)?,
            Expr::BinaryOp {
                left,
                op: B::And,
                right,
            } => HavingTemplate::And(Box::new(self.build(left)?), Box::new(self.build(right)?)),
            Expr::BinaryOp {
                left,
                op: B::Or,
                right,
            } => HavingTemplate::Or(Box::new(self.build(left)?), Box::new(self.build(right)?)),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => HavingTemplate::Not(Box::new(self.build(expr)?)),
            Expr::IsNull(e) => HavingTemplate::IsNull {
                operand: self.operand(e)?,
                negated: false,
            },
            Expr::IsNotNull(e) => HavingTemplate::IsNull {
                operand: self.operand(e)?,
                negated: true,
            },
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let both = HavingTemplate::And(
                    Box::new(compare(expr, CompareOp::GtEq, low)?),
                    Box::new(compare(expr, CompareOp::LtEq, high)?),
                );
                if *negated {
                    HavingTemplate::Not(Box::new(both))
                } else {
                    both
                }
            }
            Expr::In {
                expr,
                target: InTarget::List(list),
                negated,
                ..
            } => {
                let folded =
                    |item: &Expr| (self.param_at)(item).is_some_and(|i| self.runs.run_len(i) > 1);
                if list.iter().any(folded) {
                    return None;
                }
                let mut any: Option<HavingTemplate> = None;
                for item in list {
                    let eq = compare(expr, CompareOp::Eq, item)?;
                    any = Some(match any {
                        Some(a) => HavingTemplate::Or(Box::new(a), Box::new(eq)),
                        None => eq,
                    });
                }
                let any = any?;
                if *negated {
                    HavingTemplate::Not(Box::new(any))
                } else {
                    any
                }
            }
            Expr::BinaryOp { left, op, right } => {
                let op = match op {
                    B::Eq => CompareOp::Eq,
                    B::NotEq => CompareOp::NotEq,
                    B::Lt => CompareOp::Lt,
                    B::LtEq => CompareOp::LtEq,
                    B::Gt => CompareOp::Gt,
                    B::GtEq => CompareOp::GtEq,
                    _ => return None,
                };
                compare(left, op, right)?
            }
            _ => return None,
        })
    }

    fn operand(&self, expr: &Expr) -> Option<HavingOperandTemplate> {
        if let Some(column) = self.list.position(expr) {
            return Some(HavingOperandTemplate::Column(column));
        }
        if let Some((function, distinct)) = aggregate_of(expr) {
            if function == AggregateFunction::GroupConcat || function.is_variance() {
                // Computed from hidden values only where it is selected.
                return None;
            }
            let min_max = matches!(function, AggregateFunction::Min | AggregateFunction::Max);
            let distinct_argument = if distinct && !min_max {
                Some(single_argument(expr)?)
            } else if function == AggregateFunction::Avg {
                // AVG needs its SUM and COUNT, which only selected AVGs get.
                return None;
            } else {
                None
            };
            let text = expr.to_string();
            let mut aggregates = self.aggregates.borrow_mut();
            let index = match aggregates.iter().position(|h| h.text == text) {
                Some(i) => i,
                None => {
                    aggregates.push(HavingAggregate {
                        function,
                        text,
                        distinct_argument,
                    });
                    aggregates.len() - 1
                }
            };
            return Some(HavingOperandTemplate::Aggregate(index));
        }
        let is_key = |_: &Expr| false;
        let op = CondBuilder {
            is_key: &is_key,
            param_at: self.param_at,
            runs: &crate::condition::Unfolded,
        }
        .operand(expr);
        (!matches!(op, Operand::Unknown)).then_some(HavingOperandTemplate::Const(op))
    }
}

/// Where `HAVING ...` stands in the statement: from the keyword to the ORDER BY, LIMIT,
/// locking clause or end that follows it.
pub(super) fn having_clause_range(text: &str) -> Option<std::ops::Range<usize>> {
    let start = top_level_keyword(text, "HAVING", 0)?;
    let end = AFTER_GROUP_BY[1..]
        .iter()
        .filter_map(|w| top_level_keyword(text, w, start + 6))
        .min()
        .unwrap_or_else(|| text.trim_end().trim_end_matches(';').len());
    Some(start..end)
}
