//! Backfill: copies the rows that existed before dual-write began, from every source
//! physical table to the target table its key routes to, in key-ordered chunks.
//!
//! - `INSERT IGNORE`: a row dual-write already wrote is newer than the copy and stays. Never
//!   REPLACE, which deletes rows that clash on another unique key.
//! - A row deleted on the source after its chunk was read but before the chunk was written
//!   is copied anyway; check finds it (an extra row on the target) and repair removes it.
//! - The checkpoint (last key copied, per source table) is saved after every chunk, so a
//!   killed backfill resumes where it stopped; re-copying a chunk is harmless.
//! - Throttled: the chunk size follows a target time per chunk, and chunks wait while a
//!   target server is busier than `max_threads_running`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use shardgate_config::Backend;

use crate::check::table_of;
use crate::plan::{MigrationPlan, PhysicalTable, Side};
use crate::store::{Checkpoint, StateStore};
use crate::MigrateError;

#[derive(Debug, Clone, Copy)]
pub struct BackfillOptions {
    /// Rows in the first chunk.
    pub chunk_rows: usize,
    pub min_chunk_rows: usize,
    pub max_chunk_rows: usize,
    /// The time one chunk should take; the chunk size follows it.
    pub target_chunk_time: Duration,
    /// Wait while a target server reports more running threads than this.
    pub max_threads_running: u64,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            chunk_rows: 1000,
            min_chunk_rows: 100,
            max_chunk_rows: 20_000,
            target_chunk_time: Duration::from_millis(500),
            max_threads_running: 64,
        }
    }
}

/// Where the backfill is, after each chunk.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub copied: u64,
    pub tables_done: usize,
    pub tables: usize,
}

/// Connection options for a backend's account.
pub fn backend_opts(backend: &Backend) -> mysql_async::OptsBuilder {
    let (host, port) = backend.host_and_port();
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(host.to_string())
        .tcp_port(port)
        .user(Some(backend.user.clone()))
        .pass(Some(backend.password.clone()))
        .prefer_socket(false)
}

/// Pools for the backends of one side.
pub(crate) fn pools(backends: &[Backend]) -> Vec<mysql_async::Pool> {
    backends
        .iter()
        .map(|b| mysql_async::Pool::new(backend_opts(b)))
        .collect()
}

/// Creates every target physical table like the source's first one (its `SHOW CREATE
/// TABLE`), and its database, when missing.
/// What `start` found and did among the target's physical tables.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TargetTables {
    /// Tables created now.
    pub created: usize,
    /// Tables that existed already.
    pub existing: usize,
    /// Existing tables that hold rows (and are not source tables too), qualified.
    pub holding_rows: Vec<String>,
}

