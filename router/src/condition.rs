//! Sharding conditions: what a WHERE clause says about the sharding key, kept as a small tree
//! whose leaves may be placeholders, evaluated per execution into a [`TargetSet`].

use shardgate_config::{Algorithm, ShardKey, ShardedLayout};
use sqlparser::ast::{BinaryOperator, Expr, InTarget, UnaryOperator, Value};

use crate::params::ParamValue;
use crate::targets::TargetSet;

/// A value in a condition, known now or at bind time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// Parameter `index`, negated when written `-?`.
    Param {
        index: usize,
        negate: bool,
    },
    Const(ParamValue<'static>),
    /// An expression the router does not evaluate (a function call, another column).
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    /// Says nothing about the key.
    Any,
    Eq(Operand),
    In(Vec<Operand>),
    Range {
        lo: Option<Bound>,
        hi: Option<Bound>,
    },
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bound {
    pub value: Operand,
    pub inclusive: bool,
}

/// A bound value as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum KeyValue<'p> {
    Null,
    Int(i128),
    Str(&'p str),
    /// A value that names no shard exactly (a fraction, binary data, an unknown expression).
    Other,
}

/// Where bound values come from.
pub(crate) trait ParamSource {
    fn param(&self, index: usize) -> Option<&ParamValue<'_>>;
}

impl Operand {
    pub(crate) fn resolve<'p>(&'p self, params: &'p dyn ParamSource) -> KeyValue<'p> {
        let (value, negate) = match self {
            Operand::Param { index, negate } => match params.param(*index) {
                Some(v) => (v, *negate),
                None => return KeyValue::Other,
            },
            Operand::Const(v) => (v, false),
            Operand::Unknown => return KeyValue::Other,
        };
        let key = match value {
            ParamValue::Null => KeyValue::Null,
            ParamValue::Str(s) => KeyValue::Str(s),
            ParamValue::Int(_) | ParamValue::Number(_) => match value.as_int() {
                Some(v) => KeyValue::Int(v),
                None => KeyValue::Other,
            },
            ParamValue::Bytes(_) => KeyValue::Other,
        };
        match (key, negate) {
            (KeyValue::Int(v), true) => KeyValue::Int(-v),
            (KeyValue::Null, _) | (_, false) => key,
            _ => KeyValue::Other,
        }
    }
}

/// How many parameters a placeholder stands for: the first `?` of a folded IN list stands
/// for the list's whole run (see [`crate::fold`]).
pub(crate) trait PlaceholderRuns {
    fn run_len(&self, param: usize) -> usize;
}

/// Every placeholder stands for itself.
pub(crate) struct Unfolded;

impl PlaceholderRuns for Unfolded {
    fn run_len(&self, _: usize) -> usize {
        1
    }
}

/// Turns expressions into conditions on one sharding key.
pub(crate) struct CondBuilder<'f> {
    /// Whether an expression is a reference to the sharding column.
    pub is_key: &'f dyn Fn(&Expr) -> bool,
    /// The parameter index of a placeholder at this byte offset.
    pub param_at: &'f dyn Fn(&Expr) -> Option<usize>,
    pub runs: &'f dyn PlaceholderRuns,
}

