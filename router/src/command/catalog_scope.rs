//! Which `information_schema` tables a client may read through shardgate, and how each is
//! confined to the logical schema.
//!
//! The lookup runs on a backend server, whose `information_schema` describes every database
//! on it: the physical `order_db_*` databases, shardgate's own, other tenants'. Each table
//! that describes schema objects is therefore read through a derived table that keeps only
//! the rows of the catalog database (and of `information_schema` itself, as MySQL lists it):
//! `FROM information_schema.TABLES t` becomes
//! `FROM (SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (...)) AS t`.
//! Tables that describe the server rather than a schema are answered only when they are the
//! same on every server (character sets, collations, engines, keywords); the rest
//! (PROCESSLIST, variables, status, users, InnoDB internals) are refused.

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, Statement, TableAlias, TableFactor, VisitMut, VisitorMut};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use crate::error::{Result, RouterError};

/// Tables that describe schema objects, with the column naming the schema of each row.
const SCHEMA_SCOPED: &[(&str, &str)] = &[
    ("SCHEMATA", "SCHEMA_NAME"),
    ("TABLES", "TABLE_SCHEMA"),
    ("COLUMNS", "TABLE_SCHEMA"),
    ("STATISTICS", "TABLE_SCHEMA"),
    ("VIEWS", "TABLE_SCHEMA"),
    ("PARTITIONS", "TABLE_SCHEMA"),
    ("KEY_COLUMN_USAGE", "TABLE_SCHEMA"),
    ("TABLE_CONSTRAINTS", "TABLE_SCHEMA"),
    ("REFERENTIAL_CONSTRAINTS", "CONSTRAINT_SCHEMA"),
    ("CHECK_CONSTRAINTS", "CONSTRAINT_SCHEMA"),
    ("TRIGGERS", "TRIGGER_SCHEMA"),
    ("EVENTS", "EVENT_SCHEMA"),
    ("ROUTINES", "ROUTINE_SCHEMA"),
    ("PARAMETERS", "SPECIFIC_SCHEMA"),
    ("COLUMN_PRIVILEGES", "TABLE_SCHEMA"),
    ("TABLE_PRIVILEGES", "TABLE_SCHEMA"),
    ("SCHEMA_PRIVILEGES", "TABLE_SCHEMA"),
];

/// Tables that describe the server's build, the same on every backend and naming no
/// database, user or session.
const SERVER_WIDE: &[&str] = &[
    "CHARACTER_SETS",
    "COLLATIONS",
    "COLLATION_CHARACTER_SET_APPLICABILITY",
    "ENGINES",
    "KEYWORDS",
    "SQL_FUNCTIONS",
];

/// Tables about storage files (NDB's tablespaces; InnoDB's files on MySQL 8): answered
/// empty, as MariaDB answers FILES, naming no physical file.
const EMPTY: &[&str] = &["FILES"];

/// Rewrites `statement`, already checked to read `information_schema` tables alone, so that
/// every table it reads shows only the rows of `catalog` and of `information_schema`; refuses
/// tables that describe the server. The SQL to run.
pub(super) fn confine(mut statement: Statement, catalog: &str) -> Result<String> {
    let mut confine = Confine {
        catalog,
        refused: None,
    };
    let _ = statement.visit(&mut confine);
    match confine.refused {
        Some(e) => Err(e),
        None => Ok(statement.to_string()),
    }
}

struct Confine<'a> {
    catalog: &'a str,
    refused: Option<RouterError>,
}

impl VisitorMut for Confine<'_> {
    type Break = ();

    // After the factor's children, so the derived table put in its place is not visited again.
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let parts = crate::collect::name_parts(name);
        let Some(table) = parts.last().map(|t| t.to_ascii_uppercase()) else {
            return ControlFlow::Continue(());
        };
        if SERVER_WIDE.contains(&table.as_str()) {
            return ControlFlow::Continue(());
        }
        let condition = if EMPTY.contains(&table.as_str()) {
            Some("1 = 0".to_string())
        } else {
            SCHEMA_SCOPED
                .iter()
                .find(|(t, _)| *t == table)
                .map(|(_, column)| {
                    format!("{column} IN ('{}', 'information_schema')", self.catalog)
                })
        };
        let Some(condition) = condition else {
            self.refused = Some(RouterError::Refused(format!(
                "information_schema.{table} describes the backend servers, not the logical schema; shardgate answers information_schema tables about schema objects ({}) and {}",
                SCHEMA_SCOPED.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", "),
                SERVER_WIDE.join(", ")
            )));
            return ControlFlow::Break(());
        };
        let sql = format!("SELECT * FROM information_schema.{table} WHERE {condition}");
        let subquery = match Parser::parse_sql(&MySqlDialect {}, &sql)
            .ok()
            .and_then(|mut s| s.pop())
        {
            Some(Statement::Query(query)) => query,
            _ => {
                self.refused = Some(RouterError::Refused(format!(
                    "information_schema.{table}: could not confine it to the logical schema"
                )));
                return ControlFlow::Break(());
            }
        };
        // The alias the statement gave, else the table's name as written, so that
        // `TABLES.TABLE_NAME` and `t.TABLE_NAME` still resolve.
        let alias = alias.clone().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .cloned()
                .unwrap_or_else(|| Ident::new(&table)),
            columns: Vec::new(),
            at: None,
        });
        *factor = TableFactor::Derived {
            lateral: false,
            subquery,
            alias: Some(alias),
            sample: None,
        };
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::confine;

    fn run(sql: &str) -> crate::error::Result<String> {
        let statement = crate::analyze::policy::check_information_schema(sql)?;
        confine(statement, "cat")
    }

    #[test]
    fn schema_tables_keep_the_catalogs_rows_only() {
        let sql = run("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").unwrap();
        assert_eq!(
            sql,
            "SELECT SCHEMA_NAME FROM (SELECT * FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('cat', 'information_schema')) AS SCHEMATA"
        );
        let sql = run(
            "select c.column_name from information_schema.columns c join information_schema.tables t on t.table_name = c.table_name where t.table_schema = 'cat'",
        )
        .unwrap();
        assert!(
            sql.contains(
                "information_schema.COLUMNS WHERE TABLE_SCHEMA IN ('cat', 'information_schema')) c"
            ),
            "{sql}"
        );
        assert!(
            sql.contains(
                "information_schema.TABLES WHERE TABLE_SCHEMA IN ('cat', 'information_schema')) t"
            ),
            "{sql}"
        );
    }

    #[test]
    fn subqueries_are_confined_too() {
        let sql = run("SELECT 1 FROM information_schema.ENGINES WHERE EXISTS (SELECT 1 FROM information_schema.TABLES)").unwrap();
        assert!(
            sql.contains("information_schema.ENGINES WHERE EXISTS"),
            "{sql}"
        );
        assert!(
            sql.contains("TABLE_SCHEMA IN ('cat', 'information_schema')) AS TABLES)"),
            "{sql}"
        );
    }

    #[test]
    fn tables_about_the_server_are_refused() {
        for table in [
            "PROCESSLIST",
            "GLOBAL_VARIABLES",
            "USER_PRIVILEGES",
            "INNODB_TRX",
            "processlist",
        ] {
            let e = run(&format!("SELECT * FROM information_schema.{table}")).unwrap_err();
            assert!(
                e.to_string().contains("describes the backend servers"),
                "{e}"
            );
        }
    }
}
