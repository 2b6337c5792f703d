//! A fault-injecting HTTP proxy in front of a DynamoDB endpoint.
//!
//! [`FaultProxy`] listens on a loopback port and forwards every request to
//! an upstream DynamoDB (the URL of a [`LocalDynamo`](crate::LocalDynamo),
//! say). A [`FaultPlan`] tells it which requests to disturb and how:
//!
//! | fault | what the client sees | did the request reach DynamoDB? |
//! |---|---|---|
//! | [latency](FaultPlan::latency) | a slow answer | yes, late |
//! | [reset](FaultPlan::reset) | a connection reset, no answer | no |
//! | [throttle](FaultPlan::throttle) | a throttling error or an HTTP 500/503 | no |
//! | [drop the answer](FaultPlan::drop_answer) | a closed connection, no answer | **yes, and it committed** |
//! | [leave part unprocessed](FaultPlan::unprocessed) | a batch answered in part, the rest as `UnprocessedKeys`/`UnprocessedItems` | the part answered, yes |
//!
//! The last one is the fault that makes retries dangerous: the write took
//! place, the client does not know it, and sends it again. DynamoDB itself
//! recognises a transaction sent again with the same `ClientRequestToken`
//! (for 10 minutes); [`FaultPlan::strip_client_request_tokens`] takes that
//! help away, to test what a client does on its own.
//!
//! The proxy also keeps a log of the reads it received, with whether each
//! asked for a strongly consistent read ([`FaultProxy::reads`]): the
//! emulators always read strongly, so only the request shows whether a
//! client asked.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use dynago::Table;
//! use dynago_local::{FaultPlan, FaultProxy, LocalDynamo};
//!
//! let dynamo = LocalDynamo::start().await?;
//! // Commit the first TransactWriteItems, then lose its answer.
//! let plan = FaultPlan::default()
//!     .drop_answer(1.0)
//!     .operation("TransactWriteItems")
//!     .first(1);
//! let proxy = FaultProxy::start(dynamo.url(), plan).await?;
//! let table = Table::connect(proxy.table_options("ledger").partition_key("pk")).await?;
//! # let _ = table;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use dynago::{Endpoint, TableOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

/// The error answer a [`FaultPlan::throttle`] fault gives instead of
/// forwarding the request.
///
/// ```
/// use dynago_local::Throttle;
///
/// assert_eq!(Throttle::Throttling.status(), 400);
/// assert_eq!(Throttle::Throttling.error_type(), "ThrottlingException");
/// assert_eq!(Throttle::ServiceUnavailable.status(), 503);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Throttle {
    /// HTTP 400 `ProvisionedThroughputExceededException`: the table's
    /// provisioned capacity is exhausted.
    #[default]
    ProvisionedThroughputExceeded,
    /// HTTP 400 `ThrottlingException`: requests come too fast (control
    /// plane, on-demand limits).
    Throttling,
    /// HTTP 500 `InternalServerError`.
    InternalServerError,
    /// HTTP 503 `ServiceUnavailable`.
    ServiceUnavailable,
}

impl Throttle {
    /// The HTTP status of the answer.
    ///
    /// ```
    /// assert_eq!(dynago_local::Throttle::InternalServerError.status(), 500);
    /// ```
    pub fn status(self) -> u16 {
        match self {
            Throttle::ProvisionedThroughputExceeded | Throttle::Throttling => 400,
            Throttle::InternalServerError => 500,
            Throttle::ServiceUnavailable => 503,
        }
    }

    /// The error type of the answer, as the SDK reports it in
    /// `ProvideErrorMetadata::code`.
    ///
    /// ```
    /// assert_eq!(
    ///     dynago_local::Throttle::ProvisionedThroughputExceeded.error_type(),
    ///     "ProvisionedThroughputExceededException"
    /// );
    /// ```
    pub fn error_type(self) -> &'static str {
        match self {
            Throttle::ProvisionedThroughputExceeded => "ProvisionedThroughputExceededException",
            Throttle::Throttling => "ThrottlingException",
            Throttle::InternalServerError => "InternalServerError",
            Throttle::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Throttle::ProvisionedThroughputExceeded => {
                "The level of configured provisioned throughput for the table was exceeded (injected by dynago-local's FaultProxy)"
            }
            Throttle::Throttling => {
                "Rate of requests exceeds the allowed throughput (injected by dynago-local's FaultProxy)"
            }
            Throttle::InternalServerError => {
                "Internal server error (injected by dynago-local's FaultProxy)"
            }
            Throttle::ServiceUnavailable => {
                "Service unavailable (injected by dynago-local's FaultProxy)"
            }
        }
    }

    /// The JSON body DynamoDB answers with.
    fn body(self) -> String {
        format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{}","message":"{}"}}"#,
            self.error_type(),
            self.message()
        )
    }

    fn response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(self.body())));
        *response.status_mut() =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        headers.insert(
            "x-amzn-requestid",
            HeaderValue::from_static("dynago-fault-proxy"),
        );
        headers.insert(FAULT_HEADER, HeaderValue::from_static("throttle"));
        response
    }
}

/// The header that marks an answer made up by the proxy.
const FAULT_HEADER: &str = "x-dynago-fault";

/// Which requests a [`FaultProxy`] disturbs, and how.
///
/// A plan picks, for each request it applies to, the faults to inject by
/// drawing from a pseudo-random generator with a fixed [`seed`](Self::seed):
/// the same plan and the same order of requests give the same faults.
///
/// - [`latency`](Self::latency) is drawn on its own: a request may be both
///   delayed and disturbed otherwise.
/// - [`reset`](Self::reset), [`throttle`](Self::throttle),
///   [`drop_answer`](Self::drop_answer) and
///   [`unprocessed`](Self::unprocessed) exclude one another: one draw per
///   request, compared with the shares in that order. Their shares add up
///   (0.2 + 0.3 + 0.1 disturbs 60 % of the requests); beyond a total of 1,
///   the later kinds get what is left.
///
/// Shares are between 0.0 (never) and 1.0 (every request); other values are
/// clamped (NaN counts as 0). The default plan disturbs nothing.
///
/// A plan applies to every request, or to the requests of the
/// [`operation`](Self::operation)s it names, and to all of those or only the
/// [`first`](Self::first) N of them.
///
/// ```
/// use std::time::Duration;
/// use dynago_local::{FaultPlan, Throttle};
///
/// // 20 % of all requests throttled, 5 % slowed by 50 ms, reproducibly.
/// let flaky = FaultPlan::default()
///     .seed(7)
///     .throttle(Throttle::ProvisionedThroughputExceeded, 0.2)
///     .latency(Duration::from_millis(50), 0.05);
///
/// // Only the answer of the first PutItem is lost.
/// let lost_once = FaultPlan::default().drop_answer(1.0).operation("PutItem").first(1);
/// # let _ = (flaky, lost_once);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct FaultPlan {
    seed: u64,
    latency: Duration,
    latency_share: f64,
    reset_share: f64,
    throttle: Throttle,
    throttle_share: f64,
    drop_answer_share: f64,
    unprocessed_share: f64,
    operations: Vec<String>,
    first: Option<u64>,
    strip_tokens: bool,
    next: Option<Box<FaultPlan>>,
    patches: Vec<(String, serde_json::Value)>,
}

impl Default for FaultPlan {
    /// No fault at all, seed 0.
    fn default() -> Self {
        Self {
            seed: 0,
            latency: Duration::ZERO,
            latency_share: 0.0,
            reset_share: 0.0,
            throttle: Throttle::default(),
            throttle_share: 0.0,
            drop_answer_share: 0.0,
            unprocessed_share: 0.0,
            operations: Vec::new(),
            first: None,
            strip_tokens: false,
            next: None,
            patches: Vec::new(),
        }
    }
}

