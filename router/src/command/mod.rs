//! Command decode: what a COM_QUERY statement asks of shardgate, read before anything runs.
//! The planner (`Router::plan`) turns the [`Command`] into a plan: statements that change
//! or read session state become session operations, metadata questions [`Show`]s and
//! [`Probe`]s, and a [`Command::Statement`] is parsed and analyzed, or refused. A session
//! statement this module cannot read is refused here, with the reason.

mod catalog;
mod catalog_scope;
mod explain;
mod lex;
mod probe;
mod savepoint;
mod session_values;
mod set;
mod show;
mod sql_prepare;

pub use catalog::{catalog_query, CATALOG_DATABASE};
pub use lex::{
    expand_executable_comments, has_placeholder, leading_keyword, skip_comments, strip_keyword,
    strip_query_cache_hint, words,
};
pub use probe::{Probe, ProbeItem, SessionValue};
pub use savepoint::SavepointOp;
pub use session_values::{substitute_session_values, SessionFacts};
pub use set::{
    assigned_value, autocommit_value, parse_set, refusal as set_refusal, user_variable_key, SetItem,
};
pub use show::{like_match, table_in_schema, Show};
pub use sql_prepare::{PrepareSource, SqlPrepared};

use crate::error::RouterError;
use crate::plan::SessionOp;

/// What one statement asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<'a> {
    /// A statement for the planner, with `/*! ... */` executable comments unwrapped.
    Statement(&'a str),
    /// SET, BEGIN, COMMIT, ROLLBACK, savepoints, USE, SQL PREPARE/EXECUTE/DEALLOCATE: what
    /// the session applies to its state (a refused SET is [`Command::Refused`]).
    Session(SessionOp),
    Show(Show),
    /// A SELECT over `information_schema`, as the text to run.
    InformationSchema(&'a str),
    Probe(Probe),
    /// `SELECT NEXTVAL('generator')`.
    NextVal(String),
    /// `EXPLAIN [modifiers] statement`: the statement is planned, not run.
    Explain {
        modifiers: String,
        statement: &'a str,
    },
    /// Refused before anything runs: the reason (ER_NOT_SUPPORTED_YET).
    Refused(String),
    /// A session statement that does not read as one (ER_PARSE_ERROR).
    Malformed(String),
}

impl Command<'_> {
    /// Whether the session answers this statement itself rather than routes it (a prepared
    /// session statement is run as text on each execute). SQL PREPARE/EXECUTE are not:
    /// they cannot be prepared themselves.
    pub fn is_session_statement(&self) -> bool {
        matches!(self, Command::Session(op) if !matches!(op, SessionOp::Prepared(_)))
    }
}

/// Probes are short; a long SELECT is never one, and skipping the check keeps it off the
/// hot path.
const PROBE_MAX_LEN: usize = 256;

