//! `shardgate sandbox`: a throwaway MariaDB server for each backend of a config, on the
//! config's addresses, with the backend account and the physical databases created, and the
//! proxy running in the foreground in front of them. Ctrl-C or SIGTERM stops everything.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use mysql_async::prelude::Queryable;
use shardgate_config::Topology;

use crate::sandbox::{create_physical_databases, MariaDb, SandboxOptions};
use crate::server::{serve, ProxyContext};

pub struct SandboxArgs<'a> {
    pub config: &'a Path,
    pub data_dir: Option<&'a Path>,
}

pub fn run(args: SandboxArgs<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let topology = Arc::new(Topology::load(args.config)?);
    let mut options = Vec::new();
    for b in &topology.backends {
        let (host, port) = b.address.rsplit_once(':').context("backend address")?;
        if !matches!(host, "127.0.0.1" | "localhost") {
            bail!(
                "backend {} is at {}: the sandbox only starts servers on 127.0.0.1",
                b.name,
                b.address
            );
        }
        options.push(SandboxOptions {
            port: Some(port.parse().context("backend port")?),
            data_dir: args.data_dir.map(|d| d.join(&b.name)),
            ..Default::default()
        });
    }
    writeln!(out, "starting {} MariaDB server(s)...", options.len())?;
    out.flush()?;
    let started = std::thread::scope(|s| {
        let handles: Vec<_> = options
            .iter()
            .map(|o| s.spawn(move || MariaDb::start_with(o)))
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    let mut servers = Vec::new();
    for (server, backend) in started.into_iter().zip(&topology.backends) {
        match server {
            Ok(Ok(s)) => servers.push(s),
            Ok(Err(e)) => {
                return Err(e).with_context(|| format!("starting backend {}", backend.name))
            }
            Err(_) => bail!("a sandbox start thread panicked"),
        }
    }
    for (server, backend) in servers.iter().zip(&topology.backends) {
        writeln!(
            out,
            "  backend {}: MariaDB on {} (pid {}, {})",
            backend.name,
            backend.address,
            server.pid(),
            server.dir().display()
        )?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        for (server, backend) in servers.iter().zip(&topology.backends) {
            create_backend_account(server, &backend.user, &backend.password)
                .await
                .with_context(|| format!("creating the account of backend {}", backend.name))?;
        }
        create_physical_databases(&topology)
            .await
            .context("creating physical databases")?;
        let listener = tokio::net::TcpListener::bind(&topology.listen)
            .await
            .with_context(|| format!("listening on {}", topology.listen))?;
        let ctx =
            ProxyContext::reloadable(topology.clone(), sandbox_source(args.config, &topology))?;
        let (host, port) = topology
            .listen
            .rsplit_once(':')
            .unwrap_or(("127.0.0.1", "3307"));
        let user = topology.users.first();
        writeln!(
            out,
            "shardgate serves `{}` on {}; press Ctrl-C to stop",
            topology.schema, topology.listen
        )?;
        // The password is the one `users[]` gives; it is not written here, since this
        // output usually goes to a log file.
        writeln!(
            out,
            "connect: mariadb -h{host} -P{port} -u{} -p {}",
            user.map_or("app", |u| u.name.as_str()),
            topology.schema
        )?;
        out.flush()?;
        serve(ctx, listener, super::serve::shutdown_signal())
            .await
            .context("serving")?;
        anyhow::Ok(())
    });
    drop(servers);
    writeln!(out, "sandbox stopped")?;
    result
}

/// What the sandbox reloads: the same file, whose backends must stay the servers it
/// started (same addresses and accounts), with the new rules' physical databases created
/// before they are swapped in.
fn sandbox_source(config: &Path, running: &Topology) -> crate::reload::ConfigSource {
    let servers: Vec<(String, String, String)> = running
        .backends
        .iter()
        .map(|b| (b.address.clone(), b.user.clone(), b.password.clone()))
        .collect();
    let prepare: crate::reload::PrepareRules = Box::new(move |next: Arc<Topology>| {
        let servers = servers.clone();
        Box::pin(async move {
            let started = next.backends.iter().all(|b| {
                servers
                    .iter()
                    .any(|(a, u, p)| *a == b.address && *u == b.user && *p == b.password)
            });
            if !started {
                return Err("the sandbox serves only the backends it started with (same address and account)".to_string());
            }
            create_physical_databases(&next)
                .await
                .map_err(|e| format!("creating the physical databases: {e}"))
        })
    });
    crate::reload::ConfigSource {
        path: config.to_path_buf(),
        prepare: Some(prepare),
    }
}

/// The account shardgate uses on a backend, with mysql_native_password.
pub async fn create_backend_account(
    server: &MariaDb,
    user: &str,
    password: &str,
) -> Result<(), mysql_async::Error> {
    if user == "root" {
        return Ok(());
    }
    // Account names cannot be placeholders: quote them as string literals.
    let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"));
    let mut conn = mysql_async::Conn::from_url(server.url()).await?;
    for host in ["127.0.0.1", "localhost"] {
        let account = format!("{}@'{host}'", quote(user));
        conn.query_drop(format!(
            "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {}",
            quote(password)
        ))
        .await?;
        conn.query_drop(format!("GRANT ALL PRIVILEGES ON *.* TO {account}"))
            .await?;
    }
    conn.disconnect().await
}
