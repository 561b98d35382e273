//! Shared by the router's integration tests: the example layout and a few helpers.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;

use shardgate_config::Topology;
use shardgate_router::{Plan, Router, RouterError, ShapeCache};

pub fn router() -> Router {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/orders.yaml");
    Router::new(Arc::new(
        Topology::load(path).expect("example config loads"),
    ))
}

pub fn route(sql: &str) -> Plan {
    let r = router();
    let plan = r
        .route(sql, &mut ShapeCache::default())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    // The uncached path must agree with the shape-cache path.
    assert_eq!(
        plan,
        r.route_uncached(sql).unwrap(),
        "cached and uncached plans differ for {sql}"
    );
    plan
}

pub fn route_err(sql: &str) -> RouterError {
    router()
        .route(sql, &mut ShapeCache::default())
        .expect_err("statement should be refused")
}

/// (database name, sql) of each target.
pub fn statements(plan: &Plan) -> Vec<(String, String)> {
    let r = router();
    let t = r.topology();
    plan.statements()
        .iter()
        .map(|s| {
            (
                s.database
                    .map_or("-".to_string(), |d| t.databases[d].name.clone()),
                s.sql.clone(),
            )
        })
        .collect()
}

/// The one physical statement of a single-target plan: (database, SQL).
pub fn one(sql: &str) -> (String, String) {
    let plan = route(sql);
    assert_eq!(plan.statements().len(), 1, "{sql} should have one target");
    assert!(matches!(plan.step, shardgate_router::Step::Route(_)));
    statements(&plan).remove(0)
}
