//! Routes of DDL, joins, table kinds, prepared statements, key lists and the shape cache,
//! asserting the exact physical SQL.

mod common;

use common::{one, route, route_err, router, statements};
use shardgate_router::{
    AffectedRows, ParamValue, Params, RouteKind, RouterError, ShapeCache, Step,
};

#[test]
fn ddl_goes_to_every_physical_table() {
    let plan = route(
        "CREATE TABLE t_order (order_id BIGINT NOT NULL PRIMARY KEY, note VARCHAR(20) DEFAULT 'x')",
    );
    assert_eq!(plan.statements().len(), 1024);
    let sqls = statements(&plan);
    assert_eq!(sqls[0], ("order_db_0".into(), "CREATE TABLE order_db_0.t_order_0 (order_id BIGINT NOT NULL PRIMARY KEY, note VARCHAR(20) DEFAULT 'x')".into()));
    assert_eq!(sqls[1023].1, "CREATE TABLE order_db_31.t_order_31 (order_id BIGINT NOT NULL PRIMARY KEY, note VARCHAR(20) DEFAULT 'x')");
    let mut unique: Vec<&String> = sqls.iter().map(|(_, s)| s).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 1024);
    assert!(matches!(plan.step, Step::SendToAll(ref s) if s.affected == AffectedRows::Sum));

    for (sql, expected) in [
        (
            "ALTER TABLE t_order ADD COLUMN x INT",
            "ALTER TABLE order_db_0.t_order_0 ADD COLUMN x INT",
        ),
        (
            "DROP TABLE IF EXISTS t_order",
            "DROP TABLE IF EXISTS order_db_0.t_order_0",
        ),
        (
            "TRUNCATE TABLE t_order",
            "TRUNCATE TABLE order_db_0.t_order_0",
        ),
        (
            "CREATE INDEX idx_user ON t_order (user_id)",
            "CREATE INDEX idx_user ON order_db_0.t_order_0 (user_id)",
        ),
        (
            "DROP INDEX idx_user ON t_order",
            "DROP INDEX idx_user ON order_db_0.t_order_0",
        ),
        (
            "CREATE TABLE t_order_item (order_id BIGINT, item_id BIGINT)",
            "CREATE TABLE order_db_0.t_order_item_0 (order_id BIGINT, item_id BIGINT)",
        ),
    ] {
        let plan = route(sql);
        assert_eq!(plan.statements().len(), 1024, "{sql}");
        assert_eq!(statements(&plan)[0].1, expected);
    }
    let plan = route("CREATE TABLE t_currency (code CHAR(3) PRIMARY KEY)");
    assert_eq!(plan.statements().len(), 33);
    assert!(matches!(plan.step, Step::SendToAll(ref s) if s.affected == AffectedRows::OneCopy));
    let plan = route("CREATE TABLE t_shop_setting (k VARCHAR(10))");
    assert_eq!(
        statements(&plan),
        vec![(
            "shop_main".into(),
            "CREATE TABLE shop_main.t_shop_setting (k VARCHAR(10))".into()
        )]
    );
    assert!(matches!(
        route_err("DROP TABLE t_order, t_order_item"),
        RouterError::Unsafe(_)
    ));
}

#[test]
fn binding_join_stays_on_one_shard() {
    let (db, sql) = one("SELECT o.order_id, i.item_id FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id WHERE o.order_id = 4242");
    assert_eq!(db, "order_db_18");
    assert_eq!(sql, "SELECT o.order_id, i.item_id FROM order_db_18.t_order_4 o JOIN order_db_18.t_order_item_4 i ON o.order_id = i.order_id WHERE o.order_id = 4242");
    // Keyed through the bound table's column, and with USING.
    assert_eq!(one("SELECT * FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id WHERE i.order_id = 4242").0, "order_db_18");
    assert_eq!(
        one("SELECT * FROM t_order JOIN t_order_item USING (order_id) WHERE order_id = 4242").1,
        "SELECT * FROM order_db_18.t_order_4 JOIN order_db_18.t_order_item_4 USING (order_id) WHERE order_id = 4242"
    );
    // Without a key: every pair of bound tables, still shard-local.
    let plan = route("SELECT * FROM t_order o LEFT JOIN t_order_item i ON i.order_id = o.order_id");
    assert_eq!(plan.statements().len(), 1024);
    assert_eq!(statements(&plan)[5].1, "SELECT * FROM order_db_0.t_order_5 o LEFT JOIN order_db_0.t_order_item_5 i ON i.order_id = o.order_id");
}

