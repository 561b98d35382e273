use shardgate_router::{Aggregate, AggregateFunction, Derived, SelectMerge, SortKey};

use super::*;
use crate::engine::merge::stream::{channel, Budget, Chunk};
use crate::engine::merge::support;

/// A stream already holding a text result of `kinds` columns and `rows`.
async fn stream(
    kinds: &[ColumnKind],
    types: &[(u8, u16, u8)],
    rows: &[&[Option<&str>]],
) -> ShardStream {
    let (tx, s) = channel(false, Budget::new(1 << 30));
    let header = ShardHeader {
        columns: kinds.iter().map(|_| Vec::new()).collect(),
        kinds: kinds.to_vec(),
        types: if types.is_empty() {
            kinds.iter().map(|_| (0xFD, 0, 0)).collect()
        } else {
            types.to_vec()
        },
        binary: false,
    };
    tx.send(Ok(Chunk::Header(header))).await.unwrap();
    let rows = rows
        .iter()
        .map(|r| ShardRow {
            packet: Vec::new(),
            values: r.iter().map(|v| v.map(|s| s.as_bytes().to_vec())).collect(),
            cost: 0,
            size: 0,
        })
        .collect();
    tx.send(Ok(Chunk::Rows(rows))).await.unwrap();
    tx.send(Ok(Chunk::End)).await.unwrap();
    s
}

async fn run(
    spec: &SelectMerge,
    strategy: Strategy,
    streams: Vec<ShardStream>,
) -> Vec<Vec<Option<String>>> {
    let mut merger = Merger::start(spec, strategy, streams).await.unwrap();
    let mut out = Vec::new();
    while let Some(row) = merger.next().await.unwrap() {
        let OutRow::Values(values) = row else {
            panic!("expected values")
        };
        out.push(
            values
                .iter()
                .map(|v| v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()))
                .collect(),
        );
    }
    out
}

fn texts(rows: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
        .collect()
}

fn aggregate(function: AggregateFunction, column: usize, distinct: bool) -> Aggregate {
    Aggregate {
        function,
        column,
        distinct,
    }
}

#[tokio::test]
async fn kway_and_buffered_orders_agree_with_nulls_limit_and_offset() {
    let spec = SelectMerge {
        order_by: vec![SortKey {
            column: Some(0),
            expr: "n".into(),
            descending: false,
        }],
        limit: Some(3),
        offset: 1,
        // A hidden sort key forces values out, so the test can read them.
        derived: vec![Derived::SortKey { key: 9 }],
        ..Default::default()
    };
    let kinds = [ColumnKind::Numeric, ColumnKind::Numeric];
    for strategy in [Strategy::Ordered, Strategy::Buffered] {
        let a = stream(&kinds, &[], &[&[None, Some("0")], &[Some("10"), Some("0")]]).await;
        let b = stream(
            &kinds,
            &[],
            &[&[Some("-1"), Some("0")], &[Some("9"), Some("0")]],
        )
        .await;
        assert_eq!(
            run(&spec, strategy, vec![a, b]).await,
            texts(&[&[Some("-1")], &[Some("9")], &[Some("10")]]),
            "{strategy:?}"
        );
    }
}

#[tokio::test]
async fn kway_refuses_a_stream_out_of_order() {
    let spec = SelectMerge {
        order_by: vec![SortKey {
            column: Some(0),
            expr: "n".into(),
            descending: false,
        }],
        ..Default::default()
    };
    let kinds = [ColumnKind::Numeric];
    let a = stream(&kinds, &[], &[&[Some("2")], &[Some("1")]]).await;
    let mut merger = Merger::start(&spec, Strategy::Ordered, vec![a])
        .await
        .unwrap();
    // The row after 2 is 1: the merge stops with an error instead of answering out of order.
    assert!(matches!(merger.next().await, Err(MergeError::Unordered(_))));
}

#[tokio::test]
async fn aggregates_fold_across_shards() {
    let spec = SelectMerge {
        aggregates: vec![
            aggregate(AggregateFunction::Count, 0, false),
            aggregate(AggregateFunction::Sum, 1, false),
            aggregate(AggregateFunction::Min, 2, false),
            aggregate(AggregateFunction::Max, 3, false),
        ],
        ..Default::default()
    };
    let kinds = [
        ColumnKind::Numeric,
        ColumnKind::Numeric,
        ColumnKind::TextCi,
        ColumnKind::Numeric,
    ];
    let a = stream(
        &kinds,
        &[],
        &[&[Some("2"), Some("1.50"), Some("b"), Some("7")]],
    )
    .await;
    let b = stream(&kinds, &[], &[&[Some("0"), None, None, None]]).await;
    let c = stream(
        &kinds,
        &[],
        &[&[Some("3"), Some("-0.25"), Some("A"), Some("12")]],
    )
    .await;
    assert_eq!(
        run(&spec, Strategy::GroupHash, vec![a, b, c]).await,
        texts(&[&[Some("5"), Some("1.25"), Some("A"), Some("12")]])
    );
}

