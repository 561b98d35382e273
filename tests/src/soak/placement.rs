//! After the soak: every row of every physical table, read on the backends directly, against
//! the clients' ledgers. An acknowledged row must be in exactly the physical table its key
//! routes to, with the acknowledged amount; an uncertain one may be absent, but if present
//! it too must be where its key routes; no other row may exist.

use std::collections::{BTreeMap, HashMap};

use mysql_async::prelude::Queryable;
use shardgate_config::{ShardKey, TableKind, Topology};

use super::ledger::{Expect, Ledger};
use super::TABLE;

#[derive(Debug, Default)]
pub struct PlacementReport {
    pub acknowledged: u64,
    pub uncertain: u64,
    pub found_rows: u64,
    pub missing: u64,
    pub misplaced: u64,
    pub duplicated: u64,
    pub wrong_amount: u64,
    pub unexpected: u64,
    /// A few examples of each problem.
    pub examples: Vec<String>,
}

impl PlacementReport {
    pub fn clean(&self) -> bool {
        self.missing + self.misplaced + self.duplicated + self.wrong_amount + self.unexpected == 0
    }

    fn problem(&mut self, text: String) {
        if self.examples.len() < 20 {
            self.examples.push(text);
        }
    }
}

/// Where a row was found: (database index, table index) in the layout, and its amount.
type Found = HashMap<i64, Vec<(usize, usize, i64)>>;

pub async fn check(topology: &Topology, ledgers: &[&Ledger]) -> anyhow::Result<PlacementReport> {
    let Some((_, table)) = topology.table(TABLE) else {
        anyhow::bail!("the config has no table {TABLE}");
    };
    let TableKind::Sharded(layout) = &table.kind else {
        anyhow::bail!("{TABLE} is not sharded in the config");
    };
    let mut found: Found = HashMap::new();
    let mut report = PlacementReport::default();
    for (d, database) in layout.databases.iter().enumerate() {
        let backend = topology.backend_of(*database);
        let (host, port) = backend.host_and_port();
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(&backend.user))
            .pass(Some(&backend.password));
        let mut conn = mysql_async::Conn::new(opts).await?;
        let db_name = &topology.databases[*database].name;
        for (t, table_name) in layout.tables.iter().enumerate() {
            let rows: Vec<(i64, i64)> = conn
                .query(format!("SELECT id, amount FROM `{db_name}`.`{table_name}`"))
                .await?;
            report.found_rows += rows.len() as u64;
            for (id, amount) in rows {
                found.entry(id).or_default().push((d, t, amount));
            }
        }
        conn.disconnect().await?;
    }
    let mut expected: BTreeMap<i64, Expect> = BTreeMap::new();
    for ledger in ledgers {
        expected.extend(ledger.rows.iter().map(|(k, v)| (*k, *v)));
    }
    for (id, expect) in &expected {
        let key = ShardKey::Int(i128::from(*id));
        let home = (
            layout.database_algorithm.shard_of(key),
            layout.table_algorithm.shard_of(key),
        );
        let places = found.remove(id).unwrap_or_default();
        match expect {
            Expect::Row(_) => report.acknowledged += 1,
            Expect::Unknown => report.uncertain += 1,
        }
        if places.len() > 1 {
            report.duplicated += 1;
            report.problem(format!("id {id} is in {} tables: {places:?}", places.len()));
            continue;
        }
        let Some((d, t, amount)) = places.first().copied() else {
            if let Expect::Row(amount) = expect {
                report.missing += 1;
                report.problem(format!(
                    "id {id} (amount {amount}, acknowledged) is missing"
                ));
            }
            continue;
        };
        if (Some(d), Some(t)) != home {
            report.misplaced += 1;
            report.problem(format!(
                "id {id} is in table ({d}, {t}), its key routes to {home:?}"
            ));
        }
        if let Expect::Row(want) = expect {
            if amount != *want {
                report.wrong_amount += 1;
                report.problem(format!(
                    "id {id} has amount {amount}, {want} was acknowledged"
                ));
            }
        }
    }
    for (id, places) in found {
        report.unexpected += 1;
        report.problem(format!(
            "id {id} was never acknowledged, yet is in {places:?}"
        ));
    }
    Ok(report)
}
