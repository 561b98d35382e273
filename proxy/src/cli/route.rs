//! `shardgate route --config FILE "SQL"`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use shardgate_config::Topology;
use shardgate_router::{NoKeys, Router, SessionFacts, ShapeCache};

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
    let plan = router.plan(sql, &mut ShapeCache::default(), &mut NoKeys, &session)?;
    writeln!(out, "{}", plan.explain(&topology)).context("writing the plan")?;
    Ok(())
}
