//! Batches that DynamoDB answers in part: the fault proxy forwards some of
//! each request's keys or writes and answers the others as
//! `UnprocessedKeys` / `UnprocessedItems`. What is left is sent again, the
//! results are merged, and when the retries run out the error carries
//! exactly what was never done.
use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::{key, n, s};
use dynago::{Error, Key, RetryPolicy, Table};
use dynago_local::{FaultPlan, FaultProxy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    n: u32,
    label: String,
}

fn row(n: u32) -> Row {
    Row {
        n,
        label: format!("row {n}"),
    }
}

/// Every batch request answered in part.
fn partial() -> FaultPlan {
    FaultPlan::default()
        .unprocessed(1.0)
        .operation("BatchGetItem")
        .operation("BatchWriteItem")
}

/// A fresh table, and the same table through a proxy under `plan`, whose
/// batches make up to `batch_attempts` requests a chunk (SDK retries off).
async fn behind_proxy(plan: FaultPlan, batch_attempts: usize) -> (Table, Table, FaultProxy) {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, plan, 1, |options| {
        options.retry(
            RetryPolicy::default()
                .max_attempts(batch_attempts)
                .min_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(5)),
        )
    })
    .await;
    (direct, proxied, proxy)
}

/// The sort keys of the items of the table, read directly, in order.
async fn stored_sks(table: &Table) -> Vec<u32> {
    let mut sks: Vec<u32> = common::scan_all(table)
        .await
        .iter()
        .map(|item| match item.get("sk") {
            Some(dynago::AttributeValue::N(n)) => n.parse().expect("a numeric sort key"),
            other => panic!("no numeric sort key: {other:?}"),
        })
        .collect();
    sks.sort_unstable();
    sks
}

#[tokio::test]
async fn a_batch_get_answered_in_part_returns_every_item_in_key_order() {
    let (direct, proxied, proxy) = behind_proxy(partial(), 10).await;
    (0..300u32)
        .filter(|n| n.is_multiple_of(3))
        .fold(direct.batch_write(), |batch, n| {
            batch.put(key("p", n), &row(n))
        })
        .send()
        .await
        .expect("batch write");
    // 250 keys in a scrambled order, with missing keys and duplicates.
    let sks: Vec<u32> = (0..250u32).map(|i| (i * 97 + 13) % 211).collect();
    let mut seen = HashSet::new();
    let expected: Vec<Row> = sks
        .iter()
        .copied()
        .filter(|n| n.is_multiple_of(3) && seen.insert(*n))
        .map(row)
        .collect();
    assert!(expected.len() > 60);

    let found: Vec<Row> = proxied
        .batch_get_items(sks.iter().map(|&n| key("p", n)))
        .send()
        .await
        .expect("batch get");
    assert_eq!(found, expected);
    let stats = proxy.stats();
    // 211 distinct keys in chunks of 100, 100 and 11: half of each held
    // back at first, then half of what is left, and so on.
    assert!(stats.partial_batches >= 3, "{stats:?}");
    assert!(stats.held_back >= 50 + 50 + 5, "{stats:?}");
    assert!(stats.requests_for("BatchGetItem") > 3, "{stats:?}");
}

#[tokio::test]
async fn a_batch_write_answered_in_part_applies_every_put_and_delete() {
    let (direct, proxied, proxy) = behind_proxy(partial(), 10).await;
    (0..40u32)
        .fold(direct.batch_write(), |batch, n| {
            batch.put(key("p", n), &row(n))
        })
        .send()
        .await
        .expect("setup");
    // Deletes of the even ones, puts of 40..70: 50 writes, two chunks.
    let batch = (0..40u32)
        .filter(|n| n.is_multiple_of(2))
        .fold(proxied.batch_write(), |batch, n| batch.delete(key("p", n)));
    let batch = (40..70u32).fold(batch, |batch, n| batch.put(key("p", n), &row(n)));
    assert_eq!(batch.len(), 50);
    batch.send().await.expect("batch write");

    let expected: Vec<u32> = (0..70u32)
        .filter(|n| *n >= 40 || !n.is_multiple_of(2))
        .collect();
    assert_eq!(stored_sks(&direct).await, expected);
    let stored = direct
        .get_item(key("p", 69))
        .consistent_read(true)
        .send::<Row>()
        .await
        .expect("get");
    assert_eq!(stored, Some(row(69)));
    let stats = proxy.stats();
    assert!(stats.partial_batches >= 2, "{stats:?}");
    // Two chunks of 25, 12 of each held back at first.
    assert!(stats.held_back >= 24, "{stats:?}");
}

