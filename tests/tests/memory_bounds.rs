//! Memory bounds, measured on the test process's resident memory: the proxy serves inside
//! it (the MariaDB servers are processes of their own), and this file holds one test so
//! nothing else runs beside it.

use mysql_async::prelude::Queryable;
use shardgate_tests::Cluster;

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// 40 clients that announce 16 MiB packets before logging in grow the proxy by less than
/// 10 MB (it used to reserve 16 MiB for each). Then an IN list of 100,000 keys on the
/// sharding key answers exactly, with the proxy growing by less than 100 MB: each physical
/// statement carries only its own keys (it used to carry all of them, to every one of the
/// 1,024 tables: 1.47 GB). A UNION over every table, which the proxy must keep whole to
/// deduplicate, stays within `proxy.merge_memory_limit`, and past it is refused; so does a
/// join across shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_before_login_and_for_huge_in_lists_stays_small() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let before = status_kib("VmRSS");
    let mut announcers = Vec::new();
    for _ in 0..40 {
        let mut s = tokio::net::TcpStream::connect(cluster.proxy).await.unwrap();
        let _ = shardgate_tests::raw::read_packet(&mut s).await.unwrap();
        use tokio::io::AsyncWriteExt;
        s.write_all(&[0xFF, 0xFF, 0xFF, 1]).await.unwrap();
        s.write_all(&[0u8; 4096]).await.unwrap();
        announcers.push(s);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let grown_kib = status_kib("VmHWM").saturating_sub(before);
    println!("40 clients announcing 16 MiB: +{} KiB", grown_kib);
    assert!(
        grown_kib < 10 * 1024,
        "40 clients announcing 16 MiB grew the proxy by {grown_kib} KiB"
    );
    drop(announcers);

    let mut conn = cluster.client().await;
    // Rows on every table; every third one is among the keys asked for.
    let inserted: Vec<i64> = (0..3000).map(|i| i * 113 + 7).collect();
    for chunk in inserted.chunks(500) {
        let values: Vec<String> = chunk.iter().map(|k| format!("({k}, 1)")).collect();
        conn.query_drop(format!(
            "INSERT INTO t_order (order_id, user_id) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
    }
    let mut keys: Vec<i64> = inserted.iter().step_by(3).copied().collect();
    // The rest of the 100,000 keys match no row.
    keys.extend((0..100_000 - keys.len() as i64).map(|i| 1_000_000_000 + i * 7));
    let list: Vec<String> = keys.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT order_id FROM t_order WHERE order_id IN ({}) ORDER BY order_id",
        list.join(",")
    );
    let _: Vec<i64> = conn
        .query("SELECT order_id FROM t_order WHERE order_id IN (1, 2)")
        .await
        .unwrap();
    let before = status_kib("VmRSS");
    println!("peak before {} MiB", status_kib("VmHWM") / 1024);
    let got: Vec<i64> = conn.query(sql.as_str()).await.unwrap();
    let peak = status_kib("VmHWM");
    let mut expected: Vec<i64> = inserted.iter().step_by(3).copied().collect();
    expected.sort_unstable();
    assert_eq!(got, expected);
    let grown_mib = peak.saturating_sub(before) / 1024;
    println!(
        "RSS before {} MiB, peak after {} MiB",
        before / 1024,
        peak / 1024
    );
    assert!(
        grown_mib < 100,
        "a 100,000-key IN list grew the proxy by {grown_mib} MiB"
    );

    // A UNION over all 1,024 tables twice, which the proxy deduplicates and sorts: it keeps
    // every row, counted against proxy.merge_memory_limit (64 MiB). About 24 MB of rows
    // answer, the proxy growing by less than twice the budget...
    let union = |pad: usize| {
        format!(
            "SELECT order_id, REPEAT('a', {pad}) AS pad FROM t_order UNION SELECT order_id, REPEAT('b', {pad}) FROM t_order ORDER BY order_id, pad"
        )
    };
    let before = status_kib("VmRSS");
    let rows: Vec<(i64, String)> = conn.query(union(4000)).await.unwrap();
    let grown_mib = status_kib("VmHWM").saturating_sub(before) / 1024;
    println!("UNION of 24 MB over 2 x 1,024 tables: +{grown_mib} MiB");
    assert_eq!(rows.len(), 2 * inserted.len());
    assert!(rows[0].1.starts_with('a') && rows[1].1.starts_with('b'));
    assert!(
        grown_mib < 128,
        "a UNION of 24 MB grew the proxy by {grown_mib} MiB"
    );
    drop(rows);
    // ...and past the budget (120 MB of rows) it is refused with ER_OUT_OF_RESOURCES,
    // the proxy growing by no more.
    let before = status_kib("VmRSS");
    match conn.query_drop(union(20_000)).await {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1041, "{}", e.message);
            assert!(e.message.contains("merge_memory_limit"), "{}", e.message);
        }
        other => panic!("a UNION past the budget: {other:?}"),
    }
    let grown_mib = status_kib("VmHWM").saturating_sub(before) / 1024;
    println!("UNION of 120 MB refused: +{grown_mib} MiB");
    assert!(
        grown_mib < 128,
        "a refused UNION grew the proxy by {grown_mib} MiB"
    );
    // A join across shards (each row of every table with itself, found by key lookups in
    // batches): the proxy keeps the left rows and the joined ones, within the budget...
    let join = |pad: usize| {
        format!(
            "SELECT a.order_id, REPEAT('j', {pad}) AS pad, b.order_id AS twin FROM t_order a JOIN t_order b ON b.order_id = a.order_id + 0 ORDER BY a.order_id"
        )
    };
    let before = status_kib("VmRSS");
    let rows: Vec<(i64, String, i64)> = conn.query(join(3000)).await.unwrap();
    let grown_mib = status_kib("VmHWM").saturating_sub(before) / 1024;
    println!("join of 9 MB over 1,024 tables: +{grown_mib} MiB");
    assert_eq!(rows.len(), inserted.len());
    assert!(rows.iter().all(|(a, pad, b)| a == b && pad.len() == 3000));
    assert!(
        grown_mib < 128,
        "a join across shards grew the proxy by {grown_mib} MiB"
    );
    drop(rows);
    // ...and past it, ER_OUT_OF_RESOURCES.
    let before = status_kib("VmRSS");
    match conn.query_drop(join(30_000)).await {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1041, "{}", e.message);
            assert!(e.message.contains("merge_memory_limit"), "{}", e.message);
        }
        other => panic!("a join past the budget: {other:?}"),
    }
    let grown_mib = status_kib("VmHWM").saturating_sub(before) / 1024;
    println!("join of 90 MB refused: +{grown_mib} MiB");
    assert!(
        grown_mib < 128,
        "a refused join grew the proxy by {grown_mib} MiB"
    );
    // Window functions over every table: the proxy keeps the rows and computes the window
    // over them, within the budget...
    let window = |pad: usize| {
        format!(
            "SELECT order_id, REPEAT('w', {pad}) AS pad, ROW_NUMBER() OVER (ORDER BY order_id DESC) AS rn FROM t_order ORDER BY order_id"
        )
    };
    let before = status_kib("VmRSS");
    let rows: Vec<(i64, String, i64)> = conn.query(window(3000)).await.unwrap();
    let grown_mib = status_kib("VmHWM").saturating_sub(before) / 1024;
    println!("window function over 9 MB of 1,024 tables: +{grown_mib} MiB");
    assert_eq!(rows.len(), inserted.len());
    assert!(rows
        .iter()
        .enumerate()
        .all(|(n, (_, pad, rn))| *rn as usize == inserted.len() - n && pad.len() == 3000));
    assert!(
        grown_mib < 128,
        "window functions over shards grew the proxy by {grown_mib} MiB"
    );
    drop(rows);
    // ...and past it, ER_OUT_OF_RESOURCES.
    let before = status_kib("VmRSS");
    match conn.query_drop(window(30_000)).await {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1041, "{}", e.message);
            assert!(e.message.contains("merge_memory_limit"), "{}", e.message);
        }
        other => panic!("window functions past the budget: {other:?}"),
    }
    let grown_mib = status_kib("VmHWM").saturating_sub(before) / 1024;
    println!("window function over 90 MB refused: +{grown_mib} MiB");
    assert!(
        grown_mib < 128,
        "refused window functions grew the proxy by {grown_mib} MiB"
    );
    // The connection goes on.
    let one: Option<i64> = conn
        .query_first("SELECT user_id FROM t_order WHERE order_id = 7")
        .await
        .unwrap();
    assert_eq!(one, Some(1));
}
