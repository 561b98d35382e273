//! Config errors. Each one says which file, which YAML path and which line it is about.

use std::path::PathBuf;

/// An error found while reading or validating a routing-rules file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("config {file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the model (unknown key, wrong type, missing field).
    #[error("config {file}: line {line}, column {column}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The YAML fits the model but the rules it describes are inconsistent.
    #[error("config {file}: line {line}: {path}: {message}")]
    Invalid {
        file: PathBuf,
        /// Dotted YAML path, e.g. `schema.tables[0].database_algorithm.modulus`.
        path: String,
        line: usize,
        message: String,
    },
    /// A table's layout cannot be taken from another config.
    #[error("config: cannot route `{table}` by the other config's layout: {message}")]
    Layout { table: String, message: String },
}

impl ConfigError {
    /// The 1-based line the error is about, when it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Io { .. } | ConfigError::Layout { .. } => None,
            ConfigError::Syntax { line, .. } | ConfigError::Invalid { line, .. } => Some(*line),
        }
    }
}
