//! A join of two tables that do not live together (`Step::CrossJoin`): the left table's
//! rows first, then the right table's rows whose join column holds one of their values, in
//! batches of `IN (...)` lookups (each planned like any SELECT, so it prunes by key when the
//! right table is sharded on its join column). The proxy pairs the rows on equal join
//! values (LEFT JOIN keeps left rows without a match, the right columns NULL), and the
//! joined rows are sorted and limited as the statement says. Every row is kept under the
//! query's memory budget; past it the statement is refused. Both sides run as text; a
//! prepared statement's client gets the rows in the binary protocol.

use std::collections::{HashMap, HashSet};

use shardgate_router::CrossJoin;
use tokio::io::{AsyncRead, AsyncWrite};

use super::kept_rows::{charged_values, Kept};
use super::subquery::is_number;
use super::{Session, SessionError};
use crate::engine::merge::stream::{Budget, ShardHeader, ShardRow};
use crate::engine::merge::value::Decimal;
use crate::engine::merge::ColumnKind;
use crate::protocol::codes;
use crate::protocol::wire::Reader;

/// NOT_NULL_FLAG of a column definition.
const NOT_NULL: u16 = 0x01;

/// Why a join value cannot be matched exactly.
fn unmatchable(kind: ColumnKind) -> String {
    match kind {
        ColumnKind::TextCi => "a join across shards on a text column compared by a case-insensitive collation (the proxy would have to compare as the collation does)".into(),
        _ => "a join across shards on columns whose values compare differently".into(),
    }
}

/// How two join columns' values are compared: they must be of one kind the proxy
/// compares exactly (numbers by value, dates and binary strings by their bytes).
fn comparable(outer: ColumnKind, inner: ColumnKind) -> Result<(), String> {
    match (outer, inner) {
        (ColumnKind::TextCi, _) | (_, ColumnKind::TextCi) => Err(unmatchable(ColumnKind::TextCi)),
        (a, b) if a == b => Ok(()),
        (a, _) => Err(unmatchable(a)),
    }
}

/// A join value as the proxy matches it: a number by its value (`1.50` is `1.5`).
fn match_key(value: &[u8], kind: ColumnKind) -> Result<Vec<u8>, String> {
    match kind {
        ColumnKind::Numeric => Decimal::parse(value)
            .map(|d| d.normalized().to_text().into_bytes())
            .ok_or_else(|| {
                "a join across shards on floating-point values (compare them exactly: CAST to DECIMAL)".to_string()
            }),
        ColumnKind::TextCi => Err(unmatchable(kind)),
        _ => Ok(value.to_vec()),
    }
}

/// A join value as an SQL literal for the right table's `IN (...)`.
fn literal(value: &[u8], kind: ColumnKind) -> Result<String, String> {
    let text = std::str::from_utf8(value).ok();
    match (kind, text) {
        (ColumnKind::Numeric, Some(t)) if is_number(t) => Ok(t.to_string()),
        (ColumnKind::Temporal | ColumnKind::Time, Some(t))
            if t.bytes()
                .all(|b| b.is_ascii_digit() || b" -:.".contains(&b)) =>
        {
            Ok(format!("'{t}'"))
        }
        (ColumnKind::Bytes, _) => {
            let hex: String = value.iter().map(|b| format!("{b:02X}")).collect();
            Ok(format!("X'{hex}'"))
        }
        (kind, _) => Err(unmatchable(kind)),
    }
}

