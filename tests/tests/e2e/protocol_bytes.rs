//! The bytes a client gets, checked against the bytes MariaDB itself sends for the same
//! statement on one unsharded table: column definitions, text and binary rows of every MySQL
//! type (relayed from one shard, merged in order over many, and computed by the merge), OK,
//! ERR, EOF and PREPARE_OK packets. Clients tolerate malformed packets differently; equal
//! bytes leave them nothing to tolerate.

use mysql_async::prelude::Queryable;
use shardgate_tests::raw::{
    binary_query, column_shape, command, raw_login, raw_login_to, read_packet, text_query,
    RawResult,
};
use shardgate_tests::{create_both, Cluster};
use tokio::net::TcpStream;

const TABLE: &str =
    "(order_id BIGINT NOT NULL PRIMARY KEY, c_tiny TINYINT, c_utiny TINYINT UNSIGNED, \
    c_small SMALLINT, c_medium MEDIUMINT, c_int INT, c_uint INT UNSIGNED, c_big BIGINT, \
    c_ubig BIGINT UNSIGNED, c_float FLOAT, c_double DOUBLE, c_dec DECIMAL(20,6), c_date DATE, \
    c_time TIME(3), c_datetime DATETIME(6), c_stamp TIMESTAMP NULL, c_year YEAR, c_char CHAR(5), \
    c_varchar VARCHAR(20), c_binary VARBINARY(10), c_blob BLOB, c_text TEXT, \
    c_enum ENUM('a','b'), c_set SET('x','y'), c_bit BIT(10), c_json JSON) \
    DEFAULT CHARSET = utf8mb4";

const COLUMNS: &str =
    "order_id, c_tiny, c_utiny, c_small, c_medium, c_int, c_uint, c_big, c_ubig, \
    c_float, c_double, c_dec, c_date, c_time, c_datetime, c_stamp, c_year, c_char, c_varchar, \
    c_binary, c_blob, c_text, c_enum, c_set, c_bit, c_json";

const ROWS: [&str; 4] = [
    "(1, -128, 255, -32768, -8388608, -2147483648, 4294967295, -9223372036854775808, \
     18446744073709551615, 1.5, -2.25e-10, -12345678901234.123456, '2024-02-29', \
     '-838:59:59.000', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15', 2024, 'ab', \
     'hello', X'00ff', X'010203', 'text', 'b', 'x,y', b'1010101010', '{\"a\": 1}')",
    "(2, 127, 0, 32767, 8388607, 2147483647, 0, 9223372036854775807, 0, -3.25, 1e300, \
     0.000001, '1000-01-01', '00:00:00.5', '1000-01-01 00:00:00', '1970-01-02 00:00:00', 1901, \
     '', 'ünïcödé 😀', X'', X'', '', 'a', '', b'0', '[]')",
    "(33, 0, 7, 0, 0, 0, 7, 0, 7, 0, 0, 0, '9999-12-31', '838:59:59.999', \
     '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', 2155, 'zzzzz', 'z', X'7f', X'ff', \
     'z', 'b', 'y', b'1111111111', 'null')",
    "(1057, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
];

/// A raw session on the proxy and one on the reference server (backend 0, database
/// `reference`).
async fn sessions(cluster: &Cluster) -> (TcpStream, TcpStream) {
    let proxy = raw_login(cluster).await;
    let reference = raw_login_to(
        cluster.servers[0].address().parse().unwrap(),
        "root",
        "",
        "reference",
    )
    .await;
    (proxy, reference)
}

/// Column flags a table gives (keys, defaults, AUTO_INCREMENT, ON UPDATE): a result merged
/// from per-server `UNION ALL` statements names no table, as UNION's results do, so it
/// carries none of them, and UNION widens TEXT and BLOB lengths (the README says so).
const TABLE_FLAGS: u16 = 0x0002 | 0x0004 | 0x0008 | 0x0200 | 0x1000 | 0x2000 | 0x4000;

fn shape_without_table_flags(definition: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (name, original, mut fixed) = column_shape(definition);
    // Fixed part: 0x0c, charset(2), length(4), type(1), flags(2), decimals(1), filler(2).
    let flags = u16::from_le_bytes([fixed[8], fixed[9]]) & !TABLE_FLAGS;
    fixed[8..10].copy_from_slice(&flags.to_le_bytes());
    if fixed[7] == 0xFC {
        fixed[3..7].fill(0);
    }
    (name, original, fixed)
}

fn assert_same_result(sql: &str, got: &RawResult, expected: &RawResult, merged: bool) {
    assert_eq!(got.rows, expected.rows, "rows of {sql}");
    assert_eq!(got.columns.len(), expected.columns.len(), "{sql}");
    for (g, e) in got.columns.iter().zip(&expected.columns) {
        if merged {
            assert_eq!(
                shape_without_table_flags(g),
                shape_without_table_flags(e),
                "a column definition of {sql}"
            );
        } else {
            assert_eq!(
                column_shape(g),
                column_shape(e),
                "a column definition of {sql}"
            );
        }
    }
    if merged {
        // The merge's own EOF packets do not carry the shards' advisory
        // SERVER_QUERY_NO_INDEX_USED / NO_GOOD_INDEX_USED bits.
        let advisory = |eofs: &[Vec<u8>]| -> Vec<Vec<u8>> {
            eofs.iter()
                .map(|e| {
                    let mut e = e.clone();
                    e[3] &= !0x30;
                    e
                })
                .collect()
        };
        assert_eq!(
            advisory(&got.eofs),
            advisory(&expected.eofs),
            "EOFs of {sql}"
        );
    } else {
        assert_eq!(got.eofs, expected.eofs, "EOF packets of {sql}");
    }
}

