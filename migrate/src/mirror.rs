//! Writing rows to one side of a migration by key: the row as the side that is the source
//! of truth holds it now, or its absence. Dual-write in the proxies and `repair` both copy
//! rows this way; the side written never decides anything, it only follows.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use crate::check::table_of;
use crate::plan::Side;
use crate::MigrateError;

/// One key's row as the source of truth holds it: its values in [`RowWriter::columns`]
/// order, or `None` when it has no such row.
pub type KeyedRow = (i64, Option<Vec<Value>>);

/// Writes rows to the physical tables of one side.
pub struct RowWriter {
    side: Side,
    key: String,
    columns: Vec<String>,
    pools: Vec<mysql_async::Pool>,
}

impl RowWriter {
    /// A writer to `side`, whose rows have `columns` (in the order values are given) and are
    /// found by the integer column `key`.
    pub fn new(side: Side, key: &str, columns: Vec<String>) -> Self {
        // Values are written as SQL literals, escaped with backslashes: make sure the
        // session reads them so whatever the server's default sql_mode.
        let pools = side
            .topology
            .backends
            .iter()
            .map(|b| {
                mysql_async::Pool::new(crate::backend_opts(b).init(vec![
                    "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
                ]))
            })
            .collect();
        RowWriter {
            side,
            key: key.to_string(),
            columns,
            pools,
        }
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Makes each key's row on this side what `rows` says: inserted or updated in place (an
    /// upsert on the key, never REPLACE, which would delete rows clashing on another unique
    /// key), or deleted. Rows are grouped by physical table, one statement per table and kind.
    pub async fn apply(&self, rows: &[KeyedRow]) -> Result<(), MigrateError> {
        let mut upserts: BTreeMap<usize, Vec<&Vec<Value>>> = BTreeMap::new();
        let mut deletes: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for (k, row) in rows {
            let table = table_of(&self.side, *k)?;
            match row {
                Some(values) if values.len() == self.columns.len() => {
                    upserts.entry(table).or_default().push(values)
                }
                Some(values) => {
                    return Err(MigrateError::Plan(format!(
                        "a row of {} values for {} columns",
                        values.len(),
                        self.columns.len()
                    )))
                }
                None => deletes.entry(table).or_default().push(*k),
            }
        }
        let list = self
            .columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let updates = self
            .columns
            .iter()
            .map(|c| format!("`{c}` = VALUES(`{c}`)"))
            .collect::<Vec<_>>()
            .join(", ");
        // Text statements: one round trip each (a prepared statement per physical table
        // would cost a prepare too, for 1024 tables).
        for (table, rows) in upserts {
            let values: Vec<String> = rows
                .iter()
                .map(|row| {
                    let literals: Vec<String> = row.iter().map(|v| v.as_sql(false)).collect();
                    format!("({})", literals.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO {} ({list}) VALUES {} ON DUPLICATE KEY UPDATE {updates}",
                self.side.physical[table].qualified(),
                values.join(", ")
            );
            self.run(table, sql).await?;
        }
        for (table, keys) in deletes {
            let list: Vec<String> = keys.iter().map(i64::to_string).collect();
            let sql = format!(
                "DELETE FROM {} WHERE `{}` IN ({})",
                self.side.physical[table].qualified(),
                self.key,
                list.join(", ")
            );
            self.run(table, sql).await?;
        }
        Ok(())
    }

    async fn run(&self, table: usize, sql: String) -> Result<(), MigrateError> {
        let backend = self.side.physical[table].backend;
        let name = &self.side.topology.backends[backend].name;
        let mut conn = self.pools[backend]
            .get_conn()
            .await
            .map_err(|e| MigrateError::backend(name, e))?;
        conn.query_drop(sql)
            .await
            .map_err(|e| MigrateError::backend(name, e))
    }

    pub async fn close(self) {
        for pool in self.pools {
            let _ = pool.disconnect().await;
        }
    }
}

/// The columns of `side`'s table, in table order, as its first physical table has them.
pub async fn table_columns(side: &Side) -> Result<Vec<String>, MigrateError> {
    let first = side
        .physical
        .first()
        .ok_or_else(|| MigrateError::Plan("a side has no physical table".into()))?;
    let backend = &side.topology.backends[first.backend];
    let mut conn = mysql_async::Conn::new(crate::backend_opts(backend))
        .await
        .map_err(|e| MigrateError::backend(&backend.name, e))?;
    let columns: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&first.database, &first.table),
        )
        .await
        .map_err(|e| MigrateError::backend(&backend.name, e))?;
    let _ = conn.disconnect().await;
    if columns.is_empty() {
        return Err(MigrateError::Plan(format!(
            "{} has no columns",
            first.qualified()
        )));
    }
    Ok(columns)
}
