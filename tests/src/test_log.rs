//! Every test process keeps the proxy's log lines, at DEBUG, in `target/debug/test-logs/`
//! (proxies in the test's process through a global subscriber; `shardgate` processes the
//! tests start write their standard error there too), with a list of the suite's canary
//! secrets: passwords no log line may hold. `scripts/check_test_logs.sh` looks for them
//! there once the suite has run.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// A client account's password that only this account has (see [`crate::CANARY_USER`]).
pub const CANARY_CLIENT_PASSWORD: &str = "canary-Kq7z-client-secret";
/// The password of the backend account every test cluster's proxy uses.
pub const CANARY_BACKEND_PASSWORD: &str = "canary-Vb3x-backend-secret";
/// A password written in SQL statements the tests send (CREATE USER ... IDENTIFIED BY).
pub const CANARY_STATEMENT_PASSWORD: &str = "canary-Rt5w-statement-secret";

/// `target/debug/test-logs`: beside the binaries of the build that runs the tests.
pub fn dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    target.join("test-logs")
}

/// A file in [`dir`] for one log (created with the directory and the secrets' list).
pub fn file(name: &str) -> std::fs::File {
    let dir = dir();
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("canary-secrets.txt"),
        format!(
            "{CANARY_CLIENT_PASSWORD}\n{CANARY_BACKEND_PASSWORD}\n{CANARY_STATEMENT_PASSWORD}\n"
        ),
    );
    let path = dir.join(format!("{name}-{}.log", std::process::id()));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("test log {}: {e}", path.display()))
}

/// Installs the process's subscriber (once): shardgate's own lines at DEBUG, to a file
/// named after the test binary.
pub fn init() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let name = std::env::current_exe()
            .ok()
            .and_then(|e| e.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "tests".into());
        let writer = Mutex::new(file(&name));
        let filter = tracing_subscriber::EnvFilter::new(
            "shardgate_proxy=debug,shardgate_router=debug,shardgate_migrate=debug,shardgate_idgen=debug,shardgate=debug",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(writer)
            .try_init();
    });
}

/// Copies a log a `shardgate` process wrote elsewhere into [`dir`].
pub fn keep(path: &std::path::Path, name: &str) {
    if let Ok(text) = std::fs::read(path) {
        let _ = file(name).write_all(&text);
    }
}
