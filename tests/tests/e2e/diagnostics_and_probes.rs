//! The last statement's diagnostics and the questions a client asks about its own session,
//! answered by shardgate: `SHOW WARNINGS`, `SHOW COUNT(*) WARNINGS`, `@@warning_count` and
//! `@@error_count` after single-target, fanned-out and merged statements (the warning count
//! in the OK and EOF packets included), and `DATABASE()`, `USER()`, `CURRENT_USER()` in the
//! text and binary protocols. Checked with mysql_async (text and binary), PyMySQL, the
//! mariadb CLI and raw packets.

use mysql_async::prelude::Queryable;
use shardgate_tests::clients::{mariadb_cli, python_script};
use shardgate_tests::raw::{binary_query, raw_login, text_query};
use shardgate_tests::{Cluster, PASSWORD, USER};

/// A status longer than the column's VARCHAR(16): truncated, with warning 1265, when the
/// session's sql_mode is not strict.
const LONG_STATUS: &str = "a status far longer than sixteen characters";

async fn start() -> Cluster {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    // Keys 1, 2 and 3 live in three physical tables on both servers.
    conn.query_drop(
        "INSERT INTO t_order (order_id, user_id, status, amount) VALUES (1, 1, 'paid', 5), (2, 1, 'new', 7), (3, 2, 'new', 9)",
    )
    .await
    .unwrap();
    cluster
}

type Condition = (String, u16, String);

async fn warnings(conn: &mut mysql_async::Conn) -> Vec<Condition> {
    conn.query("SHOW WARNINGS").await.unwrap()
}

async fn counts(conn: &mut mysql_async::Conn) -> (u64, u64) {
    conn.query_first("SELECT @@warning_count, @@error_count")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_answer_for_the_last_statement() {
    let cluster = start().await;
    let mut conn = cluster.client().await;
    conn.query_drop("SET sql_mode = ''").await.unwrap();

    // One target: the OK packet's count passes through, and the rows are the backend's.
    conn.query_drop(format!(
        "INSERT INTO t_order (order_id, user_id, status) VALUES (7, 7, '{LONG_STATUS}')"
    ))
    .await
    .unwrap();
    assert_eq!(conn.get_warnings(), 1);
    let truncated: Condition = (
        "Warning".into(),
        1265,
        "Data truncated for column 'status' at row 1".into(),
    );
    assert_eq!(warnings(&mut conn).await, vec![truncated.clone()]);
    // Reading the diagnostics does not clear them.
    assert_eq!(counts(&mut conn).await, (1, 0));
    let count: Option<u64> = conn.query_first("SHOW COUNT(*) WARNINGS").await.unwrap();
    assert_eq!(count, Some(1));
    assert_eq!(warnings(&mut conn).await.len(), 1);

    // A statement that uses a table starts a new list.
    let _: Vec<i64> = conn
        .query("SELECT order_id FROM t_order WHERE order_id = 7")
        .await
        .unwrap();
    assert_eq!(counts(&mut conn).await, (0, 0));
    assert!(warnings(&mut conn).await.is_empty());

    // Several targets: the counts add up, and every target's rows are there.
    conn.query_drop(format!(
        "UPDATE t_order SET status = '{LONG_STATUS}' WHERE order_id IN (1, 2, 3)"
    ))
    .await
    .unwrap();
    assert_eq!(conn.get_warnings(), 3);
    let rows = warnings(&mut conn).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows
        .iter()
        .all(|(level, code, _)| level == "Warning" && *code == 1265));

    // A merged SELECT: the final EOF carries the sum of its statements' warnings (each
    // row's string compared with a number warns once).
    let ids: Vec<i64> = conn
        .query("SELECT order_id FROM t_order WHERE status = 1 ORDER BY order_id")
        .await
        .unwrap();
    assert!(ids.is_empty(), "{ids:?}");
    let (merged, _) = counts(&mut conn).await;
    assert_eq!(merged, 4, "one warning per row compared");
    let rows = warnings(&mut conn).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().all(|(_, code, _)| *code == 1292), "{rows:?}");

    // The binary protocol: the same statement prepared and executed.
    let ids: Vec<i64> = conn
        .exec(
            "SELECT order_id FROM t_order WHERE status = ? ORDER BY order_id",
            (1,),
        )
        .await
        .unwrap();
    assert!(ids.is_empty(), "{ids:?}");
    assert_eq!(counts(&mut conn).await.0, 4);

    // An error replaces the list, whoever made it: the proxy or a backend.
    assert!(conn
        .query_drop("SELECT * FROM no_such_table")
        .await
        .is_err());
    assert_eq!(counts(&mut conn).await, (1, 1));
    let rows = warnings(&mut conn).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("Error", 1146));
    let errors: Vec<Condition> = conn.query("SHOW ERRORS").await.unwrap();
    assert_eq!(errors, rows);
    assert!(conn
        .query_drop("INSERT INTO t_order (order_id, user_id) VALUES (1, 1)")
        .await
        .is_err());
    let rows = warnings(&mut conn).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("Error", 1062), "{rows:?}");
}

