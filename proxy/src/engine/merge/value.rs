//! Values as the text protocol sends them, compared and added the way MySQL does for the
//! column's type and collation.

use std::cmp::Ordering;

pub use crate::protocol::binary_row::fraction_micros;
use crate::protocol::binary_row::ColumnInfo;

/// How a column's text values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Integers, decimals, floats: compared as numbers.
    Numeric,
    /// Dates and datetimes: their text sorts in time order.
    Temporal,
    /// TIME: signed, and past 99 hours (`-838:59:59`), so compared by its value.
    Time,
    /// Case- and accent-insensitive text (utf8mb4_general_ci, utf8mb4_unicode_ci, ...).
    TextCi,
    /// Byte-wise text and binary strings (utf8mb4_bin, binary).
    Bytes,
}

impl ColumnKind {
    /// From what a column definition says (a `_bin` string compares byte-wise).
    pub fn of(info: &ColumnInfo) -> Self {
        match info.collation {
            Some(collation) => ColumnKind::from_definition(info.column_type, collation),
            None => ColumnKind::Bytes,
        }
    }

    /// From a column definition's type and collation id.
    pub fn from_definition(column_type: u8, collation: u16) -> Self {
        match column_type {
            0x00 | 0x01 | 0x02 | 0x03 | 0x04 | 0x05 | 0x08 | 0x09 | 0x0D | 0xF6 => {
                ColumnKind::Numeric
            }
            0x0B => ColumnKind::Time,
            0x07 | 0x0A | 0x0C | 0x0E => ColumnKind::Temporal,
            _ if is_binary_collation(collation) => ColumnKind::Bytes,
            _ => ColumnKind::TextCi,
        }
    }
}

/// `binary` (63) and the `_bin` collations of utf8mb4 / utf8mb3 / latin1.
fn is_binary_collation(id: u16) -> bool {
    matches!(id, 63 | 46 | 83 | 47 | 65 | 309 | 248)
}

/// Compares two non-NULL values of one column.
pub fn compare(a: &[u8], b: &[u8], kind: ColumnKind) -> Ordering {
    match kind {
        ColumnKind::Numeric => compare_numbers(a, b),
        ColumnKind::Temporal | ColumnKind::Bytes => a.cmp(b),
        ColumnKind::Time => time_micros(a).cmp(&time_micros(b)),
        ColumnKind::TextCi => compare_folded(a, b),
    }
}

/// A TIME's value in microseconds, from either spelling: the text protocol's
/// `[-]hhh:mm:ss[.ffffff]` or a decoded binary row's `+DDDDD hh:mm:ss.ffffff`.
pub fn time_micros(value: &[u8]) -> i128 {
    let text = String::from_utf8_lossy(value);
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (days, clock) = match body.split_once(' ') {
        Some((d, c)) => (d.parse::<i128>().unwrap_or(0), c),
        None => (0, body),
    };
    let (clock, fraction) = match clock.split_once('.') {
        Some((c, f)) => (c, Some(f)),
        None => (clock, None),
    };
    let mut parts = clock.split(':').map(|p| p.parse::<i128>().unwrap_or(0));
    let hours = days * 24 + parts.next().unwrap_or(0);
    let minutes = parts.next().unwrap_or(0);
    let seconds = parts.next().unwrap_or(0);
    let total = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000
        + i128::from(fraction.map_or(0, fraction_micros));
    if negative {
        -total
    } else {
        total
    }
}

/// A text's sort key under utf8mb4_general_ci: trailing spaces (PAD SPACE), case and the
/// accents of Latin letters do not count. The key's bytes order as the collation does
/// (UTF-8 orders as its code points).
pub fn fold_text(text: &[u8]) -> Vec<u8> {
    let text = trim_pad(text);
    if text.is_ascii() {
        // Most keys: no decoding and no per-character tables (a scatter's ORDER BY and
        // DISTINCT spent half the proxy's time folding ASCII one `char` at a time).
        return text.to_ascii_uppercase();
    }
    String::from_utf8_lossy(text)
        .chars()
        .map(fold_char)
        .collect::<String>()
        .into_bytes()
}

/// Compares two texts as [`fold_text`] keys would, without building them when both are
/// ASCII.
fn compare_folded(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (trim_pad(a), trim_pad(b));
    if a.is_ascii() && b.is_ascii() {
        return a
            .iter()
            .map(u8::to_ascii_uppercase)
            .cmp(b.iter().map(u8::to_ascii_uppercase));
    }
    fold_text(a).cmp(&fold_text(b))
}