fn share(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

impl FaultPlan {
    /// The seed of the generator that picks the disturbed requests
    /// (default 0).
    ///
    /// ```
    /// let plan = dynago_local::FaultPlan::default().seed(42).reset(0.1);
    /// # let _ = plan;
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Delays a `share` of the requests by `delay` before anything else
    /// happens to them.
    ///
    /// ```
    /// use std::time::Duration;
    /// let slow = dynago_local::FaultPlan::default().latency(Duration::from_millis(200), 1.0);
    /// # let _ = slow;
    /// ```
    pub fn latency(mut self, delay: Duration, share_of_requests: f64) -> Self {
        self.latency = delay;
        self.latency_share = share(share_of_requests);
        self
    }

    /// Resets the connection of a `share` of the requests, before they are
    /// forwarded: nothing reaches DynamoDB, the client sees a connection
    /// error.
    ///
    /// ```
    /// let plan = dynago_local::FaultPlan::default().reset(0.5);
    /// # let _ = plan;
    /// ```
    pub fn reset(mut self, share_of_requests: f64) -> Self {
        self.reset_share = share(share_of_requests);
        self
    }

    /// Answers a `share` of the requests with the error `kind`, without
    /// forwarding them: nothing reaches DynamoDB.
    ///
    /// ```
    /// use dynago_local::{FaultPlan, Throttle};
    /// let plan = FaultPlan::default().throttle(Throttle::Throttling, 0.2);
    /// # let _ = plan;
    /// ```
    pub fn throttle(mut self, kind: Throttle, share_of_requests: f64) -> Self {
        self.throttle = kind;
        self.throttle_share = share(share_of_requests);
        self
    }

    /// Forwards a `share` of the requests, waits for DynamoDB's answer (the
    /// request has then taken effect), and closes the client's connection
    /// without answering: the client sees a connection error for a request
    /// that succeeded.
    ///
    /// ```
    /// let plan = dynago_local::FaultPlan::default().drop_answer(1.0).first(1);
    /// # let _ = plan;
    /// ```
    pub fn drop_answer(mut self, share_of_requests: f64) -> Self {
        self.drop_answer_share = share(share_of_requests);
        self
    }

    /// Answers a `share` of the batch requests in part, as DynamoDB does
    /// when it runs short of capacity: of each table's keys
    /// (`BatchGetItem`) or writes (`BatchWriteItem`), those at odd
    /// positions (the second, the fourth, ...) are held back, the others
    /// are forwarded, and the answer lists the held-back ones in
    /// `UnprocessedKeys` or `UnprocessedItems`, with whatever DynamoDB left
    /// unprocessed itself. A table with one key or write is forwarded
    /// whole, so a client that sends again what is left always gets
    /// through. Other requests picked by the draw are forwarded as they
    /// are. As with [`strip_client_request_tokens`](Self::strip_client_request_tokens),
    /// the server sees a body that no longer matches its signature, which
    /// emulators do not check.
    ///
    /// ```
    /// // The first batch write is done in part; its resend is answered whole.
    /// let plan = dynago_local::FaultPlan::default()
    ///     .unprocessed(1.0)
    ///     .operation("BatchWriteItem")
    ///     .first(1);
    /// # let _ = plan;
    /// ```
    pub fn unprocessed(mut self, share_of_requests: f64) -> Self {
        self.unprocessed_share = share(share_of_requests);
        self
    }

    /// Limits the plan to the requests of the DynamoDB operation `name`,
    /// read from the `X-Amz-Target` header: `PutItem`, or in full
    /// `DynamoDB_20120810.PutItem`. Call it again to add operations; without
    /// it, the plan applies to every request.
    ///
    /// ```
    /// let writes = dynago_local::FaultPlan::default()
    ///     .reset(0.3)
    ///     .operation("PutItem")
    ///     .operation("DynamoDB_20120810.TransactWriteItems");
    /// # let _ = writes;
    /// ```
    pub fn operation(mut self, name: impl AsRef<str>) -> Self {
        self.operations
            .push(operation_name(name.as_ref()).to_owned());
        self
    }

    /// Limits the faults to the first `requests` requests the plan applies
    /// to (counted from the start of the proxy or from
    /// [`FaultProxy::set_plan`]); later ones pass untouched.
    ///
    /// ```
    /// // Throttle the first three requests, whatever they are.
    /// let plan = dynago_local::FaultPlan::default()
    ///     .throttle(dynago_local::Throttle::Throttling, 1.0)
    ///     .first(3);
    /// # let _ = plan;
    /// ```
    pub fn first(mut self, requests: u64) -> Self {
        self.first = Some(requests);
        self
    }

    /// Removes the `ClientRequestToken` from every request that carries one
    /// (`TransactWriteItems`), whichever requests the plan otherwise applies
    /// to: a transaction sent again is then evaluated again, as happens once
    /// DynamoDB's 10-minute idempotency window has passed, or when a client
    /// sends it with a new token. The server sees a body that no longer
    /// matches its signature, which emulators do not check.
    ///
    /// ```
    /// // Lose the answer of the first transaction, and make its resend count.
    /// let plan = dynago_local::FaultPlan::default()
    ///     .drop_answer(1.0)
    ///     .operation("TransactWriteItems")
    ///     .first(1)
    ///     .strip_client_request_tokens(true);
    /// # let _ = plan;
    /// ```
    pub fn strip_client_request_tokens(mut self, strip: bool) -> Self {
        self.strip_tokens = strip;
        self
    }

    /// Hands over to `next` once the [`first`](Self::first) requests of
    /// this plan are past: every later request, of any operation, is
    /// `next`'s (with its own seed, operations and first). For faults in
    /// sequence, such as a lost answer and then throttling.
    ///
    /// ```
    /// use dynago_local::{FaultPlan, Throttle};
    ///
    /// // The first transaction is applied and its answer lost; every later
    /// // one is throttled.
    /// let plan = FaultPlan::default()
    ///     .drop_answer(1.0)
    ///     .operation("TransactWriteItems")
    ///     .first(1)
    ///     .then(
    ///         FaultPlan::default()
    ///             .throttle(Throttle::Throttling, 1.0)
    ///             .operation("TransactWriteItems"),
    ///     );
    /// # let _ = plan;
    /// ```
    pub fn then(mut self, next: FaultPlan) -> Self {
        self.next = Some(Box::new(next));
        self
    }

    /// Merges `patch` (a JSON object) into every successful answer to the
    /// DynamoDB operation `operation` that is passed back, whatever else
    /// the plan does: each member of the patch replaces the answer's member
    /// of that name, or, where both are objects, is merged into it. For
    /// answers that no emulator gives, such as a global table's replicas.
    ///
    /// ```
    /// let global = dynago_local::FaultPlan::default().patch_answer(
    ///     "DescribeTable",
    ///     serde_json::json!({"Table": {"Replicas": [{"RegionName": "eu-west-1"}]}}),
    /// );
    /// # let _ = global;
    /// ```
    pub fn patch_answer(mut self, operation: impl AsRef<str>, patch: serde_json::Value) -> Self {
        self.patches
            .push((operation_name(operation.as_ref()).to_owned(), patch));
        self
    }

    /// The patches for answers to `operation`.
    fn patches_for(&self, operation: Option<&str>) -> Vec<serde_json::Value> {
        self.patches
            .iter()
            .filter(|(name, _)| Some(name.as_str()) == operation)
            .map(|(_, patch)| patch.clone())
            .collect()
    }

    fn applies_to(&self, operation: Option<&str>) -> bool {
        self.operations.is_empty()
            || operation.is_some_and(|op| self.operations.iter().any(|name| name == op))
    }
}

/// `PutItem` from `DynamoDB_20120810.PutItem` (or from `PutItem`).
fn operation_name(target: &str) -> &str {
    target.rsplit('.').next().unwrap_or(target)
}

/// What a [`FaultProxy`] has seen and done since it started.
///
/// ```no_run
/// # async fn run(proxy: dynago_local::FaultProxy) {
/// let stats = proxy.stats();
/// println!(
///     "{} requests ({} PutItem), {} answers dropped",
///     stats.requests,
///     stats.requests_for("PutItem"),
///     stats.dropped_answers
/// );
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// TCP connections accepted (with keep-alive, far fewer than requests).
    pub connections: u64,
    /// Requests received.
    pub requests: u64,
    /// Requests received, by DynamoDB operation (`PutItem`, ...).
    pub by_operation: BTreeMap<String, u64>,
    /// Requests sent on to DynamoDB (whether their answer was passed back
    /// or dropped).
    pub forwarded: u64,
    /// Requests delayed by the plan's latency.
    pub delayed: u64,
    /// Connections reset before forwarding.
    pub resets: u64,
    /// Requests answered with a throttling or server error, not forwarded.
    pub throttled: u64,
    /// Requests forwarded whose answer was then dropped.
    pub dropped_answers: u64,
    /// Batch requests answered in part ([`FaultPlan::unprocessed`]).
    pub partial_batches: u64,
    /// Keys and writes held back from those requests and answered as
    /// unprocessed.
    pub held_back: u64,
    /// Requests forwarded without their `ClientRequestToken`
    /// ([`FaultPlan::strip_client_request_tokens`]).
    pub tokens_stripped: u64,
    /// Requests that could not be forwarded (DynamoDB unreachable): answered
    /// with HTTP 502.
    pub upstream_errors: u64,
}

