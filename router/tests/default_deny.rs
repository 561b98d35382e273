//! Default-deny: what the planner refuses, and why; and the merges it must not approximate.

mod common;

use common::{route, route_err, router};
use shardgate_router::{
    check_set_value, HavingFilter, HavingOperand, RouterError, SelectMerge, ShapeCache, Step,
};

fn unsafe_reason(sql: &str) -> String {
    match route_err(sql) {
        RouterError::Unsafe(reason) | RouterError::OtherSchema(reason) => reason,
        // The session writes its own answers in and plans again.
        RouterError::SessionFunction { name } => format!("session function {name}"),
        other => panic!("{sql}: expected a refusal with a reason, got {other:?}"),
    }
}

fn select_merge(sql: &str) -> SelectMerge {
    match route(sql).step {
        Step::Scatter(s) => *s.merge,
        other => panic!("{sql}: expected a SELECT merge, got {other:?}"),
    }
}

#[test]
fn other_schemas_are_refused() {
    for sql in [
        "SELECT * FROM mysql.user",
        "SELECT user, password FROM `mysql`.`user` WHERE 1",
        "select * from PERFORMANCE_SCHEMA.threads",
        "SELECT * FROM sys.version",
        "SELECT * FROM order_db_3.t_order_1",
        "INSERT INTO mysql.db (Host) VALUES ('x')",
        "UPDATE order_db_0.t_order_0 SET status = 'x'",
        "DELETE FROM mysql.user",
        "DROP TABLE order_db_0.t_order_0",
        "SELECT o.order_id FROM t_order o JOIN mysql.user u ON u.user = o.status WHERE o.order_id = 1",
    ] {
        assert!(
            matches!(route_err(sql), RouterError::OtherSchema(_)),
            "{sql}"
        );
    }
}

#[test]
fn functions_with_lasting_effects_are_refused() {
    for (sql, needle) in [
        ("SELECT LOAD_FILE('/etc/passwd')", "LOAD_FILE"),
        (
            "SELECT load_file('/etc/passwd') FROM t_order WHERE order_id = 1",
            "LOAD_FILE",
        ),
        ("SELECT GET_LOCK('x', 10)", "GET_LOCK"),
        ("SELECT RELEASE_LOCK('x')", "RELEASE_LOCK"),
        ("SELECT IS_USED_LOCK('x')", "IS_USED_LOCK"),
        ("SELECT RELEASE_ALL_LOCKS()", "RELEASE_ALL_LOCKS"),
        ("SELECT BENCHMARK(100000000, MD5('x'))", "BENCHMARK"),
        ("SELECT MASTER_POS_WAIT('f', 4)", "MASTER_POS_WAIT"),
        ("SELECT other_db.some_function(1)", "other_db.some_function"),
        (
            "SELECT my_stored_function(order_id) FROM t_order",
            "MY_STORED_FUNCTION",
        ),
        (
            "SELECT DATABASE(), order_id FROM t_order WHERE order_id = 1",
            "DATABASE",
        ),
        ("SELECT FOUND_ROWS()", "FOUND_ROWS"),
        (
            "UPDATE t_order SET status = USER() WHERE order_id = 1",
            "USER",
        ),
    ] {
        let reason = unsafe_reason(sql);
        assert!(reason.contains(needle), "{sql}: {reason}");
    }
}

#[test]
fn state_that_outlives_the_statement_is_refused() {
    for (sql, needle) in [
        (
            "SELECT @v := order_id FROM t_order WHERE order_id = 1",
            "user variable",
        ),
        ("SELECT @v := 1", "user variable"),
        (
            "SELECT order_id INTO @v FROM t_order WHERE order_id = 1",
            "INTO",
        ),
        ("SELECT * FROM t_order INTO OUTFILE '/tmp/x'", "OUTFILE"),
        (
            "SELECT * FROM t_order WHERE order_id = 1 INTO DUMPFILE '/tmp/x'",
            "DUMPFILE",
        ),
        (
            "CREATE TEMPORARY TABLE t_order (order_id BIGINT)",
            "temporary",
        ),
        ("CREATE TEMPORARY TABLE scratch (a INT)", "temporary"),
    ] {
        let reason = unsafe_reason(sql);
        assert!(reason.contains(needle), "{sql}: {reason}");
    }
}

