//! `shardgate route --config FILE "SQL"`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use shardgate_config::Topology;
use shardgate_router::Router;

pub fn run(config: &Path, sql: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let topology = Arc::new(Topology::load(config)?);
    let router = Router::new(topology.clone());
    let plan = router.route_uncached(sql)?;
    writeln!(out, "{}", plan.explain(&topology)).context("writing the plan")?;
    Ok(())
}
