//! One pool per backend server. Connections carry fully qualified table names, so any pooled
//! connection serves any of the server's physical databases.
//!
//! Health: when connecting fails, the pool refuses further checkouts for a backoff period
//! (doubling from 100 ms to 5 s) and fails them at once with an error naming the backend, so a
//! dead server costs its own statements nothing but a quick error and every other backend keeps
//! working. The first checkout after the period tries to connect again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shardgate_config::Backend;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::conn::{BackendConn, ConnFlags};
use super::error::{BackendError, BackendErrorKind};
use super::statement_budget::StatementBudget;

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub struct Pool {
    pub backend: Backend,
    idle: Mutex<Vec<BackendConn>>,
    permits: Arc<Semaphore>,
    health: Mutex<Health>,
    /// How many prepared statements each of its connections may keep.
    statement_budget: Arc<StatementBudget>,
    /// Sessions waiting for a connection now.
    waiters: std::sync::atomic::AtomicUsize,
    /// No rules use it any more (a reload replaced it): connections given back are closed.
    retired: std::sync::atomic::AtomicBool,
}

struct Health {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
    /// When it last went up or down (or the pool was made).
    since: Instant,
    /// Failed connection attempts and connections cut while in use, ever.
    errors: u64,
}

/// A backend's health as SHOW SHARDGATE BACKENDS shows it.
pub struct HealthReport {
    /// The last connection attempt failed (and none succeeded since).
    pub down: bool,
    /// How long it has been up or down.
    pub in_state: Duration,
    pub errors: u64,
    /// Why it last failed; empty when it never did.
    pub last_error: String,
}

