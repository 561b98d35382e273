//! Property tests: for any key, the route is `key % 32`, `key / 32 % 32` (Euclidean), on every
//! path through the router (text with the shape cache, text without it, prepared).

mod common;

use common::router;
use proptest::prelude::*;
use shardgate_router::{ParamValue, Params, ShapeCache};

fn expected(key: i64) -> String {
    format!(
        "order_db_{}.t_order_{}",
        key.rem_euclid(32),
        key.div_euclid(32).rem_euclid(32)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn point_select_routes_by_key(key in any::<i64>()) {
        let r = router();
        let mut cache = ShapeCache::default();
        let sql = format!("SELECT * FROM t_order WHERE order_id = {key}");
        let plan = r.route(&sql, &mut cache).unwrap();
        prop_assert_eq!(plan.statements().len(), 1);
        prop_assert_eq!(&plan.statements()[0].sql, &format!("SELECT * FROM {} WHERE order_id = {key}", expected(key)));

        let template = r.prepare("SELECT * FROM t_order WHERE order_id = ?").unwrap();
        let plan = template.bind(r.topology(), Params::Prepared(&[ParamValue::Int(key.into())])).unwrap();
        prop_assert_eq!(&plan.statements()[0].sql, &format!("SELECT * FROM {} WHERE order_id = ?", expected(key)));
    }

    #[test]
    fn insert_rows_route_by_key(keys in proptest::collection::vec(any::<i64>(), 1..20)) {
        let r = router();
        let rows: Vec<String> = keys.iter().map(|k| format!("({k}, 'v{k}')")).collect();
        let sql = format!("INSERT INTO t_order (order_id, note) VALUES {}", rows.join(", "));
        let plan = r.route(&sql, &mut ShapeCache::default()).unwrap();
        let mut seen = 0;
        for target in plan.statements() {
            let table = target.sql.split_whitespace().nth(2).unwrap();
            // Every row in a statement belongs to that statement's table, in original order.
            let mut last = None;
            for (i, k) in keys.iter().enumerate() {
                if target.sql.contains(&format!("({k}, 'v{k}')")) && expected(*k) == table {
                    prop_assert!(last.is_none_or(|l| l <= i));
                    last = Some(i);
                }
            }
            seen += keys.iter().filter(|k| expected(**k) == table).count();
        }
        prop_assert_eq!(seen, keys.len());
    }

    #[test]
    fn range_pruning_keeps_every_key(lo in -5000i64..5000, width in 0i64..1500, probe in 0i64..1500) {
        let r = router();
        let hi = lo + width;
        let plan = r.route(&format!("SELECT * FROM t_order WHERE order_id BETWEEN {lo} AND {hi}"), &mut ShapeCache::default()).unwrap();
        let key = lo + probe.min(width);
        let table = expected(key);
        prop_assert!(plan.statements().iter().any(|t| t.sql.contains(&format!("FROM {table} "))), "{} not in plan", table);
    }

    #[test]
    fn literals_survive_the_rewrite(text in "[a-zA-Z0-9 ,;()'\\\\%_*/-]{0,40}", key in any::<i32>()) {
        let r = router();
        let quoted = text.replace('\\', "\\\\").replace('\'', "''");
        let sql = format!("SELECT * FROM t_order WHERE note = '{quoted}' AND order_id = {key}");
        let plan = r.route(&sql, &mut ShapeCache::default()).unwrap();
        let expected_sql = sql.replacen("t_order", &expected(key.into()), 1);
        prop_assert_eq!(&plan.statements()[0].sql, &expected_sql);
    }
}
