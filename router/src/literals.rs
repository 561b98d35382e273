//! A prepared statement's text with its parameters written in as SQL literals: how SQL-level
//! `EXECUTE ... USING @vars` of a statement that needs a merge runs as the text statement it
//! stands for.

use std::fmt::Write as _;

use crate::params::ParamValue;
use crate::template::{EditKind, Template};

/// `value` as an SQL literal that means exactly it whatever the session's sql_mode: strings
/// as hexadecimal with a utf8mb4 introducer, so no quote or backslash inside can end them.
pub fn sql_literal(value: &ParamValue<'_>) -> String {
    let hex = |bytes: &[u8]| {
        let mut out = String::with_capacity(bytes.len() * 2 + 3);
        out.push_str("X'");
        for b in bytes {
            let _ = write!(out, "{b:02X}");
        }
        out.push('\'');
        out
    };
    match value {
        ParamValue::Null => "NULL".into(),
        ParamValue::Int(v) => v.to_string(),
        ParamValue::Number(t)
            if !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) =>
        {
            t.to_string()
        }
        ParamValue::Number(t) | ParamValue::Str(t) => format!("_utf8mb4 {}", hex(t.as_bytes())),
        ParamValue::Bytes(b) => hex(b),
    }
}

impl Template {
    /// The statement's text with parameter `i` replaced by the literal of `values[i]`;
    /// `None` when a value is missing.
    pub fn with_literals(&self, values: &[ParamValue<'_>]) -> Option<String> {
        let mut out = String::with_capacity(self.text.len() + 16 * values.len());
        let mut at = 0;
        for edit in &self.edits {
            let param = match edit.kind {
                EditKind::Param(i) => i,
                EditKind::KeyValue { param: Some(i), .. } => i,
                _ => continue,
            };
            out.push_str(&self.text[at..edit.range.start]);
            out.push_str(&sql_literal(values.get(param)?));
            at = edit.range.end;
        }
        out.push_str(&self.text[at..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_cannot_escape() {
        assert_eq!(sql_literal(&ParamValue::Int(-5)), "-5");
        assert_eq!(sql_literal(&ParamValue::Null), "NULL");
        assert_eq!(sql_literal(&ParamValue::Number("1.50".into())), "1.50");
        assert_eq!(
            sql_literal(&ParamValue::Str("a' OR 1=1 -- \\".into())),
            "_utf8mb4 X'6127204F5220313D31202D2D205C'"
        );
        assert_eq!(
            sql_literal(&ParamValue::Number("1; DROP".into())),
            "_utf8mb4 X'313B2044524F50'"
        );
    }
}
