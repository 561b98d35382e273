//! The server shardgate says it is, in the greeting and in `VERSION()`, one story told twice.
//!
//! shardgate is MariaDB to its clients: its backends are MariaDB 10.11, so what a client
//! learns from the version (RETURNING, the `/*M!` comments it may write, MariaDB's variable
//! names) holds on them. The greeting carries the `5.5.5-` prefix MariaDB 10 sends, which
//! MySQL-only clients read as 5.5.5 and MariaDB-aware clients strip.

macro_rules! mariadb_version {
    () => {
        "10.11.99-MariaDB-shardgate-0.1.0"
    };
}

/// What `VERSION()` and `@@version` answer.
pub const SERVER_VERSION: &str = mariadb_version!();

/// The version in the handshake greeting.
pub const GREETING_VERSION: &str = concat!("5.5.5-", mariadb_version!());

/// The server version as MariaDB writes it in executable comments (`/*!NNNNNN ... */`,
/// `/*M!NNNNNN ... */`): 10.11.99.
pub const VERSION_ID: u32 = 101_199;
