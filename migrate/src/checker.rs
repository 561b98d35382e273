//! Check, segment by segment, so a long check shows its progress and resumes where it was
//! stopped. The key space is cut into key buckets of about `rows_per_chunk` rows, and the
//! buckets into segments of [`BUCKETS_PER_SEGMENT`]; each segment is compared whole (one
//! checksum query per physical table and side), its differing buckets again after a delay,
//! and those still differing row by row under lock.

use std::collections::BTreeSet;

use crate::backfill::pools;
use crate::check::{
    bounded_ranges, buckets, each_table, int, locked_row_sums, row_checksum, unsigned, Buckets,
    Reading, BUCKETS_PER_QUERY, DUPLICATED, LOCKED_ROWS,
};
use crate::plan::MigrationPlan;
use crate::{CheckOptions, CheckReport, MigrateError};

/// Buckets compared by one query per physical table: about a million rows.
const BUCKETS_PER_SEGMENT: i64 = 1000;

/// Where a check is, to resume it: the bucket width it uses and the first key of the next
/// segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckPosition {
    pub width: i64,
    pub next_key: i64,
}

/// A check under way.
pub struct Checker<'a> {
    plan: &'a MigrationPlan,
    options: CheckOptions,
    sources: Vec<mysql_async::Pool>,
    targets: Vec<mysql_async::Pool>,
    checksum: String,
    width: i64,
    /// The next segment's first bucket; `None` once the last segment is done.
    next_bucket: Option<i64>,
    /// The source's last bucket when the check started: the last segment reaches past it
    /// to the end of the key space.
    last_bucket: i64,
    first_bucket: i64,
    report: CheckReport,
}