impl Pool {
    pub fn new(backend: Backend) -> Arc<Pool> {
        let max = backend.pool.max_connections as usize;
        Arc::new(Pool {
            backend,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            health: Mutex::new(Health {
                failures: 0,
                retry_at: None,
                last_error: String::new(),
                since: Instant::now(),
                errors: 0,
            }),
            statement_budget: Arc::default(),
            waiters: Default::default(),
            retired: Default::default(),
        })
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.backend.pool.connect_timeout_ms)
    }

    pub fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.backend.pool.query_timeout_ms)
    }

    /// Connections that can be had now without waiting for another statement to end.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Up or down, since when, errors.
    pub fn health(&self) -> HealthReport {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        HealthReport {
            down: health.failures > 0,
            in_state: health.since.elapsed(),
            errors: health.errors,
            last_error: health.last_error.clone(),
        }
    }

    /// Whether recent connection attempts failed and the pool is waiting to try again.
    pub fn is_down(&self) -> bool {
        self.backing_off().is_some()
    }

    /// A connection with `flags`: an idle one that is still alive, or a new one.
    pub async fn get(self: &Arc<Self>, flags: ConnFlags) -> Result<PooledConn, BackendError> {
        let err = |kind| BackendError::new(&self.backend.name, kind);
        if let Some(reason) = self.backing_off() {
            return Err(err(BackendErrorKind::Down(reason)));
        }
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(Ok(permit)),
            Err(_) => {
                use std::sync::atomic::Ordering::Relaxed;
                self.waiters.fetch_add(1, Relaxed);
                let waited = tokio::time::timeout(
                    self.connect_timeout(),
                    self.permits.clone().acquire_owned(),
                )
                .await;
                self.waiters.fetch_sub(1, Relaxed);
                waited
            }
        };
        let permit = permit
            .map_err(|_| {
                err(BackendErrorKind::Exhausted {
                    max: self.backend.pool.max_connections,
                    waited_ms: self.backend.pool.connect_timeout_ms,
                })
            })?
            .map_err(|_| err(BackendErrorKind::Down("pool closed".into())))?;
        while let Some(conn) = self.take_idle(flags) {
            // A connection back from a statement a moment ago is alive: probing the socket
            // costs a system call per statement, so only idle ones are probed.
            let fresh = conn
                .idle_since
                .is_some_and(|t| t.elapsed() < Duration::from_millis(500));
            if fresh || conn.is_alive() {
                let mut conn = conn;
                // The backend's statement budget may have shrunk since this connection was
                // last used: it gives back what it holds beyond it before anything else.
                let keep = self.statement_budget.per_connection();
                if conn.trim_statements(keep).await.is_err() {
                    continue;
                }
                return Ok(PooledConn {
                    conn: Some(conn),
                    pool: self.clone(),
                    _permit: permit,
                    held: None,
                });
            }
        }
        let budget = self.statement_budget.clone();
        match BackendConn::connect(&self.backend, flags, self.connect_timeout(), budget).await {
            Ok(conn) => {
                self.mark_up();
                Ok(PooledConn {
                    conn: Some(conn),
                    pool: self.clone(),
                    _permit: permit,
                    held: None,
                })
            }
            Err(e) => {
                if !matches!(
                    e.kind,
                    BackendErrorKind::Auth(_) | BackendErrorKind::Server(_)
                ) {
                    self.mark_down(&e.to_string());
                }
                Err(e)
            }
        }
    }

    fn take_idle(&self, flags: ConnFlags) -> Option<BackendConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let i = idle.iter().rposition(|c| c.flags == flags)?;
        Some(idle.swap_remove(i))
    }

    fn backing_off(&self) -> Option<String> {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        match health.retry_at {
            Some(at) if Instant::now() < at => Some(health.last_error.clone()),
            _ => None,
        }
    }

    fn mark_down(&self, error: &str) {
        crate::telemetry::backend_up(&self.backend.name, false);
        crate::telemetry::backend_error(&self.backend.name);
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let backoff = BACKOFF_START
            .saturating_mul(1 << health.failures.min(6))
            .min(BACKOFF_MAX);
        if health.failures == 0 {
            health.since = Instant::now();
        }
        health.failures += 1;
        health.errors += 1;
        health.retry_at = Some(Instant::now() + backoff);
        health.last_error = error.to_string();
        // Idle connections to a server that went away are dead too.
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn mark_up(&self) {
        crate::telemetry::backend_up(&self.backend.name, true);
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if health.failures > 0 {
            health.since = Instant::now();
        }
        health.failures = 0;
        health.retry_at = None;
    }

    /// Records that an established connection failed with an I/O error: the server may be
    /// gone, so idle connections are dropped rather than handed out to fail one by one.
    pub fn connection_failed(&self) {
        crate::telemetry::backend_error(&self.backend.name);
        self.health.lock().unwrap_or_else(|p| p.into_inner()).errors += 1;
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Interrupts the statement backend thread `thread` runs (`KILL QUERY`), on a new
    /// connection outside the pool's limit, closed after.
    pub async fn kill_query(&self, thread: u32) -> Result<(), BackendError> {
        let budget = Arc::new(StatementBudget::default());
        let flags = ConnFlags {
            found_rows: false,
            deprecate_eof: false,
        };
        let mut conn =
            BackendConn::connect(&self.backend, flags, self.connect_timeout(), budget).await?;
        conn.execute_internal(&format!("KILL QUERY {thread}"))
            .await
            .map(|_| ())
    }

    /// Drains it: its idle connections are closed now, and those in use when they are
    /// given back. Statements still running on the rules that had it finish normally.
    pub fn retire(&self) {
        self.retired
            .store(true, std::sync::atomic::Ordering::Release);
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Sessions waiting for a connection now.
    pub fn waiters(&self) -> usize {
        self.waiters.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A checked-out connection. Dropping it returns it to the pool when it is clean: not broken
/// and not inside a transaction. Anything else is closed.
pub struct PooledConn {
    conn: Option<BackendConn>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
    /// Its entry among the connections a session holds, for KILL.
    held: Option<crate::kill_switch::HeldMark>,
}

impl PooledConn {
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Records it among the connections `switch`'s session holds: a KILL of the session
    /// interrupts its thread, and then it is closed rather than pooled.
    pub fn held_by(&mut self, switch: &Arc<crate::kill_switch::KillSwitch>) {
        if self.held.is_none() {
            let thread = self.connection_id;
            self.held = Some(switch.hold(self.pool.clone(), thread));
        }
    }
}

impl std::ops::Deref for PooledConn {
    type Target = BackendConn;
    fn deref(&self) -> &BackendConn {
        // Only `drop` takes the connection out.
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut BackendConn {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let killed = self.held.as_mut().is_some_and(|h| h.release());
        let retired = self.pool.retired.load(std::sync::atomic::Ordering::Acquire);
        if let Some(mut conn) = self.conn.take() {
            if !killed && !retired && !conn.broken && !conn.in_transaction() {
                conn.idle_since = Some(Instant::now());
                self.pool
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
            }
        }
    }
}
