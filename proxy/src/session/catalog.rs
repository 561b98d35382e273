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

use shardgate_router::command::CATALOG_DATABASE as CATALOG;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Runs `catalog_sql`, the planner's rewrite of an information_schema query, in the
    /// catalog database.
    pub(crate) async fn information_schema(
        &mut self,
        catalog_sql: &str,
    ) -> Result<Option<TextResult>, SessionError> {
        let schema = self.rules.topology.schema.clone();
        if let Err(e) = self.refresh_catalog().await {
            self.send_backend_error(&e).await?;
            return Ok(None);
        }
        let mut conn = match self.take_unpinned(0).await {
            Ok(c) => c,
            Err(e) => {
                self.send_backend_error(&e).await?;
                return Ok(None);
            }
        };
        let answer = conn.query_with_definitions(catalog_sql).await;
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
                Ok(Some(result))
            }
            Err(e) => {
                self.send_backend_error(&e).await?;
                Ok(None)
            }
        }
    }

    /// Re-creates the catalog's tables from their representative physical tables.
    async fn refresh_catalog(&mut self) -> Result<(), crate::backend::BackendError> {
        let topology = self.rules.topology.clone();
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
