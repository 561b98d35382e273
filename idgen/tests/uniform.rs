//! Ids spread evenly over the 32 x 32 tables at any rate: Pearson's chi-square against
//! uniform over the 1024 (id % 32, id / 32 % 32) pairs must not reject (p > 0.001), at one id
//! per simulated second and at full speed; and a generator's ids only increase.

use std::sync::Arc;

use shardgate_idgen::stats::Spread;
use shardgate_idgen::{Layout, ManualClock, Snowflake, SystemClock};

#[test]
fn one_id_per_simulated_second_spreads_evenly() {
    let layout = Layout::default();
    let clock = Arc::new(ManualClock::new(layout.epoch_ms + 86_400_000));
    let g = Snowflake::new(layout, 3, clock.clone(), 5).unwrap();
    let mut spread = Spread::default();
    let mut last = 0;
    for _ in 0..102_400 {
        clock.advance(1000);
        let id = g.next_id().unwrap();
        assert!(id > last);
        last = id;
        spread.add(id);
    }
    assert_eq!(spread.empty(), 0);
    let p = spread.p_value();
    assert!(p > 0.001, "chi-square {} p {p}", spread.chi_square());
}

#[test]
fn full_speed_spreads_evenly_and_increases() {
    let g = Snowflake::new(Layout::default(), 9, SystemClock, 5).unwrap();
    let mut ids = vec![0i64; 1 << 20];
    for chunk in ids.chunks_mut(4096) {
        g.fill(chunk).unwrap();
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let mut spread = Spread::default();
    ids.iter().for_each(|&id| spread.add(id));
    let p = spread.p_value();
    assert!(p > 0.001, "chi-square {} p {p}", spread.chi_square());
}

#[test]
fn plain_snowflake_would_fail_the_same_test() {
    // The trap the shard-aware sequence avoids: a sequence restarting at 0 each millisecond
    // at one id per second puts every id in table (0, 0).
    let layout = Layout::default();
    let mut spread = Spread::default();
    for second in 0..10_240u64 {
        spread.add(layout.compose(second * 1000, 3, 0));
    }
    assert!(spread.p_value() < 1e-12);
}

#[test]
fn concurrent_workers_never_collide() {
    let layout = Layout::default();
    let handles: Vec<_> = (0..8u64)
        .map(|worker| {
            std::thread::spawn(move || {
                let g = Snowflake::new(layout, worker, SystemClock, 5).unwrap();
                let mut ids = vec![0i64; 50_000];
                for chunk in ids.chunks_mut(1000) {
                    g.fill(chunk).unwrap();
                }
                ids
            })
        })
        .collect();
    let mut all = std::collections::HashSet::new();
    for h in handles {
        let ids = h.join().unwrap();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for id in ids {
            assert!(all.insert(id), "duplicate {id}");
        }
    }
    assert_eq!(all.len(), 400_000);
}

/// The layout for clients that read BIGINT into a double (JavaScript without big-number
/// options): 41 bits of time, 2 of worker, 10 of sequence keeps every id below 2^53, exact in
/// a double, and still spreads evenly over the 32 x 32 tables.
#[test]
fn a_javascript_safe_layout_stays_below_2_53_and_spreads_evenly() {
    let layout = Layout::new(Layout::default().epoch_ms, 41, 2, 10).unwrap();
    // The last millisecond the 41 time bits hold, the highest worker and sequence.
    let highest = layout.compose(
        layout.max_time(),
        layout.max_worker(),
        layout.max_sequence(),
    );
    assert!(highest < 1 << 53, "{highest}");
    assert_eq!(highest as f64 as i64, highest);
    let clock = Arc::new(ManualClock::new(layout.epoch_ms + 86_400_000));
    let g = Snowflake::new(layout, 3, clock.clone(), 5).unwrap();
    let mut spread = Spread::default();
    for _ in 0..102_400 {
        clock.advance(1000);
        let id = g.next_id().unwrap();
        assert!(id < 1 << 53);
        spread.add(id);
    }
    assert_eq!(spread.empty(), 0);
    assert!(
        spread.p_value() > 0.001,
        "chi-square {}",
        spread.chi_square()
    );
    // And a fifth worker does not fit.
    assert!(Snowflake::new(layout, 4, clock, 5).is_err());
}
