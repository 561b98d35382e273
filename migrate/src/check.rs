//! Check: are source and target the same rows? Computed on the servers, chunk by chunk:
//! each physical table answers, in one query, the row count and an order-independent
//! checksum of every key bucket (`FLOOR(key / width)`), pt-table-checksum's shape
//! `BIT_XOR(CRC32(CONCAT_WS('#', cols..., null bitmap)))`, which tells NULL from ''. Buckets
//! that differ are computed again after a short delay (writes in flight settle), then those
//! still different are compared row by row and reported by key: missing from the target,
//! extra on it, or different.
//!
//! Repair copies the named keys again from the source: the source wins.

use std::collections::{BTreeMap, BTreeSet};
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
}

impl CheckReport {
    pub fn clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.different.is_empty()
    }

    /// Every key repair must copy again.
    pub fn keys(&self) -> Vec<i64> {
        let mut keys: Vec<i64> = self
            .missing
            .iter()
            .chain(&self.extra)
            .chain(&self.different)
            .copied()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// Per bucket: rows and the XOR of their checksums.
type Buckets = BTreeMap<i64, (u64, u64)>;

/// `CRC32(CONCAT_WS('#', c1, c2, ..., CONCAT(ISNULL(c1), ISNULL(c2), ...)))`.
fn row_checksum(columns: &[String]) -> String {
    let quoted: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
    let nulls: Vec<String> = quoted.iter().map(|c| format!("ISNULL({c})")).collect();
    format!(
        "CRC32(CONCAT_WS('#', {}, CONCAT({})))",
        quoted.join(", "),
        nulls.join(", ")
    )
}

/// Runs `sql` on every physical table of `side` (`{table}` stands for its name) and folds
/// the rows with `fold`.
async fn each_table(
    side: &Side,
    pools: &[mysql_async::Pool],
    sql: &str,
    mut fold: impl FnMut(Row) -> Result<(), MigrateError>,
) -> Result<(), MigrateError> {
    // Several tables at once: a side of 1024 small tables is mostly round trips.
    let mut running = tokio::task::JoinSet::new();
    let mut fold_done = |result: Option<Result<Result<Vec<Row>, MigrateError>, _>>| match result {
        Some(Ok(Ok(rows))) => rows.into_iter().try_for_each(&mut fold),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(e)) => Err(MigrateError::backend("check", e)),
        None => Ok(()),
    };
    for t in &side.physical {
        if running.len() >= QUERIES_AT_ONCE {
            fold_done(running.join_next().await)?;
        }
        let name = side.topology.backends[t.backend].name.clone();
        let pool = pools[t.backend].clone();
        let sql = sql.replace("{table}", &t.qualified());
        running.spawn(async move {
            let mut conn = pool
                .get_conn()
                .await
                .map_err(|e| MigrateError::backend(&name, e))?;
            conn.query::<Row, _>(sql)
                .await
                .map_err(|e| MigrateError::backend(&name, e))
        });
    }
    while !running.is_empty() {
        fold_done(running.join_next().await)?;
    }
    Ok(())
}

/// Checksum queries in flight at once on one side.
const QUERIES_AT_ONCE: usize = 8;

