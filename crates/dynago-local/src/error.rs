//! What can go wrong starting a DynamoDB server.

use std::path::PathBuf;
use std::time::Duration;

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why no DynamoDB server could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `DYNAGO_BACKEND` names no backend.
    #[error("unknown DYNAGO_BACKEND `{0}`: use `embedded`, `dynamodb-local` (the DynamoDB Local jar; `jar` is an alias) or `docker` (DynamoDB Local in a container), or set DYNAMODB_ENDPOINT")]
    UnknownBackend(String),

    /// A program the backend needs is not installed.
    #[error("`{program}` is needed to run DynamoDB Local but was not found: {hint}")]
    MissingProgram {
        /// The program, `java` or `npm`.
        program: &'static str,
        /// How to get it.
        hint: &'static str,
    },

    /// Fetching or unpacking DynamoDB Local failed.
    #[error("cannot provision DynamoDB Local into {dir}: {message}")]
    Provision {
        /// The cache directory.
        dir: PathBuf,
        /// What failed.
        message: String,
    },

    /// The server could not be started.
    #[error("cannot start {what}: {source}")]
    Start {
        /// Which server.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The server process ended before it answered.
    #[error("DynamoDB Local exited before it answered ({status}); its output:\n{output}")]
    Exited {
        /// How it ended.
        status: String,
        /// The end of what it printed.
        output: String,
    },

    /// The server did not answer in time.
    #[error("DynamoDB at {url} did not answer within {waited:?}: {last_error}")]
    NotReady {
        /// Its URL.
        url: String,
        /// How long we waited.
        waited: Duration,
        /// The last error seen.
        last_error: String,
    },

    /// The shared server failed to start earlier in this process.
    #[error("the shared DynamoDB server failed to start: {0}")]
    Shared(String),
}
