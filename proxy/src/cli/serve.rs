//! `shardgate serve --config FILE`: runs the proxy until Ctrl-C or SIGTERM.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use shardgate_config::Topology;

use crate::server::{serve, ProxyContext};

pub fn run(config: &Path) -> anyhow::Result<()> {
    let topology = Arc::new(Topology::load(config)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&topology.listen)
            .await
            .with_context(|| format!("listening on {}", topology.listen))?;
        let ctx = ProxyContext::new(topology.clone())?;
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
