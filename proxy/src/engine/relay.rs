//! Single-target results: handed on packet by packet. Rows are never decoded; the client's
//! sequence ids are the writer's, column definitions get logical names, and the final
//! OK/EOF/ERR is read for status, affected rows and last_insert_id.
//!
//! [`RelayStream`] is one of the engine's [`ResultStream`](super::result::ResultStream)s,
//! pulled by the protocol writer ([`crate::protocol::writer`]) one packet at a time: the
//! writer's buffer is the only buffer, so when the client reads slowly the next pull waits,
//! and so do reads from the backend. The backend's query timeout bounds
//! each wait for its next packet, never a write to the client: a slow client is not a slow
//! backend, and a timeout never cuts a packet to the client in half. The writer ends the
//! command with the error in place of the next packet, and the client stays in step.

use mysql_common::constants::StatusFlags;
use std::time::Duration;

use super::names::NameMap;
use crate::backend::conn::{is_terminator, terminator_status, terminator_warnings};
use crate::backend::{BackendConn, BackendError, BackendErrorKind};
use crate::protocol::wire::{self, ErrInfo, OkInfo, Reader};

/// How a relayed command ended.
#[derive(Debug, Default)]
pub struct RelayOutcome {
    /// The last OK (or the status of the last result set's terminator).
    pub ok: OkInfo,
    /// The backend answered with an error (already handed to the client).
    pub error: Option<ErrInfo>,
    /// Rows relayed in the last result set.
    pub rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The backend failed (or did not answer in time). `sent`: part of a result set already
    /// went to the client, so the error must end that result set.
    #[error("{error}")]
    Backend { error: BackendError, sent: bool },
}

/// Where the answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The next packet starts a result: OK, ERR, LOCAL INFILE request or a column count.
    Start,
    /// This many column definitions follow.
    Columns(u64),
    /// The EOF after the column definitions (without CLIENT_DEPRECATE_EOF).
    ColumnsEof,
    Rows,
    Done,
}

/// The answer to the command just sent on a backend connection, as packets for the client.
pub struct RelayStream<'c> {
    conn: &'c mut BackendConn,
    names: &'c NameMap,
    /// Another statement of the client's multi-statement follows, so the final packet must
    /// say SERVER_MORE_RESULTS_EXISTS.
    more_after: bool,
    /// The id the proxy generated for the statement, which the OK packet reports.
    insert_id: Option<u64>,
    /// The most one packet of the answer may take to arrive.
    timeout: Duration,
    buf: Vec<u8>,
    state: State,
    sent: bool,
    outcome: RelayOutcome,
}

impl<'c> RelayStream<'c> {
    pub fn new(
        conn: &'c mut BackendConn,
        names: &'c NameMap,
        more_after: bool,
        insert_id: Option<u64>,
        timeout: Duration,
    ) -> Self {
        let buf = std::mem::take(&mut conn.buf);
        RelayStream {
            conn,
            names,
            more_after,
            insert_id,
            timeout,
            buf,
            state: State::Start,
            sent: false,
            outcome: RelayOutcome::default(),
        }
    }

    /// Whether part of a result set went out: an error must then end it.
    pub fn sent(&self) -> bool {
        self.sent
    }

    /// How the answer ended, once [`next`](Self::next) returned `None`.
    pub fn outcome(&mut self) -> RelayOutcome {
        std::mem::take(&mut self.outcome)
    }

    /// The next packet for the client, or `None` when the answer is complete.
    pub async fn next(&mut self) -> Result<Option<&[u8]>, RelayError> {
        match self.advance().await {
            Ok(true) => Ok(Some(&self.buf)),
            Ok(false) => Ok(None),
            Err(e) => {
                self.conn.broken = true;
                self.state = State::Done;
                Err(e)
            }
        }
    }

