//! Differential tests: the same rows in one unsharded MariaDB table and, through shardgate,
//! in the 32 x 32 layout; the same queries against both must give identical results
//! (order-sensitive where ORDER BY fixes the order).

use mysql_async::prelude::Queryable;
use mysql_async::Value;
use shardgate_tests::{all_rows as all, assert_same, create_both, insert_both, Cluster};

const TABLE: &str = "(order_id BIGINT NOT NULL PRIMARY KEY, user_id INT NULL, \
    status VARCHAR(16) COLLATE utf8mb4_general_ci NULL, code VARCHAR(16) COLLATE utf8mb4_bin NULL, \
    amount DECIMAL(12,2) NULL, ratio DOUBLE NULL, created_at DATETIME NULL)";

/// Deterministic rows with NULLs, ties, negative keys, mixed case and mixed types.
fn rows(n: i64) -> Vec<String> {
    let statuses = ["'new'", "'paid'", "'shipped'", "'Returned'", "NULL"];
    let codes = ["'a'", "'A'", "'b'", "'B'", "'ä'", "NULL"];
    (0..n)
        .map(|i| {
            let order_id = if i % 7 == 0 {
                -(i * 131) - 1
            } else {
                i * 977 + 3
            };
            let user_id = if i % 11 == 0 {
                "NULL".to_string()
            } else {
                (i % 13).to_string()
            };
            let amount = if i % 17 == 0 {
                "NULL".to_string()
            } else {
                format!("{}.{:02}", (i * 37) % 500, i % 100)
            };
            let ratio = if i % 19 == 0 {
                "NULL".to_string()
            } else {
                format!("{}", (i as f64) / 8.0)
            };
            let created = if i % 23 == 0 {
                "NULL".to_string()
            } else {
                format!(
                    "'2026-{:02}-{:02} {:02}:00:00'",
                    1 + i % 12,
                    1 + i % 28,
                    i % 24
                )
            };
            format!(
                "({order_id}, {user_id}, {}, {}, {amount}, {ratio}, {created})",
                statuses[(i % 5) as usize],
                codes[(i % 6) as usize]
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_selects_match_one_unsharded_table() {
    let cluster =
        Cluster::start_with(|y| y.push_str("proxy:\n  merge_memory_limit: 1000000\n")).await;
    let (mut reference, mut proxy) = create_both(&cluster, &[("t_order", TABLE)]).await;
    insert_both(
        &mut reference,
        &mut proxy,
        "t_order",
        "order_id, user_id, status, code, amount, ratio, created_at",
        &rows(1500),
    )
    .await;

    let ordered = [
        "SELECT order_id, user_id FROM t_order ORDER BY user_id, order_id",
        "SELECT order_id, amount FROM t_order ORDER BY amount DESC, order_id LIMIT 7, 13",
        "SELECT order_id, status FROM t_order ORDER BY status, order_id DESC",
        "SELECT code, order_id FROM t_order ORDER BY code DESC, order_id LIMIT 40",
        "SELECT order_id, created_at FROM t_order ORDER BY created_at DESC, order_id LIMIT 50",
        "SELECT order_id, ratio FROM t_order WHERE ratio > 20 ORDER BY ratio, order_id LIMIT 10 OFFSET 3",
        "SELECT order_id AS id, user_id AS u FROM t_order ORDER BY 2 DESC, 1 LIMIT 25",
        "SELECT order_id FROM t_order ORDER BY order_id LIMIT 100000",
        "SELECT order_id FROM t_order ORDER BY order_id LIMIT 1490, 50",
        "SELECT order_id FROM t_order WHERE user_id = 999 ORDER BY order_id",
        "SELECT COUNT(*), SUM(amount), MIN(amount), MAX(amount), MIN(code), MAX(code), MIN(created_at), MAX(ratio), COUNT(user_id), SUM(user_id) FROM t_order",
        "SELECT COUNT(*), SUM(amount), MIN(code) FROM t_order WHERE user_id = 999",
        "SELECT MAX(status) FROM t_order WHERE status <> 'Returned'",
        "SELECT DISTINCT user_id FROM t_order ORDER BY user_id",
        "SELECT DISTINCT code FROM t_order ORDER BY code",
        "SELECT DISTINCT status, user_id FROM t_order ORDER BY user_id DESC, status LIMIT 20",
        "SELECT user_id, COUNT(*), SUM(amount), MIN(code), MAX(created_at) FROM t_order GROUP BY user_id",
        "SELECT status, COUNT(*), AVG(amount) FROM t_order GROUP BY status ORDER BY 2 DESC, status",
        "SELECT code, COUNT(*) FROM t_order GROUP BY code",
        "SELECT AVG(amount), AVG(user_id), COUNT(*) FROM t_order",
        "SELECT user_id, AVG(amount) AS a FROM t_order GROUP BY user_id ORDER BY a DESC, user_id LIMIT 4",
        "SELECT user_id, COUNT(*) FROM t_order WHERE user_id = 999 GROUP BY user_id",
        "SELECT order_id FROM t_order ORDER BY amount, order_id LIMIT 30",
        "SELECT * FROM t_order ORDER BY created_at DESC, order_id LIMIT 10",
        "SELECT user_id FROM t_order ORDER BY status DESC, code, order_id",
        "SELECT user_id, COUNT(*) AS n, SUM(amount) FROM t_order GROUP BY user_id HAVING n >= 115 ORDER BY user_id",
        "SELECT status, AVG(amount) FROM t_order GROUP BY status HAVING AVG(amount) > 240 OR status IS NULL",
        "SELECT user_id, MIN(code) FROM t_order GROUP BY user_id HAVING MIN(code) = 'A' AND NOT user_id = 3",
        // Aggregates of DISTINCT values: the shards group by the argument too.
        "SELECT COUNT(DISTINCT user_id), COUNT(DISTINCT status), COUNT(DISTINCT code), COUNT(*) FROM t_order",
        "SELECT status, COUNT(DISTINCT user_id), SUM(DISTINCT user_id), AVG(DISTINCT amount), MAX(DISTINCT code), COUNT(*) FROM t_order GROUP BY status",
        "SELECT COUNT(DISTINCT user_id), SUM(DISTINCT amount) FROM t_order WHERE user_id = 999",
        "SELECT code, COUNT(DISTINCT created_at) AS n FROM t_order GROUP BY code ORDER BY n DESC, code",
        // HAVING on aggregates the client did not select, BETWEEN, IN, column to column.
        "SELECT user_id FROM t_order GROUP BY user_id HAVING MAX(amount) > 490",
        "SELECT user_id, COUNT(*) FROM t_order GROUP BY user_id HAVING SUM(amount) BETWEEN 20000 AND 30000 OR MIN(code) IN ('b', 'ä')",
        "SELECT status, MIN(user_id) AS lo, MAX(user_id) AS hi FROM t_order GROUP BY status HAVING lo < hi AND COUNT(*) NOT IN (300, 301)",
        "SELECT order_id, user_id AS u FROM t_order HAVING u = 5 ORDER BY order_id",
        "SELECT status FROM t_order GROUP BY status HAVING COUNT(DISTINCT user_id) = 12 AND SUM(DISTINCT user_id) > 60",
        "SELECT COUNT(*) FROM t_order HAVING COUNT(DISTINCT code) > 5",
        // GROUP BY an expression that is not selected; its order when ORDER BY does not say.
        "SELECT COUNT(*), SUM(amount) FROM t_order GROUP BY user_id % 3",
        "SELECT MAX(order_id) FROM t_order GROUP BY status ORDER BY status DESC",
        "SELECT user_id % 4 AS m, COUNT(*) FROM t_order GROUP BY m ORDER BY m DESC",
        // Groups folded as they stream, sorted by the group keys (both directions, NULLs).
        "SELECT status, COUNT(*) FROM t_order GROUP BY status ORDER BY status DESC",
        "SELECT code, user_id, COUNT(*), MIN(order_id) FROM t_order GROUP BY code, user_id ORDER BY user_id DESC, code LIMIT 15, 20",
        "SELECT created_at, COUNT(*) FROM t_order GROUP BY created_at ORDER BY created_at LIMIT 30",
        "SELECT user_id, COUNT(*) FROM t_order GROUP BY user_id HAVING COUNT(*) > 100 ORDER BY COUNT(*) DESC, user_id",
    ];
    for sql in ordered {
        let direct = sql.replace("FROM t_order", "FROM reference.t_order");
        assert_same(&mut reference, &mut proxy, sql, &direct).await;
    }
    // Without ORDER BY the order is the server's choice: compare as sets, and counts for LIMIT.
    for sql in [
        "SELECT order_id, status, code FROM t_order WHERE user_id = 3",
        "SELECT * FROM t_order",
    ] {
        let mut expected = all(
            &mut reference,
            &sql.replace("FROM t_order", "FROM reference.t_order"),
        )
        .await;
        let mut got = all(&mut proxy, sql).await;
        let key = |r: &Vec<Value>| format!("{:?}", r);
        expected.sort_by_key(key);
        got.sort_by_key(key);
        assert_eq!(got, expected, "{sql}");
    }
    assert_eq!(
        all(&mut proxy, "SELECT order_id FROM t_order LIMIT 5")
            .await
            .len(),
        5
    );

    // SQL-level PREPARE / EXECUTE USING of a merged SELECT, with a string that would break
    // out of quotes if it were pasted in.
    proxy
        .query_drop("SET @lo = 1000, @st = 'paid', @evil = 'x'' OR ''1''=''1'")
        .await
        .unwrap();
    proxy
        .query_drop("PREPARE s FROM 'SELECT order_id, status FROM t_order WHERE order_id > ? AND (status = ? OR status = ?) ORDER BY order_id DESC LIMIT 7'")
        .await
        .unwrap();
    let got: Vec<(i64, String)> = proxy
        .query("EXECUTE s USING @lo, @st, @evil")
        .await
        .unwrap();
    let expected: Vec<(i64, String)> = reference
        .query("SELECT order_id, status FROM reference.t_order WHERE order_id > 1000 AND (status = 'paid' OR status = 'x'' OR ''1''=''1') ORDER BY order_id DESC LIMIT 7")
        .await
        .unwrap();
    assert_eq!(got.len(), 7);
    assert_eq!(got, expected);

    // Still refused, with the reason: merges this version does not do.
    for (sql, reason) in [
        (
            "SELECT user_id FROM t_order GROUP BY user_id HAVING AVG(amount) > 3",
            "HAVING",
        ),
        (
            "SELECT user_id % 2, COUNT(*) FROM t_order GROUP BY user_id % 3",
            "neither grouped nor aggregated",
        ),
        (
            "SELECT user_id, COUNT(*) FROM t_order GROUP BY user_id ORDER BY SUM(amount)",
            "not a selected column",
        ),
        (
            "SELECT COUNT(DISTINCT user_id, status) FROM t_order",
            "several expressions",
        ),
        (
            "SELECT user_id, COUNT(*) FROM t_order GROUP BY user_id WITH ROLLUP",
            "ROLLUP",
        ),
    ] {
        let err = proxy.query_drop(sql).await.unwrap_err();
        assert!(err.to_string().contains(reason), "{sql}: {err}");
    }

    // Results larger than the merge memory budget stream through it when the merge does not
    // keep them (concatenation, k-way ORDER BY with a connection per statement).
    let big: Vec<(i64, String)> = proxy
        .query("SELECT order_id, REPEAT('x', 1000) AS pad FROM t_order")
        .await
        .unwrap();
    assert_eq!(big.len(), 1500);
    assert!(big.iter().all(|(_, pad)| pad.len() == 1000));
    // Over the budget where the merge must keep every row: a clear error, and the proxy
    // keeps serving.
    let big = "SELECT DISTINCT order_id, REPEAT('x', 1000) AS pad FROM t_order";
    let err = proxy.query_drop(big).await.unwrap_err();
    assert!(err.to_string().contains("merge_memory_limit"), "{err}");
    let one: Option<i64> = proxy
        .query_first("SELECT COUNT(*) FROM t_order WHERE order_id = 980")
        .await
        .unwrap();
    assert_eq!(one, Some(1));
}

/// Expressions over merged aggregates, computed by the proxy: the same values, types and
/// spelling as one unsharded table, in both protocols; what it cannot compute exactly is
/// refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expressions_over_aggregates_match_one_unsharded_table() {
    let cluster = Cluster::start().await;
    let (mut reference, mut proxy) = create_both(&cluster, &[("t_order", TABLE)]).await;
    insert_both(
        &mut reference,
        &mut proxy,
        "t_order",
        "order_id, user_id, status, code, amount, ratio, created_at",
        &rows(600),
    )
    .await;
    for sql in [
        "SELECT COUNT(*) + 1, COUNT(*) > 0, MAX(amount) - MIN(amount), IFNULL(SUM(amount), 0), ROUND(AVG(amount), 2) FROM t_order",
        "SELECT user_id, SUM(amount) / COUNT(*), COALESCE(MAX(code), 'none'), COUNT(user_id) * 2 - 1 FROM t_order GROUP BY user_id",
        "SELECT status, IF(COUNT(*) > 115, 'many', 'few') AS size, ABS(MIN(user_id) - MAX(user_id)) FROM t_order GROUP BY status ORDER BY status",
        "SELECT IFNULL(SUM(amount), 0), COUNT(*) = 0, MAX(code) IS NULL FROM t_order WHERE user_id = 999",
        "SELECT user_id, ROUND(SUM(amount), -2) AS r FROM t_order GROUP BY user_id HAVING r > 4000 ORDER BY r DESC, user_id",
        "SELECT user_id % 3 AS m, AVG(amount) * 2, TRUNCATE(AVG(user_id), 1), GREATEST(MAX(user_id), 5), LEAST(MIN(amount), 100) FROM t_order GROUP BY m ORDER BY m",
        "SELECT NULLIF(MAX(user_id), 12), COUNT(*) DIV 7, COUNT(*) % 7, -SUM(user_id) FROM t_order",
        "SELECT status, COUNT(*) AS n, SUM(amount) / NULLIF(COUNT(amount), 0) FROM t_order GROUP BY status HAVING SUM(amount) IS NOT NULL AND n > 1 ORDER BY n DESC, status",
        "SELECT user_id, MAX(amount) IS NULL, NOT COUNT(*) > 40, COUNT(*) > 40 AND SUM(amount) < 12000 FROM t_order GROUP BY user_id",
        // One shape, two literals: the second comes from a warm shape cache.
        "SELECT COUNT(*) + 5, SUM(user_id) * 3 FROM t_order",
        "SELECT COUNT(*) + 7, SUM(user_id) * 2 FROM t_order",
        "SELECT status, COUNT(IF(code = 'a', 1, NULL)) AS a FROM t_order GROUP BY status HAVING COUNT(IF(code = 'b', 1, NULL)) > 5 ORDER BY status",
        "SELECT status, COUNT(IF(code = 'b', 1, NULL)) AS b FROM t_order GROUP BY status HAVING COUNT(IF(code = 'b', 1, NULL)) > 5 ORDER BY status",
        // CASE (searched and simple), FLOOR and CEILING over aggregates.
        "SELECT status, CASE WHEN COUNT(*) > 125 THEN 'many' WHEN COUNT(*) > 100 THEN 'some' ELSE 'few' END AS size, CASE MAX(user_id) WHEN 11 THEN 'eleven' WHEN 12 THEN 'twelve' END FROM t_order GROUP BY status ORDER BY status",
        "SELECT user_id, FLOOR(AVG(amount)), CEILING(AVG(amount)), CEIL(SUM(amount) / 7), FLOOR(-MAX(amount) / 3) FROM t_order GROUP BY user_id ORDER BY user_id",
        "SELECT CASE WHEN SUM(amount) IS NULL THEN 0 ELSE FLOOR(SUM(amount)) END, CASE COUNT(*) WHEN 0 THEN 'empty' ELSE 'rows' END FROM t_order WHERE user_id = 999",
    ] {
        let direct = sql.replace("FROM t_order", "FROM reference.t_order");
        assert_same(&mut reference, &mut proxy, sql, &direct).await;
    }
    // GROUP_CONCAT and BIT_AND/OR/XOR, computed by the merge from every shard's values.
    for sql in [
        "SELECT GROUP_CONCAT(order_id ORDER BY order_id) FROM t_order",
        "SELECT user_id, GROUP_CONCAT(DISTINCT status ORDER BY status DESC SEPARATOR ' / '), BIT_OR(order_id), BIT_AND(order_id | 1), BIT_XOR(user_id) FROM t_order GROUP BY user_id ORDER BY user_id",
        "SELECT status, GROUP_CONCAT(code, '=', amount ORDER BY amount DESC, order_id SEPARATOR '') AS c FROM t_order GROUP BY status ORDER BY status",
        "SELECT GROUP_CONCAT(DISTINCT code) FROM t_order",
        "SELECT GROUP_CONCAT(status ORDER BY order_id), COUNT(*) FROM t_order WHERE user_id = 999",
    ] {
        let direct = sql.replace("FROM t_order", "FROM reference.t_order");
        assert_same(&mut reference, &mut proxy, sql, &direct).await;
    }
    // Cut at the session's group_concat_max_len, as MySQL cuts: each shard's values fit
    // the limit, the merged result does not.
    for conn in [&mut reference, &mut proxy] {
        conn.query_drop("SET SESSION group_concat_max_len = 300")
            .await
            .unwrap();
    }
    let sql = "SELECT user_id, GROUP_CONCAT(order_id, '-', status ORDER BY order_id DESC) FROM t_order GROUP BY user_id ORDER BY user_id";
    assert_same(
        &mut reference,
        &mut proxy,
        sql,
        &sql.replace("FROM t_order", "FROM reference.t_order"),
    )
    .await;
    let cut: Vec<(Option<i64>, String)> = proxy.query(sql).await.unwrap();
    assert!(cut.iter().all(|(_, c)| c.len() <= 300));
    assert!(cut.iter().any(|(_, c)| c.len() == 300 || c.len() == 299));
    // Each cut warns, as MySQL warns (1260).
    let cut_groups = cut.iter().filter(|(_, c)| c.len() >= 299).count();
    let warned: Vec<(String, u16, String)> = proxy.query("SHOW WARNINGS").await.unwrap();
    let expected: Vec<(String, u16, String)> = {
        reference
            .query_drop(sql.replace("FROM t_order", "FROM reference.t_order"))
            .await
            .unwrap();
        reference.query("SHOW WARNINGS").await.unwrap()
    };
    assert_eq!(warned.len(), cut_groups, "{warned:?}");
    assert_eq!(
        warned.len(),
        expected.len(),
        "{warned:?} against {expected:?}"
    );
    assert!(warned
        .iter()
        .all(|(_, code, m)| *code == 1260 && m.ends_with("was cut by GROUP_CONCAT()")));
    // A shard's own values longer than the limit: refused, never cut short silently.
    proxy
        .query_drop("SET SESSION group_concat_max_len = 4")
        .await
        .unwrap();
    let err = proxy.query_drop(sql).await.unwrap_err();
    assert!(err.to_string().contains("group_concat_max_len"), "{err}");
    for conn in [&mut reference, &mut proxy] {
        conn.query_drop("SET SESSION group_concat_max_len = DEFAULT")
            .await
            .unwrap();
    }
    for (sql, reason) in [
        ("SELECT SUM(ratio) + 1 FROM t_order", "floating-point"),
        ("SELECT REVERSE(COUNT(*)) FROM t_order", "REVERSE"),
        ("SELECT CONCAT(AVG(amount)) FROM t_order", "quotient"),
        (
            "SELECT UPPER(CONCAT('é', COUNT(*))) FROM t_order",
            "beyond ASCII",
        ),
        ("SELECT STD(ratio) FROM t_order", "floating-point"),
        ("SELECT VAR_POP(code) + 1 FROM t_order", "VAR_POP"),
        (
            "SELECT user_id FROM t_order GROUP BY user_id HAVING STD(amount) > 1",
            "HAVING",
        ),
        (
            "SELECT GROUP_CONCAT(DISTINCT status ORDER BY code) FROM t_order",
            "GROUP_CONCAT(DISTINCT ...) ordered by another expression",
        ),
    ] {
        let err = proxy.query_drop(sql).await.unwrap_err();
        assert!(err.to_string().contains(reason), "{sql}: {err}");
        let err = proxy.exec_drop(sql, ()).await.unwrap_err();
        assert!(err.to_string().contains(reason), "prepared {sql}: {err}");
    }
}
