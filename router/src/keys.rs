//! Generated sharding keys: an INSERT into a table with a key generator that leaves the key
//! out, or gives NULL or 0, gets ids from the proxy's generator before it is routed, as
//! MySQL's AUTO_INCREMENT would fill it. The router asks a [`KeySource`] for them while
//! binding, so a multi-row INSERT asks once, for as many ids as rows that need one.

/// Where generated keys come from (the proxy's id generators).
pub trait KeySource {
    /// `count` new ids from generator `generator`, in increasing order.
    fn next_ids(&mut self, generator: &str, count: usize) -> Result<Vec<i64>, KeyError>;
}

/// Why keys could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not now, but soon: the caller may wait for the generator and bind again (a segment
    /// still loading).
    #[error("key generator `{generator}` is not ready")]
    NotReady { generator: String, count: usize },
    #[error("key generator `{generator}`: {message}")]
    Failed { generator: String, message: String },
}

/// A source with no generators: statements that need a generated key are refused.
#[derive(Debug, Default)]
pub struct NoKeys;

impl KeySource for NoKeys {
    fn next_ids(&mut self, generator: &str, _count: usize) -> Result<Vec<i64>, KeyError> {
        Err(KeyError::Failed {
            generator: generator.to_string(),
            message: "no id generator runs here".into(),
        })
    }
}

/// How one INSERT row gets its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFill {
    /// The row gives its key; no generator.
    Given,
    /// The key column is missing: a generated id is appended to the row.
    Append,
    /// The key is a literal or parameter: a generated id replaces it when it is NULL or 0.
    WhenNullOrZero,
}
