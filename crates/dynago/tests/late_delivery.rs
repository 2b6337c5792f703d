//! Writes whose attempt ended without an answer and lands late, after its
//! caller was answered and after later writes: never answered `Ok` or "not
//! done" for a write that may apply again. An `Ok` means applied once: the
//! table shows one application after every held request has landed.
use crate::common;

use std::time::Duration;

use common::{account, key, n, raw_item, stored};
use dynago::{Condition, RetryPolicy, UpdateExpression};
use dynago_local::FaultPlan;

const HOLD: Duration = Duration::from_millis(1000);
const ATTEMPT: Duration = Duration::from_millis(200);

/// The first request of `operation` is held past the client's attempt
/// timeout and delivered late; every other request passes.
fn hold_first(operation: &str) -> FaultPlan {
    FaultPlan::default()
        .hold(HOLD, 1.0)
        .operation(operation)
        .first(1)
}

/// An unlocked increment (with its write id, the default) whose first
/// attempt is held: the SDK's second attempt applies it and the call
/// answers `Ok`. Another writer increments. The held first attempt then
/// lands: its write-id condition holds (the other writer replaced the id),
/// and the increment counts twice. `Ok` claimed "applied once".
#[tokio::test]
async fn an_increment_answered_ok_is_not_applied_again_when_its_held_attempt_lands() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, hold_first("UpdateItem"), 3, |o| {
        o.attempt_timeout(ATTEMPT)
    })
    .await;
    let k = key("counter", 1);
    let mine = proxied
        .update_item(k.clone(), UpdateExpression::new().increment("count", 1))
        .send()
        .await;
    // Another writer's increment, answered and applied once.
    direct
        .update_item(k.clone(), UpdateExpression::new().increment("count", 1))
        .send()
        .await
        .expect("the other writer's increment");
    proxy.settled().await;
    let count = raw_item(&direct, &k).await.expect("stored")["count"].clone();
    eprintln!(
        "answer: {mine:?}; count: {count:?}; stats: {:?}",
        proxy.stats()
    );
    match mine {
        Ok(outcome) => assert_eq!(
            count,
            n(2),
            "answered Ok ({outcome:?}) = applied once, but two increments made count {count:?}"
        ),
        Err(error) => assert!(error.is_outcome_unknown(), "{error:?}"),
    }
}

/// `.write_id(false)`: the answer of the first attempt is lost (it took
/// place), the SDK's resend applies the increment again, and the call
/// answers `Ok` although the interceptor noted the first attempt.
#[tokio::test]
async fn an_increment_without_write_id_whose_answer_was_lost_is_not_ok() {
    let direct = common::table().await;
    let plan = FaultPlan::default()
        .drop_answer(1.0)
        .operation("UpdateItem")
        .first(1);
    let (proxied, _proxy) = common::through_proxy(&direct, plan, 3, |o| o).await;
    let k = key("counter", 1);
    let mine = proxied
        .update_item(k.clone(), UpdateExpression::new().increment("count", 1))
        .write_id(false)
        .send()
        .await;
    let count = raw_item(&direct, &k).await.expect("stored")["count"].clone();
    match mine {
        Ok(outcome) => assert_eq!(
            count,
            n(1),
            "answered Ok ({outcome:?}) = applied once, but count is {count:?}"
        ),
        Err(error) => assert!(error.is_outcome_unknown(), "{error:?}"),
    }
}

/// A locked create (`version` 0) whose first attempt is held: the SDK's
/// second attempt creates the item (`Ok`, version 1). The owner deletes it
/// under the lock at version 1. The held attempt lands: the item is absent
/// again, so the lock's condition holds and the deleted item comes back.
#[tokio::test]
async fn a_locked_create_answered_ok_does_not_come_back_after_a_locked_delete() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, hold_first("PutItem"), 3, |o| {
        o.attempt_timeout(ATTEMPT)
    })
    .await;
    let k = key("acct", 1);
    let mine = proxied
        .put_item(k.clone(), &account(10, 0))
        .optimistic_lock("version", 0)
        .send()
        .await;
    eprintln!("create: {mine:?}");
    if let Ok(outcome) = &mine {
        assert_eq!(outcome.version, Some(1));
        direct
            .delete_item(k.clone())
            .optimistic_lock("version", 1)
            .send()
            .await
            .expect("the locked delete of version 1");
    }
    proxy.settled().await;
    let now = stored(&direct, k.clone()).await;
    eprintln!(
        "after the held attempt landed: {now:?}; stats: {:?}",
        proxy.stats()
    );
    match mine {
        Ok(outcome) => assert_eq!(
            now, None,
            "answered Ok ({outcome:?}) = created once; deleted at version 1, it is back: {now:?}"
        ),
        Err(error) => assert!(error.is_outcome_unknown(), "{error:?}"),
    }
}