#[test]
fn unsafe_joins_are_refused() {
    let err = route_err("SELECT * FROM t_order o JOIN t_order_item i ON o.user_id = i.order_id WHERE o.order_id = 1");
    assert_eq!(err.to_string(), "router: cannot route safely: join of `t_order` and `t_order_item` is not on the sharding key: matching rows may be on different shards, and a join across shards with `*` in the select list (name the columns) is not supported yet");
    let err = route_err("SELECT * FROM t_order o JOIN t_shop_setting s ON 1 = 1");
    assert!(
        err.to_string().contains(
            "single table `t_shop_setting` cannot be joined with sharded table `t_order`"
        ),
        "{err}"
    );
    let err = route_err(
        "SELECT * FROM t_order WHERE (order_id, user_id) IN (SELECT order_id, qty FROM t_order_item)",
    );
    assert!(
        err.to_string()
            .contains("subquery over sharded table `t_order_item`"),
        "{err}"
    );
    let err = route_err("SELECT order_id FROM t_order INTERSECT SELECT order_id FROM t_order_item");
    assert!(err.to_string().contains("INTERSECT"), "{err}");
}

#[test]
fn broadcast_and_single_tables() {
    let (db, sql) = one(
        "SELECT * FROM t_order o JOIN t_currency c ON o.currency = c.code WHERE o.order_id = 4242",
    );
    assert_eq!(db, "order_db_18");
    assert_eq!(sql, "SELECT * FROM order_db_18.t_order_4 o JOIN order_db_18.t_currency c ON o.currency = c.code WHERE o.order_id = 4242");
    assert_eq!(
        one("SELECT * FROM t_currency WHERE code = 'EUR'").1,
        "SELECT * FROM order_db_0.t_currency WHERE code = 'EUR'"
    );
    let plan = route("UPDATE t_currency SET rate = 2 WHERE code = 'EUR'");
    assert_eq!(plan.route, RouteKind::Broadcast);
    assert_eq!(plan.statements().len(), 33);
    assert!(matches!(plan.step, Step::SendToAll(ref s) if s.affected == AffectedRows::OneCopy));
    assert_eq!(
        statements(&plan)[32],
        (
            "shop_main".into(),
            "UPDATE shop_main.t_currency SET rate = 2 WHERE code = 'EUR'".into()
        )
    );
    assert_eq!(
        one("SELECT * FROM t_shop_setting s JOIN t_currency c ON s.v = c.code"),
        (
            "shop_main".into(),
            "SELECT * FROM shop_main.t_shop_setting s JOIN shop_main.t_currency c ON s.v = c.code"
                .into()
        )
    );
    let err = route_err("UPDATE t_currency c JOIN t_order o ON o.currency = c.code SET c.rate = 1");
    assert!(matches!(err, RouterError::Unsafe(_)), "{err}");
}

#[test]
fn statements_without_tables_and_errors() {
    let plan = route("SELECT 1 + 1, @@version");
    assert_eq!(plan.route, RouteKind::NoTable);
    assert_eq!(
        statements(&plan),
        vec![("-".into(), "SELECT 1 + 1, @@version".into())]
    );
    // information_schema is answered from shardgate's catalog, never by routing the
    // statement to a backend.
    assert!(matches!(
        route_err("SELECT * FROM information_schema.TABLES WHERE TABLE_NAME = 'x'"),
        RouterError::OtherSchema(_)
    ));
    assert_eq!(
        route_err("SELECT * FROM t_nothing").to_string(),
        "router: table `t_nothing` is not in schema `shop`"
    );
    assert_eq!(
        route_err("SELECT * FROM other.t_order").to_string(),
        "router: schema `other` is not served: shardgate answers only for schema `shop`"
    );
    assert!(matches!(
        route_err("SELEC * FROM t_order"),
        RouterError::Parse(_)
    ));
    assert_eq!(
        route_err("SET @a = 1"),
        RouterError::NotRoutable("SET".into())
    );
    assert_eq!(
        route_err("SELECT 1; SELECT 2"),
        RouterError::StatementCount(2)
    );
}

