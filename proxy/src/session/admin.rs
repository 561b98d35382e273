//! shardgate's admin statements, on the clients' port: `SHOW SHARDGATE BACKENDS`,
//! `SHOW SHARDGATE STATUS`, `SHOW SHARDGATE SESSIONS`, `SHOW [FULL] PROCESSLIST` and
//! `SHARDGATE EXPLAIN <statement>`, `SHARDGATE RELOAD CONFIG`. Recognized before a statement is planned; anything else
//! that starts with `SHARDGATE` or `SHOW SHARDGATE` is refused as unknown, never sent on.
//!
//! The processlist shows an `app` account its own sessions and an `admin` account every
//! one; the other statements are the `admin` role's (ER_SPECIFIC_ACCESS_DENIED_ERROR for
//! the rest).

use shardgate_config::{Role, TableKind};
use shardgate_router::command::words;
use shardgate_router::{NoKeys, ShapeCache};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::protocol::codes;
use crate::protocol::resultset::TextResult;
use crate::protocol::wire::OkInfo;

/// An admin statement, decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AdminStatement<'s> {
    Backends,
    Status,
    /// `SHOW SHARDGATE RULES`: each logical table's layout.
    Rules,
    /// `SHOW SHARDGATE SESSIONS` and `SHOW [FULL] PROCESSLIST` (FULL: the whole statement).
    Sessions {
        full: bool,
    },
    /// `SHARDGATE EXPLAIN <statement>`: the statement's plan, not run.
    Explain(&'s str),
    /// `SHARDGATE RELOAD CONFIG`: read the config file again (see [`crate::reload`]).
    Reload,
    /// `KILL [HARD | SOFT] [CONNECTION | QUERY] id` of a shardgate session (see
    /// [`crate::kill_switch`]).
    Kill {
        connection: bool,
        /// As written: an id past any session's (over u32) is unknown, as on MariaDB.
        id: u64,
    },
    /// A KILL this proxy does not do (`KILL USER`, `KILL QUERY ID`), or a malformed one.
    KillUnsupported,
    /// `SHARDGATE ...` or `SHOW SHARDGATE ...` that is none of the above.
    Unknown,
}

/// The admin statement `sql` is, if it is one.
pub(crate) fn admin_statement(sql: &str) -> Option<AdminStatement<'_>> {
    let head = shardgate_router::command::skip_comments(sql);
    let first = head.split_whitespace().next()?;
    let first = first.trim_end_matches(';');
    if first.eq_ignore_ascii_case("KILL") {
        return Some(kill_statement(head));
    }
    if !first.eq_ignore_ascii_case("SHOW") && !first.eq_ignore_ascii_case("SHARDGATE") {
        return None;
    }
    let w: Vec<String> = words(head)
        .into_iter()
        .take(4)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["SHOW", "PROCESSLIST"] => Some(AdminStatement::Sessions { full: false }),
        ["SHOW", "FULL", "PROCESSLIST"] => Some(AdminStatement::Sessions { full: true }),
        ["SHOW", "SHARDGATE", "BACKENDS"] => Some(AdminStatement::Backends),
        ["SHOW", "SHARDGATE", "STATUS"] => Some(AdminStatement::Status),
        ["SHOW", "SHARDGATE", "RULES"] => Some(AdminStatement::Rules),
        ["SHOW", "SHARDGATE", "SESSIONS"] => Some(AdminStatement::Sessions { full: true }),
        ["SHOW", "SHARDGATE", ..] => Some(AdminStatement::Unknown),
        ["SHARDGATE", "RELOAD", "CONFIG"] => Some(AdminStatement::Reload),
        ["SHARDGATE", "EXPLAIN", _, ..] => {
            let rest = shardgate_router::command::strip_keyword(head, "SHARDGATE")?;
            let rest = shardgate_router::command::skip_comments(rest);
            let statement = shardgate_router::command::strip_keyword(rest, "EXPLAIN")?;
            Some(AdminStatement::Explain(statement.trim()))
        }
        ["SHARDGATE", ..] => Some(AdminStatement::Unknown),
        _ => None,
    }
}

