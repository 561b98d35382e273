//! One client connection: the command loop, session state, and which backend connections it
//! holds. Statement handling is split by concern: `connect` (the connection phase),
//! `query` (COM_QUERY), `conns` (backend
//! connections, session settings, transactions), `metadata` (what shardgate answers itself),
//! `prepared` (the binary protocol).

mod admin;
mod catalog;
mod connect;
mod conns;
mod cross_join;
mod diagnostics;
mod dual_write;
mod execute;
mod explain;
mod kept_rows;
mod keys;
mod metadata;
mod prepared;
mod prepared_as_text;
mod query;
mod returning;
mod savepoints;
mod scatter;
mod sql_prepare;
pub(crate) mod state;
mod subquery;
mod subquery_values;
mod union;
pub mod vars;
mod window_functions;

use std::sync::Arc;

use mysql_common::constants::{CapabilityFlags, StatusFlags};
use shardgate_router::ShapeCache;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::backend::{BackendError, ConnFlags};
use crate::drain::DrainState;
use crate::error::StatementError;
use crate::protocol::codes;
use crate::protocol::command::ClientCommand;
use crate::protocol::handshake::{self, ClientHello, HandshakeError};
use crate::protocol::io::{PacketError, PacketReader, PacketWriter};
use crate::protocol::wire::{ErrInfo, OkInfo};
use crate::server::ProxyContext;

use self::state::SessionState;

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("client: {0}")]
    Packet(#[from] PacketError),
    #[error("client i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("tls: {0}")]
    Tls(String),
    /// The client sent COM_QUIT or closed the connection.
    #[error("client quit")]
    Quit,
    /// The client did not log in within `proxy.auth_timeout_ms`.
    #[error("the client did not log in in time")]
    AuthTimeout,
    /// A backend failed after part of a result reached the client: the client connection
    /// cannot be resynchronized and is closed.
    #[error("{0}")]
    Desynchronized(BackendError),
}

/// What the session's loop waits for next.
enum Next {
    Packet(Result<u8, PacketError>),
    /// The proxy is stopping (see [`crate::drain`]).
    Stop,
    /// The open transaction was idle past `proxy.idle_transaction_timeout_ms`.
    IdleTransaction,
    /// KILL CONNECTION of this session.
    Killed,
}

pub struct Session<R, W> {
    pub(crate) ctx: Arc<ProxyContext>,
    /// The rules this session's statements run on: the newest at each statement outside
    /// a transaction; a transaction keeps the ones it began with.
    pub(crate) rules: Arc<crate::rules::Rules>,
    pub(crate) reader: PacketReader<R>,
    pub(crate) writer: PacketWriter<W>,
    pub(crate) capabilities: CapabilityFlags,
    /// What the client has set up: settings, database, transaction, prepared statements.
    pub(crate) state: SessionState,
    /// Backend connections held by the open transaction, one per backend.
    pub(crate) pinned: crate::backend::ConnSet,
    pub(crate) cache: ShapeCache,
    /// Another statement of the client's multi-statement follows the one running: answers
    /// carry SERVER_MORE_RESULTS_EXISTS.
    pub(crate) more_results: bool,
    /// The running statement answered with an error (a multi-statement stops there).
    pub(crate) errored: bool,
    /// This session in the processlist, from when it serves.
    pub(crate) registered: Option<crate::session_registry::RegisteredSession>,
    /// The running command's plan: its kind and physical statements (for the slow log).
    pub(crate) last_plan: Option<(&'static str, usize)>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    fn new(
        ctx: Arc<ProxyContext>,
        reader: PacketReader<R>,
        writer: PacketWriter<W>,
        connection_id: u32,
        hello: ClientHello,
    ) -> Self {
        let rules = ctx.rules();
        let cache = ShapeCache::new(rules.topology.proxy.shape_cache_size);
        let mut state = SessionState::new(connection_id, hello.user, hello.database.clone());
        // The character set the client named in its handshake is its session's, as on
        // MariaDB: replayed on every backend connection like a SET NAMES.
        if let Some(names) = handshake_names(hello.collation) {
            state.vars.settings.insert("names".into(), names);
        }
        Session {
            ctx,
            rules,
            reader,
            writer,
            capabilities: hello.capabilities,
            state,
            pinned: Default::default(),
            cache,
            more_results: false,
            errored: false,
            registered: None,
            last_plan: None,
        }
    }

