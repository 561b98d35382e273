//! Router errors. The router refuses rather than guesses: every error says why a statement
//! could not be routed safely, and none of them is worth retrying unchanged.

/// Why a statement has no plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// sqlparser could not parse the statement.
    #[error("router: cannot parse this statement, so it does not run it: {0}")]
    Parse(String),
    /// The text held no statement, or several (multi-statements are split before routing).
    #[error("router: expected exactly one statement, found {0}")]
    StatementCount(usize),
    /// A statement the router does not route (SET, SHOW, BEGIN ...): the session handles it.
    #[error("router: `{0}` statements are not routed")]
    NotRoutable(String),
    /// Default-deny: a statement, clause or session statement with no plan, and why
    /// (ER_NOT_SUPPORTED_YET).
    #[error("router: {0}")]
    Refused(String),
    /// A session statement that does not read as one (ER_PARSE_ERROR).
    #[error("router: {0}")]
    Malformed(String),
    /// A table that the logical schema does not define.
    #[error("router: table `{table}` is not in schema `{schema}`")]
    UnknownTable { table: String, schema: String },
    /// A statement that names a database other than the logical schema: the backends'
    /// own schemas (`mysql`, `performance_schema`, `sys`), physical databases, or others.
    #[error("router: {0}")]
    OtherSchema(String),
    /// A function that asks about the session (`DATABASE()`, `USER()`) inside a larger
    /// statement: a backend would answer for its own connection. The session may write its
    /// own answer in and plan again.
    #[error("router: {name}() inside a statement is not supported: a backend would answer for its own connection, not this session")]
    SessionFunction { name: String },
    /// A statement that would need data from several shards in a way the router cannot
    /// plan correctly (cross-shard join, subquery over a sharded table, ...).
    #[error("router: cannot route safely: {0}")]
    Unsafe(String),
    /// An UPDATE (or ON DUPLICATE KEY UPDATE) that would move a row to another shard.
    #[error("router: {0}")]
    ShardKeyUpdate(String),
    /// An INSERT row whose sharding key is missing or cannot be routed.
    #[error("router: {0}")]
    BadShardKey(String),
    /// An INSERT into sharded table `table` without a column list: the session may give
    /// the table's columns ([`crate::Router::insert_with_columns`]) and plan it again.
    #[error("router: INSERT into `{table}` must list its columns, so that the sharding column `{key}` can be found")]
    InsertWithoutColumns { table: String, key: String },
    /// A template bound against another topology than the one it was analyzed with.
    #[error(
        "router: the statement was analyzed for another routing configuration; prepare it again"
    )]
    StaleTemplate,
    /// Generated keys could not be had. Not marked as the error's source: the message
    /// already says it, and a printed chain would say it twice.
    #[error("router: {0}")]
    Keys(crate::keys::KeyError),
    /// The parameters handed to `bind` do not fit the statement.
    #[error("router: statement has {expected} parameters but {given} were bound")]
    ParamCount { expected: usize, given: usize },
}

pub type Result<T, E = RouterError> = std::result::Result<T, E>;

impl From<crate::keys::KeyError> for RouterError {
    fn from(e: crate::keys::KeyError) -> Self {
        RouterError::Keys(e)
    }
}