impl<'a> Checker<'a> {
    /// Starts a check, or resumes one at `resume`.
    pub async fn start(
        plan: &'a MigrationPlan,
        options: CheckOptions,
        resume: Option<CheckPosition>,
    ) -> Result<Checker<'a>, MigrateError> {
        let sources = pools(&plan.source.topology.backends);
        let targets = pools(&plan.target.topology.backends);
        let columns = crate::mirror::table_columns(&plan.source).await?;
        let key = &plan.key;
        let (mut rows, mut lo, mut hi) = (0u64, i64::MAX, i64::MIN);
        each_table(
            &plan.source,
            &sources,
            &format!("SELECT COUNT(*), MIN(`{key}`), MAX(`{key}`) FROM {{table}}"),
            |row| {
                rows += unsigned(&row, 0);
                if let (Some(a), Some(b)) = (int(&row, 1), int(&row, 2)) {
                    lo = lo.min(a);
                    hi = hi.max(b);
                }
                Ok(())
            },
        )
        .await?;
        if rows == 0 {
            (lo, hi) = (0, 0);
        }
        // The bucket width that gives about rows_per_chunk rows a bucket.
        let width = match resume {
            Some(r) => r.width.max(1),
            None => {
                let span = (i128::from(hi) - i128::from(lo) + 1).max(1);
                let chunks = (rows / options.rows_per_chunk.max(1)).max(1) as i128;
                i64::try_from((span / chunks).max(1)).unwrap_or(i64::MAX)
            }
        };
        let first_bucket = lo.div_euclid(width);
        let last_bucket = hi.div_euclid(width);
        let next_bucket = Some(match resume {
            Some(r) => r.next_key.div_euclid(width),
            None => first_bucket,
        });
        Ok(Checker {
            plan,
            options,
            sources,
            targets,
            checksum: row_checksum(&columns),
            width,
            next_bucket,
            last_bucket,
            first_bucket,
            report: CheckReport::default(),
        })
    }

    /// Where to resume after the segments done so far; `None` once all are done.
    pub fn position(&self) -> Option<CheckPosition> {
        self.next_bucket.map(|b| CheckPosition {
            width: self.width,
            next_key: b.saturating_mul(self.width),
        })
    }

    /// Segments done and in all (about).
    pub fn segments(&self) -> (u64, u64) {
        let total = ((self.last_bucket - self.first_bucket) / BUCKETS_PER_SEGMENT + 1).max(1);
        let done = match self.next_bucket {
            Some(b) => ((b - self.first_bucket).max(0) / BUCKETS_PER_SEGMENT).min(total),
            None => total,
        };
        (done as u64, total as u64)
    }

    /// What was found so far.
    pub fn report(&self) -> &CheckReport {
        &self.report
    }

    /// Compares the next segment. Returns what it found (also added to the report), or
    /// `None` when every segment is done.
    pub async fn next_segment(&mut self) -> Result<Option<CheckReport>, MigrateError> {
        let Some(first) = self.next_bucket else {
            return Ok(None);
        };
        let last = first.saturating_add(BUCKETS_PER_SEGMENT - 1);
        // The first segment reaches down, and the last up, to the end of the key space:
        // keys written since the start, and target rows outside the source's range.
        let lo = if first <= self.first_bucket {
            i64::MIN
        } else {
            first.saturating_mul(self.width)
        };
        let done = last >= self.last_bucket;
        let hi = if done {
            i64::MAX
        } else {
            last.saturating_add(1).saturating_mul(self.width) - 1
        };
        let found = self.compare(lo, hi).await?;
        self.report.chunks += found.chunks;
        self.report.source_rows += found.source_rows;
        self.report.target_rows += found.target_rows;
        self.report.missing.extend(&found.missing);
        self.report.extra.extend(&found.extra);
        self.report.different.extend(&found.different);
        self.report.duplicated.extend(&found.duplicated);
        let mut found = found;
        if done {
            // After the last segment: rows in tables their keys do not route to, which no
            // checksum over a whole side can see.
            let misplaced =
                crate::placement::misplaced_keys(&self.plan.target, &self.targets, &self.plan.key)
                    .await?;
            self.report.misplaced.extend(&misplaced);
            found.misplaced = misplaced;
        }
        self.next_bucket = (!done).then(|| last.saturating_add(1));
        Ok(Some(found))
    }

    /// Bucket checksums of `ranges` on both sides at once.
    async fn both_buckets(
        &self,
        ranges: &[(i64, i64)],
    ) -> (Result<Buckets, MigrateError>, Result<Buckets, MigrateError>) {
        let (plan, key, sum, width) = (self.plan, &self.plan.key, &self.checksum, self.width);
        tokio::join!(
            buckets(&plan.source, &self.sources, key, sum, width, Some(ranges)),
            buckets(&plan.target, &self.targets, key, sum, width, Some(ranges))
        )
    }

    /// Compares the keys in `lo..=hi`.
    async fn compare(&self, lo: i64, hi: i64) -> Result<CheckReport, MigrateError> {
        let (plan, key, width) = (self.plan, self.plan.key.as_str(), self.width);
        let range = [(lo, hi)];
        let (source, target) = self.both_buckets(&range).await;
        let (source, target) = (source?, target?);
        let mut report = CheckReport {
            chunks: source.len().max(target.len()) as u64,
            source_rows: source.values().map(|b| b.0).sum(),
            target_rows: target.values().map(|b| b.0).sum(),
            ..Default::default()
        };
        let differing: BTreeSet<i64> = source
            .keys()
            .chain(target.keys())
            .filter(|b| source.get(b) != target.get(b))
            .copied()
            .collect();
        if differing.is_empty() {
            return Ok(report);
        }
        // Writes in flight may explain a difference: look again after a moment, then
        // compare what still differs row by row, under lock. In batches of buckets, one
        // query per physical table each.
        tokio::time::sleep(self.options.recheck_delay).await;
        let differing: Vec<i64> = differing.into_iter().collect();
        for batch in differing.chunks(BUCKETS_PER_QUERY) {
            let ranges: Vec<(i64, i64)> = batch
                .iter()
                .map(|b| {
                    let lo = b.saturating_mul(width);
                    (lo, lo.saturating_add(width - 1))
                })
                .collect();
            let (s, t) = self.both_buckets(&ranges).await;
            let (s, t) = (s?, t?);
            // Each still-differing range with its source row count (from this pass).
            let still: Vec<((i64, i64), u64)> = batch
                .iter()
                .zip(&ranges)
                .filter(|(b, _)| s.get(b) != t.get(b))
                .map(|(b, r)| (*r, s.get(b).map_or(0, |c| c.0)))
                .collect();
            if still.is_empty() {
                continue;
            }
            let reading = Reading {
                plan,
                sources: &self.sources,
                targets: &self.targets,
                key,
                checksum: &self.checksum,
            };
            // Locked a bounded group at a time, so writers wait for one group's locks at
            // most: small ranges together up to LOCKED_ROWS rows, a larger one cut.
            for group in self.lock_groups(&still).await? {
                let (s, t) = locked_row_sums(&reading, &group).await?;
                compare_rows(&mut report, &s, &t);
            }
        }
        Ok(report)
    }

    /// `ranges` (with their row counts) in groups of at most [`LOCKED_ROWS`] rows, in
    /// order; a range larger than that is cut into pieces by its keys.
    async fn lock_groups(
        &self,
        ranges: &[((i64, i64), u64)],
    ) -> Result<Vec<Vec<(i64, i64)>>, MigrateError> {
        let mut groups = Vec::new();
        let mut group = Vec::new();
        let mut rows = 0u64;
        for &(range, count) in ranges {
            if count > LOCKED_ROWS as u64 {
                let pieces =
                    bounded_ranges(&self.plan.source, &self.sources, &self.plan.key, &[range])
                        .await?;
                groups.extend(pieces.into_iter().map(|p| vec![p]));
                continue;
            }
            if rows + count > LOCKED_ROWS as u64 && !group.is_empty() {
                groups.push(std::mem::take(&mut group));
                rows = 0;
            }
            group.push(range);
            rows += count;
        }
        if !group.is_empty() {
            groups.push(group);
        }
        Ok(groups)
    }

    pub async fn close(self) {
        for pool in self.sources.into_iter().chain(self.targets) {
            let _ = pool.disconnect().await;
        }
    }
}

/// Sorts the keys of one locked piece into the report: missing, duplicated, different,
/// extra.
fn compare_rows(
    report: &mut CheckReport,
    source: &std::collections::BTreeMap<i64, u64>,
    target: &std::collections::BTreeMap<i64, u64>,
) {
    for (k, sum) in source {
        match target.get(k) {
            None => report.missing.push(*k),
            Some(&DUPLICATED) => report.duplicated.push(*k),
            Some(other) if other != sum => report.different.push(*k),
            Some(_) => {}
        }
    }
    for (k, sum) in target {
        if !source.contains_key(k) {
            match *sum {
                DUPLICATED => report.duplicated.push(*k),
                _ => report.extra.push(*k),
            }
        }
    }
}

/// Compares source and target in one go (see [`Checker`]).
pub async fn check(
    plan: &MigrationPlan,
    options: CheckOptions,
    mut progress: impl FnMut(&str),
) -> Result<CheckReport, MigrateError> {
    let mut checker = Checker::start(plan, options, None).await?;
    let result = async {
        while checker.next_segment().await?.is_some() {
            let (done, total) = checker.segments();
            progress(&format!("{done}/{total} segments"));
        }
        Ok(checker.report().clone())
    }
    .await;
    checker.close().await;
    result
}
