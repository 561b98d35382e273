//! The binary protocol: COM_STMT_PREPARE / EXECUTE / SEND_LONG_DATA / RESET / CLOSE.

use std::collections::HashMap;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::protocol::codes;

#[derive(Debug, Default)]
pub(crate) struct ClientStatements {
    next_id: u32,
    map: HashMap<u32, ()>,
}

impl ClientStatements {
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.next_id = 0;
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn stmt_prepare(&mut self, _body: &[u8]) -> Result<(), SessionError> {
        self.send_error(codes::ER_NOT_SUPPORTED_YET, "prepared statements: not yet")
            .await
    }
    pub(crate) async fn stmt_execute(&mut self, _body: &[u8]) -> Result<(), SessionError> {
        self.send_error(
            codes::ER_UNKNOWN_STMT_HANDLER,
            "Unknown prepared statement handler",
        )
        .await
    }
    pub(crate) fn stmt_send_long_data(&mut self, _body: &[u8]) {}
    pub(crate) async fn stmt_close(&mut self, _body: &[u8]) {}
    pub(crate) async fn stmt_reset(&mut self, _body: &[u8]) -> Result<(), SessionError> {
        self.send_error(
            codes::ER_UNKNOWN_STMT_HANDLER,
            "Unknown prepared statement handler",
        )
        .await
    }
}