#[test]
fn prepared_statements_keep_placeholders() {
    let r = router();
    let t = r
        .prepare("SELECT * FROM t_order WHERE order_id = ? AND status = ?")
        .unwrap();
    assert_eq!(t.param_count(), 2);
    let plan = t
        .bind(
            r.topology(),
            Params::Prepared(&[ParamValue::Int(4242), ParamValue::Str("paid".into())]),
        )
        .unwrap();
    assert_eq!(
        statements(&plan),
        vec![(
            "order_db_18".into(),
            "SELECT * FROM order_db_18.t_order_4 WHERE order_id = ? AND status = ?".into()
        )]
    );
    assert_eq!(plan.statements()[0].params, vec![0, 1]);

    // A split INSERT hands each physical statement only its rows' parameters.
    let t = r
        .prepare("INSERT INTO t_order (order_id, note) VALUES (?, ?), (?, ?)")
        .unwrap();
    let values = [
        ParamValue::Int(1),
        ParamValue::Str("a".into()),
        ParamValue::Int(2),
        ParamValue::Null,
    ];
    let plan = t.bind(r.topology(), Params::Prepared(&values)).unwrap();
    assert_eq!(
        plan.statements()[0].sql,
        "INSERT INTO order_db_1.t_order_0 (order_id, note) VALUES (?, ?)"
    );
    assert_eq!(plan.statements()[0].params, vec![0, 1]);
    assert_eq!(plan.statements()[1].params, vec![2, 3]);

    // A negated placeholder and a scatter LIMIT, whose values the router fills in.
    let t = r
        .prepare("SELECT * FROM t_order WHERE order_id = -? OR user_id > 0 LIMIT ?, ?")
        .unwrap();
    let plan = t
        .bind(
            r.topology(),
            Params::Prepared(&[ParamValue::Int(1), ParamValue::Int(2), ParamValue::Int(3)]),
        )
        .unwrap();
    assert_eq!(plan.statements().len(), 1024);
    assert_eq!(
        plan.statements()[0].sql,
        "SELECT * FROM order_db_0.t_order_0 WHERE order_id = -? OR user_id > 0 LIMIT 0, 5"
    );
    assert_eq!(plan.statements()[0].params, vec![0]);

    let err = t.bind(r.topology(), Params::Prepared(&[])).unwrap_err();
    assert_eq!(
        err,
        RouterError::ParamCount {
            expected: 3,
            given: 0
        }
    );
    let t = r
        .prepare("SELECT * FROM t_order WHERE order_id = -?")
        .unwrap();
    let plan = t
        .bind(r.topology(), Params::Prepared(&[ParamValue::Int(1)]))
        .unwrap();
    assert_eq!(
        plan.statements()[0].sql,
        "SELECT * FROM order_db_31.t_order_31 WHERE order_id = -?"
    );
}

