//! The one error type of this crate, and how SDK errors become it.

use std::fmt;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::value::Item;

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when talking to a DynamoDB table.
///
/// Match on the variants to read the details, or ask the predicates
/// ([`is_conflict`](Error::is_conflict), [`is_retryable`](Error::is_retryable),
/// [`is_outcome_unknown`](Error::is_outcome_unknown),
/// [`is_replicated_write_conflict`](Error::is_replicated_write_conflict),
/// [`is_not_found`](Error::is_not_found)) when only the kind matters. Errors of the
/// kind *checked before sending* (limits, empty keys, unsupported shapes) never
/// reached DynamoDB: nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A version-locked write expected the last version there is
    /// (`u64::MAX`): it could store no version after it, and so no later
    /// write could tell it had come first. Nothing was sent.
    #[error("the optimistic lock on `{attribute}` in table `{table}` expects version {}, the last there is: no version can follow it; nothing was sent", u64::MAX)]
    VersionExhausted {
        /// The table written to.
        table: String,
        /// The version attribute.
        attribute: String,
    },

    /// A version-locked write found another version than the one it expected.
    ///
    /// `actual` is read from the item that the failed condition returned: `None`
    /// means that no item exists under the key.
    #[error("version conflict on {key} in table `{table}`: expected version {expected}, found {}", display_version(*.actual))]
    VersionConflict {
        /// The table written to.
        table: String,
        /// The key of the item, as text.
        key: String,
        /// The version the write expected to replace (`0`: the item must not exist).
        expected: u64,
        /// The version stored, if an item is stored.
        actual: Option<u64>,
    },

    /// A write's condition expression evaluated to false; nothing was written.
    #[error("condition failed on {key} in table `{table}`")]
    ConditionFailed {
        /// The table written to.
        table: String,
        /// The key of the item, as text.
        key: String,
        /// The item stored when the condition failed, if any.
        item: Option<Box<Item>>,
    },

    /// DynamoDB cancelled a transaction; nothing of it was written.
    ///
    /// [`CancellationReasons::failed`] names each action that failed and why.
    #[error("transaction on table `{table}` cancelled: {reasons}")]
    TransactionCanceled {
        /// The table of the transaction.
        table: String,
        /// One reason per action, in the order of the actions.
        reasons: CancellationReasons,
    },

    /// An item is larger than DynamoDB's item size limit (checked before sending).
    #[error(
        "item {item}{} is {size} bytes, over DynamoDB's limit of {limit} bytes per item",
        of_table(table)
    )]
    ItemTooLarge {
        /// The table written to (empty when the item was checked where the
        /// table is not known).
        table: String,
        /// Which item: its key, or its place in a batch or transaction.
        item: String,
        /// Its size as DynamoDB counts it (attribute names and values).
        size: usize,
        /// The limit: 409,600 bytes.
        limit: usize,
    },

    /// A request holds more actions or keys than DynamoDB takes in one request
    /// (checked before sending).
    #[error(
        "{operation} on table `{table}` holds {count} actions, over DynamoDB's limit of {limit}"
    )]
    TooManyActions {
        /// The table written to.
        table: String,
        /// The operation, such as `TransactWriteItems`.
        operation: &'static str,
        /// How many actions were given.
        count: usize,
        /// How many one request takes.
        limit: usize,
    },

    /// A transaction's items add up to more than DynamoDB's 4 MB (checked before sending).
    #[error("transaction on table `{table}` holds {size} bytes of items, over DynamoDB's limit of {limit} bytes")]
    TransactionTooLarge {
        /// The table written to.
        table: String,
        /// The sum of the sizes of its items.
        size: usize,
        /// The limit: 4,194,304 bytes.
        limit: usize,
    },

    /// Two actions of one transaction or batch write name the same item
    /// (checked before sending: DynamoDB rejects that).
    #[error(
        "{operation} on table `{table}` names the item {key} twice (actions {first} and {second})"
    )]
    DuplicateKey {
        /// The table written to.
        table: String,
        /// The operation, such as `TransactWriteItems`.
        operation: &'static str,
        /// The key, as text.
        key: String,
        /// Index of the first action that names it.
        first: usize,
        /// Index of the second action that names it.
        second: usize,
    },

    /// A transaction's client request token is empty or longer than the 36
    /// characters DynamoDB takes (checked before sending).
    #[error("the client request token of a transaction on table `{table}` is {length} characters long; DynamoDB takes 1 to {limit}")]
    InvalidClientRequestToken {
        /// The table of the transaction.
        table: String,
        /// How many characters the token has.
        length: usize,
        /// The longest token DynamoDB takes: 36 characters.
        limit: usize,
    },

    /// A key is not usable: an empty string or binary value, a missing sort key,
    /// or a key attribute of a type that keys cannot have.
    #[error("invalid key for table `{table}`: {reason}")]
    InvalidKey {
        /// The table.
        table: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A value could not be turned into a DynamoDB item.
    #[error("cannot serialize {what} into a DynamoDB item: {source}")]
    Serialize {
        /// What was being serialized.
        what: String,
        /// Why it failed.
        #[source]
        source: serde_dynamo::Error,
    },

    /// A stored item could not be turned into the requested type.
    #[error("cannot deserialize item {key} of table `{table}`: {source}")]
    Deserialize {
        /// The table read from.
        table: String,
        /// The key of the item, as text (or `?` if it has none).
        key: String,
        /// Why it failed.
        #[source]
        source: serde_dynamo::Error,
    },

    /// A pagination cursor was malformed, tampered with, or belongs to another
    /// query, scan or segment.
    #[error("invalid cursor for table `{table}`: {reason}")]
    InvalidCursor {
        /// The table queried.
        table: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A scan's segment is out of DynamoDB's bounds: `total` must be 1 to
    /// 1,000,000 and `segment` below it (checked before sending).
    #[error("scan segment {segment} of {total} on table `{table}` does not exist: DynamoDB takes 1 to {limit} segments, numbered from 0")]
    InvalidSegment {
        /// The table scanned.
        table: String,
        /// The segment asked for.
        segment: u32,
        /// The number of segments asked for.
        total: u32,
        /// The most segments DynamoDB takes: 1,000,000.
        limit: u32,
    },

    /// An expression is longer than the 4 KB DynamoDB takes (checked before
    /// sending).
    #[error("the {expression} of a request on table `{table}` is {size} bytes, over DynamoDB's limit of {limit} bytes")]
    ExpressionTooLarge {
        /// The table.
        table: String,
        /// Which expression: `ConditionExpression`, `UpdateExpression`,
        /// `KeyConditionExpression`, `FilterExpression` or
        /// `ProjectionExpression`.
        expression: &'static str,
        /// Its length in bytes.
        size: usize,
        /// The limit: 4,096 bytes.
        limit: usize,
    },

    /// An expression cannot be sent as it was built (checked before
    /// sending): an update with no action, a placeholder standing for two
    /// names or values, an update that writes its own lock's version.
    #[error("invalid expression for table `{table}`: {reason}")]
    InvalidExpression {
        /// The table.
        table: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A batch request still had unprocessed keys or items after its retries.
    ///
    /// Nothing is lost: `keys` holds the keys (for a batch get) or `items` the
    /// write requests (for a batch write) that DynamoDB did not process.
    #[error("{operation} left {left} unprocessed after {attempts} attempts")]
    Unprocessed {
        /// `BatchGetItem` or `BatchWriteItem`.
        operation: &'static str,
        /// How many keys or items were left.
        left: usize,
        /// How many requests were sent for the chunk that gave up.
        attempts: usize,
        /// The keys that were not read (batch get).
        keys: Vec<Item>,
        /// The writes that were not done (batch write).
        items: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    },

    /// The table does not exist (or the credentials cannot see it).
    #[error("table `{table}` not found")]
    TableNotFound {
        /// The table.
        table: String,
    },

    /// The table's key schema is not the one the [`Table`](crate::Table)
    /// handle expects: other key names, a sort key too many or too few, or
    /// another key type (see [`Table::verify_schema`](crate::Table::verify_schema)).
    #[error("table `{table}` has the key schema {found}, but {expected} was expected")]
    SchemaMismatch {
        /// The table.
        table: String,
        /// The schema expected, such as `pk (S, HASH), sk (S, RANGE)` (an
        /// attribute without a type may be of any type).
        expected: String,
        /// The schema DynamoDB describes, such as `pk (S, HASH), sk (N, RANGE)`.
        found: String,
    },

    /// The table did not become active in time.
    #[error("table `{table}` is not active after {waited:?}")]
    TableNotActive {
        /// The table.
        table: String,
        /// How long we waited.
        waited: std::time::Duration,
    },

    /// The options given to build a [`Table`](crate::Table) are not usable.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A write may or may not have been applied: one of its attempts ended
    /// without a definitive answer (a timeout, a connection lost after the
    /// request left, a server failure), and no later answer proved it
    /// either way. `last` is the error of the last attempt, which says
    /// nothing of the earlier ones: a throttled resend of a write whose
    /// first attempt landed is refused, and the write is there.
    ///
    /// Never [retryable](Error::is_retryable): sending the same write again
    /// is safe only where applying it twice does no harm (a put of a whole
    /// item, a delete, a write under [`optimistic_lock`](crate::PutItem::optimistic_lock),
    /// whose write id tells its own earlier success), not for an `ADD`, a
    /// `SET n = n + :d` or an append to a list. Read the item to learn what
    /// happened.
    #[error("the outcome of {operation} on table `{table}` is unknown: an attempt ended without an answer and the write may have been applied; last attempt: {last}")]
    OutcomeUnknown {
        /// The table written to.
        table: String,
        /// The DynamoDB operation, such as `UpdateItem`.
        operation: &'static str,
        /// The error of the last attempt.
        #[source]
        last: Box<Error>,
    },

    /// DynamoDB refused a write with `ReplicatedWriteConflictException`
    /// (HTTP 400): on a global table of multi-Region strong consistency
    /// (MRSC), a request in another Region was modifying the item (or one
    /// of the items) when this one arrived. Nothing was written.
    ///
    /// Read the item again and decide again: the other Region's write may
    /// have changed what this one was decided on. The same write may go
    /// through once the other one is done, so this error is
    /// [retryable](Error::is_retryable), as the AWS SDKs treat it (the SDK
    /// itself sends `PutItem`, `UpdateItem`, `DeleteItem` and
    /// `BatchWriteItem` again on it, up to its attempts, before reporting
    /// it); a condition or a lock sent again is evaluated again, against
    /// the item as the other write left it. Never an
    /// [unknown outcome](Error::is_outcome_unknown): the answer proves the
    /// write was not applied. Not a [conflict](Error::is_conflict): no
    /// condition failed.
    #[error("{operation} on table `{table}` refused, nothing written: a request in another Region was modifying the item ({message})")]
    ReplicatedWriteConflict {
        /// The table written to.
        table: String,
        /// The DynamoDB operation, such as `PutItem`.
        operation: &'static str,
        /// DynamoDB's code and message, such as
        /// `ReplicatedWriteConflictException: ...`.
        message: String,
        /// The SDK error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// DynamoDB or the network answered with an error not covered above.
    #[error("{operation} on table `{table}` failed: {message}")]
    Dynamo {
        /// The table.
        table: String,
        /// The DynamoDB operation, such as `PutItem`.
        operation: &'static str,
        /// DynamoDB's error code, such as `ThrottlingException`, if it answered.
        code: Option<String>,
        /// The message, with the SDK's context.
        message: String,
        /// Whether the request may succeed when sent again.
        retryable: bool,
        /// The SDK error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// ` of table `name``, or nothing for an empty name.
fn of_table(table: &str) -> String {
    if table.is_empty() {
        String::new()
    } else {
        format!(" of table `{table}`")
    }
}

fn display_version(version: Option<u64>) -> String {
    match version {
        Some(v) => format!("version {v}"),
        None => "no item".to_owned(),
    }
}

impl Error {
    /// A write lost a race: a version lock, a condition or a transaction's
    /// condition did not hold. Reload and decide again; sending the same write
    /// again would fail the same way.
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::VersionConflict { .. } | Error::ConditionFailed { .. } => true,
            Error::TransactionCanceled { reasons, .. } => reasons.has_condition_failure(),
            _ => false,
        }
    }

    /// The same request may succeed if sent again later: throttling, a
    /// transaction conflict with another transaction, a write that met
    /// another Region's ([`Error::ReplicatedWriteConflict`]), a server
    /// error, a timeout or a dropped connection, or batch items left
    /// unprocessed. Validation errors and conflicts are never retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Dynamo { retryable, .. } => *retryable,
            Error::ReplicatedWriteConflict { .. } => true,
            Error::TransactionCanceled { reasons, .. } => {
                !reasons.has_condition_failure() && reasons.is_transient()
            }
            Error::Unprocessed { .. } => true,
            _ => false,
        }
    }

    /// A write may or may not have been applied ([`Error::OutcomeUnknown`]).
    /// Never retryable.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::OutcomeUnknown { .. })
    }

    /// DynamoDB refused the write because a request in another Region was
    /// modifying the item, on a global table of multi-Region strong
    /// consistency ([`Error::ReplicatedWriteConflict`],
    /// `ReplicatedWriteConflictException`). Nothing was written: read the
    /// item again and decide again, or send the same write again later
    /// (it is [retryable](Error::is_retryable)).
    ///
    /// False for an [`Error::OutcomeUnknown`] whose last attempt met such a
    /// conflict: an earlier attempt of that write may have been applied.
    ///
    /// ```no_run
    /// # #[derive(serde::Serialize)] struct Account { balance: i64 }
    /// # async fn run(table: dynago::Table, key: dynago::Key, account: Account) -> dynago::Result<()> {
    /// match table.put_item(key, &account).optimistic_lock("version", 3).send().await {
    ///     Ok(_) => {}
    ///     Err(e) if e.is_replicated_write_conflict() => {
    ///         // Another Region was writing the item; nothing was written:
    ///         // read it again and decide again.
    ///     }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_replicated_write_conflict(&self) -> bool {
        matches!(self, Error::ReplicatedWriteConflict { .. })
    }

    /// This error, made an [`Error::OutcomeUnknown`] of a write to `table`
    /// when `uncertain` (one of its attempts ended without a definitive
    /// answer).
    pub(crate) fn unless_uncertain(
        self,
        uncertain: bool,
        table: &str,
        operation: &'static str,
    ) -> Self {
        if !uncertain || self.is_outcome_unknown() {
            return self;
        }
        Error::OutcomeUnknown {
            table: table.to_owned(),
            operation,
            last: Box::new(self),
        }
    }

    /// The table does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::TableNotFound { .. })
    }

    /// The request was refused before it was sent, because it broke one of
    /// DynamoDB's limits or rules (size, count, empty or duplicate key, shape,
    /// a client request token's length, a cursor, a lock at the last
    /// version there is).
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::ItemTooLarge { .. }
                | Error::VersionExhausted { .. }
                | Error::TooManyActions { .. }
                | Error::TransactionTooLarge { .. }
                | Error::DuplicateKey { .. }
                | Error::InvalidClientRequestToken { .. }
                | Error::InvalidKey { .. }
                | Error::Serialize { .. }
                | Error::InvalidCursor { .. }
                | Error::InvalidSegment { .. }
                | Error::ExpressionTooLarge { .. }
                | Error::InvalidExpression { .. }
        )
    }

    /// This error with `table` as its table, where it names none yet (an
    /// item's size is checked where the table may not be known).
    pub(crate) fn in_table(self, table: &str) -> Self {
        match self {
            Error::ItemTooLarge {
                table: unnamed,
                item,
                size,
                limit,
            } if unnamed.is_empty() => Error::ItemTooLarge {
                table: table.to_owned(),
                item,
                size,
                limit,
            },
            other => other,
        }
    }

    /// The versions of an optimistic lock that did not hold, if this is
    /// such a conflict.
    pub fn version_conflict(&self) -> Option<LockVersions> {
        match self {
            Error::VersionConflict {
                expected, actual, ..
            } => Some(LockVersions {
                expected: *expected,
                actual: *actual,
            }),
            _ => None,
        }
    }

    /// DynamoDB's error code, if DynamoDB answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Dynamo { code, .. } => code.as_deref(),
            Error::TransactionCanceled { .. } => Some("TransactionCanceledException"),
            Error::ConditionFailed { .. } | Error::VersionConflict { .. } => {
                Some("ConditionalCheckFailedException")
            }
            Error::TableNotFound { .. } => Some("ResourceNotFoundException"),
            Error::ReplicatedWriteConflict { .. } => Some(REPLICATED_WRITE_CONFLICT),
            _ => None,
        }
    }
}

