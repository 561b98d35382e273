//! Every validation error names the right YAML path and line.

use shardgate_config::{ConfigError, TableKind, Topology};

const BASE: &str = "\
backends:
  - name: ds0
    address: 127.0.0.1:3306
    user: root
  - name: ds1
    address: 127.0.0.1:3316
    user: root
databases:
  - names: db_{0..3}
    backends: [ds0, ds1]
  - names: main
    backends: [ds0]
schema:
  name: shop
  tables:
    - name: t_order
      kind: sharded
      sharding_column: order_id
      databases: db_{0..3}
      tables: t_order_{0..7}
      database_algorithm: {type: mod, modulus: 4}
      table_algorithm: {type: div_mod, divisor: 4, modulus: 8}
    - name: t_item
      kind: binding
      bind_to: t_order
      sharding_column: order_id
      tables: t_item_{0..7}
    - name: t_currency
      kind: broadcast
    - name: t_setting
      kind: single
      database: main
";

/// BASE with one line-aligned edit, so line numbers in the assertions stay readable.
fn edited(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "test edit `{from}` not found");
    BASE.replacen(from, to, 1)
}

fn error_of(yaml: &str) -> (usize, String) {
    let err = Topology::from_yaml(yaml, "test.yaml").expect_err("config should be refused");
    (err.line().expect("error has a line"), err.to_string())
}

#[test]
fn base_config_is_valid() {
    let t = Topology::from_yaml(BASE, "test.yaml").unwrap();
    assert_eq!(t.backends.len(), 2);
    assert_eq!(t.databases.len(), 5);
    assert_eq!(t.databases[1].backend, 1);
    assert_eq!(t.listen, "127.0.0.1:3307");
    let (_, item) = t.table("T_ITEM").unwrap();
    match &item.kind {
        TableKind::Sharded(layout) => {
            assert_eq!(layout.binding_group, 0);
            assert_eq!(layout.physical_table_count(), 32);
            assert_eq!(layout.tables[7], "t_item_7");
        }
        other => panic!("binding table became {other:?}"),
    }
}

#[test]
fn unknown_key() {
    let (line, msg) = error_of(&edited(
        "      sharding_column: order_id\n      databases",
        "      sharding_colum: order_id\n      databases",
    ));
    assert_eq!(line, 18);
    assert!(msg.contains("unknown field `sharding_colum`"), "{msg}");
    assert!(msg.contains("test.yaml: line 18"), "{msg}");
}

#[test]
fn unknown_top_level_key() {
    let (line, msg) = error_of(&format!("{BASE}listn: 1.2.3.4:5\n"));
    assert_eq!(line, 33);
    assert!(msg.contains("unknown field `listn`"), "{msg}");
}

#[test]
fn database_modulus_differs_from_database_count() {
    let (line, msg) = error_of(&edited(
        "{type: mod, modulus: 4}",
        "{type: mod, modulus: 5}",
    ));
    assert_eq!(line, 21);
    assert!(
        msg.contains("schema.tables[0].database_algorithm.modulus"),
        "{msg}"
    );
    assert!(
        msg.contains("spreads keys over 5 databases, but the table has 4 databases"),
        "{msg}"
    );
}

#[test]
fn table_modulus_differs_from_table_count() {
    let (line, msg) = error_of(&edited("divisor: 4, modulus: 8", "divisor: 4, modulus: 16"));
    assert_eq!(line, 22);
    assert!(
        msg.contains("spreads keys over 16 tables, but the table has 8 tables"),
        "{msg}"
    );
}

#[test]
fn duplicate_backend() {
    let (line, msg) = error_of(&edited("  - name: ds1", "  - name: ds0"));
    assert_eq!(line, 5);
    assert!(
        msg.contains("backends[1].name: duplicate backend `ds0`"),
        "{msg}"
    );
}

#[test]
fn duplicate_table() {
    let (line, msg) = error_of(&edited("    - name: t_currency", "    - name: T_Order"));
    assert_eq!(line, 28);
    assert!(msg.contains("duplicate logical table `T_Order`"), "{msg}");
}

#[test]
fn duplicate_database() {
    let (line, msg) = error_of(&edited("  - names: main", "  - names: db_3"));
    assert_eq!(line, 11);
    assert!(msg.contains("database `db_3` is declared twice"), "{msg}");
}

#[test]
fn database_on_missing_backend() {
    let (line, msg) = error_of(&edited(
        "    backends: [ds0]\n",
        "    backends:\n      - ds9\n",
    ));
    assert_eq!(line, 13);
    assert!(msg.contains("databases[1].backends[0]"), "{msg}");
    assert!(msg.contains("backend `ds9` is not declared"), "{msg}");
}

