//! `shardgate idgen bench` and `shardgate idgen decode`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use shardgate_config::{KeyGeneratorKind, Topology};
use shardgate_idgen::stats::{shard_of, Spread};
use shardgate_idgen::{
    Layout, MemorySegmentStore, SegmentConfig, SegmentGenerator, Snowflake, SystemClock,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GeneratorKind {
    Snowflake,
    Segment,
}

/// Generates `ids` ids on `threads` threads sharing one generator, and reports the rate and
/// how evenly they spread over the 32 x 32 tables. The segment generator runs on a store in
/// memory: the figure is the generator's own, without the database round trip that a new
/// segment costs once per `step` ids.
pub fn bench(
    kind: GeneratorKind,
    threads: usize,
    ids: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let threads = threads.max(1);
    let per_thread = ids.div_ceil(threads);
    let started = Instant::now();
    let all: Vec<Vec<i64>> = match kind {
        GeneratorKind::Snowflake => {
            let g = Arc::new(Snowflake::new(Layout::default(), 1, SystemClock, 5)?);
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let g = g.clone();
                    std::thread::spawn(move || {
                        let mut ids = vec![0i64; per_thread];
                        for id in ids.iter_mut() {
                            *id = g.next_id()?;
                        }
                        Ok::<_, shardgate_idgen::IdError>(ids)
                    })
                })
                .collect();
            let mut all = Vec::new();
            for h in handles {
                match h.join() {
                    Ok(ids) => all.push(ids?),
                    Err(_) => bail!("a generator thread panicked"),
                }
            }
            all
        }
        GeneratorKind::Segment => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()?;
            rt.block_on(async {
                let g = SegmentGenerator::new(
                    "bench",
                    MemorySegmentStore::default(),
                    SegmentConfig::default(),
                );
                let tasks: Vec<_> = (0..threads)
                    .map(|_| {
                        let g = g.clone();
                        tokio::spawn(async move {
                            let mut ids = Vec::with_capacity(per_thread);
                            for _ in 0..per_thread {
                                ids.push(g.next_id().await?);
                            }
                            Ok::<_, shardgate_idgen::IdError>(ids)
                        })
                    })
                    .collect();
                let mut all = Vec::new();
                for t in tasks {
                    all.push(t.await.context("generator task")??);
                }
                Ok::<_, anyhow::Error>(all)
            })?
        }
    };
    let elapsed = started.elapsed();
    let total: usize = all.iter().map(Vec::len).sum();
    let mut spread = Spread::default();
    let mut unique = std::collections::HashSet::with_capacity(total);
    for id in all.iter().flatten() {
        spread.add(*id);
        unique.insert(*id);
    }
    writeln!(
        out,
        "generator {kind:?}, {threads} thread(s): {total} ids in {:.3} s = {:.2} M ids/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64() / 1e6
    )?;
    writeln!(out, "unique: {} of {total}", unique.len())?;
    writeln!(
        out,
        "spread over 32 x 32 (database = id % 32, table = id / 32 % 32): min {} max {} per table, {} empty",
        spread.counts.iter().min().unwrap_or(&0),
        spread.counts.iter().max().unwrap_or(&0),
        spread.empty()
    )?;
    writeln!(
        out,
        "chi-square {:.1} with 1023 degrees of freedom, p = {:.4} ({})",
        spread.chi_square(),
        spread.p_value(),
        if spread.p_value() > 0.001 {
            "consistent with uniform"
        } else {
            "NOT uniform"
        }
    )?;
    if unique.len() != total {
        bail!("duplicate ids");
    }
    Ok(())
}

/// Takes an id apart: time, worker and sequence by the layout of `generator` in `config`
/// (the default 41/10/12 layout otherwise), and its (database, table) in the 32 x 32 layout.
pub fn decode(
    id: i64,
    config: Option<&Path>,
    generator: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let layout = match config {
        Some(path) => {
            let topology = Topology::load(path)?;
            let snowflake = topology.key_generators.iter().find(|g| {
                matches!(g.kind, KeyGeneratorKind::Snowflake { .. })
                    && generator.is_none_or(|name| g.name == name)
            });
            match snowflake.map(|g| &g.kind) {
                Some(KeyGeneratorKind::Snowflake {
                    epoch_ms,
                    time_bits,
                    worker_bits,
                    sequence_bits,
                    ..
                }) => Layout::new(*epoch_ms, *time_bits, *worker_bits, *sequence_bits)?,
                _ => bail!(
                    "{} declares no snowflake generator{}",
                    path.display(),
                    generator
                        .map(|g| format!(" named `{g}`"))
                        .unwrap_or_default()
                ),
            }
        }
        None => Layout::default(),
    };
    if id <= 0 {
        bail!("snowflake ids are positive; {id} is not one");
    }
    let d = layout.decode(id);
    let (database, table) = shard_of(id);
    writeln!(out, "id        {id}")?;
    writeln!(
        out,
        "time      {} ({} ms since 1970)",
        rfc3339(d.unix_ms),
        d.unix_ms
    )?;
    writeln!(out, "worker    {}", d.worker)?;
    writeln!(out, "sequence  {}", d.sequence)?;
    writeln!(out, "database  {database} (id % 32)")?;
    writeln!(out, "table     {table} (id / 32 % 32)")?;
    Ok(())
}

/// `YYYY-MM-DDThh:mm:ss.sssZ` of milliseconds since 1970 (proleptic Gregorian, UTC).
fn rfc3339(unix_ms: u64) -> String {
    let days = (unix_ms / 86_400_000) as i64;
    let ms_of_day = unix_ms % 86_400_000;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_704_067_200_000), "2024-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
    }
}
