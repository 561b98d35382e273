//! Routes of reads and writes on sharded tables by their sharding values, asserting the
//! exact physical SQL.

mod common;

use common::{one, route, route_err, router, statements};
use shardgate_router::{
    AffectedRows, ParamValue, Params, RouteKind, RouterError, ShapeCache, Step,
};

#[test]
fn point_select() {
    let plan = route("SELECT * FROM t_order WHERE order_id = 4242");
    assert_eq!(plan.route, RouteKind::Direct);
    assert_eq!(
        statements(&plan),
        vec![(
            "order_db_18".into(),
            "SELECT * FROM order_db_18.t_order_4 WHERE order_id = 4242".into()
        )]
    );
    let ds0 = router()
        .topology()
        .backends
        .iter()
        .position(|b| b.name == "ds0")
        .unwrap();
    assert_eq!(plan.statements()[0].backend, ds0);
}

#[test]
fn key_on_either_side_and_quoted() {
    assert_eq!(
        one("select * from `t_order` where 4242 = `order_id`").1,
        "select * from order_db_18.t_order_4 where 4242 = `order_id`"
    );
    assert_eq!(
        one("SELECT * FROM t_order WHERE order_id = '4242'").1,
        "SELECT * FROM order_db_18.t_order_4 WHERE order_id = '4242'"
    );
}

#[test]
fn negative_key_routes_by_euclidean_remainder() {
    assert_eq!(
        one("SELECT * FROM t_order WHERE order_id = -1").1,
        "SELECT * FROM order_db_31.t_order_31 WHERE order_id = -1"
    );
}

#[test]
fn comments_hints_and_formatting_survive() {
    let sql = "/* app=checkout */ SELECT /*+ MAX_EXECUTION_TIME(1000) */ t_order.order_id,\n  shop.t_order.user_id\nFROM shop.t_order   WHERE t_order.order_id = 4242 -- tail";
    assert_eq!(
        one(sql).1,
        "/* app=checkout */ SELECT /*+ MAX_EXECUTION_TIME(1000) */ order_db_18.t_order_4.order_id,\n  order_db_18.t_order_4.user_id\nFROM order_db_18.t_order_4   WHERE order_db_18.t_order_4.order_id = 4242 -- tail"
    );
}

#[test]
fn aliases_stay() {
    assert_eq!(
        one("SELECT o.order_id, o.* FROM t_order AS o WHERE o.order_id = 4242").1,
        "SELECT o.order_id, o.* FROM order_db_18.t_order_4 AS o WHERE o.order_id = 4242"
    );
    assert_eq!(
        one("SELECT t_order.* FROM t_order WHERE order_id = 4242").1,
        "SELECT order_db_18.t_order_4.* FROM order_db_18.t_order_4 WHERE order_id = 4242"
    );
}

#[test]
fn in_list_routes_to_each_key() {
    let plan = route("SELECT * FROM t_order WHERE order_id IN (1, 33, 2, 1025)");
    // 1 and 1025 share order_db_1.t_order_0.
    assert_eq!(
        statements(&plan),
        vec![
            (
                "order_db_1".into(),
                "SELECT * FROM order_db_1.t_order_0 WHERE order_id IN (1, 33, 2, 1025)".into()
            ),
            (
                "order_db_1".into(),
                "SELECT * FROM order_db_1.t_order_1 WHERE order_id IN (1, 33, 2, 1025)".into()
            ),
            (
                "order_db_2".into(),
                "SELECT * FROM order_db_2.t_order_0 WHERE order_id IN (1, 33, 2, 1025)".into()
            ),
        ]
    );
    assert_eq!(plan.route, RouteKind::Direct);
    assert!(plan.select_merge().is_some_and(|m| m.order_by.is_empty()));
}

