//! What drivers, ORMs and tools ask about the server and its tables, answered with logical
//! names: SHOW DATABASES / TABLES / COLUMNS / INDEX / CREATE TABLE, DESCRIBE, SELECT
//! DATABASE() and friends. Per-table questions are asked of one representative physical table
//! and the answer is renamed back.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::protocol::codes;
use crate::protocol::resultset::TextResult;
use shardgate_router::command::{
    like_match, table_in_schema, Probe, ProbeItem, SessionValue, Show,
};
use shardgate_router::{Metadata, ProbeStep};

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// A metadata step: SHOW and DESCRIBE answered from the topology or a representative
    /// physical table, information_schema from the catalog.
    pub(crate) async fn metadata(&mut self, metadata: Metadata) -> Result<(), SessionError> {
        // Server-wide facts: any backend answers alike, relayed with its own definitions.
        if let Metadata::Show(Show::Server(sql)) = &metadata {
            let backend = self.any_backend();
            return self.single(backend, sql.as_bytes()).await;
        }
        match self.metadata_result(&metadata).await? {
            Some(result) => self.write_result(result).await,
            None => Ok(()),
        }
    }

    /// The answer to a metadata step, for either protocol; `None` when the error went to
    /// the client.
    pub(crate) async fn metadata_result(
        &mut self,
        metadata: &Metadata,
    ) -> Result<Option<TextResult>, SessionError> {
        match metadata {
            Metadata::Show(show) => self.show(show).await,
            Metadata::InformationSchema { catalog_sql } => {
                self.information_schema(catalog_sql).await
            }
            // Planned only for a text statement, and answered by `explain`.
            Metadata::Explain { .. } => {
                self.send_error(
                    codes::ER_NOT_SUPPORTED_YET,
                    "shardgate: EXPLAIN as a prepared statement is not supported",
                )
                .await?;
                Ok(None)
            }
        }
    }

    /// A probe step: answered by the session, or by a key generator.
    pub(crate) async fn probe(&mut self, probe: ProbeStep) -> Result<(), SessionError> {
        match probe {
            ProbeStep::Values(probe) => self.answer_probe(probe).await,
            ProbeStep::NextVal(generator) => self.answer_nextval(&generator).await,
        }
    }

    async fn show(&mut self, show: &Show) -> Result<Option<TextResult>, SessionError> {
        match show {
            Show::Databases { like } => {
                let mut result = TextResult::new(&["Database"]);
                for name in ["information_schema", self.rules.topology.schema.as_str()] {
                    if like.as_deref().is_none_or(|p| like_match(p, name)) {
                        result.rows.push(vec![Some(name.to_string())]);
                    }
                }
                Ok(Some(result))
            }
            Show::Tables { full, like, from } => {
                let schema = self.rules.topology.schema.clone();
                if let Some(from) = from.as_deref() {
                    if !from.eq_ignore_ascii_case(&schema) {
                        self.refuse_other_schema(from).await?;
                        return Ok(None);
                    }
                }
                let mut result = if *full {
                    TextResult::new(&[&format!("Tables_in_{schema}"), "Table_type"])
                } else {
                    TextResult::new(&[&format!("Tables_in_{schema}")])
                };
                let mut names: Vec<&str> = self
                    .rules
                    .topology
                    .tables
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect();
                names.sort_unstable();
                for name in names {
                    if like.as_deref().is_some_and(|p| !like_match(p, name)) {
                        continue;
                    }
                    let mut row = vec![Some(name.to_string())];
                    if *full {
                        row.push(Some("BASE TABLE".into()));
                    }
                    result.rows.push(row);
                }
                Ok(Some(result))
            }
            Show::Columns { full, table, like } => {
                let what = if *full { "FULL COLUMNS" } else { "COLUMNS" };
                let like = like
                    .as_deref()
                    .map(|p| format!(" LIKE '{}'", p.replace('\\', "\\\\").replace('\'', "''")))
                    .unwrap_or_default();
                self.show_for_table(table, |physical| {
                    format!("SHOW {what} FROM {physical}{like}")
                })
                .await
            }
            Show::Index { table } => {
                self.show_for_table(table, |physical| format!("SHOW INDEX FROM {physical}"))
                    .await
            }
            Show::CreateTable { table } => {
                self.show_for_table(table, |physical| format!("SHOW CREATE TABLE {physical}"))
                    .await
            }
            Show::Diagnostics {
                errors,
                count,
                limit,
            } => Ok(Some(self.diagnostics_result(*errors, *count, *limit))),
            Show::Server(sql) => {
                let backend = self.any_backend();
                let mut conn = match self.take_unpinned(backend).await {
                    Ok(c) => c,
                    Err(e) => {
                        self.send_backend_error(&e).await?;
                        return Ok(None);
                    }
                };
                let answer = conn.query_with_definitions(sql).await;
                self.give_back_unpinned(conn);
                match answer {
                    Ok((definitions, rows)) => Ok(Some(TextResult {
                        definitions: Some(definitions),
                        rows: text_rows(rows),
                        ..Default::default()
                    })),
                    Err(e) => {
                        self.send_backend_error(&e).await?;
                        Ok(None)
                    }
                }
            }
        }
    }

    /// A SHOW naming a database other than the logical schema.
    async fn refuse_other_schema(&mut self, named: &str) -> Result<(), SessionError> {
        let message = format!(
            "shardgate: `{named}` is not schema `{}`: shardgate shows only the logical schema",
            self.rules.topology.schema
        );
        self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await
    }

    /// Asks `make(physical)` of the table's first physical table and renames it back.
    async fn show_for_table(
        &mut self,
        written: &str,
        make: impl Fn(&str) -> String,
    ) -> Result<Option<TextResult>, SessionError> {
        let topology = self.rules.topology.clone();
        let Some(name) = table_in_schema(written, &topology.schema) else {
            let message = format!(
                "shardgate: `{written}` is not in schema `{}`: shardgate shows only the logical schema's tables",
                topology.schema
            );
            self.send_error(codes::ER_NOT_SUPPORTED_YET, &message)
                .await?;
            return Ok(None);
        };
        let Some((_, table)) = topology.table(name) else {
            let message = format!("Table '{}.{name}' doesn't exist", topology.schema);
            self.send_error(codes::ER_NO_SUCH_TABLE, &message).await?;
            return Ok(None);
        };
        let (database, physical) = table.first_physical();
        let physical = physical.to_string();
        let db_name = &topology.databases[database].name;
        let backend = topology.databases[database].backend;
        let mut conn = match self.take_unpinned(backend).await {
            Ok(c) => c,
            Err(e) => {
                self.send_backend_error(&e).await?;
                return Ok(None);
            }
        };
        let answer = conn
            .query_rows(&make(&format!("{db_name}.{physical}")))
            .await;
        self.give_back_unpinned(conn);
        match answer {
            Ok((columns, rows)) => {
                let mut result = TextResult {
                    columns,
                    ..Default::default()
                };
                for row in rows {
                    result.rows.push(
                        row.into_iter()
                            .map(|v| v.map(|v| rename(&v, &physical, &table.name)))
                            .collect(),
                    );
                }
                Ok(Some(result))
            }
            Err(e) if matches!(&e.kind, crate::backend::BackendErrorKind::Server(info) if info.code == 1146) =>
            {
                let message = format!("Table '{}.{}' doesn't exist", topology.schema, table.name);
                self.send_error(codes::ER_NO_SUCH_TABLE, &message).await?;
                Ok(None)
            }
            Err(e) => {
                self.send_backend_error(&e).await?;
                Ok(None)
            }
        }
    }

    pub(crate) async fn write_result(&mut self, result: TextResult) -> Result<(), SessionError> {
        let status = self.status();
        let deprecate_eof = self.deprecate_eof();
        result
            .write(&mut self.writer, deprecate_eof, status)
            .await?;
        Ok(())
    }

    /// `SELECT DATABASE(), @@session.transaction_isolation AS iso`: each item answered from
    /// the session, server variables asked of one backend in one statement (MySQL 8 names
    /// turned into MariaDB's by the decode), all under the names the client wrote.
    async fn answer_probe(&mut self, probe: Probe) -> Result<(), SessionError> {
        match self.probe_result(&probe).await? {
            Some(result) => self.write_result(result).await,
            None => Ok(()),
        }
    }

    /// A probe's one row; `None` when a backend failed and the error went to the client.
    pub(crate) async fn probe_result(
        &mut self,
        probe: &Probe,
    ) -> Result<Option<TextResult>, SessionError> {
        let variables: Vec<&str> = probe.variables().collect();
        let mut asked = Vec::new();
        if !variables.is_empty() {
            let backend = self.any_backend();
            let mut conn = match self.take_conn(backend).await {
                Ok(c) => c,
                Err(e) => {
                    self.send_backend_error(&e).await?;
                    return Ok(None);
                }
            };
            let answer = conn
                .query_rows(&format!("SELECT {}", variables.join(", ")))
                .await;
            self.give_back(backend, conn);
            match answer {
                Ok((_, mut rows)) if rows.len() == 1 => asked = rows.remove(0),
                Ok(_) => {
                    self.send_error(
                        codes::ER_UNKNOWN_ERROR,
                        "shardgate: a backend answered a variable probe with other than one row",
                    )
                    .await?;
                    return Ok(None);
                }
                Err(e) => {
                    self.send_backend_error(&e).await?;
                    return Ok(None);
                }
            }
        }
        let mut asked = asked.into_iter();
        let mut row = Vec::with_capacity(probe.items.len());
        for (_, item) in &probe.items {
            row.push(match item {
                ProbeItem::Variable(_) | ProbeItem::Constant(_) => asked.next().flatten(),
                ProbeItem::Session(value) => self.session_value(*value),
            });
        }
        let labels: Vec<&str> = probe.items.iter().map(|(l, _)| l.as_str()).collect();
        let unsigned = numeric_probe_items(probe);
        Ok(Some(TextResult::new(&labels).unsigned(unsigned).row(row)))
    }

    /// Analyzes a statement prepared for later executes; session functions in it that do
    /// not change during the session (`DATABASE()`, `USER()`) are written in.
    pub(crate) fn prepare_template(
        &self,
        sql: &str,
    ) -> Result<shardgate_router::Template, shardgate_router::RouterError> {
        self.router()
            .prepare_for_session(sql, &self.state.facts(false))
    }

    /// What the session knows of itself, as MySQL would answer it.
    pub(crate) fn session_value(&self, value: SessionValue) -> Option<String> {
        match value {
            SessionValue::Database => self.state.database.clone(),
            SessionValue::User => Some(format!(
                "{}@{}",
                self.state.identity.user, self.state.identity.client_host
            )),
            SessionValue::CurrentUser => Some(format!("{}@%", self.state.identity.user)),
            SessionValue::ConnectionId => Some(self.state.identity.connection_id.to_string()),
            SessionValue::LastInsertId => Some(self.state.last_insert_id.to_string()),
            SessionValue::WarningCount => Some(self.state.diagnostics.warning_count().to_string()),
            SessionValue::ErrorCount => Some(self.state.diagnostics.error_count().to_string()),
            SessionValue::Version => Some(shardgate_router::SERVER_VERSION.to_string()),
        }
    }

    /// COM_FIELD_LIST: the column definitions of a representative physical table, renamed.
    pub(crate) async fn forward_field_list(
        &mut self,
        table: &str,
        wildcard: &[u8],
    ) -> Result<(), SessionError> {
        let topology = self.rules.topology.clone();
        let Some((_, logical)) = topology.table(table) else {
            let message = format!("Table '{}.{table}' doesn't exist", topology.schema);
            return self.send_error(codes::ER_NO_SUCH_TABLE, &message).await;
        };
        let (database, physical) = logical.first_physical();
        let physical = physical.to_string();
        let db = &topology.databases[database];
        let mut conn = match self.take_conn(db.backend).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
        };
        let mut buf = Vec::new();
        // COM_FIELD_LIST names a table of the connection's current database.
        let setup = async {
            conn.send_command(0x02, db.name.as_bytes()).await?;
            conn.read_packet(&mut buf).await?;
            if buf.first() == Some(&0xFF) {
                return Err(crate::backend::BackendError::new(
                    &conn.name,
                    crate::backend::BackendErrorKind::Server(
                        crate::protocol::wire::parse_err(&buf).unwrap_or_else(|| {
                            crate::protocol::wire::ErrInfo::new(1049, "42000", "Unknown database")
                        }),
                    ),
                ));
            }
            let mut request = physical.as_bytes().to_vec();
            request.push(0);
            request.extend_from_slice(wildcard);
            conn.send_command(0x04, &request).await
        };
        if let Err(e) = setup.await {
            return self.send_backend_error(&e).await;
        }
        loop {
            if let Err(e) = conn.read_packet(&mut buf).await {
                return Err(SessionError::Desynchronized(e));
            }
            match buf.first() {
                Some(0xFE) | Some(0xFF) | None => {
                    self.writer.write(&buf).await?;
                    break;
                }
                _ => {
                    self.rules.names.rewrite_column(&mut buf);
                    self.writer.write(&buf).await?;
                }
            }
        }
        self.give_back(db.backend, conn);
        Ok(())
    }
}

