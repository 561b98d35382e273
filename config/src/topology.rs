//! The validated, expanded routing rules: what the router reads on every statement.

use std::collections::HashMap;
use std::path::Path;

use crate::algorithm::Algorithm;
use crate::error::ConfigError;
use crate::stored_password::StoredPassword;

/// Index into [`Topology::backends`].
pub type BackendId = usize;
/// Index into [`Topology::databases`].
pub type DatabaseId = usize;
/// Index into [`Topology::tables`].
pub type TableId = usize;

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    /// The password, or its stored form as MySQL writes it, so the config need not hold it
    /// in plain text (see [`StoredPassword`]).
    pub password: String,
    pub auth_plugin: crate::raw::AuthPlugin,
    pub role: crate::raw::Role,
}

impl User {
    /// SHA1(SHA1(password)) when the password is given in mysql_native_password's stored
    /// form.
    pub fn native_stored_hash(&self) -> Option<[u8; 20]> {
        match self.stored_password() {
            StoredPassword::Native(hash) => Some(hash),
            _ => None,
        }
    }

    /// The password as configured: plain text or one of MySQL's stored forms. The config
    /// was validated on load, so a form that does not parse is read as plain text here.
    pub fn stored_password(&self) -> StoredPassword<'_> {
        StoredPassword::parse(&self.password).unwrap_or(StoredPassword::Plain(&self.password))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    pub max_connections: u32,
    pub min_idle: u32,
    pub connect_timeout_ms: u64,
    pub query_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub address: String,
    pub user: String,
    pub password: String,
}

/// A MySQL/MariaDB server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    pub address: String,
    pub user: String,
    pub password: String,
    pub pool: PoolLimits,
    pub replicas: Vec<Replica>,
}

impl Backend {
    /// The host and port of `address` (`host:port`; port 3306 when it has none).
    pub fn host_and_port(&self) -> (&str, u16) {
        match self.address.rsplit_once(':') {
            Some((host, port)) => match port.parse() {
                Ok(port) => (host, port),
                Err(_) => (self.address.as_str(), 3306),
            },
            None => (self.address.as_str(), 3306),
        }
    }
}

/// A physical database and the server that holds it.
#[derive(Debug, Clone)]
pub struct PhysicalDatabase {
    pub name: String,
    pub backend: BackendId,
}

/// How a sharded (or binding) table spreads over physical tables: database index from
/// `database_algorithm`, table index within the database from `table_algorithm`; every listed
/// database holds every listed table name.
#[derive(Debug, Clone)]
pub struct ShardedLayout {
    /// Lower-cased, since MySQL column names are case-insensitive.
    pub sharding_column: String,
    pub databases: Vec<DatabaseId>,
    pub tables: Vec<String>,
    pub database_algorithm: Algorithm,
    pub table_algorithm: Algorithm,
    /// The table that heads this table's binding group (itself, for a plain sharded table).
    /// Tables in one group keep rows with equal keys in the same (database, table index).
    pub binding_group: TableId,
}

impl ShardedLayout {
    pub fn physical_table_count(&self) -> usize {
        self.databases.len() * self.tables.len()
    }
}

#[derive(Debug, Clone)]
pub enum TableKind {
    Sharded(ShardedLayout),
    /// A full copy in every physical database: reads from any one, writes to all.
    Broadcast,
    /// Lives in one physical database, under its logical name.
    Single {
        database: DatabaseId,
    },
}

#[derive(Debug, Clone)]
pub struct LogicalTable {
    /// As written in the config.
    pub name: String,
    pub kind: TableKind,
    pub key_generator: Option<String>,
}

/// Client-side settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    pub max_allowed_packet: usize,
    pub fanout_concurrency: usize,
    pub shape_cache_size: usize,
    pub worker_threads: usize,
    pub merge_memory_limit: usize,
    /// A client that has not logged in by then is closed.
    pub auth_timeout: std::time::Duration,
    /// Client connections served at once.
    pub max_client_connections: usize,
    /// A transaction idle longer than this is rolled back and its client closed.
    pub idle_transaction_timeout: Option<std::time::Duration>,
    /// On SIGTERM, how long work in flight may take to finish.
    pub shutdown_grace: std::time::Duration,
    pub tls: Option<TlsSettings>,
}