#[test]
fn shape_cache_reuses_one_template_per_shape() {
    let r = router();
    let mut cache = ShapeCache::new(16);
    for key in [4242i64, 7, 99] {
        let plan = r
            .route(
                &format!("SELECT * FROM t_order WHERE order_id = {key}"),
                &mut cache,
            )
            .unwrap();
        let db = key.rem_euclid(32);
        let table = key.div_euclid(32).rem_euclid(32);
        assert_eq!(
            plan.statements()[0].sql,
            format!("SELECT * FROM order_db_{db}.t_order_{table} WHERE order_id = {key}")
        );
    }
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.stats(), (2, 1));
    // ORDER BY 2 depends on the literal: not reused as a template, still right.
    let plan = r
        .route(
            "SELECT order_id, amount FROM t_order ORDER BY 2",
            &mut cache,
        )
        .unwrap();
    let Some(m) = plan.select_merge() else {
        panic!()
    };
    assert_eq!(m.order_by[0].column, Some(1));
    let plan = r
        .route(
            "SELECT order_id, amount FROM t_order ORDER BY 1",
            &mut cache,
        )
        .unwrap();
    let Some(m) = plan.select_merge() else {
        panic!()
    };
    assert_eq!(m.order_by[0].column, Some(0));
    // A bounded cache evicts.
    for i in 0..40 {
        r.route(
            &format!("SELECT c{i} FROM t_order WHERE order_id = 1"),
            &mut cache,
        )
        .unwrap();
    }
    assert_eq!(cache.len(), 16);
}

#[test]
fn explain_output() {
    let r = router();
    let plan = route("SELECT * FROM t_order WHERE order_id = 4242");
    assert_eq!(
        plan.explain(r.topology()).to_string(),
        "ds0\torder_db_18\tSELECT * FROM order_db_18.t_order_4 WHERE order_id = 4242\nroute: direct, 1 statement(s); step: route (single target, passthrough)"
    );
}

#[test]
fn positions_survive_unicode_tabs_and_crlf() {
    assert_eq!(
        one("SELECT 'é…ü', o.* FROM t_order o WHERE o.order_id = 4242").1,
        "SELECT 'é…ü', o.* FROM order_db_18.t_order_4 o WHERE o.order_id = 4242"
    );
    assert_eq!(
        one("SELECT\t*\r\nFROM\tt_order\r\n\tWHERE order_id = 4242 AND note = 'ü\r\nx'").1,
        "SELECT\t*\r\nFROM\torder_db_18.t_order_4\r\n\tWHERE order_id = 4242 AND note = 'ü\r\nx'"
    );
    // As in MySQL's lexer, only `\n` ends a `--` comment: the WHERE is commented out.
    assert_eq!(
        route("SELECT * FROM t_order -- ü comment\rWHERE order_id = 4242")
            .statements()
            .len(),
        1024
    );
    assert_eq!(
        one("SELECT * FROM `T_ORDER` WHERE `ORDER_ID` = 4242").1,
        "SELECT * FROM order_db_18.t_order_4 WHERE `ORDER_ID` = 4242"
    );
}

#[test]
fn templates_belong_to_their_topology() {
    let a = router();
    let b = router();
    let t = a
        .prepare("SELECT * FROM t_order WHERE order_id = ?")
        .unwrap();
    let err = t
        .bind(b.topology(), Params::Prepared(&[ParamValue::Int(1)]))
        .unwrap_err();
    assert_eq!(err, RouterError::StaleTemplate);
    // One cache used with two routers starts over instead of binding stale templates.
    let mut cache = ShapeCache::default();
    a.route("SELECT * FROM t_order WHERE order_id = 1", &mut cache)
        .unwrap();
    let plan = b
        .route("SELECT * FROM t_order WHERE order_id = 2", &mut cache)
        .unwrap();
    assert_eq!(
        plan.statements()[0].sql,
        "SELECT * FROM order_db_2.t_order_0 WHERE order_id = 2"
    );
    assert_eq!(cache.len(), 1);
}

