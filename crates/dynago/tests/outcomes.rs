//! What a failed write's error says of its outcome: an error is
//! [retryable](dynago::Error::is_retryable) only when every attempt was
//! refused, and [unknown](dynago::Error::is_outcome_unknown) when one of
//! them ended without a definitive answer, whatever the last one said.
use crate::common;

use common::{key, n, raw_item};
use dynago::{UpdateExpression, WriteOutcome};
use dynago_local::{FaultPlan, Throttle};

/// The answer of the first `operation` request lost (it took place), and
/// every later request of it throttled.
fn lost_then_throttled(operation: &str) -> FaultPlan {
    FaultPlan::default()
        .drop_answer(1.0)
        .operation(operation)
        .first(1)
        .then(
            FaultPlan::default()
                .throttle(Throttle::Throttling, 1.0)
                .operation(operation),
        )
}

#[tokio::test]
async fn an_add_whose_answer_was_lost_is_not_sent_again_and_is_unknown() {
    let direct = common::table().await;
    let (proxied, proxy) =
        common::through_proxy(&direct, lost_then_throttled("UpdateItem"), 3, |o| o).await;
    let error = proxied
        .update_item(key("counter", 1), UpdateExpression::new().add("n", 1))
        .write_id(false)
        .send()
        .await
        .expect_err("no answer");
    assert!(error.is_outcome_unknown(), "{error:?}");
    assert!(!error.is_retryable(), "{error:?}");
    assert!(!error.is_conflict(), "{error:?}");
    assert!(
        error.to_string().contains("unknown"),
        "the message says so: {error}"
    );
    // The first attempt took place: a caller told "retryable" would count
    // twice, and so would a resend of the SDK's.
    let item = raw_item(&direct, &key("counter", 1))
        .await
        .expect("written");
    assert_eq!(item.get("n"), Some(&n(1)));
    let stats = proxy.stats();
    assert_eq!(
        (stats.dropped_answers, stats.requests_for("UpdateItem")),
        (1, 1),
        "not sent again: {stats:?}"
    );
}

#[tokio::test]
async fn an_add_with_its_write_id_whose_answer_was_lost_is_read_back_applied_once() {
    let direct = common::table().await;
    let (proxied, proxy) =
        common::through_proxy(&direct, lost_then_throttled("UpdateItem"), 3, |o| o).await;
    let outcome = proxied
        .update_item(key("counter", 1), UpdateExpression::new().add("n", 1))
        .send()
        .await
        .expect("read back with its write id");
    assert!(outcome.recovered, "{outcome:?}");
    let item = raw_item(&direct, &key("counter", 1))
        .await
        .expect("written");
    assert_eq!(item.get("n"), Some(&n(1)));
    assert_eq!(proxy.stats().requests_for("UpdateItem"), 1);
}

