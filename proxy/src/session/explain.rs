//! `EXPLAIN statement`: the statement planned, not run. One physical statement is explained
//! by its backend (MariaDB's own EXPLAIN of the physical SQL, which tools read); a plan over
//! several is described as rows: each physical statement with its backend and database,
//! then the plan's steps (what `shardgate route` prints; ShardingSphere's PREVIEW, Vitess's
//! VEXPLAIN).

use shardgate_router::{Plan, Step};
use tokio::io::{AsyncRead, AsyncWrite};

use super::query::Snapshot;
use super::{Session, SessionError};
use crate::protocol::codes;
use crate::protocol::resultset::TextResult;

/// The columns of a plan described as rows.
const COLUMNS: [&str; 4] = ["step", "backend", "database", "detail"];

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn explain(
        &mut self,
        modifiers: String,
        plan: Plan,
        snapshot: Snapshot,
    ) -> Result<(), SessionError> {
        if let Step::Route(one) = &plan.step {
            let backend = match one.database {
                Some(_) => one.backend,
                None => self.any_backend(),
            };
            let sql = if modifiers.is_empty() {
                format!("EXPLAIN {}", one.sql)
            } else {
                format!("EXPLAIN {modifiers} {}", one.sql)
            };
            return self.single(backend, sql.as_bytes()).await;
        }
        if modifiers
            .split(' ')
            .any(|m| m.starts_with("FORMAT=") && m != "FORMAT=TRADITIONAL")
        {
            return self
                .send_error(
                    codes::ER_NOT_SUPPORTED_YET,
                    "shardgate: EXPLAIN FORMAT=... of a statement over several physical tables is not supported; plain EXPLAIN describes its plan",
                )
                .await;
        }
        let rules = self.rules.clone();
        let router = snapshot
            .as_deref()
            .map_or(&rules.router, |s| s.router(&rules.router));
        let explain = plan.explain(router.topology());
        let mut result = TextResult::new(&COLUMNS);
        for (backend, database, sql) in explain.statements() {
            result.rows.push(vec![
                Some("statement".into()),
                Some(backend.to_string()),
                database.map(str::to_string),
                Some(sql.to_string()),
            ]);
        }
        for line in explain.summary().to_string().lines() {
            result.rows.push(vec![
                Some("plan".into()),
                None,
                None,
                Some(line.to_string()),
            ]);
        }
        self.write_result(result).await
    }
}