#[test]
fn narrow_ranges_prune_wide_ranges_scatter() {
    let plan = route("SELECT * FROM t_order WHERE order_id BETWEEN 30 AND 33");
    let tables: Vec<String> = statements(&plan)
        .into_iter()
        .map(|(_, sql)| sql.split_whitespace().nth(3).unwrap().to_string())
        .collect();
    assert_eq!(
        tables,
        vec![
            "order_db_0.t_order_1",
            "order_db_1.t_order_1",
            "order_db_30.t_order_0",
            "order_db_31.t_order_0"
        ]
    );
    let plan = route("SELECT * FROM t_order WHERE order_id >= 100 AND order_id < 102");
    assert_eq!(plan.statements().len(), 2);
    let plan = route("SELECT * FROM t_order WHERE order_id > 5");
    assert_eq!(plan.route, RouteKind::Scatter);
    assert_eq!(plan.statements().len(), 1024);
    let plan = route("SELECT * FROM t_order WHERE order_id BETWEEN 0 AND 2000");
    assert_eq!(plan.statements().len(), 1024);
}

/// A string bound compares by collation on a string column ('105' lies between '1000' and
/// '1099'), so only integer bounds prune.
#[test]
fn string_bounds_do_not_prune() {
    for sql in [
        "SELECT * FROM t_order WHERE order_id BETWEEN '1000' AND '1099'",
        "SELECT * FROM t_order WHERE order_id >= '1000' AND order_id < 1100",
        "SELECT * FROM t_order WHERE order_id < '3'",
    ] {
        assert_eq!(route(sql).statements().len(), 1024, "{sql}");
    }
    // An integer bound beside a string one still prunes on its side, and equality by a
    // string still routes: '0037' equals only the text '0037' on a string column, and 37
    // on a number column, both of which live where 37 does.
    assert_eq!(
        route("SELECT * FROM t_order WHERE order_id = '0037'")
            .statements()
            .len(),
        1
    );
}

#[test]
fn and_or_combine() {
    assert_eq!(
        route("SELECT * FROM t_order WHERE order_id = 1 OR order_id = 2")
            .statements()
            .len(),
        2
    );
    assert_eq!(
        route("SELECT * FROM t_order WHERE (order_id = 1 OR order_id = 2) AND order_id = 2")
            .statements()
            .len(),
        1
    );
    assert_eq!(
        route("SELECT * FROM t_order WHERE order_id = 1 AND status = 'x'")
            .statements()
            .len(),
        1
    );
    // An OR with a non-key predicate says nothing about the key.
    assert_eq!(
        route("SELECT * FROM t_order WHERE order_id = 1 OR status = 'x'")
            .statements()
            .len(),
        1024
    );
    // NOT, functions and other columns do not prune.
    assert_eq!(
        route("SELECT * FROM t_order WHERE NOT order_id = 1")
            .statements()
            .len(),
        1024
    );
    assert_eq!(
        route("SELECT * FROM t_order WHERE order_id = ABS(-5)")
            .statements()
            .len(),
        1024
    );
    // Nothing matches: one table answers with an empty result.
    assert_eq!(
        route("SELECT * FROM t_order WHERE order_id = 1 AND order_id = 2")
            .statements()
            .len(),
        1
    );
    assert_eq!(
        route("SELECT * FROM t_order WHERE order_id = NULL")
            .statements()
            .len(),
        1
    );
}

#[test]
fn non_integer_keys_scatter_rather_than_guess() {
    assert_eq!(
        route("SELECT * FROM t_order WHERE order_id = 4242.5")
            .statements()
            .len(),
        1024
    );
    assert_eq!(
        route("SELECT * FROM t_order WHERE order_id = '4242abc'")
            .statements()
            .len(),
        1024
    );
    assert_eq!(
        one("SELECT * FROM t_order WHERE order_id = 4242.00").0,
        "order_db_18"
    );
}