/// A column definition with its NOT NULL flag cleared (a LEFT JOIN's right columns).
fn nullable(def: &[u8]) -> Vec<u8> {
    let mut def = def.to_vec();
    let mut r = Reader::new(&def);
    for _ in 0..6 {
        if r.lenenc_bytes().is_none() {
            return def;
        }
    }
    if r.lenenc_int().is_none() {
        return def;
    }
    // charset (2), length (4), type (1), then the flags.
    let at = def.len() - r.remaining().len() + 7;
    if def.len() >= at + 2 {
        let flags = u16::from_le_bytes([def[at], def[at + 1]]) & !NOT_NULL;
        def[at..at + 2].copy_from_slice(&flags.to_le_bytes());
    }
    def
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn cross_join(
        &mut self,
        join: CrossJoin,
        to_binary: bool,
    ) -> Result<(), SessionError> {
        let budget = Budget::new(self.rules.topology.proxy.merge_memory_limit);
        let Some(outer) = self.keep_select(&join.outer_sql, &budget).await? else {
            return Ok(());
        };
        let outer_at = join.outer_items;
        let outer_kind = outer
            .header
            .kinds
            .get(outer_at)
            .copied()
            .unwrap_or(ColumnKind::Bytes);
        // The distinct join values, in the left rows' order, as literals.
        let mut literals = Vec::new();
        let mut seen = HashSet::new();
        for row in &outer.rows {
            let Some(Some(value)) = row.values.get(outer_at) else {
                continue;
            };
            let key = match match_key(value, outer_kind) {
                Ok(key) => key,
                Err(why) => return self.refuse_join(&why).await,
            };
            if seen.insert(key) {
                match literal(value, outer_kind) {
                    Ok(l) => literals.push(l),
                    Err(why) => return self.refuse_join(&why).await,
                }
            }
        }
        drop(seen);
        // The right table's rows, by join value. Without a value to look up, one lookup of
        // none still describes its columns.
        let inner_at = join.inner_items;
        let mut matches: HashMap<Vec<u8>, Vec<ShardRow>> = HashMap::new();
        let mut inner_header: Option<ShardHeader> = None;
        let no_value = ["NULL".to_string()];
        let batches: Vec<&[String]> = if literals.is_empty() {
            vec![&no_value[..]]
        } else {
            literals.chunks(CrossJoin::BATCH).collect()
        };
        for batch in batches {
            let Some(kept) = self.keep_select(&join.inner_sql(batch), &budget).await? else {
                return Ok(());
            };
            let inner_kind = kept
                .header
                .kinds
                .get(inner_at)
                .copied()
                .unwrap_or(ColumnKind::Bytes);
            if let Err(why) = comparable(outer_kind, inner_kind) {
                return self.refuse_join(&why).await;
            }
            for row in kept.rows {
                let Some(Some(value)) = row.values.get(inner_at) else {
                    budget.release(row.cost);
                    continue;
                };
                match match_key(value, inner_kind) {
                    Ok(key) => matches.entry(key).or_default().push(row),
                    Err(why) => return self.refuse_join(&why).await,
                }
            }
            inner_header.get_or_insert(kept.header);
        }
        let Some(inner_header) = inner_header else {
            return Ok(());
        };
        let (columns, spec) = join.layout();
        let header = joined_header(&columns, &outer.header, &inner_header, join.left);
        // The joined rows, in the left rows' order.
        let mut rows = Vec::new();
        let no_inner: Vec<Option<Vec<u8>>> = vec![None; inner_header.columns.len()];
        let mut over_budget = false;
        for row in &outer.rows {
            let found = row
                .values
                .get(outer_at)
                .cloned()
                .flatten()
                .and_then(|v| match_key(&v, outer_kind).ok())
                .and_then(|key| matches.get(&key));
            let inner_rows: Vec<&[Option<Vec<u8>>]> = match found {
                Some(found) => found.iter().map(|r| r.values.as_slice()).collect(),
                None if join.left => vec![no_inner.as_slice()],
                None => Vec::new(),
            };
            for inner in inner_rows {
                let values: Vec<Option<Vec<u8>>> = columns
                    .iter()
                    .map(|&(from_inner, item)| {
                        let source = if from_inner { inner } else { &row.values[..] };
                        source.get(item).cloned().flatten()
                    })
                    .collect();
                match charged_values(values, &budget) {
                    Some(row) => rows.push(row),
                    None => {
                        over_budget = true;
                        break;
                    }
                }
            }
            if over_budget {
                break;
            }
        }
        // The sides' rows are done with.
        for row in outer.rows.iter().chain(matches.values().flatten()) {
            budget.release(row.cost);
        }
        drop(matches);
        if over_budget {
            for row in &rows {
                budget.release(row.cost);
            }
            return self.refuse_over_budget(&budget).await;
        }
        let kept = Kept { header, rows };
        self.answer_kept(kept, &spec, &budget, to_binary).await
    }

    async fn refuse_join(&mut self, why: &str) -> Result<(), SessionError> {
        let message = format!("shardgate does not support {why} yet");
        self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await
    }
}

/// The joined row's column definitions, from each side's.
fn joined_header(
    columns: &[(bool, usize)],
    outer: &ShardHeader,
    inner: &ShardHeader,
    left: bool,
) -> ShardHeader {
    let mut header = ShardHeader::default();
    for &(from_inner, item) in columns {
        let side = if from_inner { inner } else { outer };
        let def = side.columns.get(item).cloned().unwrap_or_default();
        header.columns.push(if from_inner && left {
            nullable(&def)
        } else {
            def
        });
        header
            .kinds
            .push(side.kinds.get(item).copied().unwrap_or(ColumnKind::Bytes));
        let (column_type, flags, decimals) = side.types.get(item).copied().unwrap_or((0xFD, 0, 0));
        let flags = if from_inner && left {
            flags & !NOT_NULL
        } else {
            flags
        };
        header.types.push((column_type, flags, decimals));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_by_value_and_text_needs_its_collation() {
        assert_eq!(
            match_key(b"1.50", ColumnKind::Numeric),
            match_key(b"1.5", ColumnKind::Numeric)
        );
        assert!(match_key(b"1e3", ColumnKind::Numeric).is_err());
        assert!(match_key(b"abc", ColumnKind::TextCi).is_err());
        assert_eq!(literal(b"-42", ColumnKind::Numeric).as_deref(), Ok("-42"));
        assert_eq!(
            literal(b"a'b", ColumnKind::Bytes).as_deref(),
            Ok("X'612762'")
        );
        assert_eq!(
            literal(b"2026-01-02 03:04:05", ColumnKind::Temporal).as_deref(),
            Ok("'2026-01-02 03:04:05'")
        );
        assert!(literal(b"x'; DROP", ColumnKind::Temporal).is_err());
        assert!(comparable(ColumnKind::Numeric, ColumnKind::Numeric).is_ok());
        assert!(comparable(ColumnKind::Numeric, ColumnKind::Bytes).is_err());
        assert!(comparable(ColumnKind::Bytes, ColumnKind::TextCi).is_err());
    }
}
