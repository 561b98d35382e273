//! MySQL spellings that real applications send (issue 14, items 6 and 7), each answered as
//! one plain MariaDB server with the same rows answers it, in both protocols:
//! `LOCK IN SHARE MODE`, `DO`, `FROM dual`, table-qualified INSERT columns, NATURAL JOIN of
//! bound tables, `DISTINCT(x)` and DISTINCT columns in ORDER BY over every shard, ORDER BY a
//! qualified column that is not selected, `t.*` with a qualified sort key, GROUP BY a
//! back-quoted alias.

use mysql_async::prelude::Queryable;
use mysql_async::Row;
use shardgate_tests::matrix::Matrix;

/// The rows as text, in order.
fn text(rows: Vec<Row>) -> Vec<String> {
    rows.into_iter()
        .map(|row| {
            (0..row.len())
                .map(|i| match row.as_ref(i) {
                    Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(v) => v.as_sql(true),
                    None => "?".into(),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_spellings_answer_as_mariadb_does() {
    let matrix = Matrix::start().await;
    let mut proxy = matrix.cluster.client().await;
    let mut plain = mysql_async::Conn::from_url(format!(
        "mysql://app:app@127.0.0.1:{}/shop",
        matrix.reference.port()
    ))
    .await
    .unwrap();

    for sql in [
        "INSERT INTO t_order (t_order.order_id, t_order.user_id, shop.t_order.status) VALUES (7001, 55, 'q'), (7002, 55, 'q')",
        "DO 1",
        "DO SLEEP(0), 2 + 2",
    ] {
        proxy.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        plain.query_drop(sql).await.unwrap_or_else(|e| panic!("plain {sql}: {e}"));
    }
    let reads = [
        "SELECT order_id, user_id, status FROM t_order WHERE user_id = 55 ORDER BY order_id",
        "SELECT 1 FROM dual",
        "SELECT 1 + 1 AS two FROM DUAL WHERE 1 = 1",
        "SELECT order_id, status FROM t_order WHERE order_id = 1037 LOCK IN SHARE MODE",
        "SELECT order_id FROM t_order WHERE user_id = 8 ORDER BY order_id lock in share mode",
        "SELECT order_id, sku, quantity FROM t_order NATURAL JOIN t_order_item ORDER BY order_id, sku",
        "SELECT order_id, sku FROM t_order NATURAL JOIN t_order_item WHERE order_id = 1037 ORDER BY sku",
        "SELECT DISTINCT(user_id) FROM t_order ORDER BY user_id",
        "SELECT DISTINCT user_id FROM t_order ORDER BY user_id DESC LIMIT 5",
        "SELECT DISTINCT status, user_id FROM t_order WHERE user_id < 10 ORDER BY user_id, status",
        "SELECT amount FROM t_order WHERE user_id < 100 ORDER BY t_order.order_id",
        "SELECT t_order.order_id, t_order.status FROM t_order ORDER BY t_order.amount DESC, t_order.order_id LIMIT 7",
        "SELECT status AS s, COUNT(*) FROM t_order GROUP BY `s` ORDER BY `s`",
        "SELECT `status` AS `s`, SUM(amount) AS total FROM t_order GROUP BY `s` HAVING total > 0 ORDER BY 1",
    ];
    for (cache, sql) in reads.iter().flat_map(|s| [(0, s), (1, s)]) {
        // Twice: a cold and a warm shape cache.
        let want = text(
            plain
                .query(*sql)
                .await
                .unwrap_or_else(|e| panic!("plain {sql}: {e}")),
        );
        let got = text(
            proxy
                .query(*sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        );
        assert_eq!(got, want, "text protocol, run {cache}: {sql}");
        let want = text(
            plain
                .exec(*sql, ())
                .await
                .unwrap_or_else(|e| panic!("plain {sql}: {e}")),
        );
        let got = text(
            proxy
                .exec(*sql, ())
                .await
                .unwrap_or_else(|e| panic!("prepared {sql}: {e}")),
        );
        assert_eq!(got, want, "binary protocol, run {cache}: {sql}");
    }
    // `t.*` with a qualified sort key: the columns the plain server gives, less created_at
    // (each server set its own).
    let sql = "SELECT t_order.* FROM t_order ORDER BY t_order.order_id LIMIT 4";
    let strip = |rows: Vec<String>| -> Vec<String> {
        rows.into_iter()
            .map(|r| r.rsplit_once('|').map(|(a, _)| a.to_string()).unwrap_or(r))
            .collect()
    };
    let want = strip(text(plain.query(sql).await.unwrap()));
    let got = strip(text(proxy.query(sql).await.unwrap()));
    assert_eq!(got, want, "{sql}");
    // Inside a transaction the share lock holds and the transaction ends cleanly.
    proxy.query_drop("BEGIN").await.unwrap();
    let locked: Vec<u64> = proxy
        .query("SELECT order_id FROM t_order WHERE order_id = 1037 LOCK IN SHARE MODE")
        .await
        .unwrap();
    assert_eq!(locked, [1037]);
    proxy.query_drop("COMMIT").await.unwrap();
    // DO refuses what a statement may not hold.
    let e = proxy
        .query_drop("DO LOAD_FILE('/etc/passwd')")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, mysql_async::Error::Server(s) if s.code == 1235),
        "{e:?}"
    );
    let e = proxy
        .query_drop("DO (SELECT COUNT(*) FROM t_order)")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, mysql_async::Error::Server(s) if s.code == 1235),
        "{e:?}"
    );
}