/// The versions of an optimistic lock that did not hold
/// ([`Error::version_conflict`]).
///
/// ```
/// let versions = dynago::LockVersions { expected: 3, actual: None };
/// assert_eq!(versions.actual, None); // the item is gone
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockVersions {
    /// The version the write expected.
    pub expected: u64,
    /// The version stored, `None` when no item (or no version) was there.
    pub actual: Option<u64>,
}

/// Why DynamoDB cancelled a transaction: one [`CancellationReason`] per action.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CancellationReasons {
    reasons: Vec<CancellationReason>,
}

/// Why one action of a cancelled transaction was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CancellationReason {
    /// The action's place in the transaction, from 0.
    pub index: usize,
    /// DynamoDB's code: `ConditionalCheckFailed`, `TransactionConflict`,
    /// `ThrottlingError`, `ValidationError`, `ItemCollectionSizeLimitExceeded`, ...
    pub code: String,
    /// DynamoDB's message, if any.
    pub message: Option<String>,
    /// The item as stored when a condition failed (DynamoDB returns it on failed
    /// actions only).
    pub item: Option<Item>,
}

impl CancellationReasons {
    pub(crate) fn new(reasons: Vec<CancellationReason>) -> Self {
        Self { reasons }
    }

    /// The reasons DynamoDB gave, one per action (`None` when an action
    /// did not fail).
    pub(crate) fn from_sdk(reasons: Vec<aws_sdk_dynamodb::types::CancellationReason>) -> Self {
        Self::new(
            reasons
                .into_iter()
                .enumerate()
                .map(|(index, reason)| CancellationReason {
                    index,
                    code: reason.code.unwrap_or_else(|| "None".to_owned()),
                    message: reason.message,
                    item: reason.item,
                })
                .collect(),
        )
    }

