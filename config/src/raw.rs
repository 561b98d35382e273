//! The YAML file as written, one struct per mapping. Every struct denies unknown keys so a typo
//! (`sharding_colum`) is an error with a line number rather than a silently ignored rule.
//! Meaning and cross-references are checked when the [`crate::Topology`] is built.

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3307";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address the proxy listens on for clients.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Accounts clients log in with.
    #[serde(default)]
    pub users: Vec<RawUser>,
    /// MySQL/MariaDB servers.
    pub backends: Vec<RawBackend>,
    /// Physical databases and the backends they live on.
    pub databases: Vec<RawDatabaseGroup>,
    /// The one logical schema clients see.
    pub schema: RawSchema,
    /// Limits and TLS of the client side.
    #[serde(default)]
    pub proxy: RawProxy,
    /// Id generators, named by tables' `key_generator`.
    #[serde(default)]
    pub key_generators: Vec<RawKeyGenerator>,
    /// Where the proxies read the state of online migrations.
    pub migration_state: Option<RawMigrationState>,
    /// What operators reach: metrics.
    #[serde(default)]
    pub admin: RawAdmin,
    /// Where and how the proxy logs.
    #[serde(default)]
    pub log: RawLog,
}

/// `log:`: the proxy's log on standard error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `error`, `warn`, `info`, `debug` or `trace` (`RUST_LOG`, when set, wins).
    pub level: String,
    /// `text` or `json` (one object per line).
    pub format: LogFormat,
    /// Statements slower than this are logged (target `shardgate::slow_query`), in
    /// milliseconds; 0 for none.
    pub slow_query_ms: u64,
    /// Slow statements are logged with their literals (else each is `?`).
    pub slow_query_literals: bool,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            level: "warn".into(),
            format: LogFormat::Text,
            slow_query_ms: 0,
            slow_query_literals: false,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `admin:`: the operator's side.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// `host:port` serving Prometheus text at `/metrics`; none when absent.
    pub metrics_listen: Option<String>,
}

/// `migration_state:`: the backend whose `shardgate_meta` holds the migration state.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMigrationState {
    pub backend: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawKeyGeneratorKind {
    Snowflake,
    Segment,
}

/// One id generator. Snowflake keys: `epoch_ms`, `time_bits`, `worker_bits`,
/// `sequence_bits`, `worker_id` or `worker_lease`, `clock_tolerance_ms`. Segment keys:
/// `backend`, `database`, `biz_tag`, `step`, `min_step`, `max_step`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyGenerator {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: RawKeyGeneratorKind,
    /// Milliseconds since 1970 at which snowflake time 0 starts.
    pub epoch_ms: Option<u64>,
    pub time_bits: Option<u32>,
    pub worker_bits: Option<u32>,
    pub sequence_bits: Option<u32>,
    /// A fixed worker id: every proxy sharing the generator needs its own.
    pub worker_id: Option<u64>,
    /// Lease worker ids from a table instead.
    pub worker_lease: Option<RawWorkerLease>,
    /// Clock steps back up to this are waited out; larger ones refuse ids.
    pub clock_tolerance_ms: Option<u64>,
    /// segment: the backend holding `leaf_alloc` (worker leases name theirs).
    pub backend: Option<String>,
    /// segment: the database holding `leaf_alloc`.
    pub database: Option<String>,
    /// segment: the `leaf_alloc` row; the generator's name by default.
    pub biz_tag: Option<String>,
    pub step: Option<u64>,
    pub min_step: Option<u64>,
    pub max_step: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkerLease {
    pub backend: String,
    #[serde(default = "default_meta_database")]
    pub database: String,
    #[serde(default = "default_lease_table")]
    pub table: String,
    #[serde(default = "default_lease_ttl_ms")]
    pub ttl_ms: u64,
}

fn default_meta_database() -> String {
    "shardgate_meta".into()
}

fn default_lease_table() -> String {
    "worker_lease".into()
}

