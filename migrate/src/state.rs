//! The migration state machine. Every proxy and the CLI read the same state from a MySQL
//! table; a step moves it only along the edges below, so a step run twice, or out of order,
//! is refused instead of doing harm.
//!
//! ```text
//!  start        backfill        (done)         check            cutover        finish
//! ------> DualWrite ----> Backfilling ----> Backfilled ----> Checked --fence--> Fencing --> CutOver --> Finished
//!                              ^  (resume)                    |  ^  repair, check   |  (final check dirty:
//!                              +------------------------------+  +------------+     |   unfence, back to Checked)
//!  rollback: from any state before Finished ----> RolledBack
//!            (from CutOver through Fencing: writes wait while every proxy stops copying back)
//!  a fence whose command died lapses after FENCE_LEASE; cutover again takes it over
//! ```

use serde::{Deserialize, Serialize};

/// How long a fence holds without its command renewing it. A cutover or rollback that
/// dies (SIGKILL, a lost connection) leaves the fence up; the proxies then let writes
/// through again by the old layout (dual-writing the new one), as before the fence: the
/// fence only gives the final check a quiet moment, and both layouts are current under it.
pub const FENCE_LEASE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Target tables exist; proxies write to source and target, read from the source.
    DualWrite,
    /// Copying existing rows in primary-key chunks (resumable from its checkpoint).
    Backfilling,
    /// Every source row was copied once.
    Backfilled,
    /// A check ran; `Status::last_check_clean` says how it came out.
    Checked,
    /// Cutover has begun: writes to the table wait in the proxies while the last rows are
    /// checked, then go on by the new layout (or, if the check fails, by the old one).
    Fencing,
    /// Reads and writes go to the target; writes also go back to the source, so a rollback
    /// stays possible.
    CutOver,
    /// The source is no longer written.
    Finished,
    /// Back to the source alone.
    RolledBack,
}

/// A step an operator (or the CLI) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Start,
    Backfill,
    BackfillDone,
    Check,
    Repair,
    Fence,
    Unfence,
    Cutover,
    Finish,
    Rollback,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::DualWrite => "dual_write",
            Phase::Backfilling => "backfilling",
            Phase::Backfilled => "backfilled",
            Phase::Checked => "checked",
            Phase::Fencing => "fencing",
            Phase::CutOver => "cut_over",
            Phase::Finished => "finished",
            Phase::RolledBack => "rolled_back",
        }
    }

    /// Every phase, in the order a migration goes through them.
    pub const ALL: [Phase; 8] = [
        Phase::DualWrite,
        Phase::Backfilling,
        Phase::Backfilled,
        Phase::Checked,
        Phase::Fencing,
        Phase::CutOver,
        Phase::Finished,
        Phase::RolledBack,
    ];

    pub fn parse(text: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Whether writes must also reach the target (before cutover) or the source (after).
    pub fn dual_writes(self) -> bool {
        matches!(
            self,
            Phase::DualWrite
                | Phase::Backfilling
                | Phase::Backfilled
                | Phase::Checked
                | Phase::Fencing
                | Phase::CutOver
        )
    }
}

/// The phase after `step` from `from` (`None`: no migration yet), or why it cannot be taken.
/// Cutover's own preconditions (a clean last check, an empty repair log) are checked by the
/// caller, which knows them.
pub fn next(from: Option<Phase>, step: Step) -> Result<Phase, String> {
    use Phase::*;
    let to = match (from, step) {
        (None | Some(RolledBack) | Some(Finished), Step::Start) => DualWrite,
        (Some(DualWrite | Backfilling), Step::Backfill) => Backfilling,
        (Some(Backfilling), Step::BackfillDone) => Backfilled,
        (Some(Backfilled | Checked), Step::Check) => Checked,
        (Some(Checked), Step::Repair) => Checked,
        (Some(CutOver), Step::Repair) => CutOver,
        (Some(Checked), Step::Fence) => Fencing,
        // A fence whose command died (its lease lapsed, or it is still up): cutover again
        // takes it over.
        (Some(Fencing), Step::Fence) => Fencing,
        // A rollback after cutover fences writes too, so that no proxy still copying the
        // new layout's rows back overwrites what another wrote to the old one.
        (Some(CutOver), Step::Fence) => Fencing,
        (Some(Fencing), Step::Unfence) => Checked,
        (Some(Fencing), Step::Cutover) => CutOver,
        (Some(CutOver), Step::Finish) => Finished,
        (Some(p), Step::Rollback) if p != Finished && p != RolledBack => RolledBack,
        (from, step) => {
            return Err(format!(
                "cannot {} a migration that is {}",
                step_name(step),
                from.map_or("not started", Phase::as_str)
            ))
        }
    };
    Ok(to)
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Start => "start",
        Step::Backfill => "backfill",
        Step::BackfillDone => "finish the backfill of",
        Step::Check => "check",
        Step::Repair => "repair",
        Step::Fence => "fence writes for cutover of",
        Step::Unfence => "lift the cutover fence of",
        Step::Cutover => "cut over",
        Step::Finish => "finish",
        Step::Rollback => "roll back",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_and_its_refusals() {
        let mut phase = None;
        for step in [
            Step::Start,
            Step::Backfill,
            Step::Backfill,
            Step::BackfillDone,
            Step::Check,
            Step::Repair,
            Step::Check,
            Step::Fence,
            Step::Unfence,
            Step::Fence,
            Step::Cutover,
            Step::Finish,
        ] {
            phase = Some(next(phase, step).unwrap());
        }
        assert_eq!(phase, Some(Phase::Finished));
        assert!(next(Some(Phase::Finished), Step::Rollback).is_err());
        assert!(next(Some(Phase::DualWrite), Step::Fence)
            .unwrap_err()
            .contains("cannot fence writes for cutover of a migration that is dual_write"));
        assert!(next(Some(Phase::Checked), Step::Cutover).is_err());
        assert!(next(None, Step::Backfill).is_err());
        assert_eq!(
            next(Some(Phase::CutOver), Step::Rollback),
            Ok(Phase::RolledBack)
        );
        assert_eq!(next(Some(Phase::CutOver), Step::Fence), Ok(Phase::Fencing));
        assert_eq!(
            next(Some(Phase::Fencing), Step::Rollback),
            Ok(Phase::RolledBack)
        );
        assert_eq!(
            next(Some(Phase::RolledBack), Step::Start),
            Ok(Phase::DualWrite)
        );
        for p in ["dual_write", "cut_over", "rolled_back"] {
            assert_eq!(Phase::parse(p).map(Phase::as_str), Some(p));
        }
    }
}
