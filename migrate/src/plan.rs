//! What a migration moves: the source and target physical tables of one logical table, from
//! two routing configs, and the steps to take.

use std::fmt;

use shardgate_config::{TableKind, Topology};

use crate::MigrateError;

/// One physical table: where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalTable {
    pub backend: usize,
    pub database: String,
    pub table: String,
}

impl PhysicalTable {
    /// `` `db`.`table` ``
    pub fn qualified(&self) -> String {
        format!("`{}`.`{}`", self.database, self.table)
    }
}

/// One side of a migration.
#[derive(Debug, Clone)]
pub struct Side {
    pub topology: Topology,
    /// The logical table's index in `topology.tables`.
    pub table: usize,
    pub physical: Vec<PhysicalTable>,
}

impl Side {
    fn new(topology: Topology, name: &str, which: &str) -> Result<Side, MigrateError> {
        let (table, logical) = topology.table(name).ok_or_else(|| {
            MigrateError::Plan(format!("the {which} config has no table `{name}`"))
        })?;
        let physical = match &logical.kind {
            TableKind::Sharded(layout) => layout
                .databases
                .iter()
                .flat_map(|&db| {
                    let database = &topology.databases[db];
                    layout.tables.iter().map(move |t| PhysicalTable {
                        backend: database.backend,
                        database: database.name.clone(),
                        table: t.clone(),
                    })
                })
                .collect(),
            TableKind::Single { database } => {
                let database = &topology.databases[*database];
                vec![PhysicalTable {
                    backend: database.backend,
                    database: database.name.clone(),
                    table: logical.name.clone(),
                }]
            }
            TableKind::Broadcast => {
                return Err(MigrateError::Plan(format!(
                    "`{name}` is a broadcast table in the {which} config: every database holds all of it, there is nothing to reshard"
                )))
            }
        };
        Ok(Side {
            topology,
            table,
            physical,
        })
    }

    /// A one-line description: kind, physical tables, databases, backends.
    pub fn describe(&self) -> String {
        let logical = &self.topology.tables[self.table];
        let backends: Vec<&str> = {
            let mut ids: Vec<usize> = self.physical.iter().map(|p| p.backend).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.iter()
                .map(|&b| self.topology.backends[b].name.as_str())
                .collect()
        };
        let mut databases: Vec<&str> = self.physical.iter().map(|p| p.database.as_str()).collect();
        databases.dedup();
        match &logical.kind {
            TableKind::Sharded(layout) => {
                format!(
                "sharded by `{}`: {} physical tables ({} databases x {} tables, {} .. {}), on {}",
                layout.sharding_column,
                self.physical.len(),
                layout.databases.len(),
                layout.tables.len(),
                self.physical.first().map(PhysicalTable::qualified).unwrap_or_default(),
                self.physical.last().map(PhysicalTable::qualified).unwrap_or_default(),
                backends.join(", ")
            )
            }
            _ => format!(
                "one table, {}, on {}",
                self.physical
                    .first()
                    .map(PhysicalTable::qualified)
                    .unwrap_or_default(),
                backends.join(", ")
            ),
        }
    }
}

/// A migration of one logical table from one layout to another.
#[derive(Debug, Clone)]
pub struct MigrationPlan {
    pub table: String,
    pub source: Side,
    pub target: Side,
    /// The column rows are routed and chunked by (the target's sharding column).
    pub key: String,
}

impl MigrationPlan {
    pub fn new(from: Topology, to: Topology, table: &str) -> Result<Self, MigrateError> {
        // The proxies run with the source config and must route the table by the target's
        // layout after cutover: its backends must be theirs.
        from.with_table_from(&to, table)
            .map_err(|e| MigrateError::Plan(e.to_string()))?;
        let source = Side::new(from, table, "source")?;
        let target = Side::new(to, table, "target")?;
        let key = match &target.topology.tables[target.table].kind {
            TableKind::Sharded(layout) => layout.sharding_column.clone(),
            _ => {
                return Err(MigrateError::Plan(format!(
                    "`{table}` is not sharded in the target config: shardgate migrates tables to sharded layouts"
                )))
            }
        };
        // A physical table in both layouts would be copied onto itself.
        for t in &target.physical {
            let server = &target.topology.backends[t.backend].address;
            if source.physical.iter().any(|s| {
                s.database == t.database
                    && s.table == t.table
                    && source.topology.backends[s.backend].address == *server
            }) {
                return Err(MigrateError::Plan(format!(
                    "{} on {server} is in both layouts; give the target tables other names (for example `{}_v2_{{0..N}}`)",
                    t.qualified(),
                    table
                )));
            }
        }
        Ok(MigrationPlan {
            table: table.to_string(),
            source,
            target,
            key,
        })
    }
}

impl MigrationPlan {
    /// The same migration seen from the new layout: after cutover the target is the
    /// source of truth, and repairs copy rows back to the old layout.
    pub fn reversed(&self) -> MigrationPlan {
        MigrationPlan {
            table: self.table.clone(),
            source: self.target.clone(),
            target: self.source.clone(),
            key: self.key.clone(),
        }
    }
}

impl fmt::Display for MigrationPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "table   {}", self.table)?;
        writeln!(f, "source  {}", self.source.describe())?;
        writeln!(f, "target  {}", self.target.describe())?;
        writeln!(
            f,
            "key     {} (rows are routed and copied in chunks by it)",
            self.key
        )?;
        writeln!(f, "steps")?;
        for (i, step) in [
            "start     create the target tables; proxies write to source and target, read from the source",
            "backfill  copy existing rows in key chunks (INSERT IGNORE; resumable, throttled)",
            "check     compare row counts and checksums chunk by chunk; diff the chunks that differ",
            "repair    copy again from the source the rows check or the repair log named",
            "cutover   fence writes briefly, check the rows changed since, flip reads and writes to the target",
            "finish    stop writing the source (--drop-source drops its tables)",
        ]
        .iter()
        .enumerate()
        {
            writeln!(f, "  {}. {step}", i + 1)?;
        }
        write!(
            f,
            "rollback  from any step before finish: back to the source alone"
        )
    }
}