#[test]
fn ordinary_functions_still_route() {
    for sql in [
        "SELECT NOW(), CONCAT('a', 'b'), IFNULL(NULL, 1), ROUND(2.5), JSON_EXTRACT('[1]', '$[0]')",
        "SELECT COUNT(*), SUM(amount) FROM t_order WHERE order_id = 7",
        "SELECT DATE_FORMAT(created_at, '%Y') FROM t_order WHERE order_id = 7",
        "INSERT INTO t_order (order_id, user_id, status) VALUES (1, 2, 'x') ON DUPLICATE KEY UPDATE status = VALUES(status)",
        "SELECT SLEEP(0)",
    ] {
        route(sql);
    }
}

#[test]
fn merges_the_proxy_cannot_compute_are_refused() {
    for (sql, needle) in [
        (
            "SELECT GROUP_CONCAT(DISTINCT status ORDER BY user_id) FROM t_order",
            "GROUP_CONCAT",
        ),
        (
            "SELECT user_id, GROUP_CONCAT(status ORDER BY 1) FROM t_order GROUP BY user_id",
            "position",
        ),
        ("SELECT JSON_ARRAYAGG(status) FROM t_order", "JSON_ARRAYAGG"),
        ("SELECT BIT_OR(user_id) + 1 FROM t_order", "BIT_OR"),
        ("SELECT STD(amount) + 1 FROM t_order", "STD"),
        ("SELECT ROUND(VARIANCE(amount), 2) FROM t_order", "VARIANCE"),
        (
            "SELECT SUM(amount) + GROUP_CONCAT(status) FROM t_order",
            "GROUP_CONCAT",
        ),
        ("SELECT REVERSE(COUNT(*)) FROM t_order", "REVERSE"),
        ("SELECT CONCAT(AVG(amount)) FROM t_order", "quotient"),
        ("SELECT COUNT(*) + user_id FROM t_order", "group key"),
        (
            "SELECT COUNT(DISTINCT user_id) + 1 FROM t_order",
            "DISTINCT",
        ),
        (
            "SELECT CASE WHEN COUNT(*) > 1 THEN SPACE(MAX(status)) END FROM t_order",
            "SPACE",
        ),
        (
            "SELECT order_id, NTILE(4) OVER (ORDER BY order_id) FROM t_order",
            "NTILE",
        ),
        (
            "SELECT SUM(amount) OVER (ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t_order",
            "frame",
        ),
        (
            "SELECT ROW_NUMBER() OVER (ORDER BY order_id) + 1 FROM t_order",
            "inside an expression",
        ),
        ("SELECT order_id FROM t_order ORDER BY COUNT(*)", "ORDER BY"),
        ("SELECT order_id FROM t_order HAVING COUNT(*) > 1", "HAVING"),
    ] {
        let merge = select_merge(sql);
        let reason = merge
            .unsupported
            .unwrap_or_else(|| panic!("{sql}: merged without a refusal"));
        assert!(reason.contains(needle), "{sql}: {reason}");
    }
    // The same statements on one shard are the backend's to answer.
    assert!(matches!(
        route("SELECT GROUP_CONCAT(status) FROM t_order WHERE order_id = 5").step,
        Step::Route(_)
    ));
}

