//! Server side of the connection phase: the v10 handshake, then authentication with
//! mysql_native_password or caching_sha2_password (fast auth: shardgate keeps the account's
//! password, so it can check the scramble directly), with an auth switch when the client
//! starts with another plugin.

use mysql_common::auth::plugins::caching_sha2_password::scramble_sha256;
use mysql_common::auth::plugins::mysql_native_password::scramble_native;
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthPlugin, HandshakePacket, HandshakeResponse};
use mysql_common::proto::MySerialize;
use shardgate_config::{AuthPlugin as ConfigPlugin, StoredPassword, User};
use tokio::io::{AsyncRead, AsyncWrite};

use super::codes;
use super::io::{PacketError, PacketReader, PacketWriter};
use super::wire::{ErrInfo, OkInfo};

/// The version string clients see in the greeting (`shardgate_router::server_version`).
pub const SERVER_VERSION: &str = shardgate_router::GREETING_VERSION;

/// utf8mb4_general_ci.
pub const DEFAULT_COLLATION: u8 = 45;

pub fn server_capabilities() -> CapabilityFlags {
    CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_FOUND_ROWS
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_CONNECT_ATTRS
        | CapabilityFlags::CLIENT_DEPRECATE_EOF
}

/// Who logged in, and how they want to talk.
#[derive(Debug, Clone)]
pub struct ClientHello {
    pub user: String,
    pub database: Option<String>,
    pub capabilities: CapabilityFlags,
    pub collation: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("{0}")]
    Packet(#[from] PacketError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Refused: the error was sent to the client.
    #[error("refused: {}", .0.message)]
    Refused(ErrInfo),
}

pub fn random_nonce() -> [u8; 20] {
    let mut nonce = [0u8; 20];
    // A zero byte would end the nonce early in the handshake packet. If the system RNG fails
    // the nonce stays predictable but nonzero; that cannot happen on Linux after boot.
    let _ = getrandom::fill(&mut nonce);
    for b in &mut nonce {
        *b = (*b % 94) + 33;
    }
    nonce
}

/// Sends the server greeting; returns the nonce the client must scramble with.
pub async fn send_greeting<W: AsyncWrite + Unpin>(
    writer: &mut PacketWriter<W>,
    connection_id: u32,
    tls_available: bool,
) -> std::io::Result<[u8; 20]> {
    let nonce = random_nonce();
    let mut scramble_2 = nonce[8..].to_vec();
    scramble_2.push(0);
    let mut caps = server_capabilities();
    if tls_available {
        caps |= CapabilityFlags::CLIENT_SSL;
    }
    let handshake = HandshakePacket::new(
        10,
        SERVER_VERSION.as_bytes(),
        connection_id,
        nonce[..8].try_into().unwrap_or([1; 8]),
        Some(scramble_2),
        caps,
        DEFAULT_COLLATION,
        StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        Some(&b"mysql_native_password"[..]),
    );
    let mut out = Vec::with_capacity(128);
    handshake.serialize(&mut out);
    writer.seq = 0;
    writer.write(&out).await?;
    writer.flush().await?;
    Ok(nonce)
}

/// Whether the client's first answer is an SSLRequest (the short form of the handshake
/// response: capabilities with CLIENT_SSL, max packet, collation, filler).
pub fn is_ssl_request(payload: &[u8]) -> bool {
    payload.len() == 32
        && payload
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .is_some_and(|caps| caps & CapabilityFlags::CLIENT_SSL.bits() != 0)
}

