//! The migration state, in MySQL tables every proxy and the CLI share:
//! - `migrations`: one row per logical table: its phase, a version every change bumps (so
//!   two processes cannot both move it), the two configs, and the last check's outcome;
//! - `migration_checkpoints`: how far the backfill got in each source physical table;
//! - `migration_repair_log`: keys a write reached the source with but not the target;
//! - `migration_check_progress`: where an interrupted check resumes;
//! - `migration_proxies`, `migration_acks`: the live proxies and what each acknowledged
//!   (`registry`).

use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::checker::CheckPosition;
use crate::state::{next, Phase, Step};
use crate::MigrateError;

/// What `migrate status` prints, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub table: String,
    pub phase: Phase,
    pub version: u64,
    pub last_check_clean: bool,
    /// Source physical tables whose backfill finished, of those started.
    pub backfilled_tables: u64,
    pub checkpointed_tables: u64,
    pub copied_rows: u64,
    pub repair_log: u64,
}

/// The backfill's place in one source physical table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// The last key copied; the next chunk starts after it.
    pub last_key: Option<i64>,
    pub copied: u64,
    pub done: bool,
}

/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct StateStore {
    pool: mysql_async::Pool,
    database: String,
    /// For errors: the backend's name.
    backend: String,
}

impl StateStore {
    /// The state tables in `database` of the server `opts` reaches (created when missing).
    pub async fn open(
        opts: mysql_async::OptsBuilder,
        database: &str,
        backend: &str,
    ) -> Result<StateStore, MigrateError> {
        let store = StateStore {
            pool: mysql_async::Pool::new(opts.client_found_rows(true)),
            database: database.to_string(),
            backend: backend.to_string(),
        };
        let mut conn = store.conn().await?;
        let db = &store.database;
        for sql in [
            format!("CREATE DATABASE IF NOT EXISTS `{db}`"),
            format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.migrations (table_name VARCHAR(128) NOT NULL PRIMARY KEY, \
                 phase VARCHAR(32) NOT NULL, version BIGINT NOT NULL, \
                 from_config MEDIUMTEXT NOT NULL, to_config MEDIUMTEXT NOT NULL, \
                 last_check_clean TINYINT NOT NULL DEFAULT 0, \
                 updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)) ENGINE = InnoDB"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.migration_checkpoints (table_name VARCHAR(128) NOT NULL, \
                 source_table VARCHAR(300) NOT NULL, last_key BIGINT NULL, copied BIGINT NOT NULL DEFAULT 0, \
                 done TINYINT NOT NULL DEFAULT 0, PRIMARY KEY (table_name, source_table)) ENGINE = InnoDB"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.migration_repair_log (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                 table_name VARCHAR(128) NOT NULL, row_key BIGINT NOT NULL, \
                 logged_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), reason VARCHAR(500) NULL, \
                 KEY (table_name, row_key)) ENGINE = InnoDB"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.migration_check_progress (table_name VARCHAR(128) NOT NULL PRIMARY KEY, \
                 width BIGINT NOT NULL, next_key BIGINT NOT NULL, found BIGINT NOT NULL) ENGINE = InnoDB"
            ),
        ]
        .into_iter()
        .chain(crate::registry::registry_ddl(db))
        {
            conn.query_drop(sql).await.map_err(|e| store.err(e))?;
        }
        Ok(store)
    }

    /// The database the state tables live in.
    pub(crate) fn database(&self) -> &str {
        &self.database
    }

    pub(crate) fn err(&self, e: impl std::fmt::Display) -> MigrateError {
        MigrateError::backend(&self.backend, e)
    }

    pub(crate) async fn conn(&self) -> Result<mysql_async::Conn, MigrateError> {
        self.pool.get_conn().await.map_err(|e| self.err(e))
    }

    /// The migration of `table`, if one was ever started.
    pub async fn status(&self, table: &str) -> Result<Option<Status>, MigrateError> {
        let mut conn = self.conn().await?;
        let db = &self.database;
        let row: Option<(String, u64, u8)> = conn
            .exec_first(
                format!(
                    "SELECT phase, version, last_check_clean FROM `{db}`.migrations WHERE table_name = ?"
                ),
                (table,),
            )
            .await
            .map_err(|e| self.err(e))?;
        let Some((phase, version, clean)) = row else {
            return Ok(None);
        };
        let phase = Phase::parse(&phase)
            .ok_or_else(|| self.err(format!("unknown migration phase `{phase}`")))?;
        let counts: Option<(u64, u64, Option<u64>)> = conn
            .exec_first(
                format!(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(done), 0) AS UNSIGNED), CAST(SUM(copied) AS UNSIGNED) \
                     FROM `{db}`.migration_checkpoints WHERE table_name = ?"
                ),
                (table,),
            )
            .await
            .map_err(|e| self.err(e))?;
        let (checkpointed, done, copied) = counts.unwrap_or((0, 0, None));
        let repair: Option<u64> = conn
            .exec_first(
                format!("SELECT COUNT(*) FROM `{db}`.migration_repair_log WHERE table_name = ?"),
                (table,),
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(Some(Status {
            table: table.to_string(),
            phase,
            version,
            last_check_clean: clean != 0,
            backfilled_tables: done,
            checkpointed_tables: checkpointed,
            copied_rows: copied.unwrap_or(0),
            repair_log: repair.unwrap_or(0),
        }))
    }

    /// Takes `step`: moves the phase if the step follows from it, and only if no other
    /// process moved it meanwhile. `configs` (source and target YAML) are recorded by Start.
    pub async fn advance(
        &self,
        table: &str,
        step: Step,
        configs: Option<(&str, &str)>,
    ) -> Result<Status, MigrateError> {
        let current = self.status(table).await?;
        let to = next(current.as_ref().map(|s| s.phase), step).map_err(MigrateError::State)?;
        let mut conn = self.conn().await?;
        let db = &self.database;
        match (&current, configs) {
            (None, Some((from, target))) => {
                conn.exec_drop(
                    format!(
                        "INSERT IGNORE INTO `{db}`.migrations (table_name, phase, version, from_config, to_config) \
                         VALUES (?, ?, 1, ?, ?)"
                    ),
                    (table, to.as_str(), from, target),
                )
                .await
                .map_err(|e| self.err(e))?;
            }
            (Some(status), configs) => {
                let (from, target) = configs.unwrap_or(("", ""));
                conn.exec_drop(
                    format!(
                        "UPDATE `{db}`.migrations SET phase = ?, version = version + 1, \
                         from_config = IF(? = '', from_config, ?), to_config = IF(? = '', to_config, ?) \
                         WHERE table_name = ? AND version = ?"
                    ),
                    (to.as_str(), from, from, target, target, table, status.version),
                )
                .await
                .map_err(|e| self.err(e))?;
            }
            (None, None) => {
                return Err(MigrateError::State(format!(
                    "no migration of `{table}` has started"
                )))
            }
        }
        if conn.affected_rows() != 1 {
            return Err(MigrateError::Conflict(table.to_string()));
        }
        if step == Step::Start {
            // A new run starts from scratch.
            for t in [
                "migration_checkpoints",
                "migration_repair_log",
                "migration_check_progress",
            ] {
                conn.exec_drop(
                    format!("DELETE FROM `{db}`.{t} WHERE table_name = ?"),
                    (table,),
                )
                .await
                .map_err(|e| self.err(e))?;
            }
        }
        self.status(table)
            .await?
            .ok_or_else(|| MigrateError::Conflict(table.to_string()))
    }

    /// Renews the fence on `table` (see [`crate::FENCE_LEASE`]); false when the table is no
    /// longer fenced.
    pub async fn renew_fence(&self, table: &str) -> Result<bool, MigrateError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            format!(
                "UPDATE `{}`.migrations SET updated_at = NOW(3) WHERE table_name = ? AND phase = 'fencing'",
                self.database
            ),
            (table,),
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(conn.affected_rows() == 1)
    }

    /// Records the outcome of a check.
    pub async fn set_check_clean(&self, table: &str, clean: bool) -> Result<(), MigrateError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            format!(
                "UPDATE `{}`.migrations SET last_check_clean = ? WHERE table_name = ?",
                self.database
            ),
            (u8::from(clean), table),
        )
        .await
        .map_err(|e| self.err(e))
    }

    /// The two configs recorded when the migration started.
    pub async fn configs(&self, table: &str) -> Result<Option<(String, String)>, MigrateError> {
        let mut conn = self.conn().await?;
        conn.exec_first(
            format!(
                "SELECT from_config, to_config FROM `{}`.migrations WHERE table_name = ?",
                self.database
            ),
            (table,),
        )
        .await
        .map_err(|e| self.err(e))
    }

    pub async fn checkpoint(&self, table: &str, source: &str) -> Result<Checkpoint, MigrateError> {
        let mut conn = self.conn().await?;
        let row: Option<(Option<i64>, u64, u8)> = conn
            .exec_first(
                format!(
                    "SELECT last_key, copied, done FROM `{}`.migration_checkpoints \
                     WHERE table_name = ? AND source_table = ?",
                    self.database
                ),
                (table, source),
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(
            row.map_or(Checkpoint::default(), |(last_key, copied, done)| {
                Checkpoint {
                    last_key,
                    copied,
                    done: done != 0,
                }
            }),
        )
    }

    pub async fn save_checkpoint(
        &self,
        table: &str,
        source: &str,
        checkpoint: Checkpoint,
    ) -> Result<(), MigrateError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            format!(
                "INSERT INTO `{}`.migration_checkpoints (table_name, source_table, last_key, copied, done) \
                 VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE last_key = VALUES(last_key), \
                 copied = VALUES(copied), done = VALUES(done)",
                self.database
            ),
            (
                table,
                source,
                checkpoint.last_key,
                checkpoint.copied,
                u8::from(checkpoint.done),
            ),
        )
        .await
        .map_err(|e| self.err(e))
    }

    /// Records keys whose target rows must be copied again.
    pub async fn log_repair(
        &self,
        table: &str,
        keys: &[i64],
        reason: &str,
    ) -> Result<(), MigrateError> {
        let mut conn = self.conn().await?;
        for chunk in keys.chunks(500) {
            let values = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let params: Vec<mysql_async::Value> = chunk
                .iter()
                .flat_map(|k| [table.into(), (*k).into(), reason.into()])
                .collect();
            conn.exec_drop(
                format!(
                    "INSERT INTO `{}`.migration_repair_log (table_name, row_key, reason) VALUES {values}",
                    self.database
                ),
                params,
            )
            .await
            .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The keys in the repair log, each once.
    pub async fn repair_keys(&self, table: &str) -> Result<Vec<i64>, MigrateError> {
        let mut conn = self.conn().await?;
        conn.exec(
            format!(
                "SELECT DISTINCT row_key FROM `{}`.migration_repair_log WHERE table_name = ? ORDER BY row_key",
                self.database
            ),
            (table,),
        )
        .await
        .map_err(|e| self.err(e))
    }

    /// Removes repaired keys from the log (entries logged since stay).
    pub async fn clear_repaired(&self, table: &str, up_to_id: u64) -> Result<(), MigrateError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            format!(
                "DELETE FROM `{}`.migration_repair_log WHERE table_name = ? AND id <= ?",
                self.database
            ),
            (table, up_to_id),
        )
        .await
        .map_err(|e| self.err(e))
    }

    /// The newest repair-log entry's id (0 when empty).
    pub async fn repair_log_mark(&self, table: &str) -> Result<u64, MigrateError> {
        let mut conn = self.conn().await?;
        let mark: Option<Option<u64>> = conn
            .exec_first(
                format!(
                    "SELECT MAX(id) FROM `{}`.migration_repair_log WHERE table_name = ?",
                    self.database
                ),
                (table,),
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(mark.flatten().unwrap_or(0))
    }

    /// Where an interrupted check of `table` resumes, and how many differing keys it had
    /// found before.
    pub async fn check_progress(
        &self,
        table: &str,
    ) -> Result<Option<(CheckPosition, u64)>, MigrateError> {
        let mut conn = self.conn().await?;
        let row: Option<(i64, i64, u64)> = conn
            .exec_first(
                format!(
                    "SELECT width, next_key, found FROM `{}`.migration_check_progress WHERE table_name = ?",
                    self.database
                ),
                (table,),
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.map(|(width, next_key, found)| (CheckPosition { width, next_key }, found)))
    }

    /// Records a check's place (`None`: the check is over, or must start afresh).
    pub async fn save_check_progress(
        &self,
        table: &str,
        at: Option<(CheckPosition, u64)>,
    ) -> Result<(), MigrateError> {
        let mut conn = self.conn().await?;
        let db = &self.database;
        match at {
            Some((p, found)) => conn
                .exec_drop(
                    format!(
                        "INSERT INTO `{db}`.migration_check_progress (table_name, width, next_key, found) VALUES (?, ?, ?, ?) \
                         ON DUPLICATE KEY UPDATE width = VALUES(width), next_key = VALUES(next_key), found = VALUES(found)"
                    ),
                    (table, p.width, p.next_key, found),
                )
                .await,
            None => {
                conn.exec_drop(
                    format!("DELETE FROM `{db}`.migration_check_progress WHERE table_name = ?"),
                    (table,),
                )
                .await
            }
        }
        .map_err(|e| self.err(e))
    }

    pub async fn close(self) {
        let _ = self.pool.disconnect().await;
    }
}
