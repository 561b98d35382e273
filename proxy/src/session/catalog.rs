//! `information_schema` lookups of logical tables (what ORMs and GUI tools run at startup).
//!
//! Backends know only physical tables, so shardgate keeps a catalog database on the first
//! backend, `shardgate_catalog`, holding one empty table per logical table, created from its
//! representative physical table's definition and refreshed before each lookup. A lookup runs
//! there with the logical schema's name swapped for the catalog's, and the answer is renamed
//! back. Row counts and sizes in the answer describe the empty catalog tables.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::protocol::resultset::TextResult;

pub(crate) const CATALOG: &str = "shardgate_catalog";

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn information_schema(&mut self, sql: &str) -> Result<(), SessionError> {
        let schema = self.ctx.topology.schema.clone();
        let rewritten = swap_schema(sql, &schema, CATALOG);
        // Planned like any statement: information_schema tables alone, allowed functions.
        if let Err(e) = shardgate_router::check_information_schema(&rewritten) {
            return self.send_router_error(&e).await;
        }
        if let Err(e) = self.refresh_catalog().await {
            return self.send_backend_error(&e).await;
        }
        let mut conn = match self.take_unpinned(0).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
        };
        let answer = conn.query_with_definitions(&rewritten).await;
        self.give_back_unpinned(conn);
        match answer {
            Ok((definitions, rows)) => {
                // The server's own column definitions: COUNT(*) stays a number.
                let mut result = TextResult {
                    definitions: Some(definitions),
                    ..Default::default()
                };
                result.rows = rows
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .map(|v| {
                                v.map(|v| String::from_utf8_lossy(&v).into_owned())
                                    .map(|v| if v == CATALOG { schema.clone() } else { v })
                            })
                            .collect()
                    })
                    .collect();
                self.write_result(result).await
            }
            Err(e) => self.send_backend_error(&e).await,
        }
    }

    /// Re-creates the catalog's tables from their representative physical tables.
    async fn refresh_catalog(&mut self) -> Result<(), crate::backend::BackendError> {
        let topology = self.ctx.topology.clone();
        let mut definitions = Vec::new();
        for table in &topology.tables {
            let (database, physical) = table.first_physical();
            let db = &topology.databases[database];
            let mut conn = self.take_unpinned(db.backend).await?;
            let answer = conn
                .query_rows(&format!("SHOW CREATE TABLE `{}`.`{physical}`", db.name))
                .await;
            self.give_back_unpinned(conn);
            let ddl = match answer {
                Ok((_, rows)) => rows
                    .into_iter()
                    .next()
                    .and_then(|r| r.into_iter().nth(1))
                    .flatten(),
                // A logical table not created yet has no catalog entry either.
                Err(e) if matches!(&e.kind, crate::backend::BackendErrorKind::Server(i) if i.code == 1146) => {
                    None
                }
                Err(e) => return Err(e),
            };
            definitions.push((table.name.clone(), physical.to_string(), ddl));
        }
        // Catalog DDL commits implicitly: never on the client's transaction.
        let mut conn = self.take_unpinned(0).await?;
        let result = async {
            conn.execute_internal(&format!("CREATE DATABASE IF NOT EXISTS `{CATALOG}`"))
                .await?;
            for (logical, physical, ddl) in &definitions {
                conn.execute_internal(&format!("DROP TABLE IF EXISTS `{CATALOG}`.`{logical}`"))
                    .await?;
                if let Some(ddl) = ddl {
                    let ddl = ddl.replacen(
                        &format!("CREATE TABLE `{physical}`"),
                        &format!("CREATE TABLE `{CATALOG}`.`{logical}`"),
                        1,
                    );
                    conn.execute_internal(&ddl).await?;
                }
            }
            Ok(())
        }
        .await;
        self.give_back_unpinned(conn);
        result
    }
}

/// Replaces the logical schema's name where the statement names it as a string (`'shop'`)
/// and `DATABASE()`, with the catalog's.
fn swap_schema(sql: &str, schema: &str, catalog: &str) -> String {
    let literals = shardgate_router::normalize(sql).literals;
    let mut out = String::with_capacity(sql.len() + 32);
    let mut at = 0;
    for literal in literals {
        if let shardgate_router::ParamValue::Str(s) = &literal.value {
            if s.eq_ignore_ascii_case(schema) {
                out.push_str(&sql[at..literal.span.start]);
                out.push('\'');
                out.push_str(catalog);
                out.push('\'');
                at = literal.span.end;
            }
        }
    }
    out.push_str(&sql[at..]);
    replace_ci(&out, "DATABASE()", &format!("'{catalog}'"))
}

fn replace_ci(text: &str, pattern: &str, with: &str) -> String {
    let upper = text.to_ascii_uppercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = upper[at..].find(pattern) {
        out.push_str(&text[at..at + i]);
        out.push_str(with);
        at += i + pattern.len();
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::swap_schema;

    #[test]
    fn swaps_the_schema_name() {
        assert_eq!(
            swap_schema("SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'shop_x'", "shop", "cat"),
            "SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'cat' AND TABLE_NAME = 'shop_x'"
        );
        assert_eq!(
            swap_schema("select column_name from information_schema.columns where table_schema = database()", "shop", "cat"),
            "select column_name from information_schema.columns where table_schema = 'cat'"
        );
    }
}
