//! Optimistic locking on a version attribute: create, update, stale writes,
//! writes after a delete, locked deletes, a lock combined with a condition,
//! and many concurrent writers.
use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{account, key, n, raw_item, stored, Account};
use dynago::{Condition, Error};
use serde::{Deserialize, Serialize};

fn expect_conflict(err: &Error, expected: u64, actual: Option<u64>) {
    match err {
        Error::VersionConflict {
            expected: e,
            actual: a,
            ..
        } => assert_eq!((*e, *a), (expected, actual), "{err}"),
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_eq!(
        err.version_conflict(),
        Some(dynago::LockVersions { expected, actual })
    );
    assert!(err.is_conflict());
    assert!(!err.is_retryable());
    assert_eq!(err.code(), Some("ConditionalCheckFailedException"));
}

#[tokio::test]
async fn version_zero_creates_and_never_replaces() {
    let table = common::table().await;
    let outcome = table
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    assert_eq!(outcome.version, Some(1));
    assert!(!outcome.recovered);
    let raw = raw_item(&table, &key("acct", 1)).await.expect("stored");
    assert_eq!(raw.get("version"), Some(&n(1)));
    assert_eq!(stored(&table, key("acct", 1)).await, Some(account(10, 1)));

    // The very same create again: the item exists, so it is a conflict, not
    // a success.
    let err = table
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect_err("the item exists");
    expect_conflict(&err, 0, Some(1));

    // Another create with other content: refused, nothing changed.
    let err = table
        .put_item(key("acct", 1), &account(999, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect_err("the item exists");
    expect_conflict(&err, 0, Some(1));
    assert_eq!(stored(&table, key("acct", 1)).await, Some(account(10, 1)));
}

#[tokio::test]
async fn update_with_the_right_version_stores_the_next_version() {
    let table = common::table().await;
    table
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    for expected in 1..=5u64 {
        let mut current = stored(&table, key("acct", 1)).await.expect("exists");
        assert_eq!(current.version, expected);
        current.balance += 10;
        let outcome = table
            .put_item(key("acct", 1), &current)
            .optimistic_lock("version", current.version)
            .send()
            .await
            .expect("update");
        assert_eq!(outcome.version, Some(expected + 1));
    }
    assert_eq!(stored(&table, key("acct", 1)).await, Some(account(60, 6)));
    let raw = raw_item(&table, &key("acct", 1)).await.expect("stored");
    assert_eq!(raw.get("version"), Some(&n(6)));
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_naming_the_stored_version() {
    let table = common::table().await;
    table
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    let read_by_a = stored(&table, key("acct", 1)).await.expect("exists");
    let read_by_b = read_by_a.clone();
    // A writes version 2, then 3.
    let mut a = read_by_a;
    for _ in 0..2 {
        a.balance += 1;
        let outcome = table
            .put_item(key("acct", 1), &a)
            .optimistic_lock("version", a.version)
            .send()
            .await
            .expect("A's update");
        a.version = outcome.version.expect("locked write");
    }
    assert_eq!(a.version, 3);
    // B still holds version 1.
    let mut b = read_by_b;
    b.balance = -1_000;
    let err = table
        .put_item(key("acct", 1), &b)
        .optimistic_lock("version", b.version)
        .send()
        .await
        .expect_err("stale");
    expect_conflict(&err, 1, Some(3));
    // A version from the future is no better.
    let err = table
        .put_item(key("acct", 1), &b)
        .optimistic_lock("version", 7)
        .send()
        .await
        .expect_err("not the stored version");
    expect_conflict(&err, 7, Some(3));
    assert_eq!(stored(&table, key("acct", 1)).await, Some(account(12, 3)));
}

#[tokio::test]
async fn a_stale_write_after_a_delete_fails_and_does_not_recreate() {
    let table = common::table().await;
    table
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    let read = stored(&table, key("acct", 1)).await.expect("exists");
    table
        .put_item(key("acct", 1), &read)
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect("update to version 2");
    table
        .delete_item(key("acct", 1))
        .send()
        .await
        .expect("delete");
    for expected in [1, 2] {
        let err = table
            .put_item(key("acct", 1), &account(50, expected))
            .optimistic_lock("version", expected)
            .send()
            .await
            .expect_err("the item is gone");
        expect_conflict(&err, expected, None);
        assert_eq!(raw_item(&table, &key("acct", 1)).await, None);
    }
    assert_eq!(common::count(&table).await, 0);

    // Creating it again is what version 0 is for.
    let outcome = table
        .put_item(key("acct", 1), &account(5, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create again");
    assert_eq!(outcome.version, Some(1));
    assert_eq!(stored(&table, key("acct", 1)).await, Some(account(5, 1)));
}

#[tokio::test]
async fn a_stale_write_after_a_locked_delete_fails_too() {
    let table = common::table().await;
    table
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    table
        .delete_item(key("acct", 1))
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect("delete at version 1");
    let err = table
        .put_item(key("acct", 1), &account(10, 1))
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect_err("gone");
    expect_conflict(&err, 1, None);
    assert_eq!(raw_item(&table, &key("acct", 1)).await, None);
}

#[tokio::test]
async fn a_locked_delete_needs_the_stored_version() {
    let table = common::table().await;
    table
        .put_item(key("acct", 1), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    let current = stored(&table, key("acct", 1)).await.expect("exists");
    table
        .put_item(key("acct", 1), &current)
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect("update to 2");

    let err = table
        .delete_item(key("acct", 1))
        .optimistic_lock("version", 1)
        .send()
        .await
        .expect_err("stale");
    expect_conflict(&err, 1, Some(2));
    assert_eq!(stored(&table, key("acct", 1)).await, Some(account(10, 2)));

    let outcome = table
        .delete_item(key("acct", 1))
        .optimistic_lock("version", 2)
        .return_old(true)
        .send()
        .await
        .expect("right version");
    assert_eq!(
        outcome.old::<Account>(&table).expect("an Account"),
        Some(account(10, 2))
    );
    assert_eq!(stored(&table, key("acct", 1)).await, None);

    // Deleting again under the lock: nothing there.
    let err = table
        .delete_item(key("acct", 1))
        .optimistic_lock("version", 2)
        .send()
        .await
        .expect_err("gone");
    expect_conflict(&err, 2, None);
}

/// `balance >= min`, with placeholders of its own.
fn at_least(min: i64) -> Condition {
    Condition::new("#balance >= :min")
        .name("#balance", "balance")
        .value(":min", n(min))
}

fn expect_condition_failed(err: &Error) {
    assert!(
        matches!(err, Error::ConditionFailed { .. }),
        "expected the condition to fail, got {err:?}"
    );
    assert_eq!(err.version_conflict(), None, "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_lock_and_a_condition_must_both_hold_on_the_server() {
    let table = common::table().await;
    // A create under the lock, with a condition about the absent item.
    let err = table
        .put_item(key("acct", 1), &account(100, 0))
        .optimistic_lock("version", 0)
        .condition(at_least(0))
        .send()
        .await
        .expect_err("no balance to compare on an absent item");
    expect_condition_failed(&err);
    assert_eq!(raw_item(&table, &key("acct", 1)).await, None);
    let outcome = table
        .put_item(key("acct", 1), &account(100, 0))
        .optimistic_lock("version", 0)
        .condition(Condition::new("attribute_not_exists(#owner)").name("#owner", "owner"))
        .send()
        .await
        .expect("create");
    assert_eq!(outcome.version, Some(1));

    // Both hold: written, at the next version.
    let outcome = table
        .put_item(key("acct", 1), &account(60, 1))
        .optimistic_lock("version", 1)
        .condition(at_least(40))
        .send()
        .await
        .expect("the lock and the condition hold");
    assert_eq!(outcome.version, Some(2));
    assert_eq!(stored(&table, key("acct", 1)).await, Some(account(60, 2)));

    // The lock holds, the condition does not: the condition's failure.
    let err = table
        .put_item(key("acct", 1), &account(0, 2))
        .optimistic_lock("version", 2)
        .condition(at_least(61))
        .send()
        .await
        .expect_err("balance too low");
    expect_condition_failed(&err);
    match &err {
        Error::ConditionFailed { item, .. } => {
            let item = item.as_ref().expect("the stored item comes back");
            assert_eq!(item.get("balance"), Some(&n(60)));
        }
        other => panic!("{other:?}"),
    }
    // The condition holds, the lock does not; or neither: a conflict.
    for min in [0, 1_000] {
        let err = table
            .put_item(key("acct", 1), &account(0, 1))
            .optimistic_lock("version", 1)
            .condition(at_least(min))
            .send()
            .await
            .expect_err("stale");
        expect_conflict(&err, 1, Some(2));
    }
    assert_eq!(stored(&table, key("acct", 1)).await, Some(account(60, 2)));

    // The same on a delete.
    let err = table
        .delete_item(key("acct", 1))
        .optimistic_lock("version", 2)
        .condition(at_least(61))
        .send()
        .await
        .expect_err("balance too low");
    expect_condition_failed(&err);
    let err = table
        .delete_item(key("acct", 1))
        .optimistic_lock("version", 1)
        .condition(at_least(0))
        .send()
        .await
        .expect_err("stale");
    expect_conflict(&err, 1, Some(2));
    assert_eq!(stored(&table, key("acct", 1)).await, Some(account(60, 2)));
    table
        .delete_item(key("acct", 1))
        .optimistic_lock("version", 2)
        .condition(at_least(60))
        .send()
        .await
        .expect("both hold");
    assert_eq!(raw_item(&table, &key("acct", 1)).await, None);
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Counter {
    count: u64,
    version: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_lose_nothing() {
    const TASKS: u64 = 16;
    const INCREMENTS: u64 = 25;
    let table = common::table().await;
    table
        .put_item(
            key("counter", 0),
            &Counter {
                count: 0,
                version: 0,
            },
        )
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let table = table.clone();
        let conflicts = Arc::clone(&conflicts);
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < INCREMENTS {
                let mut counter: Counter = table
                    .get_item(key("counter", 0))
                    .consistent_read(true)
                    .send()
                    .await
                    .expect("get")
                    .expect("the counter exists");
                counter.count += 1;
                match table
                    .put_item(key("counter", 0), &counter)
                    .optimistic_lock("version", counter.version)
                    .send()
                    .await
                {
                    Ok(outcome) => {
                        assert_eq!(outcome.version, Some(counter.version + 1));
                        done += 1;
                    }
                    Err(e) if e.is_conflict() => {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                        tokio::task::yield_now().await;
                    }
                    Err(e) => panic!("unexpected error: {e:?}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let counter: Counter = table
        .get_item(key("counter", 0))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        counter,
        Counter {
            count: TASKS * INCREMENTS,
            version: TASKS * INCREMENTS + 1,
        },
        "{} conflicts were retried",
        conflicts.load(Ordering::Relaxed)
    );
}
