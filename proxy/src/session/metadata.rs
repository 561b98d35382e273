//! What drivers, ORMs and tools ask about the server and its tables, answered with logical
//! names: SHOW DATABASES / TABLES / COLUMNS / INDEX / CREATE TABLE, DESCRIBE, SELECT
//! DATABASE() and friends. Per-table questions are asked of one representative physical table
//! and the answer is renamed back.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::protocol::codes;
use crate::protocol::resultset::TextResult;

/// SHOW statements a backend answers as they are (server-wide facts, not tables).
const SERVER_SHOWS: [&str; 9] = [
    "VARIABLES",
    "STATUS",
    "WARNINGS",
    "ERRORS",
    "ENGINES",
    "CHARSET",
    "CHARACTER",
    "COLLATION",
    "PLUGINS",
];

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn show(&mut self, sql: &str, keyword: &str) -> Result<(), SessionError> {
        let words: Vec<String> = sql
            .trim()
            .trim_end_matches(';')
            .split_whitespace()
            .map(|w| w.to_string())
            .collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let at = |i: usize| upper.get(i).map(String::as_str).unwrap_or("");
        if keyword == "DESC" || keyword == "DESCRIBE" {
            return match words.get(1) {
                Some(table) => {
                    self.show_for_table(table, |physical| format!("SHOW COLUMNS FROM {physical}"))
                        .await
                }
                None => {
                    self.send_error(codes::ER_PARSE_ERROR, "DESCRIBE needs a table")
                        .await
                }
            };
        }
        // Skip SESSION/GLOBAL/FULL modifiers.
        let mut i = 1;
        let mut full = false;
        while matches!(at(i), "FULL" | "SESSION" | "GLOBAL" | "LOCAL") {
            full |= at(i) == "FULL";
            i += 1;
        }
        match at(i) {
            "DATABASES" | "SCHEMAS" => {
                let result = TextResult::new(&["Database"])
                    .row(vec![Some("information_schema".into())])
                    .row(vec![Some(self.ctx.topology.schema.clone())]);
                self.write_result(result).await
            }
            "TABLES" => {
                let like = like_pattern(&words, &upper);
                let schema = self.ctx.topology.schema.clone();
                let mut result = if full {
                    TextResult::new(&[&format!("Tables_in_{schema}"), "Table_type"])
                } else {
                    TextResult::new(&[&format!("Tables_in_{schema}")])
                };
                let mut names: Vec<&str> = self
                    .ctx
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
                    if full {
                        row.push(Some("BASE TABLE".into()));
                    }
                    result.rows.push(row);
                }
                self.write_result(result).await
            }
            "COLUMNS" | "FIELDS" | "INDEX" | "INDEXES" | "KEYS" => {
                // SHOW [FULL] COLUMNS FROM t [FROM db] ...
                let Some(table) = words.get(i + 2) else {
                    return self
                        .send_error(codes::ER_PARSE_ERROR, "SHOW needs FROM table")
                        .await;
                };
                let what = if matches!(at(i), "COLUMNS" | "FIELDS") {
                    if full {
                        "FULL COLUMNS"
                    } else {
                        "COLUMNS"
                    }
                } else {
                    "INDEX"
                };
                let table = table.clone();
                self.show_for_table(&table, |physical| format!("SHOW {what} FROM {physical}"))
                    .await
            }
            "CREATE" if at(i + 1) == "TABLE" => {
                let Some(table) = words.get(i + 2).cloned() else {
                    return self
                        .send_error(codes::ER_PARSE_ERROR, "SHOW CREATE TABLE needs a table")
                        .await;
                };
                self.show_for_table(&table, |physical| format!("SHOW CREATE TABLE {physical}"))
                    .await
            }
            w if SERVER_SHOWS.contains(&w) => {
                // `SHOW ... WHERE <expression>` runs on a backend: the expression may not
                // read tables or call refused functions.
                if let Some(at) = upper.iter().position(|w| w == "WHERE") {
                    let condition = words[at + 1..].join(" ");
                    if let Err(e) = shardgate_router::check_set_value(&condition) {
                        return self.send_router_error(&e).await;
                    }
                }
                self.single(0, sql.as_bytes()).await
            }
            _ => self.not_supported(&format!("SHOW {}", at(i))).await,
        }
    }

    /// Asks `make(physical)` of the table's first physical table and renames it back.
    async fn show_for_table(
        &mut self,
        written: &str,
        make: impl Fn(&str) -> String,
    ) -> Result<(), SessionError> {
        let name = written.trim_matches('`');
        let name = match name.split_once('.') {
            Some((schema, table))
                if schema
                    .trim_matches('`')
                    .eq_ignore_ascii_case(&self.ctx.topology.schema) =>
            {
                table.trim_matches('`')
            }
            _ => name,
        };
        let topology = self.ctx.topology.clone();
        let Some((_, table)) = topology.table(name) else {
            let message = format!("Table '{}.{name}' doesn't exist", topology.schema);
            return self.send_error(codes::ER_NO_SUCH_TABLE, &message).await;
        };
        let (database, physical) = table.first_physical();
        let physical = physical.to_string();
        let db_name = &topology.databases[database].name;
        let backend = topology.databases[database].backend;
        let mut conn = match self.take_unpinned(backend).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
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
                self.write_result(result).await
            }
            Err(e) if matches!(&e.kind, crate::backend::BackendErrorKind::Server(info) if info.code == 1146) =>
            {
                let message = format!("Table '{}.{}' doesn't exist", topology.schema, table.name);
                self.send_error(codes::ER_NO_SUCH_TABLE, &message).await
            }
            Err(e) => self.send_backend_error(&e).await,
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

    /// `SELECT DATABASE()` and other questions about the session itself. Returns whether it
    /// answered.
    pub(crate) async fn answer_probe(&mut self, sql: &str) -> Result<bool, SessionError> {
        // Every probe calls a function or names a variable; most statements do neither.
        if !sql.contains("()") && !sql.contains("@@") {
            return Ok(false);
        }
        let normalized: String = sql
            .trim()
            .trim_end_matches(';')
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        let (column, value) = match normalized.as_str() {
            "SELECT DATABASE()" | "SELECT SCHEMA()" => (&normalized[7..], self.database.clone()),
            "SELECT LAST_INSERT_ID()" | "SELECT @@IDENTITY" | "SELECT @@LAST_INSERT_ID" => {
                (&normalized[7..], Some(self.last_insert_id.to_string()))
            }
            "SELECT CONNECTION_ID()" => (&normalized[7..], Some(self.connection_id.to_string())),
            "SELECT USER()"
            | "SELECT CURRENT_USER()"
            | "SELECT SESSION_USER()"
            | "SELECT SYSTEM_USER()" => {
                (&normalized[7..], Some(format!("{}@shardgate", self.user)))
            }
            _ if normalized.starts_with("SELECT @@")
                && (normalized.contains("TRANSACTION_READ_ONLY")
                    || normalized.contains("TRANSACTION_ISOLATION")) =>
            {
                return self.variables_with_aliases(sql).await;
            }
            _ => return Ok(false),
        };
        let column = column.to_ascii_lowercase();
        let result = TextResult::new(&[&column]).row(vec![value]);
        self.write_result(result).await?;
        Ok(true)
    }

    /// `SELECT @@session.transaction_read_only, ...`: MySQL 8 drivers ask for variables that
    /// MariaDB 10 calls `tx_read_only` and `tx_isolation`. Answered under the names asked.
    async fn variables_with_aliases(&mut self, sql: &str) -> Result<bool, SessionError> {
        let list = sql.trim().trim_end_matches(';').trim()[6..].trim();
        let mut labels = Vec::new();
        let mut exprs = Vec::new();
        for item in super::vars::split_top_level(list) {
            let item = item.trim();
            let (expr, label) = match item.to_ascii_uppercase().find(" AS ") {
                Some(i) => (
                    item[..i].trim(),
                    item[i + 4..].trim().trim_matches('`').to_string(),
                ),
                None => (item, item.to_string()),
            };
            if !expr.starts_with("@@")
                || !expr[2..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Ok(false);
            }
            let lower = expr.to_ascii_lowercase();
            exprs.push(
                lower
                    .replace("transaction_read_only", "tx_read_only")
                    .replace("transaction_isolation", "tx_isolation"),
            );
            labels.push(label);
        }
        let backend = self.pinned.keys().next().copied().unwrap_or(0);
        let mut conn = match self.take_conn(backend).await {
            Ok(c) => c,
            Err(e) => {
                self.send_backend_error(&e).await?;
                return Ok(true);
            }
        };
        let answer = conn
            .query_rows(&format!("SELECT {}", exprs.join(", ")))
            .await;
        self.give_back(backend, conn);
        match answer {
            Ok((_, rows)) => {
                let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                let mut result = TextResult::new(&labels);
                result.rows = rows;
                self.write_result(result).await?;
            }
            Err(e) => self.send_backend_error(&e).await?,
        }
        Ok(true)
    }

    /// COM_FIELD_LIST: the column definitions of a representative physical table, renamed.
    pub(crate) async fn forward_field_list(
        &mut self,
        table: &str,
        wildcard: &[u8],
    ) -> Result<(), SessionError> {
        let topology = self.ctx.topology.clone();
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
                    self.ctx.names.rewrite_column(&mut buf);
                    self.writer.write(&buf).await?;
                }
            }
        }
        self.give_back(db.backend, conn);
        Ok(())
    }
}

/// Replaces the physical table name with the logical one in a metadata value.
fn rename(value: &str, physical: &str, logical: &str) -> String {
    if value == physical {
        return logical.to_string();
    }
    value.replace(&format!("`{physical}`"), &format!("`{logical}`"))
}

fn like_pattern(words: &[String], upper: &[String]) -> Option<String> {
    let i = upper.iter().position(|w| w == "LIKE")?;
    Some(words.get(i + 1)?.trim_matches(['\'', '"']).to_string())
}

/// SQL LIKE with `%` and `_`, case-insensitive.
fn like_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => {
                t.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &t[1..])
            }
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like_match("t_%", "t_order"));
        assert!(like_match("T\\_ORDER%", "t\\_order_item") || like_match("t%item", "t_order_item"));
        assert!(!like_match("x%", "t_order"));
        assert_eq!(
            rename("CREATE TABLE `t_order_0` (", "t_order_0", "t_order"),
            "CREATE TABLE `t_order` ("
        );
    }
}