/// Reads what a statement asks. Cheap for the statements that matter most: a SELECT, INSERT,
/// UPDATE or DELETE costs a look at its first word (and, for a short SELECT, at whether it
/// calls a function or names a variable).
pub fn decode(sql: &str) -> Command<'_> {
    let sql = lex::unwrap_executable_comment(sql);
    let keyword = leading_keyword(sql);
    let text = lex::skip_comments(sql);
    match keyword.as_str() {
        "SELECT" => select(sql),
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "WITH" | "" => Command::Statement(sql),
        "SET" => match parse_set(text) {
            None => Command::Malformed("shardgate could not read this SET statement".into()),
            Some(items) => match set::refusal(&items) {
                Some(why) => Command::Refused(why),
                None => Command::Session(SessionOp::Set(items)),
            },
        },
        "USE" => match lex::words(text).as_slice() {
            [_, db] => Command::Session(SessionOp::Use(lex::unquote(db).to_string())),
            _ => Command::Malformed("expected USE database".into()),
        },
        "BEGIN" => match lex::words(text).as_slice() {
            [_] => begin("START TRANSACTION"),
            [_, work] if work.eq_ignore_ascii_case("WORK") => {
                begin("START TRANSACTION")
            }
            _ => Command::Refused("BEGIN other than BEGIN [WORK]".into()),
        },
        "START" => {
            let words = lex::words(text);
            if words
                .get(1)
                .is_some_and(|w| w.eq_ignore_ascii_case("TRANSACTION"))
            {
                begin(&words.join(" "))
            } else {
                Command::Refused(format!(
                    "START {} statements are not supported",
                    words.get(1).map(|w| w.to_ascii_uppercase()).unwrap_or_default()
                ))
            }
        }
        "COMMIT" => Command::Session(SessionOp::Commit),
        "ROLLBACK" if !savepoint::rolls_back_to_savepoint(text) => {
            Command::Session(SessionOp::Rollback)
        }
        "ROLLBACK" | "SAVEPOINT" | "RELEASE" => match SavepointOp::parse(text) {
            Some(op) => Command::Session(SessionOp::Savepoint(op)),
            None => Command::Refused(
                "this savepoint statement is not understood (SAVEPOINT name, ROLLBACK TO [SAVEPOINT] name, RELEASE SAVEPOINT name)".into(),
            ),
        },
        "EXPLAIN" | "DESC" | "DESCRIBE" if let Some((modifiers, statement)) = explain::split(text) => {
            Command::Explain {
                modifiers,
                statement,
            }
        }
        "SHOW" | "DESC" | "DESCRIBE" | "EXPLAIN" => match Show::parse(text) {
            Ok(show) => Command::Show(show),
            Err(e) => from_error(e),
        },
        "PREPARE" | "EXECUTE" | "DEALLOCATE" => prepared(text),
        "LOCK" => lock_tables(text),
        "DO" => {
            let body = text.trim().trim_end_matches(';').trim_end();
            match lex::strip_keyword(body, "DO") {
                Some(exprs) if !exprs.trim().is_empty() => {
                    match lex::split_top_level(exprs)
                        .into_iter()
                        .try_for_each(crate::analyze::policy::check_set_value)
                    {
                        Ok(()) => Command::Session(SessionOp::Do(exprs.trim().to_string())),
                        Err(e) => from_error(e),
                    }
                }
                _ => Command::Malformed("expected DO expression [, expression ...]".into()),
            }
        }
        "ALTER" => match lex::words(text).as_slice() {
            [_, table_word, name, switch, keys]
                if table_word.eq_ignore_ascii_case("TABLE")
                    && (switch.eq_ignore_ascii_case("DISABLE")
                        || switch.eq_ignore_ascii_case("ENABLE"))
                    && keys.eq_ignore_ascii_case("KEYS") =>
            {
                Command::Session(SessionOp::SwitchKeys(name.to_string()))
            }
            _ => Command::Statement(sql),
        },
        "UNLOCK" => match lex::words(text).as_slice() {
            [_, t] if t.eq_ignore_ascii_case("TABLES") || t.eq_ignore_ascii_case("TABLE") => {
                Command::Session(SessionOp::UnlockTables)
            }
            _ => Command::Refused("UNLOCK other than UNLOCK TABLES".into()),
        },
        "DROP" if lex::words(text)
            .get(1)
            .is_some_and(|w| w.eq_ignore_ascii_case("PREPARE")) =>
        {
            prepared(text)
        }
        _ => Command::Statement(sql),
    }
}

/// `LOCK TABLE[S] t [[AS] alias] {READ [LOCAL] | [LOW_PRIORITY] WRITE} [, ...]`: the tables
/// it names.
fn lock_tables(text: &str) -> Command<'_> {
    let body = text.trim().trim_end_matches(';');
    let words = lex::words(body);
    if !words
        .get(1)
        .is_some_and(|w| w.eq_ignore_ascii_case("TABLES") || w.eq_ignore_ascii_case("TABLE"))
    {
        return Command::Refused("LOCK other than LOCK TABLES".into());
    }
    let rest = words[2..].join(" ");
    let mut tables = Vec::new();
    for item in lex::split_top_level(&rest) {
        let item_words: Vec<&str> = item.split_whitespace().collect();
        let Some(name) = item_words.first() else {
            return Command::Malformed("LOCK TABLES needs a table".into());
        };
        let mode_ok = item_words.iter().skip(1).all(|w| {
            let w = w.to_ascii_uppercase();
            matches!(
                w.as_str(),
                "READ" | "WRITE" | "LOCAL" | "LOW_PRIORITY" | "AS"
            ) || !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'`')
        });
        if !mode_ok {
            return Command::Malformed(format!("could not read `{item}` in LOCK TABLES"));
        }
        tables.push(name.to_string());
    }
    if tables.is_empty() {
        return Command::Malformed("LOCK TABLES needs a table".into());
    }
    Command::Session(SessionOp::LockTables(tables))
}

