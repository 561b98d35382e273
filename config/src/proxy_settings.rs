//! Validation of the `proxy:` section: limits, timeouts and TLS.

use std::path::Path;
use std::time::Duration;

use crate::build::Builder;
use crate::error::ConfigError;
use crate::raw::RawProxy;
use crate::topology::{ProxySettings, TlsSettings};

impl Builder<'_> {
    pub(crate) fn proxy_settings(&self, raw: &RawProxy) -> Result<ProxySettings, ConfigError> {
        if raw.max_allowed_packet < 1024 || raw.max_allowed_packet > 1 << 30 {
            return Err(self.invalid(
                "proxy.max_allowed_packet",
                "must be between 1024 and 1073741824 bytes",
            ));
        }
        if raw.fanout_concurrency == 0 {
            return Err(self.invalid("proxy.fanout_concurrency", "must be at least 1"));
        }
        if raw.max_client_connections == 0 {
            return Err(self.invalid("proxy.max_client_connections", "must be at least 1"));
        }
        if raw.auth_timeout_ms == 0 {
            return Err(self.invalid("proxy.auth_timeout_ms", "must be at least 1"));
        }
        // A relative certificate path is relative to the config file.
        let base = self.file.parent().unwrap_or_else(|| Path::new("."));
        Ok(ProxySettings {
            max_allowed_packet: raw.max_allowed_packet as usize,
            fanout_concurrency: raw.fanout_concurrency as usize,
            shape_cache_size: raw.shape_cache_size.max(1) as usize,
            worker_threads: raw.worker_threads as usize,
            merge_memory_limit: usize::try_from(raw.merge_memory_limit).unwrap_or(usize::MAX),
            auth_timeout: Duration::from_millis(raw.auth_timeout_ms),
            max_client_connections: raw.max_client_connections as usize,
            idle_transaction_timeout: (raw.idle_transaction_timeout_ms > 0)
                .then(|| Duration::from_millis(raw.idle_transaction_timeout_ms)),
            shutdown_grace: Duration::from_millis(raw.shutdown_grace_ms),
            tls: raw.tls.as_ref().map(|t| TlsSettings {
                cert: base.join(&t.cert),
                key: base.join(&t.key),
                require_tls: t.require_tls,
            }),
        })
    }
}