#[tokio::test]
async fn groups_fold_and_average_hashed_or_streamed() {
    // SELECT k, COUNT(*), AVG(v) ... GROUP BY k, with SUM(v), COUNT(v) derived.
    let spec = SelectMerge {
        group_by: vec!["k".into()],
        group_by_columns: vec![Some(0)],
        aggregates: vec![
            aggregate(AggregateFunction::Count, 1, false),
            aggregate(AggregateFunction::Avg, 2, false),
        ],
        derived: vec![Derived::AvgParts { avg: 2 }],
        shard_order: Some(" ORDER BY 1".into()),
        ..Default::default()
    };
    let kinds = [
        ColumnKind::TextCi,
        ColumnKind::Numeric,
        ColumnKind::Numeric,
        ColumnKind::Numeric,
        ColumnKind::Numeric,
    ];
    let types = [
        (0xFD, 0, 0),
        (0x08, 0, 0),
        (0xF6, 0, 4),
        (0xF6, 0, 0),
        (0x08, 0, 0),
    ];
    for strategy in [Strategy::GroupHash, Strategy::GroupStream] {
        let a = stream(
            &kinds,
            &types,
            &[
                &[Some("A"), Some("1"), Some("4.0000"), Some("4"), Some("1")],
                &[Some("b"), Some("2"), Some("1.5000"), Some("3"), Some("2")],
            ],
        )
        .await;
        let b = stream(
            &kinds,
            &types,
            &[&[Some("a"), Some("2"), Some("1.0000"), Some("2"), Some("2")]],
        )
        .await;
        assert_eq!(
            run(&spec, strategy, vec![a, b]).await,
            texts(&[
                &[Some("A"), Some("3"), Some("2.0000")],
                &[Some("b"), Some("2"), Some("1.5000")],
            ]),
            "{strategy:?}"
        );
    }
}

#[tokio::test]
async fn distinct_aggregates_count_values_once_over_all_shards() {
    // SELECT COUNT(DISTINCT x), SUM(DISTINCT x), COUNT(*) FROM t: shards group by x.
    let spec = SelectMerge {
        aggregates: vec![
            aggregate(AggregateFunction::Count, 0, true),
            aggregate(AggregateFunction::Sum, 1, true),
            aggregate(AggregateFunction::Count, 2, false),
        ],
        derived: vec![
            Derived::DistinctArg { aggregate: 0 },
            Derived::DistinctArg { aggregate: 1 },
        ],
        ..Default::default()
    };
    let kinds = [ColumnKind::Numeric; 5];
    let a = stream(
        &kinds,
        &[],
        &[
            &[Some("1"), Some("5"), Some("2"), Some("5"), Some("5")],
            &[Some("0"), None, Some("1"), None, None],
        ],
    )
    .await;
    let b = stream(
        &kinds,
        &[],
        &[
            &[Some("1"), Some("5.0"), Some("1"), Some("5.0"), Some("5.0")],
            &[Some("1"), Some("7"), Some("3"), Some("7"), Some("7")],
        ],
    )
    .await;
    assert_eq!(
        run(&spec, Strategy::GroupHash, vec![a, b]).await,
        texts(&[&[Some("2"), Some("12"), Some("7")]])
    );
    // No rows anywhere: one row, COUNTs of 0 and a NULL SUM.
    let empty = stream(&kinds, &[], &[]).await;
    assert_eq!(
        run(&spec, Strategy::GroupHash, vec![empty]).await,
        texts(&[&[Some("0"), None, Some("0")]])
    );
}

#[tokio::test]
async fn having_on_an_aggregate_the_client_did_not_select() {
    use shardgate_router::{CompareOp, HavingFilter, HavingOperand};
    // SELECT k FROM t GROUP BY k HAVING COUNT(*) > 2
    let spec = SelectMerge {
        group_by: vec!["k".into()],
        group_by_columns: vec![Some(0)],
        having: Some("COUNT(*) > 2".into()),
        having_filter: Some(HavingFilter::Compare {
            left: HavingOperand::Aggregate(0),
            op: CompareOp::Gt,
            right: HavingOperand::Const(Some("2".into())),
        }),
        derived: vec![Derived::HavingAggregate {
            index: 0,
            function: AggregateFunction::Count,
            distinct: false,
        }],
        ..Default::default()
    };
    let kinds = [ColumnKind::Bytes, ColumnKind::Numeric];
    let a = stream(
        &kinds,
        &[],
        &[&[Some("x"), Some("2")], &[Some("y"), Some("1")]],
    )
    .await;
    let b = stream(
        &kinds,
        &[],
        &[&[Some("x"), Some("1")], &[Some("z"), Some("5")]],
    )
    .await;
    assert_eq!(
        run(&spec, Strategy::GroupHash, vec![a, b]).await,
        texts(&[&[Some("x")], &[Some("z")]])
    );
}

#[test]
fn unsupported_merges_say_why() {
    let spec = SelectMerge {
        group_by: vec!["x + 1".into()],
        group_by_columns: vec![None],
        ..Default::default()
    };
    assert!(support(&spec).unwrap_err().contains("GROUP BY `x + 1`"));
    let spec = SelectMerge {
        having: Some("c > 1".into()),
        ..Default::default()
    };
    assert!(support(&spec).unwrap_err().contains("HAVING"));
}
