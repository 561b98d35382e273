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

/// An IN list of 100,000 keys on the sharding key answers exactly, with the proxy growing by
/// less than 100 MB: each physical statement carries only its own keys (it used to carry
/// all of them, to every one of the 1,024 tables: 1.47 GB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_000_key_in_list_stays_small() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
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
    // The connection goes on.
    let one: Option<i64> = conn
        .query_first("SELECT user_id FROM t_order WHERE order_id = 7")
        .await
        .unwrap();
    assert_eq!(one, Some(1));
}
