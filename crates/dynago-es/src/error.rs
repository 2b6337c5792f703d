//! The one error type of the event store.

use std::fmt;

use crate::aggregate::Aggregate;

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the event store.
///
/// [`is_conflict`](Error::is_conflict) and [`is_retryable`](Error::is_retryable)
/// tell the kind; a conflict stays a conflict through every layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The aggregate's stream is not where an append expected it: it
    /// expected version `expected` and found `actual`. Nothing was written.
    #[error(
        "conflict on aggregate {aggregate}: expected version {expected}, found version {actual}"
    )]
    Conflict {
        /// The aggregate, as `type#id`.
        aggregate: String,
        /// The version the append expected.
        expected: u64,
        /// The version found: from a command, the version of the event that
        /// took the place of its first (the stream reached at least that);
        /// from [`EventStore::append`](crate::EventStore::append), the
        /// stream's version, read after the failed condition (below
        /// `expected` when the stream is behind it).
        actual: u64,
    },

    /// A command kept conflicting, or its write kept failing with a
    /// transient error (throttling, timeouts), until the retry policy ran
    /// out. `attempts` counts the decisions (on conflicts) or the sends of
    /// the one write (on transient errors), the first included.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: usize,
        /// The error of the last attempt.
        #[source]
        last: Box<Error>,
    },

    /// A write of the command may or may not have taken place: its answer
    /// was lost (or its sends kept failing after one that may have been
    /// applied), and the read that would tell failed too. Not retryable:
    /// executing the command again could apply it twice. Read the
    /// aggregate's events (the commit id is in the events it wrote), or
    /// send the command again with the same
    /// [`command_id`](crate::CommandOptions::command_id), which is safe.
    #[error(
        "the outcome of commit {commit_id} on aggregate {aggregate} is unknown ({check}): {last}"
    )]
    OutcomeUnknown {
        /// The aggregate (the first with events), as `type#id`.
        aggregate: String,
        /// The commit id the events would carry.
        commit_id: uuid::Uuid,
        /// Why the outcome could not be read.
        check: String,
        /// The error of the last send.
        #[source]
        last: Box<Error>,
    },

    /// A command id was used again for another command: on other
    /// aggregates than the first time, or with another
    /// [fingerprint](crate::CommandOptions::fingerprint). Nothing was
    /// written. Never retried.
    #[error("command id {command_id} was first used for {first_used_for:?}: {reason}")]
    CommandIdReused {
        /// The command id.
        command_id: String,
        /// The aggregates it was first used for, as `type#id`.
        first_used_for: Vec<String>,
        /// What differs.
        reason: String,
    },

    /// A command decided more events than one DynamoDB transaction holds:
    /// with its command record and the checks of aggregates that decided
    /// none, `actions` actions where a transaction takes `limit`. Nothing was
    /// sent. Split the command.
    #[error(
        "a command on {aggregates:?} decided {events} events: with its command record and checks that is {actions} actions, over DynamoDB's {limit} a transaction; nothing was sent"
    )]
    TooManyEvents {
        /// The aggregates with events, as `type#id`.
        aggregates: Vec<String>,
        /// The events decided.
        events: usize,
        /// The actions the transaction would hold.
        actions: usize,
        /// DynamoDB's limit.
        limit: usize,
    },

    /// An append would take an aggregate past the last version there is
    /// (`u64::MAX`): its expected version, as given, is out of range.
    #[error("aggregate {aggregate} cannot take {events} more events after version {expected}")]
    VersionOutOfRange {
        /// The aggregate, as `type#id`.
        aggregate: String,
        /// The expected version given.
        expected: u64,
        /// How many events were to be appended.
        events: usize,
    },

    /// A stored event cannot be read: it does not deserialize into the event
    /// type (after upcasting), or its item is not an event.
    #[error("event {version} of aggregate {aggregate} cannot be read: {reason}")]
    CorruptEvent {
        /// The aggregate, as `type#id`.
        aggregate: String,
        /// The event's version (0 if the item has none).
        version: u64,
        /// What is wrong.
        reason: String,
    },

    /// The events of an aggregate are not numbered 1, 2, 3, ...: another
    /// writer wrote outside this store.
    #[error("aggregate {aggregate} has a gap: expected version {expected}, found {found}")]
    VersionGap {
        /// The aggregate, as `type#id`.
        aggregate: String,
        /// The version that should come next.
        expected: u64,
        /// The version found instead.
        found: u64,
    },

    /// The stream contradicts itself: an append found a version taken that
    /// reading the events does not reach, or a command record names events
    /// that are not there (or not its own). Another writer wrote outside
    /// this store; nothing was written, and the command is not retried
    /// (deciding again would meet the same stream).
    #[error("the stream of aggregate {aggregate} is corrupt: {reason}")]
    CorruptStream {
        /// The aggregate, as `type#id`.
        aggregate: String,
        /// What is wrong.
        reason: String,
    },

    /// An upcaster failed on a stored event.
    #[error("upcasting {event_type} v{from} of aggregate {aggregate}: {reason}")]
    Upcast {
        /// The aggregate, as `type#id`.
        aggregate: String,
        /// The event type.
        event_type: String,
        /// The schema version it was being lifted from.
        from: u32,
        /// What the upcaster said.
        reason: String,
    },

    /// An event, a snapshot or a command record could not be serialized.
    #[error("cannot serialize {what}: {reason}")]
    Serialize {
        /// What.
        what: String,
        /// Why.
        reason: String,
    },

    /// One aggregate appears twice in the commands of one
    /// [`execute_all`](crate::EventStore::execute_all). Nothing was sent.
    #[error("aggregate {aggregate} appears twice in one command; nothing was sent")]
    AggregateTwice {
        /// The aggregate, as `type#id`.
        aggregate: String,
    },

    /// The store is not usable with this table or these options.
    #[error("invalid event store configuration: {0}")]
    Config(String),

    /// An aggregate type given to read (an [`Inspector`](crate::Inspector)'s)
    /// cannot name the store's items: empty, holding the key separator `#`,
    /// or the prefix of command records. Nothing was sent.
    #[error("invalid aggregate type: {0}")]
    InvalidAggregateType(String),

    /// The table layer failed (network, throttling, limits, missing table).
    #[error(transparent)]
    Table(#[from] dynago::Error),
}

