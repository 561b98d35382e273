//! Loading and expanding a large config: 20 logical tables of 1024 physical tables each
//! (32 databases x 32 tables). The budget is under 50 ms.

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate_config::Topology;

fn large_config() -> String {
    let mut yaml = String::from(
        "backends:\n  - {name: ds0, address: 127.0.0.1:3306, user: root}\n  - {name: ds1, address: 127.0.0.1:3316, user: root}\n\
         databases:\n  - {names: 'db_{0..31}', backends: [ds0, ds1]}\nschema:\n  name: shop\n  tables:\n",
    );
    for t in 0..20 {
        yaml.push_str(&format!(
            "    - name: t{t}\n      kind: sharded\n      sharding_column: id\n      databases: 'db_{{0..31}}'\n      tables: 't{t}_{{0..31}}'\n      database_algorithm: {{type: mod, modulus: 32}}\n      table_algorithm: {{type: div_mod, divisor: 32, modulus: 32}}\n"
        ));
    }
    yaml
}

fn load(c: &mut Criterion) {
    let yaml = large_config();
    let t = Topology::from_yaml(&yaml, "bench.yaml").expect("bench config is valid");
    assert_eq!(
        (0..t.tables.len())
            .map(|id| t.physical_table_count(id))
            .sum::<usize>(),
        20 * 1024
    );
    c.bench_function("load 20 x 1024 physical tables", |b| {
        b.iter(|| Topology::from_yaml(std::hint::black_box(&yaml), "bench.yaml").unwrap())
    });
}

criterion_group!(benches, load);
criterion_main!(benches);
