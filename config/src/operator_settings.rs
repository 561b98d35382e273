//! Validation of the operator's sections: `admin:` (metrics) and `log:`.

use std::time::Duration;

use crate::build::Builder;
use crate::error::ConfigError;
use crate::raw::{RawAdmin, RawLog};
use crate::topology::{AdminSettings, LogSettings};

impl Builder<'_> {
    pub(crate) fn operator_settings(
        &self,
        admin: &RawAdmin,
        log: &RawLog,
    ) -> Result<(AdminSettings, LogSettings), ConfigError> {
        let metrics_listen = match &admin.metrics_listen {
            None => None,
            Some(address) => Some(address.parse().map_err(|_| {
                self.invalid(
                    "admin.metrics_listen",
                    format!("`{address}` is not an IP address and port (host:port)"),
                )
            })?),
        };
        let level = log.level.to_ascii_lowercase();
        if !matches!(
            level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return Err(self.invalid(
                "log.level",
                format!(
                    "`{}` is not one of error, warn, info, debug, trace",
                    log.level
                ),
            ));
        }
        Ok((
            AdminSettings { metrics_listen },
            LogSettings {
                level,
                format: log.format,
                slow_query: (log.slow_query_ms > 0)
                    .then(|| Duration::from_millis(log.slow_query_ms)),
                slow_query_literals: log.slow_query_literals,
            },
        ))
    }
}
