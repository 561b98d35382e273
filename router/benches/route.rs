//! Routing cost per statement on the 32 x 32 example layout. The aim: at most 2 us per routed
//! point select on a shape-cache hit (sqlparser alone costs ~12 us a parse).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate_config::Topology;
use shardgate_router::{Router, ShapeCache};

fn router() -> Router {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/orders.yaml");
    Router::new(Arc::new(Topology::load(path).expect("example config")))
}

fn bench(c: &mut Criterion) {
    let r = router();
    let mut cache = ShapeCache::default();

    let mut key = 0i64;
    c.bench_function("point select, cache hit", |b| {
        b.iter(|| {
            key = key.wrapping_add(7919);
            let sql = format!("SELECT id, k, c, pad FROM t_order WHERE order_id = {key}");
            r.route(std::hint::black_box(&sql), &mut cache).unwrap()
        })
    });
    let point = "SELECT id, k, c, pad FROM t_order WHERE order_id = 4242";
    c.bench_function("point select, fixed text, cache hit", |b| {
        b.iter(|| r.route(std::hint::black_box(point), &mut cache).unwrap())
    });
    c.bench_function("point select, no cache (parse every time)", |b| {
        b.iter(|| r.route_uncached(std::hint::black_box(point)).unwrap())
    });

    let rows: Vec<String> = (0..100)
        .map(|i| format!("({}, {i}, 'note {i}')", i * 7919 + 1))
        .collect();
    let insert = format!(
        "INSERT INTO t_order (order_id, user_id, note) VALUES {}",
        rows.join(", ")
    );
    c.bench_function("100-row INSERT, cache hit", |b| {
        b.iter(|| r.route(std::hint::black_box(&insert), &mut cache).unwrap())
    });

    let keys: Vec<String> = (0..50).map(|i| (i * 104_729 + 3).to_string()).collect();
    let in_list = format!(
        "SELECT * FROM t_order WHERE order_id IN ({})",
        keys.join(", ")
    );
    c.bench_function("IN list of 50 keys, cache hit", |b| {
        b.iter(|| r.route(std::hint::black_box(&in_list), &mut cache).unwrap())
    });

    let scatter = "SELECT order_id, amount FROM t_order WHERE status = 'paid' ORDER BY amount DESC LIMIT 20, 10";
    c.bench_function(
        "scatter SELECT ORDER BY LIMIT (1024 statements), cache hit",
        |b| b.iter(|| r.route(std::hint::black_box(scatter), &mut cache).unwrap()),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
