//! Typed sharding algorithms.
//!
//! Typed rather than expression strings: ShardingSphere's Groovy `id / 32` silently became a
//! BigDecimal division. Here `div_mod` is integer division, always.
//!
//! Integer keys use Euclidean division and remainder, so a negative key still lands on a shard
//! in `0..N`: `-1 mod 32 = 31`, and `div_mod(32, 32)` of `-1` is `(-1).div_euclid(32) = -1`,
//! `rem_euclid 32 = 31`. MySQL's own `%` would give -1, which names no shard.

/// A sharding-column value, as the router found it in a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardKey<'a> {
    /// An integer literal or parameter (covers BIGINT and BIGINT UNSIGNED).
    Int(i128),
    /// A string literal or parameter.
    Str(&'a str),
}

/// How one dimension (database or table) picks its index from a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Algorithm {
    /// `key mod modulus`.
    Mod { modulus: u64 },
    /// `(key div divisor) mod modulus`.
    DivMod { divisor: u64, modulus: u64 },
    /// `crc32(key as text) mod modulus`: CRC-32/ISO-HDLC (the zlib and MySQL `CRC32()` one) of
    /// the key's UTF-8 bytes, integers hashed as their decimal text. Stable across versions and
    /// checkable in SQL: `CRC32(key) % N`.
    HashMod { modulus: u64 },
    /// Shard i holds keys in `[boundaries[i-1], boundaries[i])`; the first shard everything
    /// below `boundaries[0]`, the last everything from the last boundary up.
    Range { boundaries: Vec<i64> },
}

impl Algorithm {
    /// How many shards (databases or tables) this algorithm spreads keys over.
    pub fn shard_count(&self) -> usize {
        match self {
            Algorithm::Mod { modulus }
            | Algorithm::DivMod { modulus, .. }
            | Algorithm::HashMod { modulus } => *modulus as usize,
            Algorithm::Range { boundaries } => boundaries.len() + 1,
        }
    }

    /// The shard holding `key`, or `None` when the key's type cannot be routed by this
    /// algorithm exactly (a non-integer string for an integer algorithm): the caller must then
    /// consider every shard, or refuse.
    pub fn shard_of(&self, key: ShardKey<'_>) -> Option<usize> {
        match (self, key) {
            (Algorithm::HashMod { modulus }, ShardKey::Int(v)) => {
                Some(hash_text(v.to_string().as_bytes(), *modulus))
            }
            (Algorithm::HashMod { modulus }, ShardKey::Str(s)) => {
                Some(hash_text(s.as_bytes(), *modulus))
            }
            (_, ShardKey::Int(v)) => Some(self.int_shard(v)),
            (_, ShardKey::Str(s)) => s.trim().parse::<i128>().ok().map(|v| self.int_shard(v)),
        }
    }

    fn int_shard(&self, v: i128) -> usize {
        match self {
            Algorithm::Mod { modulus } => v.rem_euclid(*modulus as i128) as usize,
            Algorithm::DivMod { divisor, modulus } => {
                v.div_euclid(*divisor as i128).rem_euclid(*modulus as i128) as usize
            }
            Algorithm::Range { boundaries } => boundaries.partition_point(|b| (*b as i128) <= v),
            Algorithm::HashMod { modulus } => hash_text(v.to_string().as_bytes(), *modulus),
        }
    }

    /// The shards that integer keys in `lo..=hi` can land on (`None` = unbounded), sorted.
    /// A range at least as wide as the modulus hits every shard.
    pub fn shards_in_range(&self, lo: Option<i128>, hi: Option<i128>) -> Vec<usize> {
        let all = || (0..self.shard_count()).collect::<Vec<_>>();
        let (lo, hi) = match (lo, hi) {
            (Some(lo), Some(hi)) if lo > hi => return Vec::new(),
            (Some(lo), Some(hi)) => (lo, hi),
            _ => {
                return match self {
                    Algorithm::Range { boundaries } => {
                        let first = lo.map_or(0, |l| self.int_shard(l));
                        let last = hi.map_or(boundaries.len(), |h| self.int_shard(h));
                        (first..=last).collect()
                    }
                    _ => all(),
                }
            }
        };
        let (first, last, modulus) = match self {
            Algorithm::Mod { modulus } => (lo, hi, *modulus as i128),
            Algorithm::DivMod { divisor, modulus } => (
                lo.div_euclid(*divisor as i128),
                hi.div_euclid(*divisor as i128),
                *modulus as i128,
            ),
            Algorithm::Range { .. } => {
                return (self.int_shard(lo)..=self.int_shard(hi)).collect();
            }
            Algorithm::HashMod { .. } => {
                if hi - lo < 64 {
                    let mut shards: Vec<usize> = (lo..=hi).map(|v| self.int_shard(v)).collect();
                    shards.sort_unstable();
                    shards.dedup();
                    return shards;
                }
                return all();
            }
        };
        if last - first + 1 >= modulus {
            return all();
        }
        let mut shards: Vec<usize> = (first..=last)
            .map(|q| q.rem_euclid(modulus) as usize)
            .collect();
        shards.sort_unstable();
        shards.dedup();
        shards
    }
}

