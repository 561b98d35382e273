//! Result rows and column definitions as the merge needs them: binary-protocol rows decoded
//! into the text protocol's spelling (so one comparison serves both), folded values encoded
//! back, and a column definition's type, flags and collation.

use crate::engine::merge::value::fraction_micros;
use crate::engine::merge::ColumnKind;
use crate::protocol::wire::{self, Reader};

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

/// Decodes a binary-protocol row into comparable text values (the text protocol's
/// spelling: integers in decimal, dates as `YYYY-MM-DD hh:mm:ss.ffffff`).
pub fn decode_binary_row(packet: &[u8], types: &[(u8, u16)]) -> Option<Vec<Option<Vec<u8>>>> {
    let mut r = Reader::new(packet);
    (r.u8()? == 0x00).then_some(())?;
    let bitmap = r.take((types.len() + 7 + 2) / 8)?.to_vec();
    let mut row = Vec::with_capacity(types.len() + 1);
    for (i, &(column_type, flags)) in types.iter().enumerate() {
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
                let micros = u32::from_le_bytes([get(7), get(8), get(9), get(10)]);
                format!(
                    "{year:04}-{:02}-{:02} {:02}:{:02}:{:02}.{micros:06}",
                    get(2),
                    get(3),
                    get(4),
                    get(5),
                    get(6)
                )
            }
            0x0B => {
                let len = usize::from(r.u8()?);
                let d = r.take(len)?;
                let get = |i: usize| d.get(i).copied().unwrap_or(0);
                let days = u32::from_le_bytes([get(1), get(2), get(3), get(4)]);
                let micros = u32::from_le_bytes([get(8), get(9), get(10), get(11)]);
                let sign = if get(0) == 1 { "-" } else { "+" };
                format!(
                    "{sign}{days:05} {:02}:{:02}:{:02}.{micros:06}",
                    get(5),
                    get(6),
                    get(7)
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

fn is_numeric_or_temporal(column_type: u8) -> bool {
    matches!(
        ColumnKind::from_definition(column_type, 45),
        ColumnKind::Numeric | ColumnKind::Temporal | ColumnKind::Time
    )
}

/// A column definition's comparison kind, type, flags and decimals.
pub fn column_info(def: &[u8]) -> (ColumnKind, u8, u16, u8) {
    let mut r = Reader::new(def);
    for _ in 0..6 {
        if r.lenenc_bytes().is_none() {
            return (ColumnKind::Bytes, 0xFD, 0, 0);
        }
    }
    let _ = r.lenenc_int();
    match (r.u16(), r.u32(), r.u8(), r.u16(), r.u8()) {
        // A column with a binary (`_bin`) collation carries BINARY_FLAG; the collation id
        // sent is the result character set's.
        (Some(_), Some(_), Some(column_type), Some(flags), decimals)
            if flags & 0x80 != 0 && !is_numeric_or_temporal(column_type) =>
        {
            (ColumnKind::Bytes, column_type, flags, decimals.unwrap_or(0))
        }
        (Some(collation), Some(_), Some(column_type), flags, decimals) => (
            ColumnKind::from_definition(column_type, collation),
            column_type,
            flags.unwrap_or(0),
            decimals.unwrap_or(0),
        ),
        _ => (ColumnKind::Bytes, 0xFD, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::encode_binary_row;

    #[test]
    fn a_date_is_four_bytes_and_a_datetime_eleven() {
        let date = encode_binary_row(
            &[Some(b"2024-02-29 00:00:00.000000".to_vec())],
            &[(0x0A, 0, 0)],
        );
        assert_eq!(date, [0x00, 0x00, 4, 0xE8, 0x07, 2, 29]);
        let plain = encode_binary_row(&[Some(b"2024-02-29".to_vec())], &[(0x0A, 0, 0)]);
        assert_eq!(plain, date);
        let datetime = encode_binary_row(
            &[Some(b"2024-02-29 13:14:15.000016".to_vec())],
            &[(0x0C, 0, 0)],
        );
        assert_eq!(
            datetime,
            [0x00, 0x00, 11, 0xE8, 0x07, 2, 29, 13, 14, 15, 16, 0, 0, 0]
        );
        // As short as MariaDB writes them.
        let one = |text: &str, column_type: u8| {
            encode_binary_row(&[Some(text.as_bytes().to_vec())], &[(column_type, 0, 0)])[2..]
                .to_vec()
        };
        assert_eq!(
            one("2024-02-29 13:14:15.000000", 0x0C),
            [7, 0xE8, 0x07, 2, 29, 13, 14, 15]
        );
        assert_eq!(one("2024-02-29 00:00:00", 0x07), [4, 0xE8, 0x07, 2, 29]);
        assert_eq!(one("0000-00-00 00:00:00", 0x0C), [0]);
        assert_eq!(one("-838:59:59.000", 0x0B), [8, 1, 34, 0, 0, 0, 22, 59, 59]);
        assert_eq!(
            one("+00034 22:59:59.000000", 0x0B),
            [8, 0, 34, 0, 0, 0, 22, 59, 59]
        );
        assert_eq!(
            one("00:00:00.5", 0x0B),
            [12, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0xA1, 0x07, 0]
        );
        assert_eq!(one("00:00:00", 0x0B), [0]);
    }
}