/// Create-if-absent: the same with a free condition.
#[tokio::test]
async fn a_create_if_absent_answered_ok_does_not_come_back_after_a_delete() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, hold_first("PutItem"), 3, |o| {
        o.attempt_timeout(ATTEMPT)
    })
    .await;
    let k = key("acct", 1);
    let mine = proxied
        .put_item(k.clone(), &account(10, 0))
        .condition(Condition::new("attribute_not_exists(#pk)").name("#pk", "pk"))
        .send()
        .await;
    if mine.is_ok() {
        direct.delete_item(k.clone()).send().await.expect("delete");
    }
    proxy.settled().await;
    let now = stored(&direct, k.clone()).await;
    match mine {
        Ok(outcome) => assert_eq!(
            now, None,
            "answered Ok ({outcome:?}) = created once; deleted, it is back: {now:?}"
        ),
        Err(error) => assert!(error.is_outcome_unknown(), "{error:?}"),
    }
}

/// A plain put held, answered `Ok` by the SDK's second attempt; a later put
/// of the same key by the same caller is answered `Ok`; the held first
/// attempt lands and puts the older item back.
#[tokio::test]
async fn a_put_answered_ok_does_not_overwrite_a_later_put_when_its_held_attempt_lands() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, hold_first("PutItem"), 3, |o| {
        o.attempt_timeout(ATTEMPT)
    })
    .await;
    let k = key("acct", 1);
    let first = proxied.put_item(k.clone(), &account(10, 0)).send().await;
    let second = proxied
        .put_item(k.clone(), &account(20, 0))
        .send()
        .await
        .expect("the second put");
    let _ = second;
    proxy.settled().await;
    let now = stored(&direct, k.clone()).await;
    match first {
        Ok(outcome) => assert_eq!(
            now,
            Some(account(20, 0)),
            "first put answered Ok ({outcome:?}) = applied once, yet it was applied again after the second put"
        ),
        Err(error) => assert!(error.is_outcome_unknown(), "{error:?}"),
    }
}

/// A plain delete held, answered `Ok` by its second attempt; the item is
/// written again; the held delete lands and removes it.
#[tokio::test]
async fn a_delete_answered_ok_does_not_remove_a_later_item_when_its_held_attempt_lands() {
    let direct = common::table().await;
    let k = key("acct", 1);
    direct
        .put_item(k.clone(), &account(10, 0))
        .send()
        .await
        .expect("put");
    let (proxied, proxy) = common::through_proxy(&direct, hold_first("DeleteItem"), 3, |o| {
        o.attempt_timeout(ATTEMPT)
    })
    .await;
    let deleted = proxied.delete_item(k.clone()).send().await;
    direct
        .put_item(k.clone(), &account(20, 0))
        .send()
        .await
        .expect("put again");
    proxy.settled().await;
    let now = stored(&direct, k.clone()).await;
    match deleted {
        Ok(outcome) => assert_eq!(
            now,
            Some(account(20, 0)),
            "delete answered Ok ({outcome:?}) = applied once, yet it removed the item written after it"
        ),
        Err(error) => assert!(error.is_outcome_unknown(), "{error:?}"),
    }
}

/// A batch write whose every answer is lost: the items are written, and
/// `send` says `Unprocessed`, "the write requests not done", retryable.
#[tokio::test]
async fn a_batch_write_whose_answers_were_lost_is_not_reported_not_done() {
    let direct = common::table().await;
    let plan = FaultPlan::default()
        .drop_answer(1.0)
        .operation("BatchWriteItem");
    let (proxied, _proxy) = common::through_proxy(&direct, plan, 1, |o| {
        o.retry(RetryPolicy::default().max_attempts(2))
    })
    .await;
    let batch = (1..=3).fold(proxied.batch_write(), |batch, i| {
        batch.put(key("row", i), &account(i64::from(i), 0))
    });
    let answer = batch.send().await;
    let written = common::count(&direct).await;
    eprintln!("answer: {answer:?}; written: {written}");
    match answer {
        Err(dynago::Error::Unprocessed { left, .. }) => assert_eq!(
            written,
            3 - left,
            "Unprocessed says {left} writes were not done (retryable: every attempt refused), yet {written} items are written"
        ),
        Ok(()) => assert_eq!(written, 3),
        Err(error) => assert!(error.is_outcome_unknown(), "{error:?}"),
    }
}

/// A batch put held past its attempt timeout and answered by the SDK's
/// second attempt (`Ok`); the caller then writes the row anew with a put;
/// the held batch lands late and puts the older row back.
#[tokio::test]
async fn a_batch_write_answered_ok_does_not_overwrite_a_later_put() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, hold_first("BatchWriteItem"), 3, |o| {
        o.attempt_timeout(ATTEMPT)
    })
    .await;
    let k = key("acct", 1);
    let batch = proxied
        .batch_write()
        .put(k.clone(), &account(10, 0))
        .send()
        .await;
    proxied
        .put_item(k.clone(), &account(20, 0))
        .send()
        .await
        .expect("the later put");
    proxy.settled().await;
    let now = stored(&direct, k.clone()).await;
    match batch {
        Ok(()) => assert_eq!(
            now,
            Some(account(20, 0)),
            "batch answered Ok, yet it was applied again after the later put"
        ),
        Err(error) => assert!(error.is_outcome_unknown(), "{error:?}"),
    }
}
