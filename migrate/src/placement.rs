//! Check's placement pass: every target row must sit in the physical table its key routes
//! to. Bucket checksums add up rows over all the tables of a side, so a row in the wrong
//! table (left by a start with another routing, or a bug) looks the same as one in the
//! right table; this pass asks each target table, in SQL, for the keys that do not route to
//! it. The routing functions are written in SQL exactly as the config computes them.

use mysql_async::prelude::Queryable;
use shardgate_config::{Algorithm, TableKind};

use crate::plan::Side;
use crate::MigrateError;

/// Keys reported per table at most: enough to act on, and a bounded answer.
const KEYS_PER_TABLE: usize = 100;

/// The shard index `algorithm` gives the integer column `key`, as SQL.
pub(crate) fn shard_sql(algorithm: &Algorithm, key: &str) -> String {
    let k = format!("`{key}`");
    match algorithm {
        // Euclidean remainder, as the config computes it for negative keys.
        Algorithm::Mod { modulus } => format!("MOD(MOD({k}, {modulus}) + {modulus}, {modulus})"),
        Algorithm::DivMod { divisor, modulus } => {
            format!("MOD(MOD(FLOOR({k} / {divisor}), {modulus}) + {modulus}, {modulus})")
        }
        Algorithm::HashMod { modulus } => format!("MOD(CRC32(CAST({k} AS CHAR)), {modulus})"),
        Algorithm::Range { boundaries } if boundaries.is_empty() => "0".into(),
        // The number of boundaries at or below the key.
        Algorithm::Range { boundaries } => boundaries
            .iter()
            .map(|b| format!("({k} >= {b})"))
            .collect::<Vec<_>>()
            .join(" + "),
    }
}

/// Keys found in a target table their key does not route to (at most
/// [`KEYS_PER_TABLE`] per table).
pub async fn misplaced_keys(
    side: &Side,
    pools: &[mysql_async::Pool],
    key: &str,
) -> Result<Vec<i64>, MigrateError> {
    let TableKind::Sharded(layout) = &side.topology.tables[side.table].kind else {
        // One physical table: every row is where it belongs.
        return Ok(Vec::new());
    };
    let database = shard_sql(&layout.database_algorithm, key);
    let table = shard_sql(&layout.table_algorithm, key);
    let per_database = layout.tables.len();
    let mut misplaced = Vec::new();
    for (i, t) in side.physical.iter().enumerate() {
        let (d, n) = (i / per_database, i % per_database);
        let name = &side.topology.backends[t.backend].name;
        let mut conn = pools[t.backend]
            .get_conn()
            .await
            .map_err(|e| MigrateError::backend(name, e))?;
        let keys: Vec<i64> = conn
            .query(format!(
                "SELECT `{key}` FROM {} WHERE NOT ({database} = {d} AND {table} = {n}) LIMIT {KEYS_PER_TABLE}",
                t.qualified()
            ))
            .await
            .map_err(|e| MigrateError::backend(name, e))?;
        misplaced.extend(keys);
    }
    misplaced.sort_unstable();
    misplaced.dedup();
    Ok(misplaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_reads_as_sql() {
        assert_eq!(
            shard_sql(&Algorithm::Mod { modulus: 32 }, "id"),
            "MOD(MOD(`id`, 32) + 32, 32)"
        );
        assert_eq!(
            shard_sql(
                &Algorithm::Range {
                    boundaries: vec![10, 20]
                },
                "id"
            ),
            "(`id` >= 10) + (`id` >= 20)"
        );
    }
}