/// Checks the client's handshake response (`response`, read with sequence id `seq`) and
/// finishes the connection phase: the OK is sent on success, the error on refusal.
#[allow(clippy::too_many_arguments)]
pub async fn authenticate<R, W>(
    reader: &mut PacketReader<R>,
    writer: &mut PacketWriter<W>,
    nonce: &[u8; 20],
    response: &[u8],
    seq: u8,
    users: &[User],
    schema: &str,
    tls_active: bool,
) -> Result<ClientHello, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    writer.seq = seq.wrapping_add(1);
    let parsed: HandshakeResponse<'_> = match ParseBuf(response).parse(()) {
        Ok(r) => r,
        Err(_) => return Err(refuse(writer, codes::ER_HANDSHAKE_ERROR, "Bad handshake").await),
    };
    let mut capabilities = parsed.capabilities() & server_capabilities();
    if tls_active {
        capabilities |= CapabilityFlags::CLIENT_SSL;
    }
    if !capabilities.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
        return Err(refuse(
            writer,
            codes::ER_HANDSHAKE_ERROR,
            "shardgate needs a client that speaks protocol 4.1",
        )
        .await);
    }
    let user_name = String::from_utf8_lossy(parsed.user()).into_owned();
    let database = parsed
        .db_name()
        .filter(|d| !d.is_empty())
        .map(|d| String::from_utf8_lossy(d).into_owned());
    let collation = parsed.collation();
    let plugin = parsed.auth_plugin().cloned().map(|p| p.into_owned());
    let scramble = parsed.scramble_buf().to_vec();
    let mut buf = Vec::with_capacity(256);

    // An unknown user is checked as an account of the default plugin with a password
    // nothing matches: the exchange (auth switch included) and the error are those of a
    // known user with a wrong password, so user names cannot be probed.
    let phantom = User {
        name: user_name.clone(),
        password: random_nonce()
            .iter()
            .map(|b| char::from(b'a' + b % 26))
            .collect(),
        auth_plugin: ConfigPlugin::MysqlNativePassword,
        role: shardgate_config::Role::App,
    };
    let known = users.iter().find(|u| u.name == user_name);
    let user = known.unwrap_or(&phantom);
    let verified = {
        let client_matches = match user.auth_plugin {
            ConfigPlugin::MysqlNativePassword => {
                matches!(plugin, None | Some(AuthPlugin::MysqlNativePassword))
            }
            ConfigPlugin::CachingSha2Password => {
                matches!(plugin, Some(AuthPlugin::CachingSha2Password))
            }
        };
        let response = if client_matches {
            scramble.clone()
        } else {
            // The client started with another plugin: switch it to the account's.
            writer
                .write(&auth_switch_request(user.auth_plugin, nonce))
                .await?;
            writer.flush().await?;
            let seq = reader.read(&mut buf).await?;
            writer.seq = seq.wrapping_add(1);
            buf.clone()
        };
        match user.auth_plugin {
            ConfigPlugin::MysqlNativePassword => check_native_account(nonce, user, &response),
            ConfigPlugin::CachingSha2Password => {
                let stored = user.stored_password();
                let secret = match &stored {
                    StoredPassword::Sha2(stored) => super::sha2_auth::Secret::Stored(stored),
                    _ => super::sha2_auth::Secret::Plain(&user.password),
                };
                let account = super::sha2_auth::Account {
                    user: &user.name,
                    secret,
                };
                super::sha2_auth::verify(
                    reader, writer, nonce, account, &response, tls_active, &mut buf,
                )
                .await?
            }
        }
    };
    if !verified || known.is_none() {
        let message = format!(
            "Access denied for user '{user_name}'@'shardgate' (using password: {})",
            if scramble.is_empty() { "NO" } else { "YES" }
        );
        return Err(refuse(writer, codes::ER_ACCESS_DENIED_ERROR, &message).await);
    }
    if let Some(db) = &database {
        if !db.eq_ignore_ascii_case(schema) {
            return Err(refuse(
                writer,
                codes::ER_BAD_DB_ERROR,
                &format!("Unknown database '{db}'"),
            )
            .await);
        }
    }
    let ok = OkInfo {
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits(),
        ..Default::default()
    };
    writer.ok(&ok).await?;
    writer.flush().await?;
    Ok(ClientHello {
        user: user_name,
        database,
        capabilities,
        collation,
    })
}

/// An AuthSwitchRequest to `plugin` with `nonce`.
pub fn auth_switch_request(plugin: ConfigPlugin, nonce: &[u8; 20]) -> Vec<u8> {
    let name: &[u8] = match plugin {
        ConfigPlugin::MysqlNativePassword => b"mysql_native_password",
        ConfigPlugin::CachingSha2Password => b"caching_sha2_password",
    };
    let mut switch = vec![0xFE];
    switch.extend_from_slice(name);
    switch.push(0);
    switch.extend_from_slice(nonce);
    switch.push(0);
    switch
}

