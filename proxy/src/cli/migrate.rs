//! `shardgate migrate`: plan, start, backfill, status, rollback.
//!
//! The migration state lives in `shardgate_meta` on the backend the source config's
//! `migration_state.backend` names (its first by default): the proxies, which run with the
//! source config, read it there, and so does every run of this command.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use mysql_async::prelude::Queryable;
use shardgate_config::Topology;
use shardgate_migrate::{
    backend_opts, backfill, create_target_tables, repair, BackfillOptions, CheckOptions, Checker,
    MigrationPlan, StateStore, Step,
};

/// The database holding the migration state.
const STATE_DATABASE: &str = "shardgate_meta";

/// What every migrate subcommand is given.
pub struct MigrateArgs<'a> {
    pub from: &'a Path,
    pub to: &'a Path,
    pub table: &'a str,
    /// The backend (of the source config) holding the state; its first by default.
    pub state: Option<&'a str>,
}

pub(super) fn load(args: &MigrateArgs<'_>) -> anyhow::Result<(MigrationPlan, String, String)> {
    let from_text = std::fs::read_to_string(args.from)
        .with_context(|| format!("reading {}", args.from.display()))?;
    let to_text = std::fs::read_to_string(args.to)
        .with_context(|| format!("reading {}", args.to.display()))?;
    let from = Topology::from_yaml(&from_text, args.from)?;
    let to = Topology::from_yaml(&to_text, args.to)?;
    Ok((
        MigrationPlan::new(from, to, args.table)?,
        from_text,
        to_text,
    ))
}

pub(super) async fn state_store(
    plan: &MigrationPlan,
    state: Option<&str>,
) -> anyhow::Result<StateStore> {
    let topology = &plan.source.topology;
    let watched = topology
        .backends
        .get(topology.migration_state)
        .context("the source config has no backend")?;
    // The proxies, running with the source config, read the state on its
    // `migration_state.backend` only: a state kept elsewhere would never reach them, and they
    // would neither dual-write nor switch.
    if let Some(name) = state {
        if !topology.backends.iter().any(|b| b.name == name) {
            bail!("--state {name}: the source config has no backend `{name}`");
        }
        if name != watched.name {
            bail!(
                "--state {name}: the proxies running the source config read the migration state on `{}`, where its `migration_state.backend` puts it (the first backend when not set); set `migration_state: {{ backend: {name} }}` in the config the proxies run with, or leave out --state",
                watched.name
            );
        }
    }
    Ok(StateStore::open(backend_opts(watched), STATE_DATABASE, &watched.name).await?)
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Rows in the source's physical tables, as the servers estimate them.
async fn estimate_rows(plan: &MigrationPlan) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for (i, backend) in plan.source.topology.backends.iter().enumerate() {
        let tables: Vec<_> = plan
            .source
            .physical
            .iter()
            .filter(|t| t.backend == i)
            .collect();
        if tables.is_empty() {
            continue;
        }
        let connect = mysql_async::Conn::new(backend_opts(backend));
        let mut conn = tokio::time::timeout(Duration::from_secs(3), connect)
            .await
            .with_context(|| format!("backend {}: no answer", backend.name))??;
        for t in tables {
            let rows: Option<Option<u64>> = conn
                .exec_first(
                    "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    (&t.database, &t.table),
                )
                .await?;
            total += rows.flatten().unwrap_or(0);
        }
    }
    Ok(total)
}

pub fn plan(args: MigrateArgs<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let (plan, _, _) = load(&args)?;
    writeln!(out, "{plan}")?;
    match runtime()?.block_on(estimate_rows(&plan)) {
        Ok(rows) => writeln!(
            out,
            "rows      about {rows} in the source (the servers' estimate)"
        )?,
        Err(e) => writeln!(out, "rows      unknown: {e:#}")?,
    }
    Ok(())
}

pub fn start(
    args: MigrateArgs<'_>,
    reuse_targets: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (plan, from_text, to_text) = load(&args)?;
    runtime()?.block_on(async {
        let store = state_store(&plan, args.state).await?;
        if let Some(status) = store.status(&plan.table).await? {
            // Refuse before creating anything when the step does not follow.
            shardgate_migrate::next(Some(status.phase), Step::Start)
                .map_err(|e| anyhow::anyhow!("migrate: {e}"))?;
        }
        let targets = create_target_tables(&plan).await?;
        writeln!(
            out,
            "created {} target tables, {} existed",
            targets.created, targets.existing
        )?;
        if !targets.holding_rows.is_empty() && !reuse_targets {
            bail!(
                "start refused: {} target tables already hold rows (first: {}); rows left by another routing would be read as this table's. Empty them, or start --reuse-targets if they came from an earlier attempt with this same target config",
                targets.holding_rows.len(),
                targets.holding_rows[0]
            );
        }
        let status = store
            .advance(&plan.table, Step::Start, Some((&from_text, &to_text)))
            .await?;
        writeln!(out, "{}", serde_json::to_string(&status)?)?;
        store.close().await;
        Ok(())
    })
}