impl CondBuilder<'_> {
    /// The values of an IN list, a folded run expanded into its parameters.
    pub(crate) fn list_operands(&self, list: &[Expr]) -> Vec<Operand> {
        let mut operands = Vec::with_capacity(list.len());
        for item in list {
            match self.operand(item) {
                Operand::Param {
                    index,
                    negate: false,
                } => operands.extend((index..index + self.runs.run_len(index)).map(|index| {
                    Operand::Param {
                        index,
                        negate: false,
                    }
                })),
                other => operands.push(other),
            }
        }
        operands
    }

    pub(crate) fn cond(&self, expr: &Expr) -> Cond {
        match expr {
            Expr::Nested(inner) => self.cond(inner),
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::And => Cond::And(vec![self.cond(left), self.cond(right)]),
                BinaryOperator::Or => Cond::Or(vec![self.cond(left), self.cond(right)]),
                BinaryOperator::Eq => {
                    match (self.key_side(left, right), self.key_side(right, left)) {
                        (Some(v), None) | (None, Some(v)) => Cond::Eq(v),
                        _ => Cond::Any,
                    }
                }
                BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq => {
                    // Normalize to `key OP value`.
                    let (value, op) = if let Some(v) = self.key_side(left, right) {
                        (v, op.clone())
                    } else if let Some(v) = self.key_side(right, left) {
                        let flipped = match op {
                            BinaryOperator::Lt => BinaryOperator::Gt,
                            BinaryOperator::LtEq => BinaryOperator::GtEq,
                            BinaryOperator::Gt => BinaryOperator::Lt,
                            _ => BinaryOperator::LtEq,
                        };
                        (v, flipped)
                    } else {
                        return Cond::Any;
                    };
                    let inclusive = matches!(op, BinaryOperator::LtEq | BinaryOperator::GtEq);
                    let bound = Some(Bound { value, inclusive });
                    if matches!(op, BinaryOperator::Lt | BinaryOperator::LtEq) {
                        Cond::Range {
                            lo: None,
                            hi: bound,
                        }
                    } else {
                        Cond::Range {
                            lo: bound,
                            hi: None,
                        }
                    }
                }
                _ => Cond::Any,
            },
            Expr::In {
                expr,
                target: InTarget::List(list),
                negated: false,
                ..
            } if (self.is_key)(expr) => Cond::In(self.list_operands(list)),
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } if (self.is_key)(expr) => Cond::Range {
                lo: Some(Bound {
                    value: self.operand(low),
                    inclusive: true,
                }),
                hi: Some(Bound {
                    value: self.operand(high),
                    inclusive: true,
                }),
            },
            _ => Cond::Any,
        }
    }

    /// `Some(value)` when `key` is the sharding column and `value` is not.
    fn key_side(&self, key: &Expr, value: &Expr) -> Option<Operand> {
        if (self.is_key)(key) && !(self.is_key)(value) {
            Some(self.operand(value))
        } else {
            None
        }
    }

    pub(crate) fn operand(&self, expr: &Expr) -> Operand {
        match expr {
            Expr::Nested(inner) => self.operand(inner),
            Expr::Value(v) => match &v.value {
                Value::Placeholder(_) => match (self.param_at)(expr) {
                    Some(index) => Operand::Param {
                        index,
                        negate: false,
                    },
                    None => Operand::Unknown,
                },
                other => Operand::Const(const_value(other)),
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr: inner,
            } => match self.operand(inner) {
                Operand::Param { index, negate } => Operand::Param {
                    index,
                    negate: !negate,
                },
                Operand::Const(ParamValue::Int(v)) => Operand::Const(ParamValue::Int(-v)),
                _ => Operand::Unknown,
            },
            Expr::UnaryOp {
                op: UnaryOperator::Plus,
                expr: inner,
            } => self.operand(inner),
            _ => Operand::Unknown,
        }
    }
}

/// A literal that stayed in the parsed text (fallback parses, or kinds the normalizer keeps).
pub(crate) fn const_value(value: &Value) -> ParamValue<'static> {
    match value {
        Value::Null => ParamValue::Null,
        Value::Number(text, _) => match text.parse::<i128>() {
            Ok(v) => ParamValue::Int(v),
            Err(_) => ParamValue::Number(text.clone().into()),
        },
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
            ParamValue::Str(s.clone().into())
        }
        Value::Boolean(b) => ParamValue::Int(i128::from(*b)),
        _ => ParamValue::Bytes(Vec::new().into()),
    }
}

/// Evaluates conditions against one sharded layout.
pub(crate) struct Evaluator<'a> {
    pub layout: &'a ShardedLayout,
    pub params: &'a dyn ParamSource,
}

/// Ranges narrower than this are enumerated key by key, exactly.
const ENUMERATE_LIMIT: i128 = 4096;

