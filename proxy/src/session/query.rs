//! COM_QUERY: session statements are handled here, everything else goes through the router.

use std::collections::BTreeMap;

use crate::migration::{CutOverRouting, Lookup};
use shardgate_migrate::Phase;
use shardgate_router::{KeyError, MergeSpec, Plan, RouterError, StatementKind};
use tokio::io::{AsyncRead, AsyncWrite};

use super::vars::{parse_set, SetItem};
use super::{Session, SessionError};
use crate::backend::PooledConn;
use crate::exec::fanout::{self, Job, Lane};
use crate::exec::relay::{relay, RelayError};
use crate::keygen::TakenKeys;
use crate::protocol::codes;
use crate::protocol::wire::OkInfo;

/// Whether a statement reads `information_schema` (cheap substring checks first: this runs
/// for every SELECT).
fn names_information_schema(sql: &str) -> bool {
    (sql.contains("_schema.") || sql.contains("_SCHEMA.") || sql.contains("_Schema."))
        && sql.to_ascii_uppercase().contains("INFORMATION_SCHEMA.")
}

/// `/*!40101 SET NAMES utf8 */` is code to MySQL: run what is inside.
fn unwrap_executable_comment(sql: &str) -> &str {
    let t = sql.trim();
    match (t.strip_prefix("/*!"), t.ends_with("*/")) {
        (Some(inner), true) => inner[..inner.len() - 2]
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim(),
        _ => sql,
    }
}

