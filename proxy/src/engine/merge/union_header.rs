//! The column definitions of a UNION's result, from its branches' results: MySQL names the
//! columns after the first branch and gives each the type that holds every branch's
//! values. The proxy takes the cases where that type spells every branch's values as the
//! branches spell them: the same type (its length the longest), or integers of different
//! widths (the widest; an integer's text is the same at any width, and in a DECIMAL
//! without decimals). Other mixes would need
//! the values converted (an INT beside a DECIMAL(12,2) shows as `5.00`), so they are
//! refused.

use super::stream::ShardHeader;
use crate::protocol::binary_row::column_info;
use crate::protocol::wire::Reader;

/// NOT_NULL_FLAG: the result column is NOT NULL only if every branch's is.
const NOT_NULL: u16 = 0x01;
/// MYSQL_TYPE_NULL: a column of NULLs only.
const NULL_TYPE: u8 = 0x06;
/// UNSIGNED_FLAG.
const UNSIGNED: u16 = 0x20;

/// How wide an integer type is; `None` for other types. A DECIMAL without decimals
/// (`SUM` of integers) spells integers as they are, and holds them all.
fn integer_rank(column_type: u8, decimals: u8) -> Option<u8> {
    match column_type {
        0x01 => Some(1),
        0x02 => Some(2),
        0x09 => Some(3),
        0x03 => Some(4),
        0x08 => Some(5),
        0xF6 if decimals == 0 => Some(6),
        _ => None,
    }
}

/// Types whose decimals show in their values (a string's say nothing).
fn spells_decimals(column_type: u8) -> bool {
    matches!(column_type, 0x00 | 0x04 | 0x05 | 0x07 | 0x0A..=0x0C | 0x0E | 0x11..=0x13 | 0xF6)
}

/// Where a definition's fixed fields start (after its six names and the fields' length).
fn fixed_at(def: &[u8]) -> Option<usize> {
    let mut r = Reader::new(def);
    for _ in 0..6 {
        r.lenenc_bytes()?;
    }
    r.lenenc_int()?;
    let at = def.len() - r.remaining().len();
    // charset (2), length (4), type (1), flags (2), decimals (1).
    (def.len() >= at + 10).then_some(at)
}

