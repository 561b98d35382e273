//! Backend errors know which backend they came from and whether retrying is safe.

use crate::protocol::wire::ErrInfo;

#[derive(Debug, Clone, thiserror::Error)]
#[error("backend {backend}: {kind}")]
pub struct BackendError {
    /// The backend's name in the config.
    pub backend: String,
    pub kind: BackendErrorKind,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendErrorKind {
    /// The server answered with an error: it reaches the client with its code and SQLSTATE.
    #[error("{}", .0.message)]
    Server(ErrInfo),
    #[error("connection failed: {0}")]
    Io(String),
    #[error("unexpected packet: {0}")]
    Protocol(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// Every pooled connection stayed in use while the statement waited for one.
    #[error("all {max} connections of its pool are in use (waited {waited_ms} ms): open transactions hold them; end them, raise pool.max_connections, or set proxy.idle_transaction_timeout_ms")]
    Exhausted { max: u32, waited_ms: u64 },
    /// Recent connection attempts failed; the pool waits before trying again.
    #[error("is down ({0}); retrying in the background")]
    Down(String),
    #[error("authentication failed: {0}")]
    Auth(String),
}

impl BackendError {
    pub fn new(backend: &str, kind: BackendErrorKind) -> Self {
        BackendError {
            backend: backend.to_string(),
            kind,
        }
    }

    /// Whether the statement surely did not run, so sending it again elsewhere is safe.
    pub fn retry_safe(&self) -> bool {
        matches!(
            self.kind,
            BackendErrorKind::Down(_)
                | BackendErrorKind::Auth(_)
                | BackendErrorKind::Exhausted { .. }
        )
    }

    /// The MySQL error code, when the server answered with an error.
    pub fn server_code(&self) -> Option<u16> {
        match &self.kind {
            BackendErrorKind::Server(info) => Some(info.code),
            _ => None,
        }
    }

    /// Whether the connection that produced this error must be thrown away.
    pub fn breaks_connection(&self) -> bool {
        !matches!(self.kind, BackendErrorKind::Server(_))
    }
}
