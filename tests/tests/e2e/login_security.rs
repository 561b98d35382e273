//! Logging in cannot be used to probe user names, and guessing passwords costs time.

use std::time::{Duration, Instant};

use mysql_common::io::ParseBuf;
use mysql_common::packets::HandshakePacket;
use shardgate_tests::raw::{read_packet, write_packet};
use shardgate_tests::{Cluster, HASHED_USER, PASSWORD, USER};
use tokio::net::TcpStream;

/// A login as `user` starting with `plugin` and a wrong password: the first byte of each
/// packet the proxy sends after the greeting, and the error it ends with (code, message).
async fn wrong_login(
    addr: std::net::SocketAddr,
    user: &str,
    plugin: &str,
) -> (Vec<u8>, u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (greeting, _) = read_packet(&mut s).await.unwrap();
    let _: HandshakePacket<'_> = ParseBuf(&greeting).parse(()).unwrap();
    // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD
    let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x1;
    let mut response = Vec::new();
    response.extend_from_slice(&caps.to_le_bytes());
    response.extend_from_slice(&(1u32 << 24).to_le_bytes());
    response.push(45);
    response.extend_from_slice(&[0; 23]);
    response.extend_from_slice(user.as_bytes());
    response.push(0);
    response.push(20);
    response.extend_from_slice(&[7; 20]);
    response.extend_from_slice(plugin.as_bytes());
    response.push(0);
    write_packet(&mut s, &response, 1).await;
    let mut kinds = Vec::new();
    loop {
        let (packet, seq) = read_packet(&mut s).await.expect("an answer");
        kinds.push(packet[0]);
        match packet[0] {
            0xFF => {
                let code = u16::from_le_bytes([packet[1], packet[2]]);
                let message = String::from_utf8_lossy(&packet[9..]).into_owned();
                return (kinds, code, message);
            }
            // An auth switch (or more data): answer with another wrong scramble.
            0xFE | 0x01 => write_packet(&mut s, &[9; 20], seq.wrapping_add(1)).await,
            other => panic!("unexpected packet {other:#x}"),
        }
    }
}

/// An unknown user goes through the same exchange as a known user with a wrong password
/// (an auth switch when the client starts with another plugin) and gets the same error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_look_like_wrong_passwords() {
    let cluster = Cluster::start().await;
    for plugin in ["caching_sha2_password", "mysql_native_password"] {
        let known = wrong_login(cluster.proxy, USER, plugin).await;
        let unknown = wrong_login(cluster.proxy, "nobody_here", plugin).await;
        assert_eq!(known.0, unknown.0, "{plugin}: the exchanges differ");
        assert_eq!((known.1, unknown.1), (1045, 1045));
        assert_eq!(
            known.2.replace(USER, "X"),
            unknown.2.replace("nobody_here", "X"),
            "{plugin}"
        );
    }
}

/// Past three failures from one address, each attempt waits a second more before it is
/// answered; a correct login (after its wait) clears the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_slow_down_their_address() {
    let cluster = Cluster::start().await;
    let plugin = "mysql_native_password";
    for _ in 0..3 {
        let started = Instant::now();
        let (_, code, _) = wrong_login(cluster.proxy, USER, plugin).await;
        assert_eq!(code, 1045);
        assert!(started.elapsed() < Duration::from_millis(900));
    }
    let started = Instant::now();
    let (_, code, _) = wrong_login(cluster.proxy, USER, plugin).await;
    assert_eq!(code, 1045);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "the fourth failure was answered after {:?}",
        started.elapsed()
    );
    // Four failures: the next attempt waits two seconds, then the right password works.
    let started = Instant::now();
    let mut conn = cluster.client().await;
    assert!(started.elapsed() >= Duration::from_millis(2000));
    use mysql_async::prelude::Queryable;
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    let started = Instant::now();
    let (_, code, _) = wrong_login(cluster.proxy, USER, plugin).await;
    assert_eq!(code, 1045);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the count was not cleared"
    );
}

/// An account whose password the config holds only as mysql_native_password's stored form
/// (`*` + SHA1(SHA1(password))) logs in with the password, through mysql_async and the
/// mariadb CLI, and not with another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_password_forms_log_in() {
    use mysql_async::prelude::Queryable;
    let cluster = Cluster::start().await;
    let opts = |password: &str| {
        cluster
            .opts()
            .user(Some(HASHED_USER))
            .pass(Some(password.to_string()))
    };
    let mut conn = mysql_async::Conn::new(opts(PASSWORD)).await.unwrap();
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    match mysql_async::Conn::new(opts("*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3")).await {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1045),
        other => panic!("the stored form itself logged in: {other:?}"),
    }
    let out = shardgate_tests::clients::mariadb_cli(
        cluster.proxy.port(),
        "SELECT CURRENT_USER()",
        &[&format!("-u{HASHED_USER}")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(HASHED_USER));
}

/// A caching_sha2_password account whose password the config holds only as MySQL 8's stored
/// form (`$A$005$` + salt + SHA-256 crypt): the first login is a full authentication (the
/// password comes RSA-encrypted and is checked against the stored form), later ones take
/// the fast path; a wrong password and the stored form itself are refused, before and after.
/// Through mysql_async, PyMySQL and the mariadb CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha2_stored_form_logs_in() {
    use mysql_async::prelude::Queryable;
    use shardgate_tests::{SHA2_HASHED_USER, SHA2_STORED_FORM};
    let cluster = Cluster::start().await;
    let opts = |password: &str| {
        cluster
            .opts()
            .user(Some(SHA2_HASHED_USER))
            .pass(Some(password.to_string()))
    };
    let refused = |result: Result<mysql_async::Conn, mysql_async::Error>, what: &str| match result {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1045, "{what}: {}", e.message),
        other => panic!("{what} logged in: {other:?}"),
    };
    shardgate_proxy::protocol::sha2_auth::clear_cache();
    refused(
        mysql_async::Conn::new(opts("wrong")).await,
        "a wrong password",
    );
    let port = cluster.proxy.port().to_string();
    // PyMySQL's is the first successful login: a full authentication through the RSA key.
    let login = |password: &str| {
        let out = tokio::task::block_in_place(|| {
            shardgate_tests::clients::python_script(
                "login.py",
                &["127.0.0.1", &port, SHA2_HASHED_USER, password],
            )
        });
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(login(PASSWORD), format!("user={SHA2_HASHED_USER}@%"));
    // Now cached: mysql_async logs in by the fast path.
    for _ in 0..2 {
        let mut conn = mysql_async::Conn::new(opts(PASSWORD)).await.unwrap();
        let me: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.unwrap();
        assert_eq!(
            me.as_deref(),
            Some(format!("{SHA2_HASHED_USER}@%").as_str())
        );
        conn.disconnect().await.unwrap();
    }
    refused(
        mysql_async::Conn::new(opts(SHA2_STORED_FORM)).await,
        "the stored form",
    );
    let out = shardgate_tests::clients::mariadb_cli(
        cluster.proxy.port(),
        "SELECT CURRENT_USER()",
        &[&format!("-u{SHA2_HASHED_USER}")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(SHA2_HASHED_USER));
    // A full authentication again (cache cleared) through mysql_async's RSA exchange.
    shardgate_proxy::protocol::sha2_auth::clear_cache();
    let mut conn = mysql_async::Conn::new(opts(PASSWORD)).await.unwrap();
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}
