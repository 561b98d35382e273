//! The backend connections a client's transaction holds: at most one per backend, taken
//! for each of its statements there and held again after, until COMMIT or ROLLBACK ends the
//! transaction on each of them, in backend order.

use std::collections::BTreeMap;

use super::PooledConn;

#[derive(Default)]
pub struct ConnSet {
    held: BTreeMap<usize, PooledConn>,
}

impl ConnSet {
    /// The connection held on `backend`, taken out for a statement.
    pub fn take(&mut self, backend: usize) -> Option<PooledConn> {
        self.held.remove(&backend)
    }

    /// Holds `conn` as the transaction's connection on `backend`.
    pub fn hold(&mut self, backend: usize, conn: PooledConn) {
        self.held.insert(backend, conn);
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The backends the transaction has touched, in order.
    pub fn backends(&self) -> impl Iterator<Item = usize> + '_ {
        self.held.keys().copied()
    }

    pub fn get_mut(&mut self, backend: usize) -> Option<&mut PooledConn> {
        self.held.get_mut(&backend)
    }

    /// Every held connection, in backend order, to end the transaction on.
    pub fn release(&mut self) -> Vec<(usize, PooledConn)> {
        std::mem::take(&mut self.held).into_iter().collect()
    }
}