impl ProxyStats {
    /// How many requests of the operation `name` (`PutItem` or
    /// `DynamoDB_20120810.PutItem`) were received.
    ///
    /// ```
    /// let stats = dynago_local::ProxyStats::default();
    /// assert_eq!(stats.requests_for("PutItem"), 0);
    /// ```
    pub fn requests_for(&self, name: &str) -> u64 {
        self.by_operation
            .get(operation_name(name))
            .copied()
            .unwrap_or(0)
    }

    /// How many faults were injected, of every kind (latency included).
    ///
    /// ```
    /// assert_eq!(dynago_local::ProxyStats::default().faults(), 0);
    /// ```
    pub fn faults(&self) -> u64 {
        self.delayed + self.resets + self.throttled + self.dropped_answers
    }
}

/// A read a [`FaultProxy`] received: one for each `GetItem`, `Query` and
/// `Scan`, and one for each table of a `BatchGetItem`, in the order they
/// came ([`FaultProxy::reads`]). `TransactGetItems`, always strongly
/// consistent, is not listed.
///
/// ```no_run
/// # fn run(proxy: dynago_local::FaultProxy) {
/// let eventual: Vec<_> = proxy.reads().into_iter().filter(|r| !r.consistent_read).collect();
/// assert!(eventual.is_empty(), "reads that did not ask for consistency: {eventual:?}");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadRequest {
    /// The operation: `GetItem`, `Query`, `Scan` or `BatchGetItem`.
    pub operation: String,
    /// The table read.
    pub table: String,
    /// The index read (`IndexName`), for a `Query` or `Scan` of one.
    pub index: Option<String>,
    /// Whether the request carried `"ConsistentRead": true` (absent counts
    /// as `false`, as DynamoDB reads it).
    pub consistent_read: bool,
    /// The `Key` of a `GetItem`, in DynamoDB's JSON
    /// (`{"pk": {"S": "a"}}`), to tell reads of different items apart.
    pub key: Option<serde_json::Value>,
}

/// The reads in the JSON request `body` of `operation` (none when it is
/// not a read, or not JSON).
fn reads_of(operation: Option<&str>, body: &[u8]) -> Vec<ReadRequest> {
    let Some(operation) = operation else {
        return Vec::new();
    };
    if !matches!(operation, "GetItem" | "Query" | "Scan" | "BatchGetItem") {
        return Vec::new();
    }
    let Ok(serde_json::Value::Object(request)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    let consistent = |request: &serde_json::Map<String, serde_json::Value>| -> bool {
        request
            .get("ConsistentRead")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
    };
    if operation == "BatchGetItem" {
        let Some(serde_json::Value::Object(tables)) = request.get("RequestItems") else {
            return Vec::new();
        };
        return tables
            .iter()
            .map(|(table, keys)| ReadRequest {
                operation: operation.to_owned(),
                table: table.clone(),
                index: None,
                consistent_read: keys.as_object().is_some_and(consistent),
                key: None,
            })
            .collect();
    }
    let text = |name: &str| {
        request
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    vec![ReadRequest {
        operation: operation.to_owned(),
        table: text("TableName").unwrap_or_default(),
        index: text("IndexName"),
        consistent_read: consistent(&request),
        key: request.get("Key").cloned(),
    }]
}

/// A batch request split by [`FaultPlan::unprocessed`]: the body to
/// forward, and per table what was held back.
#[derive(Debug, PartialEq)]
struct Split {
    forward: Bytes,
    /// `UnprocessedKeys` (a table's `KeysAndAttributes`) or
    /// `UnprocessedItems` (a table's writes), by table.
    held_back: serde_json::Map<String, serde_json::Value>,
    count: u64,
}

/// Holds back the keys or writes at odd positions of each table of the
/// batch request `body` of `operation`; `None` when there is nothing to
/// hold back (not a batch, not JSON, one key a table).
fn split_batch(operation: Option<&str>, body: &[u8]) -> Option<Split> {
    let get = match operation? {
        "BatchGetItem" => true,
        "BatchWriteItem" => false,
        _ => return None,
    };
    let mut request: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).ok()?;
    let tables = request.get_mut("RequestItems")?.as_object_mut()?;
    let mut held_back = serde_json::Map::new();
    let mut count = 0;
    for (table, requests) in tables.iter_mut() {
        let list = if get {
            requests
                .get_mut("Keys")
                .and_then(serde_json::Value::as_array_mut)
        } else {
            requests.as_array_mut()
        };
        let Some(list) = list else { continue };
        let (kept, held): (Vec<_>, Vec<_>) = std::mem::take(list)
            .into_iter()
            .enumerate()
            .partition(|(index, _)| index % 2 == 0);
        list.extend(kept.into_iter().map(|(_, value)| value));
        if held.is_empty() {
            continue;
        }
        count += held.len() as u64;
        let held: Vec<serde_json::Value> = held.into_iter().map(|(_, value)| value).collect();
        let entry = if get {
            // The keys with the table's other members (ConsistentRead,
            // ProjectionExpression, ...), as DynamoDB gives them back.
            let mut keys_and_attributes = requests.as_object().cloned().unwrap_or_default();
            keys_and_attributes.insert("Keys".into(), serde_json::Value::Array(held));
            serde_json::Value::Object(keys_and_attributes)
        } else {
            serde_json::Value::Array(held)
        };
        held_back.insert(table.clone(), entry);
    }
    if count == 0 {
        return None;
    }
    let forward = serde_json::to_vec(&request).ok()?;
    Some(Split {
        forward: Bytes::from(forward),
        held_back,
        count,
    })
}

/// The batch answer `body` with `held_back` added to its unprocessed keys
/// or items (`None` when the answer is not a JSON object).
fn add_unprocessed(
    operation: Option<&str>,
    body: &[u8],
    held_back: serde_json::Map<String, serde_json::Value>,
) -> Option<Bytes> {
    let get = operation == Some("BatchGetItem");
    let member = if get {
        "UnprocessedKeys"
    } else {
        "UnprocessedItems"
    };
    let mut answer: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).ok()?;
    let unprocessed = answer
        .entry(member)
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if !unprocessed.is_object() {
        *unprocessed = serde_json::Value::Object(serde_json::Map::new());
    }
    let unprocessed = unprocessed.as_object_mut()?;
    for (table, held) in held_back {
        match unprocessed.get_mut(&table) {
            // DynamoDB left some of this table's too: add ours.
            Some(existing) => {
                let list = if get {
                    existing
                        .get_mut("Keys")
                        .and_then(serde_json::Value::as_array_mut)
                } else {
                    existing.as_array_mut()
                };
                let held = if get {
                    held.get("Keys").cloned()
                } else {
                    Some(held)
                };
                if let (Some(list), Some(serde_json::Value::Array(held))) = (list, held) {
                    list.extend(held);
                }
            }
            None => {
                unprocessed.insert(table, held);
            }
        }
    }
    serde_json::to_vec(&answer).ok().map(Bytes::from)
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Forward,
    Reset,
    Throttle(Throttle),
    DropAnswer,
    Unprocessed,
}

#[derive(Debug, Clone, PartialEq)]
struct Decision {
    delay: Option<Duration>,
    action: Action,
    strip_token: bool,
    /// Merged into the answer, in order.
    patches: Vec<serde_json::Value>,
}

/// The plan, its generator and the counters, behind one lock.
struct State {
    plan: FaultPlan,
    rng: fastrand::Rng,
    /// Requests the plan applied to so far.
    matched: u64,
    stats: ProxyStats,
    /// The reads received, in order.
    reads: Vec<ReadRequest>,
}