/// The items of a probe whose values are unsigned integers (ids and counts), described as
/// MariaDB describes them.
pub(crate) fn numeric_probe_items(probe: &Probe) -> Vec<usize> {
    probe
        .items
        .iter()
        .enumerate()
        .filter(|(_, (_, item))| match item {
            ProbeItem::Session(value) => matches!(
                value,
                SessionValue::ConnectionId
                    | SessionValue::LastInsertId
                    | SessionValue::WarningCount
                    | SessionValue::ErrorCount
            ),
            ProbeItem::Constant(c) => c.parse::<u64>().is_ok(),
            ProbeItem::Variable(_) => false,
        })
        .map(|(i, _)| i)
        .collect()
}

/// A backend's text rows as strings.
pub(crate) fn text_rows(rows: Vec<Vec<Option<Vec<u8>>>>) -> Vec<Vec<Option<String>>> {
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.map(|v| String::from_utf8_lossy(&v).into_owned()))
                .collect()
        })
        .collect()
}

/// Replaces the physical table name with the logical one in a metadata value.
fn rename(value: &str, physical: &str, logical: &str) -> String {
    if value == physical {
        return logical.to_string();
    }
    value.replace(&format!("`{physical}`"), &format!("`{logical}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert_eq!(
            rename("CREATE TABLE `t_order_0` (", "t_order_0", "t_order"),
            "CREATE TABLE `t_order` ("
        );
    }
}
