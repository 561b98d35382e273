//! The accept loop and what every session shares.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use shardgate_config::Topology;
use tokio::net::TcpListener;

use crate::rules::Rules;
use crate::session::Session;

/// Shared by all sessions; immutable but for the pools' insides and the rules a reload
/// swaps.
pub struct ProxyContext {
    /// The rules in force: topology, router, pools (see [`Rules`]).
    rules: ArcSwap<Rules>,
    /// Where a reload reads the rules again; `None` for rules given in code.
    pub(crate) config_source: Option<crate::reload::ConfigSource>,
    /// One reload at a time.
    pub(crate) reloading: tokio::sync::Mutex<()>,
    next_connection_id: AtomicU32,
    pub tls: Option<Arc<tokio_rustls::TlsAcceptor>>,
    /// Id generators that fill missing keys.
    pub keys: crate::keygen::KeyGenerators,
    /// Migrations under way, as the state table says.
    pub migrations: Arc<crate::migration::MigrationWatch>,
    /// Whether the proxy is stopping.
    pub drain: crate::drain::Drain,
    /// Failed logins by client address.
    pub login_throttle: crate::login_throttle::LoginThrottle,
    /// The sessions served now, for SHOW PROCESSLIST.
    pub sessions: Arc<crate::session_registry::SessionRegistry>,
    /// When the proxy started, for SHOW SHARDGATE STATUS.
    pub started: std::time::Instant,
}

impl ProxyContext {
    /// A proxy over `topology`, which a reload cannot change.
    pub fn new(topology: Arc<Topology>) -> anyhow::Result<Arc<Self>> {
        Self::build(topology, None)
    }

    /// A proxy over `topology`, read from `source`, which SIGHUP and SHARDGATE RELOAD
    /// CONFIG read again.
    pub fn reloadable(
        topology: Arc<Topology>,
        source: crate::reload::ConfigSource,
    ) -> anyhow::Result<Arc<Self>> {
        Self::build(topology, Some(source))
    }

    fn build(
        topology: Arc<Topology>,
        config_source: Option<crate::reload::ConfigSource>,
    ) -> anyhow::Result<Arc<Self>> {
        let tls = match &topology.proxy.tls {
            Some(settings) => Some(Arc::new(crate::tls::acceptor(settings)?)),
            None => None,
        };
        let keys = crate::keygen::KeyGenerators::new(&topology)?;
        let migrations = Arc::new(crate::migration::MigrationWatch::new(&topology));
        Ok(Arc::new(ProxyContext {
            keys,
            migrations,
            rules: ArcSwap::from_pointee(Rules::new(topology, None)),
            config_source,
            reloading: Default::default(),
            next_connection_id: AtomicU32::new(1),
            tls,
            drain: crate::drain::Drain::default(),
            login_throttle: Default::default(),
            sessions: Default::default(),
            started: std::time::Instant::now(),
        }))
    }

    /// The rules in force now.
    pub fn rules(&self) -> Arc<Rules> {
        self.rules.load_full()
    }

    /// Puts `rules` in force for every statement that starts from now on.
    pub(crate) fn swap_rules(&self, rules: Arc<Rules>) {
        self.rules.store(rules);
    }

