//! Check: are source and target the same rows? Computed on the servers, chunk by chunk:
//! each physical table answers, in one query, the row count and an order-independent
//! checksum of every key bucket (`FLOOR(key / width)`), pt-table-checksum's shape
//! `BIT_XOR(CRC32(CONCAT_WS('#', cols..., null bitmap)))`, which tells NULL from ''. Buckets
//! that differ are computed again after a short delay (writes in flight settle), then those
//! still different are compared row by row and reported by key: missing from the target,
//! extra on it, or different.
//!
//! Repair copies the named keys again from the source: the source wins.

use std::collections::BTreeMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use serde::Serialize;
use shardgate_config::{ShardKey, TableKind};

use crate::backfill::pools;
use crate::mirror::RowWriter;
use crate::plan::{MigrationPlan, Side};
use crate::MigrateError;

#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Rows a bucket should hold, on average.
    pub rows_per_chunk: u64,
    /// How long to wait before computing a differing bucket again.
    pub recheck_delay: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            rows_per_chunk: 1000,
            recheck_delay: Duration::from_millis(500),
        }
    }
}

/// What check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub chunks: u64,
    pub source_rows: u64,
    pub target_rows: u64,
    /// Keys in the source and not in the target.
    pub missing: Vec<i64>,
    /// Keys in the target and not in the source.
    pub extra: Vec<i64>,
    /// Keys in both, with different values.
    pub different: Vec<i64>,
    /// Keys in more than one target table.
    pub duplicated: Vec<i64>,
    /// Keys in a target table their key does not route to.
    pub misplaced: Vec<i64>,
}

impl CheckReport {
    pub fn clean(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.different.is_empty()
            && self.duplicated.is_empty()
            && self.misplaced.is_empty()
    }