#[test]
fn multi_row_insert_splits_in_row_order() {
    let plan = route(
        "INSERT INTO t_order (order_id, user_id) VALUES (1, 10), (33, 11), (1025, 12), (2, 13)",
    );
    assert_eq!(
        statements(&plan),
        vec![
            (
                "order_db_1".into(),
                "INSERT INTO order_db_1.t_order_0 (order_id, user_id) VALUES (1, 10), (1025, 12)"
                    .into()
            ),
            (
                "order_db_1".into(),
                "INSERT INTO order_db_1.t_order_1 (order_id, user_id) VALUES (33, 11)".into()
            ),
            (
                "order_db_2".into(),
                "INSERT INTO order_db_2.t_order_0 (order_id, user_id) VALUES (2, 13)".into()
            ),
        ]
    );
    assert!(matches!(plan.step, Step::SendToAll(ref s) if s.affected == AffectedRows::Sum));
}

#[test]
fn insert_forms() {
    assert_eq!(
        one("INSERT INTO t_order SET order_id = 4242, user_id = 1").1,
        "INSERT INTO order_db_18.t_order_4 SET order_id = 4242, user_id = 1"
    );
    assert_eq!(
        one("REPLACE INTO t_order (user_id, order_id) VALUES (1, 4242)").1,
        "REPLACE INTO order_db_18.t_order_4 (user_id, order_id) VALUES (1, 4242)"
    );
    assert_eq!(
        one("INSERT IGNORE INTO shop.t_order (order_id, note) VALUES (4242, 'a,(b)')").1,
        "INSERT IGNORE INTO order_db_18.t_order_4 (order_id, note) VALUES (4242, 'a,(b)')"
    );
}

#[test]
fn on_duplicate_key_update_routes_by_row_key() {
    let plan = route(
        "INSERT INTO t_order (order_id, status) VALUES (4242, 'a'), (1, 'b') ON DUPLICATE KEY UPDATE status = VALUES(status), order_id = VALUES(order_id)",
    );
    assert_eq!(
        statements(&plan),
        vec![
            ("order_db_1".into(), "INSERT INTO order_db_1.t_order_0 (order_id, status) VALUES (1, 'b') ON DUPLICATE KEY UPDATE status = VALUES(status), order_id = VALUES(order_id)".into()),
            ("order_db_18".into(), "INSERT INTO order_db_18.t_order_4 (order_id, status) VALUES (4242, 'a') ON DUPLICATE KEY UPDATE status = VALUES(status), order_id = VALUES(order_id)".into()),
        ]
    );
    let err = route_err("INSERT INTO t_order (order_id, status) VALUES (4242, 'a') ON DUPLICATE KEY UPDATE order_id = 5");
    assert!(matches!(err, RouterError::ShardKeyUpdate(_)), "{err}");
}

#[test]
fn insert_without_routable_key_is_refused() {
    // t_order has a key generator; without one running, a missing key is refused.
    let err = route_err("INSERT INTO t_order (user_id) VALUES (1)");
    assert_eq!(
        err.to_string(),
        "router: key generator `order_id_gen`: no id generator runs here"
    );
    let err = route_err("INSERT INTO t_order VALUES (1, 2)");
    assert!(err.to_string().contains("must list its columns"), "{err}");
    // A binding table has no generator: its key must be given.
    let err = route_err("INSERT INTO t_order_item (order_id, sku) VALUES (1, 'a'), (NULL, 'b')");
    assert_eq!(
        err.to_string(),
        "router: row 2 of the INSERT into `t_order_item`: sharding column `order_id` is NULL"
    );
    let err = route_err("INSERT INTO t_order_item (sku) VALUES ('a')");
    assert_eq!(
        err.to_string(),
        "router: INSERT into `t_order_item` does not give its sharding column `order_id`"
    );
    let err = route_err("INSERT INTO t_order (order_id) VALUES (1.5)");
    assert!(err.to_string().contains("row 1"), "{err}");
    let err = route_err("INSERT INTO t_order (order_id) SELECT order_id FROM t_order_item");
    assert!(matches!(err, RouterError::Unsafe(_)), "{err}");
}

