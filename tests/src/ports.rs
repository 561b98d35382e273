//! What tests that run `shardgate` as its own process need around it: a free port to give
//! it, and its metrics as Prometheus serves them.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A port nothing listens on now (the system's pick).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The exposition text at `http://127.0.0.1:{port}/metrics`, checked to be a 200 answer.
pub async fn scrape_metrics(port: u16) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the metrics listener");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("read the answer");
    let text = String::from_utf8(response).expect("UTF-8 exposition");
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body.to_string()
}
