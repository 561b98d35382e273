//! The first steps of a migration on real MariaDB servers: an unsharded `legacy.t_order` on
//! one server moves to the 32 x 32 layout over two. The state machine lives in a MariaDB
//! table; the backfill is killed partway, resumes from its checkpoint, and afterwards every
//! source row is in the target table its key routes to, exactly once.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_config::Topology;
use shardgate_migrate::{
    backend_opts, backfill, check, create_target_tables, locked_pieces, repair, BackfillOptions,
    CheckOptions, Checker, MigrationPlan, Phase, StateStore, Step,
};
use shardgate_tests::{legacy_source_yaml, Cluster};

const ROWS: i64 = 20_000;

/// order_id, user_id, status, amount (as text), note.
type OrderRow = (
    i64,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<String>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_resumes_after_a_kill_and_places_every_row() {
    let cluster = Cluster::start().await;
    let mut legacy = cluster.backend(0).await;
    legacy
        .query_drop(
            "CREATE DATABASE legacy; CREATE TABLE legacy.t_order (order_id BIGINT NOT NULL PRIMARY KEY, \
             user_id INT NULL, status VARCHAR(16) NULL, amount DECIMAL(12,2) NULL, note TEXT NULL)",
        )
        .await
        .unwrap();
    for chunk in (1..=ROWS).collect::<Vec<_>>().chunks(2000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| {
                let id = i * 7919 % 1_000_003; // scattered keys
                let note = if i % 5 == 0 {
                    "NULL".to_string()
                } else {
                    format!("'n{i}'")
                };
                format!(
                    "({id}, {}, 'new', {}.{:02}, {note})",
                    i % 100,
                    i % 1000,
                    i % 100
                )
            })
            .collect();
        legacy
            .query_drop(format!(
                "INSERT INTO legacy.t_order VALUES {}",
                values.join(", ")
            ))
            .await
            .unwrap();
    }
    let target = Topology::clone(&cluster.topology);
    let plan = MigrationPlan::new(
        Topology::from_yaml(&legacy_source_yaml(&cluster), "source.yaml").unwrap(),
        target,
        "t_order",
    )
    .unwrap();
    assert_eq!(plan.source.physical.len(), 1);
    assert_eq!(plan.target.physical.len(), 1024);
    assert!(plan.to_string().contains("1024 physical tables"), "{plan}");

    // check's locked recheck takes a differing range a bounded piece at a time: the whole
    // key space of 20,000 rows comes in pieces of at most 5,000 rows, in order, covering
    // every row, so no writer waits on more than one piece's locks.
    let pieces = locked_pieces(&plan.source, "order_id", &[(i64::MIN, i64::MAX)])
        .await
        .unwrap();
    assert!(pieces.len() >= 4, "{} pieces", pieces.len());
    let mut covered = 0;
    for (i, (lo, hi)) in pieces.iter().enumerate() {
        if i > 0 {
            assert_eq!(*lo, pieces[i - 1].1 + 1, "pieces follow each other");
        }
        let rows: Option<i64> = legacy
            .query_first(format!(
                "SELECT COUNT(*) FROM legacy.t_order WHERE order_id BETWEEN {lo} AND {hi}"
            ))
            .await
            .unwrap();
        let rows = rows.unwrap_or(0);
        assert!(rows <= 5000, "piece {lo}..={hi} holds {rows} rows");
        covered += rows;
    }
    assert_eq!(covered, ROWS);
    assert_eq!(pieces.last().map(|p| p.1), Some(i64::MAX));

    let store = Arc::new(
        StateStore::open(
            backend_opts(&cluster.topology.backends[0]),
            "shardgate_meta",
            "ds0",
        )
        .await
        .unwrap(),
    );
    // Steps out of order are refused; start records the configs.
    assert!(store
        .advance("t_order", Step::Backfill, None)
        .await
        .is_err());
    let targets = create_target_tables(&plan).await.unwrap();
    assert_eq!((targets.created, targets.existing), (1024, 0));
    let status = store
        .advance("t_order", Step::Start, Some(("source yaml", "target yaml")))
        .await
        .unwrap();
    assert_eq!(status.phase, Phase::DualWrite);
    assert!(store.advance("t_order", Step::Cutover, None).await.is_err());
    store
        .advance("t_order", Step::Backfill, None)
        .await
        .unwrap();

    // Kill the backfill partway (the task is dropped mid-chunk, as a killed process is).
    let options = BackfillOptions {
        chunk_rows: 500,
        max_chunk_rows: 500,
        ..Default::default()
    };
    let killed = {
        let (plan, store) = (plan.clone(), store.clone());
        tokio::spawn(async move { backfill(&plan, &store, options, |_| {}).await })
    };
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let copied = store.status("t_order").await.unwrap().unwrap().copied_rows;
        if copied >= 5000 {
            break;
        }
        assert!(
            !killed.is_finished(),
            "the backfill ended before it was killed"
        );
    }
    killed.abort();
    let _ = killed.await;
    let before = store.status("t_order").await.unwrap().unwrap();
    assert!(
        before.copied_rows >= 5000 && before.copied_rows < ROWS as u64,
        "{before:?}"
    );
    assert_eq!(before.phase, Phase::Backfilling);

    // Resume: it starts from the checkpoint, not from zero.
    let mut first = None;
    let done = backfill(&plan, &store, options, |p| {
        first.get_or_insert(p.copied);
    })
    .await
    .unwrap();
    assert!(
        first.unwrap_or(0) > before.copied_rows,
        "resumed from the checkpoint"
    );
    assert_eq!(done.copied, ROWS as u64);
    let status = store
        .advance("t_order", Step::BackfillDone, None)
        .await
        .unwrap();
    assert_eq!(status.phase, Phase::Backfilled);
    assert_eq!(status.copied_rows, ROWS as u64);
    assert_eq!(status.backfilled_tables, 1);

    // Every source row is in its target table, once, with the same values.
    let source: Vec<OrderRow> = legacy
        .query("SELECT order_id, user_id, status, CAST(amount AS CHAR), note FROM legacy.t_order ORDER BY order_id")
        .await
        .unwrap();
    let mut copied = Vec::new();
    for (i, _) in cluster.servers.iter().enumerate() {
        let mut conn = cluster.backend(i).await;
        for db in (0..32).filter(|d| d % 2 == i) {
            for t in 0..32 {
                let rows: Vec<OrderRow> = conn
                    .query(format!(
                        "SELECT order_id, user_id, status, CAST(amount AS CHAR), note FROM order_db_{db}.t_order_{t}"
                    ))
                    .await
                    .unwrap();
                for row in &rows {
                    assert_eq!((row.0 % 32, row.0 / 32 % 32), (db as i64, t), "{row:?}");
                }
                copied.extend(rows);
            }
        }
    }
    copied.sort_by_key(|r| r.0);
    assert_eq!(copied.len(), source.len());
    assert_eq!(copied, source);

    // Check: clean right after the backfill.
    let options = CheckOptions {
        recheck_delay: Duration::from_millis(50),
        ..Default::default()
    };
    let report = check(&plan, options, |_| {}).await.unwrap();
    assert!(report.clean(), "{report:?}");
    assert_eq!(report.source_rows, ROWS as u64);
    assert_eq!(report.target_rows, ROWS as u64);
    store.advance("t_order", Step::Check, None).await.unwrap();

    // Damage the target: a row lost, a row changed, a NULL turned into '', a row extra.
    let lost = source[10].0;
    let changed = source[20].0;
    let nulled = source.iter().find(|r| r.4.is_none()).map(|r| r.0).unwrap();
    let extra = 5_000_000_i64;
    let on_target = |k: i64| {
        let (db, t) = (k % 32, k / 32 % 32);
        ((db % 2) as usize, format!("order_db_{db}.t_order_{t}"))
    };
    for (k, sql) in [
        (lost, "DELETE FROM {t} WHERE order_id = {k}"),
        (
            changed,
            "UPDATE {t} SET amount = amount + 1 WHERE order_id = {k}",
        ),
        (nulled, "UPDATE {t} SET note = '' WHERE order_id = {k}"),
        (
            extra,
            "INSERT INTO {t} (order_id, status) VALUES ({k}, 'stray')",
        ),
    ] {
        let (backend, table) = on_target(k);
        let mut conn = cluster.backend(backend).await;
        conn.query_drop(sql.replace("{t}", &table).replace("{k}", &k.to_string()))
            .await
            .unwrap();
    }
    let report = check(&plan, options, |_| {}).await.unwrap();
    assert_eq!(report.missing, vec![lost]);
    let mut different = vec![changed, nulled];
    different.sort_unstable();
    assert_eq!(report.different, different);
    assert_eq!(report.extra, vec![extra]);
    store.set_check_clean("t_order", false).await.unwrap();

    // A check stopped after its first segment resumes where it stopped: together the two
    // runs find exactly the damage, the second only past the first's segments.
    let fine = CheckOptions {
        rows_per_chunk: 5,
        ..options
    };
    let mut stopped = Checker::start(&plan, fine, None).await.unwrap();
    assert!(stopped.segments().1 >= 3, "{:?}", stopped.segments());
    stopped.next_segment().await.unwrap().unwrap();
    let at = stopped.position().unwrap();
    let before = stopped.report().keys();
    stopped.close().await;
    let mut resumed = Checker::start(&plan, fine, Some(at)).await.unwrap();
    assert_eq!(resumed.segments().0, 1);
    while resumed.next_segment().await.unwrap().is_some() {}
    let after = resumed.report().keys();
    resumed.close().await;
    assert!(before.contains(&lost), "{before:?}");
    assert_eq!(after, vec![extra]);
    assert!(after.iter().all(|k| *k >= at.next_key));
    let mut both = [before, after].concat();
    both.sort_unstable();
    assert_eq!(both, report.keys());

    // Repair copies those keys again from the source; check is clean again.
    assert_eq!(repair(&plan, &report.keys()).await.unwrap(), 4);
    store.advance("t_order", Step::Repair, None).await.unwrap();
    let report = check(&plan, options, |_| {}).await.unwrap();
    assert!(report.clean(), "{report:?}");
    store.set_check_clean("t_order", true).await.unwrap();
    assert!(
        store
            .status("t_order")
            .await
            .unwrap()
            .unwrap()
            .last_check_clean
    );

    // Rollback goes back to the source alone; the state says so.
    let status = store
        .advance("t_order", Step::Rollback, None)
        .await
        .unwrap();
    assert_eq!(status.phase, Phase::RolledBack);
}
