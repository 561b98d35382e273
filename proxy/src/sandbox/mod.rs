//! Throwaway MariaDB servers for tests and demos.
//!
//! Each [`MariaDb`] lives in its own temporary directory: `mariadb-install-db` creates the data
//! directory, `mariadbd --no-defaults` serves it on a free 127.0.0.1 port with its socket in
//! that directory. Dropping it, also while a test panics, kills the server by its own pid and
//! removes the directory. Nothing here touches a server it did not start.

mod databases;
mod server;

pub use databases::{backend_opts, create_physical_databases};
pub use server::{MariaDb, SandboxError, SandboxOptions};
