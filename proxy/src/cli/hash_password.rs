//! `shardgate hash-password`: a client password's stored form for the config, so that the
//! config file need not hold it in plain text. The password is read from standard input
//! (one line), never from the command line, where other users of the machine see it.

use std::io::{BufRead, Write};

use anyhow::{bail, Context};
use shardgate_config::AuthPlugin;

use crate::protocol::sha256_crypt::sha256_crypt;

/// MySQL 8's default for caching_sha2_password (`005`: 5 x 1,000 rounds).
const SHA2_ROUNDS_DIGITS: u32 = 5;
const SALT_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn run(
    plugin: AuthPlugin,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("no password on standard input (an account without a password is configured with password: \"\")");
    }
    let stored = match plugin {
        AuthPlugin::MysqlNativePassword => native(password.as_bytes()),
        AuthPlugin::CachingSha2Password => sha2(password.as_bytes())?,
    };
    writeln!(out, "{stored}")?;
    Ok(())
}

fn native(password: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let hash = Sha1::digest(Sha1::digest(password));
    let hex: String = hash.iter().map(|b| format!("{b:02X}")).collect();
    format!("*{hex}")
}

/// `$A$005$`, a salt drawn from crypt's alphabet (MySQL's may hold any 7-bit byte; these
/// ones can be pasted into YAML as they are), the digest.
fn sha2(password: &[u8]) -> anyhow::Result<String> {
    let mut random = [0u8; 20];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness for a salt: {e}"))?;
    let salt: Vec<u8> = random
        .iter()
        .map(|b| SALT_ALPHABET[usize::from(*b) % SALT_ALPHABET.len()])
        .collect();
    let digest = sha256_crypt(password, &salt, SHA2_ROUNDS_DIGITS * 1000);
    Ok(format!(
        "$A${SHA2_ROUNDS_DIGITS:03X}${}{}",
        String::from_utf8_lossy(&salt),
        String::from_utf8_lossy(&digest)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_config::StoredPassword;

    fn hashed(plugin: AuthPlugin, input: &str) -> anyhow::Result<String> {
        let mut out = Vec::new();
        run(plugin, &mut input.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out)?.trim_end().to_string())
    }

    #[test]
    fn stored_forms_check_their_password() {
        assert_eq!(
            hashed(AuthPlugin::MysqlNativePassword, "app\n").unwrap(),
            "*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3"
        );
        let first = hashed(AuthPlugin::CachingSha2Password, "app\r\n").unwrap();
        let Ok(StoredPassword::Sha2(stored)) = StoredPassword::parse(&first) else {
            panic!("{first} is not a caching_sha2_password stored form");
        };
        assert!(crate::protocol::sha256_crypt::matches(b"app", &stored));
        assert!(!crate::protocol::sha256_crypt::matches(b"app ", &stored));
        // A fresh salt each time.
        assert_ne!(
            first,
            hashed(AuthPlugin::CachingSha2Password, "app").unwrap()
        );
        assert!(hashed(AuthPlugin::CachingSha2Password, "\n").is_err());
    }
}
