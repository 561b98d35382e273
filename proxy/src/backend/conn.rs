//! One connection to a backend server, speaking the client side of the protocol.

use std::collections::BTreeMap;
use std::time::Duration;

use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthPlugin, HandshakePacket, HandshakeResponse};
use mysql_common::proto::MySerialize;
use shardgate_config::Backend;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::auth::auth_response;
use super::error::{BackendError, BackendErrorKind};
use crate::protocol::io::{PacketError, PacketReader, PacketWriter};
use crate::protocol::wire::{self, OkInfo, Reader};

mod prepared;

/// Capabilities that change what a backend connection's results look like. A pooled
/// connection serves only sessions that want the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnFlags {
    /// CLIENT_FOUND_ROWS: UPDATE reports matched rather than changed rows.
    pub found_rows: bool,
    /// CLIENT_DEPRECATE_EOF: result sets end with an OK packet instead of EOF.
    pub deprecate_eof: bool,
}

pub use super::terminator::{is_terminator, terminator_status, terminator_warnings};

impl ConnFlags {
    pub fn from_client(caps: CapabilityFlags) -> Self {
        ConnFlags {
            found_rows: caps.contains(CapabilityFlags::CLIENT_FOUND_ROWS),
            deprecate_eof: caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
        }
    }
}

/// A statement prepared on one backend connection.
#[derive(Debug, Clone, Copy)]
pub struct BackendStmt {
    pub id: u32,
    pub params: u16,
    pub columns: u16,
}

pub struct BackendConn {
    pub(crate) reader: PacketReader<OwnedReadHalf>,
    pub(crate) writer: PacketWriter<OwnedWriteHalf>,
    /// The backend's name, for errors.
    pub name: String,
    pub connection_id: u32,
    pub flags: ConnFlags,
    /// Session settings applied on this connection, by variable (see `session::vars`).
    pub applied: BTreeMap<String, String>,
    /// The server's status flags after the last statement.
    pub status: StatusFlags,
    /// Set when the connection can no longer be trusted (I/O error, half-read result).
    pub broken: bool,
    pub(crate) buf: Vec<u8>,
    /// Statements prepared on this connection, by their SQL, with when each was last used.
    pub prepared: std::collections::HashMap<String, (BackendStmt, u64)>,
    /// A counter for least-recently-used eviction of prepared statements.
    uses: u64,
    /// How many prepared statements this connection may keep (shared by the backend's pool).
    pub(crate) statement_budget: std::sync::Arc<super::statement_budget::StatementBudget>,
    /// When the connection went back to the pool.
    pub idle_since: Option<std::time::Instant>,
    /// The backend's `query_timeout_ms`: bounds every round trip the proxy makes on its own
    /// (COMMIT, ROLLBACK, SET, reads for metadata), so a hung server fails them in time.
    pub query_timeout: Duration,
    /// When the last command went out, until its answer's first packet arrives.
    sent_at: Option<std::time::Instant>,
    /// The backend's response times (`shardgate_backend_response_seconds`).
    response_time: metrics::Histogram,
}

impl Drop for BackendConn {
    fn drop(&mut self) {
        self.statement_budget.connection_closed();
    }
}

impl BackendConn {
    pub async fn connect(
        backend: &Backend,
        flags: ConnFlags,
        timeout: Duration,
        statement_budget: std::sync::Arc<super::statement_budget::StatementBudget>,
    ) -> Result<Self, BackendError> {
        let err = |kind| BackendError::new(&backend.name, kind);
        let stream = tokio::time::timeout(timeout, TcpStream::connect(&backend.address))
            .await
            .map_err(|_| err(BackendErrorKind::Timeout(timeout.as_millis() as u64)))?
            .map_err(|e| err(BackendErrorKind::Io(e.to_string())))?;
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        let mut conn = BackendConn {
            reader: PacketReader::new(r, 1 << 30),
            writer: PacketWriter::new(w),
            name: backend.name.clone(),
            connection_id: 0,
            flags,
            applied: BTreeMap::new(),
            status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
            broken: false,
            buf: Vec::with_capacity(16 * 1024),
            prepared: Default::default(),
            uses: 0,
            statement_budget,
            idle_since: None,
            query_timeout: Duration::from_millis(backend.pool.query_timeout_ms),
            sent_at: None,
            response_time: crate::telemetry::backend_response_time(&backend.name),
        };
        conn.statement_budget.connection_opened();
        tokio::time::timeout(timeout, conn.handshake(backend))
            .await
            .map_err(|_| err(BackendErrorKind::Timeout(timeout.as_millis() as u64)))??;
        Ok(conn)
    }