/// The proxy's log (`log:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    pub format: crate::raw::LogFormat,
    /// Statements slower than this are logged; `None` for none.
    pub slow_query: Option<std::time::Duration>,
    /// Slow statements keep their literals.
    pub slow_query_literals: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "warn".into(),
            format: crate::raw::LogFormat::Text,
            slow_query: None,
            slow_query_literals: false,
        }
    }
}

/// The operator's side (`admin:`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminSettings {
    /// Where Prometheus scrapes `/metrics`.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub require_tls: bool,
}

impl LogicalTable {
    /// The physical table that stands for this one when one example is enough (its
    /// definition, its columns): the first database's first table.
    pub fn first_physical(&self) -> (DatabaseId, &str) {
        match &self.kind {
            TableKind::Sharded(layout) => (layout.databases[0], layout.tables[0].as_str()),
            TableKind::Broadcast => (0, self.name.as_str()),
            TableKind::Single { database } => (*database, self.name.as_str()),
        }
    }
}

/// An id generator: how a table's missing keys are filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGenerator {
    pub name: String,
    pub kind: KeyGeneratorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyGeneratorKind {
    Snowflake {
        epoch_ms: u64,
        time_bits: u32,
        worker_bits: u32,
        sequence_bits: u32,
        worker: WorkerSource,
        clock_tolerance_ms: u64,
    },
    Segment {
        backend: BackendId,
        database: String,
        biz_tag: String,
        step: u64,
        min_step: u64,
        max_step: u64,
    },
}

/// Where a snowflake generator's worker id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerSource {
    Static(u64),
    Lease {
        backend: BackendId,
        database: String,
        table: String,
        ttl_ms: u64,
    },
}

/// A fresh topology generation number: plans analyzed for one topology are never used
/// with another, whatever address either lives at.
pub(crate) fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The whole routing model.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Identifies these routing rules: a clone keeps it, a changed layout gets a new one.
    pub generation: u64,
    pub listen: String,
    pub users: Vec<User>,
    pub backends: Vec<Backend>,
    pub databases: Vec<PhysicalDatabase>,
    /// The logical schema's name, as clients see it (`shop`).
    pub schema: String,
    pub tables: Vec<LogicalTable>,
    pub proxy: ProxySettings,
    pub admin: AdminSettings,
    pub log: LogSettings,
    pub key_generators: Vec<KeyGenerator>,
    /// The backend whose `shardgate_meta` holds the state of online migrations
    /// (`migration_state.backend`; the first backend by default): every proxy running
    /// these rules reads it there, and `shardgate migrate` keeps it there.
    pub migration_state: BackendId,
    /// Lower-cased logical name -> table.
    pub(crate) table_index: HashMap<String, TableId>,
    pub(crate) database_index: HashMap<String, DatabaseId>,
}

impl Topology {
    /// Reads, validates and expands a routing-rules file.
    pub fn load(path: impl AsRef<Path>) -> Result<Topology, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        Topology::from_yaml(&text, path)
    }

    /// Validates and expands YAML text; `file` only labels errors.
    pub fn from_yaml(text: &str, file: impl AsRef<Path>) -> Result<Topology, ConfigError> {
        crate::build::build(text, file.as_ref())
    }

    pub fn key_generator(&self, name: &str) -> Option<&KeyGenerator> {
        self.key_generators.iter().find(|g| g.name == name)
    }

    /// Looks a logical table up by name. MySQL on Linux compares table names case-sensitively,
    /// but ORMs differ in how they spell them, so logical names match case-insensitively.
    pub fn table(&self, name: &str) -> Option<(TableId, &LogicalTable)> {
        let id = match self.table_index.get(name) {
            Some(id) => *id,
            None => *self.table_index.get(&name.to_ascii_lowercase())?,
        };
        Some((id, &self.tables[id]))
    }

    pub fn database_by_name(&self, name: &str) -> Option<DatabaseId> {
        self.database_index.get(name).copied()
    }

    pub fn backend_of(&self, database: DatabaseId) -> &Backend {
        &self.backends[self.databases[database].backend]
    }

    /// How many physical tables the logical table `id` stands for.
    pub fn physical_table_count(&self, id: TableId) -> usize {
        match &self.tables[id].kind {
            TableKind::Sharded(layout) => layout.physical_table_count(),
            TableKind::Broadcast => self.databases.len(),
            TableKind::Single { .. } => 1,
        }
    }
}