#[tokio::test]
async fn a_put_whose_only_attempt_lost_its_answer_is_unknown() {
    let direct = common::table().await;
    let plan = FaultPlan::default()
        .drop_answer(1.0)
        .operation("PutItem")
        .first(1);
    let (proxied, _proxy) = common::through_proxy(&direct, plan, 1, |o| o).await;
    let error = proxied
        .put_item(key("row", 1), &common::account(5, 0))
        .send()
        .await
        .expect_err("no answer");
    assert!(error.is_outcome_unknown(), "{error:?}");
    assert!(!error.is_retryable(), "{error:?}");
    assert!(raw_item(&direct, &key("row", 1)).await.is_some());
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_is_unknown_and_not_sent_again() {
    let direct = common::table().await;
    direct
        .put_item(key("row", 1), &common::account(5, 0))
        .send()
        .await
        .expect("create");
    let plan = FaultPlan::default()
        .drop_answer(1.0)
        .operation("DeleteItem")
        .first(1);
    let (proxied, proxy) = common::through_proxy(&direct, plan, 3, |o| o).await;
    let error = proxied
        .delete_item(key("row", 1))
        .condition(dynago::Condition::new("attribute_exists(pk)"))
        .send()
        .await
        .expect_err("no answer: its own delete and another's look alike");
    assert!(error.is_outcome_unknown(), "{error:?}");
    assert_eq!(
        proxy.stats().requests_for("DeleteItem"),
        1,
        "not sent again"
    );
    assert!(raw_item(&direct, &key("row", 1)).await.is_none());
}

#[tokio::test]
async fn writes_that_were_only_ever_refused_stay_retryable() {
    let direct = common::table().await;
    for kind in [
        Throttle::Throttling,
        Throttle::ProvisionedThroughputExceeded,
        Throttle::ServiceUnavailable,
    ] {
        let plan = FaultPlan::default()
            .throttle(kind, 1.0)
            .operation("UpdateItem");
        let (proxied, _proxy) = common::through_proxy(&direct, plan, 3, |o| o).await;
        let error = proxied
            .update_item(key("counter", 1), UpdateExpression::new().add("n", 1))
            .send()
            .await
            .expect_err("always refused");
        assert!(error.is_retryable(), "{kind:?}: {error:?}");
        assert!(!error.is_outcome_unknown(), "{kind:?}: {error:?}");
    }
    assert!(raw_item(&direct, &key("counter", 1)).await.is_none());
}

#[tokio::test]
async fn a_server_failure_of_a_write_leaves_its_outcome_unknown() {
    // DynamoDB may have applied a write it answered with a 500.
    let direct = common::table().await;
    let plan = FaultPlan::default()
        .throttle(Throttle::InternalServerError, 1.0)
        .operation("PutItem");
    let (proxied, _proxy) = common::through_proxy(&direct, plan, 2, |o| o).await;
    let error = proxied
        .put_item(key("row", 1), &common::account(5, 0))
        .send()
        .await
        .expect_err("always failing");
    assert!(error.is_outcome_unknown(), "{error:?}");
    // Reads are never unknown: a read applies nothing.
    let read = proxied.get_item(key("row", 1)).send_raw().await;
    assert!(read.is_ok(), "{read:?}");
}

#[tokio::test]
async fn a_locked_put_whose_answer_was_lost_and_whose_resend_was_throttled_then_answered_is_recovered(
) {
    // Lost, throttled, then answered: the last attempt's failed condition
    // carries the put's own write id, which settles it.
    let direct = common::table().await;
    let plan = FaultPlan::default()
        .drop_answer(1.0)
        .operation("PutItem")
        .first(1)
        .then(
            FaultPlan::default()
                .throttle(Throttle::Throttling, 1.0)
                .operation("PutItem")
                .first(1),
        );
    let (proxied, _proxy) = common::through_proxy(&direct, plan, 3, |o| o).await;
    let outcome: WriteOutcome = proxied
        .put_item(key("acct", 1), &common::account(5, 0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("its own write, recognised");
    assert!(outcome.recovered, "{outcome:?}");
    assert_eq!(outcome.version, Some(1));
}

#[tokio::test]
async fn an_add_held_past_its_timeout_is_unknown_and_lands_later() {
    let direct = common::table().await;
    let plan = FaultPlan::default()
        .hold(std::time::Duration::from_millis(1000), 1.0)
        .operation("UpdateItem")
        .first(1)
        .then(
            FaultPlan::default()
                .throttle(Throttle::Throttling, 1.0)
                .operation("UpdateItem"),
        );
    let (proxied, proxy) = common::through_proxy(&direct, plan, 3, |options| {
        options.attempt_timeout(std::time::Duration::from_millis(200))
    })
    .await;
    let error = proxied
        .update_item(key("counter", 1), UpdateExpression::new().add("n", 1))
        .send()
        .await
        .expect_err("timed out, then throttled");
    assert!(error.is_outcome_unknown(), "{error:?}");
    assert!(!error.is_retryable(), "{error:?}");
    proxy.settled().await;
    let item = raw_item(&direct, &key("counter", 1))
        .await
        .expect("landed late");
    assert_eq!(item.get("n"), Some(&n(1)));
}
