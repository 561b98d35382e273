//! Steps for writes on a table being migrated. The proxy keeps a snapshot of its migrations
//! (which tables, in which phase, routed by which layout); a write on one of those tables is
//! wrapped here, by that snapshot's phase: [`Step::DualWrite`] runs it on the layout that is
//! the source of truth and copies the rows it touched to the other, [`Step::Fence`] holds it
//! while the layouts switch. What dual-write cannot copy exactly is refused here, before
//! anything runs.

use crate::error::{Result, RouterError};
use crate::mirror::{write_keys, WriteKeys};
use crate::plan::{Plan, StatementKind, Step};

/// What a table's migration asks of writes on it, as the proxy's snapshot says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationPhase {
    /// Written on the layout that is the source of truth (the new one when `by_target`),
    /// and copied to the other.
    DualWrite { by_target: bool },
    /// Held while the layouts switch, then planned again.
    Fenced,
}

/// A write on a migrating table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DualWrite {
    /// The client's write, routed to the layout that is the source of truth.
    pub write: Box<Step>,
    /// The logical table being migrated.
    pub table: String,
    /// The rows the write touches: what is copied once it commits.
    pub keys: WriteKeys,
    /// The new layout is the source of truth (the copies go to the old one).
    pub by_target: bool,
}

impl Plan {
    /// This plan, a write on `table` (whose rows are identified by the integer column
    /// `key`), as the table's migration asks in `phase`. `sql` is the statement the plan
    /// was made from: the keys it touches are read from it.
    pub fn under_migration(
        self,
        sql: &str,
        table: &str,
        key: &str,
        phase: MigrationPhase,
    ) -> Result<Plan> {
        let by_target = match phase {
            MigrationPhase::Fenced => {
                return Ok(Plan {
                    step: Step::Fence(table.to_string()),
                    ..self
                })
            }
            MigrationPhase::DualWrite { by_target } => by_target,
        };
        if self.kind == StatementKind::Ddl {
            return Err(RouterError::Refused(format!(
                "DDL on `{table}` is refused while it is being migrated"
            )));
        }
        let keys = write_keys(sql, table, key)?;
        // Rows without a key need one each from the generator; only a single row may take
        // the server's AUTO_INCREMENT, which the OK packet reports.
        if let WriteKeys::Rows(rows) = &keys {
            let missing = rows.iter().filter(|k| k.is_none()).count();
            if missing > self.generated_keys().len() && rows.len() > 1 {
                return Err(RouterError::Refused(format!(
                    "a multi-row INSERT into `{table}` must give every row's `{key}` while the table is being migrated"
                )));
            }
        }
        Ok(Plan {
            step: Step::DualWrite(Box::new(DualWrite {
                write: Box::new(self.step),
                table: table.to_string(),
                keys,
                by_target,
            })),
            ..self
        })
    }
}
