//! Wall-clock time in milliseconds since 1970, behind a trait so tests can move it back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Milliseconds since 1970-01-01 UTC.
    fn now_ms(&self) -> u64;

    /// Returns once `now_ms() >= target`.
    fn wait_until(&self, target: u64);
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn wait_until(&self, target: u64) {
        loop {
            let now = self.now_ms();
            if now >= target {
                return;
            }
            if target - now > 1 {
                std::thread::sleep(Duration::from_millis(target - now - 1));
            } else {
                // Less than a millisecond: spin, a sleep would overshoot.
                std::thread::yield_now();
            }
        }
    }
}

/// A clock that moves only when told to; waiting on it advances it to the target, as time
/// would.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    pub fn new(now_ms: u64) -> Self {
        ManualClock {
            now: AtomicU64::new(now_ms),
        }
    }

    pub fn set(&self, now_ms: u64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn wait_until(&self, target: u64) {
        self.now.fetch_max(target, Ordering::SeqCst);
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }

    fn wait_until(&self, target: u64) {
        (**self).wait_until(target)
    }
}