fn default_lease_ttl_ms() -> u64 {
    10_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawProxy {
    /// Largest client packet accepted, in bytes.
    pub max_allowed_packet: u64,
    /// Most physical statements of one client statement running at once.
    pub fanout_concurrency: u32,
    /// Shape-cache entries per client session.
    pub shape_cache_size: u32,
    /// Threads serving clients: 0 for one per core, 1 for a single-threaded runtime.
    pub worker_threads: u32,
    /// Memory one query's merge may hold, in bytes.
    pub merge_memory_limit: u64,
    /// How long a client may take to log in before it is closed, in milliseconds.
    pub auth_timeout_ms: u64,
    /// Client connections served at once; past it a new client gets ER_CON_COUNT_ERROR.
    pub max_client_connections: u32,
    /// A transaction idle (no statement from its client) longer than this is rolled back
    /// and its client closed, in milliseconds; 0 for never.
    pub idle_transaction_timeout_ms: u64,
    /// On SIGTERM, how long statements and transactions in flight may take to finish
    /// before what is left is rolled back, in milliseconds.
    pub shutdown_grace_ms: u64,
    pub tls: Option<RawTls>,
}

impl Default for RawProxy {
    fn default() -> Self {
        RawProxy {
            max_allowed_packet: 64 * 1024 * 1024,
            fanout_concurrency: 16,
            shape_cache_size: 512,
            worker_threads: 0,
            merge_memory_limit: 64 * 1024 * 1024,
            auth_timeout_ms: 10_000,
            max_client_connections: 10_000,
            idle_transaction_timeout_ms: 0,
            shutdown_grace_ms: 30_000,
            tls: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key.
    pub key: String,
    /// Refuse clients that do not switch to TLS.
    #[serde(default)]
    pub require_tls: bool,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: String,
    pub password: String,
    /// `mysql_native_password` (default) or `caching_sha2_password`.
    #[serde(default)]
    pub auth_plugin: AuthPlugin,
    /// `app` (default) or `admin`: who may run shardgate's admin statements.
    #[serde(default)]
    pub role: Role,
}

/// What a client account may do beyond the logical schema.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The logical schema, and its own sessions in SHOW PROCESSLIST and KILL.
    #[default]
    App,
    /// Also shardgate's admin statements (SHOW SHARDGATE ..., SHARDGATE EXPLAIN), and
    /// every session.
    Admin,
}

/// How a client account authenticates.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthPlugin {
    #[default]
    MysqlNativePassword,
    CachingSha2Password,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    pub name: String,
    /// `host:port`.
    pub address: String,
    pub user: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub pool: RawPool,
    /// Read replicas of this backend (used by the read/write-split issue).
    #[serde(default)]
    pub replicas: Vec<RawReplica>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplica {
    pub address: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPool {
    pub max_connections: u32,
    pub min_idle: u32,
    pub connect_timeout_ms: u64,
    pub query_timeout_ms: u64,
}

impl Default for RawPool {
    fn default() -> Self {
        RawPool {
            max_connections: 64,
            min_idle: 0,
            connect_timeout_ms: 3_000,
            query_timeout_ms: 60_000,
        }
    }
}

/// A run of physical databases, e.g. `order_db_{0..31}` over `[ds0, ds1]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabaseGroup {
    /// A name or a range pattern.
    pub names: String,
    /// The backends the databases are spread over.
    pub backends: Vec<String>,
    #[serde(default)]
    pub placement: Placement,
}

/// How the i-th database of a group picks its backend.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Database i on `backends[i % backends.len()]`.
    #[default]
    Modulo,
    /// Equal contiguous blocks: the first len/k databases on the first backend, and so on.
    Contiguous,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchema {
    pub name: String,
    pub tables: Vec<RawTable>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawTableKind {
    Sharded,
    Binding,
    Broadcast,
    Single,
}

impl RawTableKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RawTableKind::Sharded => "sharded",
            RawTableKind::Binding => "binding",
            RawTableKind::Broadcast => "broadcast",
            RawTableKind::Single => "single",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    pub name: String,
    pub kind: RawTableKind,
    /// sharded, binding: the column whose value picks the shard.
    pub sharding_column: Option<String>,
    /// sharded (binding: optional, must equal the target's): database pattern.
    pub databases: Option<String>,
    /// sharded, binding: physical table pattern within each database.
    pub tables: Option<String>,
    pub database_algorithm: Option<RawAlgorithm>,
    pub table_algorithm: Option<RawAlgorithm>,
    /// binding: the sharded table this one follows.
    pub bind_to: Option<String>,
    /// single: the physical database holding the table.
    pub database: Option<String>,
    /// Name of the id generator that fills the sharding key on INSERT.
    pub key_generator: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmType {
    Mod,
    DivMod,
    HashMod,
    Range,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlgorithm {
    #[serde(rename = "type")]
    pub kind: AlgorithmType,
    pub modulus: Option<u64>,
    pub divisor: Option<u64>,
    pub boundaries: Option<Vec<i64>>,
}
