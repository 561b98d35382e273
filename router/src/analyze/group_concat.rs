//! GROUP_CONCAT over several physical tables. A shard's GROUP_CONCAT string cannot be split
//! back into its values (they may hold the separator), and its ORDER BY sorts one shard's
//! values only. So next to the client's GROUP_CONCAT each shard also returns, hidden, every
//! value of the group with its sort keys and their collations as JSON
//! (`JSON_ARRAYAGG(JSON_ARRAY(COLLATION(v), v, COLLATION(k1), k1, ...))`, JSON's escaping
//! keeps values whole) and its `group_concat_max_len`. The merge sorts all shards' values
//! by the keys as the collations compare, drops repeats for DISTINCT, joins them with the
//! separator and cuts the result at `group_concat_max_len`, as MySQL does; the client's
//! column definition is still the shard's own GROUP_CONCAT's.

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments, OrderBySort,
    ValueWithSpan,
};

use crate::condition::{CondBuilder, Operand};

/// A GROUP_CONCAT as the analysis reads it.
#[derive(Debug, Clone)]
pub(crate) struct GroupConcatCall {
    /// The value each row contributes: `CONCAT(args...)`, so it is always a string.
    pub value: String,
    /// ORDER BY keys: (expression, descending).
    pub order: Vec<(String, bool)>,
    pub separator: Option<ValueWithSpan>,
    pub distinct: bool,
}

impl GroupConcatCall {
    /// Reads `GROUP_CONCAT([DISTINCT] e, ... [ORDER BY k [DESC], ...] [SEPARATOR 's'])`;
    /// the reason when the merge does not compute this one.
    pub(crate) fn read(expr: &Expr) -> Result<GroupConcatCall, String> {
        let Expr::Function(f) = expr else {
            return Err("GROUP_CONCAT that is not a call".into());
        };
        let FunctionArguments::List(list) = &f.args else {
            return Err("GROUP_CONCAT without arguments".into());
        };
        let mut args = Vec::new();
        for arg in &list.args {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(e.to_string()),
                _ => return Err("GROUP_CONCAT of `*` or a named argument".into()),
            }
        }
        if args.is_empty() {
            return Err("GROUP_CONCAT without arguments".into());
        }
        let distinct = matches!(
            list.duplicate_treatment,
            Some(sqlparser::ast::DuplicateTreatment::Distinct)
        );
        let mut order = Vec::new();
        let mut separator = None;
        for clause in &list.clauses {
            match clause {
                FunctionArgumentClause::OrderBy(keys) => {
                    for key in keys {
                        if matches!(&key.expr, Expr::Value(_)) {
                            return Err("GROUP_CONCAT ordered by a position".into());
                        }
                        let descending = matches!(key.options.sort, Some(OrderBySort::Desc));
                        order.push((key.expr.to_string(), descending));
                    }
                }
                FunctionArgumentClause::Separator(value) => separator = Some(value.clone()),
                _ => return Err("GROUP_CONCAT with a LIMIT or another clause".into()),
            }
        }
        if distinct
            && !order.is_empty()
            && !(args.len() == 1 && order.iter().all(|(k, _)| *k == args[0]))
        {
            // Which of a value's rows sorts it would be arbitrary.
            return Err("GROUP_CONCAT(DISTINCT ...) ordered by another expression".into());
        }
        Ok(GroupConcatCall {
            value: format!("CONCAT({})", args.join(", ")),
            order,
            separator,
            distinct,
        })
    }

    /// The hidden columns each shard returns for it (see the module documentation).
    pub(crate) fn derived_columns(&self, column: usize) -> String {
        let mut parts = vec![format!("COLLATION({v}), {v}", v = self.value)];
        for (key, _) in &self.order {
            parts.push(format!("COLLATION({key}), {key}"));
        }
        format!(
            ", JSON_ARRAYAGG(JSON_ARRAY({})) AS __sg_c{column}, @@group_concat_max_len AS __sg_cl{column}",
            parts.join(", ")
        )
    }

    /// The texts that would carry a parameter into the hidden columns.
    pub(crate) fn texts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.value.as_str()).chain(self.order.iter().map(|(k, _)| k.as_str()))
    }

    /// The separator as an operand to bind (a literal of the shape, or written in).
    pub(crate) fn separator_operand(
        &self,
        param_at: &dyn Fn(&Expr) -> Option<usize>,
    ) -> Option<Operand> {
        let value = self.separator.as_ref()?;
        let is_key = |_: &Expr| false;
        Some(
            CondBuilder {
                is_key: &is_key,
                param_at,
                runs: &crate::condition::Unfolded,
            }
            .operand(&Expr::Value(value.clone())),
        )
    }
}
