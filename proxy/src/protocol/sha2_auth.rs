//! caching_sha2_password, server side, all three paths:
//! - fast auth: the scramble matches and the account is in the cache: `0x01 0x03`, then OK;
//! - full auth over TLS: `0x01 0x04`, the client sends its password in clear (inside TLS);
//! - full auth without TLS: `0x01 0x04`, the client asks for the RSA public key (`0x02`),
//!   gets it, and sends the password XOR the nonce, RSA-OAEP encrypted.
//!
//! As in MySQL, an account enters the cache after one full authentication; until then (and
//! after a restart) a correct fast-auth scramble is answered with a request for full auth.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Oaep, RsaPrivateKey};
use tokio::io::{AsyncRead, AsyncWrite};

use super::handshake::{check_sha2, constant_time_eq, HandshakeError};
use super::io::{PacketReader, PacketWriter};

const FAST_AUTH_SUCCESS: u8 = 0x03;
const PERFORM_FULL_AUTH: u8 = 0x04;
const REQUEST_PUBLIC_KEY: u8 = 0x02;

fn cache() -> &'static Mutex<HashSet<String>> {
    static CACHE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashSet::new()))
}

/// The RSA key pair, made on first use (one per process, like MySQL's auto-generated keys).
fn rsa_key() -> Option<&'static (RsaPrivateKey, String)> {
    static KEY: OnceLock<Option<(RsaPrivateKey, String)>> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, 2048).ok()?;
        let pem = key.to_public_key().to_public_key_pem(LineEnding::LF).ok()?;
        Some((key, pem))
    })
    .as_ref()
}

/// Forgets which accounts passed full authentication (tests use it to force full auth).
pub fn clear_cache() {
    cache().lock().unwrap_or_else(|p| p.into_inner()).clear();
}

fn cache_key(user: &str, password: &str) -> String {
    // Keyed by account and password: a changed password needs a new full authentication.
    use sha1::Digest;
    let digest = sha1::Sha1::digest(password.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{user}\0{hex}")
}

/// The account being checked.
pub struct Account<'a> {
    pub user: &'a str,
    pub password: &'a str,
}

pub async fn verify<R, W>(
    reader: &mut PacketReader<R>,
    writer: &mut PacketWriter<W>,
    nonce: &[u8; 20],
    account: Account<'_>,
    scramble: &[u8],
    tls_active: bool,
    buf: &mut Vec<u8>,
) -> Result<bool, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Account { user, password } = account;
    let key = cache_key(user, password);
    let cached = cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key);
    if cached || password.is_empty() {
        let ok = check_sha2(nonce, password, scramble);
        if ok {
            writer.write(&[0x01, FAST_AUTH_SUCCESS]).await?;
        }
        return Ok(ok);
    }
    writer.write(&[0x01, PERFORM_FULL_AUTH]).await?;
    writer.flush().await?;
    let seq = reader.read(buf).await?;
    writer.seq = seq.wrapping_add(1);
    let clear: Vec<u8> = if tls_active {
        buf.clone()
    } else {
        let encrypted = if buf.as_slice() == [REQUEST_PUBLIC_KEY] {
            let Some((_, pem)) = rsa_key() else {
                return Ok(false);
            };
            let mut packet = vec![0x01];
            packet.extend_from_slice(pem.as_bytes());
            writer.write(&packet).await?;
            writer.flush().await?;
            let seq = reader.read(buf).await?;
            writer.seq = seq.wrapping_add(1);
            buf.clone()
        } else {
            buf.clone()
        };
        let Some((private, _)) = rsa_key() else {
            return Ok(false);
        };
        match private.decrypt(Oaep::new::<sha1::Sha1>(), &encrypted) {
            Ok(mut plain) => {
                for (i, b) in plain.iter_mut().enumerate() {
                    *b ^= nonce[i % nonce.len()];
                }
                plain
            }
            Err(_) => return Ok(false),
        }
    };
    let given = clear.strip_suffix(&[0]).unwrap_or(&clear);
    let ok = constant_time_eq(given, password.as_bytes());
    if ok {
        cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
    }
    Ok(ok)
}
