//! The backend side: our own MySQL client on mysql_common over tokio, and one pool per backend
//! server. Row packets stay raw bytes here; the executor relays them.

mod auth;
pub mod conn;
mod conn_set;
mod error;
mod pool;
pub mod statement_budget;
mod terminator;

pub use conn::{BackendConn, BackendStmt, ConnFlags};
pub use conn_set::ConnSet;
pub use error::{BackendError, BackendErrorKind};
pub use pool::{Pool, PooledConn};
