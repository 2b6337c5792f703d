//! What the proxy counts and the reads it logs.

use std::collections::BTreeMap;

use super::plan::operation_name;

/// What a [`FaultProxy`](crate::FaultProxy) has seen and done since it started.
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
    /// or dropped), each once: a held request when it is delivered late, a
    /// duplicated one for its first delivery.
    pub forwarded: u64,
    /// Requests delayed by the plan's latency.
    pub delayed: u64,
    /// Connections reset before forwarding.
    pub resets: u64,
    /// Requests answered with a throttling or server error, not forwarded.
    pub throttled: u64,
    /// Requests answered with the error of [`FaultPlan::fail`](crate::FaultPlan::fail),
    /// not forwarded.
    pub failed: u64,
    /// Requests answered with `ReplicatedWriteConflictException`
    /// ([`FaultPlan::replicated_write_conflict`](crate::FaultPlan::replicated_write_conflict)),
    /// not forwarded.
    pub replicated_write_conflicts: u64,
    /// Requests forwarded whose answer was then dropped.
    pub dropped_answers: u64,
    /// Batch requests answered in part ([`FaultPlan::unprocessed`](crate::FaultPlan::unprocessed)).
    pub partial_batches: u64,
    /// Keys and writes held back from those requests and answered as
    /// unprocessed.
    pub held_back: u64,
    /// Requests held back, their client left without an answer
    /// ([`FaultPlan::hold`](crate::FaultPlan::hold)).
    pub held: u64,
    /// Held requests forwarded to DynamoDB after their delay (also counted
    /// in `forwarded`); [`FaultProxy::settled`](crate::FaultProxy::settled)
    /// waits until these are all of the `held`.
    pub delivered_late: u64,
    /// Requests forwarded a second time after their first answer
    /// ([`FaultPlan::duplicate`](crate::FaultPlan::duplicate)); the second
    /// deliveries are not counted in `forwarded`.
    pub duplicated: u64,
    /// Requests forwarded without their `ClientRequestToken`
    /// ([`FaultPlan::strip_client_request_tokens`](crate::FaultPlan::strip_client_request_tokens)).
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

    /// How many faults were injected, of every kind (latency included;
    /// a held request counts once, a duplicated one once).
    ///
    /// ```
    /// assert_eq!(dynago_local::ProxyStats::default().faults(), 0);
    /// ```
    pub fn faults(&self) -> u64 {
        self.delayed
            + self.resets
            + self.throttled
            + self.failed
            + self.replicated_write_conflicts
            + self.dropped_answers
            + self.held
            + self.duplicated
    }
}

/// A read a [`FaultProxy`](crate::FaultProxy) received: one for each `GetItem`, `Query` and
/// `Scan`, and one for each table of a `BatchGetItem`, in the order they
/// came ([`FaultProxy::reads`](crate::FaultProxy::reads)). `TransactGetItems`, always strongly
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
pub(super) fn reads_of(operation: Option<&str>, body: &[u8]) -> Vec<ReadRequest> {
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
