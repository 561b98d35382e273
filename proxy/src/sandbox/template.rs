//! One freshly installed data directory per process, copied for every server it starts.
//!
//! `mariadb-install-db` bootstraps a server (system tables, a redo log) in 0.6 s on an idle
//! machine and 2.4 s on a busy one; copying the result takes 0.65 s either way (measured on
//! the 2-core CI machine, 114 MB). The test suite starts a few hundred servers, so each test
//! process installs once, into `$TMPDIR/shardgate-mariadb-template-<pid>`, and copies that.
//! Templates of processes that have ended are removed when the next one is made.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::server::SandboxError;

const PREFIX: &str = "shardgate-mariadb-template-";

/// The data directory to copy, installed on first use by `install` (which bootstraps a
/// data directory at the path it is given); `None` when installing the template failed, so
/// that each server installs its own as before.
pub(super) fn template(
    install: impl FnOnce(&Path) -> Result<(), SandboxError>,
) -> Option<&'static Path> {
    static TEMPLATE: OnceLock<Option<PathBuf>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            remove_stale();
            let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).ok()?;
            match install(&dir) {
                Ok(()) => Some(dir.join("data")),
                Err(_) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    None
                }
            }
        })
        .as_deref()
}

/// Copies the directory tree at `from` to `to` (which must not exist yet).
pub(super) fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Removes the templates of processes that no longer run.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
