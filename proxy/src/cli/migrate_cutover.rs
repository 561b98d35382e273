//! `shardgate migrate cutover` and `finish`: the switch to the new layout, and the end of
//! writing the old one.

use std::io::Write;

use anyhow::bail;
use shardgate_migrate::{
    check, drop_tables, repair, CheckOptions, MigrationPlan, Phase, Settle, StateStore, Step,
};

use super::migrate::{load, runtime, state_store, MigrateArgs};

/// Waits until every live proxy acts on `table`'s state `version` in a phase `accept`
/// takes (and has finished the writes it began before), and says how many did.
pub(super) async fn await_proxies(
    store: &StateStore,
    table: &str,
    version: u64,
    what: &str,
    accept: impl Fn(Phase) -> bool,
    settle: Settle,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let acks = store
        .wait_for_proxies(table, version, accept, settle)
        .await?;
    let n = acks.acknowledged.len();
    writeln!(
        out,
        "{n} live prox{} acknowledged {what}",
        if n == 1 { "y" } else { "ies" }
    )?;
    Ok(())
}

/// Cutover: refused unless the last check was clean and the repair log is empty. Fences
/// writes to the table, checks it once more (repairing what a write in flight left behind),
/// then flips the proxies to the new layout with writes copied back to the old one. A
/// final check that stays dirty lifts the fence and leaves the old layout in charge.
pub fn cutover(args: MigrateArgs<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let (plan, _, _) = load(&args)?;
    runtime()?.block_on(async {
        let store = state_store(&plan, args.state).await?;
        let Some(status) = store.status(&plan.table).await? else {
            bail!("no migration of `{}` has started", plan.table);
        };
        // Fencing: an earlier cutover died with its fence up; this one takes it over.
        let resumed = status.phase == Phase::Fencing;
        if !resumed && (status.phase != Phase::Checked || !status.last_check_clean) {
            bail!(
                "cutover refused: the last check of `{}` is not clean (phase {}); run check (and repair) first",
                plan.table,
                status.phase.as_str()
            );
        }
        if status.repair_log > 0 {
            bail!(
                "cutover refused: {} rows of `{}` wait in the repair log; run repair, then check",
                status.repair_log,
                plan.table
            );
        }
        let fenced = store.advance(&plan.table, Step::Fence, None).await?;
        writeln!(
            out,
            "writes to `{}` are fenced{}",
            plan.table,
            if resumed { " (taken over from a cutover that stopped)" } else { "" }
        )?;
        // Every live proxy holds writes at the fence and has finished those it had begun.
        if let Err(e) = await_proxies(
            &store,
            &plan.table,
            fenced.version,
            "the fence",
            |p| p == Phase::Fencing,
            Settle::UnderWay,
            out,
        )
        .await
        {
            store.advance(&plan.table, Step::Unfence, None).await?;
            store.close().await;
            return Err(e.context("cutover abandoned, writes go on by the old layout"));
        }
        writeln!(out, "final check")?;
        // The fence holds while this command renews it: should the command die, the
        // proxies lift it after FENCE_LEASE.
        let renewing = tokio::spawn({
            let store = store.clone();
            let table = plan.table.clone();
            async move {
                loop {
                    tokio::time::sleep(shardgate_migrate::FENCE_LEASE / 4).await;
                    if !matches!(store.renew_fence(&table).await, Ok(true)) {
                        break;
                    }
                }
            }
        });
        let checked = final_check(&plan, &store).await;
        renewing.abort();
        let clean = match checked {
            Ok(clean) => clean,
            Err(e) => {
                // Never leave the fence up: writes would wait and fail.
                store.advance(&plan.table, Step::Unfence, None).await?;
                store.close().await;
                return Err(e.context("cutover abandoned, writes go on by the old layout"));
            }
        };
        if !clean {
            store.advance(&plan.table, Step::Unfence, None).await?;
            store.set_check_clean(&plan.table, false).await?;
            store.close().await;
            bail!(
                "cutover abandoned: rows still differ after repair; writes go on by the old layout. Run check and repair, then cutover again"
            );
        }
        let status = store.advance(&plan.table, Step::Cutover, None).await?;
        writeln!(
            out,
            "cut over: reads and writes of `{}` go by the new layout; the old one is still written, so rollback stays possible",
            plan.table
        )?;
        writeln!(out, "{}", serde_json::to_string(&status)?)?;
        store.close().await;
        Ok(())
    })
}

/// Checks the whole table under the fence, repairing what a write in flight (or the
/// repair log) named, up to twice. Returns whether it came out clean.
async fn final_check(plan: &MigrationPlan, store: &StateStore) -> anyhow::Result<bool> {
    for _ in 0..2 {
        let mark = store.repair_log_mark(&plan.table).await?;
        let logged = store.repair_keys(&plan.table).await?;
        let report = check(plan, CheckOptions::default(), |_| {}).await?;
        let mut keys = report.keys();
        keys.extend(logged);
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            return Ok(true);
        }
        repair(plan, &keys).await?;
        store.clear_repaired(&plan.table, mark).await?;
    }
    Ok(false)
}

/// Finish: the old layout is no longer written (and, with `drop_source`, its tables go).
pub fn finish(
    args: MigrateArgs<'_>,
    drop_source: bool,
    force: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (plan, _, _) = load(&args)?;
    runtime()?.block_on(async {
        let store = state_store(&plan, args.state).await?;
        super::migrate::refuse_with_repairs_waiting(&store, &plan.table, "finish", force).await?;
        let status = store.advance(&plan.table, Step::Finish, None).await?;
        writeln!(
            out,
            "finished: `{}` lives in the new layout alone; give the proxies the new config when convenient",
            plan.table
        )?;
        if drop_source {
            // Every proxy must have stopped writing the old tables first.
            await_proxies(
                &store,
                &plan.table,
                status.version,
                "the finish",
                |p| p == Phase::Finished,
                Settle::UnderWay,
                out,
            )
            .await
            .map_err(|e| e.context("the old tables were not dropped"))?;
            let dropped = drop_tables(&plan.source).await?;
            writeln!(out, "dropped {dropped} old tables")?;
        }
        writeln!(out, "{}", serde_json::to_string(&status)?)?;
        store.close().await;
        Ok(())
    })
}
