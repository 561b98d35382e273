//! One way to run a bound plan, whichever way the client sent the statement: as text
//! (COM_QUERY), as a binary execute (COM_STMT_EXECUTE) or as SQL `EXECUTE ... USING`. Only
//! the job each physical statement becomes differs; one target is relayed as it comes, a
//! SELECT over several is merged, a write over several is fanned out and answered with one
//! OK; a SELECT over a limited derived table runs its first phase as text, then its second
//! like any SELECT.

use shardgate_router::{
    combine_for, AffectedRows, PhysicalStatement, Plan, Scatter, SelectMerge, SendToAll, Step,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::engine::fanout::Job;
use crate::protocol::codes;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Runs `plan`, each physical statement sent as `job` makes it.
    pub(crate) async fn execute_plan(
        &mut self,
        plan: Plan,
        job: impl Fn(PhysicalStatement) -> Job,
    ) -> Result<(), SessionError> {
        // Generated keys: the OK packet and LAST_INSERT_ID() report the first, as MySQL does
        // for AUTO_INCREMENT.
        self.state.generated_insert_id = plan.generated_keys().first().map(|&id| id as u64);
        let to_binary = reads_binary_rows(&job);
        self.execute_step(plan.step, job, to_binary).await
    }

    /// Runs `step`, each physical statement sent as `job` makes it; `to_binary`: the
    /// client reads binary rows (a prepared statement's), whatever the jobs answer.
    pub(crate) async fn execute_step(
        &mut self,
        step: Step,
        job: impl Fn(PhysicalStatement) -> Job,
        to_binary: bool,
    ) -> Result<(), SessionError> {
        let physical = step.statements().len();
        if physical > 0 {
            crate::telemetry::fanout(physical);
        }
        self.last_plan = Some((step.kind_name(), physical));
        match step {
            Step::Route(target) => {
                // A statement without a table runs wherever a connection is free.
                let backend = match target.database {
                    Some(_) => target.backend,
                    None => self.any_backend(),
                };
                if to_binary && !reads_binary_rows(&job) {
                    // Text rows for a binary client: re-encoded as they pass.
                    let jobs = vec![(backend, job(target))];
                    return self
                        .scatter_jobs(&SelectMerge::default(), jobs, 1, false, true)
                        .await;
                }
                self.run_one(backend, job(target)).await
            }
            Step::Scatter(Scatter { statements, merge }) if !statements.is_empty() => {
                let tables = statements.len();
                // One statement per backend server: fewer round trips, same answer.
                let combined = combine_for(statements, &merge);
                let jobs = combined
                    .statements
                    .into_iter()
                    .map(|t| (t.backend, job(t)))
                    .collect();
                // Text rows for a binary client are re-encoded; binary ones pass as they are.
                let reencode = to_binary && !reads_binary_rows(&job);
                self.scatter_jobs(&merge, jobs, tables, combined.ordered, reencode)
                    .await
            }
            Step::Subquery(subquery) => self.subquery(*subquery, job, to_binary).await,
            Step::SubqueryValues(values) => self.subquery_values(*values, to_binary).await,
            Step::Union(union) => self.union(*union, to_binary).await,
            Step::CrossJoin(join) => self.cross_join(*join, to_binary).await,
            Step::WindowFunctions(over) => self.window_functions(*over, to_binary).await,
            Step::Scatter(_) => {
                self.send_error(
                    codes::ER_NOT_SUPPORTED_YET,
                    "shardgate: this SELECT reaches no physical table",
                )
                .await
            }
            Step::SendToAll(SendToAll {
                statements,
                affected,
                returning,
            }) => {
                let jobs = statements
                    .into_iter()
                    .map(|t| (t.backend, job(t)))
                    .collect();
                let one_copy = affected == AffectedRows::OneCopy;
                match returning {
                    Some(returning) => self.fan_out_returning(jobs, returning, one_copy).await,
                    None => self.fan_out_jobs(jobs, one_copy).await,
                }
            }
            // The session answers these before anything reaches the engine (a template
            // never binds to one), and runs a migration's steps itself.
            Step::SessionOp(_)
            | Step::Metadata(_)
            | Step::Probe(_)
            | Step::DualWrite(_)
            | Step::Fence(_) => {
                self.send_error(
                    codes::ER_NOT_SUPPORTED_YET,
                    "shardgate: a session statement cannot run as part of another statement",
                )
                .await
            }
        }
    }

    /// One job on its backend, the answer relayed as it comes.
    async fn run_one(&mut self, backend: usize, job: Job) -> Result<(), SessionError> {
        let mut conn = match self.take_conn(backend).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
        };
        let sent = match &job {
            Job::Text(sql) => conn.send_command(0x03, sql.as_bytes()).await,
            Job::Execute {
                sql,
                body,
                long_data,
            } => conn.send_execute(sql, body, long_data).await,
            // PREPARE and EXECUTE on one connection: on another, the name could stand for
            // another statement.
            Job::PrepareExecute { prepare, execute } => {
                match conn.execute_internal(prepare).await {
                    Ok(_) => conn.send_command(0x03, execute.as_bytes()).await,
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = sent {
            if !e.breaks_connection() {
                self.give_back(backend, conn);
            }
            return self.send_backend_error(&e).await;
        }
        self.relay_answer(backend, conn).await
    }
}

/// Whether the client reads binary rows: its statements run as COM_STMT_EXECUTE. Steps
/// whose parts run as text (a UNION's branches, a join's sides) re-encode their rows then.
fn reads_binary_rows(job: &impl Fn(PhysicalStatement) -> Job) -> bool {
    let probe = PhysicalStatement {
        backend: 0,
        database: None,
        sql: String::new(),
        params: Vec::new(),
    };
    matches!(job(probe), Job::Execute { .. })
}
