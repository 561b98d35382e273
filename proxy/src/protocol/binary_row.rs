//! The binary value codec and column definitions: binary-protocol rows decoded
//! into the text protocol's spelling (so one comparison serves both), folded values encoded
//! back, and a column definition's type, flags and collation.

use super::wire::{self, Reader};

/// Encodes a row of text values (as [`decode_binary_row`] spells them) as a binary-protocol
/// row of the given column types: how folded aggregates go back to a prepared statement.
pub fn encode_binary_row(values: &[Option<Vec<u8>>], types: &[(u8, u16, u8)]) -> Vec<u8> {
    let mut out = vec![0x00];
    let bitmap_at = out.len();
    out.resize(bitmap_at + (types.len() + 7 + 2) / 8, 0);
    for (i, (&(column_type, _, _), value)) in types.iter().zip(values).enumerate() {
        let Some(value) = value else {
            let bit = i + 2;
            out[bitmap_at + bit / 8] |= 1 << (bit % 8);
            continue;
        };
        let text = String::from_utf8_lossy(value);
        let int = || -> i128 { text.trim().parse::<i128>().unwrap_or(0) };
        match column_type {
            0x01 => out.push(int() as u8),
            0x02 | 0x0D => out.extend_from_slice(&(int() as u16).to_le_bytes()),
            0x03 | 0x09 => out.extend_from_slice(&(int() as u32).to_le_bytes()),
            0x08 => out.extend_from_slice(&(int() as u64).to_le_bytes()),
            0x04 => out.extend_from_slice(&text.trim().parse::<f32>().unwrap_or(0.0).to_le_bytes()),
            0x05 => out.extend_from_slice(&text.trim().parse::<f64>().unwrap_or(0.0).to_le_bytes()),
            0x0A | 0x07 | 0x0C => {
                // YYYY-MM-DD hh:mm:ss.ffffff, as short as MariaDB writes it: 0 bytes for
                // a zero value, 4 without a time, 7 without microseconds, else 11. A DATE
                // is never longer than 4.
                let n = |range: std::ops::Range<usize>| {
                    text.get(range)
                        .and_then(|s| s.parse::<u32>().ok())
                        .unwrap_or(0)
                };
                let (year, month, day) = (n(0..4), n(5..7), n(8..10));
                let (hour, minute, second) = (n(11..13), n(14..16), n(17..19));
                let micro = text
                    .get(19..)
                    .and_then(|f| f.strip_prefix('.'))
                    .map_or(0, fraction_micros);
                let date_only = column_type == 0x0A;
                let length: u8 = if micro != 0 && !date_only {
                    11
                } else if (hour | minute | second) != 0 && !date_only {
                    7
                } else if (year | month | day) != 0 {
                    4
                } else {
                    0
                };
                out.push(length);
                if length >= 4 {
                    out.extend_from_slice(&(year as u16).to_le_bytes());
                    out.extend_from_slice(&[month as u8, day as u8]);
                }
                if length >= 7 {
                    out.extend_from_slice(&[hour as u8, minute as u8, second as u8]);
                }
                if length == 11 {
                    out.extend_from_slice(&micro.to_le_bytes());
                }
            }
            0x0B => {
                // [-]hhh:mm:ss.ffffff (or +DDDDD hh:mm:ss.ffffff): 0 bytes for zero, 8
                // without microseconds, else 12.
                let (negative, body) = match text.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, text.strip_prefix('+').unwrap_or(&text)),
                };
                let (days_part, clock) = match body.split_once(' ') {
                    Some((d, c)) => (d.parse::<u32>().unwrap_or(0), c),
                    None => (0, body),
                };
                let (clock, fraction) = match clock.split_once('.') {
                    Some((c, f)) => (c, Some(f)),
                    None => (clock, None),
                };
                let mut parts = clock.split(':').map(|p| p.parse::<u32>().unwrap_or(0));
                let hours = parts.next().unwrap_or(0);
                let minutes = parts.next().unwrap_or(0);
                let seconds = parts.next().unwrap_or(0);
                let days = days_part + hours / 24;
                let hours = hours % 24;
                let micro = fraction.map_or(0, fraction_micros);
                let length: u8 = if micro != 0 {
                    12
                } else if (days | hours | minutes | seconds) != 0 {
                    8
                } else {
                    0
                };
                out.push(length);
                if length >= 8 {
                    out.push(u8::from(negative));
                    out.extend_from_slice(&days.to_le_bytes());
                    out.extend_from_slice(&[hours as u8, minutes as u8, seconds as u8]);
                }
                if length == 12 {
                    out.extend_from_slice(&micro.to_le_bytes());
                }
            }
            _ => wire::put_lenenc_bytes(&mut out, value),
        }
    }
    out
}