/// The migration state's backend: the first by default, else the one named, which must exist.
#[test]
fn migration_state_backend() {
    let t = Topology::from_yaml(BASE, "test.yaml").unwrap();
    assert_eq!(t.migration_state, 0);
    let t = Topology::from_yaml(
        &format!("{BASE}migration_state:\n  backend: ds1\n"),
        "test.yaml",
    )
    .unwrap();
    assert_eq!(t.migration_state, 1);
    let yaml = format!("{BASE}migration_state:\n  backend: ds7\n");
    let (line, msg) = error_of(&yaml);
    assert_eq!(line, yaml.lines().count());
    assert!(msg.contains("migration_state.backend"), "{msg}");
    assert!(msg.contains("backend `ds7` is not declared"), "{msg}");
}

#[test]
fn binding_layout_differs() {
    let (line, msg) = error_of(&edited("tables: t_item_{0..7}", "tables: t_item_{0..3}"));
    assert_eq!(line, 27);
    assert!(
        msg.contains("binding table `t_item` has 4 tables per database but `t_order` has 8"),
        "{msg}"
    );

    let yaml = edited(
        "      tables: t_item_{0..7}\n",
        "      tables: t_item_{0..7}\n      database_algorithm: {type: hash_mod, modulus: 4}\n",
    );
    let (line, msg) = error_of(&yaml);
    assert_eq!(line, 28);
    assert!(
        msg.contains("must be sharded exactly like `t_order`, but its database algorithm differ"),
        "{msg}"
    );
}

#[test]
fn binding_to_unknown_table() {
    let (line, msg) = error_of(&edited("bind_to: t_order", "bind_to: t_nothing"));
    assert_eq!(line, 25);
    assert!(msg.contains("`t_nothing` is not a sharded table"), "{msg}");
}

#[test]
fn missing_sharding_column() {
    let (line, msg) = error_of(&edited(
        "      sharding_column: order_id\n      databases",
        "      databases",
    ));
    assert_eq!(line, 16);
    assert!(
        msg.contains("table `t_order` is sharded but has no `sharding_column`"),
        "{msg}"
    );
}

#[test]
fn key_that_does_not_apply() {
    let (line, msg) = error_of(&edited(
        "      kind: broadcast\n",
        "      kind: broadcast\n      sharding_column: id\n",
    ));
    assert_eq!(line, 30);
    assert!(
        msg.contains("`sharding_column` does not apply to broadcast table `t_currency`"),
        "{msg}"
    );
}

#[test]
fn physical_tables_cannot_be_shared() {
    let (line, msg) = error_of(&edited("tables: t_item_{0..7}", "tables: t_order_{0..7}"));
    assert_eq!(line, 23);
    assert!(
        msg.contains("physical table `db_0.t_order_0` belongs to both `t_order` and `t_item`"),
        "{msg}"
    );
}

#[test]
fn bad_pattern_and_address() {
    let (line, msg) = error_of(&edited("names: db_{0..3}", "names: db_{0..x}"));
    assert_eq!(line, 9);
    assert!(msg.contains("`x` is not a number"), "{msg}");
    let (line, msg) = error_of(&edited("address: 127.0.0.1:3316", "address: nowhere"));
    assert_eq!(line, 6);
    assert!(
        msg.contains("`nowhere` is not a `host:port` address"),
        "{msg}"
    );
}

#[test]
fn wrong_type() {
    let (line, msg) = error_of(&edited(
        "{type: mod, modulus: 4}",
        "{type: modulo, modulus: 4}",
    ));
    assert_eq!(line, 21);
    assert!(msg.contains("unknown variant `modulo`"), "{msg}");
}

#[test]
fn missing_file_is_an_io_error() {
    let err = Topology::load("/nonexistent/shardgate.yaml").unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err
        .to_string()
        .contains("/nonexistent/shardgate.yaml: cannot read"));
}

#[test]
fn example_file_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/orders.yaml");
    let t = Topology::load(path).unwrap();
    let (id, _) = t.table("t_order").unwrap();
    assert_eq!(t.physical_table_count(id), 1024);
    assert_eq!(t.databases.len(), 33);
    assert_eq!(
        t.backend_of(t.database_by_name("order_db_18").unwrap())
            .name,
        "ds0"
    );
    assert_eq!(
        t.backend_of(t.database_by_name("order_db_3").unwrap()).name,
        "ds1"
    );
}

