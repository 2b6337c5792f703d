//! The one error of this crate.

/// What can go wrong while projecting events.
///
/// ```
/// let error = dynago_projections::Error::FellBehind {
///     table: "ledger".into(),
///     shard: "shardId-1".into(),
/// };
/// assert!(error.is_fell_behind());
/// assert!(!error.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A call to the view table failed.
    #[error(transparent)]
    Table(#[from] dynago::Error),

    /// Reading the events from their table failed, or an event item did not
    /// read as an event.
    #[error(transparent)]
    Store(#[from] dynago_es::Error),

    /// A call to the DynamoDB Streams API failed.
    #[error("DynamoDB Streams {operation} on the stream of `{table}` failed: {message}")]
    Stream {
        /// The events table.
        table: String,
        /// The Streams operation: `DescribeStream`, `GetShardIterator`,
        /// `GetRecords`.
        operation: &'static str,
        /// The service's error code, if it gave one.
        code: Option<String>,
        /// What went wrong.
        message: String,
        /// Whether the same call may succeed later (throttling, a server
        /// error, a connection that failed before sending).
        retryable: bool,
    },

    /// The events table has no stream, or not one whose records carry new
    /// images.
    #[error("the table `{table}` has no DynamoDB Stream with new images: {reason}")]
    NoStream {
        /// The events table.
        table: String,
        /// What was found.
        reason: String,
    },

    /// The stream no longer holds records the projection has not applied
    /// (DynamoDB keeps them 24 hours): events may have been missed, and
    /// the projection must be rebuilt from the table
    /// ([`Projector::rebuild`](crate::Projector::rebuild)).
    #[error(
        "the projection fell behind the stream of `{table}`: shard {shard} no longer holds the records after its checkpoint; rebuild the projection from the table"
    )]
    FellBehind {
        /// The events table.
        table: String,
        /// The shard whose records were trimmed.
        shard: String,
    },

    /// An item of the view table is not what the projection wrote there.
    #[error("the view item {key} of projection `{projection}` is not valid: {reason}")]
    CorruptView {
        /// The projection.
        projection: String,
        /// The item's sort key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A view could not be written as an item.
    #[error("the view {key} of projection `{projection}` does not serialize: {reason}")]
    Serialize {
        /// The projection.
        projection: String,
        /// The view's sort key.
        key: String,
        /// Why.
        reason: String,
    },

    /// An event lost the race to write its views to other writers of the
    /// same views every time it was tried (with backoff between the
    /// tries): many workers or invocations writing one hot keyed view.
    /// Nothing of it was written by this call. Retryable: a worker backs
    /// off and reads the event again; a Lambda batch is retried.
    #[error("event {version} of aggregate {aggregate} lost {conflicts} times in a row to other writers of projection `{projection}`; it will be tried again")]
    Contention {
        /// The projection.
        projection: String,
        /// The event's aggregate.
        aggregate: String,
        /// The event's version.
        version: u64,
        /// How many writes it lost.
        conflicts: usize,
    },

    /// A reset or rebuild was refused: workers of the projection are
    /// running (their leases were renewed while the reset watched them).
    /// Deleting views under a live writer would leave them wrong; stop the
    /// workers (complete the future given to
    /// [`Projector::run`](crate::Projector::run)) and reset again.
    #[error("projection `{projection}` cannot be reset while its workers run: {workers:?} renewed their leases; stop them (end `run`), then reset again")]
    Running {
        /// The projection.
        projection: String,
        /// The workers seen renewing their leases.
        workers: Vec<String>,
    },

    /// A reset of the projection is deleting its items: nothing is written
    /// until it is done. Retryable: a Lambda batch is sent again, a worker
    /// waits.
    #[error(
        "projection `{projection}` is being reset; it is written again once the reset is done"
    )]
    Resetting {
        /// The projection.
        projection: String,
    },

    /// The options or the projection are not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// The same call may succeed when sent again: throttling, a server
    /// error, a connection that failed before the request was sent. Never
    /// for a conflict (read again first), bad data or configuration.
    ///
    /// A write of the read side whose outcome the table layer calls unknown
    /// ([`dynago::Error::OutcomeUnknown`]: an attempt ended without an
    /// answer) is told by its last attempt: every write the read side makes
    /// (a view, a checkpoint, a lease, a parked event) is guarded by a
    /// version or position it read, and what it guards is read again before
    /// it is decided again, so a write that did land is found there, never
    /// applied twice.
    ///
    /// ```
    /// let error = dynago_projections::Error::Config("no name".into());
    /// assert!(!error.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Table(e) => last_attempt(e).is_retryable(),
            Self::Store(e) => e.is_retryable(),
            Self::Stream { retryable, .. } => *retryable,
            Self::Contention { .. } | Self::Resetting { .. } => true,
            _ => false,
        }
    }

    /// The projection fell behind the stream and must be rebuilt
    /// ([`Error::FellBehind`]).
    ///
    /// ```
    /// let error = dynago_projections::Error::Config("no name".into());
    /// assert!(!error.is_fell_behind());
    /// ```
    pub fn is_fell_behind(&self) -> bool {
        matches!(self, Self::FellBehind { .. })
    }

    /// A write's condition failed: another writer changed the item first.
    ///
    /// ```
    /// let error = dynago_projections::Error::Config("no name".into());
    /// assert!(!error.is_conflict());
    /// ```
    pub fn is_conflict(&self) -> bool {
        match self {
            Self::Table(e) => last_attempt(e).is_conflict(),
            Self::Store(e) => e.is_conflict(),
            _ => false,
        }
    }
}

/// The error of a write's last attempt: `error` itself, or what the last
/// attempt of a write whose outcome is unknown met (see
/// [`Error::is_retryable`]).
fn last_attempt(error: &dynago::Error) -> &dynago::Error {
    match error {
        dynago::Error::OutcomeUnknown { last, .. } => last,
        error => error,
    }
}

/// The result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