    /// The router for this statement: the proxy's own, or, while a table is cut over to a
    /// new layout, one that routes it by that layout.
    pub(crate) fn router(&self) -> shardgate_router::Router {
        match self.ctx.migrations.router() {
            Some(r) => r.router.clone(),
            None => self.rules.router.clone(),
        }
    }

    pub(crate) fn conn_flags(&self) -> ConnFlags {
        ConnFlags::from_client(self.capabilities)
    }

    pub(crate) fn deprecate_eof(&self) -> bool {
        self.capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    }

    /// Status flags for packets shardgate writes itself.
    pub(crate) fn status(&self) -> u16 {
        self.state
            .status(!self.pinned.is_empty(), self.more_results)
    }

    pub(crate) fn in_transaction(&self) -> bool {
        self.state.tx.explicit || !self.pinned.is_empty()
    }

    async fn run(mut self) -> Result<(), SessionError> {
        let identity = &self.state.identity;
        self.registered = Some(self.ctx.sessions.register(
            identity.connection_id,
            &identity.user,
            &identity.client_host,
            self.state.database.clone(),
        ));
        let kill = self
            .registered
            .as_ref()
            .map(|r| r.entry.kill.clone())
            .unwrap_or_default();
        let mut buf = Vec::with_capacity(4096);
        let drain = self.ctx.drain.watch();
        let idle_limit = self.rules.topology.proxy.idle_transaction_timeout;
        let result = loop {
            let in_transaction = self.in_transaction();
            // Stopping: a session between transactions ends now; one in a transaction may
            // finish it until the grace period is over.
            let stop_at = if in_transaction {
                DrainState::Closing
            } else {
                DrainState::Draining
            };
            if kill.connection_killed() {
                break self
                    .end_session(codes::ER_CONNECTION_KILLED, "Connection was killed")
                    .await;
            }
            if *drain.borrow() >= stop_at {
                break self
                    .end_session(codes::ER_SERVER_SHUTDOWN, "Server shutdown in progress")
                    .await;
            }
            let idle = async {
                match idle_limit {
                    Some(limit) if in_transaction => tokio::time::sleep(limit).await,
                    _ => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                read = self.reader.read(&mut buf) => Next::Packet(read),
                _ = crate::drain::reached(drain.clone(), stop_at) => Next::Stop,
                _ = idle => Next::IdleTransaction,
                _ = kill.connection_kill() => Next::Killed,
            };
            let read = match next {
                Next::Packet(read) => read,
                Next::Stop | Next::Killed => continue,
                Next::IdleTransaction => {
                    let message = format!(
                        "shardgate: the transaction was idle for more than {} ms (proxy.idle_transaction_timeout_ms): it was rolled back and the connection closed",
                        idle_limit.map_or(0, |l| l.as_millis())
                    );
                    break self
                        .end_session(codes::ER_CLIENT_INTERACTION_TIMEOUT, &message)
                        .await;
                }
            };
            match read {
                Ok(seq) => {
                    self.writer.seq = seq.wrapping_add(1);
                    match self.dispatch(&buf).await {
                        Ok(()) => {}
                        Err(e) => break Err(e),
                    }
                    if !self.reader.has_buffered() {
                        if let Err(e) = self.writer.flush().await {
                            break Err(e.into());
                        }
                    }
                }
                Err(PacketError::TooLarge { size, max }) => {
                    self.writer.seq = self.writer.seq.wrapping_add(1);
                    let message = format!(
                        "Got a packet bigger than 'max_allowed_packet' bytes ({size} > {max})"
                    );
                    let _ = self
                        .send_error(codes::ER_NET_PACKET_TOO_LARGE, &message)
                        .await;
                    let _ = self.writer.flush().await;
                    break Err(PacketError::TooLarge { size, max }.into());
                }
                Err(PacketError::Closed) => break Ok(()),
                Err(e) => break Err(e.into()),
            }
        };
        self.release_all().await;
        match result {
            Err(SessionError::Quit) => Ok(()),
            other => other,
        }
    }

    /// Ends the session on the proxy's initiative: what its transaction did is rolled back,
    /// and the client is told why before the connection closes (as a server tells a client
    /// it disconnects, in a packet with sequence id 0, which the client reads as the answer
    /// to whatever it sends next).
    async fn end_session(
        &mut self,
        code: (u16, &'static str),
        message: &str,
    ) -> Result<(), SessionError> {
        self.release_all().await;
        self.writer.seq = 0;
        let (code, state) = code;
        let _ = self.writer.error(&ErrInfo::new(code, state, message)).await;
        let _ = self.writer.flush().await;
        tracing::debug!(connection = self.state.identity.connection_id, "{message}");
        Ok(())
    }

    /// Applies one decoded client command.
    async fn dispatch(&mut self, packet: &[u8]) -> Result<(), SessionError> {
        let started = std::time::Instant::now();
        let command = ClientCommand::decode(packet);
        let name = command.name();
        if let Some(registered) = &self.registered {
            registered.entry.kill.command_starts();
            let (shown, info) = match &command {
                ClientCommand::Query(Some(sql)) => ("Query", *sql),
                ClientCommand::StmtPrepare(Some(sql)) => ("Prepare", *sql),
                ClientCommand::StmtExecute(_) => ("Execute", ""),
                _ => (name, ""),
            };
            registered
                .entry
                .start(shown, info, self.state.database.as_deref());
        }
        self.last_plan = None;
        if !self.in_transaction() {
            self.rules = self.ctx.rules();
        }
        let done = self.apply(command).await;
        if let Some(registered) = &self.registered {
            registered.entry.kill.command_ends();
            registered.entry.finish();
        }
        let elapsed = started.elapsed();
        crate::telemetry::command(name, self.errored || done.is_err(), elapsed);
        if self
            .rules
            .topology
            .log
            .slow_query
            .is_some_and(|limit| elapsed >= limit)
        {
            self.log_slow(packet, name, elapsed);
        }
        done
    }

    /// A slow command's log line: the statement (literals masked unless
    /// `log.slow_query_literals`; always masked where a password could be), the user, the
    /// plan's kind and physical statements, the time.
    fn log_slow(&self, packet: &[u8], command: &'static str, elapsed: std::time::Duration) {
        let sql = match ClientCommand::decode(packet) {
            ClientCommand::Query(Some(sql)) | ClientCommand::StmtPrepare(Some(sql)) => sql,
            _ => "",
        };
        let upper = sql.to_ascii_uppercase();
        let secret = upper.contains("PASSWORD") || upper.contains("IDENTIFIED");
        let text = if self.rules.topology.log.slow_query_literals && !secret {
            sql.to_string()
        } else {
            shardgate_router::normalize(sql).shape
        };
        let (plan, physical) = self.last_plan.unwrap_or(("none", 0));
        tracing::warn!(
            target: "shardgate::slow_query",
            connection = self.state.identity.connection_id,
            user = %self.state.identity.user,
            command,
            plan,
            physical_statements = physical,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            sql = %text,
            "slow query"
        );
    }

    /// Answers one decoded client command.
    async fn apply(&mut self, command: ClientCommand<'_>) -> Result<(), SessionError> {
        self.errored = false;
        if command.clears_diagnostics() {
            self.state.diagnostics.clear();
        }
        let not_utf8 = "statement text is not valid UTF-8";
        match command {
            ClientCommand::Empty => {
                self.send_error(codes::ER_MALFORMED_PACKET, "Malformed communication packet")
                    .await
            }
            ClientCommand::Quit => Err(SessionError::Quit),
            ClientCommand::InitDb(db) => self.init_db(&db).await,
            ClientCommand::Query(Some(sql))
                if self
                    .capabilities
                    .contains(CapabilityFlags::CLIENT_MULTI_STATEMENTS) =>
            {
                self.multi_statement(sql).await
            }
            ClientCommand::Query(Some(sql)) => self.com_query(sql).await,
            ClientCommand::Query(None) | ClientCommand::StmtPrepare(None) => {
                self.send_error(codes::ER_PARSE_ERROR, not_utf8).await
            }
            ClientCommand::FieldList { table, wildcard } => {
                self.forward_field_list(&table, wildcard).await
            }
            ClientCommand::Statistics => {
                let text = format!(
                    "Uptime: 1  Threads: 1  Questions: 0  shardgate backends: {}",
                    self.rules.pools.len()
                );
                self.writer.write(text.as_bytes()).await.map_err(Into::into)
            }
            ClientCommand::Ping => self.send_ok(OkInfo::default()).await,
            ClientCommand::ChangeUser(request) => self.change_user(request).await,
            ClientCommand::StmtPrepare(Some(sql)) => self.stmt_prepare(sql).await,
            ClientCommand::StmtExecute(request) => self.stmt_execute(request).await,
            ClientCommand::StmtSendLongData(piece) => {
                if let Some((id, param, data)) = piece {
                    self.stmt_send_long_data(id, param, data);
                }
                Ok(())
            }
            ClientCommand::StmtClose(id) => {
                self.stmt_close(id);
                Ok(())
            }
            ClientCommand::StmtReset(id) => self.stmt_reset(id).await,
            ClientCommand::SetOption(option) => self.set_option(option).await,
            ClientCommand::ResetConnection => self.reset_connection().await,
            ClientCommand::Unknown(other) => {
                let message = format!("Unknown command {other:#04x}");
                self.send_error(codes::ER_UNKNOWN_COM_ERROR, &message).await
            }
        }
    }

    /// A COM_QUERY that may hold several statements: each gets its own answer, all but the
    /// last with SERVER_MORE_RESULTS_EXISTS, and the run stops at the first error, as in MySQL.
    async fn multi_statement(&mut self, sql: &str) -> Result<(), SessionError> {
        let statements = shardgate_router::split_statements(sql);
        if statements.len() <= 1 {
            return self.com_query(sql).await;
        }
        let last = statements.len() - 1;
        for (i, statement) in statements.into_iter().enumerate() {
            self.more_results = i < last;
            self.errored = false;
            let result = self.com_query(statement).await;
            let stop = self.errored || result.is_err();
            self.more_results = false;
            result?;
            if stop {
                break;
            }
        }
        Ok(())
    }

    pub(crate) async fn send_ok(&mut self, mut ok: OkInfo) -> Result<(), SessionError> {
        ok.status |= self.status();
        if !self.state.tx.autocommit {
            ok.status &= !StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits();
        }
        self.writer.ok(&ok).await?;
        Ok(())
    }

    /// shardgate's own error answer.
    pub(crate) async fn send_error(
        &mut self,
        code: (u16, &'static str),
        message: &str,
    ) -> Result<(), SessionError> {
        self.send_failure(StatementError::proxy(code, message))
            .await
    }

    /// A failed statement's answer: the one place a failure becomes an error packet.
    pub(crate) async fn send_failure(&mut self, e: StatementError) -> Result<(), SessionError> {
        let info = e.to_err_info();
        tracing::debug!(
            origin = ?e.origin(),
            retry_safe = e.retry_safe(),
            code = info.code,
            "statement failed: {e}: {}",
            info.message
        );
        self.send_err_info(&info).await
    }

    /// Writes an error packet and records it as the statement's diagnostics.
    pub(crate) async fn send_err_info(&mut self, err: &ErrInfo) -> Result<(), SessionError> {
        self.errored = true;
        self.state.diagnostics.error(err.code, &err.message);
        self.writer.error(err).await?;
        Ok(())
    }

    pub(crate) async fn send_backend_error(
        &mut self,
        e: &BackendError,
    ) -> Result<(), SessionError> {
        self.send_failure(StatementError::Backend(e.clone())).await
    }

    async fn init_db(&mut self, db: &str) -> Result<(), SessionError> {
        let db = db.trim().trim_matches('`');
        if db.eq_ignore_ascii_case(&self.rules.topology.schema) {
            self.state.database = Some(self.rules.topology.schema.clone());
            self.send_ok(OkInfo::default()).await
        } else {
            self.send_error(codes::ER_BAD_DB_ERROR, &format!("Unknown database '{db}'"))
                .await
        }
    }

    async fn set_option(&mut self, option: Option<u16>) -> Result<(), SessionError> {
        match option {
            Some(0) => self.capabilities |= CapabilityFlags::CLIENT_MULTI_STATEMENTS,
            Some(1) => self
                .capabilities
                .remove(CapabilityFlags::CLIENT_MULTI_STATEMENTS),
            _ => {
                return self
                    .send_error(codes::ER_UNKNOWN_COM_ERROR, "Unknown COM_SET_OPTION value")
                    .await
            }
        }
        let status = self.status();
        self.writer.eof(0, status).await?;
        Ok(())
    }

    async fn reset_connection(&mut self) -> Result<(), SessionError> {
        self.release_all().await;
        self.state.vars = Default::default();
        self.state.tx.autocommit = true;
        self.state.tx.next = None;
        self.state.last_insert_id = 0;
        self.state.prepared.binary.clear();
        self.state.prepared.sql.clear();
        self.send_ok(OkInfo::default()).await
    }

    async fn change_user(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let Some(request) = crate::protocol::wire::Reader::new(body)
            .null_terminated()
            .map(|u| String::from_utf8_lossy(u).into_owned())
        else {
            return self
                .send_error(codes::ER_MALFORMED_PACKET, "Malformed COM_CHANGE_USER")
                .await;
        };
        // Re-authenticate with a fresh nonce through an auth switch.
        let nonce = handshake::random_nonce();
        let switch = handshake::auth_switch_request(
            shardgate_config::AuthPlugin::MysqlNativePassword,
            &nonce,
        );
        self.writer.write(&switch).await?;
        self.writer.flush().await?;
        let mut buf = Vec::new();
        let seq = self.reader.read(&mut buf).await?;
        self.writer.seq = seq.wrapping_add(1);
        let ok = self
            .rules
            .topology
            .users
            .iter()
            .find(|u| u.name == request)
            .is_some_and(|u| handshake::check_native_account(&nonce, u, &buf));
        if !ok {
            let message =
                format!("Access denied for user '{request}'@'shardgate' (using password: YES)");
            self.send_error(codes::ER_ACCESS_DENIED_ERROR, &message)
                .await?;
            self.writer.flush().await?;
            return Err(SessionError::Quit);
        }
        if let Some(registered) = &self.registered {
            registered.entry.set_user(&request);
        }
        self.state.identity.user = request;
        self.reset_connection().await
    }
}

/// `NAMES charset` for the collation a client's handshake names, when it is not utf8mb4
/// (what the pools' connections speak); `None` for utf8mb4 and for ids MariaDB would not
/// know. The collation itself is not named: MySQL 8's `utf8mb4_0900_*` are unknown to
/// MariaDB, and each character set's default is what MariaDB picks for a handshake too.
fn handshake_names(collation: u8) -> Option<String> {
    use mysql_common::collations::{Collation, CollationId};
    if collation == 0 {
        return None;
    }
    let charset = Collation::from(CollationId::from(u16::from(collation)))
        .charset()
        .to_string();
    let known = !charset.is_empty() && charset.bytes().all(|b| b.is_ascii_alphanumeric());
    (known && charset != "utf8mb4").then(|| format!("NAMES {charset}"))
}
