//! Which proxies are alive, and which migration state each has taken up. Every switch of a
//! migration's source of truth waits until every live proxy has acknowledged it:
//! - `migration_proxies`: one row per running proxy, its heartbeat renewed on every read of
//!   the state (each [`STATE_POLL`], [`STATE_POLL_ACTIVE`] while a migration is under way);
//!   a proxy whose heartbeat is older than [`PROXY_LEASE`] is taken for dead and no longer
//!   waited for. A proxy that finds a state table when it starts registers before it reads
//!   the state for its first client, so a step that wrote a change and then read the
//!   registry has either seen the proxy there or the proxy sees the change;
//! - `migration_acks`: per proxy and table, the phase and state version it acts on. A proxy
//!   writes it only once the writes it had begun under the earlier phase have finished, so
//!   an acknowledged fence means that proxy copies nothing any more.
//!
//! Times are the state server's own (`NOW(3)`), so the proxies' and the CLI's clocks do not
//! matter.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::state::Phase;
use crate::store::StateStore;
use crate::MigrateError;

/// How often a proxy reads the migration state (and renews its heartbeat) while it knows of
/// no migration under way.
pub const STATE_POLL: Duration = Duration::from_millis(1000);
/// How often, while a migration is under way: a switch's fence stands until every proxy
/// has read it, and writes wait at it meanwhile.
pub const STATE_POLL_ACTIVE: Duration = Duration::from_millis(200);
/// A proxy whose heartbeat is older than this is taken for dead.
pub const PROXY_LEASE: Duration = Duration::from_secs(5);
/// How long a step waits for the live proxies' acknowledgments: long enough for a dead
/// proxy's lease to lapse, shorter than a fence's lease.
pub const ACK_WAIT: Duration = Duration::from_secs(8);

/// The statements that create the registry's tables in `db`.
pub fn registry_ddl(db: &str) -> [String; 2] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.migration_proxies (proxy_id VARCHAR(200) NOT NULL PRIMARY KEY, \
             heartbeat_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE = InnoDB"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.migration_acks (proxy_id VARCHAR(200) NOT NULL, \
             table_name VARCHAR(128) NOT NULL, phase VARCHAR(32) NOT NULL, version BIGINT NOT NULL, \
             acked_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), \
             PRIMARY KEY (proxy_id, table_name)) ENGINE = InnoDB"
        ),
    ]
}

/// What the registry says of one table, read in one go: which proxies renew their heartbeat
/// within [`PROXY_LEASE`] (live) or stopped (lapsed), and the state each acts on.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub live: Vec<String>,
    pub lapsed: Vec<String>,
    /// Proxy id -> (phase, state version) it acknowledged for the table.
    pub acks: BTreeMap<String, (Phase, u64)>,
}

/// One proxy's acknowledgment of one table's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub table: String,
    pub phase: Phase,
    pub version: u64,
}

/// A proxy's heartbeat and its acknowledgments, in one transaction on the state server.
pub async fn heartbeat(
    conn: &mut mysql_async::Conn,
    db: &str,
    proxy_id: &str,
    acks: &[Ack],
) -> Result<(), mysql_async::Error> {
    let mut tx = conn
        .start_transaction(mysql_async::TxOpts::default())
        .await?;
    tx.exec_drop(
        format!(
            "INSERT INTO `{db}`.migration_proxies (proxy_id, heartbeat_at) VALUES (?, NOW(3)) \
             ON DUPLICATE KEY UPDATE heartbeat_at = NOW(3)"
        ),
        (proxy_id,),
    )
    .await?;
    for ack in acks {
        tx.exec_drop(
            format!(
                "INSERT INTO `{db}`.migration_acks (proxy_id, table_name, phase, version, acked_at) \
                 VALUES (?, ?, ?, ?, NOW(3)) ON DUPLICATE KEY UPDATE \
                 acked_at = IF(phase = VALUES(phase) AND version = VALUES(version), acked_at, NOW(3)), \
                 phase = VALUES(phase), version = VALUES(version)"
            ),
            (proxy_id, &ack.table, ack.phase.as_str(), ack.version),
        )
        .await?;
    }
    tx.commit().await
}

/// A proxy leaving: it is no longer waited for.
pub async fn unregister(
    conn: &mut mysql_async::Conn,
    db: &str,
    proxy_id: &str,
) -> Result<(), mysql_async::Error> {
    conn.exec_drop(
        format!("DELETE FROM `{db}`.migration_acks WHERE proxy_id = ?"),
        (proxy_id,),
    )
    .await?;
    conn.exec_drop(
        format!("DELETE FROM `{db}`.migration_proxies WHERE proxy_id = ?"),
        (proxy_id,),
    )
    .await
}

/// Which proxies a wait may find unregistered, and so how long it lasts at least.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The migration just started: a proxy that knew of none reads the state only every
    /// [`STATE_POLL`], and registers when it first finds it.
    NewMigration,
    /// The migration has been under way since every live proxy acknowledged it: each has
    /// registered (a proxy starting later registers before it reads the state), and reads
    /// the state every [`STATE_POLL_ACTIVE`].
    UnderWay,
}