    /// Every reason, one per action, including those whose code is `None`.
    pub fn reasons(&self) -> &[CancellationReason] {
        &self.reasons
    }

    /// The actions that failed (every reason whose code is not `None`).
    pub fn failed(&self) -> impl Iterator<Item = &CancellationReason> {
        self.reasons.iter().filter(|r| r.code != "None")
    }

    /// The reason of the action at `index`.
    pub fn reason(&self, index: usize) -> Option<&CancellationReason> {
        self.reasons.get(index)
    }

    /// Whether a condition of one of the actions failed.
    pub fn has_condition_failure(&self) -> bool {
        self.failed().any(|r| r.code == "ConditionalCheckFailed")
    }

    fn is_transient(&self) -> bool {
        let mut failed = self.failed().peekable();
        failed.peek().is_some()
            && failed.all(|r| {
                matches!(
                    r.code.as_str(),
                    "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                )
            })
    }
}

impl fmt::Display for CancellationReasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for reason in self.failed() {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "action {} failed with {}", reason.index, reason.code)?;
            if let Some(message) = &reason.message {
                write!(f, " ({message})")?;
            }
        }
        if first {
            f.write_str("no reason given")?;
        }
        Ok(())
    }
}

/// DynamoDB error codes that mean "try again later".
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
];

