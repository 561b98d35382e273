//! `KILL [QUERY | CONNECTION] id` of a shardgate session.
//!
//! A killed statement is not cut off in the proxy: its backends are told to interrupt it
//! (`KILL QUERY` of each backend thread the session holds, sent on a connection of its
//! own), so every answer still ends in step and the client gets MariaDB's ER_QUERY_INTERRUPTED
//! the way the statement would on one server; no new physical statement starts for it
//! after the kill. A killed connection is then closed with ER_CONNECTION_KILLED, what its
//! transaction did rolled back.
//!
//! A backend thread is told to stop only while the session holds its connection, and a
//! connection the kill named is closed, never pooled again: `KILL QUERY` cannot reach a
//! connection that has gone on to serve another client.
//!
//! A `KILL QUERY` that reaches a backend thread between two statements is lost (MariaDB
//! starts each statement unkilled), and one physical statement may still be on its way
//! when the kill is sent; so while the killed command runs, the kill is sent again, more
//! and more rarely, to every thread it holds then.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::backend::Pool;

/// One session's kill state and the backend connections it holds.
#[derive(Default)]
pub struct KillSwitch {
    state: Mutex<KillState>,
    /// Wakes the session's loop for a killed connection.
    wake: Notify,
}

#[derive(Default)]
struct KillState {
    held: Vec<Held>,
    next_mark: u64,
    /// The running command is interrupted: no new physical statement starts for it.
    query_killed: bool,
    /// Counts the session's commands: a kill is sent again only to the one it killed.
    command: u64,
    /// A command runs now.
    running: bool,
    /// The session is to end.
    connection_killed: bool,
}

/// A backend connection a session holds: where to send `KILL QUERY`, and whether a kill
/// named it.
struct Held {
    mark: u64,
    pool: Arc<Pool>,
    thread: u32,
    killed: bool,
}

/// A backend thread to interrupt.
pub struct BackendThread {
    pub pool: Arc<Pool>,
    pub thread: u32,
}

impl KillSwitch {
    fn lock(&self) -> std::sync::MutexGuard<'_, KillState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A command starts: an earlier KILL QUERY does not reach it.
    pub fn command_starts(&self) {
        let mut state = self.lock();
        state.query_killed = false;
        state.command += 1;
        state.running = true;
    }

    /// The command ended: a kill of it is not sent again.
    pub fn command_ends(&self) {
        self.lock().running = false;
    }

    /// Whether the running command was killed.
    pub fn query_killed(&self) -> bool {
        self.lock().query_killed
    }

    pub fn connection_killed(&self) -> bool {
        self.lock().connection_killed
    }

    /// Marks the running command (and, with `connection`, the session) killed; returns
    /// the command killed and the backend threads to interrupt, each connection named then
    /// closed when let go.
    pub fn kill(&self, connection: bool) -> (u64, Vec<BackendThread>) {
        let killed = {
            let mut state = self.lock();
            state.query_killed = true;
            state.connection_killed |= connection;
            (state.command, state.name_held())
        };
        if connection {
            self.wake.notify_one();
        }
        killed
    }

    /// The threads to interrupt again while `command` still runs; `None` once it ended.
    pub fn kill_again(&self, command: u64) -> Option<Vec<BackendThread>> {
        let mut state = self.lock();
        (state.running && state.command == command && state.query_killed).then(|| state.name_held())
    }

    /// Completes once the session is killed (at once if it already was).
    pub async fn connection_kill(&self) {
        loop {
            if self.connection_killed() {
                return;
            }
            self.wake.notified().await;
        }
    }

    /// Records a connection the session now holds; let go with [`HeldMark::release`].
    pub fn hold(self: &Arc<Self>, pool: Arc<Pool>, thread: u32) -> HeldMark {
        let mut state = self.lock();
        state.next_mark += 1;
        let mark = state.next_mark;
        state.held.push(Held {
            mark,
            pool,
            thread,
            killed: false,
        });
        HeldMark {
            switch: Some(self.clone()),
            mark,
        }
    }
}

impl KillState {
    /// Names every held connection in a kill (it is closed when let go); their threads.
    fn name_held(&mut self) -> Vec<BackendThread> {
        self.held
            .iter_mut()
            .map(|held| {
                held.killed = true;
                BackendThread {
                    pool: held.pool.clone(),
                    thread: held.thread,
                }
            })
            .collect()
    }
}

/// A held connection's entry in its session's [`KillSwitch`].
pub struct HeldMark {
    switch: Option<Arc<KillSwitch>>,
    mark: u64,
}

impl HeldMark {
    /// The session lets the connection go: returns whether a kill named it (then it must
    /// be closed, not pooled). Removal and the answer happen under one lock, so a kill
    /// either sees the connection still held (and it is closed) or not at all.
    pub fn release(&mut self) -> bool {
        let Some(switch) = self.switch.take() else {
            return false;
        };
        let mut state = switch.lock();
        match state.held.iter().position(|h| h.mark == self.mark) {
            Some(i) => state.held.swap_remove(i).killed,
            None => false,
        }
    }
}

impl Drop for HeldMark {
    fn drop(&mut self) {
        self.release();
    }
}

/// Interrupts `command` of the session `switch` belongs to: `threads` now, then the
/// threads it holds again after 50 ms, 100 ms, ... (at most a second apart) while the
/// command runs, for at most [`KILL_RETRY_FOR`].
pub async fn interrupt_command(switch: Arc<KillSwitch>, command: u64, threads: Vec<BackendThread>) {
    interrupt(threads).await;
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(50);
    while started.elapsed() < KILL_RETRY_FOR {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(1));
        match switch.kill_again(command) {
            Some(threads) => interrupt(threads).await,
            None => return,
        }
    }
}

/// How long a kill is sent again while its command still runs.
pub const KILL_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// Sends `KILL QUERY` for each thread, side by side, each on a new connection of its own
/// (a full pool must not hold a kill up); failures are logged.
pub async fn interrupt(threads: Vec<BackendThread>) {
    let mut kills = tokio::task::JoinSet::new();
    for t in threads {
        kills.spawn(async move {
            if let Err(e) = t.pool.kill_query(t.thread).await {
                tracing::warn!(backend = %t.pool.backend.name, thread = t.thread, "KILL QUERY not sent: {e}");
            }
        });
    }
    while kills.join_next().await.is_some() {}
}
#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Arc<Pool> {
        let topology = shardgate_config::Topology::from_yaml(
            include_str!("../../examples/orders.yaml"),
            "orders.yaml",
        )
        .unwrap();
        Pool::new(topology.backends[0].clone())
    }

    #[test]
    fn a_kill_names_what_is_held_and_those_are_closed() {
        let switch = Arc::new(KillSwitch::default());
        let pool = pool();
        let mut before = switch.hold(pool.clone(), 7);
        let mut released = switch.hold(pool.clone(), 8);
        assert!(!released.release(), "let go before the kill: pooled");
        switch.command_starts();
        let (command, threads) = switch.kill(false);
        assert_eq!(threads.iter().map(|t| t.thread).collect::<Vec<_>>(), [7]);
        let again = switch.kill_again(command).expect("still running");
        assert_eq!(again.len(), 1);
        assert!(switch.query_killed() && !switch.connection_killed());
        let mut after = switch.hold(pool, 9);
        assert!(before.release(), "named by the kill: closed");
        assert!(!after.release(), "taken after the kill: not named");
        switch.command_ends();
        assert!(
            switch.kill_again(command).is_none(),
            "ended: not sent again"
        );
        switch.command_starts();
        assert!(!switch.query_killed());
    }
}
