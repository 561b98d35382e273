//! Default-deny: what a statement may contain before it is planned at all.
//!
//! A statement reaches a backend only when everything in it has a known effect confined to
//! the statement: functions from an allowlist of MySQL built-ins without lasting effects,
//! no user variable assigned inside a statement (the value would stay on a pooled backend
//! connection that shardgate does not track), no `SELECT ... INTO` (files on a backend
//! server, or user variables), no temporary tables (they would outlive the statement on a
//! pooled connection and be seen by other clients). Anything else is refused with the
//! reason, and nothing is sent.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Select, Statement, Visit, Visitor};

use crate::error::{Result, RouterError};

/// Every aggregate function of MySQL and MariaDB: a call of one makes a query grouped.
/// Statements may call them all; whether a merge over several tables computes one is
/// decided when the merge is planned.
pub(crate) const AGGREGATE_FUNCTIONS: &[&str] = &[
    "AVG",
    "BIT_AND",
    "BIT_OR",
    "BIT_XOR",
    "COUNT",
    "GROUP_CONCAT",
    "JSON_ARRAYAGG",
    "JSON_OBJECTAGG",
    "MAX",
    "MIN",
    "STD",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "SUM",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
];

/// Other built-in functions a statement may call: their effect ends with the statement, and
/// their value does not depend on which pooled backend connection runs it.
const ALLOWED_FUNCTIONS: &[&str] = &[
    // Window functions.
    "CUME_DIST",
    "DENSE_RANK",
    "FIRST_VALUE",
    "LAG",
    "LAST_VALUE",
    "LEAD",
    "MEDIAN",
    "NTH_VALUE",
    "NTILE",
    "PERCENTILE_CONT",
    "PERCENTILE_DISC",
    "PERCENT_RANK",
    "RANK",
    "ROW_NUMBER",
    // Control flow and comparison.
    "COALESCE",
    "GREATEST",
    "IF",
    "IFNULL",
    "INTERVAL",
    "ISNULL",
    "LEAST",
    "NULLIF",
    "NVL",
    "NVL2",
    // Strings.
    "ASCII",
    "BIN",
    "BIT_COUNT",
    "BIT_LENGTH",
    "CHAR",
    "CHARACTER_LENGTH",
    "CHAR_LENGTH",
    "CHARSET",
    "CHR",
    "COERCIBILITY",
    "COLLATION",
    "CONCAT",
    "CONCAT_WS",
    "ELT",
    "EXPORT_SET",
    "EXTRACTVALUE",
    "FIELD",
    "FIND_IN_SET",
    "FORMAT",
    "FROM_BASE64",
    "HEX",
    "INSERT",
    "INSTR",
    "LCASE",
    "LEFT",
    "LENGTH",
    "LENGTHB",
    "LOCATE",
    "LOWER",
    "LPAD",
    "LTRIM",
    "MAKE_SET",
    "MID",
    "NATURAL_SORT_KEY",
    "OCT",
    "OCTET_LENGTH",
    "ORD",
    "POSITION",
    "QUOTE",
    "REGEXP_INSTR",
    "REGEXP_REPLACE",
    "REGEXP_SUBSTR",
    "REPEAT",
    "REPLACE",
    "REVERSE",
    "RIGHT",
    "RPAD",
    "RTRIM",
    "SFORMAT",
    "SOUNDEX",
    "SPACE",
    "STRCMP",
    "SUBSTR",
    "SUBSTRING",
    "SUBSTRING_INDEX",
    "TO_BASE64",
    "TO_CHAR",
    "TRIM",
    "UCASE",
    "UNHEX",
    "UPDATEXML",
    "UPPER",
    "WEIGHT_STRING",
    // Numbers.
    "ABS",
    "ACOS",
    "ASIN",
    "ATAN",
    "ATAN2",
    "CEIL",
    "CEILING",
    "CONV",
    "COS",
    "COT",
    "CRC32",
    "CRC32C",
    "DEGREES",
    "EXP",
    "FLOOR",
    "LN",
    "LOG",
    "LOG10",
    "LOG2",
    "MOD",
    "PI",
    "POW",
    "POWER",
    "RADIANS",
    "RAND",
    "ROUND",
    "SIGN",
    "SIN",
    "SQRT",
    "TAN",
    "TRUNCATE",
    // Dates and times.
    "ADDDATE",
    "ADDTIME",
    "CONVERT_TZ",
    "CURDATE",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURTIME",
    "DATE",
    "DATEDIFF",
    "DATE_ADD",
    "DATE_FORMAT",
    "DATE_SUB",
    "DAY",
    "DAYNAME",
    "DAYOFMONTH",
    "DAYOFWEEK",
    "DAYOFYEAR",
    "EXTRACT",
    "FROM_DAYS",
    "FROM_UNIXTIME",
    "GET_FORMAT",
    "HOUR",
    "LAST_DAY",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "MAKEDATE",
    "MAKETIME",
    "MICROSECOND",
    "MINUTE",
    "MONTH",
    "MONTHNAME",
    "NOW",
    "PERIOD_ADD",
    "PERIOD_DIFF",
    "QUARTER",
    "SECOND",
    "SEC_TO_TIME",
    "STR_TO_DATE",
    "SUBDATE",
    "SUBTIME",
    "SYSDATE",
    "TIME",
    "TIMEDIFF",
    "TIMESTAMP",
    "TIMESTAMPADD",
    "TIMESTAMPDIFF",
    "TIME_FORMAT",
    "TIME_TO_SEC",
    "TO_DAYS",
    "TO_SECONDS",
    "UNIX_TIMESTAMP",
    "UTC_DATE",
    "UTC_TIME",
    "UTC_TIMESTAMP",
    "WEEK",
    "WEEKDAY",
    "WEEKOFYEAR",
    "YEAR",
    "YEARWEEK",
    // Hashes, encodings, addresses, ids.
    "AES_DECRYPT",
    "AES_ENCRYPT",
    "COMPRESS",
    "INET6_ATON",
    "INET6_NTOA",
    "INET_ATON",
    "INET_NTOA",
    "IS_IPV4",
    "IS_IPV4_COMPAT",
    "IS_IPV4_MAPPED",
    "IS_IPV6",
    "MD5",
    "RANDOM_BYTES",
    "SHA",
    "SHA1",
    "SHA2",
    "SYS_GUID",
    "UNCOMPRESS",
    "UNCOMPRESSED_LENGTH",
    "UUID",
    "UUID_SHORT",
    // JSON.
    "JSON_ARRAY",
    "JSON_ARRAY_APPEND",
    "JSON_ARRAY_INSERT",
    "JSON_COMPACT",
    "JSON_CONTAINS",
    "JSON_CONTAINS_PATH",
    "JSON_DEPTH",
    "JSON_DETAILED",
    "JSON_EQUALS",
    "JSON_EXISTS",
    "JSON_EXTRACT",
    "JSON_INSERT",
    "JSON_KEYS",
    "JSON_LENGTH",
    "JSON_LOOSE",
    "JSON_MERGE",
    "JSON_MERGE_PATCH",
    "JSON_MERGE_PRESERVE",
    "JSON_NORMALIZE",
    "JSON_OBJECT",
    "JSON_OVERLAPS",
    "JSON_PRETTY",
    "JSON_QUERY",
    "JSON_QUOTE",
    "JSON_REMOVE",
    "JSON_REPLACE",
    "JSON_SEARCH",
    "JSON_SET",
    "JSON_TYPE",
    "JSON_UNQUOTE",
    "JSON_VALID",
    "JSON_VALUE",
    // Writes: `ON DUPLICATE KEY UPDATE c = VALUES(c)`, `DEFAULT(c)`.
    "DEFAULT",
    "VALUE",
    "VALUES",
    // Bounded by the backend's query timeout, and has no effect beyond the statement.
    "SLEEP",
];