/// mysql_native_password: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))); an empty
/// password sends nothing.
pub fn check_native(nonce: &[u8], password: &str, scramble: &[u8]) -> bool {
    if password.is_empty() {
        return scramble.is_empty();
    }
    scramble_native(nonce, password.as_bytes()).is_some_and(|s| constant_time_eq(&s, scramble))
}

/// A mysql_native_password scramble against an account's password, given in plain text or
/// in its stored form.
pub fn check_native_account(nonce: &[u8], user: &User, scramble: &[u8]) -> bool {
    match user.native_stored_hash() {
        Some(stored) => check_native_stored(nonce, &stored, scramble),
        None => check_native(nonce, &user.password, scramble),
    }
}

/// mysql_native_password against the stored SHA1(SHA1(password)): the scramble is
/// SHA1(password) XOR SHA1(nonce, stored), so XOR gives SHA1(password) back, whose SHA1 must
/// be the stored hash (how MySQL checks it).
pub fn check_native_stored(nonce: &[u8], stored: &[u8; 20], scramble: &[u8]) -> bool {
    use sha1::{Digest, Sha1};
    if scramble.len() != 20 {
        return false;
    }
    let mask = Sha1::new()
        .chain_update(&nonce[..nonce.len().min(20)])
        .chain_update(stored)
        .finalize();
    unmasked_hash_matches::<Sha1>(scramble, &mask, stored)
}

/// A scramble of the form H(password) XOR `mask`, against the stored H(H(password)): the
/// XOR gives H(password) back, whose hash must be the stored one. mysql_native_password
/// (SHA-1) and caching_sha2_password's fast path (SHA-256) both check this way.
pub(crate) fn unmasked_hash_matches<D: sha1::Digest>(
    scramble: &[u8],
    mask: &[u8],
    stored: &[u8],
) -> bool {
    if scramble.len() != mask.len() {
        return false;
    }
    let single: Vec<u8> = scramble.iter().zip(mask).map(|(s, m)| s ^ m).collect();
    constant_time_eq(&D::digest(&single), stored)
}

pub(crate) fn check_sha2(nonce: &[u8; 20], password: &str, scramble: &[u8]) -> bool {
    if password.is_empty() {
        return scramble.is_empty() || scramble == [0];
    }
    scramble_sha256(nonce, password.as_bytes()).is_some_and(|s| constant_time_eq(&s, scramble))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) async fn refuse<W: AsyncWrite + Unpin>(
    writer: &mut PacketWriter<W>,
    code: (u16, &str),
    message: &str,
) -> HandshakeError {
    let err = ErrInfo::new(code.0, code.1, message);
    let _ = writer.error(&err).await;
    let _ = writer.flush().await;
    HandshakeError::Refused(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_passwords_check_in_plain_text_and_in_their_stored_form() {
        let nonce = random_nonce();
        let scramble = scramble_native(&nonce, b"secret").unwrap();
        let account = |password: &str| User {
            name: "a".into(),
            password: password.into(),
            auth_plugin: ConfigPlugin::MysqlNativePassword,
            role: shardgate_config::Role::App,
        };
        // SELECT PASSWORD('secret'), as MySQL stores it.
        let stored = account("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
        assert!(check_native_account(&nonce, &stored, &scramble));
        assert!(check_native_account(&nonce, &account("secret"), &scramble));
        let wrong = scramble_native(&nonce, b"Secret").unwrap();
        assert!(!check_native_account(&nonce, &stored, &wrong));
        assert!(!check_native_account(&nonce, &stored, &scramble[..19]));
        assert!(!check_native_account(&nonce, &stored, &[]));
        // Lower-case hex is read the same.
        let lower = account("*14e65567abdb5135d0cfd9a70b3032c179a49ee7");
        assert!(check_native_account(&nonce, &lower, &scramble));
    }
}
