//! The client matrix (tests/clients/README.md): each real client runs the same scenario
//! against shardgate and against plain MariaDB with the same tables and rows, and must print
//! the same thing.

use shardgate_tests::clients::ensure_python_clients;
use shardgate_tests::matrix::{client_path, Matrix};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_dbapi_drivers() {
    tokio::task::block_in_place(ensure_python_clients);
    let matrix = Matrix::start().await;
    let script = client_path("python_dbapi.py");
    for mode in [
        "pymysql",
        "connector-pure",
        "connector-cext",
        "connector-prepared",
    ] {
        let out = tokio::task::block_in_place(|| matrix.same_answers("python3", &[&script, mode]));
        assert!(out.contains("generated key: yes"), "{mode}:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mysql2() {
    let matrix = Matrix::start().await;
    let script = client_path("node/mysql2.js");
    for mode in ["query", "execute"] {
        let out = tokio::task::block_in_place(|| matrix.same_answers("node", &[&script, mode]));
        assert!(out.contains("generated key: yes"), "{mode}:\n{out}");
    }
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
    let matrix = Matrix::start().await;
    let program = program.display().to_string();
    for mode in ["default", "interpolate"] {
        let out = tokio::task::block_in_place(|| matrix.same_answers(&program, &[mode]));
        assert!(out.contains("generated key: yes"), "{mode}:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn php_pdo_and_mysqli() {
    let matrix = Matrix::start().await;
    let script = client_path("php/matrix.php");
    for mode in ["pdo-emulated", "pdo-native", "mysqli"] {
        let out = tokio::task::block_in_place(|| matrix.same_answers("php", &[&script, mode]));
        assert!(out.contains("generated key: yes"), "{mode}:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perl_dbd_mariadb_and_mysql() {
    let matrix = Matrix::start().await;
    let script = client_path("perl/matrix.pl");
    for mode in [
        "MariaDB",
        "MariaDB:server_prepare",
        "mysql",
        "mysql:server_prepare",
    ] {
        let out = tokio::task::block_in_place(|| matrix.same_answers("perl", &[&script, mode]));
        assert!(out.contains("table_info: "), "{mode}:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_mysql2() {
    let matrix = Matrix::start().await;
    let script = client_path("ruby/matrix.rb");
    for mode in ["query", "prepare"] {
        let out = tokio::task::block_in_place(|| matrix.same_answers("ruby", &[&script, mode]));
        assert!(out.contains("generated key: yes"), "{mode}:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_connector_j() {
    let matrix = Matrix::start().await;
    let source = client_path("java/Matrix.java");
    let jar = "/usr/share/java/mariadb-java-client.jar";
    for mode in ["default", "useServerPrepStmts", "rewriteBatchedStatements"] {
        let out = tokio::task::block_in_place(|| {
            matrix.same_answers("java", &["-cp", jar, &source, mode])
        });
        assert!(out.contains("generated key: yes"), "{mode}:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_orm() {
    tokio::task::block_in_place(ensure_python_clients);
    let matrix = Matrix::start().await;
    let script = client_path("sqlalchemy_orm.py");
    for dialect in ["mysql+pymysql", "mariadb+pymysql"] {
        let out =
            tokio::task::block_in_place(|| matrix.same_answers("python3", &[&script, dialect]));
        assert!(
            out.contains("each id finds its own row: yes"),
            "{dialect}:\n{out}"
        );
    }
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
