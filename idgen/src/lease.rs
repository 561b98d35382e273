//! Worker-id leases: a worker id is held under a lease with an expiry, renewed by a
//! heartbeat. A proxy stops issuing ids before its lease can have expired on the store, so
//! two live proxies never use one worker id, and a restarted proxy takes a fresh lease.
//!
//! [`WorkerLeases`] is the store; [`crate::MySqlLeases`] keeps leases in a MySQL table, and
//! an etcd store can implement the same trait.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::IdError;

/// A held worker id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub worker_id: u64,
    /// Who holds it: unique per process start.
    pub owner: String,
    /// The last time (ms since 1970) a previous holder reported issuing ids at: the new
    /// holder must not issue ids from before it.
    pub not_before_unix_ms: u64,
    pub ttl: Duration,
}

/// A store of worker-id leases.
pub trait WorkerLeases: Send + Sync {
    /// Takes a free (never taken, released or expired) worker id from 0 to `max_worker`.
    fn acquire(&self, max_worker: u64) -> impl Future<Output = Result<Lease, IdError>> + Send;

    /// Extends the lease by its ttl, recording the last time ids were issued at. Fails with
    /// [`IdError::LeaseLost`] when another owner holds the worker id now.
    fn renew(
        &self,
        lease: &Lease,
        last_unix_ms: u64,
    ) -> impl Future<Output = Result<(), IdError>> + Send;

    /// Gives the worker id up.
    fn release(
        &self,
        lease: &Lease,
        last_unix_ms: u64,
    ) -> impl Future<Output = Result<(), IdError>> + Send;
}

fn anchor() -> Instant {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    *ANCHOR.get_or_init(Instant::now)
}

fn monotonic_ms() -> u64 {
    anchor().elapsed().as_millis() as u64
}

/// Until when this process may use its lease, on a monotonic clock: the time of the last
/// successful renewal request plus the ttl, less a safety margin for clock rates. Shared by
/// the generator (which checks it on every id) and the heartbeat (which extends it).
#[derive(Debug, Clone)]
pub struct LeaseValidity {
    deadline: Arc<AtomicU64>,
    /// When the last acquiring or renewing request that succeeded was sent.
    renewed: Arc<AtomicU64>,
    lost: Arc<std::sync::Mutex<Option<String>>>,
}

impl LeaseValidity {
    /// Valid for `valid_for` from `since` (when the acquiring or renewing request was sent).
    pub fn new(since: Instant, valid_for: Duration) -> Self {
        let v = LeaseValidity {
            deadline: Arc::new(AtomicU64::new(0)),
            renewed: Arc::new(AtomicU64::new(0)),
            lost: Arc::new(std::sync::Mutex::new(None)),
        };
        v.extend(since, valid_for);
        v
    }

    pub fn extend(&self, since: Instant, valid_for: Duration) {
        let sent = since.saturating_duration_since(anchor()).as_millis() as u64;
        self.renewed.fetch_max(sent, Ordering::SeqCst);
        self.deadline
            .fetch_max(sent + valid_for.as_millis() as u64, Ordering::SeqCst);
    }

    /// How long ago the last successful renewal was sent (for monitoring).
    pub fn age(&self) -> Duration {
        Duration::from_millis(monotonic_ms().saturating_sub(self.renewed.load(Ordering::SeqCst)))
    }

    /// Marks the lease lost for good.
    pub fn lose(&self, why: String) {
        if let Ok(mut lost) = self.lost.lock() {
            *lost = Some(why);
        }
        self.deadline.store(0, Ordering::SeqCst);
    }

    pub fn check(&self) -> Result<(), IdError> {
        if monotonic_ms() < self.deadline.load(Ordering::SeqCst) {
            return Ok(());
        }
        let why = self
            .lost
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or_else(|| "no heartbeat reached the lease store in time".into());
        Err(IdError::LeaseLost(why))
    }
}

/// Why [`keep_lease`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseEnd {
    /// Stopped and released.
    Released,
    /// Another owner holds the worker id now: take a new lease.
    Lost(String),
}

/// The part of the ttl a holder may use: it stops a third of the ttl before the store
/// would let the lease go.
pub fn usable(ttl: Duration) -> Duration {
    ttl - ttl / 3
}

/// Renews `lease` every third of its ttl until `stop` resolves, extending `validity` after
/// each success; `last_unix_ms` reports the generator's last id time. A renewal that finds
/// the lease taken marks `validity` lost and ends; a failed one is retried at the next beat
/// (the validity runs out on its own if none succeeds). On `stop` the lease is released.
pub async fn keep_lease<L: WorkerLeases>(
    leases: &L,
    lease: Lease,
    validity: LeaseValidity,
    last_unix_ms: impl Fn() -> u64,
    stop: impl Future<Output = ()>,
) -> LeaseEnd {
    let beat = lease.ttl / 3;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => {
                let _ = leases.release(&lease, last_unix_ms()).await;
                validity.lose("released".into());
                return LeaseEnd::Released;
            }
            _ = tokio::time::sleep(beat) => {}
        }
        let sent = Instant::now();
        match leases.renew(&lease, last_unix_ms()).await {
            Ok(()) => validity.extend(sent, usable(lease.ttl)),
            Err(IdError::LeaseLost(why)) => {
                validity.lose(why.clone());
                return LeaseEnd::Lost(why);
            }
            Err(_) => {}
        }
    }
}
