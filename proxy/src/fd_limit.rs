//! Client connections within the process's file-descriptor limit.
//!
//! Each client costs a descriptor and each pooled backend connection another. Past the
//! limit, accept() fails with EMFILE and the client is left in the kernel's queue with no
//! greeting, hanging until something else closes. So the proxy takes no more clients than
//! the limit leaves after its pools and a margin, and refuses the rest with "Too many
//! connections" (1040) as MySQL does; and it keeps one spare descriptor, so that a client
//! arriving when the descriptors ran out anyway (a burst of backend connections) is still
//! answered with that error instead of left hanging.

use std::fs::File;

/// Descriptors kept for everything but clients and pooled backend connections: the
/// listener, the runtime's epoll and wakeups, standard streams, the spare, the connections
/// that watch migrations and hand out id segments, TLS files.
pub const RESERVED_DESCRIPTORS: usize = 32;

/// The process's soft limit on open files, from /proc/self/limits (`None` where that
/// cannot be read, or the limit is unlimited).
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many clients the proxy serves at once: `configured`, or fewer when the
/// descriptor limit does not leave room for that many beside `backend_connections`;
/// with a warning to log when fewer.
pub fn client_limit(
    configured: usize,
    backend_connections: usize,
    open_files: Option<usize>,
) -> (usize, Option<String>) {
    let Some(open_files) = open_files else {
        return (configured, None);
    };
    let room = open_files.saturating_sub(backend_connections + RESERVED_DESCRIPTORS);
    if room >= configured {
        return (configured, None);
    }
    let warning = format!(
        "the file descriptor limit ({open_files}) leaves room for {room} clients beside {backend_connections} pooled backend connections, below proxy.max_client_connections ({configured}); clients past {room} get 'Too many connections'. Raise it (ulimit -n, LimitNOFILE=) to serve more"
    );
    (room, Some(warning))
}

/// One descriptor held in reserve (see the module doc).
pub struct SpareDescriptor(Option<File>);

impl SpareDescriptor {
    pub fn new() -> Self {
        SpareDescriptor(File::open("/dev/null").ok())
    }

    /// Gives the descriptor back to the process; true when there was one.
    pub fn release(&mut self) -> bool {
        self.0.take().is_some()
    }

    /// Takes a descriptor again, if one is free.
    pub fn restore(&mut self) {
        if self.0.is_none() {
            self.0 = File::open("/dev/null").ok();
        }
    }
}

impl Default for SpareDescriptor {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether an accept() error means the process or system ran out of descriptors.
pub fn out_of_descriptors(error: &std::io::Error) -> bool {
    // EMFILE (24): this process; ENFILE (23): the whole system.
    matches!(error.raw_os_error(), Some(23) | Some(24))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_fit_beside_the_pools() {
        assert_eq!(client_limit(10_000, 128, None), (10_000, None));
        assert_eq!(client_limit(10_000, 128, Some(65_536)), (10_000, None));
        let (limit, warning) = client_limit(10_000, 128, Some(1024));
        assert_eq!(limit, 1024 - 128 - RESERVED_DESCRIPTORS);
        assert!(warning.is_some_and(|w| w.contains("1024")));
        assert_eq!(client_limit(100, 128, Some(64)).0, 0);
    }

    #[test]
    fn this_process_has_a_limit() {
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