    /// Every key repair must copy again.
    pub fn keys(&self) -> Vec<i64> {
        let mut keys: Vec<i64> = self
            .missing
            .iter()
            .chain(&self.extra)
            .chain(&self.different)
            .chain(&self.duplicated)
            .chain(&self.misplaced)
            .copied()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// Per bucket: rows and the XOR of their checksums.
pub(crate) type Buckets = BTreeMap<i64, (u64, u64)>;

/// `CRC32(CONCAT_WS('#', c1, c2, ..., CONCAT(ISNULL(c1), ISNULL(c2), ...)))`.
pub(crate) fn row_checksum(columns: &[String]) -> String {
    let quoted: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
    let nulls: Vec<String> = quoted.iter().map(|c| format!("ISNULL({c})")).collect();
    format!(
        "CRC32(CONCAT_WS('#', {}, CONCAT({})))",
        quoted.join(", "),
        nulls.join(", ")
    )
}

/// Runs `sql` on every physical table of `side` (`{table}` stands for its name) and folds
/// the rows with `fold`. The tables of one server are read [`TABLES_PER_QUERY`] at a time,
/// one statement (`(...) UNION ALL (...)`) for them all: a side of 1024 small tables is
/// mostly round trips, and a locked recheck holds its locks for as long as they take.
pub(crate) async fn each_table(
    side: &Side,
    pools: &[mysql_async::Pool],
    sql: &str,
    mut fold: impl FnMut(Row) -> Result<(), MigrateError>,
) -> Result<(), MigrateError> {
    let mut running = tokio::task::JoinSet::new();
    let mut fold_done = |result: Option<Result<Result<Vec<Row>, MigrateError>, _>>| match result {
        Some(Ok(Ok(rows))) => rows.into_iter().try_for_each(&mut fold),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(e)) => Err(MigrateError::backend("check", e)),
        None => Ok(()),
    };
    for (backend, pool) in pools.iter().enumerate() {
        let tables: Vec<String> = side
            .physical
            .iter()
            .filter(|t| t.backend == backend)
            .map(|t| format!("({})", sql.replace("{table}", &t.qualified())))
            .collect();
        for batch in tables.chunks(TABLES_PER_QUERY) {
            if running.len() >= QUERIES_AT_ONCE {
                fold_done(running.join_next().await)?;
            }
            let name = side.topology.backends[backend].name.clone();
            let pool = pool.clone();
            let statement = batch.join(" UNION ALL ");
            running.spawn(async move {
                let mut conn = pool
                    .get_conn()
                    .await
                    .map_err(|e| MigrateError::backend(&name, e))?;
                conn.query::<Row, _>(statement)
                    .await
                    .map_err(|e| MigrateError::backend(&name, e))
            });
        }
    }
    while !running.is_empty() {
        fold_done(running.join_next().await)?;
    }
    Ok(())
}

/// Physical tables of one server read by one statement.
const TABLES_PER_QUERY: usize = 64;

/// Checksum queries in flight at once on one side.
const QUERIES_AT_ONCE: usize = 8;

pub(crate) fn int(row: &Row, at: usize) -> Option<i64> {
    match row.as_ref(at)? {
        Value::Int(v) => Some(*v),
        Value::UInt(v) => i64::try_from(*v).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

pub(crate) fn unsigned(row: &Row, at: usize) -> u64 {
    match row.as_ref(at) {
        Some(Value::UInt(v)) => *v,
        Some(Value::Int(v)) => *v as u64,
        Some(Value::Bytes(b)) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

pub(crate) async fn buckets(
    side: &Side,
    pools: &[mysql_async::Pool],
    key: &str,
    checksum: &str,
    width: i64,
    ranges: Option<&[(i64, i64)]>,
) -> Result<Buckets, MigrateError> {
    let filter = ranges
        .map(|r| format!(" WHERE {}", in_ranges(key, r)))
        .unwrap_or_default();
    let sql = format!(
        "SELECT CAST(FLOOR(`{key}` / {width}) AS SIGNED), COUNT(*), BIT_XOR({checksum}) \
         FROM {{table}}{filter} GROUP BY 1"
    );
    let mut out = Buckets::new();
    each_table(side, pools, &sql, |row| {
        let bucket =
            int(&row, 0).ok_or_else(|| MigrateError::Plan(format!("`{key}` is not an integer")))?;
        let entry = out.entry(bucket).or_insert((0, 0));
        entry.0 += unsigned(&row, 1);
        entry.1 ^= unsigned(&row, 2);
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Rows the row-by-row recheck locks at once in each source table. A differing range of
/// 300,000 rows locked whole stalled every writer for seconds; a lock is held while the
/// target's rows are read (one query per target table), which costs about the same for
/// few rows as for some thousands.
pub(crate) const LOCKED_ROWS: usize = 5000;

/// `ranges` cut, in key order, into pieces that hold at most [`LOCKED_ROWS`] rows in each
/// table of `side`: the smallest of the tables' `LOCKED_ROWS`-th keys from a piece's start
/// ends it.
pub(crate) async fn bounded_ranges(
    side: &Side,
    pools: &[mysql_async::Pool],
    key: &str,
    ranges: &[(i64, i64)],
) -> Result<Vec<(i64, i64)>, MigrateError> {
    let mut pieces = Vec::new();
    for &(lo, hi) in ranges {
        let mut from = lo;
        loop {
            let sql = format!(
                "SELECT `{key}` FROM {{table}} WHERE `{key}` BETWEEN {from} AND {hi} ORDER BY `{key}` LIMIT 1 OFFSET {}",
                LOCKED_ROWS - 1
            );
            let mut bound: Option<i64> = None;
            each_table(side, pools, &sql, |row| {
                if let Some(k) = int(&row, 0) {
                    bound = Some(bound.map_or(k, |b| b.min(k)));
                }
                Ok(())
            })
            .await?;
            match bound {
                Some(b) if b < hi => {
                    pieces.push((from, b));
                    from = b + 1;
                }
                _ => {
                    pieces.push((from, hi));
                    break;
                }
            }
        }
    }
    Ok(pieces)
}

/// [`bounded_ranges`] on its own connections: how check would cut `ranges` of `side` for
/// its locked recheck.
pub async fn locked_pieces(
    side: &Side,
    key: &str,
    ranges: &[(i64, i64)],
) -> Result<Vec<(i64, i64)>, MigrateError> {
    let pools = pools(&side.topology.backends);
    let pieces = bounded_ranges(side, &pools, key, ranges).await;
    for pool in pools {
        let _ = pool.disconnect().await;
    }
    pieces
}

/// Buckets compared again in one query per physical table.
pub(crate) const BUCKETS_PER_QUERY: usize = 100;

/// `(key BETWEEN a AND b OR ...)`.
fn in_ranges(key: &str, ranges: &[(i64, i64)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|(lo, hi)| format!("`{key}` BETWEEN {lo} AND {hi}"))
        .collect();
    format!("({})", parts.join(" OR "))
}

/// Key -> row checksum, for the keys in `ranges`.
async fn row_sums(
    side: &Side,
    pools: &[mysql_async::Pool],
    key: &str,
    checksum: &str,
    ranges: &[(i64, i64)],
) -> Result<BTreeMap<i64, u64>, MigrateError> {
    let sql = format!(
        "SELECT `{key}`, {checksum} FROM {{table}} WHERE {}",
        in_ranges(key, ranges)
    );
    let mut out = BTreeMap::new();
    each_table(side, pools, &sql, |row| {
        if let Some(k) = int(&row, 0) {
            if out.insert(k, unsigned(&row, 1)).is_some() {
                // The same key in two tables of the side.
                out.insert(k, DUPLICATED);
            }
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// A row checksum that stands for "this key is in more than one table" (real ones are
/// CRC32 values, below 2^32).
pub(crate) const DUPLICATED: u64 = u64::MAX;

/// Key -> row checksum on both sides for the keys in `lo..=hi`, read while the source's
/// rows in that range are share-locked. Dual-write copies a row to the target while it holds
/// the row's lock on the source, so under these locks no copy is half done, and none can
/// start: the two sides are compared at one moment even while clients write.
pub(crate) async fn locked_row_sums(
    r: &Reading<'_>,
    ranges: &[(i64, i64)],
) -> Result<(BTreeMap<i64, u64>, BTreeMap<i64, u64>), MigrateError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_locked_row_sums(r, ranges).await {
            // A deadlock with a client's transaction: InnoDB chose the check; go again.
            Err(MigrateError::Backend { message, .. })
                if attempt < 5 && (message.contains("1213") || message.contains("Deadlock")) =>
            {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// What a row-by-row comparison reads with.
pub(crate) struct Reading<'a> {
    pub(crate) plan: &'a MigrationPlan,
    pub(crate) sources: &'a [mysql_async::Pool],
    pub(crate) targets: &'a [mysql_async::Pool],
    pub(crate) key: &'a str,
    pub(crate) checksum: &'a str,
}

async fn try_locked_row_sums(
    r: &Reading<'_>,
    ranges: &[(i64, i64)],
) -> Result<(BTreeMap<i64, u64>, BTreeMap<i64, u64>), MigrateError> {
    let Reading {
        plan,
        sources,
        targets,
        key,
        checksum,
    } = *r;
    let side = &plan.source;
    let mut locked = Vec::new();
    let mut source = BTreeMap::new();
    for t in &side.physical {
        let name = &side.topology.backends[t.backend].name;
        let mut conn = sources[t.backend]
            .get_conn()
            .await
            .map_err(|e| MigrateError::backend(name, e))?;
        conn.query_drop("START TRANSACTION")
            .await
            .map_err(|e| MigrateError::backend(name, e))?;
        let rows: Vec<Row> = conn
            .query(format!(
                "SELECT `{key}`, {checksum} FROM {} WHERE {} LOCK IN SHARE MODE",
                t.qualified(),
                in_ranges(key, ranges)
            ))
            .await
            .map_err(|e| MigrateError::backend(name, e))?;
        for row in rows {
            if let Some(k) = int(&row, 0) {
                source.insert(k, unsigned(&row, 1));
            }
        }
        locked.push(conn);
    }
    let target = row_sums(&plan.target, targets, key, checksum, ranges).await;
    for mut conn in locked {
        let _ = conn.query_drop("COMMIT").await;
    }
    Ok((source, target?))
}

/// The index into `side.physical` of key `k`'s table.
pub(crate) fn table_of(side: &Side, k: i64) -> Result<usize, MigrateError> {
    match &side.topology.tables[side.table].kind {
        TableKind::Sharded(layout) => {
            let key = ShardKey::Int(i128::from(k));
            match (
                layout.database_algorithm.shard_of(key),
                layout.table_algorithm.shard_of(key),
            ) {
                (Some(d), Some(t)) => Ok(d * layout.tables.len() + t),
                _ => Err(MigrateError::Plan(format!("key {k} routes to no table"))),
            }
        }
        _ => Ok(0),
    }
}

/// Copies `keys` again from the source to the target: a row the source has is written to
/// the target as it is (inserted, or updated in place); a row it lacks is deleted from the
/// target. Returns how many keys were written or deleted.
pub async fn repair(plan: &MigrationPlan, keys: &[i64]) -> Result<u64, MigrateError> {
    let sources = pools(&plan.source.topology.backends);
    let columns = crate::mirror::table_columns(&plan.source).await?;
    let writer = RowWriter::new(plan.target.clone(), &plan.key, columns);
    let result = async {
        let key = &plan.key;
        let list = writer
            .columns()
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut repaired = 0;
        for chunk in keys.chunks(500) {
            let mut rows = Vec::with_capacity(chunk.len());
            for &k in chunk {
                let s = &plan.source.physical[table_of(&plan.source, k)?];
                let sname = &plan.source.topology.backends[s.backend].name;
                let mut conn = sources[s.backend]
                    .get_conn()
                    .await
                    .map_err(|e| MigrateError::backend(sname, e))?;
                let row: Option<Row> = conn
                    .exec_first(
                        format!("SELECT {list} FROM {} WHERE `{key}` = ?", s.qualified()),
                        (k,),
                    )
                    .await
                    .map_err(|e| MigrateError::backend(sname, e))?;
                rows.push((k, row.map(Row::unwrap)));
            }
            writer.apply(&rows).await?;
            repaired += rows.len() as u64;
        }
        Ok(repaired)
    }
    .await;
    writer.close().await;
    for pool in sources {
        let _ = pool.disconnect().await;
    }
    result
}
