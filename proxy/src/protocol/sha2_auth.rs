//! caching_sha2_password, server side, all three paths:
//! - fast auth: the scramble matches and the account is in the cache: `0x01 0x03`, then OK;
//! - full auth over TLS: `0x01 0x04`, the client sends its password in clear (inside TLS);
//! - full auth without TLS: `0x01 0x04`, the client asks for the RSA public key (`0x02`),
//!   gets it, and sends the password XOR the nonce, RSA-OAEP encrypted.
//!
//! As in MySQL, an account enters the cache after one full authentication; until then (and
//! after a restart) a correct fast-auth scramble is answered with a request for full auth.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Oaep, RsaPrivateKey};
use tokio::io::{AsyncRead, AsyncWrite};

use shardgate_config::Sha2Stored;

use super::handshake::{check_sha2, constant_time_eq, HandshakeError};
use super::io::{PacketReader, PacketWriter};

const FAST_AUTH_SUCCESS: u8 = 0x03;
const PERFORM_FULL_AUTH: u8 = 0x04;
const REQUEST_PUBLIC_KEY: u8 = 0x02;

/// Accounts that passed one full authentication: their key (see [`cache_key`]) and
/// SHA256(SHA256(password)), which checks a fast-auth scramble.
fn cache() -> &'static Mutex<HashMap<String, [u8; 32]>> {
    static CACHE: OnceLock<Mutex<HashMap<String, [u8; 32]>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
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

/// Keyed by account and configured secret: a changed password needs a new full
/// authentication.
fn cache_key(user: &str, secret: &Secret<'_>) -> String {
    use sha1::Digest;
    let configured: &[u8] = match secret {
        Secret::Plain(password) => password.as_bytes(),
        Secret::Stored(stored) => &stored.digest,
    };
    let digest = sha1::Sha1::digest(configured);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{user}\0{hex}")
}

/// What the config holds for a caching_sha2_password account.
pub enum Secret<'a> {
    Plain(&'a str),
    /// MySQL's stored form: the password is learnt (as SHA256(SHA256(password))) only from
    /// a full authentication.
    Stored(&'a Sha2Stored),
}

impl Secret<'_> {
    /// Whether a password given in clear (full authentication) is this one.
    fn admits(&self, given: &[u8]) -> bool {
        match self {
            Secret::Plain(password) => constant_time_eq(given, password.as_bytes()),
            Secret::Stored(stored) => super::sha256_crypt::matches(given, stored),
        }
    }
}

/// The account being checked.
pub struct Account<'a> {
    pub user: &'a str,
    pub secret: Secret<'a>,
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
    let Account { user, secret } = account;
    if let Secret::Plain("") = secret {
        return Ok(check_sha2(nonce, "", scramble));
    }
    let key = cache_key(user, &secret);
    let cached = cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .copied();
    if let Some(double_hash) = cached {
        let ok = check_sha2_stored(nonce, &double_hash, scramble);
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
    let ok = secret.admits(given);
    if ok {
        cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, double_sha256(given));
    }
    Ok(ok)
}

fn double_sha256(password: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(Sha256::digest(password)).into()
}

/// A fast-auth scramble against SHA256(SHA256(password)): the scramble is SHA256(password)
/// XOR SHA256(double hash, nonce), so XOR gives SHA256(password) back, whose SHA256 must be
/// the double hash (how MySQL checks it against its cache).
fn check_sha2_stored(nonce: &[u8; 20], double_hash: &[u8; 32], scramble: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    if scramble.len() != 32 {
        return false;
    }
    let mask = Sha256::new()
        .chain_update(double_hash)
        .chain_update(nonce)
        .finalize();
    super::handshake::unmasked_hash_matches::<Sha256>(scramble, &mask, double_hash)
}