impl Evaluator<'_> {
    pub(crate) fn eval(&self, cond: &Cond) -> TargetSet {
        match cond {
            Cond::Any => TargetSet::all(self.layout),
            Cond::Eq(op) => self.point(op),
            Cond::In(ops) => {
                let mut set = TargetSet::empty(self.layout);
                for op in ops {
                    set.union_with(&self.point(op));
                }
                set
            }
            Cond::Range { lo, hi } => match (
                self.bound(lo.as_ref(), true),
                self.bound(hi.as_ref(), false),
            ) {
                (Some(lo), Some(hi)) => self.interval(lo, hi),
                _ => TargetSet::empty(self.layout),
            },
            Cond::And(children) => {
                // Ranges on the key combine into one interval before they are evaluated, so
                // `k >= 100 AND k < 110` prunes although each half alone would not.
                let mut lo: Option<i128> = None;
                let mut hi: Option<i128> = None;
                let mut has_range = false;
                let mut set = TargetSet::all(self.layout);
                for child in children {
                    match child {
                        Cond::Range { lo: l, hi: h } => {
                            has_range = true;
                            match (self.bound(l.as_ref(), true), self.bound(h.as_ref(), false)) {
                                (Some(l), Some(h)) => {
                                    lo = max_bound(lo, l, true);
                                    hi = max_bound(hi, h, false);
                                }
                                _ => return TargetSet::empty(self.layout),
                            }
                        }
                        other => set.intersect_with(&self.eval(other)),
                    }
                }
                if has_range {
                    set.intersect_with(&self.interval(lo, hi));
                }
                set
            }
            Cond::Or(children) => {
                let mut set = TargetSet::empty(self.layout);
                for child in children {
                    set.union_with(&self.eval(child));
                }
                set
            }
        }
    }

    /// The shard pair holding `key`, or `None` when the key names no single pair.
    pub(crate) fn locate(&self, key: KeyValue<'_>, for_insert: bool) -> Option<(usize, usize)> {
        let shard_key = match key {
            KeyValue::Int(v) => ShardKey::Int(v),
            KeyValue::Str(s) => ShardKey::Str(s),
            KeyValue::Null | KeyValue::Other => return None,
        };
        let pick = |alg: &Algorithm| {
            // An integer compared with a string column matches '5', '05' and '5.0' alike, so a
            // hashed string key is only located by a string value, except when inserting it.
            if !for_insert
                && matches!(alg, Algorithm::HashMod { .. })
                && matches!(shard_key, ShardKey::Int(_))
            {
                return None;
            }
            alg.shard_of(shard_key)
        };
        Some((
            pick(&self.layout.database_algorithm)?,
            pick(&self.layout.table_algorithm)?,
        ))
    }

    fn point(&self, op: &Operand) -> TargetSet {
        let key = op.resolve(self.params);
        if key == KeyValue::Null {
            // `key = NULL` is never true.
            return TargetSet::empty(self.layout);
        }
        match self.locate(key, false) {
            Some((db, table)) => {
                let mut set = TargetSet::empty(self.layout);
                set.insert(db, table);
                set
            }
            None => TargetSet::all(self.layout),
        }
    }

    /// A bound as an inclusive integer: `Some(None)` is unbounded (or not an integer, which
    /// bounds nothing we can use), `None` is a comparison with NULL, which no row satisfies.
    fn bound(&self, bound: Option<&Bound>, lower: bool) -> Option<Option<i128>> {
        let Some(bound) = bound else {
            return Some(None);
        };
        match bound.value.resolve(self.params) {
            KeyValue::Null => None,
            KeyValue::Int(v) if bound.inclusive => Some(Some(v)),
            KeyValue::Int(v) => Some(Some(if lower { v + 1 } else { v - 1 })),
            // A string bound orders by the column's type, which routing does not know: a
            // string column compares it by collation, so `k BETWEEN '1000' AND '1099'`
            // holds for '105', whose table the integers 1000..=1099 never name. It bounds
            // nothing (an integer bound compares numerically with either column type).
            KeyValue::Str(_) | KeyValue::Other => Some(None),
        }
    }

    fn interval(&self, lo: Option<i128>, hi: Option<i128>) -> TargetSet {
        let layout = self.layout;
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo > hi {
                return TargetSet::empty(layout);
            }
            if hi - lo < ENUMERATE_LIMIT {
                let mut set = TargetSet::empty(layout);
                for key in lo..=hi {
                    match self.locate(KeyValue::Int(key), false) {
                        Some((db, table)) => set.insert(db, table),
                        None => return TargetSet::all(layout),
                    }
                }
                return set;
            }
        }
        let mut set = TargetSet::empty(layout);
        let dbs = layout.database_algorithm.shards_in_range(lo, hi);
        let tables = layout.table_algorithm.shards_in_range(lo, hi);
        for db in &dbs {
            for table in &tables {
                set.insert(*db, *table);
            }
        }
        set
    }
}

/// Tightens a running bound: the larger lower bound, the smaller upper bound.
fn max_bound(current: Option<i128>, new: Option<i128>, lower: bool) -> Option<i128> {
    match (current, new) {
        (Some(a), Some(b)) => Some(if lower { a.max(b) } else { a.min(b) }),
        (a, b) => a.or(b),
    }
}
