//! Subqueries over sharded tables that run before the statement: a derived table with LIMIT
//! (two phases), one without (shard-local), and subqueries in WHERE whose answer is written
//! in; the exact physical SQL of each phase.

mod common;

use common::{one, route, route_err, router, statements};
use shardgate_router::{ShapeCache, Step};

#[test]
fn a_limited_derived_table_is_planned_in_two_phases() {
    let r = router();
    let sql = "SELECT o.order_id, i.sku FROM (SELECT order_id, amount FROM t_order WHERE user_id = 5 ORDER BY amount DESC LIMIT 2, 3) AS o LEFT JOIN t_order_item i ON o.order_id = i.order_id ORDER BY o.amount DESC";
    let mut cache = ShapeCache::default();
    let plan = r.route(sql, &mut cache).unwrap();
    let Step::Subquery(sub) = &plan.step else {
        panic!("{:?}", plan.step)
    };
    // The first phase reads the first offset + count rows, logical names kept.
    assert_eq!(
        sub.inner_sql,
        "SELECT order_id, amount FROM t_order WHERE user_id = 5 ORDER BY amount DESC LIMIT 0, 5"
    );
    assert_eq!((sub.key_column.as_str(), sub.offset), ("order_id", 2));
    // 4242 lives in order_db_18.t_order_4.
    let at = sub.locate(r.topology(), b"4242", true).unwrap();
    // The second phase: each table holding chosen rows, its share of them.
    let windows = shardgate_router::Windows::from([(at, (1, 2)), ((0, 0), (0, 1))]);
    let outer = sub.outer_plan(r.topology(), &windows).unwrap();
    let sqls: Vec<&str> = outer.statements().iter().map(|s| s.sql.as_str()).collect();
    assert_eq!(sqls.len(), 2, "{sqls:?}");
    assert!(sqls.iter().any(|s| s.contains("FROM order_db_18.t_order_4 WHERE user_id = 5 ORDER BY amount DESC LIMIT 1, 2) AS o LEFT JOIN order_db_18.t_order_item_4 i")), "{sqls:?}");
    assert!(
        sqls.iter().any(|s| s.contains(
            "FROM order_db_0.t_order_0 WHERE user_id = 5 ORDER BY amount DESC LIMIT 0, 1)"
        )),
        "{sqls:?}"
    );
    assert!(outer.select_merge().is_some());
    // The same shape from the cache plans alike; a join off the key is refused.
    assert!(matches!(
        r.route(sql, &mut cache).unwrap().step,
        Step::Subquery(_)
    ));
    let err = route_err("SELECT o.order_id FROM (SELECT order_id, user_id FROM t_order LIMIT 3) o JOIN t_order_item i ON o.user_id = i.order_id");
    assert!(err.to_string().contains("not on the sharding key"), "{err}");
}

#[test]
fn a_derived_table_without_limit_is_each_shards_own() {
    // Pruned by the derived table's own WHERE: one table, as written.
    let plan = route("SELECT * FROM (SELECT order_id, note FROM t_order WHERE order_id = 4242) x LEFT JOIN t_order_item i ON i.order_id = x.order_id");
    assert_eq!(
        statements(&plan),
        vec![("order_db_18".into(), "SELECT * FROM (SELECT order_id, note FROM order_db_18.t_order_4 WHERE order_id = 4242) x LEFT JOIN order_db_18.t_order_item_4 i ON i.order_id = x.order_id".into())]
    );
    // Grouped by the key: every table, counts merged.
    let plan = route("SELECT COUNT(*) FROM (SELECT order_id, COUNT(*) AS n FROM t_order_item GROUP BY order_id) x");
    assert_eq!(plan.statements().len(), 1024);
    assert!(matches!(plan.step, Step::Scatter(_)));
    // Groups of another column span shards.
    let err = route_err("SELECT * FROM (SELECT user_id, COUNT(*) FROM t_order GROUP BY user_id) x");
    assert!(
        err.to_string().contains("only by its sharding column"),
        "{err}"
    );
}

