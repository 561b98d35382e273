//! The MySQL protocol by hand, for tests that check the bytes a client gets: packets read
//! and written on a raw socket, and a login with mysql_native_password.

use mysql_common::auth::plugins::mysql_native_password::scramble_native;
use mysql_common::io::ParseBuf;
use mysql_common::packets::HandshakePacket;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Cluster, PASSWORD, USER};

pub async fn read_packet(s: &mut TcpStream) -> Option<(Vec<u8>, u8)> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).await.ok()?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.ok()?;
    Some((payload, header[3]))
}

pub async fn write_packet(s: &mut TcpStream, payload: &[u8], seq: u8) {
    let len = payload.len() as u32;
    s.write_all(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, seq])
        .await
        .unwrap();
    s.write_all(payload).await.unwrap();
}

/// Logs in to the cluster's proxy by hand with mysql_native_password, as the test account,
/// database `shop`.
pub async fn raw_login(cluster: &Cluster) -> TcpStream {
    raw_login_to(cluster.proxy, USER, PASSWORD, "shop").await
}

/// Logs in to `addr` by hand with mysql_native_password, without CLIENT_DEPRECATE_EOF.
pub async fn raw_login_to(
    addr: std::net::SocketAddr,
    user: &str,
    password: &str,
    database: &str,
) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (greeting, _) = read_packet(&mut s).await.unwrap();
    let handshake: HandshakePacket<'_> = ParseBuf(&greeting).parse(()).unwrap();
    // An empty password answers with no scramble at all.
    let scramble: Vec<u8> = scramble_native(&handshake.nonce(), password.as_bytes())
        .map(|s| s.to_vec())
        .unwrap_or_default();
    // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD | CONNECT_WITH_DB
    let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x1 | 0x8;
    let mut response = Vec::new();
    response.extend_from_slice(&caps.to_le_bytes());
    response.extend_from_slice(&(1u32 << 24).to_le_bytes());
    response.push(45);
    response.extend_from_slice(&[0; 23]);
    response.extend_from_slice(user.as_bytes());
    response.push(0);
    response.push(scramble.len() as u8);
    response.extend_from_slice(&scramble);
    response.extend_from_slice(database.as_bytes());
    response.extend_from_slice(b"\0mysql_native_password\0");
    write_packet(&mut s, &response, 1).await;
    let (ok, _) = read_packet(&mut s).await.unwrap();
    assert_eq!(ok[0], 0x00, "login OK");
    s
}

/// Sends one command and returns the first answer packet.
pub async fn command(s: &mut TcpStream, payload: &[u8]) -> Vec<u8> {
    write_packet(s, payload, 0).await;
    read_packet(s).await.expect("an answer").0
}

pub fn error_code(packet: &[u8]) -> u16 {
    assert_eq!(packet[0], 0xFF, "expected an ERR packet, got {packet:?}");
    u16::from_le_bytes([packet[1], packet[2]])
}

/// A text or binary result set as packets: column definitions, then rows (the EOF packets
/// around them left out).
#[derive(Debug)]
pub struct RawResult {
    pub columns: Vec<Vec<u8>>,
    pub rows: Vec<Vec<u8>>,
    /// The EOF after the definitions and the one after the rows.
    pub eofs: Vec<Vec<u8>>,
}

/// Reads a result set whose column count packet is `first` (the session did not ask for
/// CLIENT_DEPRECATE_EOF, so EOF packets follow the definitions and the rows).
pub async fn read_result(s: &mut TcpStream, first: &[u8]) -> RawResult {
    assert!(
        first[0] != 0xFF && first[0] != 0x00,
        "expected a result set, got {first:?}"
    );
    let count = usize::from(first[0]);
    let mut columns = Vec::new();
    for _ in 0..count {
        columns.push(read_packet(s).await.expect("column definition").0);
    }
    let (eof, _) = read_packet(s).await.expect("EOF after the definitions");
    assert_eq!(eof[0], 0xFE, "EOF after the column definitions");
    let mut eofs = vec![eof];
    let mut rows = Vec::new();
    loop {
        let (packet, _) = read_packet(s).await.expect("row or EOF");
        if packet[0] == 0xFE && packet.len() < 9 {
            eofs.push(packet);
            break;
        }
        assert_ne!(packet[0], 0xFF, "error in a result: {packet:?}");
        rows.push(packet);
    }
    RawResult {
        columns,
        rows,
        eofs,
    }
}

/// COM_QUERY and its text result set.
pub async fn text_query(s: &mut TcpStream, sql: &str) -> RawResult {
    let mut payload = vec![0x03];
    payload.extend_from_slice(sql.as_bytes());
    let first = command(s, &payload).await;
    read_result(s, &first).await
}

/// COM_STMT_PREPARE, COM_STMT_EXECUTE (no parameters) and COM_STMT_CLOSE: the PREPARE_OK
/// packet and the binary result set.
pub async fn binary_query(s: &mut TcpStream, sql: &str) -> (Vec<u8>, RawResult) {
    let mut payload = vec![0x16];
    payload.extend_from_slice(sql.as_bytes());
    let prepared = command(s, &payload).await;
    assert_eq!(prepared[0], 0x00, "PREPARE_OK for {sql}: {prepared:?}");
    let columns = usize::from(u16::from_le_bytes([prepared[5], prepared[6]]));
    let params = usize::from(u16::from_le_bytes([prepared[7], prepared[8]]));
    for block in [params, columns] {
        if block > 0 {
            for _ in 0..block {
                read_packet(s).await.expect("definition");
            }
            let (eof, _) = read_packet(s).await.expect("EOF");
            assert_eq!(eof[0], 0xFE);
        }
    }
    let mut execute = vec![0x17];
    execute.extend_from_slice(&prepared[1..5]);
    execute.extend_from_slice(&[0, 1, 0, 0, 0]);
    let first = command(s, &execute).await;
    let result = read_result(s, &first).await;
    let mut close = vec![0x19];
    close.extend_from_slice(&prepared[1..5]);
    write_packet(s, &close, 0).await;
    (prepared, result)
}

/// The fields of a column definition that describe the value (name, original name,
/// character set, length, type, flags, decimals): what a client decodes rows by. The
/// schema and table fields are left out (physical names are renamed to logical ones).
pub fn column_shape(definition: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut at = 0;
    let mut strings = Vec::new();
    for _ in 0..6 {
        let len = usize::from(definition[at]);
        assert!(len < 251, "short names only");
        strings.push(definition[at + 1..at + 1 + len].to_vec());
        at += 1 + len;
    }
    (
        strings[4].clone(),
        strings[5].clone(),
        definition[at..].to_vec(),
    )
}
