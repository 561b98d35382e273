//! Why an id could not be issued. Every variant says which part failed: the clock, the
//! layout, a lease, or a store (named by its address).

#[derive(Debug, Clone, thiserror::Error)]
pub enum IdError {
    /// The clock went back further than the tolerance: issuing now could repeat ids.
    #[error("idgen: the clock moved back {behind_ms} ms (tolerance {tolerance_ms} ms); refusing to issue ids that could repeat")]
    ClockMovedBackwards { behind_ms: u64, tolerance_ms: u64 },
    /// The clock reads a time the layout cannot hold (before the epoch, or past the time
    /// bits).
    #[error("idgen: the clock ({now_ms} ms since 1970) is outside the layout's time range")]
    TimeOutOfRange { now_ms: u64 },
    #[error("idgen: invalid layout: {0}")]
    Layout(String),
    /// The worker id lease was lost or expired: another proxy may hold the worker id now.
    #[error("idgen: the worker id lease is lost or expired ({0}); refusing to issue ids another proxy may also issue")]
    LeaseLost(String),
    #[error("idgen: every worker id from 0 to {max} is leased by a live proxy")]
    NoFreeWorker { max: u64 },
    /// A lease or segment store failed.
    #[error("idgen: store {store}: {message}")]
    Store { store: String, message: String },
}

impl IdError {
    pub(crate) fn store(store: &str, e: impl std::fmt::Display) -> IdError {
        IdError::Store {
            store: store.to_string(),
            message: e.to_string(),
        }
    }
}
