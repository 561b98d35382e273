//! Client passwords given in MySQL's stored forms, so that the config file need not hold
//! them in plain text:
//! - mysql_native_password: `*` and 40 hex digits, SHA1(SHA1(password)) (`SELECT PASSWORD(..)`);
//! - caching_sha2_password: `$A$` + 3 hex digits (rounds / 1000) + `$` + a 20-byte salt + 43
//!   characters of SHA-256 crypt, as MySQL 8 keeps it in `mysql.user.authentication_string`.
//!   Its salt is raw bytes, so it may also be given as MySQL prints it with
//!   `print_identified_with_as_hex`: `0x` and the hex of the whole string.

use crate::raw::AuthPlugin;

/// What an account's configured password is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredPassword<'a> {
    Plain(&'a str),
    /// SHA1(SHA1(password)).
    Native([u8; 20]),
    Sha2(Sha2Stored),
}

/// caching_sha2_password's stored form, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha2Stored {
    /// SHA-256 crypt rounds (the stored digit count times 1,000).
    pub rounds: u32,
    pub salt: [u8; SHA2_SALT_LEN],
    /// The crypt digest in crypt's base-64 alphabet.
    pub digest: [u8; SHA2_DIGEST_LEN],
}

pub const SHA2_SALT_LEN: usize = 20;
pub const SHA2_DIGEST_LEN: usize = 43;
const SHA2_PREFIX_LEN: usize = 7; // `$A$005$`
const CRYPT_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl<'a> StoredPassword<'a> {
    /// Reads a configured password. A text that starts like a stored form but is not a
    /// valid one is an error (a typo must not silently become a plain-text password).
    pub fn parse(text: &'a str) -> Result<Self, String> {
        if text.starts_with('*') && text.len() == 41 {
            return parse_native(text)
                .map(StoredPassword::Native)
                .ok_or_else(|| {
                    "`*` and 40 hex digits expected (a mysql_native_password stored form)".into()
                });
        }
        let bytes = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => match decode_hex(hex) {
                Some(bytes) if bytes.starts_with(b"$A$") => bytes,
                _ => return Ok(StoredPassword::Plain(text)),
            },
            None => text.as_bytes().to_vec(),
        };
        if !bytes.starts_with(b"$A$") {
            return Ok(StoredPassword::Plain(text));
        }
        parse_sha2(&bytes).map(StoredPassword::Sha2)
    }
}

fn parse_sha2(bytes: &[u8]) -> Result<Sha2Stored, String> {
    let expected = SHA2_PREFIX_LEN + SHA2_SALT_LEN + SHA2_DIGEST_LEN;
    if bytes.len() != expected {
        return Err(format!(
            "a caching_sha2_password stored form is {expected} bytes (`$A$005$`, a 20-byte salt, 43 digest characters), this one is {}",
            bytes.len()
        ));
    }
    let digits = std::str::from_utf8(&bytes[3..6])
        .ok()
        .and_then(|d| u32::from_str_radix(d, 16).ok())
        .filter(|d| *d >= 5)
        .ok_or("the rounds of a caching_sha2_password stored form are 3 hex digits from 005 up")?;
    if bytes[6] != b'$' {
        return Err("`$` expected after the rounds of a caching_sha2_password stored form".into());
    }
    let mut salt = [0u8; SHA2_SALT_LEN];
    salt.copy_from_slice(&bytes[SHA2_PREFIX_LEN..SHA2_PREFIX_LEN + SHA2_SALT_LEN]);
    let mut digest = [0u8; SHA2_DIGEST_LEN];
    digest.copy_from_slice(&bytes[SHA2_PREFIX_LEN + SHA2_SALT_LEN..]);
    if !digest.iter().all(|c| CRYPT_ALPHABET.contains(c)) {
        return Err("the digest of a caching_sha2_password stored form has a character outside crypt's alphabet".into());
    }
    Ok(Sha2Stored {
        rounds: digits * 1000,
        salt,
        digest,
    })
}

fn parse_native(text: &str) -> Option<[u8; 20]> {
    let hex = text.strip_prefix('*')?;
    let bytes = decode_hex(hex)?;
    bytes.try_into().ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Why an account's password cannot be used as given: a malformed stored form, or a stored
/// form for a plugin that cannot check it.
pub(crate) fn stored_password_problem(user: &crate::raw::RawUser) -> Option<String> {
    let stored = match StoredPassword::parse(&user.password) {
        Ok(stored) => stored,
        Err(why) => return Some(why),
    };
    match (user.auth_plugin, stored) {
        (AuthPlugin::MysqlNativePassword, StoredPassword::Sha2(_)) => Some(
            "a caching_sha2_password stored form for a mysql_native_password account".into(),
        ),
        (AuthPlugin::CachingSha2Password, StoredPassword::Native(_)) => Some(
            "a mysql_native_password stored form (`*...`) for a caching_sha2_password account; give its password, or make it a mysql_native_password account".into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_told_apart() {
        assert_eq!(
            StoredPassword::parse("app"),
            Ok(StoredPassword::Plain("app"))
        );
        assert_eq!(
            StoredPassword::parse("0xzz"),
            Ok(StoredPassword::Plain("0xzz"))
        );
        assert!(matches!(
            StoredPassword::parse("*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3"),
            Ok(StoredPassword::Native(_))
        ));
        assert!(StoredPassword::parse("*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563DZ").is_err());
        let text = "$A$005$abcdefghijklmnopqrst0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg";
        let Ok(StoredPassword::Sha2(stored)) = StoredPassword::parse(text) else {
            panic!("not read as a sha2 form");
        };
        assert_eq!(stored.rounds, 5000);
        assert_eq!(&stored.salt, b"abcdefghijklmnopqrst");
        let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
        assert_eq!(
            StoredPassword::parse(&format!("0x{hex}")),
            Ok(StoredPassword::Sha2(stored))
        );
        for bad in [
            "$A$005$short",
            "$A$0G5$abcdefghijklmnopqrst0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
            "$A$004$abcdefghijklmnopqrst0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
            "$A$005$abcdefghijklmnopqrst0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcde!",
        ] {
            assert!(StoredPassword::parse(bad).is_err(), "{bad}");
        }
    }
}
