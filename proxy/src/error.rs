//! The one error family of a statement that fails, whatever failed: the planner, a backend,
//! the merge or the proxy itself. Each records where it came from and whether sending the
//! statement again is safe, and [`StatementError::to_err_info`] is the one place that turns
//! it into the MySQL error (code, SQLSTATE, message) the client gets.

use shardgate_router::{KeyError, RouterError};

use crate::backend::{BackendError, BackendErrorKind};
use crate::engine::merge::stream::StreamError;
use crate::engine::merge::MergeError;
use crate::protocol::codes;
use crate::protocol::wire::ErrInfo;

/// MySQL's ER_OUT_OF_RESOURCES.
const ER_OUT_OF_RESOURCES: (u16, &str) = (1041, "HY000");
/// MySQL's ER_DATA_OUT_OF_RANGE.
const ER_DATA_OUT_OF_RANGE: (u16, &str) = (1690, "22003");
/// MySQL's ER_NO_DEFAULT_FOR_FIELD, for a row without its sharding key.
const ER_NO_DEFAULT_FOR_FIELD: (u16, &str) = (1364, "HY000");

/// Where an error came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The client's request (a malformed packet, an unknown statement handle).
    Client,
    /// The planner refused or could not plan the statement: nothing ran.
    Planner,
    /// The named backend.
    Backend(String),
    /// The merge of several shards' results.
    Merge,
    /// The proxy's own state (a migration that moved, a key generator).
    Proxy,
}