/// Functions that answer about the session: a backend would answer about its own pooled
/// connection (a physical database, the backend account), not the client's session.
const SESSION_FUNCTIONS: &[&str] = &[
    "CONNECTION_ID",
    "CURRENT_ROLE",
    "CURRENT_USER",
    "DATABASE",
    "FOUND_ROWS",
    "LAST_INSERT_ID",
    "ROW_COUNT",
    "SCHEMA",
    "SESSION_USER",
    "SYSTEM_USER",
    "USER",
    "VERSION",
];

/// Refuses what a statement may not contain; see the module documentation.
pub(crate) fn check(stmt: &Statement) -> Result<()> {
    if let Statement::CreateTable(ct) = stmt {
        if ct.temporary {
            return Err(RouterError::Unsafe(
                "temporary tables are not supported: one would outlive the statement on a pooled backend connection".into(),
            ));
        }
    }
    match stmt.visit(&mut Policy) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Whether `name` (upper case) is a function shardgate lets a statement call.
pub(crate) fn is_allowed_function(name: &str) -> bool {
    AGGREGATE_FUNCTIONS.contains(&name)
        || ALLOWED_FUNCTIONS.contains(&name)
        || name.starts_with("ST_")
        || name.starts_with("MBR")
}

struct Policy;

impl Visitor for Policy {
    type Break = RouterError;

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<RouterError> {
        if select.into.is_some() {
            return ControlFlow::Break(RouterError::Unsafe(
                "SELECT ... INTO is not supported: the rows would land in variables or files of a backend connection".into(),
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<RouterError> {
        match expr {
            Expr::BinaryOp {
                op: BinaryOperator::Assignment,
                ..
            } => ControlFlow::Break(RouterError::Unsafe(
                "assigning a user variable (`@v := ...`) inside a statement is not supported: the value would stay on a pooled backend connection; use SET".into(),
            )),
            Expr::Function(f) => {
                let parts = &f.name.0;
                if parts.len() != 1 {
                    return ControlFlow::Break(RouterError::Unsafe(format!(
                        "function `{}` is not supported: shardgate calls only built-in functions",
                        f.name
                    )));
                }
                let name = f.name.to_string().to_ascii_uppercase();
                let name = name.trim_matches('`');
                if is_allowed_function(name) {
                    return ControlFlow::Continue(());
                }
                if SESSION_FUNCTIONS.contains(&name) {
                    return ControlFlow::Break(RouterError::SessionFunction {
                        name: name.to_string(),
                    });
                }
                ControlFlow::Break(RouterError::Unsafe(format!(
                    "function {name}() is not supported: it is not a built-in function shardgate knows to be confined to the statement"
                )))
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

/// After a parse failure: the reason, for statements MySQL accepts that shardgate refuses on
/// purpose and sqlparser does not parse.
pub(crate) fn refused_unparsed(text: &str) -> Option<RouterError> {
    let upper = text.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let into_file = words
        .windows(2)
        .any(|w| w[0] == "INTO" && (w[1] == "OUTFILE" || w[1] == "DUMPFILE"));
    if into_file {
        return Some(RouterError::Unsafe(
            "SELECT ... INTO OUTFILE / DUMPFILE is not supported: it writes a file on a backend server".into(),
        ));
    }
    None
}

/// Checks an expression a backend evaluates outside any planned statement (the value of a
/// `SET name = value`, the condition of `SHOW VARIABLES WHERE ...`): it may read variables
/// and call allowed functions, but not read tables.
pub fn check_set_value(value: &str) -> Result<()> {
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;
    let sql = format!("SELECT {value}");
    crate::depth::check_expression_depth(&sql)?;
    let statements = Parser::parse_sql(&MySqlDialect {}, &sql)
        .map_err(|e| RouterError::Parse(format!("an expression: {e}")))?;
    let [statement] = statements.as_slice() else {
        return Err(RouterError::Unsafe("expected one expression".into()));
    };
    check(statement)?;
    let reads_table = statement.visit(&mut ReadsTable).is_break();
    if reads_table {
        return Err(RouterError::Unsafe(
            "an expression a backend evaluates outside a planned statement (a SET value, a SHOW condition) may not read tables".into(),
        ));
    }
    match statement {
        Statement::Query(q) if matches!(q.body.as_ref(), sqlparser::ast::SetExpr::Select(s) if s.projection.len() == 1) => {
            Ok(())
        }
        _ => Err(RouterError::Unsafe("expected one expression".into())),
    }
}

/// Finds any table a statement reads.
struct ReadsTable;

impl Visitor for ReadsTable {
    type Break = ();

    fn pre_visit_relation(&mut self, _relation: &sqlparser::ast::ObjectName) -> ControlFlow<()> {
        ControlFlow::Break(())
    }
}

/// Checks an `information_schema` query before it runs on shardgate's catalog: it may read
/// `information_schema` tables alone, and call only allowed functions. The statement, parsed.
pub fn check_information_schema(sql: &str) -> Result<Statement> {
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;
    crate::depth::check_expression_depth(sql)?;
    let statements = Parser::parse_sql(&MySqlDialect {}, sql)
        .map_err(|e| refused_unparsed(sql).unwrap_or_else(|| RouterError::Parse(e.to_string())))?;
    let Ok([statement @ Statement::Query(_)]) = <[Statement; 1]>::try_from(statements) else {
        return Err(RouterError::Unsafe(
            "an information_schema query must be one SELECT".into(),
        ));
    };
    check(&statement)?;
    match statement.visit(&mut OnlyInformationSchema) {
        ControlFlow::Break(name) => Err(RouterError::OtherSchema(format!(
            "`{name}` in an information_schema query: shardgate answers information_schema queries about schema tables alone"
        ))),
        ControlFlow::Continue(()) => Ok(statement),
    }
}

/// Finds a table that is not an `information_schema` one.
struct OnlyInformationSchema;

impl Visitor for OnlyInformationSchema {
    type Break = String;

    fn pre_visit_relation(&mut self, relation: &sqlparser::ast::ObjectName) -> ControlFlow<String> {
        let parts = crate::collect::name_parts(relation);
        match parts.as_slice() {
            [schema, _] if schema.eq_ignore_ascii_case("information_schema") => {
                ControlFlow::Continue(())
            }
            _ => ControlFlow::Break(parts.join(".")),
        }
    }
}
