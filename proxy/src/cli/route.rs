//! `shardgate route --config FILE "SQL"`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use shardgate_config::{KeyGeneratorKind, Topology};
use shardgate_idgen::{Layout, Snowflake, SystemClock};
use shardgate_router::{KeyError, KeySource, Router, SessionFacts, ShapeCache};

pub fn run(config: &Path, sql: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let topology = Arc::new(Topology::load(config)?);
    let router = Router::new(topology.clone());
    // A client logged in to the logical schema, before any statement of its own.
    let session = SessionFacts {
        database: Some(&topology.schema),
        user: "client",
        client_host: "localhost",
        connection_id: 1,
        last_insert_id: Some(0),
    };
    let mut keys = PreviewKeys {
        topology: &topology,
    };
    let plan = router.plan(sql, &mut ShapeCache::default(), &mut keys, &session)?;
    writeln!(out, "{}", plan.explain(&topology)).context("writing the plan")?;
    Ok(())
}

/// Ids for showing where INSERT rows without a key would go: a snowflake generator's ids
/// as worker 0 would make them now (what a running proxy makes differs only in time and
/// worker bits; the tables they pick spread alike). A Leaf segment generator's ids live in
/// its database, which `route` does not open.
struct PreviewKeys<'a> {
    topology: &'a Topology,
}

impl KeySource for PreviewKeys<'_> {
    fn next_ids(&mut self, generator: &str, count: usize) -> Result<Vec<i64>, KeyError> {
        let failed = |message: String| KeyError::Failed {
            generator: generator.to_string(),
            message,
        };
        let config = self
            .topology
            .key_generators
            .iter()
            .find(|g| g.name == generator)
            .ok_or_else(|| failed("no such key generator".into()))?;
        let KeyGeneratorKind::Snowflake {
            epoch_ms,
            time_bits,
            worker_bits,
            sequence_bits,
            clock_tolerance_ms,
            ..
        } = &config.kind
        else {
            return Err(failed(
                "a segment generator's ids come from its database, which `shardgate route` does not open".into(),
            ));
        };
        let layout = Layout::new(*epoch_ms, *time_bits, *worker_bits, *sequence_bits)
            .map_err(|e| failed(e.to_string()))?;
        let snowflake = Snowflake::new(layout, 0, SystemClock, *clock_tolerance_ms)
            .map_err(|e| failed(e.to_string()))?;
        let mut ids = vec![0; count];
        snowflake
            .fill(&mut ids)
            .map_err(|e| failed(e.to_string()))?;
        Ok(ids)
    }
}
