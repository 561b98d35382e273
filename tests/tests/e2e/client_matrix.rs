//! The client matrix (tests/clients/README.md): each real client runs the same scenario
//! against shardgate and against plain MariaDB with the same tables and rows, and must print
//! the same thing.

use shardgate_tests::clients::ensure_python_clients;
use shardgate_tests::matrix::{client_path, Matrix};

/// Starts the matrix, then runs `program args... MODE` for each of `modes`: the same answers
/// through shardgate as from plain MariaDB, each holding `marker`.
async fn each_mode(program: &str, args: &[&str], modes: &[&str], marker: &str) -> Matrix {
    let matrix = Matrix::start().await;
    for mode in modes {
        let mut all = args.to_vec();
        all.push(mode);
        let out = tokio::task::block_in_place(|| matrix.same_answers(program, &all));
        assert!(
            out.contains(marker),
            "{program} {mode}: no `{marker}`:\n{out}"
        );
    }
    matrix
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_dbapi_drivers() {
    tokio::task::block_in_place(ensure_python_clients);
    let script = client_path("python_dbapi.py");
    let modes = [
        "pymysql",
        "connector-pure",
        "connector-cext",
        "connector-prepared",
    ];
    each_mode("python3", &[&script], &modes, "generated key: yes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mysql2() {
    let script = client_path("node/mysql2.js");
    each_mode(
        "node",
        &[&script],
        &["query", "execute"],
        "generated key: yes",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sql_driver() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("matrix");
    let build = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&program)
        .arg(client_path("go/matrix.go"))
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", dir.path().join("cache"))
        .output()
        .expect("run go build");
    assert!(
        build.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let program = program.display().to_string();
    let modes = ["default", "interpolate"];
    each_mode(&program, &[], &modes, "generated key: yes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_pdo_and_mysqli() {
    let script = client_path("php/matrix.php");
    let modes = ["pdo-emulated", "pdo-native", "mysqli"];
    each_mode("php", &[&script], &modes, "generated key: yes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perl_dbd_mariadb_and_mysql() {
    let script = client_path("perl/matrix.pl");
    let modes = [
        "MariaDB",
        "MariaDB:server_prepare",
        "mysql",
        "mysql:server_prepare",
    ];
    each_mode("perl", &[&script], &modes, "table_info: ").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_mysql2() {
    let script = client_path("ruby/matrix.rb");
    each_mode(
        "ruby",
        &[&script],
        &["query", "prepare"],
        "generated key: yes",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_connector_j() {
    let source = client_path("java/Matrix.java");
    let jar = "/usr/share/java/mariadb-java-client.jar";
    let modes = ["default", "useServerPrepStmts", "rewriteBatchedStatements"];
    each_mode("java", &["-cp", jar, &source], &modes, "generated key: yes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_orm() {
    tokio::task::block_in_place(ensure_python_clients);
    let script = client_path("sqlalchemy_orm.py");
    let dialects = ["mysql+pymysql", "mariadb+pymysql"];
    each_mode(
        "python3",
        &[&script],
        &dialects,
        "each id finds its own row: yes",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_orm() {
    tokio::task::block_in_place(ensure_python_clients);
    let matrix = Matrix::start().await;
    let script = client_path("django_orm.py");
    let out = tokio::task::block_in_place(|| matrix.same_answers("python3", &[&script]));
    assert!(out.contains("each id finds its own row: yes"), "{out}");
    assert!(out.contains("mariadb: True"), "{out}");
}

/// Every table's rows, ordered, as text: through shardgate and on the plain server alike.
async fn table_contents(conn: &mut mysql_async::Conn) -> Vec<String> {
    use mysql_async::prelude::Queryable;
    let mut out = Vec::new();
    for (table, key) in [
        ("t_order", "order_id"),
        ("t_order_item", "order_id, item_id"),
        ("t_currency", "code"),
        ("t_shop_setting", "name"),
    ] {
        let rows: Vec<mysql_async::Row> = conn
            .query(format!("SELECT * FROM {table} ORDER BY {key}"))
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        for row in rows {
            let cells: Vec<String> = (0..row.len())
                .map(|i| match row.as_ref(i) {
                    Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(v) => v.as_sql(true),
                    None => "?".into(),
                })
                .collect();
            out.push(format!("{table}: {}", cells.join("|")));
        }
    }
    out
}

/// mariadb-dump of the logical schema (default mode, --single-transaction,
/// --skip-lock-tables), restored through shardgate with the mariadb CLI: the tables hold what
/// they held, values and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_dump_and_restore() {
    let matrix = Matrix::start().await;
    let want = table_contents(&mut matrix.cluster.client().await).await;
    assert!(want.len() > 30, "{want:?}");
    let target = matrix.proxy();
    for mode in [
        None,
        Some("--single-transaction"),
        Some("--skip-lock-tables"),
    ] {
        let dump = tokio::task::block_in_place(|| {
            let mut cmd = std::process::Command::new("mariadb-dump");
            cmd.args([
                "-h127.0.0.1",
                &format!("-P{}", target.port),
                &format!("-u{}", target.user),
                &format!("-p{}", target.password),
                "--skip-dump-date",
            ]);
            cmd.args(mode);
            cmd.arg("shop");
            cmd.output().expect("run mariadb-dump")
        });
        assert!(
            dump.status.success(),
            "mariadb-dump {mode:?}: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        let text = String::from_utf8_lossy(&dump.stdout).into_owned();
        assert!(text.contains("CREATE TABLE `t_order`"), "{mode:?}:\n{text}");
        assert!(
            !text.contains("order_db_"),
            "a physical name in the dump:\n{text}"
        );
        let restore = tokio::task::block_in_place(|| {
            shardgate_tests::clients::mariadb_cli(target.port, &text, &[])
        });
        assert!(
            restore.status.success(),
            "restoring the {mode:?} dump: {}",
            String::from_utf8_lossy(&restore.stderr)
        );
        let mut conn = matrix.cluster.client().await;
        assert_eq!(
            table_contents(&mut conn).await,
            want,
            "after restoring the {mode:?} dump"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_and_mycli() {
    tokio::task::block_in_place(ensure_python_clients);
    let matrix = Matrix::start().await;
    let script = client_path("cli_tools.sh");
    for tool in ["mariadb", "mycli"] {
        let out = tokio::task::block_in_place(|| matrix.same_answers("bash", &[&script, tool]));
        assert!(out.contains("a status much lo"), "{tool}:\n{out}");
        if tool == "mariadb" {
            assert!(out.contains("1265"), "the truncation warning:\n{out}");
        }
    }
    // The version line of `status`: the one shardgate's greeting and VERSION() give.
    let status = tokio::task::block_in_place(|| {
        shardgate_tests::clients::mariadb_cli(matrix.cluster.proxy.port(), "status", &[])
    });
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&format!(
            "Server version:\t\t{}",
            shardgate_router::SERVER_VERSION
        )),
        "{text}"
    );
}
