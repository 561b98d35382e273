//! What a reload may change in place. The settings the running proxy acted on once, at
//! start (its listening socket, runtime, TLS, log subscriber, metrics listener, id
//! generators' leases, where the migration state lives), take a restart: a reload that
//! changes one of them is refused as a whole, so an operator is never told a change took
//! effect that did not.

use crate::topology::{KeyGenerator, KeyGeneratorKind, Topology, WorkerSource};

impl Topology {
    /// The config paths of the settings `next` changes that take a restart; empty when
    /// `next` can replace `self` in a running proxy.
    pub fn restart_only_changes(&self, next: &Topology) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut check = |path: &'static str, differs: bool| {
            if differs {
                changed.push(path);
            }
        };
        check("listen", self.listen != next.listen);
        check("schema", self.schema != next.schema);
        check(
            "proxy.worker_threads",
            self.proxy.worker_threads != next.proxy.worker_threads,
        );
        check(
            "proxy.max_client_connections",
            self.proxy.max_client_connections != next.proxy.max_client_connections,
        );
        check("proxy.tls", self.proxy.tls != next.proxy.tls);
        check("log.level", self.log.level != next.log.level);
        check("log.format", self.log.format != next.log.format);
        check(
            "admin.metrics_listen",
            self.admin.metrics_listen != next.admin.metrics_listen,
        );
        let generators = |t: &Topology| -> Vec<String> {
            t.key_generators
                .iter()
                .map(|g| generator_identity(t, g))
                .collect()
        };
        check("key_generators", generators(self) != generators(next));
        let state = |t: &Topology| t.backends.get(t.migration_state).map(|b| b.address.clone());
        check("migration_state", state(self) != state(next));
        changed
    }
}

/// A generator as its leases and segments see it: backends by address (a reload may
/// renumber them).
fn generator_identity(topology: &Topology, generator: &KeyGenerator) -> String {
    let address = |id: usize| {
        topology
            .backends
            .get(id)
            .map_or_else(String::new, |b| b.address.clone())
    };
    let kind = match &generator.kind {
        KeyGeneratorKind::Snowflake {
            epoch_ms,
            time_bits,
            worker_bits,
            sequence_bits,
            worker,
            clock_tolerance_ms,
        } => {
            let worker = match worker {
                WorkerSource::Static(id) => format!("static {id}"),
                WorkerSource::Lease {
                    backend,
                    database,
                    table,
                    ttl_ms,
                } => format!("lease {} {database}.{table} {ttl_ms}", address(*backend)),
            };
            format!("snowflake {epoch_ms} {time_bits} {worker_bits} {sequence_bits} {worker} {clock_tolerance_ms}")
        }
        KeyGeneratorKind::Segment {
            backend,
            database,
            biz_tag,
            step,
            min_step,
            max_step,
        } => format!(
            "segment {} {database} {biz_tag} {step} {min_step} {max_step}",
            address(*backend)
        ),
    };
    format!("{} {kind}", generator.name)
}
