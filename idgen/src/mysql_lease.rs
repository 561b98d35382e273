//! Worker-id leases in a MySQL table. Expiry is judged by the database server's clock, so
//! proxies with skewed clocks still agree on who holds a worker id.
//!
//! `CREATE TABLE worker_lease (worker_id INT PRIMARY KEY, owner VARCHAR(200), expires_at
//! BIGINT, last_ms BIGINT)`: `expires_at` in the server's milliseconds since 1970,
//! `last_ms` the last time the holder reported issuing ids at.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::lease::{Lease, WorkerLeases};
use crate::IdError;

/// The server's time in milliseconds since 1970.
const SERVER_NOW_MS: &str = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

pub struct MySqlLeases {
    pool: mysql_async::Pool,
    /// `database.table`.
    table: String,
    ttl: Duration,
    owner: String,
    /// For errors: where the store is.
    name: String,
}

impl MySqlLeases {
    /// Leases in `database`.`table` of the server `opts` reaches (the pool must report
    /// found rows, not changed rows, as affected: [`Self::opts`] sets that). Creates the
    /// database and table when missing.
    pub async fn open(
        opts: mysql_async::OptsBuilder,
        database: &str,
        table: &str,
        ttl: Duration,
    ) -> Result<Self, IdError> {
        let opts = Self::opts(opts);
        let name = format!(
            "{}:{} {database}.{table}",
            mysql_async::Opts::from(opts.clone()).ip_or_hostname(),
            mysql_async::Opts::from(opts.clone()).tcp_port()
        );
        let pool = mysql_async::Pool::new(opts);
        let qualified = format!("`{database}`.`{table}`");
        let mut conn = pool
            .get_conn()
            .await
            .map_err(|e| IdError::store(&name, e))?;
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
            .await
            .map_err(|e| IdError::store(&name, e))?;
        conn.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS {qualified} (worker_id INT NOT NULL PRIMARY KEY, \
             owner VARCHAR(200) NOT NULL, expires_at BIGINT NOT NULL, \
             last_ms BIGINT NOT NULL DEFAULT 0) ENGINE = InnoDB"
        ))
        .await
        .map_err(|e| IdError::store(&name, e))?;
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        let owner = format!(
            "{}:{}:{:016x}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
            std::process::id(),
            u64::from_le_bytes(seed)
        );
        Ok(MySqlLeases {
            pool,
            table: qualified,
            ttl,
            owner,
            name,
        })
    }

    /// Connection options that make UPDATE report matched rows, so renewing a lease twice
    /// in one millisecond still counts as holding it.
    pub fn opts(opts: mysql_async::OptsBuilder) -> mysql_async::OptsBuilder {
        opts.client_found_rows(true)
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    async fn conn(&self) -> Result<mysql_async::Conn, IdError> {
        self.pool
            .get_conn()
            .await
            .map_err(|e| IdError::store(&self.name, e))
    }

    /// Closes the pool's connections.
    pub async fn close(self) {
        let _ = self.pool.disconnect().await;
    }
}

impl WorkerLeases for MySqlLeases {
    async fn acquire(&self, max_worker: u64) -> Result<Lease, IdError> {
        let mut conn = self.conn().await?;
        let ttl = self.ttl.as_millis() as u64;
        let err = |e: mysql_async::Error| IdError::store(&self.name, e);
        // Worker ids held by live owners; try the others from the lowest, racing other
        // proxies row by row.
        let held: Vec<u64> = conn
            .query(format!(
                "SELECT worker_id FROM {} WHERE expires_at >= {SERVER_NOW_MS}",
                self.table
            ))
            .await
            .map_err(err)?;
        for worker_id in (0..=max_worker).filter(|w| !held.contains(w)) {
            conn.exec_drop(
                format!(
                    "INSERT IGNORE INTO {} (worker_id, owner, expires_at, last_ms) \
                     VALUES (?, ?, {SERVER_NOW_MS} + ?, 0)",
                    self.table
                ),
                (worker_id, &self.owner, ttl),
            )
            .await
            .map_err(err)?;
            let mut taken = conn.affected_rows() == 1;
            if !taken {
                conn.exec_drop(
                    format!(
                        "UPDATE {} SET owner = ?, expires_at = {SERVER_NOW_MS} + ? \
                         WHERE worker_id = ? AND expires_at < {SERVER_NOW_MS}",
                        self.table
                    ),
                    (&self.owner, ttl, worker_id),
                )
                .await
                .map_err(err)?;
                taken = conn.affected_rows() == 1;
            }
            if taken {
                let last: Option<u64> = conn
                    .exec_first(
                        format!(
                            "SELECT last_ms FROM {} WHERE worker_id = ? AND owner = ?",
                            self.table
                        ),
                        (worker_id, &self.owner),
                    )
                    .await
                    .map_err(err)?;
                return Ok(Lease {
                    worker_id,
                    owner: self.owner.clone(),
                    not_before_unix_ms: last.unwrap_or(0),
                    ttl: self.ttl,
                });
            }
        }
        Err(IdError::NoFreeWorker { max: max_worker })
    }

    async fn renew(&self, lease: &Lease, last_unix_ms: u64) -> Result<(), IdError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            format!(
                "UPDATE {} SET expires_at = {SERVER_NOW_MS} + ?, last_ms = GREATEST(last_ms, ?) \
                 WHERE worker_id = ? AND owner = ?",
                self.table
            ),
            (
                lease.ttl.as_millis() as u64,
                last_unix_ms,
                lease.worker_id,
                &lease.owner,
            ),
        )
        .await
        .map_err(|e| IdError::store(&self.name, e))?;
        if conn.affected_rows() == 1 {
            Ok(())
        } else {
            Err(IdError::LeaseLost(format!(
                "worker id {} in {} is held by another owner",
                lease.worker_id, self.name
            )))
        }
    }

    async fn release(&self, lease: &Lease, last_unix_ms: u64) -> Result<(), IdError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            format!(
                "UPDATE {} SET expires_at = 0, last_ms = GREATEST(last_ms, ?) \
                 WHERE worker_id = ? AND owner = ?",
                self.table
            ),
            (last_unix_ms, lease.worker_id, &lease.owner),
        )
        .await
        .map_err(|e| IdError::store(&self.name, e))
    }
}
