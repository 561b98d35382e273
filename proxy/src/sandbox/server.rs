//! One throwaway MariaDB server.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Why a sandbox server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox: `{program}` was not found; install mariadb-server (scripts/deps.sh does)")]
    MissingProgram { program: String },
    #[error("sandbox: {step}: {source}")]
    Io {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("sandbox: mariadb-install-db failed: {output}")]
    InstallFailed { output: String },
    #[error("sandbox: mariadbd on port {port} did not start: {log}")]
    StartFailed { port: u16, log: String },
}

/// How to start a sandbox server.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// How long to wait for the server to answer.
    pub start_timeout: Duration,
    /// Extra `--option=value` arguments for mariadbd.
    pub extra_args: Vec<String>,
    /// A fixed port instead of a free one.
    pub port: Option<u16>,
    /// Keep the data in this directory (created and installed if new) instead of a temporary
    /// one that is removed on drop.
    pub data_dir: Option<PathBuf>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            start_timeout: Duration::from_secs(60),
            extra_args: Vec::new(),
            port: None,
            data_dir: None,
        }
    }
}

/// Where a sandbox keeps its files.
#[derive(Debug)]
enum SandboxDir {
    /// Removed when the server is dropped.
    Temp(TempDir),
    Kept(PathBuf),
}

impl SandboxDir {
    fn path(&self) -> &Path {
        match self {
            SandboxDir::Temp(t) => t.path(),
            SandboxDir::Kept(p) => p,
        }
    }
}

/// A running throwaway server. Root logs in over TCP with an empty password
/// (mysql_native_password).
#[derive(Debug)]
pub struct MariaDb {
    child: Child,
    port: u16,
    dir: SandboxDir,
    options: SandboxOptions,
}

impl MariaDb {
    /// Installs and starts a server with default options.
    pub fn start() -> Result<MariaDb, SandboxError> {
        MariaDb::start_with(&SandboxOptions::default())
    }

