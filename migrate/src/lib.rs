//! Online resharding: a live table moves from its old layout to a new one while clients keep
//! writing through shardgate. This crate holds the state machine (persisted in MySQL so every
//! proxy and the CLI see one state), the plan of a migration, and its data steps.
//!
//! The steps: the state store, the plan, target-table creation, backfill, check, repair, and
//! the row writer that repair and the proxies' dual-write share. The proxies act on the
//! state (dual-write, the cutover fence, routing by the new layout); the CLI moves it.

mod backfill;
mod check;
mod checker;
mod error;
mod mirror;
mod placement;
mod plan;
mod registry;
mod state;
mod store;

pub use backfill::{
    backend_opts, backfill, create_target_tables, drop_tables, BackfillOptions, Progress,
    TargetTables,
};
pub use check::{locked_pieces, repair, CheckOptions, CheckReport};
pub use checker::{check, CheckPosition, Checker};
pub use error::MigrateError;
pub use mirror::{table_columns, KeyedRow, RowWriter};
pub use plan::{MigrationPlan, PhysicalTable, Side};
pub use registry::{
    heartbeat, registry_ddl, unregister, Ack, ProxyAcks, Registry, Settle, ACK_WAIT, PROXY_LEASE,
    STATE_POLL, STATE_POLL_ACTIVE,
};
pub use state::{next, Phase, Step, FENCE_LEASE};
pub use store::{Checkpoint, StateStore, Status};
