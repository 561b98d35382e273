//! How many prepared statements each pooled connection of one backend may keep.
//!
//! A logical statement over 1024 physical tables is up to 1024 backend statements, and every
//! pooled connection caches its own: 256 connections could hold 262,144 statements, where a
//! server left at its defaults allows 16,382 (`max_prepared_stmt_count`) in all and refuses
//! the next COM_STMT_PREPARE with ER_MAX_PREPARED_STMT_COUNT_REACHED (1461). The budget
//! starts generous; when the server says it is full, it drops to the server's limit shared
//! among the backend's open connections (halved: other clients of the server prepare
//! statements too), and every connection of the backend then keeps at most that many,
//! closing its least recently used statements when it next prepares or is taken from the
//! pool. It never grows back while the proxy runs (the server's limit rarely changes; a
//! restart of the proxy starts over).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Where a budget starts: one hot logical statement over 1,024 tables per connection.
pub const STATEMENTS_PER_CONNECTION: usize = 1024;
/// Where halving stops: below this, statements would be re-prepared on nearly every execute.
pub const MIN_STATEMENTS_PER_CONNECTION: usize = 2;

#[derive(Debug)]
pub struct StatementBudget {
    per_connection: AtomicUsize,
    /// The backend's connections open now.
    connections: AtomicUsize,
}

impl Default for StatementBudget {
    fn default() -> Self {
        StatementBudget {
            per_connection: AtomicUsize::new(STATEMENTS_PER_CONNECTION),
            connections: AtomicUsize::new(0),
        }
    }
}

impl StatementBudget {
    pub fn per_connection(&self) -> usize {
        self.per_connection.load(Ordering::Relaxed)
    }

    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        let _ = self
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// The server refused a statement for its `server_limit` while the budget was `seen`:
    /// the budget becomes half the limit shared among the open connections. A refusal while
    /// the budget is already that small changes nothing: it comes from connections that
    /// have not yet given back their excess (they do as they are next used), and shrinking
    /// again would cascade down to the minimum within milliseconds. Without a known limit,
    /// the budget halves, once for any number of connections that saw the same budget fail
    /// at the same time. The budget after.
    pub fn server_full(&self, seen: usize, server_limit: Option<usize>) -> usize {
        let connections = self.connections.load(Ordering::Relaxed).max(1);
        let smaller = match server_limit {
            Some(limit) => (limit / connections / 2).max(MIN_STATEMENTS_PER_CONNECTION),
            None => (seen / 2).max(MIN_STATEMENTS_PER_CONNECTION),
        };
        if smaller >= seen {
            return seen;
        }
        match self.per_connection.compare_exchange(
            seen,
            smaller,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => smaller,
            Err(now) => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_shrink_to_a_share_of_the_limit_once() {
        let budget = StatementBudget::default();
        assert_eq!(budget.server_full(1024, None), 512);
        // Another connection that saw 1024 fail at the same time does not shrink it again.
        assert_eq!(budget.server_full(1024, None), 512);
        for _ in 0..8 {
            budget.connection_opened();
        }
        // 100 statements over 8 connections, halved.
        assert_eq!(budget.server_full(512, Some(100)), 6);
        // Refusals while others still trim change nothing.
        for _ in 0..20 {
            let seen = budget.per_connection();
            assert_eq!(budget.server_full(seen, Some(100)), 6);
        }
        // A smaller limit (or more connections) shrinks it again, not below the minimum.
        assert_eq!(
            budget.server_full(6, Some(10)),
            MIN_STATEMENTS_PER_CONNECTION
        );
        for _ in 0..10 {
            budget.connection_closed();
        }
        assert_eq!(budget.connections.load(Ordering::Relaxed), 0);
    }
}