    fn err(&self, kind: BackendErrorKind) -> BackendError {
        BackendError::new(&self.name, kind)
    }

    async fn handshake(&mut self, backend: &Backend) -> Result<(), BackendError> {
        let mut buf = Vec::new();
        self.reader.read(&mut buf).await.map_err(|e| self.io(e))?;
        if buf.first() == Some(&0xFF) {
            return Err(self.server_error(&buf));
        }
        let handshake: HandshakePacket<'_> = ParseBuf(&buf)
            .parse(())
            .map_err(|e| self.err(BackendErrorKind::Protocol(format!("bad handshake: {e}"))))?;
        self.connection_id = handshake.connection_id();
        let server_caps = handshake.capabilities();
        let mut caps = CapabilityFlags::CLIENT_LONG_PASSWORD
            | CapabilityFlags::CLIENT_LONG_FLAG
            | CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_TRANSACTIONS
            | CapabilityFlags::CLIENT_SECURE_CONNECTION
            | CapabilityFlags::CLIENT_MULTI_RESULTS
            | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
            | CapabilityFlags::CLIENT_PLUGIN_AUTH
            | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
        if self.flags.found_rows {
            caps |= CapabilityFlags::CLIENT_FOUND_ROWS;
        }
        if self.flags.deprecate_eof {
            caps |= CapabilityFlags::CLIENT_DEPRECATE_EOF;
        }
        if !server_caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) && self.flags.deprecate_eof
        {
            return Err(self.err(BackendErrorKind::Protocol(
                "server lacks CLIENT_DEPRECATE_EOF".into(),
            )));
        }
        caps &= server_caps | CapabilityFlags::CLIENT_FOUND_ROWS;
        let nonce = handshake.nonce();
        let plugin = handshake
            .auth_plugin_name_ref()
            .map(<[u8]>::to_vec)
            .unwrap_or_else(|| b"mysql_native_password".to_vec());
        let scramble = auth_response(&plugin, &nonce, &backend.password).ok_or_else(|| {
            self.err(BackendErrorKind::Auth(format!(
                "unsupported plugin {}",
                String::from_utf8_lossy(&plugin)
            )))
        })?;
        let response = HandshakeResponse::new(
            Some(scramble),
            handshake.server_version_parsed().unwrap_or((5, 7, 0)),
            Some(backend.user.as_bytes()),
            None::<&[u8]>,
            Some(AuthPlugin::from_bytes(&plugin)),
            caps,
            None,
            1 << 30,
        );
        let mut out = Vec::new();
        response.serialize(&mut out);
        self.writer.seq = 1;
        self.writer
            .write(&out)
            .await
            .map_err(|e| self.io(e.into()))?;
        self.writer.flush().await.map_err(|e| self.io(e.into()))?;
        loop {
            let seq = self.reader.read(&mut buf).await.map_err(|e| self.io(e))?;
            match buf.first() {
                Some(0x00) => return Ok(()),
                Some(0xFF) => {
                    let e = wire::parse_err(&buf).unwrap_or_else(|| wire::ErrInfo::new(1045, "28000", "denied"));
                    return Err(self.err(BackendErrorKind::Auth(format!("{} ({})", e.message, e.code))));
                }
                Some(0xFE) => {
                    // Auth switch: plugin name, then its nonce.
                    let mut r = Reader::new(&buf[1..]);
                    let plugin = r.null_terminated().unwrap_or(b"mysql_native_password").to_vec();
                    let mut nonce = r.remaining().to_vec();
                    if nonce.last() == Some(&0) {
                        nonce.pop();
                    }
                    let reply = auth_response(&plugin, &nonce, &backend.password).ok_or_else(|| {
                        self.err(BackendErrorKind::Auth(format!("unsupported plugin {}", String::from_utf8_lossy(&plugin))))
                    })?;
                    self.writer.seq = seq.wrapping_add(1);
                    self.writer.write(&reply).await.map_err(|e| self.io(e.into()))?;
                    self.writer.flush().await.map_err(|e| self.io(e.into()))?;
                }
                Some(0x01) if buf.get(1) == Some(&0x03) => {
                    // caching_sha2_password fast auth succeeded; the OK follows.
                }
                Some(0x01) => {
                    return Err(self.err(BackendErrorKind::Auth(
                        "the backend asks for caching_sha2_password full authentication; give the backend account mysql_native_password".into(),
                    )))
                }
                _ => return Err(self.err(BackendErrorKind::Protocol("unexpected authentication packet".into()))),
            }
        }
    }

    /// The error an ERR packet carries (a malformed one still reads as an error).
    pub(crate) fn server_error(&self, packet: &[u8]) -> BackendError {
        let info = wire::parse_err(packet)
            .unwrap_or_else(|| wire::ErrInfo::new(1105, "HY000", "malformed error packet"));
        self.err(BackendErrorKind::Server(info))
    }

    pub(crate) fn io(&self, e: PacketError) -> BackendError {
        self.err(BackendErrorKind::Io(e.to_string()))
    }

    /// Sends a command packet (sequence 0).
    pub async fn send_command(&mut self, command: u8, payload: &[u8]) -> Result<(), BackendError> {
        self.buf.clear();
        self.buf.push(command);
        self.buf.extend_from_slice(payload);
        self.writer.seq = 0;
        let buf = std::mem::take(&mut self.buf);
        let result = self.writer.write(&buf).await;
        self.buf = buf;
        if let Err(e) = result {
            self.broken = true;
            return Err(self.io(e.into()));
        }
        self.writer.flush().await.map_err(|e| {
            self.broken = true;
            self.io(e.into())
        })?;
        // A command without an answer (COM_STMT_CLOSE) is followed by one that has one,
        // which starts the clock again.
        self.sent_at = Some(std::time::Instant::now());
        Ok(())
    }

    /// Reads one logical packet into `buf`.
    pub async fn read_packet(&mut self, buf: &mut Vec<u8>) -> Result<u8, BackendError> {
        let seq = self.reader.read(buf).await.map_err(|e| {
            self.broken = true;
            self.io(e)
        })?;
        self.answer_arrived();
        Ok(seq)
    }

    /// The first packet of the last command's answer has arrived: the backend's response
    /// time is recorded once per command.
    pub(crate) fn answer_arrived(&mut self) {
        if let Some(sent) = self.sent_at.take() {
            self.response_time.record(sent.elapsed());
        }
    }

    /// Runs a statement whose result the proxy does not relay (SET, BEGIN, COMMIT ...):
    /// rows, if any, are read and dropped.
    pub async fn execute_internal(&mut self, sql: &str) -> Result<OkInfo, BackendError> {
        let timeout = self.query_timeout;
        match tokio::time::timeout(timeout, self.execute_unbounded(sql)).await {
            Ok(result) => result,
            Err(_) => {
                // Half an answer may still come: the connection is out of step.
                self.broken = true;
                Err(self.err(BackendErrorKind::Timeout(timeout.as_millis() as u64)))
            }
        }
    }

    async fn execute_unbounded(&mut self, sql: &str) -> Result<OkInfo, BackendError> {
        self.send_command(0x03, sql.as_bytes()).await?;
        let mut buf = Vec::new();
        loop {
            self.read_packet(&mut buf).await?;
            match buf.first() {
                Some(0x00) => {
                    let ok = wire::parse_ok(&buf)
                        .ok_or_else(|| self.err(BackendErrorKind::Protocol("bad OK".into())))?;
                    self.status = ok.status_flags();
                    if !self
                        .status
                        .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS)
                    {
                        return Ok(ok);
                    }
                }
                Some(0xFF) => {
                    return Err(self.server_error(&buf));
                }
                _ => {
                    // A result set: skip columns and rows up to its terminator.
                    let status = self.skip_result_set(&buf).await?;
                    self.status = StatusFlags::from_bits_truncate(status);
                    if !self
                        .status
                        .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS)
                    {
                        return Ok(OkInfo {
                            status,
                            ..Default::default()
                        });
                    }
                }
            }
        }
    }

    /// Skips a result set whose column-count packet is `first`; returns the final status.
    async fn skip_result_set(&mut self, first: &[u8]) -> Result<u16, BackendError> {
        let columns = Reader::new(first).lenenc_int().unwrap_or(0);
        let mut buf = Vec::new();
        for _ in 0..columns {
            self.read_packet(&mut buf).await?;
        }
        if !self.flags.deprecate_eof {
            self.read_packet(&mut buf).await?;
        }
        loop {
            self.read_packet(&mut buf).await?;
            if is_terminator(&buf, self.flags.deprecate_eof) {
                return Ok(terminator_status(&buf, self.flags.deprecate_eof));
            }
            if buf.first() == Some(&0xFF) {
                return Err(self.server_error(&buf));
            }
        }
    }

    /// Runs a query and returns its column names and rows as text (for the statements
    /// shardgate answers itself from a backend's answer, like SHOW CREATE TABLE).
    pub async fn query_rows(
        &mut self,
        sql: &str,
    ) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), BackendError> {
        let (names, rows) = self.query_rows_raw(sql).await?;
        let rows = rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
                    .collect()
            })
            .collect();
        Ok((names, rows))
    }

    /// [`Self::query_rows`] with each value's bytes as the server sent them (binary data
    /// stays intact).
    pub async fn query_rows_raw(
        &mut self,
        sql: &str,
    ) -> Result<(Vec<String>, Vec<Vec<Option<Vec<u8>>>>), BackendError> {
        let (definitions, rows) = self.query_with_definitions(sql).await?;
        Ok((definitions.iter().map(|d| column_name(d)).collect(), rows))
    }

    /// A text query's column definitions as the server sent them, and its rows' values.
    pub async fn query_with_definitions(
        &mut self,
        sql: &str,
    ) -> Result<(Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>), BackendError> {
        let timeout = self.query_timeout;
        match tokio::time::timeout(timeout, self.query_unbounded(sql)).await {
            Ok(result) => result,
            Err(_) => {
                self.broken = true;
                Err(self.err(BackendErrorKind::Timeout(timeout.as_millis() as u64)))
            }
        }
    }

    async fn query_unbounded(
        &mut self,
        sql: &str,
    ) -> Result<(Vec<Vec<u8>>, Vec<Vec<Option<Vec<u8>>>>), BackendError> {
        self.send_command(0x03, sql.as_bytes()).await?;
        let mut buf = Vec::new();
        self.read_packet(&mut buf).await?;
        match buf.first() {
            Some(0x00) => {
                if let Some(ok) = wire::parse_ok(&buf) {
                    self.status = ok.status_flags();
                }
                return Ok((Vec::new(), Vec::new()));
            }
            Some(0xFF) => {
                return Err(self.server_error(&buf));
            }
            _ => {}
        }
        let columns = Reader::new(&buf).lenenc_int().unwrap_or(0);
        let mut names = Vec::new();
        for _ in 0..columns {
            self.read_packet(&mut buf).await?;
            names.push(buf.clone());
        }
        if !self.flags.deprecate_eof {
            self.read_packet(&mut buf).await?;
        }
        let mut rows = Vec::new();
        loop {
            self.read_packet(&mut buf).await?;
            if is_terminator(&buf, self.flags.deprecate_eof) {
                self.status = StatusFlags::from_bits_truncate(terminator_status(
                    &buf,
                    self.flags.deprecate_eof,
                ));
                return Ok((names, rows));
            }
            if buf.first() == Some(&0xFF) {
                return Err(self.server_error(&buf));
            }
            let mut r = Reader::new(&buf);
            let mut row = Vec::with_capacity(names.len());
            for _ in 0..names.len() {
                if r.remaining().first() == Some(&0xFB) {
                    r.u8();
                    row.push(None);
                } else {
                    row.push(r.lenenc_bytes().map(<[u8]>::to_vec));
                }
            }
            rows.push(row);
        }
    }

    /// The first column of the first row of a query, as text.
    pub async fn query_single_value(&mut self, sql: &str) -> Result<Option<String>, BackendError> {
        let (_, rows) = self.query_rows(sql).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .flatten())
    }

    /// COM_RESET_CONNECTION: clears session variables, user variables, temporary tables and
    /// prepared statements on the server.
    pub async fn reset(&mut self) -> Result<(), BackendError> {
        self.send_command(0x1F, &[]).await?;
        let mut buf = Vec::new();
        self.read_packet(&mut buf).await?;
        match buf.first() {
            Some(0x00) => {
                self.applied.clear();
                self.prepared.clear();
                self.status = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
                Ok(())
            }
            _ => {
                self.broken = true;
                Err(self.server_error(&buf))
            }
        }
    }

    /// Whether the server closed this idle connection (restart, wait_timeout): an idle
    /// connection has nothing to read, so anything readable means it is gone.
    pub fn is_alive(&self) -> bool {
        if self.broken || self.reader.has_buffered() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.reader.get_ref().try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    pub fn in_transaction(&self) -> bool {
        self.status.contains(StatusFlags::SERVER_STATUS_IN_TRANS)
    }
}

/// The name in a column definition (its fifth length-encoded string).
fn column_name(definition: &[u8]) -> String {
    let mut r = Reader::new(definition);
    let _ = (
        r.lenenc_bytes(),
        r.lenenc_bytes(),
        r.lenenc_bytes(),
        r.lenenc_bytes(),
    );
    String::from_utf8_lossy(r.lenenc_bytes().unwrap_or_default()).into_owned()
}
