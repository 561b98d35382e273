//! PREPARE / EXECUTE / DEALLOCATE PREPARE as SQL statements (what PyMySQL and other
//! text-protocol clients use for server-side prepared statements).
//!
//! The statement is analyzed once at PREPARE. EXECUTE routes it with the values of the user
//! variables in USING (which the session keeps, and which are set on every backend connection
//! it uses), then prepares and executes the physical statement on its backend the same way, so
//! the values travel as the backend's own user variables, never spliced into SQL text.

use std::sync::Arc;

use shardgate_router::command::{self, PrepareSource};
use shardgate_router::ParamValue;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::engine::fanout::Job;
use crate::protocol::codes;
use crate::protocol::wire::OkInfo;

/// The name physical statements get on backend connections.
const BACKEND_NAME: &str = "shardgate_stmt";

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn sql_prepare(
        &mut self,
        name: String,
        source: PrepareSource,
    ) -> Result<(), SessionError> {
        let text = match source {
            PrepareSource::Text(text) => text,
            PrepareSource::Variable(var) => match self.user_variable(&var) {
                Some(ParamValue::Str(s)) => s.into_owned(),
                _ => {
                    return self
                        .send_error(
                            codes::ER_WRONG_ARGUMENTS,
                            "PREPARE FROM a variable that holds no statement text",
                        )
                        .await
                }
            },
        };
        let template = match self.prepare_template(&text) {
            Ok(t) => Arc::new(t),
            Err(e) => return self.send_router_error(&e).await,
        };
        self.state.prepared.sql.insert(name, template);
        self.send_ok(OkInfo {
            info: b"Statement prepared".to_vec(),
            ..Default::default()
        })
        .await
    }

    pub(crate) async fn sql_deallocate(&mut self, name: String) -> Result<(), SessionError> {
        if self.state.prepared.sql.remove(&name).is_none() {
            let message =
                format!("Unknown prepared statement handler ({name}) given to DEALLOCATE PREPARE");
            return self
                .send_error(codes::ER_UNKNOWN_STMT_HANDLER, &message)
                .await;
        }
        self.send_ok(OkInfo::default()).await
    }

    pub(crate) async fn sql_execute(
        &mut self,
        name: String,
        vars: Vec<String>,
    ) -> Result<(), SessionError> {
        let Some(mut template) = self.state.prepared.sql.get(&name).cloned() else {
            let message = format!("Unknown prepared statement handler ({name}) given to EXECUTE");
            return self
                .send_error(codes::ER_UNKNOWN_STMT_HANDLER, &message)
                .await;
        };
        // Prepared before a migration's cutover (or rollback): analyze it again, once.
        let routing = self.ctx.migrations.router();
        let router = routing.as_ref().map_or(&self.rules.router, |r| &r.router);
        if !template.fits(router.topology()) {
            if let Ok(fresh) = router.prepare(template.text()) {
                template = Arc::new(fresh);
                self.state
                    .prepared
                    .sql
                    .insert(name.clone(), template.clone());
            }
        }
        if vars.len() != template.param_count() || vars.iter().any(|v| !v.starts_with('@')) {
            return self
                .send_error(codes::ER_WRONG_ARGUMENTS, "Incorrect arguments to EXECUTE")
                .await;
        }
        let mut values: Vec<ParamValue<'static>> = Vec::with_capacity(vars.len());
        for var in &vars {
            match self.user_variable(var) {
                Some(value) => values.push(value),
                None => {
                    let message = format!(
                        "shardgate: EXECUTE ... USING {var}: the variable was set to an expression, whose value the proxy cannot route by; set it to a literal"
                    );
                    return self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await;
                }
            }
        }
        let plan = match self.bind_prepared(&template, &values).await {
            Ok(p) => p,
            Err(e) => return self.send_router_error(&e).await,
        };
        if self.migration_says(&plan) {
            return self.dual_write_prepared(&template, &values).await;
        }
        // The values travel as the backend's own user variables (the session's, set on
        // every connection it uses), never spliced into SQL text.
        self.execute_plan(plan, |target| {
            let prepare = format!(
                "PREPARE {BACKEND_NAME} FROM '{}'",
                target.sql.replace('\\', "\\\\").replace('\'', "''")
            );
            let using: Vec<&str> = target
                .params
                .iter()
                .filter_map(|i| vars.get(*i).map(String::as_str))
                .collect();
            let execute = if using.is_empty() {
                format!("EXECUTE {BACKEND_NAME}")
            } else {
                format!("EXECUTE {BACKEND_NAME} USING {}", using.join(", "))
            };
            Job::PrepareExecute { prepare, execute }
        })
        .await
    }

    /// A user variable's value as the session set it (NULL when never set); `None` when
    /// it was set to an expression.
    fn user_variable(&self, name: &str) -> Option<ParamValue<'static>> {
        match self
            .state
            .vars
            .settings
            .get(&command::user_variable_key(name))
        {
            Some(assignment) => command::assigned_value(assignment),
            None => Some(ParamValue::Null),
        }
    }
}
