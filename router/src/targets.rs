//! Sets of physical tables of one sharded layout, as a bitset over (database index, table
//! index) pairs. Condition evaluation only ever unions and intersects these, which keeps every
//! step sound: a row that satisfies the WHERE clause lives in a table of the set.

use shardgate_config::ShardedLayout;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetSet {
    tables_per_db: usize,
    len: usize,
    bits: Vec<u64>,
}

impl TargetSet {
    pub(crate) fn empty(layout: &ShardedLayout) -> Self {
        let len = layout.physical_table_count();
        TargetSet {
            tables_per_db: layout.tables.len(),
            len,
            bits: vec![0; len.div_ceil(64)],
        }
    }

    pub(crate) fn all(layout: &ShardedLayout) -> Self {
        let mut set = TargetSet::empty(layout);
        for (i, word) in set.bits.iter_mut().enumerate() {
            let remaining = set.len - i * 64;
            *word = if remaining >= 64 {
                u64::MAX
            } else {
                (1u64 << remaining) - 1
            };
        }
        set
    }

    pub(crate) fn insert(&mut self, db: usize, table: usize) {
        let i = db * self.tables_per_db + table;
        if i < self.len {
            self.bits[i / 64] |= 1 << (i % 64);
        }
    }

    pub(crate) fn union_with(&mut self, other: &TargetSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
    }

    pub(crate) fn intersect_with(&mut self, other: &TargetSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a &= b;
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(crate) fn is_all(&self) -> bool {
        self.count() == self.len
    }

    /// (database index, table index) pairs in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.bits.iter().enumerate().flat_map(move |(w, word)| {
            let mut word = *word;
            std::iter::from_fn(move || {
                if word == 0 {
                    return None;
                }
                let bit = word.trailing_zeros() as usize;
                word &= word - 1;
                let i = w * 64 + bit;
                Some((i / self.tables_per_db, i % self.tables_per_db))
            })
        })
    }
}
