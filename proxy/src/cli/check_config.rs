//! `shardgate check-config FILE`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use shardgate_config::{TableKind, Topology};

pub fn run(file: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let t = Topology::load(file)?;
    let physical: usize = (0..t.tables.len())
        .map(|id| t.physical_table_count(id))
        .sum();
    let mut w = || -> std::io::Result<()> {
        writeln!(out, "{}: ok", file.display())?;
        writeln!(out, "listen: {}", t.listen)?;
        writeln!(out, "backends: {}", t.backends.len())?;
        for (i, b) in t.backends.iter().enumerate() {
            let dbs = t.databases.iter().filter(|d| d.backend == i).count();
            writeln!(
                out,
                "  {} {} ({dbs} databases, pool {})",
                b.name, b.address, b.pool.max_connections
            )?;
        }
        if let Some(b) = t.backends.get(t.migration_state) {
            writeln!(out, "migration state: shardgate_meta on {}", b.name)?;
        }
        writeln!(out, "databases: {}", t.databases.len())?;
        writeln!(
            out,
            "schema: {} ({} logical tables)",
            t.schema,
            t.tables.len()
        )?;
        for (id, table) in t.tables.iter().enumerate() {
            let kind = match &table.kind {
                TableKind::Sharded(l) if l.binding_group != id => {
                    format!("binding to {}", t.tables[l.binding_group].name)
                }
                TableKind::Sharded(l) => format!("sharded by {}", l.sharding_column),
                TableKind::Broadcast => "broadcast".to_string(),
                TableKind::Single { database } => {
                    format!("single in {}", t.databases[*database].name)
                }
            };
            writeln!(
                out,
                "  {} {kind}: {} physical tables",
                table.name,
                t.physical_table_count(id)
            )?;
        }
        writeln!(out, "physical tables: {physical}")
    };
    w().context("writing the summary")
}
