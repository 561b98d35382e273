//! A process's resident memory and open file descriptors, from /proc.

#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessSample {
    pub rss_kib: u64,
    pub fds: usize,
}

impl ProcessSample {
    /// The sample of `pid`, or `None` where /proc does not have it.
    pub fn of(pid: u32) -> Option<ProcessSample> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        Some(ProcessSample { rss_kib, fds })
    }
}

impl std::fmt::Display for ProcessSample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RSS {:.1} MiB, {} file descriptors",
            self.rss_kib as f64 / 1024.0,
            self.fds
        )
    }
}
