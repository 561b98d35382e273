//! One table's layout taken from another config: how proxies, which run with a migration's
//! source config, route a table once it is cut over to the target layout.

use crate::error::ConfigError;
use crate::topology::{PhysicalDatabase, TableKind, Topology};

fn refuse(table: &str, message: String) -> ConfigError {
    ConfigError::Layout {
        table: table.to_string(),
        message,
    }
}

impl Topology {
    /// This topology with `table` laid out as `other` lays it out. Backends keep their
    /// indices (a proxy's pools follow them): each of `other`'s backends that holds the table
    /// must be one of ours, at the same address. Databases `other` adds are appended.
    pub fn with_table_from(&self, other: &Topology, table: &str) -> Result<Topology, ConfigError> {
        let (ours, _) = self
            .table(table)
            .ok_or_else(|| refuse(table, "this config does not define it".into()))?;
        let (_, logical) = other
            .table(table)
            .ok_or_else(|| refuse(table, "the other config does not define it".into()))?;
        // A binding group shares one layout: moving one member alone would split it.
        let in_group = self.tables.iter().enumerate().any(|(i, t)| {
            i != ours && matches!(&t.kind, TableKind::Sharded(l) if l.binding_group == ours)
        });
        let bound =
            matches!(&self.tables[ours].kind, TableKind::Sharded(l) if l.binding_group != ours);
        if in_group || bound {
            return Err(refuse(
                table,
                "it is in a binding group; its tables must move together, which is not supported yet".into(),
            ));
        }
        let mut merged = self.clone();
        merged.generation = crate::topology::next_generation();
        let mut database_of = |db: usize| -> Result<usize, ConfigError> {
            let database = &other.databases[db];
            let address = &other.backends[database.backend].address;
            let backend = self
                .backends
                .iter()
                .position(|b| b.address == *address)
                .ok_or_else(|| {
                    refuse(
                        table,
                        format!(
                            "backend `{}` ({address}) of the new layout is not among this config's backends; add it to the config the proxies run with",
                            other.backends[database.backend].name
                        ),
                    )
                })?;
            match merged.database_index.get(&database.name) {
                Some(&id) if merged.databases[id].backend == backend => Ok(id),
                Some(_) => Err(refuse(
                    table,
                    format!(
                        "database `{}` is on another backend in each config",
                        database.name
                    ),
                )),
                None => {
                    merged.databases.push(PhysicalDatabase {
                        name: database.name.clone(),
                        backend,
                    });
                    let id = merged.databases.len() - 1;
                    merged.database_index.insert(database.name.clone(), id);
                    Ok(id)
                }
            }
        };
        let kind = match &logical.kind {
            TableKind::Sharded(layout) => {
                let mut layout = layout.clone();
                layout.databases = layout
                    .databases
                    .iter()
                    .map(|&db| database_of(db))
                    .collect::<Result<_, _>>()?;
                layout.binding_group = ours;
                TableKind::Sharded(layout)
            }
            TableKind::Single { database } => TableKind::Single {
                database: database_of(*database)?,
            },
            TableKind::Broadcast => TableKind::Broadcast,
        };
        merged.tables[ours].kind = kind;
        Ok(merged)
    }
}