pub async fn create_target_tables(plan: &MigrationPlan) -> Result<TargetTables, MigrateError> {
    let source = plan
        .source
        .physical
        .first()
        .ok_or_else(|| MigrateError::Plan("the source has no physical table".into()))?;
    let source_backend = &plan.source.topology.backends[source.backend];
    let mut conn = mysql_async::Conn::new(backend_opts(source_backend))
        .await
        .map_err(|e| MigrateError::backend(&source_backend.name, e))?;
    let create: Option<(String, String)> = conn
        .query_first(format!("SHOW CREATE TABLE {}", source.qualified()))
        .await
        .map_err(|e| MigrateError::backend(&source_backend.name, e))?;
    let (_, create) = create
        .ok_or_else(|| MigrateError::Plan(format!("{} has no definition", source.qualified())))?;
    // `CREATE TABLE `name` (...`: everything from the column list on is the definition.
    let body = create
        .find('(')
        .map(|at| &create[at..])
        .ok_or_else(|| MigrateError::Plan(format!("unexpected definition: {create}")))?;
    let targets = pools(&plan.target.topology.backends);
    let mut report = TargetTables::default();
    let mut databases = std::collections::BTreeSet::new();
    let source_tables: std::collections::HashSet<(String, String, String)> = plan
        .source
        .physical
        .iter()
        .map(|p| {
            let address = plan.source.topology.backends[p.backend].address.clone();
            (address, p.database.clone(), p.table.clone())
        })
        .collect();
    for t in &plan.target.physical {
        let name = &plan.target.topology.backends[t.backend].name;
        let mut conn = targets[t.backend]
            .get_conn()
            .await
            .map_err(|e| MigrateError::backend(name, e))?;
        if databases.insert((t.backend, t.database.clone())) {
            conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{}`", t.database))
                .await
                .map_err(|e| MigrateError::backend(name, e))?;
        }
        conn.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS {} {body}",
            t.qualified()
        ))
        .await
        .map_err(|e| MigrateError::backend(name, e))?;
        // An existing table answers with a warning (1050) and is left as it is.
        if conn.get_warnings() == 0 {
            report.created += 1;
            continue;
        }
        report.existing += 1;
        let address = plan.target.topology.backends[t.backend].address.clone();
        if source_tables.contains(&(address, t.database.clone(), t.table.clone())) {
            continue;
        }
        let any: Option<i64> = conn
            .query_first(format!("SELECT 1 FROM {} LIMIT 1", t.qualified()))
            .await
            .map_err(|e| MigrateError::backend(name, e))?;
        if any.is_some() {
            report
                .holding_rows
                .push(format!("{name}:{}", t.qualified()));
        }
    }
    for pool in targets {
        let _ = pool.disconnect().await;
    }
    Ok(report)
}

/// Copies every source row (from the checkpoints on) to its target table.
pub async fn backfill(
    plan: &MigrationPlan,
    store: &StateStore,
    options: BackfillOptions,
    mut progress: impl FnMut(Progress),
) -> Result<Progress, MigrateError> {
    let sources = pools(&plan.source.topology.backends);
    let targets = pools(&plan.target.topology.backends);
    let mut state = Progress {
        copied: 0,
        tables_done: 0,
        tables: plan.source.physical.len(),
    };
    // A chunk's rows spread over the target's tables, one INSERT per table: a chunk much
    // smaller than the table count writes a row or two per statement, and a slow chunk
    // must not shrink the backfill into that.
    let min_chunk_rows = options
        .min_chunk_rows
        .max(2 * plan.target.physical.len())
        .min(options.max_chunk_rows);
    let mut chunk_rows = options.chunk_rows.max(min_chunk_rows);
    let result = async {
        for source in &plan.source.physical {
            let name = source.qualified();
            let mut checkpoint = store.checkpoint(&plan.table, &name).await?;
            state.copied += checkpoint.copied;
            while !checkpoint.done {
                throttle(plan, &targets, options.max_threads_running).await?;
                let started = Instant::now();
                let copied = copy_chunk(
                    plan,
                    source,
                    &sources,
                    &targets,
                    &mut checkpoint,
                    chunk_rows,
                )
                .await?;
                store
                    .save_checkpoint(&plan.table, &name, checkpoint)
                    .await?;
                state.copied += copied;
                progress(state);
                // Follow the target time per chunk.
                let took = started.elapsed();
                if took > options.target_chunk_time * 3 / 2 {
                    chunk_rows = (chunk_rows / 2).max(min_chunk_rows);
                } else if took < options.target_chunk_time / 2 {
                    chunk_rows = (chunk_rows * 2).min(options.max_chunk_rows);
                }
            }
            state.tables_done += 1;
            progress(state);
        }
        Ok(state)
    }
    .await;
    for pool in sources.into_iter().chain(targets) {
        let _ = pool.disconnect().await;
    }
    result
}

/// Copies the next chunk of `source` after the checkpoint; returns the rows copied.
async fn copy_chunk(
    plan: &MigrationPlan,
    source: &PhysicalTable,
    sources: &[mysql_async::Pool],
    targets: &[mysql_async::Pool],
    checkpoint: &mut Checkpoint,
    chunk_rows: usize,
) -> Result<u64, MigrateError> {
    let key = &plan.key;
    let source_name = &plan.source.topology.backends[source.backend].name;
    let mut conn = sources[source.backend]
        .get_conn()
        .await
        .map_err(|e| MigrateError::backend(source_name, e))?;
    let after = match checkpoint.last_key {
        Some(k) => format!("WHERE `{key}` > {k} "),
        None => String::new(),
    };
    let rows: Vec<Row> = conn
        .query(format!(
            "SELECT * FROM {} {after}ORDER BY `{key}` LIMIT {chunk_rows}",
            source.qualified()
        ))
        .await
        .map_err(|e| MigrateError::backend(source_name, e))?;
    drop(conn);
    let Some(first) = rows.first() else {
        checkpoint.done = true;
        return Ok(0);
    };
    let columns: Vec<String> = first
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let key_at = columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(key))
        .ok_or_else(|| {
            MigrateError::Plan(format!("{} has no column `{key}`", source.qualified()))
        })?;
    // Group the rows by their target table.
    let mut by_target: BTreeMap<usize, Vec<Row>> = BTreeMap::new();
    let mut last_key = checkpoint.last_key;
    let count = rows.len();
    for row in rows {
        let k = key_of(&row, key_at).ok_or_else(|| {
            MigrateError::Plan(format!(
                "a row of {} has a `{key}` that is not an integer",
                source.qualified()
            ))
        })?;
        last_key = Some(k);
        by_target
            .entry(table_of(&plan.target, k)?)
            .or_default()
            .push(row);
    }
    let column_list = columns
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let placeholders = format!("({})", vec!["?"; columns.len()].join(", "));
    // One INSERT per target table, several at once: a chunk of scattered keys touches
    // hundreds of tables, and each INSERT is a round trip.
    let mut running = tokio::task::JoinSet::new();
    for (target, rows) in by_target {
        let t = &plan.target.physical[target];
        let name = plan.target.topology.backends[t.backend].name.clone();
        let sql = format!(
            "INSERT IGNORE INTO {} ({column_list}) VALUES {}",
            t.qualified(),
            vec![placeholders.as_str(); rows.len()].join(", ")
        );
        let params: Vec<Value> = rows.into_iter().flat_map(Row::unwrap).collect();
        let pool = targets[t.backend].clone();
        if running.len() >= INSERTS_AT_ONCE {
            finish_one(&mut running).await?;
        }
        running.spawn(async move {
            let mut conn = pool
                .get_conn()
                .await
                .map_err(|e| MigrateError::backend(&name, e))?;
            conn.exec_drop(sql, params)
                .await
                .map_err(|e| MigrateError::backend(&name, e))
        });
    }
    while !running.is_empty() {
        finish_one(&mut running).await?;
    }
    checkpoint.last_key = last_key;
    checkpoint.copied += count as u64;
    if count < chunk_rows {
        checkpoint.done = true;
    }
    Ok(count as u64)
}

/// INSERTs of one chunk in flight at once.
const INSERTS_AT_ONCE: usize = 8;

async fn finish_one(
    running: &mut tokio::task::JoinSet<Result<(), MigrateError>>,
) -> Result<(), MigrateError> {
    match running.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(MigrateError::backend("backfill", e)),
        None => Ok(()),
    }
}

fn key_of(row: &Row, at: usize) -> Option<i64> {
    match row.as_ref(at)? {
        Value::Int(v) => Some(*v),
        Value::UInt(v) => i64::try_from(*v).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

/// Waits while any target server runs more threads than `max`.
async fn throttle(
    plan: &MigrationPlan,
    targets: &[mysql_async::Pool],
    max: u64,
) -> Result<(), MigrateError> {
    for (i, pool) in targets.iter().enumerate() {
        let name = &plan.target.topology.backends[i].name;
        for _ in 0..100 {
            let mut conn = pool
                .get_conn()
                .await
                .map_err(|e| MigrateError::backend(name, e))?;
            let running: Option<(String, u64)> = conn
                .query_first("SHOW GLOBAL STATUS LIKE 'Threads_running'")
                .await
                .map_err(|e| MigrateError::backend(name, e))?;
            if running.is_none_or(|(_, n)| n <= max) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Drops every physical table of `side` (`finish --drop-source`). Returns how many existed.
pub async fn drop_tables(side: &Side) -> Result<usize, MigrateError> {
    let pools = pools(&side.topology.backends);
    let result = async {
        let mut dropped = 0;
        for t in &side.physical {
            let name = &side.topology.backends[t.backend].name;
            let mut conn = pools[t.backend]
                .get_conn()
                .await
                .map_err(|e| MigrateError::backend(name, e))?;
            let exists: Option<u64> = conn
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    (&t.database, &t.table),
                )
                .await
                .map_err(|e| MigrateError::backend(name, e))?;
            conn.query_drop(format!("DROP TABLE IF EXISTS {}", t.qualified()))
                .await
                .map_err(|e| MigrateError::backend(name, e))?;
            dropped += usize::from(exists.unwrap_or(0) > 0);
        }
        Ok(dropped)
    }
    .await;
    for pool in pools {
        let _ = pool.disconnect().await;
    }
    result
}
