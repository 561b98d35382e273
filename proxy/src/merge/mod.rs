//! Merging the results of a SELECT that ran on several physical tables, so the client gets
//! exactly what one unsharded table would give, or an error saying why it cannot.
//!
//! This first part buffers the shard results under a per-query memory budget and supports
//! concatenation, ORDER BY on selected columns (compared by type and collation, NULLs as
//! MySQL orders them), LIMIT/OFFSET, and COUNT/SUM/MIN/MAX without GROUP BY. Anything else is
//! refused with ER_NOT_SUPPORTED_YET until the streaming merge arrives.

mod group;
mod select;
mod value;

pub use select::{merge, support, MergeError, ShardRows};
pub use value::ColumnKind;