/// `KILL [HARD | SOFT] [CONNECTION | QUERY] id`, MariaDB's spelling.
fn kill_statement(head: &str) -> AdminStatement<'static> {
    let words: Vec<String> = words(head)
        .into_iter()
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .filter(|w| !w.is_empty())
        .collect();
    let mut rest: &[String] = words.get(1..).unwrap_or_default();
    if let [first, tail @ ..] = rest {
        if first == "HARD" || first == "SOFT" {
            rest = tail;
        }
    }
    let (connection, rest) = match rest {
        [first, tail @ ..] if first == "QUERY" => (false, tail),
        [first, tail @ ..] if first == "CONNECTION" => (true, tail),
        _ => (true, rest),
    };
    match rest {
        [id] => id
            .parse()
            .map_or(AdminStatement::KillUnsupported, |id| AdminStatement::Kill {
                connection,
                id,
            }),
        _ => AdminStatement::KillUnsupported,
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Answers an admin statement.
    pub(crate) async fn admin(
        &mut self,
        statement: AdminStatement<'_>,
    ) -> Result<(), SessionError> {
        let admin = self.is_admin();
        let needs_admin = !matches!(
            statement,
            AdminStatement::Sessions { .. }
                | AdminStatement::Kill { .. }
                | AdminStatement::KillUnsupported
        );
        if needs_admin && !admin {
            return self
                .send_error(
                    codes::ER_SPECIFIC_ACCESS_DENIED_ERROR,
                    "Access denied; you need (at least one of) the shardgate admin role for this operation",
                )
                .await;
        }
        let result = match statement {
            AdminStatement::Backends => self.backends_result(),
            AdminStatement::Status => self.status_result(),
            AdminStatement::Rules => self.rules_result(),
            AdminStatement::Sessions { full } => self.sessions_result(admin, full),
            AdminStatement::Explain(sql) => match self.explain_result(sql) {
                Ok(result) => result,
                Err(e) => return self.send_router_error(&e).await,
            },
            AdminStatement::Kill { connection, id } => return self.kill(connection, id, admin).await,
            AdminStatement::KillUnsupported => {
                return self
                    .send_error(
                        codes::ER_NOT_SUPPORTED_YET,
                        "shardgate: KILL [HARD | SOFT] [CONNECTION | QUERY] <id> of a shardgate session is supported; KILL USER and KILL QUERY ID are not",
                    )
                    .await
            }
            AdminStatement::Reload => match self.ctx.reload().await {
                Ok(reloaded) => reload_result(&reloaded),
                Err(e) => return self.send_error(codes::ER_UNKNOWN_ERROR, &e.to_string()).await,
            },
            AdminStatement::Unknown => {
                return self
                    .send_error(
                        codes::ER_PARSE_ERROR,
                        "shardgate knows SHOW SHARDGATE BACKENDS | RULES | STATUS | SESSIONS, SHOW [FULL] PROCESSLIST, SHARDGATE EXPLAIN <statement> and SHARDGATE RELOAD CONFIG",
                    )
                    .await
            }
        };
        self.write_result(result).await
    }

    /// KILL of session `id`: its backend statements interrupted, and with `connection` the
    /// session ended. An `app` account may kill only its own account's sessions.
    async fn kill(&mut self, connection: bool, id: u64, admin: bool) -> Result<(), SessionError> {
        let session = u32::try_from(id)
            .ok()
            .and_then(|id| self.ctx.sessions.get(id));
        let Some(target) = session else {
            return self
                .send_error(
                    codes::ER_NO_SUCH_THREAD,
                    &format!("Unknown thread id: {id}"),
                )
                .await;
        };
        if !admin && target.user() != self.state.identity.user {
            return self
                .send_error(
                    codes::ER_KILL_DENIED_ERROR,
                    &format!("You are not owner of thread {id}"),
                )
                .await;
        }
        if id == u64::from(self.state.identity.connection_id) {
            // As MariaDB: a session that kills itself is told so by this very statement.
            if connection {
                self.send_error(codes::ER_CONNECTION_KILLED, "Connection was killed")
                    .await?;
                self.writer.flush().await?;
                return Err(SessionError::Quit);
            }
            return self
                .send_error(
                    codes::ER_QUERY_INTERRUPTED,
                    "Query execution was interrupted",
                )
                .await;
        }
        // A session between commands has no statement to interrupt.
        if connection || target.is_running() {
            let (command, threads) = target.kill.kill(connection);
            tracing::info!(
                by = self.state.identity.connection_id,
                session = id,
                connection,
                backend_connections = threads.len(),
                "KILL"
            );
            // Sent now, and again while the command runs, off this statement's path.
            tokio::spawn(crate::kill_switch::interrupt_command(
                target.kill.clone(),
                command,
                threads,
            ));
        }
        self.send_ok(OkInfo::default()).await
    }

    fn is_admin(&self) -> bool {
        let user = &self.state.identity.user;
        self.rules
            .topology
            .users
            .iter()
            .any(|u| u.name == *user && u.role == Role::Admin)
    }

    fn backends_result(&self) -> TextResult {
        let mut result = TextResult::new(&[
            "Name",
            "Address",
            "State",
            "Open",
            "Idle",
            "Busy",
            "Waiting",
            "Max",
            "Seconds_in_state",
            "Errors",
            "Last_error",
        ]);
        for pool in &self.rules.pools {
            let max = pool.backend.pool.max_connections as usize;
            let busy = max.saturating_sub(pool.available());
            let idle = pool.idle_count();
            let health = pool.health();
            let state = if health.down { "down" } else { "up" };
            result = result.row(vec![
                Some(pool.backend.name.clone()),
                Some(pool.backend.address.clone()),
                Some(state.into()),
                Some((idle + busy).to_string()),
                Some(idle.to_string()),
                Some(busy.to_string()),
                Some(pool.waiters().to_string()),
                Some(max.to_string()),
                Some(health.in_state.as_secs().to_string()),
                Some(health.errors.to_string()),
                (!health.last_error.is_empty()).then_some(health.last_error),
            ]);
        }
        result
    }

    /// Each logical table: kind, sharding column, databases, tables per database, the
    /// algorithms, physical tables, key generator.
    fn rules_result(&self) -> TextResult {
        let topology = &self.rules.topology;
        let mut result = TextResult::new(&[
            "Table",
            "Kind",
            "Sharding_column",
            "Databases",
            "Tables_per_database",
            "Database_algorithm",
            "Table_algorithm",
            "Physical_tables",
            "Key_generator",
        ]);
        for (id, table) in topology.tables.iter().enumerate() {
            let span = |names: Vec<&str>| match (names.first(), names.last()) {
                (Some(first), Some(last)) if names.len() > 1 => format!("{first}..{last}"),
                (Some(one), _) => one.to_string(),
                _ => String::new(),
            };
            let (kind, column, databases, tables, db_alg, table_alg) = match &table.kind {
                TableKind::Sharded(l) => (
                    if l.binding_group == id {
                        "sharded".to_string()
                    } else {
                        format!("binding to {}", topology.tables[l.binding_group].name)
                    },
                    Some(l.sharding_column.clone()),
                    span(
                        l.databases
                            .iter()
                            .map(|&d| topology.databases[d].name.as_str())
                            .collect(),
                    ),
                    Some(l.tables.len().to_string()),
                    Some(l.database_algorithm.to_string()),
                    Some(l.table_algorithm.to_string()),
                ),
                TableKind::Broadcast => (
                    "broadcast".to_string(),
                    None,
                    span(topology.databases.iter().map(|d| d.name.as_str()).collect()),
                    Some("1".into()),
                    None,
                    None,
                ),
                TableKind::Single { database } => (
                    "single".to_string(),
                    None,
                    topology.databases[*database].name.clone(),
                    Some("1".into()),
                    None,
                    None,
                ),
            };
            result = result.row(vec![
                Some(table.name.clone()),
                Some(kind),
                column,
                Some(databases),
                tables,
                db_alg,
                table_alg,
                Some(topology.physical_table_count(id).to_string()),
                table.key_generator.clone(),
            ]);
        }
        result
    }

    fn status_result(&self) -> TextResult {
        let topology = &self.rules.topology;
        let migrations = self
            .ctx
            .migrations
            .snapshot()
            .map_or(0, |s| s.migrating_tables());
        let rows: [(&str, String); 6] = [
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            (
                "uptime_seconds",
                self.ctx.started.elapsed().as_secs().to_string(),
            ),
            ("config_generation", topology.generation.to_string()),
            ("schema", topology.schema.clone()),
            ("client_sessions", self.ctx.sessions.len().to_string()),
            ("migrations", migrations.to_string()),
        ];
        rows.into_iter().fold(
            TextResult::new(&["Variable_name", "Value"]),
            |result, (name, value)| result.row(vec![Some(name.into()), Some(value)]),
        )
    }

    fn sessions_result(&self, admin: bool, full: bool) -> TextResult {
        let user = (!admin).then_some(self.state.identity.user.as_str());
        let mut result = TextResult::new(&[
            "Id", "User", "Host", "db", "Command", "Time", "State", "Info",
        ]);
        let me = self.state.identity.connection_id;
        for row in self.ctx.sessions.rows(user) {
            // This statement is what its own session runs.
            let info = row.info.map(|info| {
                if full || info.chars().count() <= 100 {
                    info
                } else {
                    info.chars().take(100).collect()
                }
            });
            let state = if row.id == me || row.command != "Sleep" {
                "executing"
            } else {
                ""
            };
            result = result.row(vec![
                Some(row.id.to_string()),
                Some(row.user),
                Some(row.host),
                row.database,
                Some(row.command.into()),
                Some(row.seconds.to_string()),
                Some(state.into()),
                info,
            ]);
        }
        result
    }

    /// The plan of `sql` as `shardgate route` prints it, one line per row.
    fn explain_result(&mut self, sql: &str) -> Result<TextResult, shardgate_router::RouterError> {
        let router = self.router();
        let facts = self.state.facts(true);
        let plan = router.plan(sql, &mut ShapeCache::new(1), &mut NoKeys, &facts)?;
        let text = plan.explain(router.topology()).to_string();
        Ok(text
            .lines()
            .fold(TextResult::new(&["Plan"]), |result, line| {
                result.row(vec![Some(line.to_string())])
            }))
    }
}

