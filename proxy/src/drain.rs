//! Stopping without cutting work off: on SIGTERM the proxy stops accepting clients, lets
//! statements and open transactions finish for up to `proxy.shutdown_grace_ms`, closes each
//! client as soon as it is between transactions, and then rolls back what is left and
//! closes the rest, each with ER_SERVER_SHUTDOWN.

use tokio::sync::watch;

/// Where the proxy is in stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DrainState {
    Serving,
    /// No new clients; each session ends once it is between transactions.
    Draining,
    /// The grace period is over: sessions roll back and end now.
    Closing,
}

/// The proxy-wide switch every session watches.
#[derive(Debug)]
pub struct Drain {
    state: watch::Sender<DrainState>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            state: watch::Sender::new(DrainState::Serving),
        }
    }
}

impl Drain {
    pub fn set(&self, state: DrainState) {
        self.state.send_replace(state);
    }

    pub fn watch(&self) -> watch::Receiver<DrainState> {
        self.state.subscribe()
    }
}

/// Completes once the state is `at_least`; never, if the switch is gone.
pub async fn reached(mut rx: watch::Receiver<DrainState>, at_least: DrainState) {
    if rx.wait_for(|s| *s >= at_least).await.is_err() {
        std::future::pending::<()>().await;
    }
}
