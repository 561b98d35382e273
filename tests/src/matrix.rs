//! The client matrix's fixture: shardgate over the orders layout, and one plain MariaDB server
//! with the same logical tables and rows, so that a client program's output through the
//! proxy can be compared with its output against the server it pretends to be.

use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};

use mysql_async::prelude::Queryable;
use shardgate_proxy::sandbox::MariaDb;

use crate::{Cluster, PASSWORD, USER};

/// Where a client program connects.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
}

/// shardgate and the plain server it is compared with.
pub struct Matrix {
    pub cluster: Cluster,
    pub reference: MariaDb,
}

/// The statements of examples/orders.sql, comments dropped.
pub fn orders_sql() -> Vec<String> {
    let sql = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/orders.sql"
    ))
    .expect("orders.sql");
    sql.split(";\n")
        .map(|chunk| {
            chunk
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty())
        .collect()
}

impl Matrix {
    /// Starts both, with examples/orders.sql loaded into each: through the proxy, and
    /// directly into database `shop` on the plain server, whose `t_order.order_id` is
    /// AUTO_INCREMENT where shardgate has a key generator.
    pub async fn start() -> Matrix {
        let (cluster, reference) = tokio::join!(Cluster::start(), async {
            tokio::task::spawn_blocking(MariaDb::start)
                .await
                .expect("start thread")
                .expect("start the reference server")
        });
        let mut proxy = cluster.client().await;
        let mut plain = mysql_async::Conn::from_url(reference.url())
            .await
            .expect("connect to the reference server");
        plain
            .query_drop(format!(
                "CREATE DATABASE shop; CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; \
                 GRANT ALL ON shop.* TO '{USER}'@'127.0.0.1'; USE shop"
            ))
            .await
            .expect("reference database");
        for statement in orders_sql() {
            proxy
                .query_drop(&statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
            let plain_statement = statement.replace(
                "order_id BIGINT NOT NULL PRIMARY KEY",
                "order_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
            );
            plain
                .query_drop(&plain_statement)
                .await
                .unwrap_or_else(|e| panic!("{plain_statement}: {e}"));
        }
        proxy.disconnect().await.expect("disconnect");
        plain.disconnect().await.expect("disconnect");
        Matrix { cluster, reference }
    }

    pub fn proxy(&self) -> Target {
        Target {
            host: self.cluster.proxy.ip().to_string(),
            port: self.cluster.proxy.port(),
            user: USER.into(),
            password: PASSWORD.into(),
            database: "shop".into(),
        }
    }

    pub fn plain(&self) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: self.reference.port(),
            user: USER.into(),
            password: PASSWORD.into(),
            database: "shop".into(),
        }
    }

    /// Runs the client `program` (with `args` first) against both, and requires the same
    /// output, ending in `done`. The output through shardgate.
    pub fn same_answers(&self, program: &str, args: &[&str]) -> String {
        // The same tag on both: the rows a program writes are compared too.
        let tag = next_tag();
        let proxy = run_client(program, args, &self.proxy(), tag);
        let plain = run_client(program, args, &self.plain(), tag);
        let described = format!("{program} {}", args.join(" "));
        assert!(
            plain.trim_end().ends_with("done"),
            "{described} against plain MariaDB did not finish:\n{plain}"
        );
        if proxy != plain {
            let diff: Vec<String> = diff_lines(&plain, &proxy);
            panic!(
                "{described}: shardgate answered differently from plain MariaDB\n{}\n\
                 --- plain MariaDB ---\n{plain}\n--- shardgate ---\n{proxy}",
                diff.join("\n")
            );
        }
        proxy
    }
}

/// The lines that differ, as `-plain` / `+proxy` pairs.
fn diff_lines(plain: &str, proxy: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (plain.lines().collect(), proxy.lines().collect());
    let mut out = Vec::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        if x != y {
            out.push(format!("line {}: -{}", i + 1, x.unwrap_or("")));
            out.push(format!("line {}: +{}", i + 1, y.unwrap_or("")));
        }
    }
    out
}

/// A `user_id` no other run uses.
fn next_tag() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    900_000 + i64::from(std::process::id() % 1000) * 1000 + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs `program args... HOST PORT USER PASSWORD DATABASE TAG`; its standard output, with its
/// standard error after a marker when it failed.
pub fn run_client(program: &str, args: &[&str], target: &Target, tag: i64) -> String {
    let output = Command::new(program)
        .args(args)
        .args([
            target.host.clone(),
            target.port.to_string(),
            target.user.clone(),
            target.password.clone(),
            target.database.clone(),
            tag.to_string(),
        ])
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        text.push_str(&format!(
            "\n[exit {:?}]\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    text
}

/// The path of a program in tests/clients/.
pub fn client_path(name: &str) -> String {
    format!("{}/clients/{name}", env!("CARGO_MANIFEST_DIR"))
}
