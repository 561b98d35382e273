//! The planner's entry points for what a client sends. A COM_QUERY statement, with the
//! session's facts, becomes one [`Plan`]: physical statements to run (route, scatter,
//! send-to-all) or a step the session answers (session operation, metadata, probe). A
//! COM_STMT_PREPARE becomes a [`PreparedCommand`]. What has no plan is refused here, with
//! the reason, before anything reaches a backend.

use crate::command::{
    self, catalog_query, has_placeholder, substitute_session_values, Command, Probe, SessionFacts,
    CATALOG_DATABASE,
};
use crate::error::{Result, RouterError};
use crate::keys::KeySource;
use crate::plan::{Metadata, Plan, ProbeStep, SessionOp, Step};
use crate::{Router, ShapeCache, Template};

/// What a COM_STMT_PREPARE becomes.
#[derive(Debug)]
pub enum PreparedCommand {
    /// A statement for the backends: bound with the client's parameters at each execute.
    Template(std::sync::Arc<Template>),
    /// A session statement (SET, BEGIN, ...): planned again from its text at each execute.
    SessionStatement,
    /// A probe: answered by the session at each execute.
    Probe(Probe),
    /// SHOW, DESCRIBE or an information_schema query: answered by the session at each
    /// execute (in the binary protocol), its columns described at prepare.
    Metadata(Metadata),
}

impl Router {
    /// Plans one COM_QUERY statement for the session `session` describes, with generated
    /// keys for INSERT rows that need them from `keys`. Session functions inside a larger
    /// statement (`SELECT DATABASE(), order_id FROM t_order ...`) are answered with the
    /// session's values, written in as literals.
    pub fn plan(
        &self,
        sql: &str,
        cache: &mut ShapeCache,
        keys: &mut dyn KeySource,
        session: &SessionFacts<'_>,
    ) -> Result<Plan> {
        let expanded = command::expand_executable_comments(sql);
        let unhinted = command::strip_query_cache_hint(expanded.as_ref());
        let sql = unhinted.as_ref();
        let step = match command::decode(sql) {
            Command::Statement(text) => return self.plan_statement(text, cache, keys, session),
            Command::Session(SessionOp::LockTables(tables)) => {
                for written in &tables {
                    self.check_logical_table(written, "LOCK TABLES")?;
                }
                Step::SessionOp(SessionOp::LockTables(tables))
            }
            Command::Session(SessionOp::SwitchKeys(table)) => {
                self.check_logical_table(&table, "ALTER TABLE")?;
                Step::SessionOp(SessionOp::SwitchKeys(table))
            }
            Command::Session(op) => Step::SessionOp(op),
            Command::Show(show) => Step::Metadata(Metadata::Show(show)),
            Command::InformationSchema(text) => {
                let catalog_sql = catalog_query(text, &self.topology().schema, CATALOG_DATABASE)?;
                Step::Metadata(Metadata::InformationSchema { catalog_sql })
            }
            Command::Probe(probe) => Step::Probe(ProbeStep::Values(probe)),
            Command::NextVal(generator) => Step::Probe(ProbeStep::NextVal(generator)),
            Command::Explain {
                modifiers,
                statement,
            } => {
                let plan = self.plan(statement, cache, keys, session)?;
                if plan.kind == crate::plan::StatementKind::Session {
                    return Err(RouterError::Refused(
                        "EXPLAIN of a statement the proxy answers itself".into(),
                    ));
                }
                Step::Metadata(Metadata::Explain {
                    modifiers,
                    plan: Box::new(plan),
                })
            }
            Command::Refused(why) => return Err(RouterError::Refused(why)),
            Command::Malformed(why) => return Err(RouterError::Malformed(why)),
        };
        Ok(Plan::session(step))
    }

    /// Refuses a table a session statement names that is not a logical table.
    fn check_logical_table(&self, written: &str, statement: &str) -> Result<()> {
        let schema = &self.topology().schema;
        let name = command::table_in_schema(written, schema).ok_or_else(|| {
            RouterError::OtherSchema(format!(
                "{statement} `{written}`: shardgate acts only on tables of schema `{schema}`"
            ))
        })?;
        match self.topology().table(name) {
            Some(_) => Ok(()),
            None => Err(RouterError::UnknownTable {
                table: name.to_string(),
                schema: schema.clone(),
            }),
        }
    }

