//! Ids per second of one worker: the snowflake generator at full speed (its layout caps it
//! at 4,096 ids per millisecond) and the segment generator in process (a memory store, so
//! the database's latency is out of the figure).
//! `cargo bench -p shardgate-idgen --bench ids`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardgate_idgen::{
    Layout, MemorySegmentStore, SegmentConfig, SegmentGenerator, Snowflake, SystemClock,
};

const BATCH: u64 = 100_000;

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("ids");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    let snowflake = match Snowflake::new(Layout::default(), 1, SystemClock, 5) {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    };
    group.bench_function("snowflake, one worker, one id per call", |b| {
        b.iter(|| {
            let mut last = 0;
            for _ in 0..BATCH {
                last = snowflake.next_id().unwrap_or(last);
            }
            last
        })
    });
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => panic!("{e}"),
    };
    let segment = SegmentGenerator::new(
        "bench",
        MemorySegmentStore::default(),
        SegmentConfig::default(),
    );
    group.bench_function("segment, in process, one id per call", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut last = 0;
                for _ in 0..BATCH {
                    last = segment.next_id().await.unwrap_or(last);
                }
                last
            })
        })
    });
    group.finish();
}

criterion_group!(benches, ids);
criterion_main!(benches);