/// A text without its trailing spaces, which PAD SPACE collations ignore.
fn trim_pad(text: &[u8]) -> &[u8] {
    let end = text.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    &text[..end]
}

/// One character's sort weight under utf8mb4_general_ci, for the Latin letters it folds.
fn fold_char(c: char) -> char {
    let base = match c {
        'À'..='Å' | 'à'..='å' => 'A',
        'Ç' | 'ç' => 'C',
        'È'..='Ë' | 'è'..='ë' => 'E',
        'Ì'..='Ï' | 'ì'..='ï' => 'I',
        'Ñ' | 'ñ' => 'N',
        'Ò'..='Ö' | 'ò'..='ö' | 'Ø' | 'ø' => 'O',
        'Ù'..='Ü' | 'ù'..='ü' => 'U',
        'Ý' | 'ý' | 'ÿ' => 'Y',
        _ => c,
    };
    base.to_uppercase().next().unwrap_or(base)
}

/// A value's sort key, parsed once so a k-way merge compares heads without parsing them
/// again at every step. Orders exactly as [`compare`] does for one column kind, NULL first.
#[derive(Debug, Clone)]
pub enum SortValue {
    Null,
    Decimal(Decimal),
    Float(f64),
    Text(Vec<u8>),
}

impl SortValue {
    pub fn new(value: Option<&[u8]>, kind: ColumnKind) -> SortValue {
        let Some(v) = value else {
            return SortValue::Null;
        };
        match kind {
            ColumnKind::Numeric => match Decimal::parse(v) {
                Some(d) => SortValue::Decimal(d),
                None => SortValue::Float(parse_float(v)),
            },
            ColumnKind::Temporal | ColumnKind::Bytes => SortValue::Text(v.to_vec()),
            ColumnKind::Time => {
                SortValue::Decimal(Decimal::from_int(time_micros(v)).unwrap_or(Decimal::zero()))
            }
            ColumnKind::TextCi => SortValue::Text(fold_text(v)),
        }
    }

    pub fn cmp(&self, other: &SortValue) -> Ordering {
        match (self, other) {
            (SortValue::Null, SortValue::Null) => Ordering::Equal,
            (SortValue::Null, _) => Ordering::Less,
            (_, SortValue::Null) => Ordering::Greater,
            (SortValue::Decimal(a), SortValue::Decimal(b)) => a.cmp(b),
            (SortValue::Text(a), SortValue::Text(b)) => a.cmp(b),
            (a, b) => compare_floats(a.as_float(), b.as_float()),
        }
    }

    fn as_float(&self) -> f64 {
        match self {
            SortValue::Decimal(d) => d.to_float(),
            SortValue::Float(f) => *f,
            SortValue::Null | SortValue::Text(_) => 0.0,
        }
    }
}

/// Floats in order, `-0` equal to `0` as SQL has it.
fn compare_floats(a: f64, b: f64) -> Ordering {
    if a == b {
        Ordering::Equal
    } else {
        a.total_cmp(&b)
    }
}

