//! The connection phase: the greeting, TLS when the client asks, and authentication,
//! bounded in time (`proxy.auth_timeout_ms`) and in packet size before login, then the
//! command loop.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

use super::{Session, SessionError};
use crate::protocol::codes;
use crate::protocol::handshake::{self, ClientHello, HandshakeError};
use crate::protocol::io::{PacketError, PacketReader, PacketWriter};
use crate::server::ProxyContext;

impl Session<tokio::net::tcp::OwnedReadHalf, tokio::net::tcp::OwnedWriteHalf> {
    /// Runs the connection phase (switching to TLS when the client asks), then the command
    /// loop, until the client quits or the connection fails.
    pub async fn start(ctx: Arc<ProxyContext>, mut stream: TcpStream) -> Result<(), SessionError> {
        let connection_id = ctx.next_connection_id();
        // `USER()` answers `user@host` as MySQL does: the client's address, `localhost` for
        // loopback.
        let peer_ip = stream
            .peer_addr()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let client_host = if peer_ip.is_loopback() {
            "localhost".to_string()
        } else {
            peer_ip.to_string()
        };
        let settings = ctx.rules().topology.proxy.clone();
        let max_packet = settings.max_allowed_packet;
        // Logging in, TLS included, must end by then: a client that stays silent is closed.
        let deadline = tokio::time::Instant::now() + settings.auth_timeout;
        let mut greeting = PacketWriter::new(&mut stream);
        let nonce = within(
            deadline,
            handshake::send_greeting(&mut greeting, connection_id, ctx.tls.is_some()),
        )
        .await?;
        // The first answer is read unbuffered: after an SSLRequest the TLS handshake follows
        // on the same socket, and no TLS byte may be swallowed by a buffer.
        let (first, seq) = within(deadline, read_unbuffered(&mut stream)).await?;
        if handshake::is_ssl_request(&first) {
            let Some(acceptor) = ctx.tls.clone() else {
                return Err(SessionError::Tls(
                    "client asked for TLS, which is not configured".into(),
                ));
            };
            let tls = within(deadline, async {
                acceptor
                    .accept(stream)
                    .await
                    .map_err(|e| SessionError::Tls(e.to_string()))
            })
            .await?;
            let (r, w) = tokio::io::split(tls);
            let mut reader = PacketReader::new(r, PRE_AUTH_MAX_PACKET);
            let mut writer = PacketWriter::new(w);
            let mut buf = Vec::new();
            let seq = within(deadline, reader.read(&mut buf)).await?;
            let hello = within(
                deadline,
                authenticate(
                    &ctx,
                    peer_ip,
                    &mut reader,
                    &mut writer,
                    &nonce,
                    &buf,
                    seq,
                    true,
                ),
            )
            .await?;
            reader.set_max_payload(max_packet);
            let mut session = Session::new(ctx, reader, writer, connection_id, hello);
            session.state.identity.client_host = client_host;
            return session.run().await;
        }
        let (r, w) = stream.into_split();
        let mut reader = PacketReader::new(r, PRE_AUTH_MAX_PACKET);
        let mut writer = PacketWriter::new(w);
        if settings.tls.as_ref().is_some_and(|t| t.require_tls) {
            writer.seq = seq.wrapping_add(1);
            let err = handshake::refuse(&mut writer, codes::ER_SECURE_TRANSPORT_REQUIRED, "Connections using insecure transport are prohibited while --require_secure_transport=ON.").await;
            return Err(err.into());
        }
        let hello = within(
            deadline,
            authenticate(
                &ctx,
                peer_ip,
                &mut reader,
                &mut writer,
                &nonce,
                &first,
                seq,
                false,
            ),
        )
        .await?;
        reader.set_max_payload(max_packet);
        let mut session = Session::new(ctx, reader, writer, connection_id, hello);
        session.state.identity.client_host = client_host;
        session.run().await
    }
}

/// Checks the client's credentials, after the wait its address has earned by failing
/// before (see [`crate::login_throttle`]).
#[allow(clippy::too_many_arguments)]
async fn authenticate<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    ctx: &ProxyContext,
    peer_ip: std::net::IpAddr,
    reader: &mut PacketReader<R>,
    writer: &mut PacketWriter<W>,
    nonce: &[u8; 20],
    response: &[u8],
    seq: u8,
    tls: bool,
) -> Result<ClientHello, HandshakeError> {
    let delay = ctx.login_throttle.delay(peer_ip);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let rules = ctx.rules();
    let t = &rules.topology;
    let result = handshake::authenticate(
        reader, writer, nonce, response, seq, &t.users, &t.schema, tls,
    )
    .await;
    match &result {
        Ok(_) => ctx.login_throttle.succeeded(peer_ip),
        Err(HandshakeError::Refused(e)) if e.code == codes::ER_ACCESS_DENIED_ERROR.0 => {
            ctx.login_throttle.failed(peer_ip)
        }
        Err(_) => {}
    }
    result
}

/// Runs a step of the connection phase if it ends before `deadline`.
async fn within<T, E: Into<SessionError>>(
    deadline: tokio::time::Instant,
    step: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SessionError> {
    match tokio::time::timeout_at(deadline, step).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(SessionError::AuthTimeout),
    }
}

/// The largest packet a client may send before it has logged in: a handshake response, an
/// auth switch answer or a TLS request need a few KiB; a client announcing more is refused
/// before the proxy reserves memory for it.
const PRE_AUTH_MAX_PACKET: usize = 64 * 1024;

/// Reads one packet straight from the socket, without read-ahead.
async fn read_unbuffered(stream: &mut TcpStream) -> Result<(Vec<u8>, u8), SessionError> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len > PRE_AUTH_MAX_PACKET {
        return Err(SessionError::Packet(PacketError::TooLarge {
            size: len,
            max: PRE_AUTH_MAX_PACKET,
        }));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok((payload, header[3]))
}
