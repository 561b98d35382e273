//! Real clients the end-to-end tests drive besides mysql_async: the mariadb CLI
//! (Connector/C) and PyMySQL.

use std::process::{Command, Output};

/// Installs PyMySQL (and cryptography, for caching_sha2_password's RSA exchange) when
/// missing: with the rest of the client matrix's Python clients.
pub fn ensure_pymysql() {
    ensure_python_clients();
}

/// Installs the Python clients of the client matrix (tests/clients/requirements.txt) with
/// pip when any is missing or at another version; `scripts/client-deps.sh` does the same.
pub fn ensure_python_clients() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/clients");
    let check = || {
        Command::new("python3")
            .arg(format!("{dir}/check_python.py"))
            .status()
            .is_ok_and(|s| s.success())
    };
    if check() {
        return;
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(format!("{dir}/requirements.txt"))
        .status()
        .expect("run pip");
    assert!(
        status.success() && check(),
        "pip install -r tests/clients/requirements.txt failed"
    );
}

/// Runs `sql` with the mariadb CLI against the proxy at `port` (database `shop`, the test
/// account), the statements given on standard input as a script; `extra` are further CLI
/// options.
pub fn mariadb_cli(port: u16, sql: &str, extra: &[&str]) -> Output {
    use std::io::Write;
    let mut child = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{port}"),
            &format!("-u{}", crate::USER),
            &format!("-p{}", crate::PASSWORD),
            "--batch",
            "--skip-column-names",
        ])
        .args(extra)
        .arg("shop")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the mariadb CLI");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{sql};\n").as_bytes())
            .expect("write to the mariadb CLI");
    }
    child.wait_with_output().expect("the mariadb CLI's output")
}

/// Runs a Python script from `tests/python/` with `args`; its output.
pub fn python_script(name: &str, args: &[&str]) -> Output {
    ensure_pymysql();
    let script = format!("{}/python/{name}", env!("CARGO_MANIFEST_DIR"));
    Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3")
}
