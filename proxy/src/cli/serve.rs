//! `shardgate serve --config FILE`: runs the proxy until Ctrl-C or SIGTERM.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use shardgate_config::Topology;

use crate::server::{serve, ProxyContext};

pub fn run(config: &Path) -> anyhow::Result<()> {
    let topology = Arc::new(Topology::load(config)?);
    let runtime = runtime(topology.proxy.worker_threads)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&topology.listen)
            .await
            .with_context(|| format!("listening on {}", topology.listen))?;
        if let Some(listen) = topology.admin.metrics_listen {
            crate::telemetry::install_exporter(listen)
                .with_context(|| format!("serving metrics on {listen}"))?;
            eprintln!("shardgate: metrics on http://{listen}/metrics");
        }
        let source = crate::reload::ConfigSource::file(config);
        let ctx = ProxyContext::reloadable(topology.clone(), source)?;
        eprintln!(
            "shardgate: serving schema `{}` on {}",
            topology.schema, topology.listen
        );
        serve(ctx, listener, shutdown_signal())
            .await
            .context("serving")?;
        eprintln!("shardgate: stopped");
        anyhow::Ok(())
    })
}

/// Stack of each runtime worker thread (address space; pages are used only as touched).
const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;

/// The runtime the proxy serves on. One worker runs on the current thread: no cross-thread
/// wake-ups, which on a small machine shared with the database cost more than they give.
pub fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if workers > 1 {
            b.worker_threads(workers);
        }
        // Room beyond the planner's depth limit (`shardgate_router::depth`): the default
        // 2 MiB is all a deep syntax tree walk has, and running out kills every client.
        b.thread_stack_size(WORKER_STACK_BYTES);
        b
    };
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
