//! Which aggregate a function call is, and its one argument.

use sqlparser::ast::{DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr, FunctionArguments};

use crate::plan::AggregateFunction;

/// The function and DISTINCT-ness of an aggregate call.
pub(super) fn aggregate_of(expr: &Expr) -> Option<(AggregateFunction, bool)> {
    let Expr::Function(f) = expr else {
        return None;
    };
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        // A window function, or an aggregate with clauses the merge does not apply.
        return None;
    }
    let name = f.name.to_string().to_ascii_uppercase();
    let function = match name.as_str() {
        "COUNT" => AggregateFunction::Count,
        "SUM" => AggregateFunction::Sum,
        "MIN" => AggregateFunction::Min,
        "MAX" => AggregateFunction::Max,
        "AVG" => AggregateFunction::Avg,
        "BIT_AND" => AggregateFunction::BitAnd,
        "BIT_OR" => AggregateFunction::BitOr,
        "BIT_XOR" => AggregateFunction::BitXor,
        "GROUP_CONCAT" => AggregateFunction::GroupConcat,
        "VARIANCE" | "VAR_POP" => AggregateFunction::VarPop,
        "VAR_SAMP" => AggregateFunction::VarSamp,
        "STD" | "STDDEV" | "STDDEV_POP" => AggregateFunction::StdPop,
        "STDDEV_SAMP" => AggregateFunction::StdSamp,
        _ => return None,
    };
    let distinct = matches!(
        &f.args,
        FunctionArguments::List(list) if matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct))
    );
    if distinct
        && (function.is_variance()
            || matches!(
                function,
                AggregateFunction::BitAnd | AggregateFunction::BitOr | AggregateFunction::BitXor
            ))
    {
        return None;
    }
    Some((function, distinct))
}

/// The text of an aggregate's one argument (`x` of `SUM(DISTINCT x)`), or `None` when it
/// has several or none.
pub(super) fn single_argument(expr: &Expr) -> Option<String> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Some(e.to_string()),
        _ => None,
    }
}
