//! A PyMySQL application (tests/python/pymysql_client.py) against shardgate: inserts, point
//! selects, SQL prepared statements with NULL parameters, UNIONs, a committed and a rolled back
//! transaction, and logins with both auth plugins, over TLS and without.

use std::path::Path;
use std::process::Command;

use shardgate_tests::clients::ensure_pymysql;
use shardgate_tests::{Cluster, PASSWORD, SHA2_TLS_USER, SHA2_USER, USER};

/// A self-signed certificate for localhost, in `dir`.
fn certificate(dir: &Path) -> (String, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_application() {
    tokio::task::block_in_place(ensure_pymysql);
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let tls = format!("proxy:\n  tls:\n    cert: {cert}\n    key: {key}\n");
    let cluster = Cluster::start_with(|yaml| yaml.push_str(&tls)).await;
    cluster.create_tables().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/pymysql_client.py");
    let port = cluster.proxy.port().to_string();
    let output = tokio::task::block_in_place(|| {
        Command::new("python3")
            .args([
                script,
                "127.0.0.1",
                &port,
                USER,
                PASSWORD,
                SHA2_USER,
                SHA2_TLS_USER,
                &cert,
            ])
            .output()
            .expect("run python3")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pymysql_client.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

/// `require_tls`: a client that does not switch to TLS is refused with MySQL's error for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_tls_refuses_plain_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let tls = format!("proxy:\n  tls:\n    cert: {cert}\n    key: {key}\n    require_tls: true\n");
    let cluster = Cluster::start_with(|yaml| yaml.push_str(&tls)).await;
    // mysql_async is built without TLS here: it cannot switch.
    let err = mysql_async::Conn::new(cluster.opts()).await.unwrap_err();
    match err {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 3159, "{}", e.message),
        other => panic!("expected ER_SECURE_TRANSPORT_REQUIRED, got {other}"),
    }
}
