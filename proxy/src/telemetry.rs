//! Prometheus metrics: what the proxy counts, and the exporter that serves them at
//! `admin.metrics_listen` (`/metrics`).
//!
//! Every series is recorded through the `metrics` facade: without an installed exporter
//! (tests that run proxies in their own process, `shardgate route`) a recording is a no-op.
//! Names follow Prometheus conventions: base units (seconds), `_total` counters.

use std::net::SocketAddr;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

pub const CLIENT_CONNECTIONS: &str = "shardgate_client_connections";
pub const CLIENT_CONNECTIONS_TOTAL: &str = "shardgate_client_connections_total";
pub const CLIENT_CONNECTIONS_REFUSED: &str = "shardgate_client_connections_refused_total";
pub const STATEMENTS: &str = "shardgate_statements_total";
pub const STATEMENT_DURATION: &str = "shardgate_statement_duration_seconds";
pub const PHYSICAL_STATEMENTS: &str = "shardgate_physical_statements";
pub const BACKEND_UP: &str = "shardgate_backend_up";
pub const BACKEND_ERRORS: &str = "shardgate_backend_errors_total";
pub const BACKEND_CONNECTIONS: &str = "shardgate_backend_connections";
pub const BACKEND_WAITERS: &str = "shardgate_backend_waiters";
pub const CONFIG_GENERATION: &str = "shardgate_config_generation";
pub const SHAPE_CACHE: &str = "shardgate_shape_cache_lookups_total";
pub const BACKEND_RESPONSE: &str = "shardgate_backend_response_seconds";
pub const IDGEN_READY: &str = "shardgate_idgen_ready";
pub const IDGEN_WORKER_ID: &str = "shardgate_idgen_worker_id";
pub const IDGEN_LEASE_AGE: &str = "shardgate_idgen_lease_age_seconds";
pub const IDGEN_SEGMENT_REMAINING: &str = "shardgate_idgen_segment_remaining";
pub const MIGRATION_PHASE: &str = "shardgate_migration_phase";
pub const BACKFILL_ROWS: &str = "shardgate_migration_backfill_rows";
pub const BACKFILL_PROGRESS: &str = "shardgate_migration_backfill_progress_ratio";
pub const MERGE_ROWS: &str = "shardgate_merge_rows_total";
pub const MERGE_MEMORY: &str = "shardgate_merge_memory_bytes";

/// Latency buckets in seconds: 100 µs (a cached point read) to 30 s (a long scatter).
const SECONDS_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
];
/// Peak bytes one merge held: 1 KiB to 1 GiB.
const BYTES_BUCKETS: [f64; 8] = [
    1024.0,
    16384.0,
    262144.0,
    1048576.0,
    8388608.0,
    67108864.0,
    268435456.0,
    1073741824.0,
];
/// Physical statements per client statement: 1 (routed) to 1024 (every table).
const FANOUT_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0];

/// Installs the global recorder and serves `/metrics` on `listen` (on the current tokio
/// runtime). Once per process.
pub fn install_exporter(listen: SocketAddr) -> Result<(), BuildError> {
    PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(Matcher::Full(STATEMENT_DURATION.into()), &SECONDS_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(PHYSICAL_STATEMENTS.into()), &FANOUT_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(BACKEND_RESPONSE.into()), &SECONDS_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(MERGE_MEMORY.into()), &BYTES_BUCKETS)?
        .install()?;
    describe();
    Ok(())
}

fn describe() {
    describe_gauge!(
        IDGEN_READY,
        "1 while a snowflake generator holds its worker id, by generator."
    );
    describe_gauge!(
        IDGEN_WORKER_ID,
        "A snowflake generator's worker id, by generator."
    );
    describe_gauge!(
        IDGEN_LEASE_AGE,
        metrics::Unit::Seconds,
        "Time since a snowflake generator's worker-id lease was last renewed, by generator."
    );
    describe_gauge!(
        IDGEN_SEGMENT_REMAINING,
        "Ids a segment generator holds in hand (current and next segment), by generator."
    );
    describe_gauge!(
        BACKFILL_ROWS,
        "Rows a migration's backfill has copied so far, by table."
    );
    describe_gauge!(
        BACKFILL_PROGRESS,
        "Share of a migration's source tables the backfill has finished (0 to 1), by table."
    );
    describe_gauge!(
        MIGRATION_PHASE,
        "1 for the phase this proxy acts on for each migrating table, by table and phase."
    );
    describe_counter!(
        MERGE_ROWS,
        "Rows the proxy read from physical statements into merges."
    );
    describe_histogram!(
        MERGE_MEMORY,
        metrics::Unit::Bytes,
        "The most bytes one merged statement held at once (under proxy.merge_memory_limit)."
    );
    describe_histogram!(
        BACKEND_RESPONSE,
        metrics::Unit::Seconds,
        "Time from a physical statement sent to the first packet of its answer, by backend."
    );
    describe_gauge!(CLIENT_CONNECTIONS, "Client connections open now.");
    describe_counter!(CLIENT_CONNECTIONS_TOTAL, "Client connections accepted.");
    describe_counter!(
        CLIENT_CONNECTIONS_REFUSED,
        "Client connections refused: past proxy.max_client_connections."
    );
    describe_counter!(
        STATEMENTS,
        "Client commands answered, by command and outcome (ok or error)."
    );
    describe_histogram!(
        STATEMENT_DURATION,
        metrics::Unit::Seconds,
        "Time from a client command's arrival to its answer, by command."
    );
    describe_histogram!(
        PHYSICAL_STATEMENTS,
        "Physical statements one client statement became (its fan-out)."
    );
    describe_gauge!(
        BACKEND_UP,
        "1 while the backend answers, 0 after it failed to (by backend)."
    );
    describe_counter!(
        BACKEND_ERRORS,
        "Backend connection and I/O failures, by backend."
    );
    describe_gauge!(
        BACKEND_CONNECTIONS,
        "Pooled backend connections by backend and state (idle, busy)."
    );
    describe_gauge!(
        BACKEND_WAITERS,
        "Sessions waiting for a pooled connection, by backend."
    );
    describe_counter!(
        SHAPE_CACHE,
        "Statement-shape cache lookups of text statements, by result (hit: parsed and analyzed before)."
    );
    describe_gauge!(
        CONFIG_GENERATION,
        "The generation of the routing rules in force."
    );
}