/// DynamoDB's code for a write refused because a request in another
/// Region was modifying the item ([`Error::ReplicatedWriteConflict`]).
const REPLICATED_WRITE_CONFLICT: &str = "ReplicatedWriteConflictException";

/// An answer of DynamoDB's that cannot be used, such as a table description
/// without a key schema: not retryable.
pub(crate) fn unusable_answer(table: &str, operation: &'static str, message: String) -> Error {
    Error::Dynamo {
        table: table.to_owned(),
        operation,
        code: None,
        source: message.clone().into(),
        message,
        retryable: false,
    }
}

/// Turns an SDK error into [`Error`], classifying what can be retried.
pub(crate) fn from_sdk<E, R>(table: &str, operation: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: HttpStatus,
{
    let code = err.code().map(str::to_owned);
    if code.as_deref() == Some("ResourceNotFoundException") {
        return Error::TableNotFound {
            table: table.to_owned(),
        };
    }
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => {
            code.as_deref()
                .is_some_and(|c| RETRYABLE_CODES.contains(&c))
                || err.http_status().is_some_and(|s| s >= 500)
        }
        _ => false,
    };
    let message = match (&code, err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
    };
    // Known by its code whatever the operation: the SDK has a type for it
    // in the errors of `PutItem`, `UpdateItem`, `DeleteItem` and
    // `BatchWriteItem` only.
    if code.as_deref() == Some(REPLICATED_WRITE_CONFLICT) {
        return Error::ReplicatedWriteConflict {
            table: table.to_owned(),
            operation,
            message,
            source: Box::new(err),
        };
    }
    Error::Dynamo {
        table: table.to_owned(),
        operation,
        code,
        message,
        retryable,
        source: Box::new(err),
    }
}

