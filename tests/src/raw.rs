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

/// Logs in by hand with mysql_native_password.
pub async fn raw_login(cluster: &Cluster) -> TcpStream {
    let mut s = TcpStream::connect(cluster.proxy).await.unwrap();
    let (greeting, _) = read_packet(&mut s).await.unwrap();
    let handshake: HandshakePacket<'_> = ParseBuf(&greeting).parse(()).unwrap();
    let scramble = scramble_native(&handshake.nonce(), PASSWORD.as_bytes()).unwrap();
    // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD | CONNECT_WITH_DB
    let caps: u32 = 0x200 | 0x8000 | 0x8_0000 | 0x1 | 0x8;
    let mut response = Vec::new();
    response.extend_from_slice(&caps.to_le_bytes());
    response.extend_from_slice(&(1u32 << 24).to_le_bytes());
    response.push(45);
    response.extend_from_slice(&[0; 23]);
    response.extend_from_slice(USER.as_bytes());
    response.push(0);
    response.push(scramble.len() as u8);
    response.extend_from_slice(&scramble);
    response.extend_from_slice(b"shop\0mysql_native_password\0");
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