impl Error {
    /// The stream moved on under a write: reload and decide again. A write
    /// refused because a request in another Region of a multi-Region
    /// strongly consistent global table was modifying the item
    /// ([`dynago::Error::is_replicated_write_conflict`]) is one too: nothing
    /// was written, and the stream may have moved.
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::Conflict { .. } => true,
            Error::Table(e) => e.is_conflict() || e.is_replicated_write_conflict(),
            _ => false,
        }
    }

    /// The same request may succeed when sent again (throttling, transient
    /// network or server errors), also once the store's own retries ran out
    /// on such an error ([`RetriesExhausted`](Error::RetriesExhausted)).
    /// Conflicts and corrupt data are not, nor is an unknown
    /// outcome ([`OutcomeUnknown`](Error::OutcomeUnknown)): a store only
    /// calls a failed write retryable when it knows it was not applied.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Table(e) => e.is_retryable() && !e.is_replicated_write_conflict(),
            Error::RetriesExhausted { last, .. } => last.is_retryable(),
            _ => false,
        }
    }

    /// Whether the command took place cannot be told
    /// ([`OutcomeUnknown`](Error::OutcomeUnknown)).
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            Error::OutcomeUnknown { .. } => true,
            Error::Table(e) => e.is_outcome_unknown(),
            _ => false,
        }
    }

    /// The table does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Table(e) if e.is_not_found())
    }

    /// The stored data of an aggregate cannot be trusted: an event that
    /// cannot be read ([`CorruptEvent`](Error::CorruptEvent)), a missing
    /// version ([`VersionGap`](Error::VersionGap)) or a stream that
    /// contradicts itself ([`CorruptStream`](Error::CorruptStream)).
    /// Never retried; it takes a person to repair.
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            Error::CorruptEvent { .. } | Error::VersionGap { .. } | Error::CorruptStream { .. }
        )
    }

    /// The expected and actual versions, if this is a conflict.
    pub fn conflict_versions(&self) -> Option<ConflictVersions> {
        match self {
            Error::Conflict {
                expected, actual, ..
            } => Some(ConflictVersions {
                expected: *expected,
                actual: *actual,
            }),
            Error::RetriesExhausted { last, .. } => last.conflict_versions(),
            _ => None,
        }
    }
}