/// Decodes a text-protocol row of `columns` values; `None` for NULL. `None` overall for a
/// malformed row.
pub fn decode_text_row(packet: &[u8], columns: usize) -> Option<Vec<Option<Vec<u8>>>> {
    let mut r = Reader::new(packet);
    let mut values = Vec::with_capacity(columns);
    for _ in 0..columns {
        if r.remaining().first() == Some(&0xFB) {
            r.u8()?;
            values.push(None);
        } else {
            values.push(Some(r.lenenc_bytes()?.to_vec()));
        }
    }
    Some(values)
}

/// Encodes text values as a text-protocol row.
pub fn encode_text_row(values: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        match value {
            Some(v) => wire::put_lenenc_bytes(&mut out, v),
            None => out.push(0xFB),
        }
    }
    out
}

/// A temporal value's fraction as the text protocol spells it: as many digits as the
/// column's decimals (none for 0; all six when the definition does not fix them).
fn fraction(micros: u32, decimals: u8) -> String {
    let digits = match decimals {
        0..=6 => usize::from(decimals),
        _ if micros != 0 => 6,
        _ => 0,
    };
    if digits == 0 {
        return String::new();
    }
    let all = format!("{micros:06}");
    format!(".{}", &all[..digits])
}

/// Decodes a binary-protocol row into the text protocol's spelling of its values
/// (integers in decimal, `YYYY-MM-DD`, `YYYY-MM-DD hh:mm:ss[.f]` and `[-]hh:mm:ss[.f]` with
/// the column's decimals): what the merge compares, and what string functions over merged
/// values read. `types`: each column's (type, flags, decimals).
pub fn decode_binary_row(packet: &[u8], types: &[(u8, u16, u8)]) -> Option<Vec<Option<Vec<u8>>>> {
    let mut r = Reader::new(packet);
    (r.u8()? == 0x00).then_some(())?;
    let bitmap = r.take((types.len() + 7 + 2) / 8)?.to_vec();
    let mut row = Vec::with_capacity(types.len() + 1);
    for (i, &(column_type, flags, decimals)) in types.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            row.push(None);
            continue;
        }
        let unsigned = flags & 0x20 != 0;
        let text = match column_type {
            0x01 => {
                let v = r.u8()?;
                if unsigned {
                    v.to_string()
                } else {
                    (v as i8).to_string()
                }
            }
            0x02 | 0x0D => {
                let v = r.u16()?;
                if unsigned {
                    v.to_string()
                } else {
                    (v as i16).to_string()
                }
            }
            0x03 | 0x09 => {
                let v = r.u32()?;
                if unsigned {
                    v.to_string()
                } else {
                    (v as i32).to_string()
                }
            }
            0x08 => {
                let b = r.take(8)?;
                let v = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                if unsigned {
                    v.to_string()
                } else {
                    (v as i64).to_string()
                }
            }
            0x04 => {
                let b = r.take(4)?;
                f32::from_le_bytes([b[0], b[1], b[2], b[3]]).to_string()
            }
            0x05 => {
                let b = r.take(8)?;
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]).to_string()
            }
            0x07 | 0x0A | 0x0C => {
                let len = usize::from(r.u8()?);
                let d = r.take(len)?;
                let get = |i: usize| d.get(i).copied().unwrap_or(0);
                let year = u16::from_le_bytes([get(0), get(1)]);
                let date = format!("{year:04}-{:02}-{:02}", get(2), get(3));
                if column_type == 0x0A {
                    date
                } else {
                    let micros = u32::from_le_bytes([get(7), get(8), get(9), get(10)]);
                    format!(
                        "{date} {:02}:{:02}:{:02}{}",
                        get(4),
                        get(5),
                        get(6),
                        fraction(micros, decimals)
                    )
                }
            }
            0x0B => {
                let len = usize::from(r.u8()?);
                let d = r.take(len)?;
                let get = |i: usize| d.get(i).copied().unwrap_or(0);
                let days = u32::from_le_bytes([get(1), get(2), get(3), get(4)]);
                let micros = u32::from_le_bytes([get(8), get(9), get(10), get(11)]);
                let sign = if get(0) == 1 { "-" } else { "" };
                let hours = u64::from(days) * 24 + u64::from(get(5));
                format!(
                    "{sign}{hours:02}:{:02}:{:02}{}",
                    get(6),
                    get(7),
                    fraction(micros, decimals)
                )
            }
            _ => {
                row.push(Some(r.lenenc_bytes()?.to_vec()));
                continue;
            }
        };
        row.push(Some(text.into_bytes()));
    }
    Some(row)
}

