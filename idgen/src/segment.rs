//! Leaf-style segment ids: a proxy takes a range of `step` ids from the store and hands
//! them out from memory; once a tenth of the current range is used, the next range loads
//! in the background, so a caller almost never waits for the database. The step follows
//! the rate: a range that lasted under 15 minutes doubles the next step, one that lasted
//! over 30 minutes halves it, within the configured bounds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::segment_store::{SegmentRange, SegmentStore};

/// How long shutdown waits for a segment that is loading.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);
use crate::IdError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentConfig {
    pub step: u64,
    pub min_step: u64,
    pub max_step: u64,
    /// A range that lasted less than this doubles the step.
    pub grow_below: Duration,
    /// A range that lasted more than this halves the step.
    pub shrink_above: Duration,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            step: 1000,
            min_step: 1000,
            max_step: 1_000_000,
            grow_below: Duration::from_secs(15 * 60),
            shrink_above: Duration::from_secs(30 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    range: SegmentRange,
    /// The next id to hand out.
    next: i64,
    loaded_at: Instant,
}

impl Segment {
    fn empty() -> Self {
        Segment {
            range: SegmentRange { first: 1, last: 0 },
            next: 1,
            loaded_at: Instant::now(),
        }
    }

    fn len(&self) -> i64 {
        self.range.last - self.range.first + 1
    }
}

#[derive(Debug)]
struct Buffers {
    current: Segment,
    next: Option<Segment>,
    loading: bool,
    /// The step the next load asks for.
    step: u64,
    /// Why the last load failed, for the callers that waited for it.
    failure: Option<IdError>,
}

struct Inner<S> {
    tag: String,
    store: S,
    config: SegmentConfig,
    buffers: Mutex<Buffers>,
    loaded: Notify,
}

/// Ids of one `biz_tag`. Clones share the buffers.
pub struct SegmentGenerator<S: SegmentStore> {
    inner: Arc<Inner<S>>,
}

impl<S: SegmentStore> Clone for SegmentGenerator<S> {
    fn clone(&self) -> Self {
        SegmentGenerator {
            inner: self.inner.clone(),
        }
    }
}

impl<S: SegmentStore> SegmentGenerator<S> {
    pub fn new(tag: &str, store: S, config: SegmentConfig) -> Self {
        let step = config
            .step
            .clamp(config.min_step.max(1), config.max_step.max(1));
        SegmentGenerator {
            inner: Arc::new(Inner {
                tag: tag.to_string(),
                store,
                config,
                buffers: Mutex::new(Buffers {
                    current: Segment::empty(),
                    next: None,
                    loading: false,
                    step,
                    failure: None,
                }),
                loaded: Notify::new(),
            }),
        }
    }

    pub fn tag(&self) -> &str {
        &self.inner.tag
    }

    /// Ids in hand: what is left of the current segment plus the loaded next one.
    pub fn remaining(&self) -> u64 {
        self.inner.buffers.lock().map_or(0, |b| {
            let current = (b.current.range.last - b.current.next + 1).max(0);
            let next = b.next.map_or(0, |n| (n.range.last - n.next + 1).max(0));
            (current + next) as u64
        })
    }

    /// The step the next load will ask for.
    pub fn step(&self) -> u64 {
        self.inner.buffers.lock().map_or(0, |b| b.step)
    }

    /// The next id; waits for the store only when both buffers ran dry.
    pub async fn next_id(&self) -> Result<i64, IdError> {
        // The common case: one short lock, no waiting machinery.
        if let Ok(mut b) = self.inner.buffers.lock() {
            if let Some(id) = self.take(&mut b) {
                return Ok(id);
            }
        }
        self.next_id_waiting().await
    }

    async fn next_id_waiting(&self) -> Result<i64, IdError> {
        loop {
            let loaded = self.inner.loaded.notified();
            tokio::pin!(loaded);
            loaded.as_mut().enable();
            {
                let mut b = self.lock()?;
                if let Some(id) = self.take(&mut b) {
                    return Ok(id);
                }
                if let Some(next) = b.next.take() {
                    b.current = next;
                    continue;
                }
                if let Some(failure) = b.failure.take() {
                    return Err(failure);
                }
                self.start_load(&mut b);
            }
            loaded.await;
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Buffers>, IdError> {
        self.inner
            .buffers
            .lock()
            .map_err(|_| IdError::store(&self.inner.tag, "a generator thread panicked"))
    }

    /// `count` ids if the buffers hold them now (taking none otherwise, and starting a load
    /// so they soon will): for callers that cannot wait.
    pub fn try_take(&self, count: usize) -> Option<Vec<i64>> {
        let mut b = self.lock().ok()?;
        let available = |s: &Segment| (s.range.last - s.next + 1).max(0) as usize;
        let have = available(&b.current) + b.next.as_ref().map_or(0, available);
        if have < count {
            self.start_load(&mut b);
            return None;
        }
        let mut ids = Vec::with_capacity(count);
        while ids.len() < count {
            match self.take(&mut b) {
                Some(id) => ids.push(id),
                None => {
                    let next = b.next.take()?;
                    b.current = next;
                }
            }
        }
        Some(ids)
    }

    /// `count` ids, waiting for the store as often as needed.
    pub async fn take_many(&self, count: usize) -> Result<Vec<i64>, IdError> {
        let mut ids = Vec::with_capacity(count);
        while ids.len() < count {
            ids.push(self.next_id().await?);
        }
        Ok(ids)
    }

    /// An id from the current segment, starting the next one's load once a tenth is used.
    fn take(&self, b: &mut Buffers) -> Option<i64> {
        let segment = &mut b.current;
        if segment.next > segment.range.last {
            return None;
        }
        let id = segment.next;
        segment.next += 1;
        let used = segment.next - segment.range.first;
        if used * 10 >= segment.len() && b.next.is_none() && !b.loading {
            self.start_load(b);
        }
        Some(id)
    }

    fn start_load(&self, b: &mut Buffers) {
        if b.loading {
            return;
        }
        b.loading = true;
        // Adapt the step to how long the current segment is lasting.
        let config = &self.inner.config;
        if b.current.len() > 0 {
            let lasted = b.current.loaded_at.elapsed();
            if lasted < config.grow_below {
                b.step = (b.step * 2).min(config.max_step);
            } else if lasted > config.shrink_above {
                b.step = (b.step / 2).max(config.min_step);
            }
        }
        let step = b.step;
        let this = self.clone();
        tokio::spawn(async move {
            let result = this.inner.store.allocate(&this.inner.tag, step).await;
            if let Ok(mut b) = this.inner.buffers.lock() {
                b.loading = false;
                match result {
                    Ok(range) => {
                        b.next = Some(Segment {
                            range,
                            next: range.first,
                            loaded_at: Instant::now(),
                        })
                    }
                    Err(e) => b.failure = Some(e),
                }
            }
            this.inner.loaded.notify_waiters();
        });
    }

    /// Gives the unused ids at the top of the allocation back to the store, so a graceful
    /// restart wastes at most what was left of the current segment (nothing, when the next
    /// one had not loaded). Ids are no longer handed out afterwards.
    pub async fn shutdown(&self) -> Result<(), IdError> {
        // A segment still loading would be allocated after the give-back, and wasted: let
        // it land first (within reason).
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        loop {
            let landed = self.inner.loaded.notified();
            tokio::pin!(landed);
            landed.as_mut().enable();
            if !self.lock()?.loading || Instant::now() >= deadline {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), landed).await;
        }
        let (range, keep_last) = {
            let mut b = self.lock()?;
            let give = match b.next.take() {
                Some(next) => Some((next.range, next.range.first - 1)),
                None if b.current.next <= b.current.range.last => {
                    Some((b.current.range, b.current.next - 1))
                }
                None => None,
            };
            b.current = Segment::empty();
            b.failure = Some(IdError::store(
                &self.inner.tag,
                "the generator was shut down",
            ));
            match give {
                Some(g) => g,
                None => return Ok(()),
            }
        };
        self.inner
            .store
            .give_back(&self.inner.tag, range, keep_last)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySegmentStore;

    #[tokio::test]
    async fn ids_are_consecutive_across_segments_and_steps_grow() {
        let g = SegmentGenerator::new(
            "t",
            MemorySegmentStore::default(),
            SegmentConfig {
                step: 10,
                min_step: 10,
                max_step: 80,
                ..Default::default()
            },
        );
        let mut last = 0;
        for _ in 0..1000 {
            let id = g.next_id().await.unwrap();
            assert_eq!(id, last + 1);
            last = id;
        }
        // Segments lasted far under 15 minutes: the step grew to its cap.
        assert_eq!(g.step(), 80);
    }

    #[tokio::test]
    async fn shutdown_waits_for_a_segment_loading() {
        /// A store whose allocations take a while, as a busy server's do.
        struct Slow(Arc<MemorySegmentStore>);
        impl SegmentStore for Slow {
            async fn allocate(&self, tag: &str, step: u64) -> Result<SegmentRange, IdError> {
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.0.allocate(tag, step).await
            }
            async fn give_back(
                &self,
                tag: &str,
                range: SegmentRange,
                keep_last: i64,
            ) -> Result<bool, IdError> {
                self.0.give_back(tag, range, keep_last).await
            }
        }
        let config = SegmentConfig {
            step: 10,
            min_step: 10,
            max_step: 10,
            ..Default::default()
        };
        let store = Arc::new(MemorySegmentStore::default());
        let g = SegmentGenerator::new("t", Slow(store.clone()), config);
        // The first id starts loading the next segment; shut down while it loads.
        assert_eq!(g.next_id().await.unwrap(), 1);
        g.shutdown().await.unwrap();
        // Whatever was in flight has landed by now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = SegmentGenerator::new("t", store, config);
        // At most the rest of the current segment is wasted, not the one that was loading.
        assert!(again.next_id().await.unwrap() <= 11);
    }

    #[tokio::test]
    async fn shutdown_gives_back_what_is_unused() {
        let store = Arc::new(MemorySegmentStore::default());
        let g = SegmentGenerator::new("t", store.clone(), SegmentConfig::default());
        let first = g.next_id().await.unwrap();
        g.shutdown().await.unwrap();
        assert!(g.next_id().await.is_err());
        let again = SegmentGenerator::new("t", store, SegmentConfig::default());
        // Only the one id handed out is gone.
        assert_eq!(again.next_id().await.unwrap(), first + 1);
    }
}
