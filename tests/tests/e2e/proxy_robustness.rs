//! Bad input over raw bytes: unknown commands, malformed and oversized packets, garbage
//! handshakes. Each gets its MySQL error; the proxy keeps serving everyone else. And payloads
//! of 16 MiB and more, split over several packets, both ways.

use mysql_async::prelude::Queryable;
use shardgate_tests::raw::{command, error_code, raw_login, read_packet, write_packet};
use shardgate_tests::Cluster;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn small_packets(yaml: &mut String) {
    yaml.push_str("proxy:\n  max_allowed_packet: 1048576\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_errors_and_the_proxy_keeps_serving() {
    let cluster = Cluster::start_with(small_packets).await;
    let mut bystander = cluster.client().await;
    let mut s = raw_login(&cluster).await;

    assert_eq!(
        error_code(&command(&mut s, &[0x50]).await),
        1047,
        "unknown command"
    );
    assert_eq!(command(&mut s, &[0x0E]).await[0], 0x00, "COM_PING after it");
    assert_eq!(
        error_code(&command(&mut s, &[]).await),
        1835,
        "empty packet"
    );
    assert_eq!(
        error_code(&command(&mut s, &[0x03, 0xFF, 0xFE]).await),
        1064,
        "query that is not UTF-8"
    );
    assert_eq!(
        error_code(&command(&mut s, &[0x17, 1]).await),
        1243,
        "execute of no statement"
    );
    assert_eq!(
        error_code(&command(&mut s, b"\x03SELEC garbage").await),
        1235,
        "a statement the planner cannot parse is refused"
    );
    assert_eq!(
        error_code(&command(&mut s, b"\x02nodb").await),
        1049,
        "COM_INIT_DB of an unknown schema"
    );
    assert_eq!(command(&mut s, b"\x02shop").await[0], 0x00);
    assert_eq!(command(&mut s, &[0x0E]).await[0], 0x00, "still usable");

    // Over max_allowed_packet: ER_NET_PACKET_TOO_LARGE, then the connection is closed.
    // The header alone announces it; the proxy answers before reading the payload.
    let len = 2 * 1024 * 1024u32;
    s.write_all(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, 0])
        .await
        .unwrap();
    let (answer, _) = read_packet(&mut s).await.expect("an error before closing");
    assert_eq!(error_code(&answer), 1153);
    assert!(read_packet(&mut s).await.is_none(), "connection closed");

    // A garbage handshake ends only that connection.
    let mut g = TcpStream::connect(cluster.proxy).await.unwrap();
    read_packet(&mut g).await.unwrap();
    write_packet(&mut g, b"\x01\x02garbage", 1).await;
    let answer = read_packet(&mut g).await;
    assert!(answer.is_none_or(|(p, _)| p[0] == 0xFF));

    // A client that disconnects mid-handshake, and one that sends half a header.
    let g = TcpStream::connect(cluster.proxy).await.unwrap();
    drop(g);
    let mut g = raw_login(&cluster).await;
    g.write_all(&[5, 0]).await.unwrap();
    drop(g);

    let one: Option<i64> = bystander.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    let mut fresh = cluster.client().await;
    let one: Option<i64> = fresh.query_first("SELECT 2").await.unwrap();
    assert_eq!(one, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_of_16_mib_and_more_work_both_ways() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.client().await;
    conn.query_drop("CREATE TABLE t_shop_setting (name VARCHAR(64) PRIMARY KEY, value LONGTEXT)")
        .await
        .unwrap();
    let value: String = (0..17 * 1024 * 1024 + 5)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    conn.query_drop(format!(
        "INSERT INTO t_shop_setting (name, value) VALUES ('big', '{value}')"
    ))
    .await
    .unwrap();
    let back: Option<String> = conn
        .query_first("SELECT value FROM t_shop_setting WHERE name = 'big'")
        .await
        .unwrap();
    let back = back.expect("the row");
    assert_eq!(back.len(), value.len());
    assert!(back == value);
}

/// Random packets (a seeded xorshift, so failures reproduce) on many connections: the proxy
/// never panics, and other clients keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_packets_never_panic_the_proxy() {
    static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        previous(info);
    }));
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut bystander = cluster.client().await;
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Commands that answer nothing (long data, close) or end the session are left out: the
    // point is packets the proxy must answer or refuse.
    let commands = [
        0x02u8, 0x03, 0x04, 0x09, 0x0E, 0x16, 0x17, 0x1A, 0x1B, 0x1F, 0x20, 0x50, 0xFF,
    ];
    for _ in 0..20 {
        let mut s = raw_login(&cluster).await;
        for _ in 0..50 {
            let command = commands[(next() % commands.len() as u64) as usize];
            let len = (next() % 64) as usize;
            let mut payload = vec![command];
            payload.extend((0..len).map(|_| next() as u8));
            if command == 0x03 && next() % 2 == 0 {
                // Almost-SQL, to reach the router and the session's own parsers.
                let pieces = [
                    "SELECT ",
                    "SET ",
                    "SHOW ",
                    "USE ",
                    "PREPARE ",
                    "EXECUTE ",
                    "INSERT INTO t_order ",
                    "'",
                    "(",
                    "@",
                    "?",
                    ",",
                    "/*",
                    "--",
                ];
                payload.truncate(1);
                for _ in 0..(next() % 8) {
                    payload.extend_from_slice(
                        pieces[(next() % pieces.len() as u64) as usize].as_bytes(),
                    );
                }
            }
            if tokio::io::AsyncWriteExt::write_all(&mut s, &{
                let n = payload.len() as u32;
                let mut packet = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, 0];
                packet.extend_from_slice(&payload);
                packet
            })
            .await
            .is_err()
            {
                break;
            }
        }
        drop(s);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let one: Option<i64> = bystander.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    let mut fresh = cluster.client().await;
    let row: Option<i64> = fresh.query_first("SELECT 7").await.unwrap();
    assert_eq!(row, Some(7));
    assert_eq!(
        PANICS.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the proxy panicked"
    );
}

