//! The `shardgate` binary's offline commands, run as a user would.

use std::process::{Command, Output};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/orders.yaml");

fn shardgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .args(args)
        .output()
        .expect("run shardgate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn route_prints_one_line_per_statement_then_the_merge() {
    let out = shardgate(&[
        "route",
        "--config",
        EXAMPLE,
        "SELECT * FROM t_order WHERE order_id = 4242",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "ds0\torder_db_18\tSELECT * FROM order_db_18.t_order_4 WHERE order_id = 4242\n\
         route: direct, 1 statement(s); step: route (single target, passthrough)\n"
    );

    let out = shardgate(&[
        "route",
        "-c",
        EXAMPLE,
        "SELECT user_id FROM t_order ORDER BY user_id LIMIT 5",
    ]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1025);
    assert!(stdout.contains(
        "ds1\torder_db_31\tSELECT user_id FROM order_db_31.t_order_31 ORDER BY user_id LIMIT 5\n"
    ));
    assert!(
        stdout.ends_with(
            "route: scatter, 1024 statement(s); step: scatter as 3 statement(s); merge: merge-sort by user_id -> limit 5 offset 0\n"
        ),
        "{stdout}"
    );
}

#[test]
fn route_refuses_what_it_cannot_route() {
    let out = shardgate(&["route", "--config", EXAMPLE, "SELEKT 1"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("router: cannot parse this statement"),
        "{}",
        text(&out.stderr)
    );

    let out = shardgate(&[
        "route",
        "--config",
        EXAMPLE,
        "SELECT * FROM t_order o JOIN t_order_item i ON o.user_id = i.order_id",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not on the sharding key"));
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_config_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let edited = "modulus: 32               # must equal the number of databases";
    let line = example
        .lines()
        .position(|l| l.contains(edited))
        .expect("the example's database modulus")
        + 1;
    let yaml = example.replace(edited, "modulus: 16");
    std::fs::write(&path, yaml).unwrap();
    let out = shardgate(&["check-config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "line {line}: schema.tables[0].database_algorithm.modulus"
        )),
        "{stderr}"
    );
    let out = shardgate(&["route", "--config", path.to_str().unwrap(), "SELECT 1"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("spreads keys over 16 databases"));
}

#[test]
fn check_config_summarizes() {
    let out = shardgate(&["check-config", EXAMPLE]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "backends: 2",
        "migration state: shardgate_meta on ds0",
        "databases: 33",
        "schema: shop (4 logical tables)",
        "  t_order sharded by order_id: 1024 physical tables",
        "  t_order_item binding to t_order: 1024 physical tables",
        "physical tables: 2082",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in\n{stdout}");
    }
}

#[test]
fn idgen_decode_takes_an_id_apart() {
    let layout = shardgate_idgen::Layout::default();
    // 2024-01-01T00:00:01.000Z, worker 5, sequence 70: 70 % 32 = 6, 70 / 32 % 32 = 2.
    let id = layout.compose(1000, 5, 70);
    let out = shardgate(&["idgen", "decode", &id.to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "time      2024-01-01T00:00:01.000Z (1704067201000 ms since 1970)",
        "worker    5",
        "sequence  70",
        "database  6 (id % 32)",
        "table     2 (id / 32 % 32)",
    ] {
        assert!(stdout.contains(line), "{line} not in:\n{stdout}");
    }
    let out = shardgate(&["idgen", "decode", "-5"]);
    assert!(!out.status.success());
}

#[test]
fn idgen_bench_reports_rate_uniqueness_and_spread() {
    for generator in ["snowflake", "segment"] {
        let out = shardgate(&[
            "idgen",
            "bench",
            "--generator",
            generator,
            "--threads",
            "2",
            "--ids",
            "204800",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("unique: 204800 of 204800"), "{stdout}");
        assert!(stdout.contains("0 empty"), "{stdout}");
        assert!(stdout.contains("consistent with uniform"), "{stdout}");
    }
}

#[test]
fn route_shows_the_ids_rows_without_a_key_would_get_and_the_two_phases_of_a_derived_table() {
    let out = shardgate(&[
        "route",
        "--config",
        EXAMPLE,
        "INSERT INTO t_order (user_id) VALUES (1), (2)",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let generate = stdout
        .lines()
        .find(|l| l.starts_with("generate: 2 id(s) for `order_id` from `order_id_gen`: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    // Each id is in the statement of the table it routes to.
    for id in generate.rsplit(": ").next().unwrap_or_default().split(", ") {
        assert!(stdout.contains(&format!(", {id})")), "{stdout}");
    }

    let out = shardgate(&[
        "route",
        "--config",
        EXAMPLE,
        "SELECT o.order_id, i.item_id FROM (SELECT order_id FROM t_order ORDER BY order_id LIMIT 10) o LEFT JOIN t_order_item i ON i.order_id = o.order_id",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("subquery in two phases: first `SELECT order_id FROM t_order ORDER BY order_id LIMIT 10` over every shard"),
        "{}",
        text(&out.stdout)
    );
}