impl Settle {
    fn least(self) -> Duration {
        match self {
            Settle::NewMigration => STATE_POLL + Duration::from_millis(500),
            Settle::UnderWay => STATE_POLL_ACTIVE,
        }
    }
}

/// What the live proxies acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyAcks {
    /// Live proxies that acknowledged.
    pub acknowledged: Vec<String>,
    /// Proxies registered earlier whose heartbeat lapsed: taken for dead, not waited for.
    pub lapsed: Vec<String>,
}

impl StateStore {
    /// Waits until every live proxy acts on `table`'s state `version` (or a later one) in a
    /// phase `accept` takes. The wait lasts at least as long as `settle` says a live proxy
    /// may take to register. A proxy that stops renewing its heartbeat is dropped after
    /// [`PROXY_LEASE`]; one alive that has not acknowledged within [`ACK_WAIT`] fails the
    /// wait, naming it.
    pub async fn wait_for_proxies(
        &self,
        table: &str,
        version: u64,
        accept: impl Fn(Phase) -> bool,
        settle: Settle,
    ) -> Result<ProxyAcks, MigrateError> {
        let started = Instant::now();
        let settle = settle.least();
        self.forget_long_dead().await?;
        loop {
            let Registry { live, lapsed, acks } = self.registry(table).await?;
            let pending: Vec<&String> = live
                .iter()
                .filter(|p| {
                    !acks
                        .get(*p)
                        .is_some_and(|(phase, v)| *v >= version && accept(*phase))
                })
                .collect();
            if pending.is_empty() && started.elapsed() >= settle {
                return Ok(ProxyAcks {
                    acknowledged: live,
                    lapsed,
                });
            }
            if started.elapsed() > ACK_WAIT {
                let names: Vec<String> = pending
                    .iter()
                    .map(|p| match acks.get(*p) {
                        Some((phase, v)) => {
                            format!("{p} (acts on {} of version {v})", phase.as_str())
                        }
                        None => format!("{p} (has not taken the migration up)"),
                    })
                    .collect();
                return Err(MigrateError::State(format!(
                    "{} live prox{} did not acknowledge state version {version} of `{table}` within {} s: {}. A proxy that is alive but stuck holds the switch; one that stopped is dropped {} s after its last heartbeat",
                    names.len(),
                    if names.len() == 1 { "y" } else { "ies" },
                    ACK_WAIT.as_secs(),
                    names.join("; "),
                    PROXY_LEASE.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drops the rows of proxies whose heartbeat lapsed over an hour ago (killed without
    /// unregistering), so the registry does not grow with every restart. Housekeeping, so
    /// best effort: the ids are read without locks and deleted one by one by key, and a
    /// deadlock or lock wait with the live proxies' heartbeats (a DELETE over a subquery
    /// locked ranges they update: 1213 failed a rollback's wait) leaves them for next time.
    async fn forget_long_dead(&self) -> Result<(), MigrateError> {
        let mut conn = self.conn().await?;
        let db = self.database();
        let dead: Vec<String> = conn
            .query(format!(
                "SELECT proxy_id FROM `{db}`.migration_proxies WHERE heartbeat_at < NOW(3) - INTERVAL 1 HOUR"
            ))
            .await
            .map_err(|e| self.err(e))?;
        for proxy in dead {
            for table in ["migration_acks", "migration_proxies"] {
                let deleted = conn
                    .exec_drop(
                        format!("DELETE FROM `{db}`.{table} WHERE proxy_id = ?"),
                        (proxy.as_str(),),
                    )
                    .await;
                match deleted {
                    Ok(()) => {}
                    Err(mysql_async::Error::Server(e)) if e.code == 1213 || e.code == 1205 => {
                        return Ok(())
                    }
                    Err(e) => return Err(self.err(e)),
                }
            }
        }
        Ok(())
    }

    /// The registered proxies and their acknowledgments of `table`'s state.
    pub async fn registry(&self, table: &str) -> Result<Registry, MigrateError> {
        let mut conn = self.conn().await?;
        let db = self.database();
        let lease_us = PROXY_LEASE.as_micros();
        let proxies: Vec<(String, u8)> = conn
            .query(format!(
                "SELECT proxy_id, TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(3)) <= {lease_us} \
                 FROM `{db}`.migration_proxies ORDER BY proxy_id"
            ))
            .await
            .map_err(|e| self.err(e))?;
        let acks: Vec<(String, String, u64)> = conn
            .exec(
                format!(
                    "SELECT proxy_id, phase, version FROM `{db}`.migration_acks WHERE table_name = ?"
                ),
                (table,),
            )
            .await
            .map_err(|e| self.err(e))?;
        let (live, lapsed): (Vec<_>, Vec<_>) = proxies.into_iter().partition(|(_, l)| *l != 0);
        Ok(Registry {
            live: live.into_iter().map(|(p, _)| p).collect(),
            lapsed: lapsed.into_iter().map(|(p, _)| p).collect(),
            acks: acks
                .into_iter()
                .filter_map(|(p, phase, v)| Some((p, (Phase::parse(&phase)?, v))))
                .collect(),
        })
    }
}
