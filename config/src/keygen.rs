//! Validation of `key_generators`: each is a snowflake (with a fixed or leased worker id)
//! or a Leaf-style segment, with only the keys of its type.

use std::collections::{HashMap, HashSet};

use crate::build::Builder;
use crate::error::ConfigError;
use crate::raw::{RawKeyGenerator, RawKeyGeneratorKind};
use crate::topology::{KeyGenerator, KeyGeneratorKind, WorkerSource};

/// 2024-01-01T00:00:00Z.
const DEFAULT_EPOCH_MS: u64 = 1_704_067_200_000;

impl Builder<'_> {
    pub(crate) fn key_generators(
        &self,
        raw: &[RawKeyGenerator],
        backends: &HashMap<String, usize>,
    ) -> Result<Vec<KeyGenerator>, ConfigError> {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(raw.len());
        for (i, g) in raw.iter().enumerate() {
            let path = format!("key_generators[{i}]");
            if !seen.insert(g.name.as_str()) {
                return Err(self.invalid(
                    format!("{path}.name"),
                    format!("duplicate key generator `{}`", g.name),
                ));
            }
            let backend_id = |field: &str, name: &str| {
                backends.get(name).copied().ok_or_else(|| {
                    self.invalid(
                        format!("{path}.{field}"),
                        format!("backend `{name}` is not declared under `backends`"),
                    )
                })
            };
            let refuse =
                |present: &[(&str, bool)], kind: &str| match present.iter().find(|(_, p)| *p) {
                    Some((key, _)) => Err(self.invalid(
                        format!("{path}.{key}"),
                        format!("`{key}` does not apply to a {kind} generator"),
                    )),
                    None => Ok(()),
                };
            let kind = match g.kind {
                RawKeyGeneratorKind::Snowflake => {
                    refuse(
                        &[
                            ("backend", g.backend.is_some()),
                            ("database", g.database.is_some()),
                            ("biz_tag", g.biz_tag.is_some()),
                            ("step", g.step.is_some()),
                            ("min_step", g.min_step.is_some()),
                            ("max_step", g.max_step.is_some()),
                        ],
                        "snowflake",
                    )?;
                    let (time_bits, worker_bits, sequence_bits) = (
                        g.time_bits.unwrap_or(41),
                        g.worker_bits.unwrap_or(10),
                        g.sequence_bits.unwrap_or(12),
                    );
                    if time_bits + worker_bits + sequence_bits > 63 {
                        return Err(self.invalid(
                            format!("{path}.time_bits"),
                            "time_bits + worker_bits + sequence_bits must be at most 63",
                        ));
                    }
                    let worker = match (g.worker_id, &g.worker_lease) {
                        (Some(id), None) => {
                            if worker_bits < 64 && id >= 1u64 << worker_bits {
                                return Err(self.invalid(
                                    format!("{path}.worker_id"),
                                    format!("worker id {id} does not fit {worker_bits} worker bits"),
                                ));
                            }
                            WorkerSource::Static(id)
                        }
                        (None, Some(lease)) => {
                            if lease.ttl_ms < 1000 {
                                return Err(self.invalid(
                                    format!("{path}.worker_lease.ttl_ms"),
                                    "must be at least 1000",
                                ));
                            }
                            WorkerSource::Lease {
                                backend: backend_id("worker_lease.backend", &lease.backend)?,
                                database: lease.database.clone(),
                                table: lease.table.clone(),
                                ttl_ms: lease.ttl_ms,
                            }
                        }
                        _ => {
                            return Err(self.invalid(
                                &path,
                                "a snowflake generator needs exactly one of `worker_id` and `worker_lease`",
                            ))
                        }
                    };
                    KeyGeneratorKind::Snowflake {
                        epoch_ms: g.epoch_ms.unwrap_or(DEFAULT_EPOCH_MS),
                        time_bits,
                        worker_bits,
                        sequence_bits,
                        worker,
                        clock_tolerance_ms: g.clock_tolerance_ms.unwrap_or(5),
                    }
                }
                RawKeyGeneratorKind::Segment => {
                    refuse(
                        &[
                            ("epoch_ms", g.epoch_ms.is_some()),
                            ("time_bits", g.time_bits.is_some()),
                            ("worker_bits", g.worker_bits.is_some()),
                            ("sequence_bits", g.sequence_bits.is_some()),
                            ("worker_id", g.worker_id.is_some()),
                            ("worker_lease", g.worker_lease.is_some()),
                            ("clock_tolerance_ms", g.clock_tolerance_ms.is_some()),
                        ],
                        "segment",
                    )?;
                    let backend = g.backend.as_deref().ok_or_else(|| {
                        self.invalid(&path, "a segment generator needs `backend`")
                    })?;
                    let step = g.step.unwrap_or(1000);
                    let min_step = g.min_step.unwrap_or(step.min(1000));
                    let max_step = g.max_step.unwrap_or(1_000_000.max(step));
                    if min_step == 0 || min_step > step || step > max_step {
                        return Err(self.invalid(
                            format!("{path}.step"),
                            "needs 0 < min_step <= step <= max_step",
                        ));
                    }
                    KeyGeneratorKind::Segment {
                        backend: backend_id("backend", backend)?,
                        database: g
                            .database
                            .clone()
                            .unwrap_or_else(|| "shardgate_meta".into()),
                        biz_tag: g.biz_tag.clone().unwrap_or_else(|| g.name.clone()),
                        step,
                        min_step,
                        max_step,
                    }
                }
            };
            out.push(KeyGenerator {
                name: g.name.clone(),
                kind,
            });
        }
        Ok(out)
    }
}
