//! What a client session has set up, in one place: who it is, its settings, its current
//! database, its transaction, its prepared statements and its last statement's diagnostics.
//! The loop in `session` reads commands and answers them; this is the state those answers
//! read and change. Everything here is tracked so that it can be answered from the proxy
//! (`SELECT DATABASE()`, `@@autocommit`, SHOW WARNINGS) and re-created as valid statements
//! on whichever backend connection runs the client's next statement; state that cannot be
//! tracked never gets here (the statement that would make it is refused, or the backend
//! connection that carries it is reset before another client gets it).

use std::collections::HashMap;
use std::sync::Arc;

use mysql_common::constants::StatusFlags;

use super::diagnostics::Diagnostics;
use super::dual_write::PendingKeys;
use super::prepared::ClientStatements;
use super::savepoints::Savepoints;
use super::vars::SessionVars;

/// Who the client is, fixed at login.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) connection_id: u32,
    pub(crate) user: String,
    /// The client's address as `USER()` reports it.
    pub(crate) client_host: String,
}

/// The transaction the client has open (or the settings for its next one).
#[derive(Default)]
pub(crate) struct TransactionState {
    pub(crate) autocommit: bool,
    /// BEGIN / START TRANSACTION is open (explicitly).
    pub(crate) explicit: bool,
    /// `SET TRANSACTION ...` for the next transaction only.
    pub(crate) next: Option<String>,
    /// What starts the open explicit transaction on each backend it touches
    /// (`START TRANSACTION READ ONLY`, after a pending `SET TRANSACTION ...`).
    pub(crate) begin_sql: Vec<String>,
    /// The open transaction's savepoints, set on each backend as it joins.
    pub(crate) savepoints: Savepoints,
    /// Keys the open transaction wrote in tables being migrated: copied to the following
    /// layout when it commits.
    pub(crate) pending_keys: Vec<PendingKeys>,
}

/// Statements the client prepared: with COM_STMT_PREPARE (by id), and with SQL
/// `PREPARE name FROM ...` (by lower-cased name).
#[derive(Default)]
pub(crate) struct PreparedStatements {
    pub(crate) binary: ClientStatements,
    pub(crate) sql: HashMap<String, Arc<shardgate_router::Template>>,
}

pub(crate) struct SessionState {
    pub(crate) identity: Identity,
    pub(crate) vars: SessionVars,
    /// The current database: the logical schema, or none.
    pub(crate) database: Option<String>,
    pub(crate) tx: TransactionState,
    pub(crate) last_insert_id: u64,
    /// The first key generated for the statement running, for its OK packet.
    pub(crate) generated_insert_id: Option<u64>,
    pub(crate) prepared: PreparedStatements,
    /// The last statement's warnings and errors.
    pub(crate) diagnostics: Diagnostics,
}

impl SessionState {
    pub(crate) fn new(connection_id: u32, user: String, database: Option<String>) -> Self {
        SessionState {
            identity: Identity {
                connection_id,
                user,
                client_host: "shardgate".into(),
            },
            vars: SessionVars::default(),
            database,
            tx: TransactionState {
                autocommit: true,
                ..Default::default()
            },
            last_insert_id: 0,
            generated_insert_id: None,
            prepared: PreparedStatements::default(),
            diagnostics: Diagnostics::default(),
        }
    }

    /// What the planner is told of the session: the facts session functions inside a
    /// statement are answered with. `with_last_insert_id`: the statement runs now (not
    /// prepared for later), so `LAST_INSERT_ID()` has a fixed value.
    pub(crate) fn facts(&self, with_last_insert_id: bool) -> shardgate_router::SessionFacts<'_> {
        shardgate_router::SessionFacts {
            database: self.database.as_deref(),
            user: &self.identity.user,
            client_host: &self.identity.client_host,
            connection_id: self.identity.connection_id,
            last_insert_id: with_last_insert_id.then_some(self.last_insert_id),
        }
    }

    /// Status flags for packets shardgate writes itself. `pinned` says whether backend
    /// connections are held by an open (implicit or explicit) transaction.
    pub(crate) fn status(&self, pinned: bool, more_results: bool) -> u16 {
        let mut s = StatusFlags::empty();
        if self.tx.autocommit {
            s |= StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        }
        if self.tx.explicit || pinned {
            s |= StatusFlags::SERVER_STATUS_IN_TRANS;
        }
        if more_results {
            s |= StatusFlags::SERVER_MORE_RESULTS_EXISTS;
        }
        s.bits()
    }
}
