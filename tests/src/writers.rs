//! Client threads that write `t_order` through shardgate while a migration runs, each keeping
//! its own record of the rows it expects, so a test can compare a layout with what the
//! clients were told.
//!
//! Writer `t` owns every key `k` with `k % threads == t`, so no two writers touch one row
//! and each record is exact. The writes: INSERT by key, UPDATE and DELETE by key (text and
//! prepared), an UPDATE by a key range (its keys are read first), and two-statement
//! transactions, some rolled back.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use mysql_async::prelude::Queryable;

/// `t_order`'s columns as the test reads them: user_id, status, amount (text), note.
pub type OrderRow = (i64, String, String, Option<String>);

/// The table every migration test moves.
pub const T_ORDER: &str = "(order_id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, \
     status VARCHAR(32) NOT NULL, amount DECIMAL(12,2) NOT NULL, note VARCHAR(64) NULL)";

/// The row key `k` starts with in the tests' initial data.
pub fn initial_row(k: i64) -> OrderRow {
    (
        k % 1000,
        "new".into(),
        format!("{}.{:02}", k % 10_000, k % 100),
        (k % 7 != 0).then(|| format!("n{k}")),
    )
}

/// `INSERT ... VALUES` text for initial keys `keys` into `table`.
pub fn initial_insert(table: &str, keys: impl Iterator<Item = i64>) -> String {
    let values: Vec<String> = keys
        .map(|k| {
            let (user, status, amount, note) = initial_row(k);
            let note = note.map_or("NULL".into(), |n| format!("'{n}'"));
            format!("({k}, {user}, '{status}', {amount}, {note})")
        })
        .collect();
    format!(
        "INSERT INTO {table} (order_id, user_id, status, amount, note) VALUES {}",
        values.join(", ")
    )
}

/// What the writers expect of the rows they touched: `None` for a deleted row.
pub type Expected = BTreeMap<i64, Option<OrderRow>>;

pub struct Writers {
    stop: Arc<AtomicBool>,
    handles: Vec<tokio::task::JoinHandle<Result<Expected, String>>>,
    /// Writes acknowledged so far, over all writers.
    pub done: Arc<AtomicU64>,
}

/// Starts `threads` writers through `opts`; keys `1..=initial` exist at the start. Each
/// rests `pause` between writes, as application clients do, leaving the (shared, 2-core)
/// machine to the migration too.
pub fn start_writers(
    opts: mysql_async::OptsBuilder,
    threads: i64,
    initial: i64,
    pause: std::time::Duration,
) -> Writers {
    start_writers_across(&[opts], threads, initial, pause)
}

/// [`start_writers`] spread over several proxies: writer `t` writes through
/// `proxies[t % proxies.len()]`.
pub fn start_writers_across(
    proxies: &[mysql_async::OptsBuilder],
    threads: i64,
    initial: i64,
    pause: std::time::Duration,
) -> Writers {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let handles = (0..threads)
        .map(|t| {
            let writer = Writer {
                t,
                threads,
                initial,
                rng: 0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D),
                next_new: 0,
                expected: BTreeMap::new(),
                owned_new: Vec::new(),
            };
            let opts = proxies[t as usize % proxies.len()].clone();
            let (stop, done) = (stop.clone(), done.clone());
            tokio::spawn(writer.run(opts, stop, done, pause))
        })
        .collect();
    Writers {
        stop,
        handles,
        done,
    }
}

impl Writers {
    /// Stops the writers and returns their records, merged. Fails on any error a writer
    /// was not entitled to (see [`Writer::retryable`]).
    pub async fn stop(self) -> Result<Expected, String> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Expected::new();
        for h in self.handles {
            all.extend(h.await.map_err(|e| e.to_string())??);
        }
        Ok(all)
    }
}

struct Writer {
    t: i64,
    threads: i64,
    initial: i64,
    rng: u64,
    next_new: i64,
    expected: Expected,
    owned_new: Vec<i64>,
}