/// COM_FIELD_LIST (the mysql CLI's completion) lists a logical table's columns under logical
/// names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_list_names_logical_tables() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut s = raw_login(&cluster).await;
    write_packet(&mut s, b"\x04t_order\0", 0).await;
    let mut columns = Vec::new();
    loop {
        let (packet, _) = read_packet(&mut s).await.expect("field list");
        if packet[0] == 0xFE {
            break;
        }
        let mut fields = Vec::new();
        let mut at = 0;
        for _ in 0..5 {
            let len = packet[at] as usize;
            fields.push(String::from_utf8_lossy(&packet[at + 1..at + 1 + len]).into_owned());
            at += 1 + len;
        }
        // catalog, schema, table, org_table, name
        assert_eq!(&fields[1..4], ["shop", "t_order", "t_order"]);
        columns.push(fields[4].clone());
    }
    assert_eq!(
        columns,
        ["order_id", "user_id", "status", "amount", "created_at"]
    );
    assert_eq!(error_code(&command(&mut s, b"\x04t_nothing\0").await), 1146);
    assert_eq!(command(&mut s, &[0x0E]).await[0], 0x00);
}

/// Deep statements are refused with a reason before anything walks their syntax trees, and
/// the proxy keeps serving (a 2,200-term OR chain used to overflow the stack and take the
/// whole proxy down with every client): text and prepared, with and without a table, in an
/// INSERT ... SELECT and a SET. A chain the planner takes still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_statements_are_refused_and_the_proxy_survives() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    let chain = |terms: usize, term: &dyn Fn(usize) -> String| {
        (0..terms).map(term).collect::<Vec<_>>().join(" OR ")
    };
    let on_table = chain(40_000, &|i| format!("order_id = {i}"));
    let without_table = chain(33_600, &|_| "1".to_string());
    let statements = [
        format!("SELECT * FROM t_order WHERE {on_table}"),
        format!("SELECT {without_table}"),
        format!("INSERT INTO t_order (order_id, user_id) SELECT order_id, user_id FROM t_order WHERE {on_table}"),
        format!("SET @x = {without_table}"),
        format!("SELECT * FROM t_order WHERE user_id = 1 AND ({})", chain(2_200, &|i| format!("status = 's{i}'"))),
    ];
    for sql in &statements {
        match conn.query_drop(sql).await {
            Err(mysql_async::Error::Server(e)) => {
                assert_eq!(e.code, 1235, "{}", e.message);
                assert!(e.message.contains("operators"), "{}", e.message);
            }
            other => panic!("{}...: expected a refusal, got {other:?}", &sql[..60]),
        }
        match conn.exec_drop(sql.as_str(), ()).await {
            Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1235, "{}", e.message),
            other => panic!(
                "prepared {}...: expected a refusal, got {other:?}",
                &sql[..60]
            ),
        }
    }
    // The proxy is alive for this client and for a new one.
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    let mut other = cluster.client().await;
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (5, 1), (6, 1)")
        .await
        .unwrap();
    // A chain within the limit is planned as usual.
    let within = chain(150, &|i| format!("order_id = {i}"));
    let rows: Vec<i64> = other
        .query(format!(
            "SELECT order_id FROM t_order WHERE {within} ORDER BY order_id"
        ))
        .await
        .unwrap();
    assert_eq!(rows, vec![5, 6]);
    let rows: Vec<i64> = other
        .exec(
            format!("SELECT order_id FROM t_order WHERE {within} ORDER BY order_id"),
            (),
        )
        .await
        .unwrap();
    assert_eq!(rows, vec![5, 6]);
}