/// What a column definition says of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnInfo {
    pub column_type: u8,
    pub flags: u16,
    pub decimals: u8,
    /// The collation id, or `None` when the definition marks the column as a binary
    /// (`_bin`) string: the collation id sent is then the result character set's.
    pub collation: Option<u16>,
}

/// Types whose BINARY_FLAG says nothing of a collation.
fn is_numeric_or_temporal(column_type: u8) -> bool {
    matches!(
        column_type,
        0x00..=0x05 | 0x07..=0x0E | 0xF6
    )
}

/// A column definition's type, flags, decimals and collation; an unreadable definition
/// reads as a binary VARCHAR.
pub fn column_info(def: &[u8]) -> ColumnInfo {
    let unreadable = ColumnInfo {
        column_type: 0xFD,
        flags: 0,
        decimals: 0,
        collation: None,
    };
    let mut r = Reader::new(def);
    for _ in 0..6 {
        if r.lenenc_bytes().is_none() {
            return unreadable;
        }
    }
    let _ = r.lenenc_int();
    match (r.u16(), r.u32(), r.u8(), r.u16(), r.u8()) {
        (Some(collation), Some(_), Some(column_type), flags, decimals) => {
            let flags = flags.unwrap_or(0);
            let binary = flags & 0x80 != 0 && !is_numeric_or_temporal(column_type);
            ColumnInfo {
                column_type,
                flags,
                decimals: decimals.unwrap_or(0),
                collation: (!binary).then_some(collation),
            }
        }
        _ => unreadable,
    }
}

/// Microseconds of a fraction's digits (`5` is 500000; more than six digits are cut).
pub fn fraction_micros(digits: &str) -> u32 {
    let digits: String = digits
        .chars()
        .take_while(char::is_ascii_digit)
        .chain(std::iter::repeat('0'))
        .take(6)
        .collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_rows_decode_what_they_encode() {
        let values = vec![
            Some(b"42".to_vec()),
            None,
            Some(Vec::new()),
            Some(vec![b'x'; 300]),
        ];
        let packet = super::encode_text_row(&values);
        assert_eq!(super::decode_text_row(&packet, 4), Some(values));
        assert_eq!(super::decode_text_row(&packet[..3], 4), None);
    }

    #[test]
    fn temporal_values_decode_as_the_text_protocol_spells_them() {
        // (type, decimals, text): each survives binary encoding and decoding unchanged.
        let cases: [(u8, u8, &str); 7] = [
            (0x0C, 0, "2026-01-02 03:04:05"),
            (0x0C, 3, "2026-01-02 03:04:05.120"),
            (0x07, 6, "2026-01-02 00:00:00.000001"),
            (0x0A, 0, "2026-01-02"),
            (0x0B, 0, "-838:59:59"),
            (0x0B, 1, "100:00:00.5"),
            (0x0C, 0, "0000-00-00 00:00:00"),
        ];
        for (column_type, decimals, text) in cases {
            let types = [(column_type, 0, decimals)];
            let packet = super::encode_binary_row(&[Some(text.as_bytes().to_vec())], &types);
            let decoded = super::decode_binary_row(&packet, &types);
            assert_eq!(
                decoded,
                Some(vec![Some(text.as_bytes().to_vec())]),
                "{text}"
            );
        }
    }
}
