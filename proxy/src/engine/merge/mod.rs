//! Merging the results of a SELECT that ran on several physical tables, so the client gets
//! exactly what one unsharded table would give, or an error saying why it cannot.
//!
//! Shard results arrive as streams ([`stream`]); the merge operators ([`merger`]) pull from
//! them one output row at a time: concatenation, a k-way merge for ORDER BY, GROUP BY folded
//! as rows pass when they come sorted by the group keys (hashed in memory otherwise),
//! aggregates (AVG from SUM and COUNT, variances from COUNT, SUM and the sum of squares, aggregates of DISTINCT values from the distinct
//! arguments), HAVING, DISTINCT, LIMIT and OFFSET; and window functions over kept rows
//! ([`window_values`]).

mod fold;
mod group;
mod group_concat;
mod merger;
mod project;
mod select;
pub mod stream;
mod text_functions;
mod union_header;
pub(crate) mod value;
mod variance;
mod window;

pub use merger::{Merger, OutRow, Strategy};
pub use select::{support, MergeError};
pub use union_header::union_header;
pub use value::ColumnKind;
pub use window::window_values;