/// Before login a client may send only what a handshake needs: one announcing a 16 MiB
/// packet in its answer to an auth switch is closed at once, before the proxy reserves
/// memory for it or waits for the bytes; the proxy serves everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_packets_before_login_are_refused() {
    let cluster = Cluster::start().await;
    let mut clients = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(cluster.proxy).await.unwrap();
        let (greeting, _) = read_packet(&mut s).await.unwrap();
        assert_eq!(greeting[0], 10, "a protocol 10 greeting");
        // A handshake response that starts with caching_sha2_password: the proxy switches
        // the client to the account's plugin.
        let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x1;
        let mut response = Vec::new();
        response.extend_from_slice(&caps.to_le_bytes());
        response.extend_from_slice(&(1u32 << 24).to_le_bytes());
        response.push(45);
        response.extend_from_slice(&[0; 23]);
        response.extend_from_slice(shardgate_tests::USER.as_bytes());
        response.push(0);
        response.push(0);
        response.extend_from_slice(b"caching_sha2_password\0");
        write_packet(&mut s, &response, 1).await;
        let (switch, _) = read_packet(&mut s).await.unwrap();
        assert_eq!(switch[0], 0xFE, "an auth switch request");
        // Announce 16 MiB, send nothing more.
        s.write_all(&[0xFF, 0xFF, 0xFF, 3]).await.unwrap();
        clients.push(s);
    }
    for mut s in clients {
        // Closed (or answered with an error, then closed) without waiting for the bytes.
        let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                match read_packet(&mut s).await {
                    None => break,
                    Some((p, _)) if p.first() == Some(&0xFF) => continue,
                    Some(other) => panic!("unexpected {other:?}"),
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the proxy waited for a 16 MiB pre-login packet"
        );
    }
    let mut conn = cluster.client().await;
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

