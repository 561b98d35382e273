//! Throwaway MariaDB servers for tests and demos.
//!
//! Each [`MariaDb`] lives in its own temporary directory: a copy of the data directory
//! `mariadb-install-db` created once for the process (`template`), `mariadbd --no-defaults` serves it on a free 127.0.0.1 port with its socket in
//! that directory. Dropping it, also while a test panics, kills the server by its own pid and
//! removes the directory. Nothing here touches a server it did not start.

mod databases;
mod server;
mod template;

pub use databases::{backend_opts, create_physical_databases};
pub use server::{MariaDb, SandboxError, SandboxOptions};