#[tokio::test]
async fn a_batch_write_whose_retries_run_out_reports_exactly_the_writes_left() {
    // Two attempts: 10 writes, 5 held back, then 2 of those 5.
    let (direct, proxied, proxy) = behind_proxy(partial(), 2).await;
    let batch = (0..10u32).fold(proxied.batch_write(), |batch, n| {
        batch.put(key("p", n), &row(n))
    });
    let error = batch.send().await.expect_err("retries run out");
    let left_sks = match &error {
        Error::Unprocessed {
            operation,
            left,
            attempts,
            keys,
            items,
        } => {
            assert_eq!(*operation, "BatchWriteItem");
            assert_eq!((*left, *attempts), (2, 2));
            assert!(keys.is_empty());
            items
                .iter()
                .map(|write| {
                    let put = write.put_request.as_ref().expect("a put");
                    assert_eq!(
                        put.item.get("label"),
                        Some(&s(&format!(
                            "row {}",
                            match put.item.get("sk") {
                                Some(dynago::AttributeValue::N(n)) => n.clone(),
                                other => panic!("no sort key: {other:?}"),
                            }
                        )))
                    );
                    put.item.get("sk").cloned()
                })
                .collect::<Vec<_>>()
        }
        other => panic!("expected unprocessed, got {other:?}"),
    };
    // First request: 1, 3, 5, 7, 9 held back; second: of those, 3 and 7.
    assert_eq!(left_sks, [Some(n(3)), Some(n(7))]);
    assert_eq!(stored_sks(&direct).await, [0, 1, 2, 4, 5, 6, 8, 9]);
    assert_eq!(proxy.stats().requests_for("BatchWriteItem"), 2);
}

#[tokio::test]
async fn a_batch_get_whose_retries_run_out_reports_exactly_the_keys_left() {
    let (direct, proxied, _proxy) = behind_proxy(partial(), 2).await;
    (0..10u32)
        .fold(direct.batch_write(), |batch, n| {
            batch.put(key("p", n), &row(n))
        })
        .send()
        .await
        .expect("setup");
    let error = proxied
        .batch_get_items((0..10u32).map(|n| key("p", n)))
        .send::<Row>()
        .await
        .expect_err("retries run out");
    match &error {
        Error::Unprocessed {
            operation,
            left,
            attempts,
            keys,
            items,
        } => {
            assert_eq!(*operation, "BatchGetItem");
            assert_eq!((*left, *attempts), (2, 2));
            assert!(items.is_empty());
            let expected: Vec<dynago::Item> = [3u32, 7]
                .iter()
                .map(|&sk| direct.key_item(&key("p", sk)).expect("a key"))
                .collect();
            assert_eq!(keys, &expected);
        }
        other => panic!("expected unprocessed, got {other:?}"),
    }
}

#[tokio::test]
async fn only_the_first_batch_in_part_then_whole() {
    // One partial answer, and the resend of what it left is answered whole.
    let (direct, proxied, proxy) = behind_proxy(partial().first(1), 2).await;
    let batch = (0..25u32).fold(proxied.batch_write(), |batch, n| {
        batch.put(key("p", n), &row(n))
    });
    batch.send().await.expect("two requests suffice");
    assert_eq!(stored_sks(&direct).await, (0..25).collect::<Vec<_>>());
    let stats = proxy.stats();
    assert_eq!(stats.requests_for("BatchWriteItem"), 2, "{stats:?}");
    assert_eq!(stats.held_back, 12, "{stats:?}");
    let missing: Vec<Row> = proxied
        .batch_get_items([Key::new(s("nobody")).sort(n(1))])
        .send()
        .await
        .expect("batch get");
    assert!(missing.is_empty());
}
