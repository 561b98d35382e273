//! The steps the proxy answers without running the client's statement on a backend as
//! written: session operations, metadata and probes. The planner makes them from the
//! decoded [`Command`](crate::command::Command); the session applies them to its state.

use crate::command::{Probe, SavepointOp, SetItem, Show, SqlPrepared};

/// A statement that changes the session's state. The session keeps it and replays it on
/// each backend connection as that connection joins (SET, the transaction's opening
/// statement, savepoints), so a pooled connection never carries it to another client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOp {
    /// SET: the settings it makes, each checked.
    Set(Vec<SetItem>),
    /// USE db (unquoted).
    Use(String),
    /// BEGIN / START TRANSACTION: the statement that opens it on each backend.
    Begin(String),
    Commit,
    Rollback,
    Savepoint(SavepointOp),
    /// PREPARE / EXECUTE / DEALLOCATE PREPARE as SQL.
    Prepared(SqlPrepared),
    /// `LOCK TABLES t READ, ...` naming logical tables (checked to exist): acknowledged and
    /// nothing more. Locking every physical table would stall every other client, and a
    /// backend's lock ends with its pooled connection; mariadb-dump's default mode needs no
    /// more, and `--single-transaction` is the consistent dump (README).
    LockTables(Vec<String>),
    /// `UNLOCK TABLES`: acknowledged.
    UnlockTables,
    /// `DO expr, ...`: the expressions (checked: no tables, allowed functions), evaluated
    /// by a backend as a SELECT whose rows are dropped.
    Do(String),
    /// `ALTER TABLE t DISABLE KEYS` / `ENABLE KEYS` (mariadb-dump wraps its INSERTs in
    /// them) on a logical table: acknowledged, as InnoDB ignores them.
    SwitchKeys(String),
}

/// A question about the logical schema or the server. Never answered on a transaction's
/// pinned connection: a catalog statement there would commit the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metadata {
    /// SHOW, DESC, DESCRIBE. A [`Show::Server`] carries the text a backend runs.
    Show(Show),
    /// A SELECT over `information_schema`, rewritten to run in the catalog database
    /// ([`crate::command::CATALOG_DATABASE`]).
    InformationSchema { catalog_sql: String },
    /// `EXPLAIN [modifiers] statement`: the statement's plan. One physical statement is
    /// explained by its backend (`EXPLAIN` of the physical SQL); several are described by
    /// the plan itself.
    Explain {
        modifiers: String,
        plan: Box<super::Plan>,
    },
}

/// A question the session answers from what it knows, or the proxy from its generators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeStep {
    /// `SELECT DATABASE(), USER(), @@var ...`.
    Values(Probe),
    /// `SELECT NEXTVAL('generator')`.
    NextVal(String),
}