    pub fn start_with(options: &SandboxOptions) -> Result<MariaDb, SandboxError> {
        let dir = match &options.data_dir {
            Some(path) => {
                std::fs::create_dir_all(path).map_err(|source| SandboxError::Io {
                    step: "create data dir",
                    source,
                })?;
                SandboxDir::Kept(path.clone())
            }
            None => SandboxDir::Temp(
                tempfile::Builder::new()
                    .prefix("shardgate-mariadb-")
                    .tempdir()
                    .map_err(|source| SandboxError::Io {
                        step: "create temp dir",
                        source,
                    })?,
            ),
        };
        if !dir.path().join("data").join("mysql").exists() {
            match (&dir, super::template::template(install)) {
                // A temporary server starts from the process's template; a kept data
                // directory is installed in place.
                (SandboxDir::Temp(_), Some(template)) => {
                    prepare_dir(dir.path())?;
                    super::template::copy_tree(template, &dir.path().join("data")).map_err(
                        |source| SandboxError::Io {
                            step: "copy the template data directory",
                            source,
                        },
                    )?;
                }
                _ => install(dir.path())?,
            }
        }
        // A free port can be taken by someone else between our probe and the server's bind:
        // try a few.
        let mut last = None;
        for _ in 0..if options.port.is_some() { 1 } else { 3 } {
            let port = match options.port {
                Some(p) => p,
                None => free_port()?,
            };
            let mut child = launch(dir.path(), port, options)?;
            match wait_ready(&mut child, port, dir.path(), options.start_timeout) {
                Ok(()) => {
                    return Ok(MariaDb {
                        child,
                        port,
                        dir,
                        options: options.clone(),
                    })
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(SandboxError::StartFailed {
            port: 0,
            log: "no attempt".into(),
        }))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A mysql_async URL for root.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadb.sock")
    }

    /// The pid of the mariadbd process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Shuts the server down (SIGTERM, then SIGKILL after 20 s), keeping its data. The
    /// sandbox relaxes durability for speed, so a kill alone could lose the last commits.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&mut self) -> Result<(), SandboxError> {
        self.stop();
        let mut last = None;
        // The old socket may linger a moment in TIME_WAIT-like states; try a few times.
        for _ in 0..5 {
            let mut child = launch(self.dir.path(), self.port, &self.options)?;
            match wait_ready(
                &mut child,
                self.port,
                self.dir.path(),
                self.options.start_timeout,
            ) {
                Ok(()) => {
                    self.child = child;
                    return Ok(());
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
        }
        Err(last.unwrap_or(SandboxError::StartFailed {
            port: self.port,
            log: "no attempt".into(),
        }))
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // SIGKILL: the data is thrown away anyway, and a killed server cannot hang a test.
        self.kill();
    }
}

fn wait_ready(
    child: &mut Child,
    port: u16,
    dir: &Path,
    timeout: Duration,
) -> Result<(), SandboxError> {
    let deadline = Instant::now() + timeout;
    // Asked on the server's own socket file, not its TCP port: two sandboxes starting at
    // once can be handed the same free port, and the one whose server fails to bind it
    // would otherwise take the other's handshake for its own (and its tests would run on
    // the other's server). mariadbd opens its socket only after binding the port.
    let socket = dir.join("mariadb.sock");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(SandboxError::StartFailed {
                port,
                log: format!("exited with {status}: {}", log_tail(dir)),
            });
        }
        if let Ok(mut stream) = std::os::unix::net::UnixStream::connect(&socket) {
            // A handshake (protocol version 10 after the 4-byte header) means it serves.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = [0u8; 5];
            if stream.read_exact(&mut head).is_ok() && head[4] == 10 {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(SandboxError::StartFailed {
                port,
                log: format!("no answer within {timeout:?}: {}", log_tail(dir)),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().rev().take(8).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

fn program(name: &str) -> Result<PathBuf, SandboxError> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return Ok(path);
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let path = dir.join(name);
            if path.exists() {
                return Ok(path);
            }
        }
    }
    Err(SandboxError::MissingProgram {
        program: name.into(),
    })
}

fn running_as_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false)
}

/// The server's tmpdir and init file, beside its data directory.
fn prepare_dir(dir: &Path) -> Result<(), SandboxError> {
    // Servers running side by side must not share a tmpdir: their temporary tables collide
    // there.
    std::fs::create_dir_all(dir.join("tmp")).map_err(|source| SandboxError::Io {
        step: "create tmpdir",
        source,
    })?;
    // Root may log in over TCP from 127.0.0.1 with no password; runs at every start.
    std::fs::write(
        dir.join("init.sql"),
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';\n\
         GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n",
    )
    .map_err(|source| SandboxError::Io {
        step: "write init.sql",
        source,
    })
}

fn install(dir: &Path) -> Result<(), SandboxError> {
    prepare_dir(dir)?;
    let mut cmd = Command::new(program("mariadb-install-db")?);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--tmpdir={}", dir.join("tmp").display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg("--skip-name-resolve");
    if running_as_root() {
        cmd.arg("--user=root");
    }
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SandboxError::Io {
            step: "run mariadb-install-db",
            source,
        })?;
    if !output.status.success() {
        return Err(SandboxError::InstallFailed {
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(())
}

fn free_port() -> Result<u16, SandboxError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| SandboxError::Io {
        step: "find a free port",
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| SandboxError::Io {
            step: "find a free port",
            source,
        })
}

fn launch(dir: &Path, port: u16, options: &SandboxOptions) -> Result<Child, SandboxError> {
    let mut cmd = Command::new(program("mariadbd")?);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
        .arg(format!("--log-error={}", dir.join("error.log").display()))
        .arg(format!("--init-file={}", dir.join("init.sql").display()))
        .arg(format!("--tmpdir={}", dir.join("tmp").display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--skip-name-resolve")
        .arg("--max-connections=1000")
        .arg("--max-allowed-packet=256M")
        .arg("--max-prepared-stmt-count=1048576")
        // Transactions spanning two servers can deadlock across them, which neither server
        // sees; a short lock wait bounds it (the statement fails with 1205, as clients expect).
        .arg("--innodb-lock-wait-timeout=2")
        .arg("--innodb-buffer-pool-size=128M")
        .arg("--innodb-log-file-size=64M")
        // Throwaway data: durability only costs test time.
        .arg("--innodb-flush-log-at-trx-commit=0")
        .arg("--innodb-doublewrite=0")
        .arg("--sync-binlog=0")
        .arg("--character-set-server=utf8mb4")
        .arg("--collation-server=utf8mb4_general_ci");
    if running_as_root() {
        cmd.arg("--user=root");
    }
    cmd.args(&options.extra_args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| SandboxError::Io {
            step: "start mariadbd",
            source,
        })
}
