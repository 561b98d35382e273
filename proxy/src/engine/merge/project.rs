//! Evaluates expressions over merged aggregates ([`shardgate_router::merge_expr`]) with
//! MySQL's semantics for integers and decimals: NULL propagates, division by zero is NULL,
//! `/` divides as MySQL's decimal division does (whole 9-digit words, truncated, then
//! rounded to the column's decimals when shown), comparisons
//! and logic give 1, 0 or NULL; string functions and CAST in [`super::text_functions`].
//! Floating-point values and strings in arithmetic are refused
//! rather than computed approximately. The result is spelled as the column's type is (the
//! shards computed the same expression, so the column definition is MySQL's own).

use std::cmp::Ordering;

use shardgate_router::merge_expr::{MergeConst, MergeExpr, MergeFunction, MergeOp};

use super::select::MergeError;
use super::value::Decimal;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Int(i128),
    Dec(Decimal),
    Str(Vec<u8>),
}

/// Where the evaluation reads a group's values: (value, column type) of a hidden aggregate
/// or of a selected column.
pub trait GroupValues {
    fn aggregate(&self, index: usize) -> Option<(Option<&[u8]>, u8)>;
    fn column(&self, column: usize) -> Option<(Option<&[u8]>, u8)>;
}

pub(super) fn refuse(what: &str) -> MergeError {
    MergeError::NotSupported(format!(
        "{what} in an expression over aggregates over several physical tables"
    ))
}

pub(super) fn overflow() -> MergeError {
    MergeError::Overflow(
        "shardgate: an expression over aggregates over several physical tables does not fit 38 digits"
            .into(),
    )
}

/// Evaluates `expr` and spells the result as a value of a column of `column_type` with
/// `decimals` fraction digits; `None` is NULL.
pub fn evaluate(
    expr: &MergeExpr<MergeConst>,
    group: &dyn GroupValues,
    column_type: u8,
    decimals: u8,
) -> Result<Option<Vec<u8>>, MergeError> {
    let value = eval(expr, group)?;
    spell(value, column_type, decimals)
}

fn is_float(column_type: u8) -> bool {
    matches!(column_type, 0x04 | 0x05)
}

fn is_integer(column_type: u8) -> bool {
    matches!(column_type, 0x01 | 0x02 | 0x03 | 0x08 | 0x09 | 0x0D)
}

fn is_decimal(column_type: u8) -> bool {
    matches!(column_type, 0x00 | 0xF6)
}

/// A stored value as the evaluation sees it, by its column's type.
fn read(found: Option<(Option<&[u8]>, u8)>) -> Result<Value, MergeError> {
    let Some((bytes, column_type)) = found else {
        return Err(refuse("a value the merge does not have"));
    };
    let Some(bytes) = bytes else {
        return Ok(Value::Null);
    };
    if is_float(column_type) {
        return Err(refuse("a floating-point value"));
    }
    if is_integer(column_type) || is_decimal(column_type) {
        return number(bytes).ok_or_else(|| refuse("a number the merge cannot read"));
    }
    Ok(Value::Str(bytes.to_vec()))
}

fn number(bytes: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if let Ok(v) = text.parse::<i128>() {
        return Some(Value::Int(v));
    }
    Decimal::parse(text.as_bytes()).map(Value::Dec)
}

fn eval(expr: &MergeExpr<MergeConst>, group: &dyn GroupValues) -> Result<Value, MergeError> {
    Ok(match expr {
        MergeExpr::Aggregate(i) => read(group.aggregate(*i))?,
        MergeExpr::Column(c) => read(group.column(*c))?,
        MergeExpr::Const(c) => match c {
            MergeConst::Null => Value::Null,
            MergeConst::Int(v) => Value::Int(*v),
            MergeConst::Number(text) => {
                number(text.as_bytes()).ok_or_else(|| refuse("a number in exponent notation"))?
            }
            MergeConst::Str(s) => Value::Str(s.clone().into_bytes()),
        },
        MergeExpr::Negate(e) => match eval(e, group)? {
            Value::Null => Value::Null,
            Value::Int(v) => Value::Int(v.checked_neg().ok_or_else(overflow)?),
            Value::Dec(d) => Value::Dec(d.negated()),
            Value::Str(_) => return Err(refuse("a string in arithmetic")),
        },
        MergeExpr::Not(e) => match truth(&eval(e, group)?)? {
            None => Value::Null,
            Some(t) => Value::Int(i128::from(!t)),
        },
        MergeExpr::IsNull { expr, negated } => {
            Value::Int(i128::from((eval(expr, group)? == Value::Null) != *negated))
        }
        MergeExpr::Binary { op, left, right } => {
            binary(*op, eval(left, group)?, eval(right, group)?)?
        }
        MergeExpr::Call { function, args } => call(*function, args, group)?,
    })
}