fn parse_float(v: &[u8]) -> f64 {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn compare_numbers(a: &[u8], b: &[u8]) -> Ordering {
    match (Decimal::parse(a), Decimal::parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => compare_floats(parse_float(a), parse_float(b)),
    }
}

/// An exact decimal: `mantissa / 10^scale`. Enough for SUM over BIGINT and DECIMAL(65,30)
/// columns up to 38 significant digits; beyond that the merge refuses rather than rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    pub fn parse(text: &[u8]) -> Option<Decimal> {
        let s = std::str::from_utf8(text).ok()?.trim();
        if s.is_empty() || s.contains(['e', 'E']) {
            return None;
        }
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if !whole
            .chars()
            .chain(frac.chars())
            .all(|c| c.is_ascii_digit())
            || (whole.is_empty() && frac.is_empty())
        {
            return None;
        }
        let mut mantissa: i128 = 0;
        for d in whole.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(d - b'0'))?;
        }
        Some(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale: frac.len() as u32,
        })
    }

    pub fn to_float(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10i128.checked_pow(scale.checked_sub(self.scale)?)?)
    }

    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        Some(Decimal {
            mantissa: self.rescale(scale)?.checked_add(other.rescale(scale)?)?,
            scale,
        })
    }

    /// The same value without trailing fraction zeros (`1.50` and `1.5` become one key).
    pub fn normalized(mut self) -> Decimal {
        while self.scale > 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        self
    }

    /// `self / divisor` at `scale` fraction digits, rounded half away from zero.
    pub fn divide(self, divisor: i128, scale: u32) -> Option<Decimal> {
        if divisor == 0 {
            return None;
        }
        // Scale the dividend so the quotient has one digit more than wanted, then round.
        let numerator = if scale + 1 >= self.scale {
            self.mantissa
                .checked_mul(10i128.checked_pow(scale + 1 - self.scale)?)?
        } else {
            self.mantissa / 10i128.checked_pow(self.scale - scale - 1)?
        };
        let q = numerator / divisor;
        let rounded = if q >= 0 { (q + 5) / 10 } else { (q - 5) / 10 };
        Some(Decimal {
            mantissa: rounded,
            scale,
        })
    }

    pub fn zero() -> Decimal {
        Decimal {
            mantissa: 0,
            scale: 0,
        }
    }

    pub fn from_int(v: i128) -> Option<Decimal> {
        // 38 digits, the most the merge computes exactly.
        (v.unsigned_abs() < 10u128.pow(38)).then_some(Decimal {
            mantissa: v,
            scale: 0,
        })
    }

    pub fn negated(self) -> Decimal {
        Decimal {
            mantissa: -self.mantissa,
            scale: self.scale,
        }
    }

    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        Some(Decimal {
            mantissa: self.mantissa.checked_mul(other.mantissa)?,
            scale: self.scale.checked_add(other.scale)?,
        })
    }

    /// `self / other` as MySQL's decimal division computes it (strings/decimal.c,
    /// do_div_mod): to a scale in whole 9-digit words, enough for both operands' words and
    /// div_precision_increment (4) more digits, truncated. Shown values are rounded to the
    /// column's decimals only at the end. `None` for a zero divisor or past 38 digits.
    pub fn mysql_divide(self, other: Decimal) -> Option<Decimal> {
        if other.mantissa == 0 {
            return None;
        }
        let words = |digits: u32| digits.div_ceil(9) * 9;
        let (f1, f2) = (words(self.scale), words(other.scale));
        let increment = 4u32.saturating_sub((f1 - self.scale) + (f2 - other.scale));
        let scale = words(f1 + f2 + increment);
        // self/other = (m1 / m2) * 10^(s2 - s1), at `scale` digits.
        let shift = i64::from(scale) + i64::from(other.scale) - i64::from(self.scale);
        let numerator = if shift >= 0 {
            self.mantissa
                .checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?
        } else {
            self.mantissa / 10i128.checked_pow(u32::try_from(-shift).ok()?)?
        };
        Some(Decimal {
            mantissa: numerator / other.mantissa,
            scale,
        })
    }

    /// Rounded (half away from zero) or truncated to `digits` fraction digits; negative
    /// digits round to tens, hundreds, ... as MySQL's ROUND(x, -1) does.
    pub fn round_to(self, digits: i128, round: bool) -> Option<Decimal> {
        let keep = digits.clamp(-38, 38);
        if keep >= i128::from(self.scale) {
            return Some(self);
        }
        let drop = u32::try_from(i128::from(self.scale) - keep).ok()?;
        if drop > 38 {
            return Some(Decimal::zero());
        }
        let unit = 10i128.checked_pow(drop)?;
        let mut q = self.mantissa / unit;
        let rest = self.mantissa % unit;
        if round && rest.unsigned_abs() * 2 >= unit.unsigned_abs() {
            q += self.mantissa.signum();
        }
        if keep >= 0 {
            Some(Decimal {
                mantissa: q,
                scale: u32::try_from(keep).ok()?,
            })
        } else {
            let back = 10i128.checked_pow(u32::try_from(-keep).ok()?)?;
            Some(Decimal {
                mantissa: q.checked_mul(back)?,
                scale: 0,
            })
        }
    }

    /// The same value with `scale` fraction digits; `None` when that would lose digits.
    pub fn with_scale(self, scale: u32) -> Option<Decimal> {
        Some(Decimal {
            mantissa: self.rescale(scale)?,
            scale,
        })
    }

    pub fn to_text(self) -> String {
        let negative = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let text = if scale == 0 {
            digits
        } else {
            let padded = format!("{digits:0>width$}", width = scale + 1);
            let (whole, frac) = padded.split_at(padded.len() - scale);
            format!("{whole}.{frac}")
        };
        if negative {
            format!("-{text}")
        } else {
            text
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let scale = self.scale.max(other.scale);
        match (self.rescale(scale), other.rescale(scale)) {
            (Some(a), Some(b)) => a.cmp(&b),
            // Too large to rescale exactly: fall back to floating point.
            _ => (self.mantissa as f64 / 10f64.powi(self.scale as i32))
                .total_cmp(&(other.mantissa as f64 / 10f64.powi(other.scale as i32))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_add_exactly() {
        let a = Decimal::parse(b"10.50").unwrap();
        let b = Decimal::parse(b"-0.125").unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_text(), "10.375");
        assert_eq!(Decimal::parse(b"0.05").unwrap().to_text(), "0.05");
        assert_eq!(Decimal::parse(b"-7").unwrap().to_text(), "-7");
        assert!(Decimal::parse(b"1e5").is_none());
    }

    #[test]
    fn decimals_divide_with_rounding() {
        let sum = Decimal::parse(b"10.00").unwrap();
        assert_eq!(sum.divide(3, 6).unwrap().to_text(), "3.333333");
        assert_eq!(
            Decimal::parse(b"2")
                .unwrap()
                .divide(3, 4)
                .unwrap()
                .to_text(),
            "0.6667"
        );
        assert_eq!(
            Decimal::parse(b"-2")
                .unwrap()
                .divide(3, 4)
                .unwrap()
                .to_text(),
            "-0.6667"
        );
        assert_eq!(
            Decimal::parse(b"1.50").unwrap().normalized().to_text(),
            "1.5"
        );
    }

    #[test]
    fn comparisons_follow_type_and_collation() {
        assert_eq!(compare(b"9", b"10", ColumnKind::Numeric), Ordering::Less);
        assert_eq!(
            compare(b"-1.5", b"-1.25", ColumnKind::Numeric),
            Ordering::Less
        );
        assert_eq!(compare(b"abc", b"ABC", ColumnKind::TextCi), Ordering::Equal);
        assert_eq!(compare(b"a ", b"a", ColumnKind::TextCi), Ordering::Equal);
        assert_eq!(
            compare("é".as_bytes(), b"E", ColumnKind::TextCi),
            Ordering::Equal
        );
        assert_eq!(compare(b"B", b"a", ColumnKind::Bytes), Ordering::Less);
        assert_eq!(
            compare(
                b"2026-01-02 00:00:00",
                b"2026-01-10 00:00:00",
                ColumnKind::Temporal
            ),
            Ordering::Less
        );
        // TIME: signed, past 99 hours, either spelling.
        let time = |a: &str, b: &str| compare(a.as_bytes(), b.as_bytes(), ColumnKind::Time);
        assert_eq!(time("-838:59:59.000", "00:00:00.5"), Ordering::Less);
        assert_eq!(time("100:00:00", "99:59:59"), Ordering::Greater);
        assert_eq!(
            time("-00034 22:59:59.000000", "-838:59:59"),
            Ordering::Equal
        );
        assert_eq!(
            time("+00034 22:59:59.999000", "838:59:59.999"),
            Ordering::Equal
        );
        assert_eq!(time("-00:00:01", "00:00:00"), Ordering::Less);
    }

    proptest::proptest! {
        /// The ASCII fast path folds and compares as the per-character fold does.
        #[test]
        fn ascii_folding_matches_the_character_fold(a in "[ -~]{0,6}", b in "[ -~é]{0,6}") {
            let slow = |t: &str| t.trim_end_matches(' ').chars().map(fold_char).collect::<String>().into_bytes();
            proptest::prop_assert_eq!(fold_text(a.as_bytes()), slow(&a));
            proptest::prop_assert_eq!(
                compare(a.as_bytes(), b.as_bytes(), ColumnKind::TextCi),
                slow(&a).cmp(&slow(&b))
            );
        }

        /// A k-way merge's parsed sort keys order exactly as the row comparison does.
        #[test]
        fn sort_values_order_as_compare(
            a in "-?[0-9]{1,4}(\\.[0-9]{1,3})?|[0-9]e[0-9]|[a-zA-Zé ]{0,4}",
            b in "-?[0-9]{1,4}(\\.[0-9]{1,3})?|[0-9]e[0-9]|[a-zA-Zé ]{0,4}",
        ) {
            for kind in [ColumnKind::Numeric, ColumnKind::TextCi, ColumnKind::Bytes] {
                let keys = SortValue::new(Some(a.as_bytes()), kind)
                    .cmp(&SortValue::new(Some(b.as_bytes()), kind));
                proptest::prop_assert_eq!(keys, compare(a.as_bytes(), b.as_bytes(), kind));
            }
            proptest::prop_assert_eq!(
                SortValue::Null.cmp(&SortValue::new(Some(a.as_bytes()), ColumnKind::Numeric)),
                Ordering::Less
            );
        }
    }
}
