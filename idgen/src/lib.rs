//! Distributed ids for shardgate.
//!
//! - [`Snowflake`]: 41-bit milliseconds, worker bits and sequence bits (configurable), made
//!   shard-aware: the sequence keeps counting across milliseconds instead of restarting at 0,
//!   so the low bits that `id % 32` and `id / 32 % 32` read cycle through every value at any
//!   rate, and ids still only increase per worker.
//! - [`SegmentGenerator`]: Meituan Leaf's segment mode, ids handed out from ranges taken
//!   from a `leaf_alloc` table, with a second range loaded in the background.
//! - [`WorkerLeases`]: worker ids leased with expiry and heartbeat, so two live proxies never
//!   share one; [`MySqlLeases`] keeps them in a MySQL table.
//!
//! Nothing here knows the MySQL wire protocol beyond using `mysql_async` as a client.

mod clock;
mod error;
mod layout;
mod lease;
mod mysql_lease;
mod segment;
mod segment_store;
mod snowflake;
pub mod stats;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::IdError;
pub use layout::{Decoded, Layout};
pub use lease::{keep_lease, usable as lease_usable, Lease, LeaseEnd, LeaseValidity, WorkerLeases};
pub use mysql_lease::MySqlLeases;
pub use segment::{SegmentConfig, SegmentGenerator};
pub use segment_store::{MemorySegmentStore, MySqlSegmentStore, SegmentRange, SegmentStore};
pub use snowflake::{Snowflake, DEFAULT_TOLERANCE_MS};
