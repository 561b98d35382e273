//! Prepared statements on a backend connection: prepared once per connection and SQL text,
//! described to the client from the server's own definitions, executed with the client's
//! parameters as they came.

use super::*;

impl BackendConn {
    /// Prepares `sql` (or finds it prepared) and returns the parameter and column
    /// definition packets the server sent, to relay to a client that prepared it.
    pub async fn prepare_with_defs(
        &mut self,
        sql: &str,
    ) -> Result<(BackendStmt, Vec<Vec<u8>>, Vec<Vec<u8>>), BackendError> {
        if let Some((old, _)) = self.prepared.remove(sql) {
            // Described again: close the old one rather than leak it.
            self.close_statement(old.id).await?;
        }
        if self.prepared.len() >= MAX_PREPARED_PER_CONNECTION {
            let oldest = self
                .prepared
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(sql, (stmt, _))| (sql.clone(), stmt.id));
            if let Some((sql, id)) = oldest {
                self.prepared.remove(&sql);
                self.close_statement(id).await?;
            }
        }
        self.send_command(0x16, sql.as_bytes()).await?;
        let mut buf = Vec::new();
        self.read_packet(&mut buf).await?;
        if buf.first() == Some(&0xFF) {
            return Err(self.server_error(&buf));
        }
        let mut r = Reader::new(&buf);
        let header = (r.u8(), r.u32(), r.u16(), r.u16());
        let (Some(0x00), Some(id), Some(columns), Some(params)) = header else {
            self.broken = true;
            return Err(self.err(BackendErrorKind::Protocol(
                "bad COM_STMT_PREPARE answer".into(),
            )));
        };
        let stmt = BackendStmt {
            id,
            params,
            columns,
        };
        let param_defs = self.read_definitions(params).await?;
        let column_defs = self.read_definitions(columns).await?;
        self.uses += 1;
        self.prepared.insert(sql.to_string(), (stmt, self.uses));
        Ok((stmt, param_defs, column_defs))
    }

    /// `count` definition packets of a COM_STMT_PREPARE answer, and the EOF after them
    /// (without CLIENT_DEPRECATE_EOF, when there are any).
    async fn read_definitions(&mut self, count: u16) -> Result<Vec<Vec<u8>>, BackendError> {
        let mut buf = Vec::new();
        let mut defs = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            self.read_packet(&mut buf).await?;
            defs.push(buf.clone());
        }
        if count > 0 && !self.flags.deprecate_eof {
            self.read_packet(&mut buf).await?;
        }
        Ok(defs)
    }

    /// The statement prepared for `sql` on this connection, preparing it if needed.
    pub async fn prepared_statement(&mut self, sql: &str) -> Result<BackendStmt, BackendError> {
        self.uses += 1;
        let now = self.uses;
        match self.prepared.get_mut(sql) {
            Some((stmt, used)) => {
                *used = now;
                Ok(*stmt)
            }
            None => Ok(self.prepare_with_defs(sql).await?.0),
        }
    }

    async fn close_statement(&mut self, id: u32) -> Result<(), BackendError> {
        // COM_STMT_CLOSE has no answer.
        self.send_command(0x19, &id.to_le_bytes()).await
    }

    /// Sends COM_STMT_SEND_LONG_DATA pieces, then COM_STMT_EXECUTE with `body` (everything
    /// after the statement id), for the statement prepared for `sql`.
    pub async fn send_execute(
        &mut self,
        sql: &str,
        body: &[u8],
        long_data: &[(u16, Vec<u8>)],
    ) -> Result<(), BackendError> {
        let stmt = self.prepared_statement(sql).await?;
        for (param, data) in long_data {
            let mut packet = Vec::with_capacity(6 + data.len());
            packet.extend_from_slice(&stmt.id.to_le_bytes());
            packet.extend_from_slice(&param.to_le_bytes());
            packet.extend_from_slice(data);
            self.send_command(0x18, &packet).await?;
        }
        let mut packet = Vec::with_capacity(4 + body.len());
        packet.extend_from_slice(&stmt.id.to_le_bytes());
        packet.extend_from_slice(body);
        self.send_command(0x17, &packet).await
    }

    /// Executes a prepared statement whose result the proxy does not relay (a fanned-out
    /// write): any rows are skipped.
    pub async fn execute_prepared(
        &mut self,
        sql: &str,
        body: &[u8],
        long_data: &[(u16, Vec<u8>)],
    ) -> Result<OkInfo, BackendError> {
        self.send_execute(sql, body, long_data).await?;
        let mut buf = Vec::new();
        self.read_packet(&mut buf).await?;
        match buf.first() {
            Some(0x00) => {
                let ok = wire::parse_ok(&buf)
                    .ok_or_else(|| self.err(BackendErrorKind::Protocol("bad OK".into())))?;
                self.status = ok.status_flags();
                Ok(ok)
            }
            Some(0xFF) => Err(self.server_error(&buf)),
            _ => {
                let status = self.skip_result_set(&buf).await?;
                self.status = StatusFlags::from_bits_truncate(status);
                Ok(OkInfo {
                    status,
                    ..Default::default()
                })
            }
        }
    }
}
