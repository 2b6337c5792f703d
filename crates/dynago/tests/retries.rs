//! Retries through a fault-injecting proxy: batches that stay throttled past
//! the retry policy are `Error::Unprocessed` with the number of attempts;
//! throttling within it is retried with backoff; validation errors are sent
//! once and never again; a filtered index query is right whether or not the
//! table can be described.
use crate::common;

use std::time::Duration;

use common::{key, n, s};
use dynago::transact::Put;
use dynago::{Error, GlobalIndex, Item, RetryPolicy, ScalarAttributeType, Table, TableDefinition};
use dynago_local::{FaultPlan, FaultProxy, Throttle};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    n: u32,
}

/// A fresh table (with a global index on `gpk`), a proxy in front of the
/// shared server under `plan`, and the table through the proxy, whose SDK
/// makes `sdk_attempts` attempts per request and whose batches make
/// `batch_attempts`.
async fn behind_proxy(
    plan: FaultPlan,
    sdk_attempts: u32,
    batch_attempts: usize,
) -> (Table, Table, FaultProxy) {
    let direct = common::table_with(
        Some("sk"),
        TableDefinition::default()
            .attribute_type("sk", ScalarAttributeType::N)
            .global_index(GlobalIndex::new("gsi1", "gpk")),
    )
    .await;
    let (proxied, proxy) = common::through_proxy(&direct, plan, sdk_attempts, |options| {
        options.retry(
            RetryPolicy::default()
                .max_attempts(batch_attempts)
                .min_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(10)),
        )
    })
    .await;
    (direct, proxied, proxy)
}

fn throttle(share: f64, operation: &str) -> FaultPlan {
    FaultPlan::default()
        .seed(3)
        .throttle(Throttle::ProvisionedThroughputExceeded, share)
        .operation(operation)
}