/// Truth of a value as MySQL's logic sees it: `None` for NULL.
fn truth(v: &Value) -> Result<Option<bool>, MergeError> {
    Ok(match v {
        Value::Null => None,
        Value::Int(i) => Some(*i != 0),
        Value::Dec(d) => Some(d.cmp(&Decimal::zero()) != Ordering::Equal),
        Value::Str(_) => return Err(refuse("a string as a truth value")),
    })
}

fn as_decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Int(i) => Decimal::from_int(*i),
        Value::Dec(d) => Some(*d),
        _ => None,
    }
}

fn compare_values(a: &Value, b: &Value) -> Result<Ordering, MergeError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Str(_), _) | (_, Value::Str(_)) => Err(refuse("a comparison of strings")),
        _ => match (as_decimal(a), as_decimal(b)) {
            (Some(x), Some(y)) => Ok(x.cmp(&y)),
            _ => Err(overflow()),
        },
    }
}

fn binary(op: MergeOp, a: Value, b: Value) -> Result<Value, MergeError> {
    use MergeOp::*;
    match op {
        And | Or => {
            let (x, y) = (truth(&a)?, truth(&b)?);
            let result = if op == And {
                match (x, y) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                }
            } else {
                match (x, y) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                }
            };
            return Ok(result.map_or(Value::Null, |t| Value::Int(i128::from(t))));
        }
        _ => {}
    }
    if a == Value::Null || b == Value::Null {
        return Ok(Value::Null);
    }
    if let Eq | NotEq | Lt | LtEq | Gt | GtEq = op {
        let o = compare_values(&a, &b)?;
        let t = match op {
            Eq => o == Ordering::Equal,
            NotEq => o != Ordering::Equal,
            Lt => o == Ordering::Less,
            LtEq => o != Ordering::Greater,
            Gt => o == Ordering::Greater,
            _ => o != Ordering::Less,
        };
        return Ok(Value::Int(i128::from(t)));
    }
    if matches!(a, Value::Str(_)) || matches!(b, Value::Str(_)) {
        return Err(refuse("a string in arithmetic"));
    }
    if let (Value::Int(x), Value::Int(y)) = (&a, &b) {
        let (x, y) = (*x, *y);
        return Ok(match op {
            Add => Value::Int(x.checked_add(y).ok_or_else(overflow)?),
            Sub => Value::Int(x.checked_sub(y).ok_or_else(overflow)?),
            Mul => Value::Int(x.checked_mul(y).ok_or_else(overflow)?),
            IntDiv if y == 0 => Value::Null,
            IntDiv => Value::Int(x / y),
            Mod if y == 0 => Value::Null,
            Mod => Value::Int(x % y),
            _ => divide(as_decimal(&a), as_decimal(&b))?,
        });
    }
    let (Some(x), Some(y)) = (as_decimal(&a), as_decimal(&b)) else {
        return Err(overflow());
    };
    Ok(match op {
        Add => Value::Dec(x.checked_add(y).ok_or_else(overflow)?),
        Sub => Value::Dec(x.checked_add(y.negated()).ok_or_else(overflow)?),
        Mul => Value::Dec(x.checked_mul(y).ok_or_else(overflow)?),
        Div => divide(Some(x), Some(y))?,
        IntDiv | Mod => return Err(refuse("DIV or % of decimals")),
        _ => unreachable_op()?,
    })
}

fn unreachable_op() -> Result<Value, MergeError> {
    Err(refuse("an operator"))
}