/// What a reload put in force, as one row.
fn reload_result(reloaded: &crate::reload::Reloaded) -> TextResult {
    TextResult::new(&["Config_generation", "Tables", "Backends", "Pools_kept"]).row(vec![
        Some(reloaded.generation.to_string()),
        Some(reloaded.tables.to_string()),
        Some(reloaded.backends.to_string()),
        Some(reloaded.pools_kept.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_statements_are_recognized() {
        assert_eq!(
            admin_statement("show shardgate backends"),
            Some(AdminStatement::Backends)
        );
        assert_eq!(
            admin_statement(" /* x */ SHOW  SHARDGATE\tSTATUS;"),
            Some(AdminStatement::Status)
        );
        assert_eq!(
            admin_statement("SHOW FULL PROCESSLIST"),
            Some(AdminStatement::Sessions { full: true })
        );
        assert_eq!(
            admin_statement("SHARDGATE EXPLAIN SELECT * FROM t_order"),
            Some(AdminStatement::Explain("SELECT * FROM t_order"))
        );
        assert_eq!(
            admin_statement("SHARDGATE RELOAD NOTHING"),
            Some(AdminStatement::Unknown)
        );
        assert_eq!(
            admin_statement("shardgate reload config;"),
            Some(AdminStatement::Reload)
        );
        assert_eq!(
            admin_statement("SHOW SHARDGATE"),
            Some(AdminStatement::Unknown)
        );
        assert_eq!(
            admin_statement("SHOW SHARDGATE RULES"),
            Some(AdminStatement::Rules)
        );
        assert_eq!(
            admin_statement("KILL 12"),
            Some(AdminStatement::Kill {
                connection: true,
                id: 12
            })
        );
        assert_eq!(
            admin_statement("kill soft query 7;"),
            Some(AdminStatement::Kill {
                connection: false,
                id: 7
            })
        );
        assert_eq!(
            admin_statement("KILL CONNECTION 3"),
            Some(AdminStatement::Kill {
                connection: true,
                id: 3
            })
        );
        assert_eq!(
            admin_statement("KILL 99999999999"),
            Some(AdminStatement::Kill {
                connection: true,
                id: 99_999_999_999
            })
        );
        assert_eq!(
            admin_statement("KILL 99999999999999999999999"),
            Some(AdminStatement::KillUnsupported)
        );
        assert_eq!(
            admin_statement("KILL QUERY ID 3"),
            Some(AdminStatement::KillUnsupported)
        );
        assert_eq!(
            admin_statement("KILL USER app"),
            Some(AdminStatement::KillUnsupported)
        );
        assert_eq!(
            admin_statement("KILL"),
            Some(AdminStatement::KillUnsupported)
        );
        assert_eq!(admin_statement("SHOW TABLES"), None);
        assert_eq!(admin_statement("SELECT 'SHOW SHARDGATE BACKENDS'"), None);
        assert_eq!(admin_statement("SHARDGATE"), Some(AdminStatement::Unknown));
    }
}
