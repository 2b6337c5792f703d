//! Requests delivered late (held) and twice (duplicated), as the SDK and
//! the table see them.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::support::{
    client, client_with_timeout, create_table, create_table_named, dynamo, exists, put,
};
use crate::{FaultPlan, FaultProxy};

/// Long enough for any delivery on a loaded machine; a hang fails the test.
const SETTLE: Duration = Duration::from_secs(30);

async fn settled(proxy: &FaultProxy) {
    tokio::time::timeout(SETTLE, proxy.settled())
        .await
        .expect("every held and duplicated request delivered");
}

/// `ADD n :1` to the item `pk`; the value of `n` the client was told.
async fn add_one(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> String {
    let output = client
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .update_expression("ADD n :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .expect("update");
    number(output.attributes.as_ref())
}

/// The number `n` of `item`, as DynamoDB writes it.
fn number(item: Option<&std::collections::HashMap<String, AttributeValue>>) -> String {
    match item.and_then(|item| item.get("n")) {
        Some(AttributeValue::N(n)) => n.clone(),
        other => panic!("no number n: {other:?}"),
    }
}

async fn stored_n(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> String {
    let output = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item");
    number(output.item.as_ref())
}

#[tokio::test]
async fn holds_a_write_past_its_client_then_delivers_it() {
    let dynamo = dynamo().await;
    let direct = dynamo.client().await;
    let table = create_table(&direct).await;
    let hold = Duration::from_millis(1500);
    let proxy = FaultProxy::start(
        dynamo.url(),
        FaultPlan::default()
            .hold(hold, 1.0)
            .operation("PutItem")
            .first(1),
    )
    .await
    .expect("proxy");
    // Nothing pending yet: at once.
    settled(&proxy).await;

    let impatient = client_with_timeout(&proxy.url(), 1, Duration::from_millis(300)).await;
    let started = Instant::now();
    let error = put(&impatient, &table, "late")
        .await
        .expect_err("held past the attempt timeout");
    let gave_up = started.elapsed();
    assert!(matches!(error, SdkError::TimeoutError(_)), "{error:?}");
    assert!(gave_up < hold, "the client gave up first: {gave_up:?}");
    // Not yet written, and held.
    assert!(!exists(&direct, &table, "late").await);
    let stats = proxy.stats();
    assert_eq!((stats.held, stats.delivered_late), (1, 0), "{stats:?}");
    assert_eq!(stats.forwarded, 0, "{stats:?}");

    // The write lands after the hold, the client long gone.
    settled(&proxy).await;
    assert!(started.elapsed() >= hold);
    assert!(exists(&direct, &table, "late").await);
    let stats = proxy.stats();
    assert_eq!(stats.requests, 1, "{stats:?}");
    assert_eq!((stats.held, stats.delivered_late), (1, 1), "{stats:?}");
    assert_eq!(stats.forwarded, 1, "{stats:?}");
    assert_eq!(stats.faults(), 1, "{stats:?}");
    assert_eq!(stats.duplicated, 0, "{stats:?}");

    // Past `first`: answered, on a new connection.
    put(&client(&proxy.url(), 1).await, &table, "on time")
        .await
        .expect("put");
    assert!(exists(&direct, &table, "on time").await);
    assert_eq!(proxy.stats().held, 1);
}

#[tokio::test]
async fn a_patient_client_sees_its_held_connection_closed() {
    let dynamo = dynamo().await;
    let direct = dynamo.client().await;
    let table = create_table(&direct).await;
    let hold = Duration::from_millis(400);
    let proxy = FaultProxy::start(
        dynamo.url(),
        FaultPlan::default().hold(hold, 1.0).operation("PutItem"),
    )
    .await
    .expect("proxy");
    let patient = client(&proxy.url(), 1).await;
    let started = Instant::now();
    let error = put(&patient, &table, "closed")
        .await
        .expect_err("no answer to a held request");
    // A closed connection after the hold, not the 3 s attempt timeout.
    assert!(
        matches!(
            error,
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ),
        "{error:?}"
    );
    assert!(started.elapsed() >= hold, "{:?}", started.elapsed());
    settled(&proxy).await;
    assert!(exists(&direct, &table, "closed").await);
    assert_eq!(proxy.stats().delivered_late, 1);
}

#[tokio::test]
async fn delivers_a_held_request_to_the_upstream_of_that_moment() {
    let first = dynamo().await;
    let second = dynamo().await;
    let table = create_table(&first.client().await).await;
    create_table_named(&second.client().await, &table).await;
    let mut proxy = FaultProxy::start(
        first.url(),
        FaultPlan::default()
            .hold(Duration::from_millis(800), 1.0)
            .operation("PutItem")
            .first(1),
    )
    .await
    .expect("proxy");
    let impatient = client_with_timeout(&proxy.url(), 1, Duration::from_millis(200)).await;
    put(&impatient, &table, "moved")
        .await
        .expect_err("held past the attempt timeout");
    proxy.set_upstream(second.url()).expect("the second server");
    settled(&proxy).await;
    assert!(exists(&second.client().await, &table, "moved").await);
    assert!(!exists(&first.client().await, &table, "moved").await);
}

#[tokio::test]
async fn applies_a_duplicated_update_twice() {
    let dynamo = dynamo().await;
    let direct = dynamo.client().await;
    let table = create_table(&direct).await;
    let proxy = FaultProxy::start(
        dynamo.url(),
        FaultPlan::default().duplicate(1.0).operation("UpdateItem"),
    )
    .await
    .expect("proxy");
    let client = client(&proxy.url(), 1).await;
    // One success, and what it saw: n = 1.
    assert_eq!(add_one(&client, &table, "counter").await, "1");
    settled(&proxy).await;
    assert_eq!(stored_n(&direct, &table, "counter").await, "2");
    let stats = proxy.stats();
    assert_eq!(stats.requests, 1, "{stats:?}");
    assert_eq!(stats.forwarded, 1, "{stats:?}");
    assert_eq!(stats.duplicated, 1, "{stats:?}");
    assert_eq!((stats.held, stats.delivered_late), (0, 0), "{stats:?}");
    assert_eq!(stats.faults(), 1, "{stats:?}");
}

#[tokio::test]
async fn a_duplicated_conditional_put_writes_once() {
    let dynamo = dynamo().await;
    let direct = dynamo.client().await;
    let table = create_table(&direct).await;
    let proxy = FaultProxy::start(
        dynamo.url(),
        FaultPlan::default().duplicate(1.0).operation("PutItem"),
    )
    .await
    .expect("proxy");
    let client = client(&proxy.url(), 1).await;
    client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("once".into()))
        .item("n", AttributeValue::N("7".into()))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect("the first delivery succeeds");
    settled(&proxy).await;
    // The second delivery failed its condition, unseen.
    let scan = direct
        .scan()
        .table_name(&table)
        .consistent_read(true)
        .send()
        .await
        .expect("scan");
    assert_eq!(scan.count, 1);
    assert_eq!(stored_n(&direct, &table, "once").await, "7");
    let stats = proxy.stats();
    assert_eq!(stats.duplicated, 1, "{stats:?}");
    assert_eq!(stats.forwarded, 1, "{stats:?}");
}

#[tokio::test]
async fn duplicates_a_seeded_share_of_the_requests() {
    let dynamo = dynamo().await;
    let direct = dynamo.client().await;
    let table = create_table(&direct).await;
    let proxy = FaultProxy::start(
        dynamo.url(),
        FaultPlan::default()
            .seed(11)
            .duplicate(0.5)
            .operation("UpdateItem"),
    )
    .await
    .expect("proxy");
    let client = client(&proxy.url(), 1).await;
    for _ in 0..20 {
        // Second deliveries may land among the next ones: `ADD` does not
        // mind the order.
        add_one(&client, &table, "counter").await;
    }
    settled(&proxy).await;
    let stats = proxy.stats();
    assert!((1..20).contains(&stats.duplicated), "{stats:?}");
    assert_eq!(
        stored_n(&direct, &table, "counter").await,
        (20 + stats.duplicated).to_string()
    );
    // Other operations pass untouched.
    assert!(!exists(&client, &table, "nothing").await);
    assert_eq!(proxy.stats().duplicated, stats.duplicated);
}