/// What a command can end with besides its outcome: the aggregate's own
/// refusal, with its id and its error as their own types, or a failure of
/// the store.
///
/// ```
/// # use dynago_es::{Aggregate, AggregateId, DomainEvent};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Default, Clone, Serialize, Deserialize)] struct Account;
/// # #[derive(Debug, Clone, Serialize, Deserialize, DomainEvent)] enum AccountEvent { Opened }
/// # #[derive(Debug, PartialEq, thiserror::Error)] enum AccountError { #[error("overdrawn")] Overdrawn }
/// # impl Aggregate for Account {
/// #     const TYPE: &'static str = "account";
/// #     type Id = AggregateId;
/// #     type Command = ();
/// #     type Event = AccountEvent;
/// #     type Error = AccountError;
/// #     fn handle(&self, _: &()) -> Result<Vec<AccountEvent>, AccountError> { Ok(vec![]) }
/// #     fn apply(&mut self, _: &AccountEvent) {}
/// # }
/// use dynago_es::CommandError;
///
/// fn explain(result: Result<(), CommandError<Account>>) -> String {
///     match result {
///         Ok(()) => "done".into(),
///         Err(CommandError::Rejected { id, reason: AccountError::Overdrawn }) => {
///             format!("{id} has too little")
///         }
///         Err(error) if error.is_retryable() => "try again".into(),
///         Err(error) => error.to_string(),
///     }
/// }
/// # let _ = explain;
/// ```
pub enum CommandError<A: Aggregate> {
    /// The aggregate refused the command: its `handle` returned `reason`.
    /// Nothing was written; never retried.
    Rejected {
        /// The aggregate that refused (in
        /// [`execute_all`](crate::EventStore::execute_all), the first that
        /// did).
        id: A::Id,
        /// The aggregate's own error.
        reason: A::Error,
    },

    /// The store failed: see [`Error`] and its queries.
    Store(Error),
}

impl<A: Aggregate> CommandError<A> {
    /// The aggregate refused the command.
    pub fn is_rejected(&self) -> bool {
        matches!(self, CommandError::Rejected { .. })
    }

    /// The aggregate's own error, if it refused the command.
    pub fn rejection(&self) -> Option<&A::Error> {
        match self {
            CommandError::Rejected { reason, .. } => Some(reason),
            CommandError::Store(_) => None,
        }
    }

    /// The store's error, if the store failed.
    pub fn store_error(&self) -> Option<&Error> {
        match self {
            CommandError::Store(error) => Some(error),
            CommandError::Rejected { .. } => None,
        }
    }

    /// As [`Error::is_conflict`]; a rejection is not.
    pub fn is_conflict(&self) -> bool {
        self.store_error().is_some_and(Error::is_conflict)
    }

    /// As [`Error::is_retryable`]; a rejection is not.
    pub fn is_retryable(&self) -> bool {
        self.store_error().is_some_and(Error::is_retryable)
    }

    /// As [`Error::is_outcome_unknown`]; a rejection is not (nothing was
    /// written).
    pub fn is_outcome_unknown(&self) -> bool {
        self.store_error().is_some_and(Error::is_outcome_unknown)
    }

    /// As [`Error::is_corrupt`].
    pub fn is_corrupt(&self) -> bool {
        self.store_error().is_some_and(Error::is_corrupt)
    }

    /// As [`Error::is_not_found`].
    pub fn is_not_found(&self) -> bool {
        self.store_error().is_some_and(Error::is_not_found)
    }

    /// As [`Error::conflict_versions`].
    pub fn conflict_versions(&self) -> Option<ConflictVersions> {
        self.store_error().and_then(Error::conflict_versions)
    }
}

impl<A: Aggregate> From<Error> for CommandError<A> {
    fn from(error: Error) -> Self {
        CommandError::Store(error)
    }
}

impl<A: Aggregate> fmt::Debug for CommandError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Rejected { id, reason } => f
                .debug_struct("Rejected")
                .field("id", id)
                .field("reason", reason)
                .finish(),
            CommandError::Store(error) => f.debug_tuple("Store").field(error).finish(),
        }
    }
}

impl<A: Aggregate> fmt::Display for CommandError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Rejected { id, reason } => {
                write!(f, "{}#{id} rejected the command: {reason}", A::TYPE)
            }
            CommandError::Store(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl<A: Aggregate> std::error::Error for CommandError<A> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CommandError::Rejected { reason, .. } => Some(reason),
            CommandError::Store(error) => std::error::Error::source(error),
        }
    }
}

/// The versions of a conflict ([`Error::conflict_versions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConflictVersions {
    /// The version the append expected.
    pub expected: u64,
    /// The version found.
    pub actual: u64,
}