/// A long `key IN (...)` reaches each physical table with only the keys that live there,
/// in text and prepared statements; a table that the rest of the WHERE reaches without any
/// of the keys keeps one key that matches none of its rows.
#[test]
fn key_lists_are_cut_per_physical_table() {
    // 40 keys: 0..19 and 1024..1043; key k lives in database k % 32, table k / 32 % 32.
    let keys: Vec<i64> = (0..20).chain(1024..1044).collect();
    let list: Vec<String> = keys.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT order_id FROM t_order WHERE order_id IN ({}) AND status <> 'x'",
        list.join(",")
    );
    let plan = route(&sql);
    assert_eq!(plan.statements().len(), 20);
    for (database, statement) in statements(&plan) {
        let db: i64 = database.trim_start_matches("order_db_").parse().unwrap();
        assert_eq!(
            statement,
            format!(
                "SELECT order_id FROM {database}.t_order_0 WHERE order_id IN ({}, {}) AND status <> 'x'",
                db,
                db + 1024
            )
        );
    }
    // Prepared: each statement takes only its keys' parameters.
    let r = router();
    let marks = vec!["?"; keys.len()].join(", ");
    let t = r
        .prepare(&format!("DELETE FROM t_order WHERE order_id IN ({marks})"))
        .unwrap();
    let values: Vec<ParamValue> = keys
        .iter()
        .map(|k| ParamValue::Int(i128::from(*k)))
        .collect();
    let plan = t.bind(r.topology(), Params::Prepared(&values)).unwrap();
    assert_eq!(plan.statements().len(), 20);
    for s in plan.statements() {
        assert!(s.sql.ends_with("WHERE order_id IN (?, ?)"), "{}", s.sql);
        let db = s.params[0];
        assert_eq!(s.params, vec![db, db + 20]);
    }
    // OR reaches every table; those without a key of the list keep its first one, which
    // matches none of their rows.
    let sql = format!(
        "SELECT order_id FROM t_order WHERE order_id IN ({}) OR status = 'x'",
        list.join(", ")
    );
    let plan = route(&sql);
    assert_eq!(plan.statements().len(), 1024);
    let sqls = statements(&plan);
    assert!(sqls.iter().any(|(_, s)| {
        s == "SELECT order_id FROM order_db_5.t_order_0 WHERE order_id IN (5, 1029) OR status = 'x'"
    }));
    assert!(sqls.iter().any(|(_, s)| s
        == "SELECT order_id FROM order_db_5.t_order_1 WHERE order_id IN (0) OR status = 'x'"));
    // NULL and strings route nowhere exactly: every statement keeps them.
    let sql = "SELECT order_id FROM t_order WHERE order_id IN (1, 2, 3, 4, 5, 6, 7, NULL, '40')";
    for (_, s) in statements(&route(sql)) {
        assert!(s.ends_with("NULL, '40')"), "{s}");
    }
    // One table: the list as written.
    let sql =
        "SELECT order_id FROM t_order WHERE order_id IN (1,1025,2049,3073,4097,5121,6145,7169)";
    assert_eq!(
        one(sql).1,
        "SELECT order_id FROM order_db_1.t_order_0 WHERE order_id IN (1,1025,2049,3073,4097,5121,6145,7169)"
    );
}

/// A list of 64 placeholders or more is parsed as one (sqlparser spends a token and an
/// expression on each value) and routed and cut as the whole list: the same plans as
/// written out, in text and prepared statements.