fn begin(opening: &str) -> Command<'static> {
    Command::Session(SessionOp::Begin(opening.to_string()))
}

fn prepared(text: &str) -> Command<'_> {
    match SqlPrepared::parse(text) {
        Ok(p) => Command::Session(SessionOp::Prepared(p)),
        Err(e) => from_error(e),
    }
}

fn select(sql: &str) -> Command<'_> {
    if catalog::names_information_schema(sql) {
        return Command::InformationSchema(sql);
    }
    if sql.len() < PROBE_MAX_LEN {
        if (sql.contains("()") || sql.contains("@@") || sql.contains("( )"))
            && !sql.to_ascii_uppercase().contains(" FROM ")
        {
            if let Some(probe) = Probe::parse(sql) {
                return Command::Probe(probe);
            }
        }
        // A look at the word after SELECT first: this runs for every short SELECT.
        let after_select = lex::skip_comments(sql).get(6..).unwrap_or("").trim_start();
        let calls_nextval = after_select
            .get(..7)
            .is_some_and(|w| w.eq_ignore_ascii_case("NEXTVAL"));
        if let Some(name) = calls_nextval.then(|| probe::nextval_of(sql)).flatten() {
            return Command::NextVal(name);
        }
    }
    Command::Statement(sql)
}

fn from_error(e: RouterError) -> Command<'static> {
    let text = e.to_string().trim_start_matches("router: ").to_string();
    match e {
        RouterError::Parse(why) => Command::Malformed(why),
        RouterError::NotRoutable(what) => {
            Command::Refused(format!("{what} statements are not supported"))
        }
        _ => Command::Refused(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_commands() {
        assert_eq!(
            decode("SELECT * FROM t WHERE id = 1"),
            Command::Statement("SELECT * FROM t WHERE id = 1")
        );
        assert_eq!(
            decode("/*!40101 SET NAMES utf8 */"),
            Command::Session(SessionOp::Set(vec![SetItem::Variable {
                key: "names".into(),
                sql: "NAMES utf8".into(),
                literal: true
            }]))
        );
        assert_eq!(decode("begin"), begin("START TRANSACTION"));
        assert_eq!(
            decode("START TRANSACTION READ ONLY;"),
            begin("START TRANSACTION READ ONLY")
        );
        assert!(matches!(decode("START SLAVE"), Command::Refused(_)));
        assert_eq!(decode("ROLLBACK"), Command::Session(SessionOp::Rollback));
        assert_eq!(
            decode("ROLLBACK\nTO SAVEPOINT sp"),
            Command::Session(SessionOp::Savepoint(SavepointOp::RollbackTo("sp".into())))
        );
        assert_eq!(
            decode("/* c */ COMMIT"),
            Command::Session(SessionOp::Commit)
        );
        assert_eq!(
            decode("USE `shop`"),
            Command::Session(SessionOp::Use("shop".into()))
        );
        assert!(matches!(
            decode("SET STATEMENT max_statement_time=1 FOR CREATE DATABASE x"),
            Command::Refused(_)
        ));
        assert!(matches!(decode("SHOW PROCESSLIST"), Command::Refused(_)));
        assert!(matches!(decode("SELECT DATABASE()"), Command::Probe(_)));
        assert!(matches!(decode("SELECT NEXTVAL('g')"), Command::NextVal(_)));
        assert!(matches!(
            decode("select * from information_schema.tables"),
            Command::InformationSchema(_)
        ));
        assert!(matches!(
            decode("DEALLOCATE PREPARE s"),
            Command::Session(SessionOp::Prepared(_))
        ));
        assert!(matches!(decode("DROP TABLE t"), Command::Statement(_)));
        assert_eq!(
            decode("SELECT DATABASE() FROM t_order"),
            Command::Statement("SELECT DATABASE() FROM t_order")
        );
    }
}