/// The union's header: the first branch's names, each column typed to hold every branch's
/// values; `Err` says which column cannot be.
pub fn union_header(headers: &[&ShardHeader]) -> Result<ShardHeader, String> {
    let Some(first) = headers.first() else {
        return Ok(ShardHeader::default());
    };
    let mut out = (*first).clone();
    let refuse = |column: usize, why: &str| {
        Err(format!(
            "shardgate: the UNION's branches answer column {} with {why}; refusing rather than converting their values (CAST them to one type)",
            column + 1
        ))
    };
    for other in &headers[1..] {
        if other.columns.len() != first.columns.len() {
            return Err(
                "The used SELECT statements have a different number of columns".to_string(),
            );
        }
    }
    for column in 0..first.columns.len() {
        let defs: Vec<&[u8]> = headers
            .iter()
            .map(|h| h.columns[column].as_slice())
            .collect();
        let infos: Vec<_> = defs.iter().map(|d| column_info(d)).collect();
        let Some(named_at) = fixed_at(defs[0]) else {
            return refuse(column, "a definition that does not read");
        };
        // The definition whose type the result takes.
        let mut chosen = 0;
        for (i, info) in infos.iter().enumerate().skip(1) {
            let base = &infos[chosen];
            // `SELECT NULL`: its values fit any type.
            if info.column_type == NULL_TYPE {
                continue;
            }
            if base.column_type == NULL_TYPE {
                chosen = i;
                continue;
            }
            if info.column_type == base.column_type {
                if info.collation != base.collation {
                    return refuse(column, "different collations");
                }
                if (info.flags ^ base.flags) & UNSIGNED != 0 {
                    return refuse(column, "signed and unsigned integers");
                }
                if info.decimals != base.decimals && spells_decimals(info.column_type) {
                    return refuse(column, "different numbers of decimals");
                }
                continue;
            }
            match (
                integer_rank(info.column_type, info.decimals),
                integer_rank(base.column_type, base.decimals),
            ) {
                (Some(rank), Some(base_rank)) => {
                    if (info.flags ^ base.flags) & UNSIGNED != 0 {
                        return refuse(column, "signed and unsigned integers");
                    }
                    if rank > base_rank {
                        chosen = i;
                    }
                }
                _ => return refuse(column, "different types"),
            }
        }
        let Some(chosen_at) = fixed_at(defs[chosen]) else {
            return refuse(column, "a definition that does not read");
        };
        let mut def = defs[0][..named_at].to_vec();
        def.extend_from_slice(&defs[chosen][chosen_at..]);
        // The longest length, and NOT NULL only where every branch is.
        let length = defs
            .iter()
            .filter_map(|d| {
                let at = fixed_at(d)?;
                Some(u32::from_le_bytes([
                    d[at + 2],
                    d[at + 3],
                    d[at + 4],
                    d[at + 5],
                ]))
            })
            .max()
            .unwrap_or(0);
        def[named_at + 2..named_at + 6].copy_from_slice(&length.to_le_bytes());
        let nullable = infos.iter().any(|i| i.flags & NOT_NULL == 0);
        if nullable {
            let flags = u16::from_le_bytes([def[named_at + 7], def[named_at + 8]]) & !NOT_NULL;
            def[named_at + 7..named_at + 9].copy_from_slice(&flags.to_le_bytes());
        }
        out.columns[column] = def;
        out.kinds[column] = headers[chosen].kinds[column];
        out.types[column] = headers[chosen].types[column];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::merge::ColumnKind;

    fn def(name: &str, collation: u16, length: u32, column_type: u8, flags: u16) -> Vec<u8> {
        let mut d = Vec::new();
        for part in ["def", "shop", "t", "t", name, name] {
            d.push(part.len() as u8);
            d.extend_from_slice(part.as_bytes());
        }
        d.push(0x0C);
        d.extend_from_slice(&collation.to_le_bytes());
        d.extend_from_slice(&length.to_le_bytes());
        d.push(column_type);
        d.extend_from_slice(&flags.to_le_bytes());
        d.extend_from_slice(&[0, 0, 0]);
        d
    }

    fn header(defs: Vec<Vec<u8>>) -> ShardHeader {
        let infos: Vec<_> = defs.iter().map(|d| column_info(d)).collect();
        ShardHeader {
            kinds: infos.iter().map(ColumnKind::of).collect(),
            types: infos
                .iter()
                .map(|i| (i.column_type, i.flags, i.decimals))
                .collect(),
            columns: defs,
            binary: false,
        }
    }

    #[test]
    fn integers_widen_and_names_stay_the_first_branchs() {
        let a = header(vec![def("user_id", 63, 11, 0x03, NOT_NULL)]);
        let b = header(vec![def("other", 63, 20, 0x08, 0)]);
        let u = union_header(&[&a, &b]).expect("integers unify");
        let info = column_info(&u.columns[0]);
        assert_eq!(info.column_type, 0x08);
        assert_eq!(info.flags & NOT_NULL, 0, "one branch is nullable");
        assert_eq!(u.types[0].0, 0x08);
        let mut r = Reader::new(&u.columns[0]);
        for _ in 0..4 {
            r.lenenc_bytes();
        }
        assert_eq!(r.lenenc_bytes(), Some(&b"user_id"[..]));
    }

    #[test]
    fn strings_take_the_longest_length() {
        let a = header(vec![def("s", 45, 64, 0xFD, NOT_NULL)]);
        let b = header(vec![def("s", 45, 128, 0xFD, NOT_NULL)]);
        let u = union_header(&[&a, &b]).expect("same type");
        let at = fixed_at(&u.columns[0]).expect("readable");
        assert_eq!(u.columns[0][at + 2], 128);
        assert_eq!(column_info(&u.columns[0]).flags & NOT_NULL, NOT_NULL);
    }

    #[test]
    fn mixes_that_would_change_values_are_refused() {
        let int = header(vec![def("a", 63, 11, 0x03, 0)]);
        let decimal = header(vec![{
            // DECIMAL(12,2): an integer would show as `5.00`.
            let mut d = def("a", 63, 14, 0xF6, 0);
            let at = d.len() - 3;
            d[at] = 2;
            d
        }]);
        let text = header(vec![def("a", 45, 64, 0xFD, 0)]);
        let text_bin = header(vec![def("a", 46, 64, 0xFD, 0)]);
        let unsigned = header(vec![def("a", 63, 20, 0x08, UNSIGNED)]);
        assert!(union_header(&[&int, &decimal]).is_err());
        let sum = header(vec![def("a", 63, 33, 0xF6, 0)]);
        let widened = union_header(&[&int, &sum]).expect("DECIMAL(n,0) holds integers");
        assert_eq!(widened.types[0].0, 0xF6);
        let null = header(vec![def("NULL", 63, 0, NULL_TYPE, 0)]);
        let typed = union_header(&[&null, &text]).expect("NULL fits any type");
        assert_eq!(typed.types[0].0, 0xFD);
        assert!(union_header(&[&int, &text]).is_err());
        assert!(union_header(&[&text, &text_bin]).is_err());
        assert!(union_header(&[&int, &unsigned]).is_err());
        let two = header(vec![def("a", 63, 11, 0x03, 0), def("b", 63, 11, 0x03, 0)]);
        assert!(union_header(&[&int, &two]).is_err());
    }
}