#[test]
fn update_and_delete() {
    assert_eq!(
        one("UPDATE t_order SET status = 'paid' WHERE order_id = 4242").1,
        "UPDATE order_db_18.t_order_4 SET status = 'paid' WHERE order_id = 4242"
    );
    assert_eq!(
        one("UPDATE t_order SET t_order.status = 'paid' WHERE t_order.order_id = 4242").1,
        "UPDATE order_db_18.t_order_4 SET order_db_18.t_order_4.status = 'paid' WHERE order_db_18.t_order_4.order_id = 4242"
    );
    assert_eq!(
        one("DELETE FROM t_order WHERE order_id = 4242").1,
        "DELETE FROM order_db_18.t_order_4 WHERE order_id = 4242"
    );
    let plan = route("UPDATE t_order SET status = 'x' WHERE user_id = 5");
    assert_eq!(plan.route, RouteKind::Scatter);
    assert_eq!(plan.statements().len(), 1024);
    assert!(matches!(plan.step, Step::SendToAll(ref s) if s.affected == AffectedRows::Sum));
    assert_eq!(
        statements(&plan)[1023].1,
        "UPDATE order_db_31.t_order_31 SET status = 'x' WHERE user_id = 5"
    );
}

#[test]
fn updating_the_sharding_key() {
    let err = route_err("UPDATE t_order SET order_id = 5 WHERE order_id = 4242");
    assert!(matches!(err, RouterError::ShardKeyUpdate(_)));
    assert!(
        err.to_string()
            .contains("changing sharding column `order_id` of `t_order` would move rows"),
        "{err}"
    );
    // Same physical table: 4242 + 1024 * 32 lands on order_db_18.t_order_4 too.
    let same = 4242 + 1024 * 32;
    assert_eq!(
        one(&format!(
            "UPDATE t_order SET order_id = {same} WHERE order_id = 4242"
        ))
        .0,
        "order_db_18"
    );
    assert!(matches!(
        route_err("UPDATE t_order SET order_id = order_id + 1 WHERE order_id = 4242"),
        RouterError::ShardKeyUpdate(_)
    ));
    assert!(matches!(
        route_err("UPDATE t_order SET order_id = 5 WHERE user_id = 1"),
        RouterError::ShardKeyUpdate(_)
    ));
    // `SET order_id = order_id` changes nothing.
    assert_eq!(
        route("UPDATE t_order SET order_id = order_id, note = 'x' WHERE order_id = 1")
            .statements()
            .len(),
        1
    );
}

#[test]
fn write_limit_over_several_tables_is_refused() {
    assert_eq!(
        route("DELETE FROM t_order WHERE order_id = 7 LIMIT 1")
            .statements()
            .len(),
        1
    );
    let err = route_err("DELETE FROM t_order WHERE status = 'x' LIMIT 10");
    assert!(err.to_string().contains("LIMIT"), "{err}");
}

/// Hands out 1000, 1001, ... and records what it was asked for.
#[derive(Default)]
struct CountingKeys {
    next: i64,
    asked: Vec<(String, usize)>,
}

impl shardgate_router::KeySource for CountingKeys {
    fn next_ids(
        &mut self,
        generator: &str,
        count: usize,
    ) -> Result<Vec<i64>, shardgate_router::KeyError> {
        self.asked.push((generator.to_string(), count));
        let first = 1000 + self.next;
        self.next += count as i64;
        Ok((first..first + count as i64).collect())
    }
}