/// The HTTP status of an SDK error's response, where there was one.
pub(crate) trait HttpStatus {
    fn http_status(&self) -> Option<u16>;
}

impl<E> HttpStatus for SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse> {
    fn http_status(&self) -> Option<u16> {
        self.raw_response().map(|r| r.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attempts::from_sdk_write;
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError;
    use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_sdk_dynamodb::types::error::{ReplicatedWriteConflictException, ThrottlingException};
    use aws_smithy_runtime_api::http::StatusCode;

    #[test]
    fn error_is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
    }

    #[test]
    fn transaction_reasons_classify() {
        let reason = |index, code: &str| CancellationReason {
            index,
            code: code.to_owned(),
            message: None,
            item: None,
        };
        let conflict = Error::TransactionCanceled {
            table: "t".into(),
            reasons: CancellationReasons::new(vec![
                reason(0, "None"),
                reason(1, "ConditionalCheckFailed"),
            ]),
        };
        assert!(conflict.is_conflict());
        assert!(!conflict.is_retryable());
        assert_eq!(
            conflict.to_string(),
            "transaction on table `t` cancelled: action 1 failed with ConditionalCheckFailed"
        );

        let busy = Error::TransactionCanceled {
            table: "t".into(),
            reasons: CancellationReasons::new(vec![reason(0, "TransactionConflict")]),
        };
        assert!(!busy.is_conflict());
        assert!(busy.is_retryable());

        let invalid = Error::TransactionCanceled {
            table: "t".into(),
            reasons: CancellationReasons::new(vec![reason(0, "ValidationError")]),
        };
        assert!(!invalid.is_retryable());
    }

    /// DynamoDB's message for the error (the API reference's words).
    const CONFLICT_MESSAGE: &str = "The request was rejected because one or more items in the request are being modified by a request in another Region.";

    /// `error` as the SDK reports an answer of HTTP `status`.
    fn answered<E>(error: E, status: u16) -> SdkError<E, HttpResponse> {
        let status = StatusCode::try_from(status).expect("an HTTP status");
        SdkError::service_error(error, HttpResponse::new(status, "{}".into()))
    }

    fn conflict_metadata() -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(REPLICATED_WRITE_CONFLICT)
            .message(CONFLICT_MESSAGE)
            .build()
    }

