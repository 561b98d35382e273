//! One client's record of its rows: what the proxy acknowledged, and which rows an error
//! left uncertain (a write whose outcome the client cannot know).

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Acknowledged: the row exists with this amount.
    Row(i64),
    /// A write to it failed in a way that may or may not have applied.
    Unknown,
}

#[derive(Debug, Default)]
pub struct Ledger {
    pub rows: BTreeMap<i64, Expect>,
}

impl Ledger {
    pub fn acknowledged(&mut self, id: i64, amount: i64) {
        self.rows.insert(id, Expect::Row(amount));
    }

    pub fn uncertain(&mut self, id: i64) {
        self.rows.insert(id, Expect::Unknown);
    }

    /// A key this client may read or update: one it knows the amount of.
    pub fn known(&self, pick: usize) -> Option<(i64, i64)> {
        if self.rows.is_empty() {
            return None;
        }
        let (id, expect) = self.rows.iter().nth(pick % self.rows.len())?;
        match expect {
            Expect::Row(amount) => Some((*id, *amount)),
            Expect::Unknown => None,
        }
    }
}
