//! The writer: every answer a logged-in client gets is encoded here — OK, ERR, the EOF or
//! OK that ends rows, result-set headers, text and binary rows, and the packets of a relayed
//! answer. The session decides what to answer; this is the one place it becomes bytes, and
//! the only place after login where a MySQL error packet is made.

use tokio::io::AsyncWrite;

use super::binary_row::encode_binary_row;
use super::io::PacketWriter;
use super::wire::{eof_packet, err_packet, ok_packet, put_lenenc_bytes, put_lenenc_int};
use super::wire::{ErrInfo, OkInfo};
use crate::engine::result::{AnswerError, ResultEvent, ResultStream};

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    /// An OK packet (header 0x00).
    pub async fn ok(&mut self, ok: &OkInfo) -> std::io::Result<()> {
        self.write(&ok_packet(ok, 0x00)).await
    }

    /// An ERR packet: a failed command's answer, or the end of a result set cut short.
    pub async fn error(&mut self, err: &ErrInfo) -> std::io::Result<()> {
        self.write(&err_packet(err)).await
    }

    /// A bare EOF packet (COM_SET_OPTION's answer, the end of column definitions).
    pub async fn eof(&mut self, warnings: u16, status: u16) -> std::io::Result<()> {
        self.write(&eof_packet(warnings, status)).await
    }

    /// A result set's column count and definitions, then the EOF that ends them unless the
    /// client set CLIENT_DEPRECATE_EOF.
    pub async fn result_header<'d>(
        &mut self,
        definitions: impl ExactSizeIterator<Item = &'d [u8]>,
        status: u16,
        deprecate_eof: bool,
    ) -> std::io::Result<()> {
        let mut count = Vec::with_capacity(9);
        put_lenenc_int(&mut count, definitions.len() as u64);
        self.write(&count).await?;
        for definition in definitions {
            self.write(definition).await?;
        }
        if !deprecate_eof {
            self.eof(0, status).await?;
        }
        Ok(())
    }

    /// The end of a result set's rows: EOF, or an OK with header 0xFE under
    /// CLIENT_DEPRECATE_EOF.
    pub async fn end_of_rows(
        &mut self,
        warnings: u16,
        status: u16,
        deprecate_eof: bool,
    ) -> std::io::Result<()> {
        if deprecate_eof {
            let ok = OkInfo {
                status,
                warnings,
                ..Default::default()
            };
            self.write(&ok_packet(&ok, 0xFE)).await
        } else {
            self.eof(warnings, status).await
        }
    }

    /// COM_STMT_PREPARE's answer: PREPARE_OK with the statement id and counts, then the
    /// parameter and the column definitions, each group ended by an EOF unless the client
    /// set CLIENT_DEPRECATE_EOF.
    pub async fn prepare_ok(
        &mut self,
        id: u32,
        params: &[Vec<u8>],
        columns: &[Vec<u8>],
        status: u16,
        deprecate_eof: bool,
    ) -> std::io::Result<()> {
        let mut ok = Vec::with_capacity(12);
        ok.push(0x00);
        ok.extend_from_slice(&id.to_le_bytes());
        ok.extend_from_slice(&(columns.len() as u16).to_le_bytes());
        ok.extend_from_slice(&(params.len() as u16).to_le_bytes());
        ok.push(0);
        ok.extend_from_slice(&0u16.to_le_bytes());
        self.write(&ok).await?;
        for group in [params, columns] {
            for definition in group {
                self.write(definition).await?;
            }
            if !group.is_empty() && !deprecate_eof {
                self.eof(0, status).await?;
            }
        }
        Ok(())
    }

    /// A row in the text protocol; `scratch` is reused between rows.
    pub async fn text_row(
        &mut self,
        values: &[Option<Vec<u8>>],
        scratch: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        scratch.clear();
        for value in values {
            match value {
                Some(v) => put_lenenc_bytes(scratch, v),
                None => scratch.push(0xFB),
            }
        }
        self.write(scratch).await
    }

    /// A row in the binary protocol, each value encoded as its column's type says.
    pub async fn binary_row(
        &mut self,
        values: &[Option<Vec<u8>>],
        types: &[(u8, u16, u8)],
    ) -> std::io::Result<()> {
        self.write(&encode_binary_row(values, types)).await
    }

    /// An answer from the engine, event by event as the stream hands them on: relayed
    /// packets as they are, a merged result's definitions, rows (text or binary) and end.
    /// A failure while reading it comes back as an error; the caller answers with it (in
    /// place of the next row when a result set is open).
    pub async fn answer(
        &mut self,
        stream: &mut ResultStream<'_, '_>,
        status: u16,
        deprecate_eof: bool,
    ) -> Result<(), AnswerError> {
        let mut scratch = Vec::new();
        while let Some(event) = stream.next().await? {
            match event {
                ResultEvent::Packet(packet) => self.write(packet).await,
                ResultEvent::Columns(definitions) => {
                    self.result_header(definitions.iter().map(Vec::as_slice), status, deprecate_eof)
                        .await
                }
                ResultEvent::Row {
                    values,
                    binary: true,
                    types,
                } => self.binary_row(values, types).await,
                ResultEvent::Row { values, .. } => self.text_row(values, &mut scratch).await,
                ResultEvent::End { warnings } => {
                    self.end_of_rows(warnings, status, deprecate_eof).await
                }
            }
            .map_err(AnswerError::Client)?;
        }
        Ok(())
    }
}

/// ER_CON_COUNT_ERROR (1040) as the first packet of a connection the proxy will not serve,
/// sent (within a second) before it is closed.
pub async fn refuse_before_greeting<S: AsyncWrite + Unpin>(stream: S, err: &ErrInfo) {
    let mut writer = PacketWriter::new(stream);
    let sent = async {
        writer.error(err).await?;
        writer.flush().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), sent).await;
}