    /// The SDK's typed error, as it parses DynamoDB's answer.
    fn typed_conflict() -> ReplicatedWriteConflictException {
        ReplicatedWriteConflictException::builder()
            .message(CONFLICT_MESSAGE)
            .meta(conflict_metadata())
            .build()
    }

    #[test]
    fn a_replicated_write_conflict_is_refused_retryable_and_never_unknown() {
        let error = from_sdk_write(
            "t",
            "PutItem",
            answered(
                PutItemError::ReplicatedWriteConflictException(typed_conflict()),
                400,
            ),
            false,
        );
        assert!(error.is_replicated_write_conflict(), "{error:?}");
        assert!(
            matches!(&error, Error::ReplicatedWriteConflict { table, operation: "PutItem", .. } if table == "t"),
            "{error:?}"
        );
        assert!(error.is_retryable());
        assert!(!error.is_outcome_unknown());
        assert!(!error.is_conflict());
        assert!(!error.is_not_found());
        assert!(!error.is_invalid_input());
        assert_eq!(error.code(), Some("ReplicatedWriteConflictException"));
        assert_eq!(
            error.to_string(),
            format!("PutItem on table `t` refused, nothing written: a request in another Region was modifying the item (ReplicatedWriteConflictException: {CONFLICT_MESSAGE})")
        );
        assert!(std::error::Error::source(&error).is_some(), "the SDK error");

        // Every write the SDK types it for.
        let others = [
            from_sdk_write(
                "t",
                "UpdateItem",
                answered(
                    UpdateItemError::ReplicatedWriteConflictException(typed_conflict()),
                    400,
                ),
                false,
            ),
            from_sdk_write(
                "t",
                "DeleteItem",
                answered(
                    DeleteItemError::ReplicatedWriteConflictException(typed_conflict()),
                    400,
                ),
                false,
            ),
            from_sdk_write(
                "t",
                "BatchWriteItem",
                answered(
                    BatchWriteItemError::ReplicatedWriteConflictException(typed_conflict()),
                    400,
                ),
                false,
            ),
            // Known by its code alone where the SDK has no type for it.
            from_sdk_write(
                "t",
                "TransactWriteItems",
                answered(TransactWriteItemsError::generic(conflict_metadata()), 400),
                false,
            ),
        ];
        for error in others {
            assert!(error.is_replicated_write_conflict(), "{error:?}");
            assert!(error.is_retryable(), "{error:?}");
            assert!(!error.is_outcome_unknown(), "{error:?}");
            assert_eq!(error.code(), Some("ReplicatedWriteConflictException"));
        }
    }

