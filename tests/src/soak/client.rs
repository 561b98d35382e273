//! One soak client: a loop of point reads (binary protocol), INSERTs (text), UPDATEs
//! (binary) and two-row transactions, resting a random think time between them, until told
//! to stop. A lost connection is opened again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

use super::{error_label, ClientReport, KEY_SPAN, TABLE};

pub struct SoakClient {
    pub index: usize,
    pub opts: Opts,
    /// The average rest between two operations.
    pub think: Duration,
    pub stop: Arc<AtomicBool>,
}

/// xorshift64*: enough randomness for choosing operations, seeded by the client index.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl SoakClient {
    /// Runs until `stop`; returns what it did and its connection (still open, so the
    /// caller can measure the proxy with every client connected).
    pub async fn run(self, conn: Conn) -> (ClientReport, Option<Conn>) {
        let mut report = ClientReport::default();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (self.index as u64 + 1));
        let mut next_key = (self.index as i64 + 1) * KEY_SPAN;
        let mut conn = Some(conn);
        while !self.stop.load(Ordering::Relaxed) {
            let Some(c) = conn.as_mut() else {
                match Conn::new(self.opts.clone()).await {
                    Ok(c) => {
                        report.reconnects += 1;
                        conn = Some(c);
                    }
                    Err(e) => {
                        *report
                            .errors
                            .entry(format!("connect {}", error_label(&e)))
                            .or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                continue;
            };
            let roll = rng.next() % 100;
            let known = report.ledger.known(rng.next() as usize);
            let outcome = match (roll, known) {
                (0..50, Some((id, amount))) => self.read(c, id, amount, &mut report).await,
                // A new amount always differs from the old (an UPDATE that changes nothing
                // reports 0 affected rows).
                (50..75, Some((id, old))) => {
                    let amount = old + 1 + (rng.next() % 1000) as i64;
                    self.update(c, id, amount, &mut report).await
                }
                (75..90, Some((id, old))) => {
                    next_key += 1;
                    let amount = old + 1 + (rng.next() % 1000) as i64;
                    self.transaction(c, next_key, id, amount, &mut report).await
                }
                _ => {
                    next_key += 1;
                    let amount = (rng.next() % 1_000_000) as i64;
                    self.insert(c, next_key, amount, &mut report).await
                }
            };
            report.operations += 1;
            if let Err(e) = outcome {
                let label = error_label(&e);
                *report.errors.entry(label.clone()).or_default() += 1;
                if matches!(e, mysql_async::Error::Io(_) | mysql_async::Error::Driver(_)) {
                    conn = None;
                }
            }
            let rest = self.think.as_micros() as u64;
            if rest > 0 {
                let micros = rng.next() % (2 * rest);
                tokio::time::sleep(Duration::from_micros(micros)).await;
            }
        }
        (report, conn)
    }

    async fn read(
        &self,
        c: &mut Conn,
        id: i64,
        amount: i64,
        report: &mut ClientReport,
    ) -> mysql_async::Result<()> {
        let got: Option<(i64, i64)> = c
            .exec_first(
                format!("SELECT id, amount FROM {TABLE} WHERE id = ?"),
                (id,),
            )
            .await?;
        if got != Some((id, amount)) {
            report
                .wrong_reads
                .push(format!("id {id}: expected amount {amount}, read {got:?}"));
        }
        Ok(())
    }

    async fn insert(
        &self,
        c: &mut Conn,
        id: i64,
        amount: i64,
        report: &mut ClientReport,
    ) -> mysql_async::Result<()> {
        let sql = format!(
            "INSERT INTO {TABLE} (id, client, amount, note) VALUES ({id}, {}, {amount}, 'c{} n{id}')",
            self.index, self.index
        );
        match c.query_drop(sql).await {
            Ok(()) => {
                report.ledger.acknowledged(id, amount);
                Ok(())
            }
            Err(e) => {
                report.ledger.uncertain(id);
                Err(e)
            }
        }
    }

    async fn update(
        &self,
        c: &mut Conn,
        id: i64,
        amount: i64,
        report: &mut ClientReport,
    ) -> mysql_async::Result<()> {
        let result = c
            .exec_drop(
                format!("UPDATE {TABLE} SET amount = ? WHERE id = ?"),
                (amount, id),
            )
            .await;
        match result {
            Ok(()) if c.affected_rows() == 1 => {
                report.ledger.acknowledged(id, amount);
                Ok(())
            }
            Ok(()) => {
                report.wrong_reads.push(format!(
                    "id {id}: UPDATE matched {} rows, expected 1",
                    c.affected_rows()
                ));
                Ok(())
            }
            Err(e) => {
                report.ledger.uncertain(id);
                Err(e)
            }
        }
    }

    /// INSERT a new row and UPDATE a known one (usually on another backend), then COMMIT.
    /// An error before COMMIT rolls back: nothing changed. An error on COMMIT leaves both
    /// rows uncertain.
    async fn transaction(
        &self,
        c: &mut Conn,
        new_id: i64,
        old_id: i64,
        amount: i64,
        report: &mut ClientReport,
    ) -> mysql_async::Result<()> {
        let body = async {
            c.query_drop("BEGIN").await?;
            c.query_drop(format!(
                "INSERT INTO {TABLE} (id, client, amount, note) VALUES ({new_id}, {}, {amount}, 'tx')",
                self.index
            ))
            .await?;
            c.exec_drop(
                format!("UPDATE {TABLE} SET amount = ? WHERE id = ?"),
                (amount, old_id),
            )
            .await?;
            Ok::<_, mysql_async::Error>(c.affected_rows())
        }
        .await;
        match body {
            Ok(1) => {}
            Ok(n) => {
                report.wrong_reads.push(format!(
                    "id {old_id}: UPDATE in a transaction matched {n} rows"
                ));
                let _ = c.query_drop("ROLLBACK").await;
                return Ok(());
            }
            Err(e) => {
                let _ = c.query_drop("ROLLBACK").await;
                return Err(e);
            }
        }
        match c.query_drop("COMMIT").await {
            Ok(()) => {
                report.ledger.acknowledged(new_id, amount);
                report.ledger.acknowledged(old_id, amount);
                Ok(())
            }
            Err(e) => {
                report.ledger.uncertain(new_id);
                report.ledger.uncertain(old_id);
                Err(e)
            }
        }
    }
}
