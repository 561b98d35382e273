//! Where id segments come from: Leaf's `leaf_alloc` table in MySQL, or memory (for
//! benchmarks and tests of the generator alone).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use mysql_async::prelude::Queryable;

use crate::IdError;

/// Ids `first..=last`, taken for one proxy alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRange {
    pub first: i64,
    pub last: i64,
}

pub trait SegmentStore: Send + Sync + 'static {
    /// Takes the next `step` ids of `tag`.
    fn allocate(
        &self,
        tag: &str,
        step: u64,
    ) -> impl Future<Output = Result<SegmentRange, IdError>> + Send;

    /// Gives back the ids after `keep_last` of `range`, if no one took ids of `tag` after
    /// `range`: a graceful restart then wastes nothing of it. `Ok(false)` when someone did.
    fn give_back(
        &self,
        tag: &str,
        range: SegmentRange,
        keep_last: i64,
    ) -> impl Future<Output = Result<bool, IdError>> + Send;
}

/// Segments in memory: the generator's own speed, without a database.
#[derive(Debug, Default)]
pub struct MemorySegmentStore {
    max: Mutex<HashMap<String, i64>>,
}

impl SegmentStore for MemorySegmentStore {
    async fn allocate(&self, tag: &str, step: u64) -> Result<SegmentRange, IdError> {
        let mut max = self
            .max
            .lock()
            .map_err(|_| IdError::store("memory", "poisoned"))?;
        let entry = max.entry(tag.to_string()).or_insert(0);
        let first = *entry + 1;
        *entry += step as i64;
        Ok(SegmentRange {
            first,
            last: *entry,
        })
    }

    async fn give_back(
        &self,
        tag: &str,
        range: SegmentRange,
        keep_last: i64,
    ) -> Result<bool, IdError> {
        let mut max = self
            .max
            .lock()
            .map_err(|_| IdError::store("memory", "poisoned"))?;
        match max.get_mut(tag) {
            Some(m) if *m == range.last => {
                *m = keep_last;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Meituan Leaf's table: `leaf_alloc(biz_tag, max_id, step, description, update_time)`. A
/// segment is `UPDATE ... SET max_id = max_id + step` and a read of `max_id`, in one
/// transaction, so two proxies never get overlapping ranges.
pub struct MySqlSegmentStore {
    pool: mysql_async::Pool,
    database: String,
    table: String,
    name: String,
    /// The table exists (created on first use, so a proxy starts while the server is down).
    ready: tokio::sync::OnceCell<()>,
}

impl MySqlSegmentStore {
    /// The `leaf_alloc` table in `database` of the server `opts` reaches; the database and
    /// table are created on first use when missing.
    pub fn new(opts: mysql_async::OptsBuilder, database: &str) -> Self {
        let o = mysql_async::Opts::from(opts.clone());
        let name = format!(
            "{}:{} {database}.leaf_alloc",
            o.ip_or_hostname(),
            o.tcp_port()
        );
        MySqlSegmentStore {
            pool: mysql_async::Pool::new(opts.client_found_rows(true)),
            database: database.to_string(),
            table: format!("`{database}`.leaf_alloc"),
            name,
            ready: tokio::sync::OnceCell::new(),
        }
    }

    async fn ensure_table(&self) -> Result<(), IdError> {
        let create = || async {
            let err = |e: mysql_async::Error| IdError::store(&self.name, e);
            let mut conn = self.pool.get_conn().await.map_err(err)?;
            conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{}`", self.database))
                .await
                .map_err(err)?;
            conn.query_drop(format!(
                "CREATE TABLE IF NOT EXISTS {} (biz_tag VARCHAR(128) NOT NULL PRIMARY KEY, \
                 max_id BIGINT NOT NULL DEFAULT 0, step INT NOT NULL, \
                 description VARCHAR(256) NULL, \
                 update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP) \
                 ENGINE = InnoDB",
                self.table
            ))
            .await
            .map_err(err)
        };
        self.ready.get_or_try_init(create).await.map(|_| ())
    }

    pub async fn close(self) {
        let _ = self.pool.disconnect().await;
    }

    /// One transaction: `UPDATE ... SET max_id = max_id + step` (a new tag's row is created
    /// at `step`), then the new max_id is read back.
    async fn allocate_once(&self, tag: &str, step: u64) -> Result<Option<i64>, mysql_async::Error> {
        let mut conn = self.pool.get_conn().await?;
        let mut tx = conn
            .start_transaction(mysql_async::TxOpts::default())
            .await?;
        tx.exec_drop(
            format!(
                "UPDATE {} SET max_id = max_id + ?, step = ? WHERE biz_tag = ?",
                self.table
            ),
            (step, step, tag),
        )
        .await?;
        if tx.affected_rows() == 0 {
            // A new tag: its row is created holding this first segment (another proxy
            // creating it at the same moment makes this an increment instead).
            tx.exec_drop(
                format!(
                    "INSERT INTO {} (biz_tag, max_id, step, description) \
                     VALUES (?, ?, ?, 'created by shardgate') \
                     ON DUPLICATE KEY UPDATE max_id = max_id + VALUES(step), step = VALUES(step)",
                    self.table
                ),
                (tag, step, step),
            )
            .await?;
        }
        let max: Option<i64> = tx
            .exec_first(
                format!("SELECT max_id FROM {} WHERE biz_tag = ?", self.table),
                (tag,),
            )
            .await?;
        tx.commit().await?;
        Ok(max)
    }
}

impl SegmentStore for MySqlSegmentStore {
    async fn allocate(&self, tag: &str, step: u64) -> Result<SegmentRange, IdError> {
        self.ensure_table().await?;
        // Two proxies creating a tag's row at once can deadlock in InnoDB; the loser's
        // transaction rolled back whole, so trying again is safe.
        let mut attempt = 0;
        loop {
            match self.allocate_once(tag, step).await {
                Err(mysql_async::Error::Server(e))
                    if matches!(e.code, 1213 | 1205) && attempt < 5 =>
                {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5 << attempt)).await;
                }
                Ok(Some(last)) => {
                    return Ok(SegmentRange {
                        first: last - step as i64 + 1,
                        last,
                    })
                }
                Ok(None) => {
                    return Err(IdError::store(
                        &self.name,
                        format!("no leaf_alloc row for `{tag}`"),
                    ))
                }
                Err(e) => return Err(IdError::store(&self.name, e)),
            }
        }
    }

    async fn give_back(
        &self,
        tag: &str,
        range: SegmentRange,
        keep_last: i64,
    ) -> Result<bool, IdError> {
        self.ensure_table().await?;
        let err = |e: mysql_async::Error| IdError::store(&self.name, e);
        let mut conn = self.pool.get_conn().await.map_err(err)?;
        conn.exec_drop(
            format!(
                "UPDATE {} SET max_id = ? WHERE biz_tag = ? AND max_id = ?",
                self.table
            ),
            (keep_last, tag, range.last),
        )
        .await
        .map_err(err)?;
        Ok(conn.affected_rows() == 1)
    }
}

impl<S: SegmentStore> SegmentStore for std::sync::Arc<S> {
    fn allocate(
        &self,
        tag: &str,
        step: u64,
    ) -> impl Future<Output = Result<SegmentRange, IdError>> + Send {
        (**self).allocate(tag, step)
    }

    fn give_back(
        &self,
        tag: &str,
        range: SegmentRange,
        keep_last: i64,
    ) -> impl Future<Output = Result<bool, IdError>> + Send {
        (**self).give_back(tag, range, keep_last)
    }
}
