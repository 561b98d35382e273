//! Expressions over merged aggregates (`IFNULL(SUM(a), 0)`, `MAX(a) - MIN(a)`,
//! `ROUND(AVG(a), 2)`, `COUNT(*) > 0`): a select item the shards cannot finish, since each
//! sees only its own rows. The shards return the aggregates inside it as hidden columns; the
//! merge folds them over all shards and then evaluates the expression, exactly (integers and
//! decimals; anything inexact is refused when the merge sees the column types).
//!
//! `C` is the constant: the template holds an [`Operand`](crate::condition) (a literal, or
//! the shape's parameter), the plan a bound [`MergeConst`].

/// One node of an expression the merge evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeExpr<C> {
    /// A hidden aggregate, folded over all shards: [`crate::Derived::HavingAggregate`]
    /// number `index` (HAVING's and these share one list).
    Aggregate(usize),
    /// A selected column of the group (a group key), by select-list position.
    Column(usize),
    Const(C),
    Negate(Box<MergeExpr<C>>),
    Not(Box<MergeExpr<C>>),
    Binary {
        op: MergeOp,
        left: Box<MergeExpr<C>>,
        right: Box<MergeExpr<C>>,
    },
    IsNull {
        expr: Box<MergeExpr<C>>,
        negated: bool,
    },
    Call {
        function: MergeFunction,
        args: Vec<MergeExpr<C>>,
    },
}

/// A bound constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeConst {
    Null,
    Int(i128),
    /// A decimal number as written (`2.50`); exponent notation is refused by the merge.
    Number(String),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeOp {
    Add,
    Sub,
    Mul,
    Div,
    IntDiv,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeFunction {
    IfNull,
    Coalesce,
    If,
    NullIf,
    Round,
    Truncate,
    Abs,
    Greatest,
    Least,
    Floor,
    Ceiling,
    /// `CASE [operand] WHEN w THEN r ... [ELSE e] END`: its arguments are the operand (when
    /// `simple`), each WHEN and its THEN in turn, then the ELSE (when `has_else`).
    Case {
        simple: bool,
        has_else: bool,
    },
    /// CONCAT and CONCAT_WS: the arguments' text spellings joined (numbers spelled as the
    /// text protocol spells them).
    Concat,
    ConcatWs,
    /// LENGTH (bytes) and CHAR_LENGTH (characters) of the text spelling.
    Length,
    CharLength,
    /// UPPER and LOWER, of ASCII text only: other letters' case is the collation's.
    Upper,
    Lower,
    /// `CAST(x AS ...)`.
    Cast(CastTo),
}

/// What a CAST the merge evaluates converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastTo {
    /// CHAR without a length: the value's text spelling.
    Char,
    /// SIGNED [INTEGER]: decimals rounded half away from zero.
    Signed,
    /// UNSIGNED [INTEGER]: as SIGNED, negative values refused (MySQL wraps them).
    Unsigned,
    /// DECIMAL(precision, scale): rounded to the scale; a value that does not fit is
    /// refused (MySQL clamps it with a warning).
    Decimal { precision: u8, scale: u8 },
}

impl MergeFunction {
    /// The function a call names (upper case), with the argument counts it takes.
    pub fn named(name: &str, args: usize) -> Option<MergeFunction> {
        let (function, fits) = match name {
            "IFNULL" | "NVL" => (MergeFunction::IfNull, args == 2),
            "COALESCE" => (MergeFunction::Coalesce, args >= 1),
            "IF" => (MergeFunction::If, args == 3),
            "NULLIF" => (MergeFunction::NullIf, args == 2),
            "ROUND" => (MergeFunction::Round, args == 1 || args == 2),
            "TRUNCATE" => (MergeFunction::Truncate, args == 2),
            "ABS" => (MergeFunction::Abs, args == 1),
            "GREATEST" => (MergeFunction::Greatest, args >= 2),
            "LEAST" => (MergeFunction::Least, args >= 2),
            "FLOOR" => (MergeFunction::Floor, args == 1),
            "CEIL" | "CEILING" => (MergeFunction::Ceiling, args == 1),
            "CONCAT" => (MergeFunction::Concat, args >= 1),
            "CONCAT_WS" => (MergeFunction::ConcatWs, args >= 2),
            "LENGTH" | "OCTET_LENGTH" => (MergeFunction::Length, args == 1),
            "CHAR_LENGTH" | "CHARACTER_LENGTH" => (MergeFunction::CharLength, args == 1),
            "UPPER" | "UCASE" => (MergeFunction::Upper, args == 1),
            "LOWER" | "LCASE" => (MergeFunction::Lower, args == 1),
            _ => return None,
        };
        fits.then_some(function)
    }
}

/// A select-list column whose value the merge computes from the group's folded values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// Select-list position (0-based).
    pub column: usize,
    pub expr: MergeExpr<MergeConst>,
}

impl<C> MergeExpr<C> {
    /// The same tree with each constant mapped.
    pub fn map_consts<D>(&self, f: &impl Fn(&C) -> D) -> MergeExpr<D> {
        let boxed = |e: &MergeExpr<C>| Box::new(e.map_consts(f));
        match self {
            MergeExpr::Aggregate(i) => MergeExpr::Aggregate(*i),
            MergeExpr::Column(c) => MergeExpr::Column(*c),
            MergeExpr::Const(c) => MergeExpr::Const(f(c)),
            MergeExpr::Negate(e) => MergeExpr::Negate(boxed(e)),
            MergeExpr::Not(e) => MergeExpr::Not(boxed(e)),
            MergeExpr::Binary { op, left, right } => MergeExpr::Binary {
                op: *op,
                left: boxed(left),
                right: boxed(right),
            },
            MergeExpr::IsNull { expr, negated } => MergeExpr::IsNull {
                expr: boxed(expr),
                negated: *negated,
            },
            MergeExpr::Call { function, args } => MergeExpr::Call {
                function: *function,
                args: args.iter().map(|a| a.map_consts(f)).collect(),
            },
        }
    }
}