fn hash_text(bytes: &[u8], modulus: u64) -> usize {
    (u64::from(crc32fast::hash(bytes)) % modulus) as usize
}

/// As the config writes it: `mod 32`, `div_mod 32 32`, `hash_mod 32`, `range 10,20`.
impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Algorithm::Mod { modulus } => write!(f, "mod {modulus}"),
            Algorithm::DivMod { divisor, modulus } => write!(f, "div_mod {divisor} {modulus}"),
            Algorithm::HashMod { modulus } => write!(f, "hash_mod {modulus}"),
            Algorithm::Range { boundaries } => {
                let list: Vec<String> = boundaries.iter().map(i64::to_string).collect();
                write!(f, "range {}", list.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: Algorithm = Algorithm::Mod { modulus: 32 };
    const TABLE: Algorithm = Algorithm::DivMod {
        divisor: 32,
        modulus: 32,
    };

    #[test]
    fn reference_key() {
        assert_eq!(DB.shard_of(ShardKey::Int(4242)), Some(18));
        assert_eq!(TABLE.shard_of(ShardKey::Int(4242)), Some(4));
        assert_eq!(DB.shard_of(ShardKey::Str("4242")), Some(18));
        assert_eq!(DB.shard_of(ShardKey::Str("abc")), None);
    }

    #[test]
    fn negative_keys_are_euclidean() {
        assert_eq!(DB.shard_of(ShardKey::Int(-1)), Some(31));
        assert_eq!(TABLE.shard_of(ShardKey::Int(-1)), Some(31));
        assert_eq!(TABLE.shard_of(ShardKey::Int(-33)), Some(30));
    }

    #[test]
    fn hash_mod_matches_mysql_crc32() {
        // SELECT CRC32('alice') % 16 = 663665735 % 16 = 7 in MySQL and MariaDB.
        let alg = Algorithm::HashMod { modulus: 16 };
        assert_eq!(crc32fast::hash(b"alice"), 663_665_735);
        assert_eq!(alg.shard_of(ShardKey::Str("alice")), Some(7));
        assert_eq!(
            alg.shard_of(ShardKey::Int(7)),
            alg.shard_of(ShardKey::Str("7"))
        );
    }

    #[test]
    fn range_boundaries() {
        let alg = Algorithm::Range {
            boundaries: vec![100, 200],
        };
        assert_eq!(alg.shard_count(), 3);
        assert_eq!(alg.shard_of(ShardKey::Int(-5)), Some(0));
        assert_eq!(alg.shard_of(ShardKey::Int(100)), Some(1));
        assert_eq!(alg.shard_of(ShardKey::Int(199)), Some(1));
        assert_eq!(alg.shard_of(ShardKey::Int(200)), Some(2));
        assert_eq!(alg.shards_in_range(Some(150), Some(250)), vec![1, 2]);
        assert_eq!(alg.shards_in_range(None, Some(50)), vec![0]);
        assert_eq!(alg.shards_in_range(Some(150), None), vec![1, 2]);
    }

    #[test]
    fn narrow_ranges_prune() {
        assert_eq!(DB.shards_in_range(Some(30), Some(33)), vec![0, 1, 30, 31]);
        assert_eq!(DB.shards_in_range(Some(0), Some(31)).len(), 32);
        assert_eq!(TABLE.shards_in_range(Some(0), Some(63)), vec![0, 1]);
        assert_eq!(TABLE.shards_in_range(Some(5), Some(4)), Vec::<usize>::new());
        assert_eq!(DB.shards_in_range(None, Some(4)).len(), 32);
    }
}