    /// A statement for the backends, through the shape cache; session functions in it are
    /// written in when the analysis asks for them.
    fn plan_statement(
        &self,
        sql: &str,
        cache: &mut ShapeCache,
        keys: &mut dyn KeySource,
        session: &SessionFacts<'_>,
    ) -> Result<Plan> {
        match self.route_with_keys(sql, cache, keys) {
            Err(e @ RouterError::SessionFunction { .. }) => {
                match substitute_session_values(sql, session) {
                    Some(text) => self.route_with_keys(&text, cache, keys),
                    None => Err(e),
                }
            }
            planned => planned,
        }
    }

    /// Plans a COM_STMT_PREPARE. A session statement that would be refused when executed is
    /// refused when prepared.
    pub fn plan_prepare(&self, sql: &str, session: &SessionFacts<'_>) -> Result<PreparedCommand> {
        let expanded = command::expand_executable_comments(sql);
        let unhinted = command::strip_query_cache_hint(expanded.as_ref());
        let sql = unhinted.as_ref();
        match command::decode(sql) {
            decoded if decoded.is_session_statement() => {
                if has_placeholder(sql) {
                    return Err(RouterError::Refused(
                        "parameters in prepared session statements are not supported".into(),
                    ));
                }
                Ok(PreparedCommand::SessionStatement)
            }
            Command::Probe(probe) => Ok(PreparedCommand::Probe(probe)),
            Command::Show(_) | Command::InformationSchema(_) if has_placeholder(sql) => {
                Err(RouterError::Refused(
                    "parameters in prepared SHOW, DESCRIBE and information_schema statements are not supported (write the values into the statement)".into(),
                ))
            }
            Command::Show(show) => Ok(PreparedCommand::Metadata(Metadata::Show(show))),
            Command::InformationSchema(text) => {
                let catalog_sql = catalog_query(text, &self.topology().schema, CATALOG_DATABASE)?;
                Ok(PreparedCommand::Metadata(Metadata::InformationSchema {
                    catalog_sql,
                }))
            }
            Command::Explain { .. } => Err(RouterError::Refused(
                "EXPLAIN as a prepared statement is not supported (send it as text)".into(),
            )),
            Command::Refused(why) => Err(RouterError::Refused(why)),
            Command::Malformed(why) => Err(RouterError::Malformed(why)),
            _ => self
                .prepare_for_session(sql, session)
                .map(|t| PreparedCommand::Template(std::sync::Arc::new(t))),
        }
    }