impl State {
    fn new(plan: FaultPlan) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(plan.seed),
            plan,
            matched: 0,
            stats: ProxyStats::default(),
            reads: Vec::new(),
        }
    }

    fn set_plan(&mut self, plan: FaultPlan) {
        self.rng = fastrand::Rng::with_seed(plan.seed);
        self.plan = plan;
        self.matched = 0;
    }

    /// Counts a request and picks its faults.
    fn decide(&mut self, operation: Option<&str>) -> Decision {
        self.stats.requests += 1;
        if let Some(operation) = operation {
            *self
                .stats
                .by_operation
                .entry(operation.to_owned())
                .or_default() += 1;
        }
        self.select(operation)
    }

    /// Picks the faults of a request under the current plan.
    fn select(&mut self, operation: Option<&str>) -> Decision {
        // A plan whose first requests are past hands over to the next.
        while self.plan.first.is_some_and(|first| self.matched >= first) {
            let Some(next) = self.plan.next.take() else {
                break;
            };
            self.set_plan(*next);
        }
        let pass = Decision {
            delay: None,
            action: Action::Forward,
            strip_token: self.plan.strip_tokens,
            patches: self.plan.patches_for(operation),
        };
        if !self.plan.applies_to(operation) {
            return pass;
        }
        let index = self.matched;
        self.matched += 1;
        if self.plan.first.is_some_and(|first| index >= first) {
            return pass;
        }
        // Two draws per request, whatever the plan: the sequence of faults
        // depends only on the seed and the order of the requests.
        let latency_draw = self.rng.f64();
        let action_draw = self.rng.f64();
        let plan = &self.plan;
        let delay =
            (latency_draw < plan.latency_share && !plan.latency.is_zero()).then_some(plan.latency);
        let reset_until = plan.reset_share;
        let throttle_until = reset_until + plan.throttle_share;
        let drop_until = throttle_until + plan.drop_answer_share;
        let unprocessed_until = drop_until + plan.unprocessed_share;
        let action = if action_draw < reset_until {
            Action::Reset
        } else if action_draw < throttle_until {
            Action::Throttle(plan.throttle)
        } else if action_draw < drop_until {
            Action::DropAnswer
        } else if action_draw < unprocessed_until {
            Action::Unprocessed
        } else {
            Action::Forward
        };
        if delay.is_some() {
            self.stats.delayed += 1;
        }
        match action {
            Action::Reset => self.stats.resets += 1,
            Action::Throttle(_) => self.stats.throttled += 1,
            // Counted once the answer is there to drop, or the request
            // found to be a batch.
            Action::DropAnswer | Action::Unprocessed | Action::Forward => {}
        }
        Decision {
            delay,
            action,
            ..pass
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// Where requests go; [`FaultProxy::set_upstream`] changes it.
    upstream: Mutex<Upstream>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn upstream(&self) -> MutexGuard<'_, Upstream> {
        self.upstream.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where requests go: the scheme and authority of the upstream URL.
#[derive(Clone)]
struct Upstream {
    scheme: hyper::http::uri::Scheme,
    authority: hyper::http::uri::Authority,
}

impl Upstream {
    fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: String| Error::Start {
            what: "the fault proxy",
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the upstream URL `{url}` {reason}"),
            ),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e| invalid(format!("is not a URL: {e}")))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| invalid("has no scheme".into()))?;
        if scheme != hyper::http::uri::Scheme::HTTP {
            return Err(invalid("is not plain http".into()));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| invalid("has no host".into()))?;
        Ok(Self { scheme, authority })
    }

    /// The upstream URI for a request's path and query.
    fn uri_for(&self, incoming: &Uri) -> std::result::Result<Uri, hyper::http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(incoming.path_and_query().map_or("/", |pq| pq.as_str()))
            .build()
    }
}