/// A client connected (`true`) or left (`false`).
pub fn client_connection(opened: bool) {
    if opened {
        counter!(CLIENT_CONNECTIONS_TOTAL).increment(1);
        gauge!(CLIENT_CONNECTIONS).increment(1.0);
    } else {
        gauge!(CLIENT_CONNECTIONS).decrement(1.0);
    }
}

/// A client refused before its greeting.
pub fn client_refused() {
    counter!(CLIENT_CONNECTIONS_REFUSED).increment(1);
}

/// A client command answered: `command` names it (`query`, `stmt_execute`, ...).
pub fn command(command: &'static str, failed: bool, elapsed: Duration) {
    let outcome = if failed { "error" } else { "ok" };
    counter!(STATEMENTS, "command" => command, "outcome" => outcome).increment(1);
    histogram!(STATEMENT_DURATION, "command" => command).record(elapsed.as_secs_f64());
}

/// A client statement became `count` physical statements.
pub fn fanout(count: usize) {
    histogram!(PHYSICAL_STATEMENTS).record(count as f64);
}

/// A backend answered a connection attempt (`true`) or failed to (`false`).
pub fn backend_up(backend: &str, up: bool) {
    gauge!(BACKEND_UP, "backend" => backend.to_string()).set(if up { 1.0 } else { 0.0 });
}

/// A backend connection failed: refused, timed out, or cut while in use.
pub fn backend_error(backend: &str) {
    counter!(BACKEND_ERRORS, "backend" => backend.to_string()).increment(1);
}

/// A backend pool's connections and waiters now.
pub fn pool_state(backend: &str, idle: usize, busy: usize, waiters: usize) {
    let name = backend.to_string();
    gauge!(BACKEND_CONNECTIONS, "backend" => name.clone(), "state" => "idle").set(idle as f64);
    gauge!(BACKEND_CONNECTIONS, "backend" => name.clone(), "state" => "busy").set(busy as f64);
    gauge!(BACKEND_WAITERS, "backend" => name).set(waiters as f64);
}

/// A text statement's shape-cache lookups: `hits` found, `misses` parsed and analyzed.
pub fn shape_cache(hits: u64, misses: u64) {
    if hits > 0 {
        counter!(SHAPE_CACHE, "result" => "hit").increment(hits);
    }
    if misses > 0 {
        counter!(SHAPE_CACHE, "result" => "miss").increment(misses);
    }
}

/// The routing rules in force.
pub fn config_generation(generation: u64) {
    gauge!(CONFIG_GENERATION).set(generation as f64);
}

/// The histogram of `backend`'s response times, kept by each of its connections (a
/// handle: recording costs no lookup).
pub fn backend_response_time(backend: &str) -> metrics::Histogram {
    histogram!(BACKEND_RESPONSE, "backend" => backend.to_string())
}

/// A merged statement ended: the rows it read and the most memory it held.
pub fn merge_done(rows: u64, peak_bytes: usize) {
    counter!(MERGE_ROWS).increment(rows);
    histogram!(MERGE_MEMORY).record(peak_bytes as f64);
}

/// A snowflake generator's state: its worker id once it has one, its lease's age.
pub fn snowflake_state(generator: &str, worker: Option<u64>, lease_age: Option<Duration>) {
    let label = generator.to_string();
    gauge!(IDGEN_READY, "generator" => label.clone()).set(if worker.is_some() { 1.0 } else { 0.0 });
    if let Some(worker) = worker {
        gauge!(IDGEN_WORKER_ID, "generator" => label.clone()).set(worker as f64);
    }
    if let Some(age) = lease_age {
        gauge!(IDGEN_LEASE_AGE, "generator" => label).set(age.as_secs_f64());
    }
}

/// A segment generator's ids in hand.
pub fn segment_state(generator: &str, remaining: u64) {
    gauge!(IDGEN_SEGMENT_REMAINING, "generator" => generator.to_string()).set(remaining as f64);
}

/// A backfill's progress: rows copied, source tables done of all.
pub fn backfill_progress(table: &str, copied: u64, done: i64, sources: i64) {
    gauge!(BACKFILL_ROWS, "table" => table.to_string()).set(copied as f64);
    let ratio = if sources > 0 {
        done as f64 / sources as f64
    } else {
        0.0
    };
    gauge!(BACKFILL_PROGRESS, "table" => table.to_string()).set(ratio);
}

/// The phase this proxy acts on for `table`'s migration: 1 for it, 0 for the others.
pub fn migration_phase(table: &str, phase: &str, phases: &[&'static str]) {
    for p in phases {
        let value = if *p == phase { 1.0 } else { 0.0 };
        gauge!(MIGRATION_PHASE, "table" => table.to_string(), "phase" => *p).set(value);
    }
}