/// The same statement as text and as a prepared statement, through the proxy and on the
/// reference table.
async fn compare(proxy: &mut TcpStream, reference: &mut TcpStream, sql: &str, merged: bool) {
    let got = text_query(proxy, sql).await;
    let expected = text_query(reference, sql).await;
    assert_same_result(sql, &got, &expected, merged);
    let (got_ok, got) = binary_query(proxy, sql).await;
    let (expected_ok, expected) = binary_query(reference, sql).await;
    // PREPARE_OK: all but the statement id.
    assert_eq!(got_ok[5..], expected_ok[5..], "PREPARE_OK of {sql}");
    assert_same_result(&format!("prepared {sql}"), &got, &expected, merged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_equal_mariadbs_for_every_type() {
    let cluster = Cluster::start().await;
    let (mut reference_conn, mut proxy_conn) = create_both(&cluster, &[("t_order", TABLE)]).await;
    for row in ROWS {
        reference_conn
            .query_drop(format!(
                "INSERT INTO reference.t_order ({COLUMNS}) VALUES {row}"
            ))
            .await
            .unwrap();
        proxy_conn
            .query_drop(format!("INSERT INTO t_order ({COLUMNS}) VALUES {row}"))
            .await
            .unwrap();
    }
    let (mut proxy, mut reference) = sessions(&cluster).await;

    // One shard: relayed as the backend sent it, names mapped back.
    for key in [1, 2, 33, 1057] {
        let sql = format!("SELECT * FROM t_order WHERE order_id = {key}");
        compare(&mut proxy, &mut reference, &sql, false).await;
    }
    // Many shards merged in order, and every column computed by the merge (MIN and MAX are
    // decoded, compared and encoded again).
    compare(
        &mut proxy,
        &mut reference,
        "SELECT * FROM t_order ORDER BY order_id",
        true,
    )
    .await;
    // Without FLOAT and DOUBLE, a prepared read over several tables runs as text and its
    // rows are re-encoded: every other type's binary row equals MariaDB's.
    let exact: Vec<&str> = COLUMNS
        .split(", ")
        .map(str::trim)
        .filter(|c| !matches!(*c, "c_float" | "c_double"))
        .collect();
    compare(
        &mut proxy,
        &mut reference,
        &format!("SELECT {} FROM t_order ORDER BY order_id", exact.join(", ")),
        true,
    )
    .await;
    let columns: Vec<&str> = COLUMNS.split(", ").map(str::trim).skip(1).collect();
    for column in columns.iter().filter(|c| **c != "c_bit") {
        let sql = format!("SELECT MIN({column}), MAX({column}), COUNT({column}) FROM t_order");
        compare(&mut proxy, &mut reference, &sql, true).await;
    }
    compare(
        &mut proxy,
        &mut reference,
        "SELECT c_enum, COUNT(*), SUM(c_int), AVG(c_dec), SUM(c_ubig), MAX(c_date) FROM t_order GROUP BY c_enum",
        true,
    )
    .await;

    // MIN of a BIT column is a number alone and a BIT in a UNION: the shards' answers
    // differ in type, and the merge refuses them rather than mix them.
    // The refusal may come after the column definitions went out: the result then ends
    // with the ERR packet, as a server's does when a query fails midway.
    let mut packet = command(&mut proxy, b"\x03SELECT MIN(c_bit) FROM t_order").await;
    while packet[0] != 0xFF {
        packet = read_packet(&mut proxy)
            .await
            .expect("the rest of the answer")
            .0;
    }
    assert_eq!(packet[..3], [0xFF, 0xD3, 0x04], "{packet:?}");
    let on_one = "SELECT MIN(c_bit), MAX(c_bit) FROM t_order WHERE order_id = 1";
    compare(&mut proxy, &mut reference, on_one, false).await;

    // OK packets: one row on one shard, relayed.
    let insert = "INSERT INTO t_order (order_id, c_int) VALUES (4242, 1)";
    let got = command(&mut proxy, &[b"\x03", insert.as_bytes()].concat()).await;
    let expected = command(&mut reference, &[b"\x03", insert.as_bytes()].concat()).await;
    assert_eq!(got, expected, "OK of {insert}");
    // Over several shards: summed, with MariaDB's info text.
    let update = "UPDATE t_order SET c_varchar = 'updated' WHERE order_id IN (1, 2, 33, 4242, 7)";
    let mut got = command(&mut proxy, &[b"\x03", update.as_bytes()].concat()).await;
    let mut expected = command(&mut reference, &[b"\x03", update.as_bytes()].concat()).await;
    // Status flags (bytes 3-4 here): the advisory NO_INDEX_USED bits are one server's.
    got[3] &= !0x30;
    expected[3] &= !0x30;
    assert_eq!(got, expected, "OK of {update}");

    // ERR: a backend's error is relayed as it is.
    let bad = "SELECT no_such_column FROM t_order WHERE order_id = 1";
    let got = command(&mut proxy, &[b"\x03", bad.as_bytes()].concat()).await;
    let expected = command(&mut reference, &[b"\x03", bad.as_bytes()].concat()).await;
    assert_eq!(got, expected, "ERR of {bad}");
    // shardgate's own: header, code, '#', SQLSTATE, message.
    let refused = command(&mut proxy, b"\x03SELECT * FROM mysql.user").await;
    assert_eq!(
        refused[..9],
        [0xFF, 0xD3, 0x04, b'#', b'4', b'2', b'0', b'0', b'0']
    );
    assert!(refused[9..].starts_with(b"shardgate"), "{refused:?}");
}