/// The same inside TLS: after SSLRequest and the TLS handshake, a client announcing a
/// 16 MiB packet is closed at once, never waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_packets_before_login_are_refused_inside_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let tls = format!(
        "proxy:\n  tls:\n    cert: {}\n    key: {}\n",
        cert_path.display(),
        key_path.display()
    );
    let cluster = Cluster::start_with(|yaml| yaml.push_str(&tls)).await;
    let port = cluster.proxy.port().to_string();
    let out = tokio::task::block_in_place(|| {
        shardgate_tests::clients::python_script("tls_big_packet.py", &["127.0.0.1", &port])
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "closed",
        "the proxy waited for a 16 MiB packet inside TLS"
    );
    let mut conn = cluster.client().await;
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

/// COM_STMT_SEND_LONG_DATA is bounded: a parameter's pieces past max_allowed_packet are not
/// kept, and the execute fails with ER_NET_PACKET_TOO_LARGE; the connection goes on, and
/// long data within the limit still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_data_is_capped_at_max_allowed_packet() {
    let cluster = Cluster::start_with(small_packets).await;
    let mut s = raw_login(&cluster).await;
    let prepared = command(&mut s, b"\x16SELECT LENGTH(?)").await;
    assert_eq!(prepared[0], 0x00, "{prepared:?}");
    let id = prepared[1..5].to_vec();
    // The parameter and column definitions, each block ended by an EOF.
    for _ in 0..4 {
        read_packet(&mut s).await.unwrap();
    }
    let long_data = |bytes: usize| {
        let mut p = vec![0x18];
        p.extend_from_slice(&id);
        p.extend_from_slice(&0u16.to_le_bytes());
        p.extend(std::iter::repeat_n(b'x', bytes));
        p
    };
    let execute = {
        let mut p = vec![0x17];
        p.extend_from_slice(&id);
        p.extend_from_slice(&[0, 1, 0, 0, 0]);
        p.push(0); // null bitmap
        p.push(1); // types follow
        p.extend_from_slice(&[0xFE, 0]);
        p
    };
    for _ in 0..3 {
        write_packet(&mut s, &long_data(600 * 1024), 0).await;
    }
    let answer = command(&mut s, &execute).await;
    assert_eq!(
        error_code(&answer),
        1153,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The connection goes on, and long data within the limit works.
    assert_eq!(command(&mut s, &[0x0E]).await[0], 0x00);
    write_packet(&mut s, &long_data(300 * 1024), 0).await;
    write_packet(&mut s, &long_data(300 * 1024), 0).await;
    let first = command(&mut s, &execute).await;
    let result = shardgate_tests::raw::read_result(&mut s, &first).await;
    let row = &result.rows[0];
    // Binary row: header, NULL bitmap, then LENGTH()'s INT.
    let length = u32::from_le_bytes(row[2..6].try_into().unwrap());
    assert_eq!(length, 600 * 1024);
}

/// A client that does not log in within `proxy.auth_timeout_ms` is closed; one that logged
/// in stays, however long it then waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_closed_after_the_auth_timeout() {
    let cluster =
        Cluster::start_with(|yaml| yaml.push_str("proxy:\n  auth_timeout_ms: 500\n")).await;
    let mut logged_in = cluster.client().await;
    let mut silent = TcpStream::connect(cluster.proxy).await.unwrap();
    let (greeting, _) = read_packet(&mut silent).await.unwrap();
    assert_eq!(greeting[0], 10);
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), read_packet(&mut silent))
        .await
        .expect("the silent client was not closed");
    assert!(closed.is_none(), "{closed:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let one: Option<i64> = logged_in.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

/// Past `proxy.max_client_connections` a new client gets ER_CON_COUNT_ERROR at once, in
/// place of the greeting; when a client leaves, a new one is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_past_the_limit_are_refused_at_once() {
    let cluster =
        Cluster::start_with(|yaml| yaml.push_str("proxy:\n  max_client_connections: 3\n")).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(cluster.client().await);
    }
    let refused = mysql_async::Conn::new(cluster.opts()).await;
    match refused {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1040, "{}", e.message),
        other => panic!("expected ER_CON_COUNT_ERROR, got {:?}", other.map(|_| ())),
    }
    // Byte level: the error is the first packet.
    let mut s = TcpStream::connect(cluster.proxy).await.unwrap();
    let (first, seq) = read_packet(&mut s).await.unwrap();
    assert_eq!((error_code(&first), seq), (1040, 0));
    assert!(
        read_packet(&mut s).await.is_none(),
        "closed after the error"
    );
    // One leaves: a new client is served.
    held.pop().unwrap().disconnect().await.unwrap();
    let mut served = None;
    for _ in 0..50 {
        if let Ok(conn) = mysql_async::Conn::new(cluster.opts()).await {
            served = Some(conn);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut conn = served.expect("a client is served once another left");
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    for mut conn in held {
        let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
    }
}