#[tokio::test]
async fn a_batch_write_throttled_past_its_retries_is_unprocessed_with_the_attempts() {
    let (direct, proxied, proxy) = behind_proxy(throttle(1.0, "BatchWriteItem"), 1, 3).await;
    let batch = (0..30).fold(proxied.batch_write(), |batch, i| {
        batch.put(key("rows", i), &Row { n: i })
    });
    let error = batch.send().await.expect_err("always throttled");
    match &error {
        Error::Unprocessed {
            operation,
            left,
            attempts,
            keys,
            items,
        } => {
            assert_eq!(*operation, "BatchWriteItem");
            assert_eq!((*left, *attempts), (30, 3));
            assert!(keys.is_empty());
            assert_eq!(items.len(), 30, "every write, to send again later");
        }
        other => panic!("expected unprocessed, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "BatchWriteItem left 30 unprocessed after 3 attempts"
    );
    assert!(error.is_retryable());
    let stats = proxy.stats();
    assert_eq!(
        stats.requests_for("BatchWriteItem"),
        6,
        "2 chunks, 3 each: {stats:?}"
    );
    assert_eq!(stats.throttled, 6);
    assert_eq!(common::count(&direct).await, 0);
}

#[tokio::test]
async fn a_batch_get_throttled_past_its_retries_is_unprocessed_with_the_keys() {
    let (direct, proxied, proxy) = behind_proxy(throttle(1.0, "BatchGetItem"), 1, 4).await;
    for i in 0..5 {
        direct
            .put_item(key("rows", i), &Row { n: i })
            .send()
            .await
            .expect("put");
    }
    let error = proxied
        .batch_get_items((0..5).map(|i| key("rows", i)))
        .send::<Row>()
        .await
        .expect_err("always throttled");
    match &error {
        Error::Unprocessed {
            operation,
            left,
            attempts,
            keys,
            items,
        } => {
            assert_eq!(*operation, "BatchGetItem");
            assert_eq!((*left, *attempts), (5, 4));
            assert_eq!(keys.len(), 5);
            assert!(items.is_empty());
        }
        other => panic!("expected unprocessed, got {other:?}"),
    }
    assert_eq!(proxy.stats().requests_for("BatchGetItem"), 4);
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_until_everything_succeeds() {
    // The batches' own retries, with the SDK's off.
    let (direct, proxied, proxy) = behind_proxy(throttle(0.5, "BatchWriteItem"), 1, 30).await;
    let batch = (0..100).fold(proxied.batch_write(), |batch, i| {
        batch.put(key("rows", i), &Row { n: i })
    });
    batch.send().await.expect("every write, in the end");
    assert_eq!(common::count(&direct).await, 100);
    let stats = proxy.stats();
    assert!(stats.throttled >= 2, "{stats:?}");
    assert_eq!(stats.requests_for("BatchWriteItem"), 4 + stats.throttled);

    // The SDK's retries, on every kind of request.
    proxy.set_plan(
        FaultPlan::default()
            .seed(5)
            .throttle(Throttle::Throttling, 0.3),
    );
    let sdk = Table::connect(
        proxy
            .table_options(direct.name())
            .partition_key("pk")
            .sort_key("sk")
            .sdk_max_attempts(10)
            .sdk_initial_backoff(Duration::from_millis(2)),
    )
    .await
    .expect("options");
    let before = proxy.stats().throttled;
    for i in 0..10 {
        sdk.put_item(key("more", i), &Row { n: i })
            .send()
            .await
            .expect("put");
        let row: Option<Row> = sdk.get_item(key("more", i)).send().await.expect("get");
        assert_eq!(row, Some(Row { n: i }));
    }
    let page = sdk
        .query("pk = :pk")
        .value(":pk", s("rows"))
        .limit(30)
        .send::<Row>()
        .await
        .expect("query");
    assert_eq!(page.items.len(), 30);
    sdk.transact_write()
        .put(Put::new(key("tx", 1), &Row { n: 1 }))
        .put(Put::new(key("tx", 2), &Row { n: 2 }))
        .send()
        .await
        .expect("transaction");
    let stats = proxy.stats();
    assert!(stats.throttled - before >= 3, "{stats:?}");
    assert_eq!(common::count(&direct).await, 112);
}

/// A row with the index key `gpk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Indexed {
    gpk: String,
    n: u32,
}

/// An item whose index key `gpk` is an empty string: DynamoDB refuses it.
fn empty_index_key(i: u32) -> Item {
    Item::from([("gpk".to_owned(), s("")), ("n".to_owned(), n(i))])
}

#[tokio::test]
async fn validation_errors_are_sent_once_and_never_again() {
    // Generous retries everywhere: none of them may fire.
    let (direct, proxied, proxy) = behind_proxy(FaultPlan::default(), 10, 10).await;

    let malformed = proxied
        .query("pk = = :pk")
        .value(":pk", s("rows"))
        .send::<Row>()
        .await
        .expect_err("a malformed key condition");
    assert_eq!(
        malformed.code(),
        Some("ValidationException"),
        "{malformed:?}"
    );
    assert!(!malformed.is_retryable());
    assert_eq!(proxy.stats().requests_for("Query"), 1);

    // An empty string in an index key, through a raw transaction: DynamoDB
    // Local answers with a ValidationException, the embedded emulator with a
    // transaction cancelled for a ValidationError.
    let error = proxied
        .transact_write()
        .put(Put::raw(key("rows", 1), empty_index_key(1)))
        .send()
        .await
        .expect_err("an empty index key");
    let validation = match &error {
        Error::TransactionCanceled { reasons, .. } => {
            reasons.failed().all(|r| r.code == "ValidationError")
        }
        other => other.code() == Some("ValidationException"),
    };
    assert!(validation, "{error:?}");
    assert!(!error.is_retryable() && !error.is_conflict(), "{error:?}");
    assert_eq!(proxy.stats().requests_for("TransactWriteItems"), 1);

    // The same item in a batch: the batch's retries leave it alone too.
    let error = proxied
        .batch_write()
        .put(
            key("rows", 2),
            &Indexed {
                gpk: String::new(),
                n: 2,
            },
        )
        .send()
        .await
        .expect_err("an empty index key");
    assert_eq!(error.code(), Some("ValidationException"), "{error:?}");
    assert!(!error.is_retryable());
    assert_eq!(proxy.stats().requests_for("BatchWriteItem"), 1);

    // An empty string in the table's key is refused before sending.
    let error = proxied
        .transact_write()
        .put(Put::raw(key("", 3), Item::new()))
        .send()
        .await
        .expect_err("an empty key");
    assert!(matches!(error, Error::InvalidKey { .. }), "{error:?}");
    let stats = proxy.stats();
    assert_eq!(stats.requests, 3, "{stats:?}");
    assert_eq!(common::count(&direct).await, 0);
}

/// A filtered index query with a limit needs the index's key names (one
/// `DescribeTable`) to cut a page that read too much. While DynamoDB does
/// not describe the table, pages read only what they lack, and are right;
/// once it does, the same query needs fewer requests.
#[tokio::test]
async fn a_filtered_index_query_is_right_whether_or_not_the_table_can_be_described() {
    let plan = FaultPlan::default().operation("DescribeTable").reset(1.0);
    let (direct, proxied, proxy) = behind_proxy(plan, 1, 1).await;
    #[derive(Serialize)]
    struct Indexed {
        n: u32,
        gpk: &'static str,
    }
    for n in 0..60u32 {
        direct
            .put_item(key("p", n), &Indexed { n, gpk: "g" })
            .send()
            .await
            .expect("put");
    }
    let query = || {
        proxied
            .query("gpk = :g")
            .value(":g", s("g"))
            .index("gsi1")
            .filter("n >= :min")
            .value(":min", common::n(50))
            .limit(3)
    };
    let read = |pages: &[dynago::Page<Row>]| -> Vec<u32> {
        pages
            .iter()
            .flat_map(|p| p.items.iter().map(|r| r.n))
            .collect()
    };
    let mut expected: Vec<u32> = (50..60).collect();
    expected.sort_unstable();

    let before = proxied.request_count();
    let undescribed: Vec<dynago::Page<Row>> = futures::TryStreamExt::try_collect(query().pages())
        .await
        .expect("pages without the index's key names");
    let undescribed_requests = proxied.request_count() - before;
    let mut found = read(&undescribed);
    found.sort_unstable();
    assert_eq!(found, expected);
    assert!(proxy.stats().requests_for("DescribeTable") >= 1);

    proxy.set_plan(FaultPlan::default());
    let before = proxied.request_count();
    let described: Vec<dynago::Page<Row>> = futures::TryStreamExt::try_collect(query().pages())
        .await
        .expect("pages with them");
    let described_requests = proxied.request_count() - before;
    assert_eq!(read(&described), read(&undescribed), "the same pages");
    assert!(
        described_requests < undescribed_requests,
        "{described_requests} requests described, {undescribed_requests} not"
    );
}