    /// Analyzes a statement prepared for later executes (COM_STMT_PREPARE, SQL PREPARE).
    /// Session functions that do not change during the session (`DATABASE()`, `USER()`) are
    /// written in; `LAST_INSERT_ID()` is left to refuse unless `session` fixes it.
    pub fn prepare_for_session(&self, sql: &str, session: &SessionFacts<'_>) -> Result<Template> {
        match self.prepare(sql) {
            Err(e @ RouterError::SessionFunction { .. }) => {
                match substitute_session_values(sql, session) {
                    Some(text) => self.prepare(&text),
                    None => Err(e),
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shardgate_config::Topology;

    use super::*;
    use crate::command::{SavepointOp, Show};
    use crate::plan::{RouteKind, SessionOp, StatementKind};
    use crate::NoKeys;

    fn router() -> Router {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/orders.yaml");
        Router::new(Arc::new(
            Topology::load(path).expect("example config loads"),
        ))
    }

    fn session() -> SessionFacts<'static> {
        SessionFacts {
            database: Some("shop"),
            user: "app",
            client_host: "10.0.0.7",
            connection_id: 9,
            last_insert_id: Some(5),
        }
    }

    fn plan(sql: &str) -> Result<Plan> {
        router().plan(sql, &mut ShapeCache::default(), &mut NoKeys, &session())
    }

    fn step(sql: &str) -> Step {
        let planned = plan(sql).expect(sql);
        assert_eq!(planned.kind, StatementKind::Session, "{sql}");
        assert_eq!(planned.route, RouteKind::Session, "{sql}");
        assert!(planned.statements().is_empty(), "{sql}");
        planned.step
    }

    #[test]
    fn session_statements_are_session_operations() {
        assert!(matches!(
            step("SET NAMES utf8mb4"),
            Step::SessionOp(SessionOp::Set(_))
        ));
        assert_eq!(
            step("USE `shop`"),
            Step::SessionOp(SessionOp::Use("shop".into()))
        );
        assert_eq!(
            step("/* x */ begin"),
            Step::SessionOp(SessionOp::Begin("START TRANSACTION".into()))
        );
        assert_eq!(step("COMMIT"), Step::SessionOp(SessionOp::Commit));
        assert_eq!(
            step("ROLLBACK\n TO SAVEPOINT sp"),
            Step::SessionOp(SessionOp::Savepoint(SavepointOp::RollbackTo("sp".into())))
        );
        assert!(matches!(
            step("EXECUTE s USING @a"),
            Step::SessionOp(SessionOp::Prepared(_))
        ));
        assert!(step("EXECUTE s USING @a").clears_diagnostics());
        assert!(!step("SET NAMES utf8mb4").clears_diagnostics());
    }

    #[test]
    fn metadata_and_probes_are_answered_by_the_session() {
        assert!(matches!(
            step("SHOW TABLES"),
            Step::Metadata(Metadata::Show(Show::Tables { .. }))
        ));
        let server = step("SHOW VARIABLES LIKE 'sql_mode'");
        assert!(
            matches!(&server, Step::Metadata(Metadata::Show(Show::Server(sql))) if sql == "SHOW VARIABLES LIKE 'sql_mode'")
        );
        assert!(!step("SHOW WARNINGS").clears_diagnostics());
        match step("SELECT table_name FROM information_schema.tables WHERE table_schema = 'shop'") {
            Step::Metadata(Metadata::InformationSchema { catalog_sql }) => {
                assert!(catalog_sql.contains("'shardgate_catalog'"), "{catalog_sql}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            step("SELECT DATABASE(), @@version"),
            Step::Probe(ProbeStep::Values(_))
        ));
        assert_eq!(
            step("SELECT NEXTVAL('order_id')"),
            Step::Probe(ProbeStep::NextVal("order_id".into()))
        );
    }

    #[test]
    fn refusals_carry_their_reason_and_kind() {
        assert!(matches!(
            plan("SET STATEMENT max_statement_time = 1 FOR CREATE DATABASE x"),
            Err(RouterError::Refused(_))
        ));
        assert!(matches!(
            plan("SHOW PROCESSLIST"),
            Err(RouterError::Refused(_))
        ));
        assert!(matches!(plan("USE a b"), Err(RouterError::Malformed(_))));
        assert!(matches!(
            plan("SELECT * FROM mysql.user"),
            Err(RouterError::OtherSchema(_))
        ));
    }

    #[test]
    fn session_functions_take_the_sessions_values() {
        let planned = plan("SELECT DATABASE(), USER(), order_id FROM t_order WHERE order_id = 3")
            .expect("planned");
        let sql = &planned.statements()[0].sql;
        assert!(sql.contains("'shop' AS `DATABASE()`"), "{sql}");
        assert!(sql.contains("'app@10.0.0.7' AS `USER()`"), "{sql}");
        // A prepared statement runs later: LAST_INSERT_ID() has no fixed value then.
        let later = SessionFacts {
            last_insert_id: None,
            ..session()
        };
        assert!(matches!(
            router().plan_prepare(
                "SELECT LAST_INSERT_ID(), order_id FROM t_order WHERE order_id = ?",
                &later
            ),
            Err(RouterError::SessionFunction { .. })
        ));
        assert!(matches!(
            router().plan_prepare(
                "SELECT DATABASE(), order_id FROM t_order WHERE order_id = ?",
                &later
            ),
            Ok(PreparedCommand::Template(_))
        ));
        assert!(matches!(
            router().plan_prepare("SET @a = ?", &later),
            Err(RouterError::Refused(_))
        ));
        assert!(matches!(
            router().plan_prepare("SET NAMES utf8mb4", &later),
            Ok(PreparedCommand::SessionStatement)
        ));
        assert!(matches!(
            router().plan_prepare("SELECT CONNECTION_ID()", &later),
            Ok(PreparedCommand::Probe(_))
        ));
    }
}