/// The first keyword of a statement, upper-cased, after whitespace and comments (but not
/// after `/*!` executable comments, which are code).
pub(crate) fn leading_keyword(sql: &str) -> String {
    let rest = skip_comments(sql);
    rest.chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

/// The statement text after its first keyword.
pub(crate) fn after_leading_keyword(sql: &str) -> &str {
    let rest = skip_comments(sql);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
        .unwrap_or(rest.len());
    &rest[end..]
}

fn skip_comments(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if rest.starts_with("/*") && !rest.starts_with("/*!") {
            match rest.find("*/") {
                Some(end) => rest = rest[end + 2..].trim_start(),
                None => return "",
            }
        } else if rest.starts_with("-- ") || rest.starts_with('#') {
            match rest.find('\n') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => return "",
            }
        } else {
            break;
        }
    }
    rest
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn com_query(&mut self, sql: &str) -> Result<(), SessionError> {
        let sql = unwrap_executable_comment(sql);
        let keyword = leading_keyword(sql);
        match keyword.as_str() {
            "SET" => self.set_statement(sql).await,
            "USE" => {
                let db = after_leading_keyword(sql)
                    .trim()
                    .trim_end_matches(';')
                    .trim()
                    .to_string();
                self.init_db(&db).await
            }
            "BEGIN" => self.begin("START TRANSACTION").await,
            "START" => {
                let upper = sql.to_ascii_uppercase();
                if upper.contains("TRANSACTION") {
                    self.begin(sql.trim().trim_end_matches(';')).await
                } else {
                    self.not_supported(&keyword).await
                }
            }
            "COMMIT" => self.commit().await,
            "ROLLBACK" if !rolls_back_to_savepoint(sql) => {
                self.pending_keys.clear();
                self.end_transaction("ROLLBACK").await
            }
            "ROLLBACK" | "SAVEPOINT" | "RELEASE" => self.savepoint_statement(sql).await,
            "SHOW" | "DESC" | "DESCRIBE" => self.show(sql, &keyword).await,
            "PREPARE" => self.sql_prepare(sql).await,
            "EXECUTE" => self.sql_execute(sql).await,
            "DEALLOCATE" => self.sql_deallocate(sql).await,
            "DROP"
                if sql
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w.eq_ignore_ascii_case("PREPARE")) =>
            {
                self.sql_deallocate(sql).await
            }
            "SELECT" if names_information_schema(sql) => self.information_schema(sql).await,
            // Probes are short; a long SELECT is never one, and skipping the check keeps it
            // off the hot path.
            "SELECT" if sql.len() < 256 && self.answer_probe(sql).await? => Ok(()),
            "SELECT" if sql.len() < 256 && self.answer_nextval(sql).await? => Ok(()),
            // Everything else is the router's: it routes what it can, and says why it cannot
            // (a syntax error, or a statement shardgate does not run).
            _ => self.routed(sql).await,
        }
    }

    pub(crate) async fn not_supported(&mut self, what: &str) -> Result<(), SessionError> {
        let message = if what.is_empty() {
            "shardgate does not support this statement yet".to_string()
        } else {
            format!("shardgate does not support {what} statements yet")
        };
        self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await
    }

    async fn begin(&mut self, sql: &str) -> Result<(), SessionError> {
        if !self.pending_keys.is_empty() {
            // MySQL commits the open transaction first; its dual-written rows go along.
            if let Err(e) = self.commit_with_followers().await {
                return self.send_dual_write_error(e).await;
            }
        }
        if self.in_transaction() {
            // MySQL commits the open transaction first.
            let pinned: Vec<_> = self.pinned.drain().collect();
            for (_, mut conn) in pinned {
                if conn.execute_internal("COMMIT").await.is_err() {
                    conn.broken = true;
                }
            }
        }
        self.explicit_tx = true;
        self.begin_sql.clear();
        self.savepoints.clear();
        if let Some(next) = self.next_tx.take() {
            // `SET TRANSACTION ...` is applied right before the transaction starts.
            self.begin_sql.push(format!("SET {next}"));
        }
        self.begin_sql.push(sql.to_string());
        self.send_ok(OkInfo::default()).await
    }

    async fn set_statement(&mut self, sql: &str) -> Result<(), SessionError> {
        let Some(items) = parse_set(sql) else {
            return self
                .send_error(
                    codes::ER_PARSE_ERROR,
                    "shardgate could not parse this SET statement",
                )
                .await;
        };
        if let Some(why) = super::vars::refusal(&items) {
            let message = format!("shardgate: {why}");
            return self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await;
        }
        let mut variables = Vec::new();
        for item in items {
            match item {
                SetItem::Global(_) => {
                    return self
                        .send_error(codes::ER_NOT_SUPPORTED_YET, "shardgate does not change global variables on its backends; set them on each server")
                        .await
                }
                SetItem::NextTransaction(text) => self.next_tx = Some(text),
                SetItem::Refused(_) => {}
                SetItem::Variable { key, sql, literal } => variables.push((key, sql, literal)),
            }
        }
        if variables.is_empty() {
            return self.send_ok(OkInfo::default()).await;
        }
        let turns_autocommit_on = variables
            .iter()
            .any(|(k, sql, _)| k == "autocommit" && autocommit_value(sql) == Some(true));
        if !self.pending_keys.is_empty() && turns_autocommit_on {
            // Turning autocommit on commits the open transaction: its dual-written rows
            // first.
            if let Err(e) = self.commit_with_followers().await {
                return self.send_dual_write_error(e).await;
            }
        }
        // Run the SET on a backend, so its value is checked there, and read back values that
        // are expressions, so replaying them elsewhere gives the same value.
        let backend = self.pinned.keys().next().copied().unwrap_or(0);
        let mut conn = match self.take_conn(backend).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
        };
        let statement = format!(
            "SET {}",
            variables
                .iter()
                .map(|(_, s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Err(e) = conn.execute_internal(&statement).await {
            self.give_back(backend, conn);
            return self.send_backend_error(&e).await;
        }
        let mut settled: BTreeMap<String, String> = BTreeMap::new();
        for (key, sql, literal) in variables {
            let value = if literal {
                sql
            } else {
                match read_back(&mut conn, &key).await {
                    Ok(v) => v,
                    Err(e) => {
                        self.give_back(backend, conn);
                        return self.send_backend_error(&e).await;
                    }
                }
            };
            settled.insert(key, value);
        }
        for (key, value) in settled {
            if key == "autocommit" {
                self.autocommit = autocommit_value(&value) != Some(false);
            }
            self.vars.settings.insert(key, value);
        }
        conn.applied = self.vars.settings.clone();
        self.give_back(backend, conn);
        self.send_ok(OkInfo::default()).await
    }

    /// Routes a statement and runs its plan.
    pub(crate) async fn routed(&mut self, sql: &str) -> Result<(), SessionError> {
        let mut settling = 0u32;
        loop {
            let routing = self.ctx.migrations.router();
            let plan = match self.route_text(sql, routing.as_deref()).await {
                Ok(plan) => plan,
                Err(e) => return self.send_router_error(&e).await,
            };
            let migration = match self.migration_of(&plan) {
                Lookup::None => return self.run_plan(plan).await,
                Lookup::Refused(why) => {
                    return self.send_error(codes::ER_NOT_SUPPORTED_YET, &why).await
                }
                Lookup::Active(m) => m,
            };
            // The phase and the routing change one after the other: route again until
            // they agree.
            let by_target = routing
                .as_ref()
                .is_some_and(|r| r.covers(migration.table()));
            if by_target != migration.routes_by_target() && !migration.unroutable() {
                settling += 1;
                if settling > 1000 {
                    let why = format!(
                        "shardgate: the routing of `{}` did not settle after its migration moved; retry",
                        migration.table()
                    );
                    return self.send_error(codes::ER_LOCK_DEADLOCK, &why).await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
            match migration.phase() {
                // Finished: the new layout alone, nothing follows.
                Phase::Finished if !migration.unroutable() => return self.run_plan(plan).await,
                Phase::Fencing => {}
                _ => return self.dual_write(sql, plan, migration).await,
            }
            // A cutover's fence: wait, then route again, by whichever layout won.
            if !self.wait_at_fence(&migration).await? {
                return Ok(());
            }
        }
    }

    /// Routes a text statement, with generated keys where its INSERT rows need them.
    async fn route_text(
        &mut self,
        sql: &str,
        routing: Option<&CutOverRouting>,
    ) -> Result<Plan, RouterError> {
        let ctx = self.ctx.clone();
        let router = routing.map_or(&ctx.router, |r| &r.router);
        let mut routed = router.route_with_keys(sql, &mut self.cache, &mut ctx.keys.source());
        if let Err(RouterError::Keys(KeyError::NotReady { generator, count })) = &routed {
            // A generator that must wait (a segment loading, a lease being taken): wait for
            // the ids, then route again with them.
            routed = match ctx.keys.take(generator, *count).await {
                Ok(ids) => router.route_with_keys(
                    sql,
                    &mut self.cache,
                    &mut TakenKeys {
                        generator: generator.clone(),
                        ids,
                    },
                ),
                Err(e) => Err(RouterError::Keys(e)),
            };
        }
        routed
    }

    pub(crate) async fn send_router_error(&mut self, e: &RouterError) -> Result<(), SessionError> {
        let code = match e {
            RouterError::Parse(_) => codes::ER_PARSE_ERROR,
            RouterError::UnknownTable { .. } => codes::ER_NO_SUCH_TABLE,
            RouterError::ParamCount { .. } => codes::ER_WRONG_ARGUMENTS,
            RouterError::BadShardKey(_) => (1364, "HY000"),
            RouterError::Keys(_) => codes::ER_UNKNOWN_ERROR,
            _ => codes::ER_NOT_SUPPORTED_YET,
        };
        let message = format!(
            "shardgate: {}",
            e.to_string().trim_start_matches("router: ")
        );
        self.send_error(code, &message).await
    }

    async fn run_plan(&mut self, plan: Plan) -> Result<(), SessionError> {
        // Generated keys: the OK packet and LAST_INSERT_ID() report the first, as MySQL does
        // for AUTO_INCREMENT.
        self.generated_insert_id = plan.generated_keys.first().map(|&id| id as u64);
        if plan.targets.len() == 1 {
            let Some(target) = plan.targets.into_iter().next() else {
                return Ok(());
            };
            return self.single(target.backend, target.sql.as_bytes()).await;
        }
        if plan.kind == StatementKind::Select {
            return self.scatter_select(plan).await;
        }
        self.fan_out(plan).await
    }

    /// One target: send the statement and relay the answer as it comes.
    pub(crate) async fn single(&mut self, backend: usize, sql: &[u8]) -> Result<(), SessionError> {
        self.relay_command(backend, 0x03, sql).await
    }

    /// Sends one command to a backend and relays its answer.
    pub(crate) async fn relay_command(
        &mut self,
        backend: usize,
        command: u8,
        payload: &[u8],
    ) -> Result<(), SessionError> {
        let mut conn = match self.take_conn(backend).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
        };
        if let Err(e) = conn.send_command(command, payload).await {
            return self.send_backend_error(&e).await;
        }
        self.relay_answer(backend, conn).await
    }

    /// Relays the answer to the command just sent on `conn` and gives the connection back.
    pub(crate) async fn relay_answer(
        &mut self,
        backend: usize,
        mut conn: PooledConn,
    ) -> Result<(), SessionError> {
        let timeout = conn.pool().query_timeout();
        let more_after = self.more_results;
        let insert_id = self.generated_insert_id.take();
        let outcome = tokio::time::timeout(
            timeout,
            relay(
                &mut conn,
                &mut self.writer,
                &self.ctx.names,
                more_after,
                insert_id,
            ),
        )
        .await;
        match outcome {
            Ok(Ok(outcome)) => {
                if outcome.error.is_some() {
                    self.errored = true;
                } else if outcome.ok.last_insert_id != 0 {
                    self.last_insert_id = outcome.ok.last_insert_id;
                }
                self.give_back(backend, conn);
                Ok(())
            }
            Ok(Err(RelayError::Backend { error, sent: false })) => {
                self.send_backend_error(&error).await
            }
            Ok(Err(RelayError::Backend { error, sent: true })) => {
                Err(SessionError::Desynchronized(error))
            }
            Ok(Err(RelayError::Client(e))) => Err(e.into()),
            Err(_) => {
                conn.broken = true;
                let message = format!(
                    "shardgate: backend {} did not answer within {} ms",
                    conn.name,
                    timeout.as_millis()
                );
                self.send_error(codes::ER_QUERY_TIMEOUT, &message).await
            }
        }
    }

    /// Several targets of a write: run them in parallel lanes and answer with one OK.
    async fn fan_out(&mut self, plan: Plan) -> Result<(), SessionError> {
        let one_copy = plan.merge == MergeSpec::OneCopyAffectedRows;
        let jobs = plan
            .targets
            .into_iter()
            .map(|t| (t.backend, Job::Text(t.sql)))
            .collect();
        self.fan_out_jobs(jobs, one_copy).await
    }

    /// Runs jobs on their backends, several lanes per backend (one inside a transaction),
    /// under the per-statement concurrency limit.
    pub(crate) async fn fan_out_jobs(
        &mut self,
        jobs: Vec<(usize, Job)>,
        one_copy: bool,
    ) -> Result<(), SessionError> {
        let targets = jobs.len();
        let insert_id = self.generated_insert_id.take();
        let (lane_backends, lanes): (Vec<usize>, Vec<Lane>) = match self.lanes(jobs).await {
            Ok(lanes) => lanes
                .into_iter()
                .map(|(backend, conn, jobs)| (backend, Lane { conn, jobs }))
                .unzip(),
            // Nothing ran: report the backend.
            Err(e) => return self.send_backend_error(&e).await,
        };
        let (conns, outcome) = fanout::run(lanes).await;
        for (backend, conn) in lane_backends.into_iter().zip(conns) {
            self.give_back(backend, conn);
        }
        if let Some(e) = outcome.error {
            return self.send_backend_error(&e).await;
        }
        let mut ok = OkInfo {
            affected_rows: outcome.ok.affected_rows,
            last_insert_id: insert_id.unwrap_or(outcome.ok.last_insert_id),
            warnings: outcome.ok.warnings,
            info: outcome.ok.info,
            ..Default::default()
        };
        if one_copy {
            // Every copy changed alike: the client sees one copy's counts.
            ok.affected_rows /= targets.max(1) as u64;
            ok.warnings /= targets.max(1) as u16;
            ok.info.clear();
        }
        if ok.last_insert_id != 0 {
            self.last_insert_id = ok.last_insert_id;
        }
        self.send_ok(ok).await
    }
}

/// `ROLLBACK [WORK] TO [SAVEPOINT] name`, whatever the whitespace and comments between the
/// words: only the work after the savepoint is undone.
fn rolls_back_to_savepoint(sql: &str) -> bool {
    let mut rest = after_leading_keyword(sql);
    if leading_keyword(rest) == "WORK" {
        rest = after_leading_keyword(rest);
    }
    leading_keyword(rest) == "TO"
}

/// The value an `autocommit = ...` assignment sets: `Some(true)` for 1, ON or TRUE,
/// `Some(false)` for 0, OFF or FALSE.
fn autocommit_value(assignment: &str) -> Option<bool> {
    let value = assignment
        .rsplit('=')
        .next()?
        .trim()
        .trim_matches('\'')
        .to_ascii_uppercase();
    match value.as_str() {
        "1" | "ON" | "TRUE" => Some(true),
        "0" | "OFF" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Reads back the value a SET gave a variable, as a literal assignment.
async fn read_back(
    conn: &mut crate::backend::PooledConn,
    key: &str,
) -> Result<String, crate::backend::BackendError> {
    let expr = if key.starts_with('@') {
        key.to_string()
    } else {
        format!("@@SESSION.{key}")
    };
    let value = conn.query_single_value(&format!("SELECT {expr}")).await?;
    let literal = match value {
        None => "NULL".to_string(),
        Some(v) if v.parse::<f64>().is_ok() => v,
        Some(v) => format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''")),
    };
    Ok(format!("{key} = {literal}"))
}

#[cfg(test)]
mod tests {
    use super::{autocommit_value, leading_keyword};

    #[test]
    fn reads_the_autocommit_value() {
        assert_eq!(autocommit_value("autocommit = 1"), Some(true));
        assert_eq!(autocommit_value("autocommit='ON'"), Some(true));
        assert_eq!(autocommit_value("autocommit = off"), Some(false));
        assert_eq!(autocommit_value("autocommit = @x"), None);
    }

    #[test]
    fn tells_a_savepoint_rollback() {
        use super::rolls_back_to_savepoint as to;
        assert!(to("ROLLBACK\nTO SAVEPOINT sp"));
        assert!(to("rollback work /* c */ to sp"));
        assert!(to("ROLLBACK\tTO\nsp"));
        assert!(!to("ROLLBACK"));
        assert!(!to("ROLLBACK WORK"));
        assert!(!to("ROLLBACK /* TO */"));
    }

    #[test]
    fn finds_the_leading_keyword() {
        assert_eq!(leading_keyword("  select 1"), "SELECT");
        assert_eq!(leading_keyword("/* hi */ INSERT INTO t"), "INSERT");
        assert_eq!(leading_keyword("-- c\nSET x=1"), "SET");
        assert_eq!(leading_keyword("/*!40101 SET NAMES utf8 */"), "");
        assert_eq!(leading_keyword(""), "");
    }
}