/// `/` as MySQL divides decimals (see [`Decimal::mysql_divide`]); NULL for a zero divisor.
fn divide(x: Option<Decimal>, y: Option<Decimal>) -> Result<Value, MergeError> {
    let (Some(x), Some(y)) = (x, y) else {
        return Err(overflow());
    };
    if y.cmp(&Decimal::zero()) == Ordering::Equal {
        return Ok(Value::Null);
    }
    x.mysql_divide(y).map(Value::Dec).ok_or_else(overflow)
}

fn call(
    function: MergeFunction,
    args: &[MergeExpr<MergeConst>],
    group: &dyn GroupValues,
) -> Result<Value, MergeError> {
    let arg = |i: usize| -> Result<Value, MergeError> {
        match args.get(i) {
            Some(e) => eval(e, group),
            None => Err(refuse("a missing argument")),
        }
    };
    Ok(match function {
        MergeFunction::IfNull => match arg(0)? {
            Value::Null => arg(1)?,
            v => v,
        },
        MergeFunction::Coalesce => {
            for i in 0..args.len() {
                let v = arg(i)?;
                if v != Value::Null {
                    return Ok(v);
                }
            }
            Value::Null
        }
        MergeFunction::If => {
            if truth(&arg(0)?)? == Some(true) {
                arg(1)?
            } else {
                arg(2)?
            }
        }
        MergeFunction::NullIf => {
            let (a, b) = (arg(0)?, arg(1)?);
            if a != Value::Null && b != Value::Null && compare_values(&a, &b)? == Ordering::Equal {
                Value::Null
            } else {
                a
            }
        }
        MergeFunction::Abs => match arg(0)? {
            Value::Int(v) => Value::Int(v.checked_abs().ok_or_else(overflow)?),
            Value::Dec(d) if d.cmp(&Decimal::zero()) == Ordering::Less => Value::Dec(d.negated()),
            Value::Str(_) => return Err(refuse("a string in arithmetic")),
            v => v,
        },
        MergeFunction::Round | MergeFunction::Truncate => {
            let digits = match args.len() {
                1 => 0,
                _ => match arg(1)? {
                    Value::Null => return Ok(Value::Null),
                    Value::Int(d) => d,
                    _ => return Err(refuse("a number of digits that is not an integer")),
                },
            };
            let round = function == MergeFunction::Round;
            match arg(0)? {
                Value::Null => Value::Null,
                Value::Int(v) if digits >= 0 => Value::Int(v),
                Value::Int(v) => {
                    let d = Decimal::from_int(v).ok_or_else(overflow)?;
                    let r = d.round_to(digits, round).ok_or_else(overflow)?;
                    Value::Int(r.to_text().parse::<i128>().map_err(|_| overflow())?)
                }
                Value::Dec(d) => Value::Dec(d.round_to(digits, round).ok_or_else(overflow)?),
                Value::Str(_) => return Err(refuse("a string in arithmetic")),
            }
        }
        MergeFunction::Floor | MergeFunction::Ceiling => match arg(0)? {
            Value::Dec(d) => {
                let whole = d.round_to(0, false).ok_or_else(overflow)?;
                let step = match (function, d.cmp(&whole)) {
                    (MergeFunction::Floor, Ordering::Less) => -1,
                    (MergeFunction::Ceiling, Ordering::Greater) => 1,
                    _ => 0,
                };
                let one = Decimal::from_int(step).ok_or_else(overflow)?;
                Value::Dec(whole.checked_add(one).ok_or_else(overflow)?)
            }
            Value::Str(_) => return Err(refuse("a string in arithmetic")),
            v => v,
        },
        MergeFunction::Case { simple, has_else } => {
            let operand = if simple { Some(arg(0)?) } else { None };
            let first = usize::from(simple);
            let end = args.len() - usize::from(has_else);
            let mut at = first;
            // Each WHEN at `at`, its THEN after it.
            while at + 1 < end {
                let when = arg(at)?;
                let hit = match &operand {
                    // `CASE x WHEN w`: x = w, which NULL never is.
                    Some(x) => {
                        *x != Value::Null
                            && when != Value::Null
                            && compare_values(x, &when)? == Ordering::Equal
                    }
                    None => truth(&when)? == Some(true),
                };
                if hit {
                    return arg(at + 1);
                }
                at += 2;
            }
            if has_else {
                arg(args.len() - 1)?
            } else {
                Value::Null
            }
        }
        MergeFunction::Concat
        | MergeFunction::ConcatWs
        | MergeFunction::Length
        | MergeFunction::CharLength
        | MergeFunction::Upper
        | MergeFunction::Lower
        | MergeFunction::Cast(_) => {
            let values = (0..args.len()).map(arg).collect::<Result<Vec<_>, _>>()?;
            super::text_functions::text_call(function, &values)?
        }
        MergeFunction::Greatest | MergeFunction::Least => {
            let mut best: Option<Value> = None;
            for i in 0..args.len() {
                let v = arg(i)?;
                if v == Value::Null {
                    return Ok(Value::Null);
                }
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = compare_values(&v, &b)?;
                        let take = if function == MergeFunction::Greatest {
                            o == Ordering::Greater
                        } else {
                            o == Ordering::Less
                        };
                        if take {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            best.unwrap_or(Value::Null)
        }
    })
}

/// The value as the column's type spells it in the text protocol.
fn spell(value: Value, column_type: u8, decimals: u8) -> Result<Option<Vec<u8>>, MergeError> {
    if is_float(column_type) {
        return Err(refuse("a floating-point result"));
    }
    Ok(match value {
        Value::Null => None,
        Value::Str(s) => Some(s),
        Value::Int(v) if is_decimal(column_type) && decimals > 0 => Some(
            Decimal::from_int(v)
                .and_then(|d| d.round_to(i128::from(decimals), true))
                .ok_or_else(overflow)?
                .with_scale(u32::from(decimals))
                .ok_or_else(overflow)?
                .to_text()
                .into_bytes(),
        ),
        Value::Int(v) => Some(v.to_string().into_bytes()),
        Value::Dec(d) if is_integer(column_type) => Some(
            d.round_to(0, true)
                .ok_or_else(overflow)?
                .normalized()
                .to_text()
                .into_bytes(),
        ),
        Value::Dec(d) if is_decimal(column_type) => Some(
            d.round_to(i128::from(decimals), true)
                .and_then(|r| r.with_scale(u32::from(decimals)))
                .ok_or_else(overflow)?
                .to_text()
                .into_bytes(),
        ),
        Value::Dec(d) => Some(d.to_text().into_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoValues;
    impl GroupValues for NoValues {
        fn aggregate(&self, _: usize) -> Option<(Option<&[u8]>, u8)> {
            None
        }
        fn column(&self, _: usize) -> Option<(Option<&[u8]>, u8)> {
            None
        }
    }

    fn num(text: &str) -> MergeExpr<MergeConst> {
        MergeExpr::Const(match text.parse::<i128>() {
            Ok(v) => MergeConst::Int(v),
            Err(_) => MergeConst::Number(text.into()),
        })
    }

    fn op(
        op: MergeOp,
        l: MergeExpr<MergeConst>,
        r: MergeExpr<MergeConst>,
    ) -> MergeExpr<MergeConst> {
        MergeExpr::Binary {
            op,
            left: Box::new(l),
            right: Box::new(r),
        }
    }

    fn call(function: MergeFunction, args: Vec<MergeExpr<MergeConst>>) -> MergeExpr<MergeConst> {
        MergeExpr::Call { function, args }
    }

    fn shown(e: &MergeExpr<MergeConst>, column_type: u8, decimals: u8) -> Option<String> {
        evaluate(e, &NoValues, column_type, decimals)
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn case_floor_and_ceiling_as_mariadb_computes_them() {
        const DEC: u8 = 0xF6;
        const TEXT: u8 = 0xFD;
        let text = |t: &str| MergeExpr::Const(MergeConst::Str(t.into()));
        let null = || MergeExpr::Const(MergeConst::Null);
        let searched = |x: &str| {
            call(
                MergeFunction::Case {
                    simple: false,
                    has_else: true,
                },
                vec![
                    op(MergeOp::Gt, num(x), num("5")),
                    text("many"),
                    op(MergeOp::Gt, num(x), num("0")),
                    text("some"),
                    text("none"),
                ],
            )
        };
        assert_eq!(shown(&searched("7"), TEXT, 0).as_deref(), Some("many"));
        assert_eq!(shown(&searched("2"), TEXT, 0).as_deref(), Some("some"));
        assert_eq!(shown(&searched("0"), TEXT, 0).as_deref(), Some("none"));
        // A simple CASE without ELSE: no match, or a NULL operand, is NULL.
        let simple = |x: MergeExpr<MergeConst>| {
            call(
                MergeFunction::Case {
                    simple: true,
                    has_else: false,
                },
                vec![x, num("1"), text("one"), null(), text("null")],
            )
        };
        assert_eq!(shown(&simple(num("1")), TEXT, 0).as_deref(), Some("one"));
        assert_eq!(shown(&simple(num("2")), TEXT, 0), None);
        assert_eq!(shown(&simple(null()), TEXT, 0), None);
        let floor = |x: &str| call(MergeFunction::Floor, vec![num(x)]);
        let ceiling = |x: &str| call(MergeFunction::Ceiling, vec![num(x)]);
        assert_eq!(shown(&floor("-2.5"), DEC, 0).as_deref(), Some("-3"));
        assert_eq!(shown(&floor("2.5"), DEC, 0).as_deref(), Some("2"));
        assert_eq!(shown(&ceiling("-2.5"), DEC, 0).as_deref(), Some("-2"));
        assert_eq!(shown(&ceiling("2.01"), DEC, 0).as_deref(), Some("3"));
        assert_eq!(shown(&ceiling("7"), DEC, 0).as_deref(), Some("7"));
        assert_eq!(shown(&floor("-4.00"), DEC, 0).as_deref(), Some("-4"));
    }

    /// Each expected value is what MariaDB 10.11 answers for the same expression.
    #[test]
    fn decimal_arithmetic_as_mariadb_computes_it() {
        const DEC: u8 = 0xF6;
        const INT: u8 = 0x08;
        let two_thirds = op(MergeOp::Div, num("2"), num("3"));
        assert_eq!(shown(&two_thirds, DEC, 4).as_deref(), Some("0.6667"));
        let times_three = op(MergeOp::Mul, two_thirds.clone(), num("3"));
        assert_eq!(shown(&times_three, DEC, 4).as_deref(), Some("2.0000"));
        let big = op(MergeOp::Mul, two_thirds, num("1000000000"));
        assert_eq!(shown(&big, DEC, 4).as_deref(), Some("666666666.0000"));
        let fine = op(
            MergeOp::Mul,
            op(MergeOp::Div, num("2.55"), num("3.3")),
            num("1000000000000000000"),
        );
        assert_eq!(
            shown(&fine, DEC, 6).as_deref(),
            Some("772727272727272727.000000")
        );
        assert_eq!(
            shown(&op(MergeOp::Mul, num("1.5"), num("2.25")), DEC, 3).as_deref(),
            Some("3.375")
        );
        assert_eq!(
            shown(&op(MergeOp::IntDiv, num("-7"), num("2")), INT, 0).as_deref(),
            Some("-3")
        );
        assert_eq!(
            shown(&op(MergeOp::Mod, num("-7"), num("3")), INT, 0).as_deref(),
            Some("-1")
        );
        assert_eq!(
            shown(&call(MergeFunction::Round, vec![num("-2.5")]), DEC, 0).as_deref(),
            Some("-3")
        );
        assert_eq!(
            shown(
                &call(MergeFunction::Round, vec![num("1234.5"), num("-2")]),
                DEC,
                0
            )
            .as_deref(),
            Some("1200")
        );
        assert_eq!(
            shown(
                &call(MergeFunction::Round, vec![num("-15"), num("-1")]),
                INT,
                0
            )
            .as_deref(),
            Some("-20")
        );
        assert_eq!(
            shown(
                &call(MergeFunction::Truncate, vec![num("-2.57"), num("1")]),
                DEC,
                1
            )
            .as_deref(),
            Some("-2.5")
        );
        assert_eq!(
            shown(&op(MergeOp::Div, num("1"), num("0")), DEC, 4),
            None,
            "division by zero is NULL"
        );
        assert_eq!(
            shown(
                &call(MergeFunction::IfNull, vec![num_null(), num("0")]),
                DEC,
                2
            )
            .as_deref(),
            Some("0.00")
        );
        assert!(
            evaluate(&num("1"), &NoValues, 0x05, 0).is_err(),
            "DOUBLE is refused"
        );
    }

    fn num_null() -> MergeExpr<MergeConst> {
        MergeExpr::Const(MergeConst::Null)
    }
}
