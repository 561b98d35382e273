//! Failed logins slow down per client address, in the manner of MySQL's connection_control
//! plugin: after [`THRESHOLD`] failures in a row from one address, every further attempt
//! from it waits a second more per failure (up to [`MAX_DELAY`]) before it is answered, so
//! guessing passwords costs time, in parallel too. A successful login clears the count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Failures from one address answered at once.
pub const THRESHOLD: u32 = 3;
/// The longest wait (within the default 10 s `proxy.auth_timeout_ms`).
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Addresses remembered at most; past it the oldest knowledge is dropped wholesale.
const MAX_ADDRESSES: usize = 100_000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, u32>>,
}

impl LoginThrottle {
    /// How long an attempt from `ip` waits before it is answered.
    pub fn delay(&self, ip: IpAddr) -> Duration {
        let failures = self
            .failures
            .lock()
            .map_or(0, |f| f.get(&ip).copied().unwrap_or(0));
        let over = failures.saturating_sub(THRESHOLD - 1);
        Duration::from_secs(u64::from(over)).min(MAX_DELAY)
    }

    pub fn failed(&self, ip: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&ip) {
                failures.clear();
            }
            let count = failures.entry(ip).or_insert(0);
            *count = count.saturating_add(1);
        }
    }

    pub fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_the_threshold_and_clear_on_success() {
        let throttle = LoginThrottle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..THRESHOLD - 1 {
            throttle.failed(ip);
        }
        assert_eq!(throttle.delay(ip), Duration::ZERO);
        throttle.failed(ip);
        assert_eq!(throttle.delay(ip), Duration::from_secs(1));
        throttle.failed(ip);
        assert_eq!(throttle.delay(ip), Duration::from_secs(2));
        for _ in 0..20 {
            throttle.failed(ip);
        }
        assert_eq!(throttle.delay(ip), MAX_DELAY);
        assert_eq!(throttle.delay(other), Duration::ZERO);
        throttle.succeeded(ip);
        assert_eq!(throttle.delay(ip), Duration::ZERO);
    }
}