#[test]
fn in_subquery_over_a_sharded_table_finds_its_values_first() {
    let r = router();
    let sql = "SELECT note FROM t_order WHERE order_id IN (SELECT order_id FROM t_order_item WHERE sku = 'a') ORDER BY note";
    let plan = r.route(sql, &mut ShapeCache::default()).unwrap();
    let Step::SubqueryValues(values) = &plan.step else {
        panic!("{:?}", plan.step)
    };
    assert_eq!(
        values.inner_sql,
        "SELECT order_id FROM t_order_item WHERE sku = 'a'"
    );
    // Its values written in make a statement that prunes by key.
    let statement = values.statement(&["4242".into()]).unwrap();
    assert_eq!(
        statement,
        "SELECT note FROM t_order WHERE order_id IN (4242) ORDER BY note"
    );
    assert_eq!(one(&statement).0, "order_db_18");
    // No value: a subquery without rows, so NOT IN stays true.
    assert!(values
        .statement(&[])
        .unwrap()
        .contains("IN (SELECT NULL FROM DUAL WHERE FALSE)"));
    // EXISTS: a row or none; a scalar subquery: its one value, NULL, or MySQL's error.
    let exists = r
        .route(
            "SELECT COUNT(*) FROM t_order WHERE NOT EXISTS (SELECT 1 FROM t_order_item WHERE sku = 'a')",
            &mut ShapeCache::default(),
        )
        .unwrap();
    let Step::SubqueryValues(exists) = &exists.step else {
        panic!("{:?}", exists.step)
    };
    assert_eq!(
        exists.statement(&["1".into()]).unwrap(),
        "SELECT COUNT(*) FROM t_order WHERE NOT EXISTS (SELECT 1)"
    );
    let scalar = r
        .route(
            "SELECT note FROM t_order WHERE order_id = (SELECT MAX(order_id) FROM t_order_item)",
            &mut ShapeCache::default(),
        )
        .unwrap();
    let Step::SubqueryValues(scalar) = &scalar.step else {
        panic!("{:?}", scalar.step)
    };
    assert_eq!(
        scalar.statement(&["4242".into()]).unwrap(),
        "SELECT note FROM t_order WHERE order_id = (4242)"
    );
    assert_eq!(
        one("SELECT note FROM t_order WHERE order_id = (4242)").0,
        "order_db_18"
    );
    assert_eq!(
        scalar.statement(&[]).unwrap(),
        "SELECT note FROM t_order WHERE order_id = (NULL)"
    );
    assert!(scalar.statement(&["1".into(), "2".into()]).is_err());
    // A subquery over unsharded tables stays as it was.
    assert!(!matches!(
        route("SELECT * FROM t_order WHERE order_id IN (SELECT 1 FROM t_currency)").step,
        Step::SubqueryValues(_)
    ));
}

#[test]
fn a_subquery_tied_to_the_outer_row_by_key_runs_on_its_shard() {
    let (db, sql) = one("SELECT o.order_id FROM t_order o WHERE EXISTS (SELECT 1 FROM t_order_item i WHERE i.order_id = o.order_id AND i.sku = 'x') AND o.order_id = 4242");
    assert_eq!(db, "order_db_18");
    assert_eq!(sql, "SELECT o.order_id FROM order_db_18.t_order_4 o WHERE EXISTS (SELECT 1 FROM order_db_18.t_order_item_4 i WHERE i.order_id = o.order_id AND i.sku = 'x') AND o.order_id = 4242");
    // Without a key: on every table, each with its own item table.
    let plan = route("SELECT o.order_id, (SELECT COUNT(*) FROM t_order_item i WHERE o.order_id = i.order_id) FROM t_order o");
    assert_eq!(plan.statements().len(), 1024);
    assert!(statements(&plan)[5]
        .1
        .contains("FROM order_db_0.t_order_item_5 i WHERE o.order_id = i.order_id"));
    // Tied by another column, it is no shard's: answered first (and, correlated, it fails
    // there as it would alone).
    assert!(matches!(
        route("SELECT o.order_id FROM t_order o WHERE EXISTS (SELECT 1 FROM t_order_item i WHERE i.item_id = o.order_id)").step,
        Step::SubqueryValues(_)
    ));
}
