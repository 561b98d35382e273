//! Prepared statements on a backend connection: prepared once per connection and SQL text,
//! described to the client from the server's own definitions, executed with the client's
//! parameters as they came.

use super::*;

/// The server holds as many prepared statements as `max_prepared_stmt_count` allows.
const ER_MAX_PREPARED_STMT_COUNT_REACHED: u16 = 1461;
/// Tries of one COM_STMT_PREPARE the server refused for being full (the waits between them
/// add up to about 0.3 s).
const PREPARE_ATTEMPTS_WHEN_FULL: u32 = 6;

/// The server's limit, from its message ("... (current value: 16382)").
fn error_limit(error: &BackendError) -> Option<usize> {
    let BackendErrorKind::Server(info) = &error.kind else {
        return None;
    };
    let (_, tail) = info.message.rsplit_once("current value: ")?;
    tail.trim_end_matches(')').trim().parse().ok()
}

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
        let budget = self.statement_budget.per_connection();
        self.trim_statements(budget.saturating_sub(1)).await?;
        let mut attempt = 0;
        loop {
            let error = match self.prepare_once(sql).await {
                Err(e) if e.server_code() == Some(ER_MAX_PREPARED_STMT_COUNT_REACHED) => e,
                other => return other,
            };
            // The server is full: every connection of this backend keeps fewer from now on,
            // this one at once. Others give their excess back as they are next taken from
            // the pool, so a few tries a moment apart find room.
            attempt += 1;
            if attempt > PREPARE_ATTEMPTS_WHEN_FULL {
                return Err(error);
            }
            let seen = self.statement_budget.per_connection();
            let limit = error_limit(&error);
            let smaller = self.statement_budget.server_full(seen, limit);
            if smaller < seen {
                tracing::warn!(
                    backend = %self.name,
                    statements_per_connection = smaller,
                    "the backend refused a prepared statement (max_prepared_stmt_count); \
                     keeping fewer per connection: raise max_prepared_stmt_count to pool size x 1024 to avoid re-preparing"
                );
            }
            let keep = if attempt == 1 { smaller / 2 } else { 0 };
            self.trim_statements(keep).await?;
            if attempt > 1 {
                tokio::time::sleep(std::time::Duration::from_millis(5 << attempt)).await;
            }
        }
    }

    /// Closes the least recently used statements until at most `keep` remain.
    pub(crate) async fn trim_statements(&mut self, keep: usize) -> Result<(), BackendError> {
        if self.prepared.len() <= keep {
            return Ok(());
        }
        let mut by_use: Vec<(u64, String, u32)> = self
            .prepared
            .iter()
            .map(|(sql, (stmt, used))| (*used, sql.clone(), stmt.id))
            .collect();
        by_use.sort_unstable_by_key(|(used, _, _)| *used);
        let excess = self.prepared.len() - keep;
        for (_, sql, id) in by_use.into_iter().take(excess) {
            self.prepared.remove(&sql);
            self.close_statement(id).await?;
        }
        Ok(())
    }

    async fn prepare_once(
        &mut self,
        sql: &str,
    ) -> Result<(BackendStmt, Vec<Vec<u8>>, Vec<Vec<u8>>), BackendError> {
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
