//! The merge's cost per row, without the network: 32 shard streams of sorted text rows
//! merged by a k-way ORDER BY, concatenated, and folded into groups as they stream.
//! `cargo bench -p shardgate-proxy --bench merge`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shardgate_proxy::engine::merge::stream::{channel, Budget, Chunk, ShardHeader, ShardRow};
use shardgate_proxy::engine::merge::{ColumnKind, Merger, Strategy};
use shardgate_router::{Aggregate, AggregateFunction, SelectMerge, SortKey};

const STREAMS: usize = 32;
const ROWS: usize = 2_000;

/// A text row packet of (id, group, amount) and its decoded values.
fn row(id: usize) -> ShardRow {
    let values: Vec<Option<Vec<u8>>> = vec![
        Some(id.to_string().into_bytes()),
        Some((id / 97 % 50).to_string().into_bytes()),
        Some(format!("{}.{:02}", id % 1000, id % 100).into_bytes()),
    ];
    let mut packet = Vec::new();
    for v in values.iter().flatten() {
        packet.push(v.len() as u8);
        packet.extend_from_slice(v);
    }
    ShardRow {
        size: packet.len(),
        packet,
        values,
        cost: 0,
    }
}

/// Shard `s` holds ids `s, s + STREAMS, ...` in order.
fn streams(
    rt: &tokio::runtime::Runtime,
) -> Vec<shardgate_proxy::engine::merge::stream::ShardStream> {
    rt.block_on(async {
        let mut out = Vec::with_capacity(STREAMS);
        for s in 0..STREAMS {
            let (tx, stream) = channel(false, Budget::new(usize::MAX >> 2));
            let header = ShardHeader {
                columns: vec![Vec::new(); 3],
                kinds: vec![ColumnKind::Numeric; 3],
                types: vec![(0x08, 0, 0), (0x08, 0, 0), (0xF6, 0, 2)],
                binary: false,
            };
            let _ = tx.send(Ok(Chunk::Header(header))).await;
            let rows: Vec<ShardRow> = (0..ROWS).map(|i| row(i * STREAMS + s)).collect();
            for batch in rows.chunks(64) {
                let _ = tx.send(Ok(Chunk::Rows(batch.to_vec()))).await;
            }
            let _ = tx.send(Ok(Chunk::End)).await;
            out.push(stream);
        }
        out
    })
}

fn drain(
    rt: &tokio::runtime::Runtime,
    spec: &SelectMerge,
    strategy: Strategy,
    input: Vec<shardgate_proxy::engine::merge::stream::ShardStream>,
) -> usize {
    rt.block_on(async {
        let Ok(mut merger) = Merger::start(spec, strategy, input).await else {
            return 0;
        };
        let mut n = 0;
        while let Ok(Some(_)) = merger.next().await {
            n += 1;
        }
        n
    })
}

fn merge(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Elements((STREAMS * ROWS) as u64));
    group.sample_size(20);
    let concat = SelectMerge::default();
    group.bench_function("concat 32 x 2000 rows", |b| {
        b.iter_batched(
            || streams(&rt),
            |input| drain(&rt, &concat, Strategy::Concat, input),
            BatchSize::LargeInput,
        )
    });
    let ordered = SelectMerge {
        order_by: vec![SortKey {
            column: Some(0),
            expr: "id".into(),
            descending: false,
        }],
        shard_order: Some(" ORDER BY 1".into()),
        ..Default::default()
    };
    group.bench_function("k-way ORDER BY 32 x 2000 rows", |b| {
        b.iter_batched(
            || streams(&rt),
            |input| drain(&rt, &ordered, Strategy::Ordered, input),
            BatchSize::LargeInput,
        )
    });
    let grouped = SelectMerge {
        group_by: vec!["g".into()],
        group_by_columns: vec![Some(1)],
        aggregates: vec![
            Aggregate {
                function: AggregateFunction::Count,
                column: 0,
                distinct: false,
            },
            Aggregate {
                function: AggregateFunction::Sum,
                column: 2,
                distinct: false,
            },
        ],
        ..Default::default()
    };
    group.bench_function("hash GROUP BY 32 x 2000 rows", |b| {
        b.iter_batched(
            || streams(&rt),
            |input| drain(&rt, &grouped, Strategy::GroupHash, input),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, merge);
criterion_main!(benches);
