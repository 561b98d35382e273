//! A table's layout taken from another config, as proxies route a table after a migration's
//! cutover.

use shardgate_config::{ConfigError, TableKind, Topology};

fn config(backends: &str, databases: &str, table: &str) -> Topology {
    let yaml = format!(
        "backends:\n{backends}databases:\n{databases}schema:\n  name: shop\n  tables:\n{table}    - name: t_setting\n      kind: single\n      database: main\n"
    );
    Topology::from_yaml(&yaml, "test.yaml").unwrap()
}

const TWO: &str = "  - name: ds0\n    address: 127.0.0.1:3306\n    user: root\n  - name: ds1\n    address: 127.0.0.1:3316\n    user: root\n";
const SINGLE: &str = "    - name: t_order\n      kind: single\n      database: legacy\n";
const SHARDED: &str = "    - name: t_order\n      kind: sharded\n      sharding_column: order_id\n      databases: order_db_{0..3}\n      tables: t_order_{0..1}\n      database_algorithm: {type: mod, modulus: 4}\n      table_algorithm: {type: div_mod, divisor: 4, modulus: 2}\n";

#[test]
fn a_table_takes_the_other_layout_and_keeps_our_backends() {
    let old = config(
        TWO,
        "  - names: legacy\n    backends: [ds0]\n  - names: main\n    backends: [ds1]\n",
        SINGLE,
    );
    // The new config names its backends otherwise, and in another order.
    let backends = "  - name: b\n    address: 127.0.0.1:3316\n    user: root\n  - name: a\n    address: 127.0.0.1:3306\n    user: root\n";
    let new = config(
        backends,
        "  - names: order_db_{0..3}\n    backends: [a, b]\n    placement: modulo\n  - names: main\n    backends: [b]\n",
        SHARDED,
    );
    let merged = old.with_table_from(&new, "t_order").unwrap();
    assert_eq!(merged.backends.len(), 2);
    let (_, table) = merged.table("t_order").unwrap();
    let TableKind::Sharded(layout) = &table.kind else {
        panic!("not sharded")
    };
    let placed: Vec<(String, String)> = layout
        .databases
        .iter()
        .map(|&d| {
            let db = &merged.databases[d];
            (db.name.clone(), merged.backends[db.backend].name.clone())
        })
        .collect();
    // order_db_i on a (ds0) for even i, b (ds1) for odd i, under our names.
    assert_eq!(
        placed,
        vec![
            ("order_db_0".into(), "ds0".into()),
            ("order_db_1".into(), "ds1".into()),
            ("order_db_2".into(), "ds0".into()),
            ("order_db_3".into(), "ds1".into()),
        ]
    );
    // Other tables are untouched.
    let (_, setting) = merged.table("t_setting").unwrap();
    assert!(matches!(setting.kind, TableKind::Single { .. }));
}

#[test]
fn a_backend_the_proxies_do_not_know_is_refused() {
    let one = "  - name: ds0\n    address: 127.0.0.1:3306\n    user: root\n";
    let old = config(
        one,
        "  - names: legacy\n    backends: [ds0]\n  - names: main\n    backends: [ds0]\n",
        SINGLE,
    );
    let new = config(
        TWO,
        "  - names: order_db_{0..3}\n    backends: [ds0, ds1]\n  - names: main\n    backends: [ds0]\n",
        SHARDED,
    );
    let err = old.with_table_from(&new, "t_order").unwrap_err();
    assert!(matches!(err, ConfigError::Layout { .. }));
    assert!(err.to_string().contains("127.0.0.1:3316"), "{err}");
}
