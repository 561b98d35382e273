//! shardgate's admin statements on the clients' port: refused to `app` accounts (1227),
//! answered to `admin` ones, through mysql_async and the mariadb CLI; SHOW PROCESSLIST for
//! both roles; SHARDGATE EXPLAIN printing what `shardgate route` prints.

use mysql_async::prelude::Queryable;
use shardgate_tests::clients::mariadb_cli;
use shardgate_tests::{assert_refused, Cluster, ADMIN_USER, PASSWORD};

async fn admin_client(cluster: &Cluster) -> mysql_async::Conn {
    mysql_async::Conn::new(cluster.opts().user(Some(ADMIN_USER)).pass(Some(PASSWORD)))
        .await
        .expect("the admin account logs in")
}

/// Name, address, state, open, idle, busy, waiting, max, seconds in state, errors, last
/// error.
type BackendRow = (
    String,
    String,
    String,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    Option<String>,
);

type ProcessRow = (
    u32,
    String,
    String,
    Option<String>,
    String,
    u64,
    String,
    Option<String>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_statements_by_role() {
    let mut cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut app = cluster.client().await;
    let other_app = cluster.client().await;
    let mut admin = admin_client(&cluster).await;

    // An app account: every admin statement but the processlist is refused.
    for sql in [
        "SHOW SHARDGATE BACKENDS",
        "show shardgate status",
        "/* c */ SHARDGATE EXPLAIN SELECT * FROM t_order",
        "SHOW SHARDGATE SOMETHING",
        "SHARDGATE RELOAD CONFIG",
    ] {
        assert_refused(&mut app, sql, 1227, "admin role").await;
    }
    // The connection goes on.
    let one: Option<i64> = app.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));

    // The processlist: an app account sees its own sessions, the admin every one.
    let app_id = app.id();
    let other_id = other_app.id();
    let admin_id = admin.id();
    let seen: Vec<ProcessRow> = app.query("SHOW PROCESSLIST").await.unwrap();
    let ids: Vec<u32> = seen.iter().map(|r| r.0).collect();
    assert!(ids.contains(&app_id) && ids.contains(&other_id), "{seen:?}");
    assert!(
        !ids.contains(&admin_id),
        "an app account sees only its own: {seen:?}"
    );
    let mine = seen.iter().find(|r| r.0 == app_id).unwrap();
    assert_eq!(mine.1, "app");
    assert_eq!(mine.3.as_deref(), Some("shop"));
    assert_eq!(mine.4, "Query");
    assert_eq!(mine.7.as_deref(), Some("SHOW PROCESSLIST"));
    let idle = seen.iter().find(|r| r.0 == other_id).unwrap();
    assert_eq!(idle.4, "Sleep");
    assert_eq!(idle.7, None);
    let all: Vec<ProcessRow> = admin.query("SHOW FULL PROCESSLIST").await.unwrap();
    let ids: Vec<u32> = all.iter().map(|r| r.0).collect();
    for id in [app_id, other_id, admin_id] {
        assert!(ids.contains(&id), "{all:?}");
    }
    let sessions: Vec<ProcessRow> = admin.query("SHOW SHARDGATE SESSIONS").await.unwrap();
    assert_eq!(sessions.len(), all.len());

    // Backends: both up, with their pools.
    let backends: Vec<BackendRow> = admin.query("SHOW SHARDGATE BACKENDS").await.unwrap();
    let names: Vec<&str> = backends.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(names, ["ds0", "ds1"]);
    for b in &backends {
        assert_eq!(b.2, "up", "{b:?}");
        assert_eq!(
            b.1,
            cluster
                .topology
                .backends
                .iter()
                .find(|x| x.name == b.0)
                .unwrap()
                .address
        );
        assert_eq!(b.7, 64, "{b:?}");
        assert_eq!((b.9, b.10.as_deref()), (0, None), "no error yet: {b:?}");
    }

    // Status: version, uptime, the rules' generation.
    let status: Vec<(String, String)> = admin.query("SHOW SHARDGATE STATUS").await.unwrap();
    let value = |name: &str| {
        status
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} in {status:?}"))
    };
    assert_eq!(
        value("config_generation"),
        cluster.topology.generation.to_string()
    );
    assert_eq!(value("schema"), "shop");
    assert!(value("uptime_seconds").parse::<u64>().is_ok());
    // A proxy given its rules in code has no file to read again (reload.rs reloads files).
    assert_refused(
        &mut admin,
        "SHARDGATE RELOAD CONFIG",
        1105,
        "not started from a config file",
    )
    .await;

    // Rules: each logical table's layout.
    let rules: Vec<mysql_async::Row> = admin.query("SHOW SHARDGATE RULES").await.unwrap();
    let t_order = rules
        .iter()
        .find(|r| r.get::<String, _>(0).as_deref() == Some("t_order"))
        .expect("t_order in the rules");
    assert_eq!(t_order.get::<String, _>(1).unwrap(), "sharded");
    assert_eq!(t_order.get::<String, _>(2).unwrap(), "order_id");
    assert_eq!(
        t_order.get::<String, _>(3).unwrap(),
        "order_db_0..order_db_31"
    );
    assert_eq!(t_order.get::<String, _>(5).unwrap(), "mod 32");
    assert_eq!(t_order.get::<String, _>(6).unwrap(), "div_mod 32 32");
    assert_eq!(t_order.get::<String, _>(7).unwrap(), "1024");
    assert_eq!(rules.len(), cluster.topology.tables.len());
    assert_refused(&mut app, "SHOW SHARDGATE RULES", 1227, "admin role").await;

    // SHARDGATE EXPLAIN: what `shardgate route` prints, line by line; nothing runs.
    let sql = "SELECT order_id FROM t_order WHERE order_id IN (1, 33, 4242) ORDER BY order_id";
    let plan: Vec<String> = admin
        .query(format!("SHARDGATE EXPLAIN {sql}"))
        .await
        .unwrap();
    let route = std::process::Command::new(shardgate_tests::shardgate_binary())
        .args(["route", "--config"])
        .arg(format!(
            "{}/../examples/orders.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(sql)
        .output()
        .expect("run shardgate route");
    assert!(route.status.success());
    let printed: Vec<String> = String::from_utf8_lossy(&route.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(plan, printed);
    assert!(plan.len() >= 3, "{plan:?}");
    // A statement the planner refuses is refused as EXPLAIN too, with its reason.
    assert_refused(
        &mut admin,
        "SHARDGATE EXPLAIN SELECT * FROM mysql.user",
        1235,
        "mysql",
    )
    .await;
    assert_refused(
        &mut admin,
        "SHARDGATE RELOAD NOTHING",
        1064,
        "SHARDGATE EXPLAIN",
    )
    .await;

    // The mariadb CLI (Connector/C) reads the answers.
    let port = cluster.proxy.port();
    let out = mariadb_cli(
        port,
        "SHOW SHARDGATE BACKENDS",
        &[&format!("-u{ADMIN_USER}")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("ds0\t") && text.contains("\nds1\t"),
        "{text}"
    );
    let out = mariadb_cli(port, "SHOW SHARDGATE BACKENDS", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1227"));

    // A stopped backend shows as down once a statement needed it.
    tokio::task::block_in_place(|| cluster.servers[1].stop());
    // Each statement that needs ds1 fails; the pool drops its idle connections on the
    // first failure, and the next statement's new connection is refused.
    let mut states = Vec::new();
    for _ in 0..10 {
        let mut fresh = cluster.client().await;
        assert!(fresh
            .query_drop("SELECT COUNT(*) FROM t_order")
            .await
            .is_err());
        states = admin
            .query_map("SHOW SHARDGATE BACKENDS", |row: mysql_async::Row| {
                (
                    row.get::<String, _>(0).unwrap(),
                    row.get::<String, _>(2).unwrap(),
                )
            })
            .await
            .unwrap();
        if states.iter().any(|(_, state)| state == "down") {
            break;
        }
    }
    assert_eq!(
        states,
        [
            ("ds0".to_string(), "up".to_string()),
            ("ds1".to_string(), "down".to_string())
        ]
    );
    // Down since the failure, with errors counted and the last one said.
    let backends: Vec<BackendRow> = admin.query("SHOW SHARDGATE BACKENDS").await.unwrap();
    let ds1 = &backends[1];
    assert!(ds1.8 < 60, "{ds1:?}");
    assert!(ds1.9 >= 1, "{ds1:?}");
    assert!(ds1.10.as_deref().is_some_and(|e| !e.is_empty()), "{ds1:?}");
    assert_eq!(backends[0].9, 0, "{:?}", backends[0]);
}
