//! The shard-aware snowflake generator.
//!
//! Plain snowflake restarts the sequence at 0 every millisecond, so at low traffic nearly
//! every id ends in the same low bits and `id % 32`, `id / 32 % 32` put nearly every row in
//! one table. Here the sequence keeps counting from one id to the next, across milliseconds,
//! wrapping within its bits: the low bits cycle through every value whatever the rate, so
//! ids spread evenly over the tables. Ids still increase per worker: within one millisecond
//! the sequence never wraps (when it would, the generator waits for the next millisecond),
//! and across milliseconds the time bits above it have grown.

use std::sync::Mutex;

use crate::lease::LeaseValidity;
use crate::{Clock, IdError, Layout, SystemClock};

/// Clock steps back up to this many milliseconds are waited out by default.
pub const DEFAULT_TOLERANCE_MS: u64 = 5;

#[derive(Debug)]
struct State {
    /// Milliseconds since the epoch of the last id issued (or the floor a lease gave).
    last_time: u64,
    /// The last sequence value issued.
    sequence: u64,
}

/// One worker's generator. Cheap to share: one short lock per id.
pub struct Snowflake<C: Clock = SystemClock> {
    layout: Layout,
    worker: u64,
    clock: C,
    tolerance_ms: u64,
    lease: Option<LeaseValidity>,
    state: Mutex<State>,
}

impl<C: Clock> std::fmt::Debug for Snowflake<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snowflake")
            .field("layout", &self.layout)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl<C: Clock> Snowflake<C> {
    /// A generator for `worker`, waiting out clock steps back of up to `tolerance_ms`.
    pub fn new(layout: Layout, worker: u64, clock: C, tolerance_ms: u64) -> Result<Self, IdError> {
        if worker > layout.max_worker() {
            return Err(IdError::Layout(format!(
                "worker id {worker} does not fit {} worker bits",
                layout.worker_bits
            )));
        }
        // A random first sequence: proxies started together do not all begin at table 0.
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Ok(Snowflake {
            layout,
            worker,
            clock,
            tolerance_ms,
            lease: None,
            state: Mutex::new(State {
                last_time: 0,
                sequence: u64::from_le_bytes(seed) & layout.max_sequence(),
            }),
        })
    }

    /// Never issue an id from before `unix_ms`: the last time a previous holder of this
    /// worker id reported (a restart with the clock set back must not repeat its ids).
    pub fn with_floor(self, unix_ms: u64) -> Self {
        if let Ok(mut state) = self.state.lock() {
            state.last_time = state
                .last_time
                .max(unix_ms.saturating_sub(self.layout.epoch_ms));
        }
        self
    }

    /// Issue ids only while `lease` is valid.
    pub fn with_lease(mut self, lease: LeaseValidity) -> Self {
        self.lease = Some(lease);
        self
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The lease its worker id is held by, if it is leased.
    pub fn lease(&self) -> Option<&LeaseValidity> {
        self.lease.as_ref()
    }

    pub fn worker(&self) -> u64 {
        self.worker
    }

    /// Milliseconds since 1970 of the last id issued: what a lease heartbeat reports.
    pub fn last_unix_ms(&self) -> u64 {
        self.state
            .lock()
            .map_or(0, |s| s.last_time + self.layout.epoch_ms)
    }

    pub fn next_id(&self) -> Result<i64, IdError> {
        let mut one = [0i64];
        self.fill(&mut one)?;
        Ok(one[0])
    }

    /// Fills `out` with consecutive ids under one lock.
    pub fn fill(&self, out: &mut [i64]) -> Result<(), IdError> {
        if let Some(lease) = &self.lease {
            lease.check()?;
        }
        let mut state = self
            .state
            .lock()
            .map_err(|_| IdError::Layout("a generator thread panicked".into()))?;
        let max_sequence = self.layout.max_sequence();
        for slot in out.iter_mut() {
            loop {
                let now = self.clock.now_ms();
                let time = now
                    .checked_sub(self.layout.epoch_ms)
                    .filter(|t| *t <= self.layout.max_time())
                    .ok_or(IdError::TimeOutOfRange { now_ms: now })?;
                if time < state.last_time {
                    let behind_ms = state.last_time - time;
                    if behind_ms > self.tolerance_ms {
                        return Err(IdError::ClockMovedBackwards {
                            behind_ms,
                            tolerance_ms: self.tolerance_ms,
                        });
                    }
                    self.clock
                        .wait_until(state.last_time + self.layout.epoch_ms);
                    continue;
                }
                let sequence = (state.sequence + 1) & max_sequence;
                if time == state.last_time && sequence == 0 {
                    // The sequence would wrap within this millisecond: the next id would be
                    // smaller. Wait for the next millisecond.
                    self.clock
                        .wait_until(state.last_time + 1 + self.layout.epoch_ms);
                    continue;
                }
                state.last_time = time;
                state.sequence = sequence;
                *slot = self.layout.compose(time, self.worker, sequence);
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ManualClock;

    fn generator(clock: Arc<ManualClock>) -> Snowflake<Arc<ManualClock>> {
        Snowflake::new(Layout::default(), 7, clock, DEFAULT_TOLERANCE_MS).unwrap()
    }

    #[test]
    fn ids_increase_and_low_bits_cycle_at_one_id_per_second() {
        let start = Layout::default().epoch_ms + 1_000_000;
        let clock = Arc::new(ManualClock::new(start));
        let g = generator(clock.clone());
        let mut last = 0;
        let mut tables = std::collections::HashSet::new();
        for _ in 0..2048 {
            clock.advance(1000);
            let id = g.next_id().unwrap();
            assert!(id > last);
            last = id;
            tables.insert((id % 32, id / 32 % 32));
        }
        assert_eq!(tables.len(), 1024);
        assert_eq!(g.layout().decode(last).worker, 7);
    }

    #[test]
    fn a_frozen_clock_never_repeats_and_waits_at_the_wrap() {
        let start = Layout::default().epoch_ms + 5;
        let clock = Arc::new(ManualClock::new(start));
        let g = generator(clock.clone());
        let mut ids = vec![0; 10_000];
        g.fill(&mut ids).unwrap();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        // 10,000 ids need at least three milliseconds of 4,096.
        assert!(clock.now_ms() >= start + 2);
    }

    #[test]
    fn small_steps_back_are_waited_out_and_large_ones_refused() {
        let start = Layout::default().epoch_ms + 10_000;
        let clock = Arc::new(ManualClock::new(start));
        let g = generator(clock.clone());
        let before = g.next_id().unwrap();
        clock.set(start - 3);
        let after = g.next_id().unwrap();
        assert!(after > before);
        clock.set(start - 1_000);
        match g.next_id() {
            Err(IdError::ClockMovedBackwards { behind_ms, .. }) => assert!(behind_ms >= 999),
            other => panic!("{other:?}"),
        }
        // Once the clock is back past the last id, ids go on, still increasing.
        clock.set(start + 1);
        assert!(g.next_id().unwrap() > after);
    }

    #[test]
    fn a_floor_keeps_a_restarted_worker_above_its_predecessor() {
        let start = Layout::default().epoch_ms + 10_000;
        let clock = Arc::new(ManualClock::new(start));
        let g = generator(clock.clone()).with_floor(start + 3);
        // Within the tolerance: waited out.
        let id = g.next_id().unwrap();
        assert!(g.layout().decode(id).unix_ms >= start + 3);
        let g = generator(Arc::new(ManualClock::new(start))).with_floor(start + 60_000);
        assert!(matches!(
            g.next_id(),
            Err(IdError::ClockMovedBackwards { .. })
        ));
    }
}
