//! Each fault, as the SDK meets it; the upstream lost and switched.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use aws_sdk_dynamodb::types::AttributeValue;

use super::support::{client, create_table, dynamo, exists, put};
use crate::{Error, FaultPlan, FaultProxy, Throttle};

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
            Err(error) if error.raw_response().map(|r| r.status().as_u16()) == Some(502) => break,
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
async fn fails_with_the_error_asked_for() {
    let dynamo = dynamo().await;
    let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
        .await
        .expect("proxy");
    // Retries allowed: the SDK does not retry this error.
    let client = client(&proxy.url(), 3).await;
    let table = create_table(&client).await;
    put(&client, &table, "there").await.expect("put");
    proxy.set_plan(
        FaultPlan::default()
            .fail(400, "ResourceNotFoundException", 1.0)
            .operation("GetItem")
            .first(1),
    );
    let before = proxy.stats();
    let error = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("there".into()))
        .send()
        .await
        .expect_err("failed by the proxy");
    assert_eq!(error.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        error.message(),
        Some("ResourceNotFoundException injected by the fault proxy")
    );
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert!(error
        .as_service_error()
        .is_some_and(|e| e.is_resource_not_found_exception()));
    let after = proxy.stats();
    assert_eq!(after.failed - before.failed, 1, "{after:?}");
    assert_eq!(after.forwarded, before.forwarded, "not forwarded");
    assert_eq!(after.throttled, 0);
    // Past `first`: the item is read.
    assert!(exists(&client, &table, "there").await);
}

#[tokio::test]
async fn fails_dynamodb_streams_requests_by_their_operation() {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    // No server behind the proxy: a failed request is never forwarded.
    let proxy = FaultProxy::start(
        "http://127.0.0.1:1",
        FaultPlan::default()
            .fail(400, "ExpiredIteratorException", 1.0)
            .operation("GetRecords"),
    )
    .await
    .expect("proxy");
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let send = |target: &'static str| {
        let request = hyper::Request::post(proxy.url())
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.0")
            .body(Full::new(Bytes::from_static(br#"{"ShardIterator":"i-1"}"#)))
            .expect("a request");
        http.request(request)
    };
    let answer = send("DynamoDBStreams_20120810.GetRecords")
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|value| value.to_str().ok()),
        Some("ExpiredIteratorException")
    );
    let body = answer
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).expect("UTF-8"),
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ExpiredIteratorException","message":"ExpiredIteratorException injected by the fault proxy"}"#
    );
    // Another operation is forwarded, and finds no server.
    let answer = send("DynamoDBStreams_20120810.GetShardIterator")
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 502);
    let stats = proxy.stats();
    assert_eq!(stats.requests_for("DynamoDBStreams_20120810.GetRecords"), 1);
    assert_eq!(stats.failed, 1);
    assert_eq!(stats.upstream_errors, 1);
}

#[tokio::test]
async fn refuses_a_write_as_another_regions_write_would() {
    use dynago::{Key, Table, TableDefinition};

    let dynamo = dynamo().await;
    let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
        .await
        .expect("proxy");
    let name = crate::unique_table_name("mrsc");
    // No resend by the SDK: the refusal reaches the table layer.
    let table = Table::connect(
        proxy
            .table_options(&name)
            .partition_key("pk")
            .sdk_max_attempts(1),
    )
    .await
    .expect("a table through the proxy");
    table
        .create_table(TableDefinition::default())
        .await
        .expect("create table");
    proxy.set_plan(
        FaultPlan::default()
            .replicated_write_conflict(1.0)
            .operation("PutItem")
            .first(1),
    );
    let before = proxy.stats();
    let error = table
        .put_item(Key::new("raced"), &serde_json::json!({"total": 3}))
        .send()
        .await
        .expect_err("refused by the proxy");
    assert!(error.is_replicated_write_conflict(), "{error:?}");
    assert!(error.is_retryable(), "{error:?}");
    assert!(!error.is_outcome_unknown(), "{error:?}");
    assert!(!error.is_conflict(), "{error:?}");
    assert_eq!(error.code(), Some("ReplicatedWriteConflictException"));
    assert!(
        matches!(&error, dynago::Error::ReplicatedWriteConflict { operation: "PutItem", table, .. } if *table == name),
        "{error:?}"
    );
    // Nothing was written: read from the server itself, not through the
    // proxy.
    assert!(!exists(&dynamo.client().await, &name, "raced").await);
    let after = proxy.stats();
    assert_eq!(
        after.replicated_write_conflicts - before.replicated_write_conflicts,
        1
    );
    assert_eq!(after.forwarded, before.forwarded, "not forwarded");

    // The SDK sends such a write again by itself: with two attempts, the
    // second goes through.
    let retrying = Table::connect(
        proxy
            .table_options(&name)
            .partition_key("pk")
            .sdk_max_attempts(2),
    )
    .await
    .expect("a table through the proxy");
    proxy.set_plan(
        FaultPlan::default()
            .replicated_write_conflict(1.0)
            .operation("PutItem")
            .first(1),
    );
    let outcome = retrying
        .put_item(Key::new("raced"), &serde_json::json!({"total": 4}))
        .send()
        .await
        .expect("the second attempt goes through");
    assert!(!outcome.recovered);
    assert!(exists(&dynamo.client().await, &name, "raced").await);
    assert_eq!(proxy.stats().replicated_write_conflicts, 2);
}
