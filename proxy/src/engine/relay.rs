//! Single-target results: relayed packet by packet. Rows are never decoded; only sequence ids
//! are renumbered, column definitions get logical names, and the final OK/EOF/ERR is read for
//! status, affected rows and last_insert_id. The client writer's buffer is the only buffer:
//! when the client reads slowly, writes wait, and so do reads from the backend.

use mysql_common::constants::StatusFlags;
use tokio::io::AsyncWrite;

use super::names::NameMap;
use crate::backend::conn::{is_terminator, terminator_status, terminator_warnings};
use crate::backend::{BackendConn, BackendError, BackendErrorKind};
use crate::protocol::io::PacketWriter;
use crate::protocol::wire::{self, ErrInfo, OkInfo, Reader};

/// How a relayed command ended.
#[derive(Debug, Default)]
pub struct RelayOutcome {
    /// The last OK (or the status of the last result set's terminator).
    pub ok: OkInfo,
    /// The backend answered with an error (already relayed to the client).
    pub error: Option<ErrInfo>,
    /// Rows relayed in the last result set.
    pub rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The backend failed. `sent` says whether part of the answer already reached the
    /// client, whose connection is then unusable.
    #[error("{error}")]
    Backend { error: BackendError, sent: bool },
    #[error("client: {0}")]
    Client(std::io::Error),
}

/// Relays the answer to the command just sent on `conn`.
///
/// `more_after`: another statement of the client's multi-statement follows, so the final
/// packet must say SERVER_MORE_RESULTS_EXISTS. `insert_id`: the id the proxy generated for
/// the statement, which the OK packet reports as its last_insert_id.
pub async fn relay<W: AsyncWrite + Unpin>(
    conn: &mut BackendConn,
    client: &mut PacketWriter<W>,
    names: &NameMap,
    more_after: bool,
    insert_id: Option<u64>,
) -> Result<RelayOutcome, RelayError> {
    let mut buf = std::mem::take(&mut conn.buf);
    let result = relay_inner(conn, client, names, more_after, insert_id, &mut buf).await;
    conn.buf = buf;
    if result.is_err() {
        conn.broken = true;
    }
    result
}

async fn relay_inner<W: AsyncWrite + Unpin>(
    conn: &mut BackendConn,
    client: &mut PacketWriter<W>,
    names: &NameMap,
    more_after: bool,
    insert_id: Option<u64>,
    buf: &mut Vec<u8>,
) -> Result<RelayOutcome, RelayError> {
    // Backend connections are chosen to match the client's CLIENT_DEPRECATE_EOF, so
    // terminators pass through as they are.
    let deprecate_eof = conn.flags.deprecate_eof;
    let mut sent = false;
    let mut outcome = RelayOutcome::default();
    let backend_err = |conn: &BackendConn, sent: bool, kind| RelayError::Backend {
        error: BackendError::new(&conn.name, kind),
        sent,
    };
    loop {
        read(conn, buf, sent).await?;
        match buf.first().copied() {
            Some(0x00) => {
                let mut ok = wire::parse_ok(buf).ok_or_else(|| {
                    backend_err(
                        conn,
                        sent,
                        BackendErrorKind::Protocol("bad OK packet".into()),
                    )
                })?;
                if let Some(id) = insert_id {
                    ok.last_insert_id = id;
                    *buf = wire::ok_packet(&ok, 0x00);
                }
                conn.status = ok.status_flags();
                let last = !conn
                    .status
                    .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS);
                if last && more_after {
                    wire::add_more_results(buf, false);
                }
                write(client, buf).await?;
                outcome.ok = ok;
                if last {
                    return Ok(outcome);
                }
            }
            Some(0xFF) => {
                write(client, buf).await?;
                outcome.error = wire::parse_err(buf);
                return Ok(outcome);
            }
            Some(0xFB) => {
                // LOAD DATA LOCAL INFILE: refuse by sending an empty file, relay the answer.
                // The request came as packet 1; the (empty) file is packet 2.
                conn.writer.seq = 2;
                conn.writer
                    .raw(&[])
                    .await
                    .map_err(|e| backend_err(conn, sent, BackendErrorKind::Io(e.to_string())))?;
                conn.writer
                    .flush()
                    .await
                    .map_err(|e| backend_err(conn, sent, BackendErrorKind::Io(e.to_string())))?;
                continue;
            }
            Some(_) => {
                let columns = Reader::new(buf).lenenc_int().ok_or_else(|| {
                    backend_err(
                        conn,
                        sent,
                        BackendErrorKind::Protocol("bad column count".into()),
                    )
                })?;
                write(client, buf).await?;
                sent = true;
                for _ in 0..columns {
                    read(conn, buf, sent).await?;
                    names.rewrite_column(buf);
                    write(client, buf).await?;
                }
                if !deprecate_eof {
                    read(conn, buf, sent).await?;
                    write(client, buf).await?;
                }
                outcome.rows = 0;
                loop {
                    read(conn, buf, sent).await?;
                    if is_terminator(buf, deprecate_eof) {
                        let status = terminator_status(buf, deprecate_eof);
                        conn.status = StatusFlags::from_bits_truncate(status);
                        if more_after
                            && !conn
                                .status
                                .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS)
                        {
                            wire::add_more_results(buf, !deprecate_eof);
                        }
                        write(client, buf).await?;
                        outcome.ok = OkInfo {
                            status,
                            warnings: terminator_warnings(buf, deprecate_eof),
                            ..Default::default()
                        };
                        break;
                    }
                    if buf.first() == Some(&0xFF) {
                        write(client, buf).await?;
                        outcome.error = wire::parse_err(buf);
                        return Ok(outcome);
                    }
                    write(client, buf).await?;
                    outcome.rows += 1;
                }
                if !conn
                    .status
                    .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS)
                {
                    return Ok(outcome);
                }
            }
            None => {
                return Err(backend_err(
                    conn,
                    sent,
                    BackendErrorKind::Protocol("empty packet".into()),
                ))
            }
        }
    }
}

async fn read(conn: &mut BackendConn, buf: &mut Vec<u8>, sent: bool) -> Result<(), RelayError> {
    match conn.reader.read(buf).await {
        Ok(_) => Ok(()),
        Err(e) => Err(RelayError::Backend {
            error: conn.io(e),
            sent,
        }),
    }
}

async fn write<W: AsyncWrite + Unpin>(
    client: &mut PacketWriter<W>,
    payload: &[u8],
) -> Result<(), RelayError> {
    client.write(payload).await.map_err(RelayError::Client)
}