/// The warning count in the packets themselves: an OK after a single-target write and the
/// EOF that ends a merged result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warning_counts_in_the_packets() {
    let cluster = start().await;
    let mut s = raw_login(&cluster).await;
    let result = text_query(&mut s, "SELECT @@sql_mode").await;
    assert_eq!(result.rows.len(), 1);
    let mut set = vec![0x03];
    set.extend_from_slice(b"SET sql_mode = ''");
    assert_eq!(shardgate_tests::raw::command(&mut s, &set).await[0], 0x00);
    let merged = text_query(
        &mut s,
        "SELECT order_id FROM t_order WHERE status = 1 ORDER BY order_id",
    )
    .await;
    assert!(merged.rows.is_empty());
    let eof = &merged.eofs[1];
    assert_eq!(u16::from_le_bytes([eof[1], eof[2]]), 3, "{eof:?}");
    let mut insert = vec![0x03];
    insert.extend_from_slice(
        format!("INSERT INTO t_order (order_id, user_id, status) VALUES (8, 8, '{LONG_STATUS}')")
            .as_bytes(),
    );
    let ok = shardgate_tests::raw::command(&mut s, &insert).await;
    assert_eq!(ok[0], 0x00);
    // header, affected rows 1, insert id 0, status (2 bytes), warnings (2 bytes)
    assert_eq!(u16::from_le_bytes([ok[5], ok[6]]), 1, "{ok:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_the_logical_session() {
    let cluster = start().await;
    let mut conn = cluster.client().await;
    let expected = (
        "shop".to_string(),
        format!("{USER}@localhost"),
        format!("{USER}@%"),
    );
    // Text protocol, with aliases, odd spacing and a server variable in the same list.
    let row: Option<(String, String, String, String)> = conn
        .query_first("SELECT DATABASE(), USER() AS u, CURRENT_USER ( ) `cu`, @@session.transaction_isolation")
        .await
        .unwrap();
    let row = row.unwrap();
    assert_eq!((row.0, row.1, row.2), expected.clone());
    assert_eq!(row.3, "REPEATABLE-READ");
    // Binary protocol.
    let row: Option<(String, String, String)> = conn
        .exec_first("SELECT DATABASE(), USER(), CURRENT_USER()", ())
        .await
        .unwrap();
    assert_eq!(row, Some(expected.clone()));
    // MySQL Connector/J's first query: constants beside a MySQL 8 variable name, which
    // MariaDB knows by another name (1193 if passed through), in both protocols.
    let connect = "SELECT 1, 2, @@transaction_isolation";
    let row: Option<(i64, i64, String)> = conn.query_first(connect).await.unwrap();
    assert_eq!(row, Some((1, 2, "REPEATABLE-READ".to_string())));
    let row: Option<(i64, i64, String)> = conn.exec_first(connect, ()).await.unwrap();
    assert_eq!(row, Some((1, 2, "REPEATABLE-READ".to_string())));
    let id: Option<u32> = conn.exec_first("SELECT CONNECTION_ID()", ()).await.unwrap();
    assert_eq!(id, Some(conn.id()));

    // The packets: column names as written, and a binary row of length-encoded strings.
    let mut s = raw_login(&cluster).await;
    let text = text_query(&mut s, "SELECT database() AS db").await;
    assert_eq!(
        shardgate_tests::raw::column_shape(&text.columns[0]).0,
        b"db"
    );
    assert_eq!(text.rows, vec![b"\x04shop".to_vec()]);
    let (prepared, binary) = binary_query(&mut s, "SELECT DATABASE(), @@warning_count").await;
    assert_eq!(
        u16::from_le_bytes([prepared[5], prepared[6]]),
        2,
        "two columns"
    );
    // A VARCHAR and a BIGINT UNSIGNED, as MariaDB types them.
    let type_of = |definition: &[u8]| definition[definition.len() - 6];
    assert_eq!(type_of(&binary.columns[0]), 0xFD);
    assert_eq!(type_of(&binary.columns[1]), 0x08);
    assert_eq!(
        binary.rows,
        vec![b"\x00\x00\x04shop\x00\x00\x00\x00\x00\x00\x00\x00".to_vec()]
    );

    // The mariadb CLI.
    let output = tokio::task::block_in_place(|| {
        mariadb_cli(
            cluster.proxy.port(),
            "SELECT DATABASE(), CURRENT_USER(); SELECT @@warning_count",
            &[],
        )
    });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("shop\t{USER}@%\n0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_through_pymysql_and_the_mariadb_cli() {
    let cluster = start().await;
    let port = cluster.proxy.port();
    let output = tokio::task::block_in_place(|| {
        python_script(
            "diagnostics.py",
            &["127.0.0.1", &port.to_string(), USER, PASSWORD],
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "diagnostics.py:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The CLI prints the warnings of each statement that has some (--show-warnings).
    let output = tokio::task::block_in_place(|| {
        mariadb_cli(
            port,
            &format!(
                "SET sql_mode = ''; UPDATE t_order SET status = '{LONG_STATUS}' WHERE order_id IN (1, 2)"
            ),
            &["--show-warnings"],
        )
    });
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{all}");
    assert_eq!(
        all.matches("Warning (Code 1265): Data truncated for column 'status'")
            .count(),
        2,
        "{all}"
    );
}

/// Session functions inside larger statements answer for the client's session, not for the
/// backend connection that runs the statement: the session writes its answers in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_functions_inside_statements() {
    let cluster = start().await;
    shardgate_tests::log_backend_queries(&cluster).await;
    let mut conn = cluster.client().await;
    let user = format!("{USER}@localhost");
    // Text: one target, the column named as written.
    let mut result = conn
        .query_iter("SELECT DATABASE(), order_id, USER() AS u FROM t_order WHERE order_id = 1")
        .await
        .unwrap();
    let names: Vec<String> = result
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(names, ["DATABASE()", "order_id", "u"]);
    let rows: Vec<(String, i64, String)> = result.collect().await.unwrap();
    assert_eq!(rows, vec![("shop".into(), 1, user.clone())]);
    // Several targets, in a condition.
    let rows: Vec<(i64, String)> = conn
        .query("SELECT order_id, CONCAT(DATABASE(), '.', 't_order') FROM t_order WHERE DATABASE() = 'shop' ORDER BY order_id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (1, "shop.t_order".into()),
            (2, "shop.t_order".into()),
            (3, "shop.t_order".into())
        ]
    );
    // A write.
    conn.query_drop("INSERT INTO t_order (order_id, user_id, status) VALUES (9, CONNECTION_ID(), CURRENT_USER())")
        .await
        .unwrap();
    let row: Option<(u32, String)> = conn
        .query_first("SELECT user_id, status FROM t_order WHERE order_id = 9")
        .await
        .unwrap();
    assert_eq!(row, Some((conn.id(), format!("{USER}@%"))));
    // Binary protocol: written in at PREPARE, the parameters bound at each execute.
    for key in [1i64, 2] {
        let row: Option<(String, i64)> = conn
            .exec_first(
                "SELECT DATABASE(), order_id FROM t_order WHERE order_id = ?",
                (key,),
            )
            .await
            .unwrap();
        assert_eq!(row, Some(("shop".into(), key)));
    }
    // LAST_INSERT_ID() changes between executes: not written in at PREPARE.
    match conn
        .exec_drop(
            "SELECT LAST_INSERT_ID(), order_id FROM t_order WHERE order_id = ?",
            (1,),
        )
        .await
    {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1235, "{}", e.message),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // No backend was asked about its own connection: the functions reach them only as
    // column names (`` `DATABASE()` ``).
    for function in ["DATABASE()", "USER()", "CONNECTION_ID()", "CURRENT_USER()"] {
        let anywhere = shardgate_tests::backend_statements_containing(&cluster, function).await;
        let as_names =
            shardgate_tests::backend_statements_containing(&cluster, &format!("`{function}`"))
                .await;
        assert_eq!(anywhere, as_names, "{function} reached a backend");
    }
    assert!(
        shardgate_tests::backend_statements_containing(&cluster, "'shop' AS `DATABASE()`").await
            > 0
    );

    // The mariadb CLI and PyMySQL see the same.
    let output = tokio::task::block_in_place(|| {
        mariadb_cli(
            cluster.proxy.port(),
            "SELECT DATABASE(), order_id FROM t_order WHERE order_id = 2",
            &[],
        )
    });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "shop\t2");
}

/// The character set of the handshake is the session's on every backend connection (it was
/// ignored: a latin1 client's bytes were read as utf8mb4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_character_set_is_the_sessions() {
    let cluster = start().await;
    let port = cluster.proxy.port().to_string();
    let output = tokio::task::block_in_place(|| {
        python_script(
            "handshake_charset.py",
            &["127.0.0.1", &port, USER, PASSWORD],
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "handshake_charset.py:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