#[test]
fn key_generators_are_checked() {
    use shardgate_config::{KeyGeneratorKind, WorkerSource};
    let with = |generators: &str| {
        let mut yaml = edited(
            "      table_algorithm: {type: div_mod, divisor: 4, modulus: 8}\n",
            "      table_algorithm: {type: div_mod, divisor: 4, modulus: 8}\n      key_generator: ids\n",
        );
        yaml.push_str("key_generators:\n");
        yaml.push_str(generators);
        yaml
    };
    let t = Topology::from_yaml(
        &with("  - name: ids\n    type: snowflake\n    worker_lease: {backend: ds1}\n"),
        "test.yaml",
    )
    .unwrap();
    match &t.key_generator("ids").unwrap().kind {
        KeyGeneratorKind::Snowflake {
            time_bits: 41,
            worker_bits: 10,
            sequence_bits: 12,
            worker:
                WorkerSource::Lease {
                    backend: 1,
                    ttl_ms: 10_000,
                    ..
                },
            clock_tolerance_ms: 5,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    let t = Topology::from_yaml(
        &with("  - name: ids\n    type: segment\n    backend: ds0\n    step: 500\n"),
        "test.yaml",
    )
    .unwrap();
    assert!(matches!(
        &t.key_generator("ids").unwrap().kind,
        KeyGeneratorKind::Segment {
            step: 500,
            min_step: 500,
            max_step: 1_000_000,
            ..
        }
    ));
    // Refusals name the path and line.
    let (line, message) = error_of(&with(
        "  - name: ids\n    type: snowflake\n    worker_id: 1\n    step: 10\n",
    ));
    assert_eq!(line, 38, "{message}");
    assert!(
        message.contains("`step` does not apply to a snowflake generator"),
        "{message}"
    );
    let (_, message) = error_of(&with("  - name: ids\n    type: snowflake\n"));
    assert!(
        message.contains("exactly one of `worker_id` and `worker_lease`"),
        "{message}"
    );
    let (_, message) = error_of(&with(
        "  - name: ids\n    type: snowflake\n    worker_id: 1024\n",
    ));
    assert!(message.contains("does not fit 10 worker bits"), "{message}");
    let (_, message) = error_of(&with(
        "  - name: other\n    type: segment\n    backend: ds0\n",
    ));
    assert!(
        message.contains("key generator `ids` is not declared"),
        "{message}"
    );
    let (_, message) = error_of(&with(
        "  - name: ids\n    type: segment\n    backend: ds9\n",
    ));
    assert!(message.contains("backend `ds9`"), "{message}");
}

#[test]
fn stored_password_forms_fit_their_plugin() {
    let with_user = |password: &str, plugin: &str| {
        format!("users:\n  - name: app\n    password: \"{password}\"\n    auth_plugin: {plugin}\n{BASE}")
    };
    // mysql_native_password's stored form is read as such.
    let t = Topology::from_yaml(
        &with_user(
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7",
            "mysql_native_password",
        ),
        "test.yaml",
    )
    .unwrap();
    assert!(t.users[0].native_stored_hash().is_some());
    for (password, plugin, needle) in [
        (
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7",
            "caching_sha2_password",
            "mysql_native_password stored form",
        ),
        (
            "$A$005$abcdefghijklmnopqrst0123456789012345678901234567890123",
            "caching_sha2_password",
            "70 bytes",
        ),
        (
            "$A$005$abcdefghijklmnopqrst0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
            "mysql_native_password",
            "caching_sha2_password stored form for a mysql_native_password account",
        ),
    ] {
        let (line, msg) = error_of(&with_user(password, plugin));
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("users[0].password"), "{msg}");
        assert!(msg.contains(needle), "{msg}");
    }
}

#[test]
fn operator_settings() {
    let t = Topology::from_yaml(BASE, "test.yaml").unwrap();
    assert_eq!(t.admin.metrics_listen, None);
    assert_eq!(t.log.level, "warn");
    assert_eq!(t.log.slow_query, None);
    let t = Topology::from_yaml(
        &format!(
            "{BASE}admin:\n  metrics_listen: 127.0.0.1:9104\nlog:\n  level: INFO\n  format: json\n  slow_query_ms: 500\n"
        ),
        "test.yaml",
    )
    .unwrap();
    assert_eq!(
        t.admin.metrics_listen,
        Some("127.0.0.1:9104".parse().unwrap())
    );
    assert_eq!(t.log.level, "info");
    assert_eq!(t.log.format, shardgate_config::LogFormat::Json);
    assert_eq!(
        t.log.slow_query,
        Some(std::time::Duration::from_millis(500))
    );
    let yaml = format!("{BASE}admin:\n  metrics_listen: localhost\n");
    let (_, msg) = error_of(&yaml);
    assert!(msg.contains("admin.metrics_listen"), "{msg}");
    let yaml = format!("{BASE}log:\n  level: loud\n");
    let (_, msg) = error_of(&yaml);
    assert!(msg.contains("log.level") && msg.contains("loud"), "{msg}");
    let yaml = format!("{BASE}users:\n  - name: ops\n    password: x\n    role: root\n");
    let err = Topology::from_yaml(&yaml, "test.yaml").expect_err("an unknown role");
    assert!(err.to_string().contains("role"), "{err}");
}
