//! A subquery over a sharded table in a SELECT's WHERE that does not depend on the outer
//! row: `expr IN (SELECT ...)`, `EXISTS (SELECT ...)`, a scalar `(SELECT ...)`. Run on each
//! shard, it would see only that shard's rows, so it runs first, on its own, merged over
//! every shard; what it gives is written into the statement in its place, and the
//! statement then plans like any other (and prunes by key when it can).

/// Which kind of subquery, which decides what of its answer is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubqueryKind {
    /// `expr [NOT] IN (SELECT ...)`: its distinct values, as a list.
    In,
    /// `[NOT] EXISTS (SELECT ...)`: whether it gives a row.
    Exists,
    /// `(SELECT ...)` as a value: its one value, or NULL without a row (written in the
    /// parentheses as a value).
    Scalar,
}

/// The subquery and the statement's text around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubqueryValues {
    pub kind: SubqueryKind,
    /// The subquery, a logical statement.
    pub inner_sql: String,
    /// The statement's text up to the subquery (ending in `(`), and after it.
    pub before: String,
    pub after: String,
}

/// Why a subquery's answer cannot be written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubqueryAnswerError {
    /// A scalar subquery gave more than one row (MySQL's 1242).
    MoreThanOneRow,
}

impl SubqueryValues {
    /// How many distinct values an IN subquery may give: past it, the statement is refused.
    pub const MAX_VALUES: usize = 10_000;

    /// The statement with the subquery's answer in its place: `values` are the SQL literals
    /// of its rows' one column (IN, scalar) or stand for its rows (EXISTS; only whether
    /// there is one counts).
    pub fn statement(&self, values: &[String]) -> Result<String, SubqueryAnswerError> {
        // A subquery that gives no row, in each place: IN is false and NOT IN true, as
        // with an empty result.
        const NO_ROW: &str = "SELECT NULL FROM DUAL WHERE FALSE";
        let inner = match (self.kind, values) {
            (SubqueryKind::In, []) | (SubqueryKind::Exists, []) => NO_ROW.to_string(),
            (SubqueryKind::In, values) => values.join(", "),
            (SubqueryKind::Exists, _) => "SELECT 1".to_string(),
            // A value in parentheses, which the key's condition reads.
            (SubqueryKind::Scalar, []) => "NULL".to_string(),
            (SubqueryKind::Scalar, [one]) => one.clone(),
            (SubqueryKind::Scalar, _) => return Err(SubqueryAnswerError::MoreThanOneRow),
        };
        Ok(format!("{}{inner}{}", self.before, self.after))
    }
}