    #[test]
    fn only_a_replicated_write_conflict_is_one() {
        let throttled = from_sdk_write(
            "t",
            "PutItem",
            answered(
                PutItemError::ThrottlingException(
                    ThrottlingException::builder()
                        .meta(ErrorMetadata::builder().code("ThrottlingException").build())
                        .build(),
                ),
                400,
            ),
            false,
        );
        assert!(throttled.is_retryable());
        assert!(!throttled.is_replicated_write_conflict());
        assert!(matches!(throttled, Error::Dynamo { .. }), "{throttled:?}");

        // A cancelled transaction is no such conflict, whatever its reasons.
        let canceled = Error::TransactionCanceled {
            table: "t".into(),
            reasons: CancellationReasons::new(vec![CancellationReason {
                index: 0,
                code: "TransactionConflict".into(),
                message: None,
                item: None,
            }]),
        };
        assert!(!canceled.is_replicated_write_conflict());
    }

    #[test]
    fn a_replicated_write_conflict_after_an_attempt_without_an_answer_is_unknown() {
        // An earlier attempt may have landed: the conflict of the last one
        // says nothing of it.
        let error = from_sdk_write(
            "t",
            "TransactWriteItems",
            answered(TransactWriteItemsError::generic(conflict_metadata()), 400),
            true,
        );
        assert!(error.is_outcome_unknown(), "{error:?}");
        assert!(!error.is_replicated_write_conflict());
        assert!(!error.is_retryable());
        match error {
            Error::OutcomeUnknown { last, .. } => assert!(last.is_replicated_write_conflict()),
            other => panic!("not unknown: {other:?}"),
        }
    }
}
