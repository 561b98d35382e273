//! The planner's entry points, fed arbitrary text and generated deep and wide statements:
//! every one answers with a plan or an error, never a panic or a stack overflow.
//! `SG_FUZZ_CASES` sets the cases per property (500 by default; `bench/fuzz.sh` runs more).
//! Each runs on a thread with the proxy's worker stack (16 MiB), as statements do there.

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use shardgate_router::{normalize, split_statements, ShapeCache};

fn runner() -> TestRunner {
    let cases = std::env::var("SG_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs `f` on a thread with the proxy's worker stack.
fn on_worker_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(16 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// SQL-ish text: keywords, names, literals, operators, quotes and comments in any order.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "SELECT",
        "FROM",
        "t_order",
        "t_order_item",
        "WHERE",
        "order_id",
        "user_id",
        "=",
        "IN",
        "(",
        ")",
        ",",
        "?",
        "1",
        "-2",
        "'x'",
        "'it''s'",
        "\"q\"",
        "`order_id`",
        "/*",
        "*/",
        "-- c\n",
        "#c\n",
        "AND",
        "OR",
        "NOT",
        "GROUP BY",
        "ORDER BY",
        "LIMIT",
        "HAVING",
        "COUNT(*)",
        "SUM(",
        "JOIN",
        "ON",
        "UNION",
        "INSERT INTO",
        "VALUES",
        "UPDATE",
        "SET",
        "DELETE",
        "CASE WHEN",
        "THEN",
        "END",
        ";",
        "\\",
        "'",
        "é",
        "😀",
        "\0",
        "mysql.user",
        "shop.",
        "@x",
        ":=",
        "BEGIN",
        "SAVEPOINT",
        "ROLLBACK TO",
        "PREPARE s FROM",
        "EXECUTE",
        "SHOW",
        "information_schema.tables",
        "LOAD_FILE(",
        "FOR UPDATE",
        "DISTINCT",
        "*",
    ]);
    prop::collection::vec(token, 0..40).prop_map(|t| t.join(" "))
}

#[test]
fn arbitrary_text() {
    let router = common::router();
    on_worker_stack(move || {
        // A warm cache across cases: the cached path is exercised too.
        let cache = std::cell::RefCell::new(ShapeCache::default());
        runner()
            .run(&(any::<String>(), token_soup()), |(text, soup)| {
                for sql in [&text, &soup] {
                    let _ = normalize(sql);
                    let _ = split_statements(sql);
                    let _ = shardgate_router::command::decode(sql);
                    let _ = router.route(sql, &mut cache.borrow_mut());
                    let _ = router.prepare(sql);
                }
                Ok(())
            })
            .unwrap();
    });
}

/// A WHERE clause built from `shape`: chains of AND/OR, nested parentheses, NOT, CASE
/// and function calls, each as deep or as long as generated.
fn deep_condition() -> impl Strategy<Value = String> {
    (0u8..6, 1usize..3000).prop_map(|(shape, n)| match shape {
        0 => (0..n)
            .map(|i| format!("order_id = {i}"))
            .collect::<Vec<_>>()
            .join(" OR "),
        1 => format!("{}order_id = 1{}", "(".repeat(n), ")".repeat(n)),
        2 => format!("{}order_id = 1", "NOT ".repeat(n)),
        3 => format!(
            "order_id = {}1{}",
            "ABS(".repeat(n.min(1000)),
            ")".repeat(n.min(1000))
        ),
        4 => format!(
            "order_id = {}1{}",
            "CASE WHEN 1 THEN ".repeat(n.min(1000)),
            " END".repeat(n.min(1000))
        ),
        _ => format!(
            "order_id IN ({})",
            (0..n * 20)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    })
}

#[test]
fn deep_and_wide_statements() {
    let router = common::router();
    on_worker_stack(move || {
        // A warm cache across cases: the cached path is exercised too.
        let cache = std::cell::RefCell::new(ShapeCache::default());
        let mut runner = runner();
        let cases = runner.config().cases.min(100);
        runner = TestRunner::new(Config {
            cases,
            ..runner.config().clone()
        });
        runner
            .run(&deep_condition(), |condition| {
                for sql in [
                    format!("SELECT * FROM t_order WHERE {condition}"),
                    format!("DELETE FROM t_order WHERE {condition}"),
                    format!("SELECT COUNT(*) FROM t_order GROUP BY user_id HAVING {condition}"),
                ] {
                    let _ = router.route(&sql, &mut cache.borrow_mut());
                    let _ = router.prepare(&sql);
                }
                Ok(())
            })
            .unwrap();
    });
}
