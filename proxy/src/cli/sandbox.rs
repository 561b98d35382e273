//! `shardgate sandbox`: one throwaway MariaDB server per backend of a config, with the
//! physical databases and tables created through the router. Until `shardgate serve` exists
//! it can load demo rows through the router and report where they landed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use mysql_async::prelude::Queryable;
use shardgate_config::{TableKind, Topology};
use shardgate_router::{PhysicalStatement, Router, ShapeCache};

use crate::sandbox::{backend_opts, create_physical_databases, MariaDb};

pub struct SandboxArgs<'a> {
    pub config: &'a Path,
    pub schema: Option<&'a Path>,
    pub write_config: Option<&'a Path>,
    pub demo_rows: usize,
    pub exit: bool,
}

pub fn run(args: SandboxArgs<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let mut topology = Topology::from_yaml(&text, args.config)?;
    writeln!(
        out,
        "starting {} MariaDB server(s)...",
        topology.backends.len()
    )?;
    let servers = std::thread::scope(|s| {
        let handles: Vec<_> = topology
            .backends
            .iter()
            .map(|_| s.spawn(MariaDb::start))
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    let mut started = Vec::new();
    for server in servers {
        match server {
            Ok(Ok(server)) => started.push(server),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => bail!("a sandbox start thread panicked"),
        }
    }
    let mut rewritten = text.clone();
    for (backend, server) in topology.backends.iter_mut().zip(&started) {
        rewritten = rewritten.replace(
            &format!("address: {}", backend.address),
            &format!("address: {}", server.address()),
        );
        backend.address = server.address();
        backend.user = "root".into();
        backend.password = String::new();
        writeln!(
            out,
            "  {}: mariadb -h 127.0.0.1 -P {} -u root   (pid {}, {})",
            backend.name,
            server.port(),
            server.pid(),
            server.dir().display()
        )?;
    }
    let topology = Arc::new(topology);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        create_physical_databases(&topology)
            .await
            .context("creating physical databases")?;
        writeln!(
            out,
            "created {} physical databases",
            topology.databases.len()
        )?;
        let router = Router::new(topology.clone());
        if let Some(schema) = args.schema {
            let sql = std::fs::read_to_string(schema)
                .with_context(|| format!("reading {}", schema.display()))?;
            for statement in split_statements(&sql) {
                let plan = router.route_uncached(&statement)?;
                let n = plan.targets.len();
                execute(&topology, plan.targets).await?;
                let first_line = statement.lines().next().unwrap_or_default();
                writeln!(out, "  {first_line} ... -> {n} physical statement(s)")?;
            }
        }
        if args.demo_rows > 0 {
            demo(&router, &topology, args.demo_rows, out).await?;
        }
        anyhow::Ok(())
    })?;
    if let Some(path) = args.write_config {
        std::fs::write(path, &rewritten).with_context(|| format!("writing {}", path.display()))?;
        writeln!(
            out,
            "wrote a config for these servers to {}",
            path.display()
        )?;
    }
    if !args.exit {
        writeln!(
            out,
            "servers are running; press Ctrl-C to stop them and remove their data"
        )?;
        out.flush()?;
        runtime
            .block_on(tokio::signal::ctrl_c())
            .context("waiting for Ctrl-C")?;
    }
    drop(started);
    writeln!(out, "sandbox stopped")?;
    Ok(())
}

/// Splits a schema file at `;` that end a line; `--` comment lines are dropped.
fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            let stmt = current.trim().trim_end_matches(';').trim().to_string();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Runs statements on their backends, up to four connections per backend.
pub async fn execute(
    topology: &Topology,
    statements: Vec<PhysicalStatement>,
) -> anyhow::Result<()> {
    let mut lanes: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    for (i, s) in statements.into_iter().enumerate() {
        lanes.entry((s.backend, i % 4)).or_default().push(s.sql);
    }
    let mut tasks = Vec::new();
    for ((backend, _), sqls) in lanes {
        let opts = backend_opts(topology, backend);
        let name = topology.backends[backend].name.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = mysql_async::Conn::new(opts)
                .await
                .with_context(|| format!("connecting to backend {name}"))?;
            for sql in sqls {
                conn.query_drop(&sql)
                    .await
                    .with_context(|| format!("backend {name}: {sql}"))?;
            }
            conn.disconnect().await.ok();
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await.context("executor task")??;
    }
    Ok(())
}

/// Inserts rows into the first sharded table with a BIGINT key and reports the spread.
async fn demo(
    router: &Router,
    topology: &Topology,
    rows: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let Some((table, layout)) = topology.tables.iter().find_map(|t| match &t.kind {
        TableKind::Sharded(l)
            if l.binding_group == topology.table(&t.name).map_or(usize::MAX, |x| x.0) =>
        {
            Some((t, l))
        }
        _ => None,
    }) else {
        bail!("the config has no sharded table for demo rows");
    };
    let mut cache = ShapeCache::default();
    let mut statements = Vec::new();
    let keys: Vec<i64> = (0..rows as i64).map(|i| i * 7919 + 13).collect();
    for batch in keys.chunks(200) {
        let values: Vec<String> = batch
            .iter()
            .map(|k| format!("({k}, {})", k % 1000))
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}, user_id) VALUES {}",
            table.name,
            layout.sharding_column,
            values.join(", ")
        );
        statements.extend(router.route(&sql, &mut cache)?.targets);
    }
    let n = statements.len();
    execute(topology, statements).await?;
    writeln!(
        out,
        "inserted {rows} rows into {} with {n} physical INSERTs",
        table.name
    )?;
    for backend in 0..topology.backends.len() {
        let mut conn = mysql_async::Conn::new(backend_opts(topology, backend)).await?;
        let mut total = 0u64;
        let mut nonempty = 0usize;
        for db in layout
            .databases
            .iter()
            .filter(|d| topology.databases[**d].backend == backend)
        {
            for t in &layout.tables {
                let count: Option<u64> = conn
                    .query_first(format!(
                        "SELECT COUNT(*) FROM {}.{t}",
                        topology.databases[*db].name
                    ))
                    .await?;
                let count = count.unwrap_or(0);
                total += count;
                nonempty += usize::from(count > 0);
            }
        }
        writeln!(
            out,
            "  {}: {total} rows in {nonempty} non-empty physical tables",
            topology.backends[backend].name
        )?;
        conn.disconnect().await.ok();
    }
    Ok(())
}