pub fn run_backfill(args: MigrateArgs<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let (plan, _, _) = load(&args)?;
    runtime()?.block_on(async {
        let store = state_store(&plan, args.state).await?;
        let status = store.advance(&plan.table, Step::Backfill, None).await?;
        // Rows a proxy writes without dual-writing them would be missing from the copy.
        super::migrate_cutover::await_proxies(
            &store,
            &plan.table,
            status.version,
            "dual-write",
            |p| p.dual_writes(),
            shardgate_migrate::Settle::NewMigration,
            out,
        )
        .await?;
        let estimate = estimate_rows(&plan).await.unwrap_or(0);
        let bar = ProgressBar::new(estimate.max(1));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} backfill [{elapsed_precise}] {bar:40} {pos}/{len} rows, {per_sec}, eta {eta} {msg}",
            )
            .map_err(|e| anyhow::anyhow!("progress bar: {e}"))?,
        );
        let done = backfill(&plan, &store, BackfillOptions::default(), |p| {
            if p.copied > bar.length().unwrap_or(0) {
                bar.set_length(p.copied);
            }
            bar.set_position(p.copied);
            bar.set_message(format!("{}/{} tables", p.tables_done, p.tables));
        })
        .await?;
        bar.finish();
        let status = store.advance(&plan.table, Step::BackfillDone, None).await?;
        writeln!(
            out,
            "copied {} rows from {} source tables",
            done.copied, done.tables
        )?;
        writeln!(out, "{}", serde_json::to_string(&status)?)?;
        store.close().await;
        Ok(())
    })
}

pub fn run_check(args: MigrateArgs<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let (plan, _, _) = load(&args)?;
    runtime()?.block_on(async {
        let store = state_store(&plan, args.state).await?;
        shardgate_migrate::next(
            store.status(&plan.table).await?.map(|s| s.phase),
            Step::Check,
        )
        .map_err(|e| anyhow::anyhow!("migrate: {e}"))?;
        // An interrupted check goes on where it stopped.
        let resume = store.check_progress(&plan.table).await?;
        let mut found = resume.map_or(0, |(_, found)| found);
        let mut checker = Checker::start(&plan, CheckOptions::default(), resume.map(|r| r.0)).await?;
        let bar = ProgressBar::new(checker.segments().1);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} check [{elapsed_precise}] {bar:40} {pos}/{len} segments, eta {eta} {msg}",
            )
            .map_err(|e| anyhow::anyhow!("progress bar: {e}"))?,
        );
        bar.set_position(checker.segments().0);
        let result: anyhow::Result<()> = async {
            while let Some(segment) = checker.next_segment().await? {
                for (keys, reason) in [
                    (&segment.missing, "check: missing from the target"),
                    (&segment.extra, "check: extra on the target"),
                    (&segment.different, "check: different on the target"),
                    (&segment.duplicated, "check: in more than one target table"),
                ] {
                    store.log_repair(&plan.table, keys, reason).await?;
                }
                found += segment.keys().len() as u64;
                store
                    .save_check_progress(&plan.table, checker.position().map(|p| (p, found)))
                    .await?;
                bar.set_position(checker.segments().0);
                bar.set_message(format!("{found} rows differ"));
            }
            Ok(())
        }
        .await;
        bar.finish_and_clear();
        let report = checker.report().clone();
        checker.close().await;
        result?;
        store.advance(&plan.table, Step::Check, None).await?;
        let clean = found == 0 && report.misplaced.is_empty();
        store.set_check_clean(&plan.table, clean).await?;
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        store.close().await;
        if !report.misplaced.is_empty() {
            bail!(
                "{} target rows sit in tables their keys do not route to (first key {}): they were not written by this migration's routing; delete them from the target tables (or drop the target and start again), then check again",
                report.misplaced.len(),
                report.misplaced[0]
            );
        }
        if found > 0 {
            bail!("{found} rows differ; run `shardgate migrate repair`, then check again");
        }
        Ok(())
    })
}

pub fn run_repair(args: MigrateArgs<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let (plan, _, _) = load(&args)?;
    runtime()?.block_on(async {
        let store = state_store(&plan, args.state).await?;
        let mark = store.repair_log_mark(&plan.table).await?;
        let keys = store.repair_keys(&plan.table).await?;
        let cut_over = store
            .status(&plan.table)
            .await?
            .is_some_and(|s| s.phase == shardgate_migrate::Phase::CutOver);
        // After cutover the new layout is the source of truth: repairs copy rows back.
        let repaired = if cut_over {
            repair(&plan.reversed(), &keys).await?
        } else {
            repair(&plan, &keys).await?
        };
        store.clear_repaired(&plan.table, mark).await?;
        // The next check starts afresh: the rows repaired were in segments already done.
        store.save_check_progress(&plan.table, None).await?;
        let status = store.advance(&plan.table, Step::Repair, None).await?;
        store.set_check_clean(&plan.table, false).await?;
        writeln!(
            out,
            "copied {repaired} rows again from the source; check again before cutover"
        )?;
        writeln!(out, "{}", serde_json::to_string(&status)?)?;
        store.close().await;
        Ok(())
    })
}

