//! The statement-shape cache: shape text -> analyzed template.
//!
//! One cache per client session: the hot path then takes no lock shared across connections
//! (the performance budget in ARCHITECTURE.md). Sessions of one application repeat the same
//! few hundred shapes, so a small bounded cache per session hits nearly always.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::template::Template;

#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Template(Arc<Template>),
    /// The shape does not parse, or its plan depends on a literal's value: route the original
    /// text instead.
    Unshaped,
}

/// A bounded map of shapes, evicting the oldest entry first.
#[derive(Debug)]
pub struct ShapeCache {
    capacity: usize,
    map: HashMap<String, Entry>,
    order: VecDeque<String>,
    hits: u64,
    misses: u64,
    /// The topology the cached templates were analyzed for.
    topology: u64,
}

impl ShapeCache {
    pub fn new(capacity: usize) -> Self {
        ShapeCache {
            capacity: capacity.max(1),
            // Grown as shapes come: most sessions use a handful, and a proxy holds
            // thousands of sessions.
            map: HashMap::new(),
            order: VecDeque::new(),
            hits: 0,
            misses: 0,
            topology: 0,
        }
    }

    /// Empties the cache when the router's topology is not the one it was filled for (a
    /// reloaded config).
    pub(crate) fn use_topology(&mut self, topology: u64) {
        if self.topology != topology {
            self.map.clear();
            self.order.clear();
            self.topology = topology;
        }
    }

    pub(crate) fn get(&mut self, shape: &str) -> Option<Entry> {
        let entry = self.map.get(shape).cloned();
        if entry.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        entry
    }

    pub(crate) fn insert(&mut self, shape: String, entry: Entry) {
        if self.map.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        self.order.push_back(shape.clone());
        self.map.insert(shape, entry);
    }

    /// (hits, misses) since the cache was made.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Default for ShapeCache {
    fn default() -> Self {
        ShapeCache::new(512)
    }
}