impl Writer {
    fn rand(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n.max(1)
    }

    /// What the writer believes row `k` is now.
    fn current(&self, k: i64) -> Option<OrderRow> {
        match self.expected.get(&k) {
            Some(state) => state.clone(),
            None if (1..=self.initial).contains(&k) => Some(initial_row(k)),
            None => None,
        }
    }

    /// A key this writer owns: an initial one, or one it inserted.
    fn some_key(&mut self) -> i64 {
        if !self.owned_new.is_empty() && self.rand(3) == 0 {
            let i = self.rand(self.owned_new.len() as u64) as usize;
            return self.owned_new[i];
        }
        let slots = (self.initial / self.threads).max(1) as u64;
        let k = self.rand(slots) as i64 * self.threads + self.t;
        if k == 0 {
            self.threads
        } else {
            k
        }
    }

    fn new_key(&mut self) -> i64 {
        self.next_new += 1;
        10_000_000 + self.next_new * self.threads + self.t
    }

    /// Errors a client of a migrating table may see and retry: a deadlock or lock wait on
    /// the source, or a transaction rolled back because the migration moved under it.
    fn retryable(e: &mysql_async::Error) -> bool {
        matches!(e, mysql_async::Error::Server(s) if s.code == 1213 || s.code == 1205)
    }