#[test]
fn missing_null_and_zero_keys_are_generated() {
    let r = router();
    let mut keys = CountingKeys::default();
    // Missing: the column and one id per row are added; rows split by their new keys.
    let plan = r
        .route_with_keys(
            "INSERT INTO t_order (user_id, status) VALUES (7, 'a'), (8, 'b')",
            &mut ShapeCache::default(),
            &mut keys,
        )
        .unwrap();
    assert_eq!(plan.generated_keys(), [1000, 1001]);
    assert_eq!(keys.asked, vec![("order_id_gen".to_string(), 2)]);
    let generate = plan.generate.as_ref().unwrap();
    assert_eq!(
        (generate.generator.as_str(), generate.column.as_str()),
        ("order_id_gen", "order_id")
    );
    assert!(
        plan.explain(r.topology())
            .to_string()
            .contains("generate: 2 id(s) for `order_id` from `order_id_gen`: 1000, 1001\n"),
        "{}",
        plan.explain(r.topology())
    );
    assert_eq!(
        statements(&plan),
        vec![
            ("order_db_8".into(), "INSERT INTO order_db_8.t_order_31 (user_id, status, order_id) VALUES (7, 'a', 1000)".into()),
            ("order_db_9".into(), "INSERT INTO order_db_9.t_order_31 (user_id, status, order_id) VALUES (8, 'b', 1001)".into()),
        ]
    );
    // NULL and 0 are generated, given keys kept; the same shape through the cache.
    let mut cache = ShapeCache::default();
    for _ in 0..2 {
        let plan = r
            .route_with_keys(
                "INSERT INTO t_order (order_id, user_id) VALUES (NULL, 1), (4242, 2), (0, 3)",
                &mut cache,
                &mut keys,
            )
            .unwrap();
        assert_eq!(plan.generated_keys().len(), 2);
        let sqls: Vec<String> = statements(&plan).into_iter().map(|(_, s)| s).collect();
        assert!(
            sqls.iter().any(|s| s.ends_with("VALUES (4242, 2)")),
            "{sqls:?}"
        );
        for id in plan.generated_keys() {
            assert!(
                sqls.iter().any(|s| s.contains(&format!("VALUES ({id}, "))),
                "{sqls:?}"
            );
        }
    }
    // Prepared: a NULL parameter is replaced by the id, and leaves the parameter list.
    let template = r
        .prepare("INSERT INTO t_order (order_id, user_id) VALUES (?, ?)")
        .unwrap();
    let plan = template
        .bind_with_keys(
            r.topology(),
            Params::Prepared(&[ParamValue::Null, ParamValue::Int(5)]),
            &mut keys,
        )
        .unwrap();
    assert_eq!(plan.statements().len(), 1);
    let id = plan.generated_keys()[0];
    assert!(
        plan.statements()[0]
            .sql
            .ends_with(&format!("VALUES ({id}, ?)")),
        "{}",
        plan.statements()[0].sql
    );
    assert_eq!(plan.statements()[0].params, vec![1]);
    // Prepared without the key column: the statement a backend describes at PREPARE has a
    // value for every column (a stand-in for the key), and the same parameters.
    let template = r
        .prepare("INSERT INTO t_order (user_id, status) VALUES (?, 'new')")
        .unwrap();
    let described = template.representative(r.topology()).unwrap();
    assert_eq!(
        described.sql,
        "INSERT INTO order_db_0.t_order_0 (user_id, status, order_id) VALUES (?, 'new', 0)"
    );
    assert_eq!(described.params, vec![0]);
}

/// A sort key the shards must also return keeps naming the physical table when the client
/// qualified it with the logical one (MariaDB answered 1054 to `t_order.order_id`).
#[test]
fn hidden_sort_keys_name_physical_tables() {
    let plan = route("SELECT amount FROM t_order WHERE user_id = 8 ORDER BY t_order.order_id");
    let sqls = statements(&plan);
    assert_eq!(sqls.len(), 1024);
    assert!(
        sqls.iter()
            .all(|(db, sql)| sql.contains(&format!(", {db}.t_order_"))
                && sql.contains(".order_id AS __sg_k0")
                && !sql.contains(" t_order.")),
        "{:?}",
        &sqls[..2]
    );
    let plan = route("SELECT `t_order`.amount FROM `shop`.`t_order` ORDER BY `shop`.`t_order`.`order_id` DESC, 't_order.x'");
    let (db, sql) = &statements(&plan)[0];
    assert!(
        sql.contains(&format!(", {db}.t_order_0.`order_id` AS __sg_k0")),
        "{sql}"
    );
    assert!(sql.contains("'t_order.x' AS __sg_k1"), "{sql}");
    // An alias needs nothing.
    let plan = route("SELECT o.amount FROM t_order o ORDER BY o.order_id");
    assert!(statements(&plan)[0].1.contains(", o.order_id AS __sg_k0"));
}