#[test]
fn expressions_over_aggregates_are_computed_by_the_merge() {
    use shardgate_router::merge_expr::{MergeConst, MergeExpr, MergeOp};
    let merge = select_merge(
        "SELECT user_id, COUNT(*) + 1, IFNULL(SUM(amount), 0), ROUND(AVG(amount), 2) FROM t_order GROUP BY user_id",
    );
    assert_eq!(merge.unsupported, None);
    let columns: Vec<usize> = merge.projections.iter().map(|p| p.column).collect();
    assert_eq!(columns, [1, 2, 3]);
    assert_eq!(
        merge.projections[0].expr,
        MergeExpr::Binary {
            op: MergeOp::Add,
            left: Box::new(MergeExpr::Aggregate(0)),
            right: Box::new(MergeExpr::Const(MergeConst::Int(1))),
        }
    );
    // COUNT(*), SUM(amount), then AVG's SUM(amount) again (shared) and COUNT(amount).
    let hidden = merge
        .derived
        .iter()
        .filter(|d| matches!(d, shardgate_router::Derived::HavingAggregate { .. }))
        .count();
    assert_eq!(hidden, 3);
    // The literal is bound per statement, also from a warm cache.
    let r = router();
    let mut cache = ShapeCache::default();
    for n in [1, 7] {
        let plan = r
            .route(&format!("SELECT COUNT(*) + {n} FROM t_order"), &mut cache)
            .unwrap();
        let Some(m) = plan.select_merge() else {
            panic!("no merge")
        };
        assert_eq!(
            m.projections[0].expr,
            MergeExpr::Binary {
                op: MergeOp::Add,
                left: Box::new(MergeExpr::Aggregate(0)),
                right: Box::new(MergeExpr::Const(MergeConst::Int(n))),
            }
        );
    }
}

#[test]
fn having_matches_select_items_by_their_literals() {
    // A HAVING aggregate that differs from a selected one only in a literal is its own
    // aggregate, never the selected column.
    let sql = "SELECT user_id, COUNT(IF(status = 'paid', 1, NULL)) FROM t_order GROUP BY user_id HAVING COUNT(IF(status = 'new', 1, NULL)) > 1";
    let merge = select_merge(sql);
    match merge.having_filter {
        Some(HavingFilter::Compare { left, .. }) => {
            assert_eq!(left, HavingOperand::Aggregate(0), "{sql}")
        }
        other => panic!("{sql}: {other:?}"),
    }
    // The same literal: the selected column.
    let same = "SELECT user_id, COUNT(IF(status = 'paid', 1, NULL)) FROM t_order GROUP BY user_id HAVING COUNT(IF(status = 'paid', 1, NULL)) > 1";
    match select_merge(same).having_filter {
        Some(HavingFilter::Compare { left, .. }) => assert_eq!(left, HavingOperand::Column(1)),
        other => panic!("{same}: {other:?}"),
    }
    // With a warm cache: the shape of the first must not decide the second.
    let r = router();
    let mut cache = ShapeCache::default();
    for (sql, expected) in [
        (same, HavingOperand::Column(1)),
        (sql, HavingOperand::Aggregate(0)),
        (same, HavingOperand::Column(1)),
    ] {
        let plan = r.route(sql, &mut cache).unwrap();
        let Some(m) = plan.select_merge() else {
            panic!("{sql}: no merge")
        };
        match &m.having_filter {
            Some(HavingFilter::Compare { left, .. }) => assert_eq!(*left, expected, "{sql}"),
            other => panic!("{sql}: {other:?}"),
        }
    }
}

#[test]
fn set_values_may_not_read_tables_or_call_unknown_functions() {
    assert!(check_set_value(" CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')").is_ok());
    assert!(check_set_value("@a + 1").is_ok());
    assert!(check_set_value("(SELECT password FROM mysql.user LIMIT 1)").is_err());
    assert!(check_set_value("(SELECT MAX(order_id) FROM t_order)").is_err());
    assert!(check_set_value("LOAD_FILE('/etc/passwd')").is_err());
    assert!(check_set_value("1 FOR CREATE DATABASE x").is_err());
    assert!(check_set_value("1, 2").is_err());
}
