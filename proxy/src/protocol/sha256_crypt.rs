//! SHA-256 crypt (Ulrich Drepper's "Unix crypt using SHA-256"), as MySQL 8 computes
//! caching_sha2_password's stored form. MySQL keeps the whole 20-byte salt, where the
//! POSIX `$5$` form cuts salts at 16 bytes, so crates for `$5$` hashes do not give MySQL's
//! digest.

use sha2::{Digest, Sha256};

use shardgate_config::Sha2Stored;

use super::handshake::constant_time_eq;

const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether `password` is the one `stored` was made from.
pub fn matches(password: &[u8], stored: &Sha2Stored) -> bool {
    let digest = sha256_crypt(password, &stored.salt, stored.rounds);
    constant_time_eq(&digest, &stored.digest)
}

/// The 43-character digest of `password` with `salt` over `rounds` rounds.
pub fn sha256_crypt(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 43] {
    encode(&raw_digest(password, salt, rounds))
}

fn raw_digest(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 32] {
    let alternate = Sha256::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut first = Sha256::new().chain_update(password).chain_update(salt);
    first.update(repeat_to(&alternate, password.len()));
    let mut length = password.len();
    while length > 0 {
        if length & 1 == 1 {
            first.update(alternate);
        } else {
            first.update(password);
        }
        length >>= 1;
    }
    let mut current: [u8; 32] = first.finalize().into();

    let mut password_digest = Sha256::new();
    for _ in 0..password.len() {
        password_digest.update(password);
    }
    let p_bytes = repeat_to(&password_digest.finalize(), password.len());

    let mut salt_digest = Sha256::new();
    for _ in 0..16 + usize::from(current[0]) {
        salt_digest.update(salt);
    }
    let s_bytes = repeat_to(&salt_digest.finalize(), salt.len());

    for round in 0..rounds {
        let mut step = Sha256::new();
        if round % 2 == 1 {
            step.update(&p_bytes);
        } else {
            step.update(current);
        }
        if round % 3 != 0 {
            step.update(&s_bytes);
        }
        if round % 7 != 0 {
            step.update(&p_bytes);
        }
        if round % 2 == 1 {
            step.update(current);
        } else {
            step.update(&p_bytes);
        }
        current = step.finalize().into();
    }
    current
}

/// `block` repeated and cut to `len` bytes.
fn repeat_to(block: &[u8], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

/// Crypt's base-64: bytes taken three at a time in a fixed permutation, least significant
/// six bits first.
fn encode(d: &[u8; 32]) -> [u8; 43] {
    const GROUPS: [(usize, usize, usize); 10] = [
        (0, 10, 20),
        (21, 1, 11),
        (12, 22, 2),
        (3, 13, 23),
        (24, 4, 14),
        (15, 25, 5),
        (6, 16, 26),
        (27, 7, 17),
        (18, 28, 8),
        (9, 19, 29),
    ];
    let mut out = [0u8; 43];
    let mut at = 0;
    let mut put = |word: u32, chars: usize| {
        let mut word = word;
        for _ in 0..chars {
            out[at] = ALPHABET[(word & 0x3f) as usize];
            word >>= 6;
            at += 1;
        }
    };
    for (a, b, c) in GROUPS {
        put(
            (u32::from(d[a]) << 16) | (u32::from(d[b]) << 8) | u32::from(d[c]),
            4,
        );
    }
    put((u32::from(d[31]) << 8) | u32::from(d[30]), 3);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// Published MySQL 8 hashes (hashcat's example for mode 7401, and a `password` one),
    /// in hashcat's layout: rounds, salt hex, digest hex.
    #[test]
    fn mysql_stored_forms_are_reproduced() {
        for (password, salt, digest) in [
            (
                "hashcat",
                "F9CC98CE08892924F50A213B6BC571A2C11778C5",
                "625479393559393965414D45316477456B484F41316E64484742577A2E3162785353526B7554584647562F",
            ),
            (
                "password",
                "06437A150142644D74187A6A2F0D7971094F2575",
                "48667A67485366745A304F6A487A73704250663465337A7530325157687A51364A384D737554424939702E",
            ),
        ] {
            let got = sha256_crypt(password.as_bytes(), &unhex(salt), 5000);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&unhex(digest)),
                "{password}"
            );
        }
    }

    /// Drepper's own test vector (a salt within the POSIX 16 bytes, 10,000 rounds).
    #[test]
    fn the_specification_vector_is_reproduced() {
        let got = sha256_crypt(b"Hello world!", b"saltstringsaltst", 10_000);
        assert_eq!(&got, b"3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA");
    }
}
