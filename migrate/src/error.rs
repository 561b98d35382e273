//! Why a migration step failed, and where: the state store, a named backend, the configs.

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The step does not follow from the migration's state.
    #[error("migrate: {0}")]
    State(String),
    /// Another process moved the state first: the step did nothing.
    #[error("migrate: the migration of `{0}` changed while this step ran; look at its status and try again")]
    Conflict(String),
    /// The two configs do not describe a migration shardgate can do.
    #[error("migrate: {0}")]
    Plan(String),
    /// A backend (or the state store on one) failed.
    #[error("migrate: backend {backend}: {message}")]
    Backend { backend: String, message: String },
}

impl MigrateError {
    pub(crate) fn backend(backend: &str, e: impl std::fmt::Display) -> Self {
        MigrateError::Backend {
            backend: backend.to_string(),
            message: e.to_string(),
        }
    }
}
