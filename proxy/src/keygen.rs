//! The proxy's id generators, built from the config's `key_generators`: what fills the
//! sharding key of INSERT rows that leave it out (or give NULL or 0), and what `SELECT
//! NEXTVAL('name')` returns.
//!
//! A snowflake generator with a leased worker id is ready once its lease is taken; a task
//! takes it (retrying while the lease store is down) and renews it. Until then, and after
//! the lease is lost, statements that need its ids wait a little and then fail with an
//! error that says why; nothing else in the proxy depends on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use shardgate_config::{Backend, KeyGeneratorKind, Topology, WorkerSource};
use shardgate_idgen::{
    keep_lease, IdError, Layout, LeaseEnd, LeaseValidity, MySqlLeases, MySqlSegmentStore,
    SegmentConfig, SegmentGenerator, Snowflake, SystemClock, WorkerLeases,
};
use shardgate_migrate::backend_opts as opts;
use shardgate_router::{KeyError, KeySource};
use tokio::sync::Notify;

/// How long a statement waits for a generator that is not ready (a lease being taken, a
/// segment loading) before it fails.
const READY_WAIT: Duration = Duration::from_secs(5);

/// A snowflake generator that may still be waiting for its worker id.
struct SnowflakeSlot {
    /// Empty until a worker id is leased (and again while a lost lease is replaced).
    generator: RwLock<Option<Arc<Snowflake>>>,
    ready: Notify,
    /// Why it is not ready, for errors.
    status: Mutex<String>,
}

impl SnowflakeSlot {
    fn get(&self) -> Option<Arc<Snowflake>> {
        self.generator.read().ok().and_then(|g| g.clone())
    }
}

enum Generator {
    Snowflake(Arc<SnowflakeSlot>),
    Segment(SegmentGenerator<MySqlSegmentStore>),
}

/// Everything needed to start the lease task of one snowflake generator.
struct LeasePlan {
    slot: Arc<SnowflakeSlot>,
    layout: Layout,
    tolerance_ms: u64,
    backend: Backend,
    database: String,
    table: String,
    ttl: Duration,
}

