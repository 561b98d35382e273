//! String functions and CAST over merged values: CONCAT, CONCAT_WS, LENGTH, CHAR_LENGTH,
//! UPPER, LOWER and CAST to CHAR, SIGNED, UNSIGNED and DECIMAL(p, s), as MySQL computes
//! them where the answer does not depend on the session or a collation; otherwise refused
//! (case mapping beyond ASCII, strings read as numbers, values a CAST would clamp).

use shardgate_router::merge_expr::{CastTo, MergeFunction};

use super::project::{overflow, refuse, Value};
use super::select::MergeError;
use super::value::Decimal;

/// A value's text spelling, as the text protocol spells it; `None` for NULL.
fn spelling(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Null => None,
        Value::Int(v) => Some(v.to_string().into_bytes()),
        Value::Dec(d) => Some(d.to_text().into_bytes()),
        Value::Str(s) => Some(s.clone()),
    }
}

/// `function` of the evaluated `args`.
pub(super) fn text_call(function: MergeFunction, args: &[Value]) -> Result<Value, MergeError> {
    let first = args.first().unwrap_or(&Value::Null);
    Ok(match function {
        MergeFunction::Concat => {
            let mut out = Vec::new();
            for arg in args {
                match spelling(arg) {
                    Some(text) => out.extend(text),
                    None => return Ok(Value::Null),
                }
            }
            Value::Str(out)
        }
        MergeFunction::ConcatWs => {
            let Some(separator) = spelling(first) else {
                return Ok(Value::Null);
            };
            // NULLs are skipped, not joined.
            let parts: Vec<Vec<u8>> = args[1..].iter().filter_map(spelling).collect();
            Value::Str(parts.join(separator.as_slice()))
        }
        MergeFunction::Length => match spelling(first) {
            Some(text) => Value::Int(text.len() as i128),
            None => Value::Null,
        },
        MergeFunction::CharLength => match spelling(first) {
            Some(text) => Value::Int(
                std::str::from_utf8(&text)
                    .map_err(|_| refuse("CHAR_LENGTH of text that is not UTF-8"))?
                    .chars()
                    .count() as i128,
            ),
            None => Value::Null,
        },
        MergeFunction::Upper | MergeFunction::Lower => match first {
            Value::Str(text) if !text.is_ascii() => {
                return Err(refuse(
                    "UPPER or LOWER of text beyond ASCII (its case mapping is the collation's)",
                ))
            }
            Value::Str(text) if function == MergeFunction::Upper => {
                Value::Str(text.to_ascii_uppercase())
            }
            Value::Str(text) => Value::Str(text.to_ascii_lowercase()),
            // Numbers have no case; MySQL gives their spelling.
            other => spelling(other).map_or(Value::Null, Value::Str),
        },
        MergeFunction::Cast(to) => cast(first, to)?,
        _ => return Err(refuse("a function the merge does not evaluate")),
    })
}

fn cast(value: &Value, to: CastTo) -> Result<Value, MergeError> {
    let number = match value {
        Value::Null => return Ok(Value::Null),
        Value::Str(_) if to != CastTo::Char => {
            return Err(refuse(
                "a CAST of a string to a number (MySQL reads its leading digits and warns)",
            ))
        }
        _ => value,
    };
    Ok(match to {
        CastTo::Char => spelling(value).map_or(Value::Null, Value::Str),
        CastTo::Signed | CastTo::Unsigned => {
            let whole = match number {
                Value::Int(v) => *v,
                Value::Dec(d) => d
                    .round_to(0, true)
                    .ok_or_else(overflow)?
                    .normalized()
                    .to_text()
                    .parse::<i128>()
                    .map_err(|_| overflow())?,
                _ => return Err(overflow()),
            };
            let fits = match to {
                CastTo::Signed => i64::try_from(whole).is_ok(),
                _ => u64::try_from(whole).is_ok(),
            };
            if !fits {
                return Err(refuse(
                    "a CAST to an integer of a value out of its range (MySQL wraps or clamps it)",
                ));
            }
            Value::Int(whole)
        }
        CastTo::Decimal { precision, scale } => {
            let decimal = match number {
                Value::Int(v) => Decimal::from_int(*v).ok_or_else(overflow)?,
                Value::Dec(d) => *d,
                _ => return Err(overflow()),
            };
            let rounded = decimal
                .round_to(i128::from(scale), true)
                .and_then(|d| d.with_scale(u32::from(scale)))
                .ok_or_else(overflow)?;
            let text = rounded.to_text();
            let whole_digits = text
                .trim_start_matches('-')
                .split('.')
                .next()
                .unwrap_or("")
                .trim_start_matches('0')
                .len();
            if whole_digits > usize::from(precision - scale) {
                return Err(refuse(
                    "a CAST to a DECIMAL too small for the value (MySQL clamps it)",
                ));
            }
            Value::Dec(rounded)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: Result<Value, MergeError>) -> Option<String> {
        match v {
            Ok(Value::Str(s)) => Some(String::from_utf8_lossy(&s).into_owned()),
            Ok(Value::Int(i)) => Some(i.to_string()),
            Ok(Value::Dec(d)) => Some(d.to_text()),
            Ok(Value::Null) => Some("NULL".into()),
            Err(_) => None,
        }
    }

    fn dec(s: &str) -> Value {
        Value::Dec(Decimal::parse(s.as_bytes()).unwrap_or(Decimal::zero()))
    }

    #[test]
    fn strings_and_casts_as_mysql_computes_them() {
        let s = |t: &str| Value::Str(t.as_bytes().to_vec());
        assert_eq!(
            text(text_call(
                MergeFunction::Concat,
                &[Value::Int(5), s("-"), dec("2.50")]
            ))
            .as_deref(),
            Some("5-2.50")
        );
        assert_eq!(
            text(text_call(
                MergeFunction::Concat,
                &[Value::Int(5), Value::Null]
            ))
            .as_deref(),
            Some("NULL")
        );
        assert_eq!(
            text(text_call(
                MergeFunction::ConcatWs,
                &[s(","), Value::Int(1), Value::Null, s("x")]
            ))
            .as_deref(),
            Some("1,x")
        );
        assert_eq!(
            text(text_call(MergeFunction::Length, &[s("é")])).as_deref(),
            Some("2")
        );
        assert_eq!(
            text(text_call(MergeFunction::CharLength, &[s("é")])).as_deref(),
            Some("1")
        );
        assert_eq!(
            text(text_call(MergeFunction::Upper, &[s("paid")])).as_deref(),
            Some("PAID")
        );
        assert_eq!(text(text_call(MergeFunction::Lower, &[s("É")])), None);
        let cast = |v: Value, to| text(text_call(MergeFunction::Cast(to), &[v]));
        assert_eq!(cast(dec("2.5"), CastTo::Signed).as_deref(), Some("3"));
        assert_eq!(cast(dec("-2.5"), CastTo::Signed).as_deref(), Some("-3"));
        assert_eq!(cast(Value::Int(-1), CastTo::Unsigned), None);
        assert_eq!(cast(s("12"), CastTo::Signed), None);
        let d = |precision, scale| CastTo::Decimal { precision, scale };
        assert_eq!(cast(dec("12.345"), d(5, 2)).as_deref(), Some("12.35"));
        assert_eq!(cast(Value::Int(7), d(4, 1)).as_deref(), Some("7.0"));
        assert_eq!(cast(dec("1234.5"), d(4, 1)), None);
        assert_eq!(cast(dec("2.50"), CastTo::Char).as_deref(), Some("2.50"));
    }
}