#[test]
fn long_key_lists_are_folded_for_the_parser() {
    let keys: Vec<i64> = (0..100).map(|i| i * 7).collect();
    let list: Vec<String> = keys.iter().map(i64::to_string).collect();
    // `route` checks the shape-cache path (folded) against the uncached one (not folded).
    let plan = route(&format!(
        "SELECT order_id FROM t_order WHERE order_id IN ({}) ORDER BY order_id",
        list.join(",")
    ));
    assert_eq!(plan.statements().len(), 100);
    for s in plan.statements() {
        let key = s
            .sql
            .split("IN (")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .unwrap();
        let key: i64 = key.parse().unwrap_or_else(|_| panic!("{}", s.sql));
        assert!(s
            .sql
            .contains(&format!("order_db_{}.t_order_{}", key % 32, key / 32 % 32)));
    }
    let r = router();
    let marks = vec!["?"; keys.len()].join(",");
    let t = r
        .prepare(&format!(
            "UPDATE t_order SET status = ? WHERE order_id IN ({marks}) AND user_id = ?"
        ))
        .unwrap();
    assert_eq!(t.param_count(), 102);
    let mut values = vec![ParamValue::Str("x".into())];
    values.extend(keys.iter().map(|k| ParamValue::Int(i128::from(*k))));
    values.push(ParamValue::Int(5));
    let plan = t.bind(r.topology(), Params::Prepared(&values)).unwrap();
    assert_eq!(plan.statements().len(), 100);
    let mut taken = Vec::new();
    for s in plan.statements() {
        assert!(
            s.sql.ends_with("WHERE order_id IN (?) AND user_id = ?"),
            "{}",
            s.sql
        );
        let [0, key, 101] = s.params[..] else {
            panic!("{:?}", s.params)
        };
        let k = keys[key - 1];
        assert!(s
            .sql
            .contains(&format!("order_db_{}.t_order_{} ", k % 32, k / 32 % 32)));
        taken.push(key);
    }
    taken.sort_unstable();
    assert_eq!(taken, (1..=100).collect::<Vec<_>>());
    // One key: one table, the list as written.
    let same: Vec<String> = (0..70).map(|i| (5 + 1024 * i).to_string()).collect();
    let plan = route(&format!(
        "SELECT order_id FROM t_order WHERE order_id IN ({})",
        same.join(", ")
    ));
    assert_eq!(plan.statements().len(), 1);
    assert!(plan.statements()[0]
        .sql
        .ends_with(&format!("IN ({})", same.join(", "))));
    // HAVING does not evaluate a folded list: refused, never compared with its first value.
    let plan = r
        .route(
            &format!(
                "SELECT user_id, COUNT(*) FROM t_order GROUP BY user_id HAVING COUNT(*) IN ({})",
                list.join(",")
            ),
            &mut ShapeCache::default(),
        )
        .unwrap();
    let merge = plan.select_merge().expect("a merge");
    assert!(merge.having.is_some());
    assert!(merge.having_filter.is_none());
}

/// A write on a migrating table, wrapped by its migration's phase: dual-write with the keys
/// it touches, or held at a switch's fence; what dual-write cannot copy exactly is refused.
#[test]
fn writes_on_a_migrating_table_are_wrapped_by_its_phase() {
    use shardgate_router::{MigrationPhase, WriteKeys};
    let dual = MigrationPhase::DualWrite { by_target: true };
    let wrap = |sql: &str, phase| route(sql).under_migration(sql, "t_order", "order_id", phase);

    let sql = "UPDATE t_order SET status = 'x' WHERE order_id IN (5, 4242)";
    let plan = wrap(sql, dual).unwrap();
    let Step::DualWrite(write) = &plan.step else {
        panic!("{:?}", plan.step)
    };
    assert_eq!(write.keys, WriteKeys::Keys(vec![5, 4242]));
    assert!(write.by_target);
    assert_eq!(write.table, "t_order");
    // The physical statements are the write's own.
    assert_eq!(plan.statements().len(), 2);
    assert_eq!(plan.statements(), route(sql).statements());

    let sql = "INSERT INTO t_order (order_id, user_id) VALUES (7, 1), (8, 2)";
    let Step::DualWrite(write) = wrap(sql, dual).unwrap().step else {
        panic!("not a dual-write")
    };
    assert_eq!(write.keys, WriteKeys::Rows(vec![Some(7), Some(8)]));

    let sql = "DELETE FROM t_order WHERE user_id = 3";
    let Step::DualWrite(write) = wrap(sql, dual).unwrap().step else {
        panic!("not a dual-write")
    };
    assert!(
        matches!(&write.keys, WriteKeys::Read(select) if select.contains("FOR UPDATE")),
        "{:?}",
        write.keys
    );

    let plan = wrap(sql, MigrationPhase::Fenced).unwrap();
    assert_eq!(plan.step, Step::Fence("t_order".into()));
    assert!(plan.statements().is_empty());

    for (sql, why) in [
        ("ALTER TABLE t_order ADD COLUMN x INT", "DDL on `t_order`"),
        (
            "UPDATE t_order SET order_id = 7 WHERE order_id = 7",
            "key column `order_id`",
        ),
    ] {
        let Err(err) = wrap(sql, dual) else {
            panic!("{sql}: accepted")
        };
        assert!(err.to_string().contains(why), "{sql}: {err}");
    }
}