pub struct KeyGenerators {
    generators: HashMap<String, Generator>,
    leases: Mutex<Vec<LeasePlan>>,
    stop: Arc<Notify>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl KeyGenerators {
    /// The generators of `topology`; lease tasks start with [`Self::start`].
    pub fn new(topology: &Topology) -> Result<Self, IdError> {
        let mut generators = HashMap::new();
        let mut leases = Vec::new();
        for g in &topology.key_generators {
            let generator = match &g.kind {
                KeyGeneratorKind::Snowflake {
                    epoch_ms,
                    time_bits,
                    worker_bits,
                    sequence_bits,
                    worker,
                    clock_tolerance_ms,
                } => {
                    let layout = Layout::new(*epoch_ms, *time_bits, *worker_bits, *sequence_bits)
                        .map_err(|e| {
                        IdError::Layout(format!("key generator `{}`: {e}", g.name))
                    })?;
                    let slot = Arc::new(SnowflakeSlot {
                        generator: RwLock::new(None),
                        ready: Notify::new(),
                        status: Mutex::new("its worker id lease is not taken yet".into()),
                    });
                    match worker {
                        WorkerSource::Static(id) => {
                            let generator =
                                Snowflake::new(layout, *id, SystemClock, *clock_tolerance_ms)?;
                            if let Ok(mut g) = slot.generator.write() {
                                *g = Some(Arc::new(generator));
                            }
                        }
                        WorkerSource::Lease {
                            backend,
                            database,
                            table,
                            ttl_ms,
                        } => leases.push(LeasePlan {
                            slot: slot.clone(),
                            layout,
                            tolerance_ms: *clock_tolerance_ms,
                            backend: topology.backends[*backend].clone(),
                            database: database.clone(),
                            table: table.clone(),
                            ttl: Duration::from_millis(*ttl_ms),
                        }),
                    }
                    Generator::Snowflake(slot)
                }
                KeyGeneratorKind::Segment {
                    backend,
                    database,
                    biz_tag,
                    step,
                    min_step,
                    max_step,
                } => {
                    let store =
                        MySqlSegmentStore::new(opts(&topology.backends[*backend]), database);
                    Generator::Segment(SegmentGenerator::new(
                        biz_tag,
                        store,
                        SegmentConfig {
                            step: *step,
                            min_step: *min_step,
                            max_step: *max_step,
                            ..SegmentConfig::default()
                        },
                    ))
                }
            };
            generators.insert(g.name.clone(), generator);
        }
        Ok(KeyGenerators {
            generators,
            leases: Mutex::new(leases),
            stop: Arc::new(Notify::new()),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Starts taking and renewing worker id leases (once; later calls do nothing).
    pub fn start(&self) {
        let plans = match self.leases.lock() {
            Ok(mut l) => std::mem::take(&mut *l),
            Err(_) => return,
        };
        for plan in plans {
            let stop = self.stop.clone();
            let task = tokio::spawn(run_lease(plan, stop));
            if let Ok(mut tasks) = self.tasks.lock() {
                tasks.push(task);
            }
        }
    }

    /// Releases leases and gives unused segment ids back.
    pub async fn shutdown(&self) {
        self.stop.notify_waiters();
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for task in tasks {
            let _ = task.await;
        }
        for generator in self.generators.values() {
            if let Generator::Segment(segment) = generator {
                let _ = segment.shutdown().await;
            }
        }
    }

    /// Sets each generator's gauges: whether it can hand out ids, a snowflake's worker id
    /// and lease age, a segment generator's ids in hand.
    pub fn report(&self) {
        for (name, generator) in &self.generators {
            match generator {
                Generator::Snowflake(slot) => {
                    let snowflake = slot.get();
                    let lease_age = snowflake.as_ref().and_then(|s| s.lease().map(|l| l.age()));
                    crate::telemetry::snowflake_state(
                        name,
                        snowflake.as_ref().map(|s| s.worker()),
                        lease_age,
                    );
                }
                Generator::Segment(segment) => {
                    crate::telemetry::segment_state(name, segment.remaining())
                }
            }
        }
    }

    /// A key source for the router that never waits.
    pub fn source(&self) -> ImmediateKeys<'_> {
        ImmediateKeys { generators: self }
    }

    /// `count` ids from `name`, waiting up to a few seconds for it to be ready.
    pub async fn take(&self, name: &str, count: usize) -> Result<Vec<i64>, KeyError> {
        let failed = |message: String| KeyError::Failed {
            generator: name.to_string(),
            message,
        };
        match self.generators.get(name) {
            None => Err(failed("no such key generator".into())),
            Some(Generator::Segment(segment)) => {
                match tokio::time::timeout(READY_WAIT, segment.take_many(count)).await {
                    Ok(Ok(ids)) => Ok(ids),
                    Ok(Err(e)) => Err(failed(e.to_string())),
                    Err(_) => Err(failed(format!(
                        "no segment of ids loaded within {} s",
                        READY_WAIT.as_secs()
                    ))),
                }
            }
            Some(Generator::Snowflake(slot)) => {
                let deadline = Instant::now() + READY_WAIT;
                loop {
                    let ready = slot.ready.notified();
                    if let Some(g) = slot.get() {
                        let mut ids = vec![0; count];
                        return g
                            .fill(&mut ids)
                            .map(|_| ids)
                            .map_err(|e| failed(e.to_string()));
                    }
                    let now = Instant::now();
                    if now >= deadline || tokio::time::timeout(deadline - now, ready).await.is_err()
                    {
                        let status = slot.status.lock().map(|s| s.clone()).unwrap_or_default();
                        return Err(failed(format!("not ready: {status}")));
                    }
                }
            }
        }
    }
}

/// Takes a worker id lease and keeps it until the proxy stops; retries with backoff while
/// the lease store cannot be reached, and takes a new lease when another proxy took the
/// worker id (after this one could not renew in time).
async fn run_lease(plan: LeasePlan, stop: Arc<Notify>) {
    let set_status = |s: String| {
        if let Ok(mut status) = plan.slot.status.lock() {
            *status = s;
        }
    };
    let stopped = stop.notified();
    tokio::pin!(stopped);
    stopped.as_mut().enable();
    loop {
        let mut backoff = Duration::from_millis(200);
        let (leases, lease, validity) = loop {
            let attempt = async {
                let leases = MySqlLeases::open(
                    MySqlLeases::opts(opts(&plan.backend)),
                    &plan.database,
                    &plan.table,
                    plan.ttl,
                )
                .await?;
                let sent = Instant::now();
                let lease = leases.acquire(plan.layout.max_worker()).await?;
                Ok::<_, IdError>((leases, lease, sent))
            };
            let result = tokio::select! {
                _ = &mut stopped => return,
                result = attempt => result,
            };
            match result {
                Ok((leases, lease, sent)) => {
                    let validity =
                        LeaseValidity::new(sent, shardgate_idgen::lease_usable(plan.ttl));
                    let generator = match Snowflake::new(
                        plan.layout,
                        lease.worker_id,
                        SystemClock,
                        plan.tolerance_ms,
                    ) {
                        Ok(g) => g
                            .with_floor(lease.not_before_unix_ms)
                            .with_lease(validity.clone()),
                        Err(e) => {
                            set_status(e.to_string());
                            return;
                        }
                    };
                    if let Ok(mut slot) = plan.slot.generator.write() {
                        *slot = Some(Arc::new(generator));
                    }
                    set_status("ready".into());
                    plan.slot.ready.notify_waiters();
                    tracing::info!(worker_id = lease.worker_id, backend = %plan.backend.name, "snowflake worker id leased");
                    break (leases, lease, validity);
                }
                Err(e) => {
                    set_status(format!("taking a worker id lease: {e}"));
                    tracing::warn!(backend = %plan.backend.name, error = %e, "worker id lease not taken; retrying");
                    tokio::select! {
                        _ = &mut stopped => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        let slot = plan.slot.clone();
        let last = move || slot.get().map_or(0, |g| g.last_unix_ms());
        let end = keep_lease(&leases, lease, validity, last, &mut stopped).await;
        leases.close().await;
        match end {
            LeaseEnd::Released => return,
            LeaseEnd::Lost(why) => {
                tracing::warn!(backend = %plan.backend.name, %why, "worker id lease lost; taking a new one");
                if let Ok(mut slot) = plan.slot.generator.write() {
                    *slot = None;
                }
                set_status(format!(
                    "the worker id lease was lost ({why}); taking a new one"
                ));
            }
        }
    }
}

/// The router's key source: ids that can be had without waiting; otherwise
/// [`KeyError::NotReady`], and the session waits with [`KeyGenerators::take`].
pub struct ImmediateKeys<'a> {
    generators: &'a KeyGenerators,
}

impl KeySource for ImmediateKeys<'_> {
    fn next_ids(&mut self, generator: &str, count: usize) -> Result<Vec<i64>, KeyError> {
        let not_ready = || KeyError::NotReady {
            generator: generator.to_string(),
            count,
        };
        match self.generators.generators.get(generator) {
            None => Err(KeyError::Failed {
                generator: generator.to_string(),
                message: "no such key generator".into(),
            }),
            Some(Generator::Segment(segment)) => segment.try_take(count).ok_or_else(not_ready),
            Some(Generator::Snowflake(slot)) => {
                let g = slot.get().ok_or_else(not_ready)?;
                let mut ids = vec![0; count];
                g.fill(&mut ids).map_err(|e| KeyError::Failed {
                    generator: generator.to_string(),
                    message: e.to_string(),
                })?;
                Ok(ids)
            }
        }
    }
}

/// Ids taken beforehand (after a wait), handed to the router on the second try.
pub struct TakenKeys {
    pub generator: String,
    pub ids: Vec<i64>,
}

impl KeySource for TakenKeys {
    fn next_ids(&mut self, generator: &str, count: usize) -> Result<Vec<i64>, KeyError> {
        if generator == self.generator && count <= self.ids.len() {
            return Ok(self.ids.drain(..count).collect());
        }
        Err(KeyError::NotReady {
            generator: generator.to_string(),
            count,
        })
    }
}