    pub fn next_connection_id(&self) -> u32 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// Accepts clients until `shutdown` completes, then drains (see [`crate::drain`]). Each
/// client gets its own task; a failing session ends only its own connection.
pub async fn serve(
    ctx: Arc<ProxyContext>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    ctx.keys.start();
    // Know the migrations under way before the first client writes: a write that missed
    // dual-write would be lost to the new layout.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), ctx.migrations.refresh()).await;
    let watch = tokio::spawn(ctx.migrations.clone().run());
    let gauges = tokio::spawn(report_pools(ctx.clone()));
    let hangups = ctx
        .config_source
        .is_some()
        .then(|| tokio::spawn(crate::reload::reload_on_sighup(ctx.clone())));
    let clients = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let topology = ctx.rules().topology.clone();
    let backend_connections = topology
        .backends
        .iter()
        .map(|b| b.pool.max_connections as usize)
        .sum();
    let (max_clients, warning) = crate::fd_limit::client_limit(
        topology.proxy.max_client_connections,
        backend_connections,
        crate::fd_limit::open_files_limit(),
    );
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    let mut spare = crate::fd_limit::SpareDescriptor::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) if crate::fd_limit::out_of_descriptors(&e) && spare.release() => {
                        // Out of descriptors all the same: the spare one lets the waiting
                        // client in just to be told so, rather than left without a greeting.
                        if let Ok((stream, peer)) = listener.accept().await {
                            refuse_too_many(stream, peer).await;
                        }
                        spare.restore();
                        continue;
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: keep serving the others.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        spare.restore();
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let ctx = ctx.clone();
                let Some(seat) = ClientSeat::take(&clients, max_clients) else {
                    // Refused at once, as MySQL refuses past max_connections: the error in
                    // place of the greeting, never a client left hanging.
                    tokio::spawn(refuse_too_many(stream, peer));
                    continue;
                };
                tokio::spawn(async move {
                    let _seat = seat;
                    if let Err(e) = Session::start(ctx, stream).await {
                        tracing::debug!(%peer, "session ended: {e}");
                    }
                });
            }
            _ = &mut shutdown => {
                drop(listener);
                drain_sessions(&ctx, &clients).await;
                // Leases released and unused segment ids given back: a restart wastes none.
                ctx.keys.shutdown().await;
                ctx.migrations.stop();
                let _ = watch.await;
                gauges.abort();
                if let Some(hangups) = hangups {
                    hangups.abort();
                }
                return Ok(());
            }
        }
    }
}

/// Sets the gauges sampled rather than counted (each pool's connections and waiters, the
/// rules' generation, the id generators' state) every second, off the statements' path.
async fn report_pools(ctx: Arc<ProxyContext>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let rules = ctx.rules();
        crate::telemetry::config_generation(rules.topology.generation);
        ctx.keys.report();
        for pool in &rules.pools {
            let max = pool.backend.pool.max_connections as usize;
            let idle = pool.idle_count();
            let busy = max.saturating_sub(pool.available());
            crate::telemetry::pool_state(&pool.backend.name, idle, busy, pool.waiters());
        }
    }
}

/// Stops taking clients' work: sessions end between transactions; after the grace period
/// the rest roll back and end. Returns when every session has ended (or a second after
/// the grace period, for one stuck writing to a client that does not read).
async fn drain_sessions(ctx: &ProxyContext, clients: &std::sync::atomic::AtomicUsize) {
    use crate::drain::DrainState;
    let open = || clients.load(std::sync::atomic::Ordering::Acquire);
    let wait_until_none = async {
        while open() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    ctx.drain.set(DrainState::Draining);
    tracing::info!(clients = open(), "stopping: draining sessions");
    let grace = ctx.rules().topology.proxy.shutdown_grace;
    if tokio::time::timeout(grace, wait_until_none).await.is_ok() {
        return;
    }
    ctx.drain.set(DrainState::Closing);
    tracing::info!(
        clients = open(),
        "stopping: grace period over, rolling back what is left"
    );
    let closing = async {
        while open() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), closing).await;
}

/// One client connection counted against `proxy.max_client_connections`, given back when
/// the session ends.
struct ClientSeat(Arc<std::sync::atomic::AtomicUsize>);

impl ClientSeat {
    fn take(clients: &Arc<std::sync::atomic::AtomicUsize>, max: usize) -> Option<ClientSeat> {
        use std::sync::atomic::Ordering;
        clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| {
                crate::telemetry::client_connection(true);
                ClientSeat(clients.clone())
            })
    }
}

impl Drop for ClientSeat {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        crate::telemetry::client_connection(false);
    }
}

/// ER_CON_COUNT_ERROR (1040) as the first packet, then the connection is closed.
async fn refuse_too_many(stream: tokio::net::TcpStream, peer: std::net::SocketAddr) {
    crate::telemetry::client_refused();
    let (code, state) = crate::protocol::codes::ER_CON_COUNT_ERROR;
    let err = crate::protocol::wire::ErrInfo::new(code, state, "Too many connections");
    crate::protocol::writer::refuse_before_greeting(stream, &err).await;
    tracing::debug!(%peer, "refused: too many client connections");
}