/// An HTTP/1.1 proxy on `127.0.0.1` that forwards requests to a DynamoDB
/// endpoint and injects the faults of a [`FaultPlan`]: latency, connection
/// resets, throttling errors, and answers dropped after the request
/// committed.
///
/// It serves from a thread of its own (like the embedded server), so it
/// outlives the runtime that started it. Connections are kept alive, to the
/// client and to DynamoDB. Dropping the handle stops it and closes its
/// connections.
///
/// [`set_upstream`](Self::set_upstream) points it at another server while
/// clients stay connected to it: a server that stops and comes back on
/// another port looks to them like one that was unreachable for a while.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use dynago_local::{FaultPlan, FaultProxy, LocalDynamo, Throttle};
///
/// let dynamo = LocalDynamo::start().await?;
/// let proxy = FaultProxy::start(
///     dynamo.url(),
///     FaultPlan::default().seed(1).throttle(Throttle::ProvisionedThroughputExceeded, 0.2),
/// )
/// .await?;
/// let table = dynago::Table::connect(proxy.table_options("orders").partition_key("pk")).await?;
/// // ... use the table; a fifth of its requests are throttled ...
/// println!("{:?}", proxy.stats());
/// # let _ = table;
/// # Ok(())
/// # }
/// ```
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("url", &self.url())
            .field("upstream", &self.upstream)
            .field("plan", &self.shared.lock().plan)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port that forwards to
    /// `upstream_url` (a plain `http://host:port` URL; its path is ignored)
    /// under `plan`.
    ///
    /// ```no_run
    /// # async fn run() -> dynago_local::Result<()> {
    /// use dynago_local::{FaultPlan, FaultProxy};
    ///
    /// let proxy = FaultProxy::start("http://127.0.0.1:8000", FaultPlan::default()).await?;
    /// println!("DynamoDB, with faults, at {}", proxy.url());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Start`] when the URL is not a plain `http` URL with a host,
    /// or the port, thread or runtime cannot be had.
    pub async fn start(upstream_url: &str, plan: FaultPlan) -> Result<Self> {
        let upstream = Upstream::parse(upstream_url)?;
        let start_error = |source| Error::Start {
            what: "the fault proxy",
            source,
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(start_error)?;
        listener.set_nonblocking(true).map_err(start_error)?;
        let addr = listener.local_addr().map_err(start_error)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dynago-fault-proxy")
            .enable_all()
            .build()
            .map_err(start_error)?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener).map_err(start_error)?
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(plan)),
            upstream: Mutex::new(upstream),
        });
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let serving = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("dynago-fault-proxy".into())
            .spawn(move || runtime.block_on(serve(listener, serving, shutdown_rx)))
            .map_err(start_error)?;
        tracing::debug!(%addr, upstream = upstream_url, "fault proxy started");
        Ok(Self {
            addr,
            upstream: upstream_url.to_owned(),
            shared,
            shutdown: Some(shutdown_tx),
        })
    }

    /// The proxy's URL, such as `http://127.0.0.1:41873`.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// let url: String = proxy.url();
    /// # let _ = url;
    /// # }
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The upstream URL the proxy forwards to.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// println!("{} -> {}", proxy.url(), proxy.upstream());
    /// # }
    /// ```
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Forwards to `upstream_url` from now on, as [`start`](Self::start)
    /// would: for a server that stopped and came back on another port.
    /// Requests already forwarded finish with the old upstream (or fail, if
    /// it is gone); every request forwarded after this call goes to the new
    /// one. Client connections, the plan and the [`stats`](Self::stats) are
    /// kept.
    ///
    /// ```no_run
    /// # async fn run(mut proxy: dynago_local::FaultProxy) -> dynago_local::Result<()> {
    /// use dynago_local::{Backend, LocalDynamo};
    ///
    /// // ... the server behind the proxy was dropped; a new one on the same file:
    /// let path = std::path::PathBuf::from("/tmp/ledger.sqlite");
    /// let restarted = LocalDynamo::start_backend(Backend::EmbeddedFile(path)).await?;
    /// proxy.set_upstream(restarted.url())?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Start`] when the URL is not a plain `http` URL with a host;
    /// the proxy then keeps its upstream.
    pub fn set_upstream(&mut self, upstream_url: &str) -> Result<()> {
        let upstream = Upstream::parse(upstream_url)?;
        *self.shared.upstream() = upstream;
        self.upstream = upstream_url.to_owned();
        tracing::debug!(addr = %self.addr, upstream = upstream_url, "fault proxy switched upstream");
        Ok(())
    }

    /// The proxy as an endpoint, with the same credentials as
    /// [`LocalDynamo::endpoint`](crate::LocalDynamo::endpoint).
    ///
    /// ```no_run
    /// # async fn run(proxy: dynago_local::FaultProxy) -> dynago::Result<()> {
    /// use dynago::{Table, TableOptions};
    ///
    /// let table = Table::connect(
    ///     TableOptions::new("orders").partition_key("pk").endpoint(proxy.endpoint()),
    /// )
    /// .await?;
    /// # let _ = table;
    /// # Ok(())
    /// # }
    /// ```
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(self.url()).credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    }

    /// [`TableOptions`] for the table `name` through the proxy, with the
    /// region of [`LocalDynamo::table_options`](crate::LocalDynamo::table_options)
    /// (so the proxy sees the tables the server holds for it).
    ///
    /// ```no_run
    /// # async fn run(proxy: dynago_local::FaultProxy) -> dynago::Result<()> {
    /// let table = dynago::Table::connect(proxy.table_options("orders").partition_key("pk")).await?;
    /// # let _ = table;
    /// # Ok(())
    /// # }
    /// ```
    pub fn table_options(&self, name: impl Into<String>) -> TableOptions {
        TableOptions::new(name)
            .endpoint(self.endpoint())
            .region(REGION)
    }

    /// [`TableOptions`] for `table` through the proxy: its name and key
    /// names, as [`table_options`](Self::table_options) gives them. A test
    /// then holds the same table twice, directly and through the faults.
    ///
    /// ```no_run
    /// # async fn run(proxy: dynago_local::FaultProxy, direct: dynago::Table) -> dynago::Result<()> {
    /// use std::time::Duration;
    ///
    /// let proxied = dynago::Table::connect(
    ///     proxy.table_options_for(&direct).sdk_max_attempts(1).attempt_timeout(Duration::from_secs(2)),
    /// )
    /// .await?;
    /// # let _ = proxied;
    /// # Ok(())
    /// # }
    /// ```
    pub fn table_options_for(&self, table: &dynago::Table) -> TableOptions {
        let options = self
            .table_options(table.name())
            .partition_key(table.partition_key());
        match table.sort_key() {
            Some(sort_key) => options.sort_key(sort_key),
            None => options,
        }
    }

    /// Replaces the plan, from the next request on. The generator starts
    /// again from the new plan's seed, and [`FaultPlan::first`] counts from
    /// here; the [`stats`](Self::stats) go on counting.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// use dynago_local::FaultPlan;
    ///
    /// proxy.set_plan(FaultPlan::default().drop_answer(1.0).first(1));
    /// // ... the next request commits and loses its answer ...
    /// proxy.set_plan(FaultPlan::default()); // no more faults
    /// # }
    /// ```
    pub fn set_plan(&self, plan: FaultPlan) {
        self.shared.lock().set_plan(plan);
    }

    /// The plan in force.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// assert_eq!(proxy.plan(), dynago_local::FaultPlan::default());
    /// # }
    /// ```
    pub fn plan(&self) -> FaultPlan {
        self.shared.lock().plan.clone()
    }

    /// What the proxy has seen and done so far.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// let stats = proxy.stats();
    /// assert!(stats.forwarded <= stats.requests);
    /// # }
    /// ```
    pub fn stats(&self) -> ProxyStats {
        self.shared.lock().stats.clone()
    }

    /// The reads received so far (since the start, or the last
    /// [`take_reads`](Self::take_reads)), in order, with whether each asked
    /// for a strongly consistent read. Reads whose connection was
    /// [reset](FaultPlan::reset) are not listed: their body was never read.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// for read in proxy.reads() {
    ///     println!("{} {}: consistent {}", read.operation, read.table, read.consistent_read);
    /// }
    /// # }
    /// ```
    pub fn reads(&self) -> Vec<ReadRequest> {
        self.shared.lock().reads.clone()
    }

    /// The reads received so far, as [`reads`](Self::reads) gives them,
    /// emptying the log: the next call lists only the reads received after
    /// this one.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// let _setup = proxy.take_reads();
    /// // ... the reads under test ...
    /// assert!(proxy.take_reads().iter().all(|read| read.consistent_read));
    /// # }
    /// ```
    pub fn take_reads(&self) -> Vec<ReadRequest> {
        std::mem::take(&mut self.shared.lock().reads)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

type Upstreams = Client<HttpConnector, Full<Bytes>>;

/// Accepts connections until told to stop (or the handle is gone).
async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: oneshot::Receiver<()>) {
    let client: Upstreams = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.lock().stats.connections += 1;
                    tokio::spawn(connection(
                        stream,
                        client.clone(),
                        Arc::clone(&shared),
                    ));
                }
                Err(error) => {
                    // Out of descriptors and the like: wait a little.
                    tracing::debug!(%error, "fault proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    tracing::debug!("fault proxy stopped");
}

/// Serves one client connection, request after request.
async fn connection(stream: TcpStream, client: Upstreams, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(FaultStream {
        inner: stream,
        reset: Arc::clone(&reset),
    });
    let service = hyper::service::service_fn(move |request| {
        handle(
            request,
            client.clone(),
            Arc::clone(&shared),
            Arc::clone(&reset),
        )
    });
    if let Err(error) = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await
    {
        tracing::trace!(%error, "fault proxy: connection ended");
    }
}

/// Why the proxy ends a connection without answering.
#[derive(Debug)]
struct Abort(&'static str);

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Abort {}

/// One request: faults first, then forwarding.
async fn handle(
    request: Request<Incoming>,
    client: Upstreams,
    shared: Arc<Shared>,
    reset: Arc<AtomicBool>,
) -> std::result::Result<Response<Full<Bytes>>, Abort> {
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(|target| operation_name(target).to_owned());
    let decision = shared.lock().decide(operation.as_deref());
    if let Some(delay) = decision.delay {
        tokio::time::sleep(delay).await;
    }
    if decision.action == Action::Reset {
        // The stream sends a TCP reset when hyper drops it after this error.
        reset.store(true, Ordering::SeqCst);
        return Err(Abort("connection reset by the fault proxy"));
    }
    let (parts, body) = request.into_parts();
    // Read the whole body, also when it is not forwarded: the connection
    // stays usable for the next request.
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(Abort("the client's request body could not be read")),
    };
    let reads = reads_of(operation.as_deref(), &body);
    if !reads.is_empty() {
        shared.lock().reads.extend(reads);
    }
    if let Action::Throttle(kind) = decision.action {
        return Ok(kind.response());
    }
    let body = if decision.strip_token {
        match strip_client_request_token(&body) {
            Some(stripped) => {
                shared.lock().stats.tokens_stripped += 1;
                stripped
            }
            None => body,
        }
    } else {
        body
    };
    let split = if decision.action == Action::Unprocessed {
        split_batch(operation.as_deref(), &body)
    } else {
        None
    };
    let body = match &split {
        Some(split) => {
            let mut state = shared.lock();
            state.stats.partial_batches += 1;
            state.stats.held_back += split.count;
            split.forward.clone()
        }
        None => body,
    };
    // Read now, after any delay: a request forwarded after
    // `FaultProxy::set_upstream` goes to the new upstream.
    let forward_to = shared.upstream().uri_for(&parts.uri);
    let uri = match forward_to {
        Ok(uri) => uri,
        Err(error) => return Ok(bad_gateway(&shared, &error)),
    };
    let mut forward = Request::new(Full::new(body));
    *forward.method_mut() = parts.method;
    *forward.uri_mut() = uri;
    // The Host header goes as it is: it is part of the request's signature.
    copy_end_to_end(&parts.headers, forward.headers_mut());
    shared.lock().stats.forwarded += 1;
    let answer = match client.request(forward).await {
        Ok(answer) => answer,
        Err(error) => return Ok(bad_gateway(&shared, &error)),
    };
    let (parts, body) = answer.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return Ok(bad_gateway(&shared, &error)),
    };
    let body = if decision.patches.is_empty() || !parts.status.is_success() {
        body
    } else {
        patch_answer(body, &decision.patches)
    };
    let (body, rewritten) = match split {
        Some(split) if parts.status.is_success() => {
            match add_unprocessed(operation.as_deref(), &body, split.held_back) {
                Some(answer) => (answer, true),
                None => (body, false),
            }
        }
        _ => (body, false),
    };
    if decision.action == Action::DropAnswer {
        shared.lock().stats.dropped_answers += 1;
        tracing::debug!(
            operation = operation.as_deref().unwrap_or("?"),
            status = parts.status.as_u16(),
            "fault proxy: dropping the answer"
        );
        return Err(Abort("answer dropped by the fault proxy"));
    }
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = parts.status;
    copy_end_to_end(&parts.headers, response.headers_mut());
    if rewritten || !decision.patches.is_empty() {
        // The checksum was of the body before the patch.
        response.headers_mut().remove("x-amz-crc32");
    }
    Ok(response)
}

