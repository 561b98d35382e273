//! The soak workload (`bench/soak.sh`): many client connections holding on for minutes, each
//! doing point reads, writes and two-row transactions through shardgate, each keeping its own
//! ledger of what it was told, so that afterwards every acknowledged write can be looked up
//! on the backends where it must be.
//!
//! Client `c` owns the keys `(c + 1) * KEY_SPAN + n`: no two clients touch one row, so each
//! ledger is exact without any locking between clients.

pub mod client;
pub mod ledger;
pub mod placement;
pub mod process;

use std::collections::BTreeMap;

/// Keys per client.
pub const KEY_SPAN: i64 = 10_000_000;

/// The table the soak writes, on every physical table of the layout.
pub const TABLE: &str = "soak_orders";
pub const TABLE_COLUMNS: &str =
    "(id BIGINT NOT NULL PRIMARY KEY, client INT NOT NULL, amount BIGINT NOT NULL, note VARCHAR(64) NOT NULL)";

/// Errors seen, by MySQL error code (or `io`, `driver`, `other`), with a count.
pub type ErrorCounts = BTreeMap<String, u64>;

/// What one client did.
#[derive(Debug, Default)]
pub struct ClientReport {
    pub ledger: ledger::Ledger,
    pub errors: ErrorCounts,
    pub operations: u64,
    pub reconnects: u64,
    /// Reads that returned a row other than the ledger's (a wrong answer).
    pub wrong_reads: Vec<String>,
}

/// The label an error is counted under.
pub fn error_label(error: &mysql_async::Error) -> String {
    match error {
        mysql_async::Error::Server(e) => e.code.to_string(),
        mysql_async::Error::Io(_) => "io".into(),
        mysql_async::Error::Driver(_) => "driver".into(),
        _ => "other".into(),
    }
}
