//! The fault plan: which requests to disturb and how.

use std::time::Duration;

use super::answer::{Failure, Throttle};

/// Which requests a [`FaultProxy`](crate::FaultProxy) disturbs, and how.
///
/// A plan picks, for each request it applies to, the faults to inject by
/// drawing from a pseudo-random generator with a fixed [`seed`](Self::seed):
/// the same plan and the same order of requests give the same faults.
///
/// - [`latency`](Self::latency) is drawn on its own: a request may be both
///   delayed and disturbed otherwise.
/// - [`reset`](Self::reset), [`throttle`](Self::throttle),
///   [`fail`](Self::fail),
///   [`replicated_write_conflict`](Self::replicated_write_conflict),
///   [`drop_answer`](Self::drop_answer),
///   [`unprocessed`](Self::unprocessed), [`hold`](Self::hold) and
///   [`duplicate`](Self::duplicate) exclude one another: one draw per
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
    pub(super) seed: u64,
    pub(super) latency: Duration,
    pub(super) latency_share: f64,
    pub(super) reset_share: f64,
    pub(super) throttle: Throttle,
    pub(super) throttle_share: f64,
    pub(super) fail: Option<Failure>,
    pub(super) fail_share: f64,
    pub(super) replicated_write_conflict_share: f64,
    pub(super) drop_answer_share: f64,
    pub(super) unprocessed_share: f64,
    pub(super) hold: Duration,
    pub(super) hold_share: f64,
    pub(super) duplicate_share: f64,
    pub(super) operations: Vec<String>,
    pub(super) first: Option<u64>,
    pub(super) strip_tokens: bool,
    pub(super) shuffle_records: bool,
    pub(super) split_shards: bool,
    pub(super) next: Option<Box<FaultPlan>>,
    pub(super) patches: Vec<(String, serde_json::Value)>,
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
            fail: None,
            fail_share: 0.0,
            replicated_write_conflict_share: 0.0,
            drop_answer_share: 0.0,
            unprocessed_share: 0.0,
            hold: Duration::ZERO,
            hold_share: 0.0,
            duplicate_share: 0.0,
            operations: Vec::new(),
            first: None,
            strip_tokens: false,
            shuffle_records: false,
            split_shards: false,
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

    /// Answers a `share` of the requests with the error `error_type`, of
    /// HTTP status `status`, without forwarding them: nothing reaches
    /// DynamoDB. For the errors no emulator gives, such as a stream's
    /// `ExpiredIteratorException` or `TrimmedDataAccessException`.
    ///
    /// The answer has the shape of a [`throttle`](Self::throttle) answer:
    /// the JSON body
    /// `{"__type":"com.amazonaws.dynamodb.v20120810#<error_type>","message":"<error_type> injected by the fault proxy"}`
    /// and the header `x-amzn-ErrorType: <error_type>`, so the SDK reports
    /// `error_type` as the error's code (`ProvideErrorMetadata::code`). A
    /// `status` that is not an HTTP status (below 100, above 999) is sent as
    /// 400; an `error_type` that cannot be a header value is sent in the
    /// body only. A plan has one such error: calling `fail` again replaces
    /// it.
    ///
    /// ```
    /// use dynago_local::FaultPlan;
    ///
    /// // Every GetRecords of DynamoDB Streams (`DynamoDBStreams_20120810.GetRecords`)
    /// // finds its iterator expired.
    /// let expired = FaultPlan::default()
    ///     .fail(400, "ExpiredIteratorException", 1.0)
    ///     .operation("GetRecords");
    ///
    /// // The first GetRecords finds its records trimmed, the next one an
    /// // expired iterator; later ones pass.
    /// let trimmed_then_expired = FaultPlan::default()
    ///     .fail(400, "TrimmedDataAccessException", 1.0)
    ///     .operation("GetRecords")
    ///     .first(1)
    ///     .then(
    ///         FaultPlan::default()
    ///             .fail(400, "ExpiredIteratorException", 1.0)
    ///             .operation("GetRecords")
    ///             .first(1),
    ///     );
    /// # let _ = (expired, trimmed_then_expired);
    /// ```
    ///
    /// Through a proxy, the SDK sees the error as DynamoDB's own:
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    /// use aws_sdk_dynamodb::types::AttributeValue;
    /// use dynago::{Table, TableDefinition};
    /// use dynago_local::{FaultPlan, FaultProxy, LocalDynamo};
    ///
    /// let dynamo = LocalDynamo::start().await?;
    /// let plan = FaultPlan::default()
    ///     .fail(400, "ResourceNotFoundException", 1.0)
    ///     .operation("GetItem");
    /// let proxy = FaultProxy::start(dynamo.url(), plan).await?;
    /// let table = Table::connect(proxy.table_options("orders").partition_key("pk")).await?;
    /// table.create_table(TableDefinition::default()).await?;
    /// let error = table
    ///     .client()
    ///     .get_item()
    ///     .table_name("orders")
    ///     .key("pk", AttributeValue::S("o-1".into()))
    ///     .send()
    ///     .await
    ///     .expect_err("answered by the proxy");
    /// assert_eq!(error.code(), Some("ResourceNotFoundException"));
    /// assert_eq!(proxy.stats().failed, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn fail(
        mut self,
        status: u16,
        error_type: impl Into<String>,
        share_of_requests: f64,
    ) -> Self {
        self.fail = Some(Failure {
            status,
            error_type: error_type.into(),
        });
        self.fail_share = share(share_of_requests);
        self
    }

    /// Answers a `share` of the requests with HTTP 400
    /// `ReplicatedWriteConflictException`, without forwarding them: nothing
    /// reaches DynamoDB, nothing is written. A global table of multi-Region
    /// strong consistency (MRSC) refuses so a write that arrives while a
    /// request in another Region is modifying its item; no emulator has
    /// Regions to race.
    ///
    /// The answer is DynamoDB's: the JSON body
    /// `{"__type":"com.amazonaws.dynamodb.v20120810#ReplicatedWriteConflictException","message":"The request was rejected because one or more items in the request are being modified by a request in another Region. (injected by dynago-local's FaultProxy)"}`
    /// and the header `x-amzn-ErrorType: ReplicatedWriteConflictException`.
    /// DynamoDB gives it to writes (`PutItem`, `UpdateItem`, `DeleteItem`,
    /// `BatchWriteItem`): limit the plan to them with
    /// [`operation`](Self::operation). The SDK models the error as
    /// retryable and sends those writes again by itself, up to its
    /// attempts: [`first`](Self::first) decides how many are refused.
    /// [`ProxyStats::replicated_write_conflicts`](crate::ProxyStats::replicated_write_conflicts)
    /// counts the answers.
    ///
    /// ```
    /// // The first PutItem meets another Region's write; later ones pass.
    /// let raced = dynago_local::FaultPlan::default()
    ///     .replicated_write_conflict(1.0)
    ///     .operation("PutItem")
    ///     .first(1);
    /// # let _ = raced;
    /// ```
    ///
    /// What a [`dynago::Table`] reports, with the SDK's resend turned off:
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use dynago::{Key, Table, TableDefinition};
    /// use dynago_local::{FaultPlan, FaultProxy, LocalDynamo};
    ///
    /// let dynamo = LocalDynamo::start().await?;
    /// let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default()).await?;
    /// let options = proxy.table_options("orders").partition_key("pk").sdk_max_attempts(1);
    /// let table = Table::connect(options).await?;
    /// table.create_table(TableDefinition::default()).await?;
    /// proxy.set_plan(
    ///     FaultPlan::default()
    ///         .replicated_write_conflict(1.0)
    ///         .operation("PutItem")
    ///         .first(1),
    /// );
    /// let error = table
    ///     .put_item(Key::new("o-1"), &serde_json::json!({"total": 3}))
    ///     .send()
    ///     .await
    ///     .expect_err("refused by the proxy");
    /// assert!(error.is_replicated_write_conflict());
    /// assert!(error.is_retryable() && !error.is_outcome_unknown());
    /// assert_eq!(proxy.stats().replicated_write_conflicts, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn replicated_write_conflict(mut self, share_of_requests: f64) -> Self {
        self.replicated_write_conflict_share = share(share_of_requests);
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

    /// Holds a `share` of the requests back, as a relay that delivers late:
    /// the request is read whole and not forwarded; the client gets no
    /// answer, its connection kept open for `delay` and then closed (a
    /// client whose attempt timeout is shorter gives up first). After
    /// `delay` the proxy forwards the request all the same, whether the
    /// client is still there or not, to the upstream of that moment, and
    /// discards DynamoDB's answer: a write the client gave up on lands
    /// late, perhaps after the client's retry.
    ///
    /// [`FaultProxy::settled`](crate::FaultProxy::settled) waits until every
    /// held request has been delivered;
    /// [`ProxyStats::held`](crate::ProxyStats::held) and
    /// [`ProxyStats::delivered_late`](crate::ProxyStats::delivered_late)
    /// count them.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // The first PutItem lands 2 s after it was sent, unanswered.
    /// let late = dynago_local::FaultPlan::default()
    ///     .hold(Duration::from_secs(2), 1.0)
    ///     .operation("PutItem")
    ///     .first(1);
    /// # let _ = late;
    /// ```
    ///
    /// A client that times out first, and the write that lands after:
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use dynago::{Table, TableDefinition};
    /// use dynago_local::{FaultPlan, FaultProxy, LocalDynamo};
    ///
    /// let dynamo = LocalDynamo::start().await?;
    /// let plan = FaultPlan::default()
    ///     .hold(Duration::from_secs(1), 1.0)
    ///     .operation("PutItem")
    ///     .first(1);
    /// let proxy = FaultProxy::start(dynamo.url(), plan).await?;
    /// let options = proxy
    ///     .table_options("orders")
    ///     .partition_key("pk")
    ///     .attempt_timeout(Duration::from_millis(200))
    ///     .sdk_max_attempts(1);
    /// let table = Table::connect(options).await?;
    /// table.create_table(TableDefinition::default()).await?;
    /// // ... a put through `table` times out ...
    /// proxy.settled().await; // ... and has now taken place
    /// assert_eq!(proxy.stats().delivered_late, proxy.stats().held);
    /// # Ok(())
    /// # }
    /// ```
    pub fn hold(mut self, delay: Duration, share_of_requests: f64) -> Self {
        self.hold = delay;
        self.hold_share = share(share_of_requests);
        self
    }

    /// Delivers a `share` of the requests twice, as a relay that sends
    /// again: the request is forwarded and its answer passed back to the
    /// client as usual; right after that answer came, the proxy forwards
    /// the same bytes a second time, from a task of its own, and discards
    /// the second answer. An unconditional update is applied twice; a
    /// conditional write's second delivery fails its condition, unseen;
    /// a transaction sent again with its `ClientRequestToken` is recognised
    /// by DynamoDB, unless the plan
    /// [strips the tokens](Self::strip_client_request_tokens). A request
    /// that found no upstream (answered with HTTP 502) is not sent again.
    ///
    /// [`FaultProxy::settled`](crate::FaultProxy::settled) waits until every
    /// second delivery has been answered;
    /// [`ProxyStats::duplicated`](crate::ProxyStats::duplicated) counts them.
    ///
    /// ```
    /// // Every UpdateItem reaches DynamoDB twice.
    /// let twice = dynago_local::FaultPlan::default()
    ///     .duplicate(1.0)
    ///     .operation("UpdateItem");
    /// # let _ = twice;
    /// ```
    pub fn duplicate(mut self, share_of_requests: f64) -> Self {
        self.duplicate_share = share(share_of_requests);
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
    /// [`FaultProxy::set_plan`](crate::FaultProxy::set_plan)); later ones pass untouched.
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

    /// Passes every DynamoDB Streams `GetRecords` answer back with its
    /// records in an order drawn from the seed, whichever requests the plan
    /// otherwise applies to: a shard's records, and those of one
    /// transaction, arrive out of the order they were written in. AWS keeps
    /// the order of one item's records and no more; this is harsher, for a
    /// reader that must order events itself.
    ///
    /// ```
    /// let plan = dynago_local::FaultPlan::default().seed(3).shuffle_stream_records(true);
    /// # let _ = plan;
    /// ```
    pub fn shuffle_stream_records(mut self, shuffle: bool) -> Self {
        self.shuffle_records = shuffle;
        self
    }

    /// Makes every shard of a stream look split from a parent, whichever
    /// requests the plan otherwise applies to: `DescribeStream` answers list,
    /// before each shard that has no parent, a closed shard
    /// `{shard}-closed-parent` named as its parent; the proxy answers
    /// `GetShardIterator` and `GetRecords` on that parent itself, with no
    /// record and no next iterator (a closed shard read to its end). A
    /// reader must read the parent to its end before the child.
    ///
    /// ```
    /// let plan = dynago_local::FaultPlan::default().split_stream_shards(true);
    /// # let _ = plan;
    /// ```
    pub fn split_stream_shards(mut self, split: bool) -> Self {
        self.split_shards = split;
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
    pub(super) fn patches_for(&self, operation: Option<&str>) -> Vec<serde_json::Value> {
        self.patches
            .iter()
            .filter(|(name, _)| Some(name.as_str()) == operation)
            .map(|(_, patch)| patch.clone())
            .collect()
    }

    pub(super) fn applies_to(&self, operation: Option<&str>) -> bool {
        self.operations.is_empty()
            || operation.is_some_and(|op| self.operations.iter().any(|name| name == op))
    }
}

/// `PutItem` from `DynamoDB_20120810.PutItem` (or from `PutItem`).
pub(super) fn operation_name(target: &str) -> &str {
    target.rsplit('.').next().unwrap_or(target)
}