/// The JSON answer `body` with `patches` merged into it (as it was when it
/// is not a JSON object).
fn patch_answer(body: Bytes, patches: &[serde_json::Value]) -> Bytes {
    fn merge(into: &mut serde_json::Value, patch: &serde_json::Value) {
        match (into, patch) {
            (serde_json::Value::Object(into), serde_json::Value::Object(patch)) => {
                for (name, value) in patch {
                    match into.get_mut(name) {
                        Some(existing) if existing.is_object() && value.is_object() => {
                            merge(existing, value);
                        }
                        _ => {
                            into.insert(name.clone(), value.clone());
                        }
                    }
                }
            }
            (into, patch) => *into = patch.clone(),
        }
    }
    let Ok(mut answer) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    if !answer.is_object() {
        return body;
    }
    for patch in patches {
        merge(&mut answer, patch);
    }
    serde_json::to_vec(&answer).map_or(body, Bytes::from)
}

/// The JSON request `body` without its `ClientRequestToken`; `None` when
/// it has none (or is not a JSON object).
fn strip_client_request_token(body: &Bytes) -> Option<Bytes> {
    const TOKEN: &str = "ClientRequestToken";
    if !body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()) {
        return None;
    }
    let mut request: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).ok()?;
    request.remove(TOKEN)?;
    serde_json::to_vec(&request).ok().map(Bytes::from)
}

/// Copies the headers that are not about one connection; the length is
/// set again from the body.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let hop_by_hop = name == header::CONNECTION
            || name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::TE
            || name == header::TRAILER
            || name == header::UPGRADE
            || name == header::PROXY_AUTHORIZATION
            || name == header::PROXY_AUTHENTICATE
            || name.as_str() == "keep-alive";
        if !hop_by_hop {
            to.append(name.clone(), value.clone());
        }
    }
}