    async fn run(
        mut self,
        opts: mysql_async::OptsBuilder,
        stop: Arc<AtomicBool>,
        done: Arc<AtomicU64>,
        pause: std::time::Duration,
    ) -> Result<Expected, String> {
        let mut conn = mysql_async::Conn::new(opts)
            .await
            .map_err(|e| format!("writer {}: connect: {e}", self.t))?;
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            n += 1;
            let op = self.rand(100);
            let outcome = self.one_write(&mut conn, op, n).await;
            match outcome {
                Ok(changes) => {
                    for (k, row) in changes {
                        if row.is_some()
                            && !(1..=self.initial).contains(&k)
                            && !self.owned_new.contains(&k)
                        {
                            self.owned_new.push(k);
                        }
                        self.expected.insert(k, row);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if Self::retryable(&e) => {
                    // Nothing of it stands; a transaction is rolled back on the server.
                    let _ = conn.query_drop("ROLLBACK").await;
                }
                Err(e) => return Err(format!("writer {}: write {n} (op {op}): {e}", self.t)),
            }
        }
        let _ = conn.disconnect().await;
        Ok(self.expected)
    }

    /// One write; returns the rows it changed, as they now are.
    async fn one_write(
        &mut self,
        conn: &mut mysql_async::Conn,
        op: u64,
        n: u64,
    ) -> Result<Vec<(i64, Option<OrderRow>)>, mysql_async::Error> {
        let t = self.t;
        match op {
            0..=29 => {
                let k = self.new_key();
                let row: OrderRow = (
                    t,
                    format!("i{n}"),
                    format!("{}.{:02}", n % 5000, n % 100),
                    (!n.is_multiple_of(3)).then(|| format!("w{t}-{n}")),
                );
                conn.exec_drop(
                    "INSERT INTO t_order (order_id, user_id, status, amount, note) VALUES (?, ?, ?, ?, ?)",
                    (k, row.0, row.1.clone(), row.2.clone(), row.3.clone()),
                )
                .await?;
                Ok(vec![(k, Some(row))])
            }
            30..=54 => {
                let k = self.some_key();
                let status = format!("u{n}");
                let amount = format!("{}.50", n % 3000);
                if op.is_multiple_of(2) {
                    conn.query_drop(format!(
                        "UPDATE t_order SET status = '{status}', amount = {amount} WHERE order_id = {k}"
                    ))
                    .await?;
                } else {
                    conn.exec_drop(
                        "UPDATE t_order SET status = ?, amount = ? WHERE order_id = ?",
                        (status.clone(), amount.clone(), k),
                    )
                    .await?;
                }
                Ok(vec![(
                    k,
                    self.current(k).map(|r| (r.0, status, amount, r.3)),
                )])
            }
            55..=69 => {
                let k = self.some_key();
                conn.query_drop(format!("DELETE FROM t_order WHERE order_id = {k}"))
                    .await?;
                Ok(vec![(k, None)])
            }
            70..=79 => {
                // By a key range: shardgate reads the keys first.
                let lo = self.some_key();
                let hi = lo + 20 * self.threads;
                let note = format!("r{t}-{n}");
                conn.query_drop(format!(
                    "UPDATE t_order SET note = '{note}' WHERE order_id BETWEEN {lo} AND {hi} AND MOD(order_id, {}) = {t}",
                    self.threads
                ))
                .await?;
                let changed = (lo..=hi)
                    .filter(|k| k % self.threads == t)
                    .filter_map(|k| {
                        self.current(k)
                            .map(|r| (k, Some((r.0, r.1, r.2, Some(note.clone())))))
                    })
                    .collect();
                Ok(changed)
            }
            _ => {
                let k = self.new_key();
                let u = self.some_key();
                let commit = !op.is_multiple_of(5);
                conn.query_drop("BEGIN").await?;
                conn.query_drop(format!(
                    "INSERT INTO t_order (order_id, user_id, status, amount, note) VALUES ({k}, {t}, 'tx', 1.00, NULL)"
                ))
                .await?;
                conn.query_drop(format!(
                    "UPDATE t_order SET status = 'tx{n}' WHERE order_id = {u}"
                ))
                .await?;
                conn.query_drop(if commit { "COMMIT" } else { "ROLLBACK" })
                    .await?;
                if !commit {
                    return Ok(Vec::new());
                }
                let updated = self.current(u).map(|r| (r.0, format!("tx{n}"), r.2, r.3));
                Ok(vec![
                    (k, Some((t, "tx".into(), "1.00".into(), None))),
                    (u, updated),
                ])
            }
        }
    }
}

/// Every row of the physical tables `tables` (`db.table`) on the servers `conns` reach:
/// key -> row. Fails on a key found twice.
pub async fn read_layout(
    tables: &[(usize, String)],
    conns: &mut [mysql_async::Conn],
) -> Result<HashMap<i64, OrderRow>, String> {
    let mut rows = HashMap::new();
    for (server, table) in tables {
        let found: Vec<(i64, i64, String, String, Option<String>)> = conns[*server]
            .query(format!(
                "SELECT order_id, user_id, status, CAST(amount AS CHAR), note FROM {table}"
            ))
            .await
            .map_err(|e| format!("{table}: {e}"))?;
        for (k, user, status, amount, note) in found {
            if rows.insert(k, (user, status, amount, note)).is_some() {
                return Err(format!("key {k} is in two tables"));
            }
        }
    }
    Ok(rows)
}

/// How `layout` differs from what the clients expect: `initial` keys `1..=initial` with
/// [`initial_row`], overridden by `expected`. Returns (lost, extra, different) keys.
pub fn compare(
    layout: &HashMap<i64, OrderRow>,
    initial: i64,
    expected: &Expected,
) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
    let (mut lost, mut extra, mut different) = (Vec::new(), Vec::new(), Vec::new());
    let want = |k: i64| -> Option<OrderRow> {
        match expected.get(&k) {
            Some(state) => state.clone(),
            None if (1..=initial).contains(&k) => Some(initial_row(k)),
            None => None,
        }
    };
    for k in (1..=initial).chain(expected.keys().copied().filter(|k| *k > initial)) {
        match (want(k), layout.get(&k)) {
            (Some(_), None) => lost.push(k),
            (Some(w), Some(got)) if w != *got => different.push(k),
            (None, Some(_)) => extra.push(k),
            _ => {}
        }
    }
    for k in layout.keys() {
        if !(1..=initial).contains(k) && !expected.contains_key(k) {
            extra.push(*k);
        }
    }
    (lost, extra, different)
}
