//! Running `shardgate migrate` from tests, as an operator would: config files, in-process CLI
//! runs, and the comparison of a layout with what the writers expect.

use clap::Parser;
use mysql_async::prelude::Queryable;
use shardgate_proxy::cli::{run, Cli};

use crate::writers::{compare, initial_insert, Expected, OrderRow, T_ORDER};
use crate::Cluster;

/// Runs `shardgate ARGS` on this thread (the CLI makes its own runtime, so call it off the
/// test's: in `spawn_blocking`, or through [`shardgate`]).
pub fn run_cli(args: &[String]) -> anyhow::Result<()> {
    let mut all = vec!["shardgate".to_string()];
    all.extend_from_slice(args);
    run(Cli::try_parse_from(all)?)
}

/// Runs `shardgate ARGS` from a test on the multi-thread runtime.
pub fn shardgate(args: &[&str]) -> anyhow::Result<()> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::block_in_place(|| run_cli(&args))
}

/// The `backends:` section of a config for the cluster's servers (root, no password).
pub fn backends_yaml(cluster: &Cluster) -> String {
    let backends: String = cluster
        .topology
        .backends
        .iter()
        .map(|b| {
            format!(
                "  - name: {}\n    address: {}\n    user: root\n    password: \"\"\n",
                b.name, b.address
            )
        })
        .collect();
    format!("backends:\n{backends}")
}

/// A migration of `t_order` between two configs, written to files as an operator has them.
pub struct Migration {
    _dir: tempfile::TempDir,
    pub from: String,
    pub to: String,
}

impl Migration {
    pub fn new(from_yaml: &str, to_yaml: &str) -> Migration {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (from, to) = (dir.path().join("old.yaml"), dir.path().join("new.yaml"));
        std::fs::write(&from, from_yaml).expect("write old.yaml");
        std::fs::write(&to, to_yaml).expect("write new.yaml");
        Migration {
            from: from.to_string_lossy().into_owned(),
            to: to.to_string_lossy().into_owned(),
            _dir: dir,
        }
    }

    /// `migrate NAME --from .. --to .. --table t_order`.
    pub fn args(&self, name: &str) -> Vec<String> {
        [
            "migrate", name, "--from", &self.from, "--to", &self.to, "--table", "t_order",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    pub fn step(&self, name: &str) -> anyhow::Result<()> {
        let args = self.args(name);
        tokio::task::block_in_place(|| run_cli(&args))
    }

    /// Check, repairing between tries (a row deleted while the backfill copied it shows up
    /// as extra), until it comes out clean; false if it never does.
    pub fn check_until_clean(&self) -> bool {
        for _ in 0..4 {
            if self.step("check").is_ok() {
                return true;
            }
            if self.step("repair").is_err() {
                return false;
            }
        }
        false
    }
}

/// `legacy.t_order` on the cluster's first server, with keys `1..=rows`.
pub async fn create_legacy(cluster: &Cluster, rows: i64) {
    let mut legacy = cluster.backend(0).await;
    legacy
        .query_drop(format!(
            "CREATE DATABASE legacy; CREATE TABLE legacy.t_order {T_ORDER}"
        ))
        .await
        .expect("create legacy.t_order");
    let keys: Vec<i64> = (1..=rows).collect();
    for chunk in keys.chunks(5000) {
        legacy
            .query_drop(initial_insert("legacy.t_order", chunk.iter().copied()))
            .await
            .expect("load legacy.t_order");
    }
}

/// The physical tables of `orders_target_yaml`'s layout, with the server each is on:
/// `order_db_{0..31}.t_order_{0..31}`, even databases on the first server.
pub fn orders_target_tables() -> Vec<(usize, String)> {
    (0..32)
        .flat_map(|db| (0..32).map(move |t| (db % 2, format!("order_db_{db}.t_order_{t}"))))
        .collect()
}

/// Fails the test, naming a few keys, unless `layout` is exactly what the writers expect.
pub fn assert_layout_matches(
    layout: &std::collections::HashMap<i64, OrderRow>,
    initial: i64,
    expected: &Expected,
    what: &str,
) {
    let (lost, extra, different) = compare(layout, initial, expected);
    assert_eq!(
        (lost.len(), extra.len(), different.len()),
        (0, 0, 0),
        "{what}: lost {:?}, extra {:?}, different {:?}",
        &lost[..lost.len().min(10)],
        &extra[..extra.len().min(10)],
        &different[..different.len().min(10)]
    );
}