fn bad_gateway(shared: &Shared, error: &dyn std::error::Error) -> Response<Full<Bytes>> {
    shared.lock().stats.upstream_errors += 1;
    tracing::debug!(%error, "fault proxy: upstream failed");
    let mut response = Response::new(Full::new(Bytes::from(format!(
        "the fault proxy could not reach DynamoDB: {error}"
    ))));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A client connection that can be made to end with a reset.
struct FaultStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for FaultStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // A zero linger turns the close into a TCP RST.
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for FaultStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use aws_config::BehaviorVersion;
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    use aws_sdk_dynamodb::config::{Credentials, Region};
    use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    };

    use super::*;
    use crate::{unique_table_name, Backend, LocalDynamo};

    async fn dynamo() -> LocalDynamo {
        LocalDynamo::start_backend(Backend::Embedded)
            .await
            .expect("the embedded server")
    }

    /// An SDK client on `url` with `attempts` attempts, 5 ms backoff and a
    /// 3 s attempt timeout.
    async fn client(url: &str, attempts: u32) -> aws_sdk_dynamodb::Client {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(url)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "test",
            ))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(attempts)
                    .with_initial_backoff(Duration::from_millis(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(3))
                    .build(),
            )
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&config)
    }

    async fn create_table(client: &aws_sdk_dynamodb::Client) -> String {
        let name = unique_table_name("proxy");
        client
            .create_table()
            .table_name(&name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create table");
        name
    }

    async fn put(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        pk: &str,
    ) -> std::result::Result<
        aws_sdk_dynamodb::operation::put_item::PutItemOutput,
        SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>,
    > {
        client
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(pk.to_owned()))
            .send()
            .await
    }

    async fn exists(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> bool {
        client
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
            .is_some()
    }

    #[tokio::test]
    async fn forwards_over_kept_alive_connections() {
        let dynamo = dynamo().await;
        let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
            .await
            .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        let table = create_table(&client).await;
        for n in 0..10 {
            put(&client, &table, &format!("item-{n}"))
                .await
                .expect("put");
        }
        assert!(exists(&dynamo.client().await, &table, "item-7").await);
        let stats = proxy.stats();
        assert_eq!(stats.requests, 11);
        assert_eq!(stats.forwarded, 11);
        assert_eq!(stats.requests_for("PutItem"), 10);
        assert_eq!(stats.requests_for("DynamoDB_20120810.CreateTable"), 1);
        assert_eq!(stats.faults(), 0);
        assert_eq!(stats.connections, 1, "one kept-alive connection: {stats:?}");
    }

    #[tokio::test]
    async fn adds_latency() {
        let dynamo = dynamo().await;
        let delay = Duration::from_millis(300);
        let proxy = FaultProxy::start(
            dynamo.url(),
            FaultPlan::default()
                .latency(delay, 1.0)
                .operation("ListTables"),
        )
        .await
        .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        // A first request, to open the connection.
        let table = create_table(&client).await;
        let started = Instant::now();
        client.list_tables().send().await.expect("list tables");
        let slow = started.elapsed();
        assert!(slow >= delay, "{slow:?}");
        // Other operations pass undelayed: counted, not timed.
        client
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .expect("describe");
        let stats = proxy.stats();
        assert_eq!(stats.delayed, 1);
        assert_eq!(stats.forwarded, 3);
    }

    #[tokio::test]
    async fn throttles_as_dynamodb_does() {
        let dynamo = dynamo().await;
        let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
            .await
            .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        let table = create_table(&client).await;
        for kind in [
            Throttle::ProvisionedThroughputExceeded,
            Throttle::Throttling,
            Throttle::InternalServerError,
            Throttle::ServiceUnavailable,
        ] {
            proxy.set_plan(FaultPlan::default().throttle(kind, 1.0));
            let error = put(&client, &table, "throttled")
                .await
                .expect_err("a throttled put");
            assert_eq!(error.code(), Some(kind.error_type()), "{kind:?}");
            assert_eq!(
                error.raw_response().map(|r| r.status().as_u16()),
                Some(kind.status())
            );
            if kind == Throttle::ProvisionedThroughputExceeded {
                assert!(error
                    .as_service_error()
                    .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()));
            }
        }
        assert!(!exists(&dynamo.client().await, &table, "throttled").await);
        assert_eq!(proxy.stats().throttled, 4);

        // The SDK sees them as worth retrying: two throttles, then success.
        for kind in [Throttle::Throttling, Throttle::ServiceUnavailable] {
            let client = self::client(&proxy.url(), 3).await;
            proxy.set_plan(FaultPlan::default().throttle(kind, 1.0).first(2));
            let before = proxy.stats();
            put(&client, &table, "retried").await.expect("retried put");
            let after = proxy.stats();
            assert_eq!(after.throttled - before.throttled, 2, "{kind:?}");
            assert_eq!(after.forwarded - before.forwarded, 1, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn drops_the_answer_of_a_committed_write() {
        let dynamo = dynamo().await;
        let proxy = FaultProxy::start(
            dynamo.url(),
            FaultPlan::default()
                .drop_answer(1.0)
                .operation("PutItem")
                .first(1),
        )
        .await
        .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        let table = create_table(&client).await;
        let error = put(&client, &table, "lost")
            .await
            .expect_err("the answer was dropped");
        // A closed connection, not the attempt timeout running out.
        assert!(
            matches!(
                error,
                SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
            ),
            "{error:?}"
        );
        // The write happened all the same.
        assert!(exists(&dynamo.client().await, &table, "lost").await);
        let stats = proxy.stats();
        assert_eq!(stats.dropped_answers, 1);
        assert_eq!(stats.forwarded, 2);

        // Only the first: the next put is answered, on a new connection.
        put(&client, &table, "kept").await.expect("second put");
        assert!(exists(&dynamo.client().await, &table, "kept").await);
        assert_eq!(proxy.stats().dropped_answers, 1);
        assert_eq!(proxy.stats().connections, 2);
    }

    #[tokio::test]
    async fn resets_before_forwarding() {
        let dynamo = dynamo().await;
        let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
            .await
            .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        let table = create_table(&client).await;
        proxy.set_plan(FaultPlan::default().reset(1.0).first(1));
        let error = put(&client, &table, "never")
            .await
            .expect_err("the connection was reset");
        assert!(
            matches!(
                error,
                SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
            ),
            "{error:?}"
        );
        assert!(!exists(&dynamo.client().await, &table, "never").await);
        let stats = proxy.stats();
        assert_eq!(stats.resets, 1);
        assert_eq!(stats.forwarded, 1, "only CreateTable");

        // With retries, the SDK gets through.
        let client = self::client(&proxy.url(), 2).await;
        proxy.set_plan(FaultPlan::default().reset(1.0).first(1));
        put(&client, &table, "retried").await.expect("retried put");
        assert!(exists(&dynamo.client().await, &table, "retried").await);
    }

    #[tokio::test]
    async fn refuses_an_unusable_upstream() {
        for url in ["not a url", "https://127.0.0.1:1", "/path/only"] {
            let error = FaultProxy::start(url, FaultPlan::default())
                .await
                .expect_err(url);
            assert!(matches!(error, Error::Start { .. }), "{error}");
        }
        // An upstream that is not there: 502, counted.
        let proxy = FaultProxy::start("http://127.0.0.1:1", FaultPlan::default())
            .await
            .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        let error = client.list_tables().send().await.expect_err("no upstream");
        assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(502));
        assert_eq!(proxy.stats().upstream_errors, 1);
    }

    #[tokio::test]
    async fn switches_upstream_and_keeps_its_clients() {
        let first = dynamo().await;
        let second = dynamo().await;
        let mut proxy = FaultProxy::start(first.url(), FaultPlan::default())
            .await
            .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        let table = create_table(&client).await;
        put(&client, &table, "before")
            .await
            .expect("put to the first");

        // The first server goes away: once its port is closed, its
        // requests fail with a 502. Polled, not timed.
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut gaps = 0;
        loop {
            gaps += 1;
            let outcome = put(&client, &table, "gap").await;
            match outcome {
                Err(error) if error.raw_response().map(|r| r.status().as_u16()) == Some(502) => {
                    break
                }
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "the first server still answers after 30 s: {other:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }

        proxy
            .set_upstream("not a url")
            .expect_err("an unusable upstream is refused");
        proxy.set_upstream(second.url()).expect("the second server");
        assert_eq!(proxy.upstream(), second.url());
        // The same client, through the same proxy, now reaches the second.
        let table = create_table(&client).await;
        put(&client, &table, "after")
            .await
            .expect("put to the second");
        assert!(exists(&second.client().await, &table, "after").await);
        let stats = proxy.stats();
        assert_eq!(stats.upstream_errors, 1, "{stats:?}");
        // Create and put on each server, and the puts of the gap.
        assert_eq!(stats.forwarded, 4 + gaps, "{stats:?}");
    }

    #[tokio::test]
    async fn strips_client_request_tokens() {
        let dynamo = dynamo().await;
        let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
            .await
            .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        let table = create_table(&client).await;
        let create_once = || {
            client
                .transact_write_items()
                .transact_items(
                    aws_sdk_dynamodb::types::TransactWriteItem::builder()
                        .put(
                            aws_sdk_dynamodb::types::Put::builder()
                                .table_name(&table)
                                .item("pk", AttributeValue::S("once".into()))
                                .condition_expression("attribute_not_exists(pk)")
                                .build()
                                .expect("put"),
                        )
                        .build(),
                )
                .client_request_token("token-1")
        };
        create_once().send().await.expect("first transaction");
        // The same token again: DynamoDB's idempotency answers success.
        create_once()
            .send()
            .await
            .expect("the same transaction again");
        assert_eq!(proxy.stats().tokens_stripped, 0);
        // Without the token, the transaction is evaluated again, and fails.
        proxy.set_plan(FaultPlan::default().strip_client_request_tokens(true));
        let error = create_once().send().await.expect_err("evaluated again");
        assert_eq!(error.code(), Some("TransactionCanceledException"));
        let stats = proxy.stats();
        assert_eq!(stats.tokens_stripped, 1);
        // Other requests pass untouched.
        assert!(exists(&client, &table, "once").await);
        assert_eq!(proxy.stats().tokens_stripped, 1);
    }

    #[test]
    fn strips_only_the_token() {
        let body = Bytes::from_static(
            br#"{"TransactItems":[{"Put":{"Item":{"pk":{"S":"ClientRequestToken"}}}}],"ClientRequestToken":"t-1"}"#,
        );
        let stripped = strip_client_request_token(&body).expect("a token");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&stripped).expect("json"),
            serde_json::json!({"TransactItems":[{"Put":{"Item":{"pk":{"S":"ClientRequestToken"}}}}]})
        );
        assert_eq!(strip_client_request_token(&stripped), None);
        assert_eq!(
            strip_client_request_token(&Bytes::from_static(b"ClientRequestToken, not json")),
            None
        );
    }

    #[test]
    fn plans_are_reproducible_and_keep_their_shares() {
        let plan = FaultPlan::default()
            .seed(99)
            .throttle(Throttle::Throttling, 0.2)
            .drop_answer(0.1)
            .latency(Duration::from_millis(1), 0.5);
        let run = |plan: &FaultPlan| {
            let mut state = State::new(plan.clone());
            (0..10_000)
                .map(|_| state.decide(Some("PutItem")))
                .collect::<Vec<_>>()
        };
        let first = run(&plan);
        assert_eq!(first, run(&plan));
        assert_ne!(first, run(&plan.clone().seed(100)));
        let share = |hit: &dyn Fn(&Decision) -> bool| {
            first.iter().filter(|d| hit(d)).count() as f64 / first.len() as f64
        };
        let throttled = share(&|d| matches!(d.action, Action::Throttle(Throttle::Throttling)));
        let dropped = share(&|d| d.action == Action::DropAnswer);
        let delayed = share(&|d| d.delay.is_some());
        assert!((0.18..0.22).contains(&throttled), "{throttled}");
        assert!((0.08..0.12).contains(&dropped), "{dropped}");
        assert!((0.47..0.53).contains(&delayed), "{delayed}");
    }

    #[test]
    fn plans_select_operations_and_the_first_requests() {
        let mut state = State::new(
            FaultPlan::default()
                .drop_answer(1.0)
                .operation("DynamoDB_20120810.TransactWriteItems")
                .first(2),
        );
        let actions: Vec<Action> = [
            Some("GetItem"),
            Some("TransactWriteItems"),
            None,
            Some("TransactWriteItems"),
            Some("TransactWriteItems"),
        ]
        .into_iter()
        .map(|op| state.decide(op).action)
        .collect();
        assert_eq!(
            actions,
            [
                Action::Forward,
                Action::DropAnswer,
                Action::Forward,
                Action::DropAnswer,
                Action::Forward
            ]
        );
        assert_eq!(state.stats.requests, 5);
        assert_eq!(state.stats.requests_for("TransactWriteItems"), 3);

        // Shares beyond 1 are clamped; kinds are taken in order.
        let mut state = State::new(FaultPlan::default().reset(7.0).drop_answer(f64::NAN));
        assert_eq!(state.decide(None).action, Action::Reset);
        assert_eq!(state.plan.drop_answer_share, 0.0);
    }

    #[test]
    fn plans_hand_over_in_sequence() {
        let mut state = State::new(
            FaultPlan::default()
                .drop_answer(1.0)
                .operation("TransactWriteItems")
                .first(1)
                .then(
                    FaultPlan::default()
                        .throttle(Throttle::Throttling, 1.0)
                        .first(2)
                        .then(FaultPlan::default().reset(1.0).operation("Query")),
                ),
        );
        let actions: Vec<Action> = [
            Some("GetItem"),
            Some("TransactWriteItems"),
            Some("GetItem"),
            Some("TransactWriteItems"),
            Some("TransactWriteItems"),
            Some("Query"),
        ]
        .into_iter()
        .map(|op| state.decide(op).action)
        .collect();
        assert_eq!(
            actions,
            [
                Action::Forward,
                Action::DropAnswer,
                Action::Throttle(Throttle::Throttling),
                Action::Throttle(Throttle::Throttling),
                Action::Forward,
                Action::Reset,
            ]
        );
        assert_eq!(state.stats.requests, 6);
    }

    #[test]
    fn answers_are_patched_by_merging() {
        let body = Bytes::from_static(
            br#"{"Table":{"TableName":"t","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}}"#,
        );
        let patched = patch_answer(
            body,
            &[serde_json::json!({"Table": {"Replicas": [{"RegionName": "eu-west-1"}]}})],
        );
        let answer: serde_json::Value = serde_json::from_slice(&patched).expect("json");
        assert_eq!(answer["Table"]["TableName"], "t");
        assert_eq!(answer["Table"]["KeySchema"][0]["AttributeName"], "pk");
        assert_eq!(answer["Table"]["Replicas"][0]["RegionName"], "eu-west-1");
        // Not JSON: passed as it is.
        assert_eq!(
            patch_answer(Bytes::from_static(b"nope"), &[serde_json::json!({"a": 1})]),
            Bytes::from_static(b"nope")
        );
        let plan = FaultPlan::default().patch_answer(
            "DynamoDB_20120810.DescribeTable",
            serde_json::json!({"a": 1}),
        );
        let mut state = State::new(plan);
        assert_eq!(state.decide(Some("DescribeTable")).patches.len(), 1);
        assert!(state.decide(Some("GetItem")).patches.is_empty());
    }

    #[tokio::test]
    async fn answers_part_of_a_batch_as_unprocessed() {
        use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};

        let dynamo = dynamo().await;
        let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
            .await
            .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        let table = create_table(&client).await;
        proxy.set_plan(
            FaultPlan::default()
                .unprocessed(1.0)
                .operation("BatchWriteItem")
                .operation("BatchGetItem")
                .first(2),
        );
        let writes: Vec<WriteRequest> = (0..5)
            .map(|n| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .item("pk", AttributeValue::S(format!("item-{n}")))
                            .build()
                            .expect("put"),
                    )
                    .build()
            })
            .collect();
        let output = client
            .batch_write_item()
            .request_items(&table, writes)
            .send()
            .await
            .expect("batch write");
        let left = output
            .unprocessed_items
            .and_then(|mut u| u.remove(&table))
            .expect("unprocessed items");
        let left: Vec<String> = left
            .iter()
            .filter_map(|w| w.put_request.as_ref())
            .filter_map(|p| p.item.get("pk"))
            .filter_map(|v| v.as_s().ok().cloned())
            .collect();
        assert_eq!(left, ["item-1", "item-3"]);
        let direct = dynamo.client().await;
        for (n, written) in [(0, true), (1, false), (2, true), (3, false), (4, true)] {
            assert_eq!(
                exists(&direct, &table, &format!("item-{n}")).await,
                written,
                "item-{n}"
            );
        }

        let keys = KeysAndAttributes::builder()
            .set_keys(Some(
                (0..5)
                    .map(|n| {
                        std::collections::HashMap::from([(
                            "pk".to_owned(),
                            AttributeValue::S(format!("item-{n}")),
                        )])
                    })
                    .collect(),
            ))
            .consistent_read(true)
            .build()
            .expect("keys");
        let output = client
            .batch_get_item()
            .request_items(&table, keys)
            .send()
            .await
            .expect("batch get");
        let found = output
            .responses
            .and_then(|mut r| r.remove(&table))
            .expect("responses");
        let mut found: Vec<String> = found
            .iter()
            .filter_map(|item| item.get("pk")?.as_s().ok().cloned())
            .collect();
        found.sort();
        assert_eq!(found, ["item-0", "item-2", "item-4"]);
        let left = output
            .unprocessed_keys
            .and_then(|mut u| u.remove(&table))
            .expect("unprocessed keys");
        assert_eq!(left.consistent_read, Some(true), "the table's options kept");
        assert_eq!(left.keys.len(), 2);
        let stats = proxy.stats();
        assert_eq!(stats.partial_batches, 2);
        assert_eq!(stats.held_back, 4);

        // Past `first`: answered whole.
        let output = client
            .batch_write_item()
            .request_items(
                &table,
                vec![
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .item("pk", AttributeValue::S("item-5".into()))
                                .build()
                                .expect("put"),
                        )
                        .build(),
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .item("pk", AttributeValue::S("item-6".into()))
                                .build()
                                .expect("put"),
                        )
                        .build(),
                ],
            )
            .send()
            .await
            .expect("batch write");
        assert!(output.unprocessed_items.unwrap_or_default().is_empty());
        assert!(exists(&direct, &table, "item-6").await);
        assert_eq!(proxy.stats().partial_batches, 2);
    }

    #[test]
    fn batches_are_split_at_odd_positions_and_merged_into_the_answer() {
        let body = br#"{"RequestItems":{"a":{"Keys":[{"pk":{"S":"0"}},{"pk":{"S":"1"}},{"pk":{"S":"2"}}],"ConsistentRead":true},"b":{"Keys":[{"pk":{"S":"only"}}]}}}"#;
        let split = split_batch(Some("BatchGetItem"), body).expect("a split");
        assert_eq!(split.count, 1);
        let forward: serde_json::Value = serde_json::from_slice(&split.forward).expect("json");
        assert_eq!(
            forward["RequestItems"]["a"]["Keys"],
            serde_json::json!([{"pk":{"S":"0"}},{"pk":{"S":"2"}}])
        );
        assert_eq!(forward["RequestItems"]["a"]["ConsistentRead"], true);
        assert_eq!(forward["RequestItems"]["b"]["Keys"][0]["pk"]["S"], "only");
        assert_eq!(
            serde_json::Value::Object(split.held_back.clone()),
            serde_json::json!({"a":{"Keys":[{"pk":{"S":"1"}}],"ConsistentRead":true}})
        );
        // DynamoDB left one of its own: both are listed.
        let answer = br#"{"Responses":{"a":[]},"UnprocessedKeys":{"a":{"Keys":[{"pk":{"S":"2"}}],"ConsistentRead":true}}}"#;
        let merged =
            add_unprocessed(Some("BatchGetItem"), answer, split.held_back).expect("a JSON answer");
        let merged: serde_json::Value = serde_json::from_slice(&merged).expect("json");
        assert_eq!(
            merged["UnprocessedKeys"]["a"]["Keys"],
            serde_json::json!([{"pk":{"S":"2"}},{"pk":{"S":"1"}}])
        );

        let body = br#"{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"0"}}}},{"DeleteRequest":{"Key":{"pk":{"S":"1"}}}}]}}"#;
        let split = split_batch(Some("BatchWriteItem"), body).expect("a split");
        let merged =
            add_unprocessed(Some("BatchWriteItem"), b"{}", split.held_back).expect("a JSON answer");
        let merged: serde_json::Value = serde_json::from_slice(&merged).expect("json");
        assert_eq!(
            merged,
            serde_json::json!({"UnprocessedItems":{"t":[{"DeleteRequest":{"Key":{"pk":{"S":"1"}}}}]}})
        );
        // Nothing to hold back.
        assert_eq!(
            split_batch(
                Some("BatchWriteItem"),
                br#"{"RequestItems":{"t":[{"PutRequest":{}}]}}"#
            ),
            None
        );
        assert_eq!(split_batch(Some("PutItem"), body), None);
        assert_eq!(split_batch(Some("BatchWriteItem"), b"not json"), None);
    }

    #[tokio::test]
    async fn records_whether_each_read_asked_for_consistency() {
        use aws_sdk_dynamodb::types::KeysAndAttributes;

        let dynamo = dynamo().await;
        let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
            .await
            .expect("proxy");
        let client = client(&proxy.url(), 1).await;
        let table = create_table(&client).await;
        put(&client, &table, "a").await.expect("put");
        assert!(proxy.reads().is_empty(), "no read yet");
        assert!(exists(&client, &table, "a").await);
        client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S("a".into()))
            .send()
            .await
            .expect("get");
        client
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S("a".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("query");
        client
            .scan()
            .table_name(&table)
            .consistent_read(false)
            .send()
            .await
            .expect("scan");
        client
            .batch_get_item()
            .request_items(
                &table,
                KeysAndAttributes::builder()
                    .keys(std::collections::HashMap::from([(
                        "pk".to_owned(),
                        AttributeValue::S("a".into()),
                    )]))
                    .consistent_read(true)
                    .build()
                    .expect("keys"),
            )
            .send()
            .await
            .expect("batch get");
        let seen: Vec<(String, bool)> = proxy
            .take_reads()
            .into_iter()
            .map(|read| {
                assert_eq!(read.table, table);
                assert_eq!(read.index, None);
                (read.operation, read.consistent_read)
            })
            .collect();
        let expected = [
            ("GetItem", true),
            ("GetItem", false),
            ("Query", true),
            ("Scan", false),
            ("BatchGetItem", true),
        ]
        .map(|(operation, consistent)| (operation.to_owned(), consistent));
        assert_eq!(seen, expected);
        assert!(proxy.reads().is_empty(), "taken");
        // Throttled reads were received all the same.
        proxy.set_plan(FaultPlan::default().throttle(Throttle::Throttling, 1.0));
        let _refused = client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S("a".into()))
            .consistent_read(true)
            .send()
            .await
            .expect_err("throttled");
        let reads = proxy.reads();
        assert_eq!(reads.len(), 1);
        assert!(reads[0].consistent_read);
        assert_eq!(reads[0].key, Some(serde_json::json!({"pk": {"S": "a"}})));
    }
}
