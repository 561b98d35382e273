//! shardgate's router, the planner: one logical SQL statement in, a [`Plan`] out: a tree of
//! typed steps over the physical statements (backend, database, SQL) and the merge of their
//! results. Pure: no I/O, no async.
//!
//! The way through: [`normalize`] turns literals into `?` to find the statement's shape; the
//! shape is parsed (sqlparser, MySQL dialect) and analyzed once into a [`Template`], kept in
//! the session's [`ShapeCache`]; [`Template::bind`] then evaluates the sharding condition with
//! this statement's values and splices physical table names into the original text, so
//! comments, hints and formatting survive.

mod analyze;
mod bind;
mod bind_cross_join;
mod bind_logical;
mod bind_merge;
mod bind_subquery;
mod bind_union;
mod bind_window_functions;
mod cache;
mod collect;
pub mod command;
mod condition;
pub mod depth;
pub mod error;
mod fold;
mod key_list;
mod keys;
mod literals;
pub mod merge_expr;
mod mirror;
pub mod normalize;
pub mod params;
pub mod plan;
mod planner;
mod render;
mod router;
mod server_version;
mod source;
mod targets;
mod template;
mod union;

pub use analyze::policy::{check_information_schema, check_set_value};
pub use bind::Params;
pub use cache::ShapeCache;
pub use command::SessionFacts;
pub use error::RouterError;
pub use keys::{KeyError, KeySource, NoKeys};
pub use mirror::{write_keys, WriteKeys};
pub use normalize::{normalize, split_statements, Literal};
pub use params::ParamValue;
pub use plan::{
    AffectedRows, Aggregate, AggregateFunction, CompareOp, CrossJoin, Derived, DualWrite, Generate,
    GroupConcat, HavingFilter, HavingOperand, MergeOperator, Metadata, MigrationPhase,
    PhysicalStatement, Plan, ProbeStep, Returning, RouteKind, Scatter, SelectMerge, SendToAll,
    SessionOp, SortKey, StatementKind, Step, Subquery, SubqueryAnswerError, SubqueryKind,
    SubqueryValues, Union, WindowColumn, WindowFunction, WindowFunctions, WindowKind, Windows,
};
pub use planner::PreparedCommand;
pub use router::Router;
pub use server_version::{GREETING_VERSION, SERVER_VERSION};
pub use template::Template;
pub use union::{combine_for, combine_per_backend, Combined};