pub fn status(args: MigrateArgs<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let (plan, _, _) = load(&args)?;
    runtime()?.block_on(async {
        let store = state_store(&plan, args.state).await?;
        match store.status(&plan.table).await? {
            Some(status) => writeln!(out, "{}", serde_json::to_string(&status)?)?,
            None => bail!("no migration of `{}` has started", plan.table),
        }
        // The live proxies, and the state each acts on.
        let registry = store.registry(&plan.table).await?;
        for proxy in registry.live {
            match registry.acks.get(&proxy) {
                Some((phase, version)) => writeln!(
                    out,
                    "proxy {proxy}: acts on {} (version {version})",
                    phase.as_str()
                )?,
                None => writeln!(out, "proxy {proxy}: has not taken the migration up")?,
            }
        }
        store.close().await;
        Ok(())
    })
}

pub fn rollback(args: MigrateArgs<'_>, force: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let (plan, _, _) = load(&args)?;
    runtime()?.block_on(async {
        let store = state_store(&plan, args.state).await?;
        refuse_with_repairs_waiting(&store, &plan.table, "rollback", force).await?;
        let phase = store.status(&plan.table).await?.map(|s| s.phase);
        // After cutover the new layout is the truth and every proxy copies its rows back to
        // the old one. Proxies take up a state change up to a second apart: one still cut
        // over would copy a stale row back over what another, already rolled back, wrote
        // to the old layout. So writes are fenced first, everywhere, until every proxy has
        // seen the fence and finished its copies; then the old layout takes over.
        let mut fence_version = None;
        if phase == Some(shardgate_migrate::Phase::CutOver) {
            let fenced = store.advance(&plan.table, Step::Fence, None).await?;
            fence_version = Some(fenced.version);
            writeln!(
                out,
                "writes to `{}` are fenced for the rollback",
                plan.table
            )?;
        } else if phase == Some(shardgate_migrate::Phase::Fencing) {
            fence_version = store.status(&plan.table).await?.map(|s| s.version);
        }
        if let Some(version) = fence_version {
            super::migrate_cutover::await_proxies(
                &store,
                &plan.table,
                version,
                "the fence",
                |p| p == shardgate_migrate::Phase::Fencing,
                shardgate_migrate::Settle::UnderWay,
                out,
            )
            .await
            .map_err(|e| {
                e.context(format!(
                    "rollback not done: `{}` stays fenced until the fence lapses ({} s), then writes go on by the old layout with the new one following; run rollback again",
                    plan.table,
                    shardgate_migrate::FENCE_LEASE.as_secs()
                ))
            })?;
        }
        let status = store.advance(&plan.table, Step::Rollback, None).await?;
        // Done already: each proxy goes by the old layout as it reads the state. Saying
        // when they all have lets the operator know writes flow again everywhere.
        if let Err(e) = super::migrate_cutover::await_proxies(
            &store,
            &plan.table,
            status.version,
            "the rollback",
            |p| p == shardgate_migrate::Phase::RolledBack,
            shardgate_migrate::Settle::UnderWay,
            out,
        )
        .await
        {
            writeln!(out, "rolled back; not every proxy acknowledged it yet: {e:#}")?;
        }
        writeln!(out, "{}", serde_json::to_string(&status)?)?;
        store.close().await;
        Ok(())
    })
}

/// Rollback and finish each leave one layout alone in charge. Once cut over, the new layout
/// is the one in charge and every write is copied back to the old one; a key in the repair
/// log then has its last write in one layout only, and would lose it. Refused unless
/// `force`. (Before cutover the source is written first and stays whole: the repair log
/// only says which target rows are behind, and a rollback loses nothing.)
pub(super) async fn refuse_with_repairs_waiting(
    store: &StateStore,
    table: &str,
    step: &str,
    force: bool,
) -> anyhow::Result<()> {
    let Some(status) = store.status(table).await? else {
        return Ok(());
    };
    use shardgate_migrate::Phase;
    let cut_over = matches!(status.phase, Phase::Fencing | Phase::CutOver);
    if cut_over && status.repair_log > 0 && !force {
        bail!(
            "{step} refused: {} rows of `{table}` wait in the repair log, and their last writes may exist in one layout only; run repair (and check) first, or {step} --force to lose them",
            status.repair_log
        );
    }
    Ok(())
}
