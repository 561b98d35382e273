//! shardgate's routing rules.
//!
//! Operators write YAML ([`raw`] mirrors it one to one); [`Topology::load`] validates it and
//! expands every pattern (`order_db_{0..31}`) into the [`Topology`] the router consults on every
//! statement. Every validation error names the YAML path and line it is about, because a config
//! with 1024 physical tables is not debugged by guessing.

pub mod algorithm;
mod build;
pub mod error;
mod keygen;
mod locate;
mod operator_settings;
pub mod pattern;
mod proxy_settings;
pub mod raw;
mod reload;
pub mod stored_password;
mod swap;
pub mod topology;

pub use algorithm::{Algorithm, ShardKey};
pub use error::ConfigError;
pub use raw::{AuthPlugin, LogFormat, Role};
pub use stored_password::{Sha2Stored, StoredPassword};
pub use topology::{
    AdminSettings, Backend, BackendId, DatabaseId, KeyGenerator, KeyGeneratorKind, LogSettings,
    LogicalTable, PhysicalDatabase, PoolLimits, ProxySettings, ShardedLayout, TableId, TableKind,
    TlsSettings, Topology, User, WorkerSource,
};