fn int(row: &Row, at: usize) -> Option<i64> {
    match row.as_ref(at)? {
        Value::Int(v) => Some(*v),
        Value::UInt(v) => i64::try_from(*v).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn unsigned(row: &Row, at: usize) -> u64 {
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

async fn buckets(
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

/// Buckets compared again in one query per physical table.
const BUCKETS_PER_QUERY: usize = 100;

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
            out.insert(k, unsigned(&row, 1));
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Key -> row checksum on both sides for the keys in `lo..=hi`, read while the source's
/// rows in that range are share-locked. Dual-write copies a row to the target while it holds
/// the row's lock on the source, so under these locks no copy is half done, and none can
/// start: the two sides are compared at one moment even while clients write.
async fn locked_row_sums(
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
struct Reading<'a> {
    plan: &'a MigrationPlan,
    sources: &'a [mysql_async::Pool],
    targets: &'a [mysql_async::Pool],
    key: &'a str,
    checksum: &'a str,
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

/// Compares source and target (see the module's description).
pub async fn check(
    plan: &MigrationPlan,
    options: CheckOptions,
    mut progress: impl FnMut(&str),
) -> Result<CheckReport, MigrateError> {
    let sources = pools(&plan.source.topology.backends);
    let targets = pools(&plan.target.topology.backends);
    let result = async {
        let columns = crate::mirror::table_columns(&plan.source).await?;
        let checksum = row_checksum(&columns);
        let key = &plan.key;
        // The bucket width that gives about rows_per_chunk rows a bucket.
        let (mut rows, mut lo, mut hi) = (0u64, i64::MAX, i64::MIN);
        each_table(
            &plan.source,
            &sources,
            &format!("SELECT COUNT(*), MIN(`{key}`), MAX(`{key}`) FROM {{table}}"),
            |row| {
                rows += unsigned(&row, 0);
                if let (Some(a), Some(b)) = (int(&row, 1), int(&row, 2)) {
                    lo = lo.min(a);
                    hi = hi.max(b);
                }
                Ok(())
            },
        )
        .await?;
        let span = if rows == 0 {
            1
        } else {
            (i128::from(hi) - i128::from(lo) + 1).max(1)
        };
        let chunks = (rows / options.rows_per_chunk.max(1)).max(1) as i128;
        let width = i64::try_from((span / chunks).max(1)).unwrap_or(i64::MAX);
        progress(&format!("{rows} source rows, buckets of {width} keys"));
        // Both sides at once.
        let (source, target) = tokio::join!(
            buckets(&plan.source, &sources, key, &checksum, width, None),
            buckets(&plan.target, &targets, key, &checksum, width, None)
        );
        let (source, target) = (source?, target?);
        progress("checksums done");
        let mut report = CheckReport {
            chunks: source.len().max(target.len()) as u64,
            source_rows: source.values().map(|b| b.0).sum(),
            target_rows: target.values().map(|b| b.0).sum(),
            ..Default::default()
        };
        let differing: BTreeSet<i64> = source
            .keys()
            .chain(target.keys())
            .filter(|b| source.get(b) != target.get(b))
            .copied()
            .collect();
        if differing.is_empty() {
            return Ok(report);
        }
        // Writes in flight may explain a difference: look again after a moment, then
        // compare what still differs row by row, under lock. In batches of buckets, one
        // query per physical table each.
        tokio::time::sleep(options.recheck_delay).await;
        let differing: Vec<i64> = differing.into_iter().collect();
        for batch in differing.chunks(BUCKETS_PER_QUERY) {
            let ranges: Vec<(i64, i64)> = batch
                .iter()
                .map(|b| {
                    let lo = b.saturating_mul(width);
                    (lo, lo.saturating_add(width - 1))
                })
                .collect();
            let (s, t) = tokio::join!(
                buckets(&plan.source, &sources, key, &checksum, width, Some(&ranges)),
                buckets(&plan.target, &targets, key, &checksum, width, Some(&ranges))
            );
            let (s, t) = (s?, t?);
            let still: Vec<(i64, i64)> = batch
                .iter()
                .zip(&ranges)
                .filter(|(b, _)| s.get(b) != t.get(b))
                .map(|(_, r)| *r)
                .collect();
            if still.is_empty() {
                continue;
            }
            let reading = Reading {
                plan,
                sources: &sources,
                targets: &targets,
                key,
                checksum: &checksum,
            };
            let (s, t) = locked_row_sums(&reading, &still).await?;
            for (k, sum) in &s {
                match t.get(k) {
                    None => report.missing.push(*k),
                    Some(other) if other != sum => report.different.push(*k),
                    Some(_) => {}
                }
            }
            report
                .extra
                .extend(t.keys().filter(|k| !s.contains_key(k)).copied());
        }
        Ok(report)
    }
    .await;
    for pool in sources.into_iter().chain(targets) {
        let _ = pool.disconnect().await;
    }
    result
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