    /// Reads the next packet into `buf`; `false` at the end.
    async fn advance(&mut self) -> Result<bool, RelayError> {
        // Backend connections are chosen to match the client's CLIENT_DEPRECATE_EOF, so
        // terminators pass through as they are.
        let deprecate_eof = self.conn.flags.deprecate_eof;
        loop {
            match self.state {
                State::Done => return Ok(false),
                State::Start => {
                    self.read().await?;
                    match self.buf.first().copied() {
                        Some(0x00) => {
                            self.ok()?;
                            return Ok(true);
                        }
                        Some(0xFF) => {
                            self.outcome.error = wire::parse_err(&self.buf);
                            self.state = State::Done;
                            return Ok(true);
                        }
                        Some(0xFB) => {
                            self.refuse_local_infile().await?;
                            continue;
                        }
                        Some(_) => {
                            let columns = Reader::new(&self.buf)
                                .lenenc_int()
                                .ok_or_else(|| self.protocol("bad column count"))?;
                            self.state = State::Columns(columns);
                            self.outcome.rows = 0;
                            self.sent = true;
                            return Ok(true);
                        }
                        None => return Err(self.protocol("empty packet")),
                    }
                }
                State::Columns(0) => {
                    self.state = if deprecate_eof {
                        State::Rows
                    } else {
                        State::ColumnsEof
                    };
                }
                State::Columns(left) => {
                    self.read().await?;
                    self.names.rewrite_column(&mut self.buf);
                    self.state = State::Columns(left - 1);
                    return Ok(true);
                }
                State::ColumnsEof => {
                    self.read().await?;
                    self.state = State::Rows;
                    return Ok(true);
                }
                State::Rows => {
                    self.read().await?;
                    if is_terminator(&self.buf, deprecate_eof) {
                        self.end_of_rows(deprecate_eof);
                    } else if self.buf.first() == Some(&0xFF) {
                        self.outcome.error = wire::parse_err(&self.buf);
                        self.state = State::Done;
                    } else {
                        self.outcome.rows += 1;
                    }
                    return Ok(true);
                }
            }
        }
    }

    /// An OK: the answer's end unless more results follow.
    fn ok(&mut self) -> Result<(), RelayError> {
        let mut ok = wire::parse_ok(&self.buf).ok_or_else(|| self.protocol("bad OK packet"))?;
        if let Some(id) = self.insert_id {
            ok.last_insert_id = id;
            self.buf = wire::ok_packet(&ok, 0x00);
        }
        self.conn.status = ok.status_flags();
        let last = !self
            .conn
            .status
            .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS);
        if last && self.more_after {
            wire::add_more_results(&mut self.buf, false);
        }
        self.outcome.ok = ok;
        self.state = if last { State::Done } else { State::Start };
        Ok(())
    }

    /// The terminator of a result set's rows.
    fn end_of_rows(&mut self, deprecate_eof: bool) {
        let status = terminator_status(&self.buf, deprecate_eof);
        self.conn.status = StatusFlags::from_bits_truncate(status);
        let last = !self
            .conn
            .status
            .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS);
        if last && self.more_after {
            wire::add_more_results(&mut self.buf, !deprecate_eof);
        }
        self.outcome.ok = OkInfo {
            status,
            warnings: terminator_warnings(&self.buf, deprecate_eof),
            ..Default::default()
        };
        self.state = if last { State::Done } else { State::Start };
    }

    /// LOAD DATA LOCAL INFILE: refused by sending an empty file; the answer follows. The
    /// request came as packet 1; the (empty) file is packet 2.
    async fn refuse_local_infile(&mut self) -> Result<(), RelayError> {
        let sent = self.sent;
        let conn = &mut *self.conn;
        conn.writer.seq = 2;
        let result = match conn.writer.raw(&[]).await {
            Ok(()) => conn.writer.flush().await,
            Err(e) => Err(e),
        };
        result.map_err(|e| RelayError::Backend {
            error: BackendError::new(&conn.name, BackendErrorKind::Io(e.to_string())),
            sent,
        })
    }

    async fn read(&mut self) -> Result<(), RelayError> {
        let sent = self.sent;
        let read = tokio::time::timeout(self.timeout, self.conn.reader.read(&mut self.buf));
        match read.await {
            Ok(Ok(_)) => {
                self.conn.answer_arrived();
                Ok(())
            }
            Ok(Err(e)) => Err(RelayError::Backend {
                error: self.conn.io(e),
                sent,
            }),
            Err(_) => Err(RelayError::Backend {
                error: BackendError::new(
                    &self.conn.name,
                    BackendErrorKind::Timeout(self.timeout.as_millis() as u64),
                ),
                sent,
            }),
        }
    }

    fn protocol(&self, what: &str) -> RelayError {
        RelayError::Backend {
            error: BackendError::new(&self.conn.name, BackendErrorKind::Protocol(what.into())),
            sent: self.sent,
        }
    }
}

impl Drop for RelayStream<'_> {
    /// Gives the buffer back; a connection left in the middle of an answer cannot be
    /// reused.
    fn drop(&mut self) {
        if self.state != State::Done {
            self.conn.broken = true;
        }
        self.conn.buf = std::mem::take(&mut self.buf);
    }
}