/// Why a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("{0}")]
    Planner(#[from] RouterError),
    #[error("{0}")]
    Backend(#[from] BackendError),
    /// The merge failed over `targets` physical tables under a memory limit of
    /// `memory_limit` bytes.
    #[error("{error}")]
    Merge {
        error: MergeError,
        targets: usize,
        memory_limit: usize,
    },
    /// COMMIT or ROLLBACK failed on one backend after it had succeeded on `ended`: those
    /// stay as they are (there is no atomic commit across backends yet).
    #[error("{error}")]
    PartlyEnded {
        error: BackendError,
        statement: String,
        ended: Vec<String>,
    },
    /// shardgate's own answer: a MySQL error code and SQLSTATE, and the message.
    #[error("{message}")]
    Proxy {
        code: (u16, &'static str),
        message: String,
        retry_safe: bool,
    },
    /// The client's request was malformed.
    #[error("{message}")]
    Client {
        code: (u16, &'static str),
        message: String,
    },
}

impl StatementError {
    pub fn proxy(code: (u16, &'static str), message: impl Into<String>) -> Self {
        StatementError::Proxy {
            code,
            message: message.into(),
            retry_safe: false,
        }
    }

    pub fn client(code: (u16, &'static str), message: impl Into<String>) -> Self {
        StatementError::Client {
            code,
            message: message.into(),
        }
    }

    pub fn origin(&self) -> Origin {
        match self {
            StatementError::Planner(_) => Origin::Planner,
            StatementError::Backend(e) | StatementError::PartlyEnded { error: e, .. } => {
                Origin::Backend(e.backend.clone())
            }
            StatementError::Merge {
                error: MergeError::Stream(StreamError::Backend(e)),
                ..
            } => Origin::Backend(e.backend.clone()),
            StatementError::Merge { .. } => Origin::Merge,
            StatementError::Proxy { .. } => Origin::Proxy,
            StatementError::Client { .. } => Origin::Client,
        }
    }

    /// Whether the statement surely did not change anything, so sending it again is safe:
    /// a refusal before anything ran, or a backend that was never reached.
    pub fn retry_safe(&self) -> bool {
        match self {
            StatementError::Planner(_) | StatementError::Client { .. } => true,
            StatementError::Backend(e) => e.retry_safe(),
            StatementError::PartlyEnded { .. } => false,
            StatementError::Merge { error, .. } => !matches!(
                error,
                MergeError::Stream(StreamError::Backend(e)) if !e.retry_safe()
            ),
            StatementError::Proxy { retry_safe, .. } => *retry_safe,
        }
    }

    /// The MySQL error the client gets.
    pub fn to_err_info(&self) -> ErrInfo {
        let (code, message) = match self {
            StatementError::Planner(e) => (router_code(e), format!("shardgate: {}", e.to_string().trim_start_matches("router: "))),
            StatementError::Backend(e) => return backend_err_info(e),
            StatementError::PartlyEnded {
                error,
                statement,
                ended,
            } => {
                let mut info = backend_err_info(error);
                let done = if statement.eq_ignore_ascii_case("ROLLBACK") {
                    "rolled back"
                } else {
                    "committed"
                };
                // A server's error says the statement failed there; a timeout or a lost
                // connection leaves it unknown (the server may still run what it was sent).
                let there = match error.kind {
                    BackendErrorKind::Server(_) => format!("on {} it was not", error.backend),
                    _ => format!("whether it was on {} is unknown", error.backend),
                };
                info.message = format!(
                    "{} (the transaction was already {done} on {}, which stays so; {there}: shardgate has no atomic commit across backends)",
                    info.message,
                    ended.join(", ")
                );
                return info;
            }
            StatementError::Merge {
                error,
                targets,
                memory_limit,
            } => match error {
                MergeError::NotSupported(reason) => (
                    codes::ER_NOT_SUPPORTED_YET,
                    format!("shardgate does not support {reason} yet"),
                ),
                MergeError::Overflow(message) => (ER_DATA_OUT_OF_RANGE, message.clone()),
                MergeError::Unordered(message) => (codes::ER_UNKNOWN_ERROR, message.clone()),
                MergeError::Stream(StreamError::Backend(e)) => return backend_err_info(e),
                MergeError::Stream(StreamError::OverBudget) => (
                    ER_OUT_OF_RESOURCES,
                    format!(
                        "shardgate: merging this SELECT over {targets} physical tables needs more than proxy.merge_memory_limit ({memory_limit} bytes); narrow it with the sharding key or a smaller LIMIT"
                    ),
                ),
                MergeError::Stream(StreamError::Shape(message)) => {
                    (codes::ER_NOT_SUPPORTED_YET, message.clone())
                }
                MergeError::Stream(StreamError::Aborted) => (
                    codes::ER_UNKNOWN_ERROR,
                    "shardgate: a shard statement did not run because an earlier one on its connection failed".to_string(),
                ),
            },
            StatementError::Proxy { code, message, .. }
            | StatementError::Client { code, message } => (*code, message.clone()),
        };
        ErrInfo::new(code.0, code.1, message)
    }
}

/// The error code of a planner refusal.
fn router_code(e: &RouterError) -> (u16, &'static str) {
    match e {
        // Default-deny: what the planner cannot parse is not run, whether the text is wrong
        // or is MySQL the parser does not know.
        RouterError::Parse(_) => codes::ER_NOT_SUPPORTED_YET,
        RouterError::Malformed(_) => codes::ER_PARSE_ERROR,
        RouterError::UnknownTable { .. } => codes::ER_NO_SUCH_TABLE,
        RouterError::ParamCount { .. } => codes::ER_WRONG_ARGUMENTS,
        RouterError::BadShardKey(_) | RouterError::InsertWithoutColumns { .. } => {
            ER_NO_DEFAULT_FOR_FIELD
        }
        RouterError::Keys(KeyError::NotReady { .. }) | RouterError::Keys(_) => {
            codes::ER_UNKNOWN_ERROR
        }
        _ => codes::ER_NOT_SUPPORTED_YET,
    }
}

/// A backend failure as the client sees it: the server's own error with its code and
/// SQLSTATE, or one that names the backend.
fn backend_err_info(e: &BackendError) -> ErrInfo {
    let (code, state) = match &e.kind {
        BackendErrorKind::Server(info) => return info.clone(),
        BackendErrorKind::Timeout(_) => codes::ER_QUERY_TIMEOUT,
        BackendErrorKind::Exhausted { .. } => codes::ER_CON_COUNT_ERROR,
        _ => codes::ER_BACKEND_UNAVAILABLE,
    };
    ErrInfo::new(code, state, format!("shardgate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_knows_its_origin_code_and_retry_safety() {
        let refused = StatementError::from(RouterError::Parse("x".into()));
        assert_eq!(refused.origin(), Origin::Planner);
        assert!(refused.retry_safe());
        assert_eq!(refused.to_err_info().code, 1235);
        let down = StatementError::from(BackendError::new(
            "b1",
            BackendErrorKind::Down("refused".into()),
        ));
        assert_eq!(down.origin(), Origin::Backend("b1".into()));
        assert!(down.retry_safe());
        assert_eq!(down.to_err_info().code, 2013);
        let timeout = StatementError::from(BackendError::new("b2", BackendErrorKind::Timeout(5)));
        assert!(!timeout.retry_safe(), "the statement may have run");
        let server = ErrInfo::new(1062, "23000", "Duplicate entry");
        let dup = StatementError::from(BackendError::new(
            "b1",
            BackendErrorKind::Server(server.clone()),
        ));
        assert_eq!(dup.to_err_info(), server);
        let merge = StatementError::Merge {
            error: MergeError::Stream(StreamError::OverBudget),
            targets: 1024,
            memory_limit: 10,
        };
        assert_eq!(merge.origin(), Origin::Merge);
        assert_eq!(merge.to_err_info().code, 1041);
        assert!(merge.to_err_info().message.contains("1024 physical tables"));
    }
}
