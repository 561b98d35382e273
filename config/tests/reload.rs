//! Which changes a running proxy can take on a reload, and which take a restart.

use shardgate_config::Topology;

fn example() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/orders.yaml"
    ))
    .unwrap()
}

fn load(yaml: &str) -> Topology {
    Topology::from_yaml(yaml, "reload.yaml").unwrap()
}

#[test]
fn rules_pools_and_users_reload_in_place() {
    let running = load(&example());
    let mut yaml = example()
        .replace("max_connections: 64", "max_connections: 8")
        .replace("password: ops", "password: ops2");
    yaml = yaml.replace(
        "migration_state:",
        "    - name: t_audit\n      kind: single\n      database: shop_main\nmigration_state:",
    );
    let next = load(&yaml);
    assert!(next.table("t_audit").is_some());
    assert_eq!(running.restart_only_changes(&next), Vec::<&str>::new());
    assert_ne!(
        running.generation, next.generation,
        "every load is a new generation"
    );
}

#[test]
fn start_time_settings_are_named() {
    let running = load(&example());
    let mut yaml = example().replace("listen: 127.0.0.1:3307", "listen: 127.0.0.1:3308");
    yaml = yaml.replace("ttl_ms: 10000", "ttl_ms: 20000");
    yaml.push_str("log:\n  level: debug\nproxy:\n  worker_threads: 3\n");
    let next = load(&yaml);
    assert_eq!(
        running.restart_only_changes(&next),
        vec![
            "listen",
            "proxy.worker_threads",
            "log.level",
            "key_generators"
        ]
    );
}

#[test]
fn slow_query_log_settings_reload_in_place() {
    let running = load(&example());
    let mut yaml = example();
    yaml.push_str("log:\n  slow_query_ms: 5\n");
    assert!(running.restart_only_changes(&load(&yaml)).is_empty());
}
