//! The store's metrics, captured by a recorder of the test's own while real
//! commands run against DynamoDB: each command counted once by outcome,
//! with its duration and the events its load read; conflicts decided again
//! counted as retries; and the table layer's requests and capacity beneath.
use crate::common;
use crate::common::StoreErr;

use std::time::Duration;

use common::{open, Account, AccountCommand, AccountError};
use dynago::metrics::{CAPACITY_UNITS, REQUESTS};
use dynago::RetryPolicy;
use dynago_es::metrics::{COMMANDS, COMMAND_DURATION, LOAD_EVENTS};
use dynago_es::{CommandId, CommandOptions, EventStore, StoreOptions};
use dynago_local::testing::metrics::Metrics;
use dynago_local::{FaultPlan, Throttle};

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

fn outcome(outcome: &str) -> [(&str, &str); 2] {
    [("aggregate", "account"), ("outcome", outcome)]
}

#[tokio::test]
async fn commands_are_counted_by_outcome_with_their_duration_loads_and_requests() {
    let store = common::store(StoreOptions::default()).await;
    let table = store.table().name().to_owned();
    let metrics = Metrics::new();
    let _installed = metrics.install();

    store.execute("acc", open("ada")).await.expect("open");
    store.execute("acc", deposit(50)).await.expect("deposit");
    let refused = store
        .execute("acc", AccountCommand::Withdraw { amount: 80 })
        .await;
    assert!(
        matches!(
            refused.as_ref().map_err(|e| e.rejection()),
            Err(Some(AccountError::InsufficientFunds { .. }))
        ),
        "{refused:?}"
    );
    let once = || CommandOptions::default().command_id(CommandId::new("req-1"));
    store
        .execute_with("acc", deposit(5), once())
        .await
        .expect("a deposit with an id");
    let again = store
        .execute_with("acc", deposit(5), once())
        .await
        .expect("the same deposit again");
    assert!(again.duplicate);

    let recorded = metrics.take();
    assert_eq!(recorded.counter(COMMANDS, &outcome("applied")), 3);
    assert_eq!(recorded.counter(COMMANDS, &outcome("rejected")), 1);
    assert_eq!(recorded.counter(COMMANDS, &outcome("duplicate")), 1);
    assert_eq!(recorded.counter(COMMANDS, &[]), 5, "no other outcome");
    let durations = recorded.histogram(COMMAND_DURATION, &[("aggregate", "account")]);
    assert_eq!(durations.len(), 5);
    assert!(
        durations.iter().all(|d| *d > 0.0 && *d < 60.0),
        "{durations:?}"
    );
    // No cache: each command that decided loaded the stream first (the
    // repeat read only its record).
    assert_eq!(
        recorded.histogram(LOAD_EVENTS, &[("aggregate", "account")]),
        [0.0, 1.0, 2.0, 2.0]
    );

    // Beneath: a query per load and one for the events the repeat answers
    // with, a put per commit, the command record read twice and written
    // once on its own, before its event.
    let on = |operation| [("table", table.as_str()), ("operation", operation)];
    assert_eq!(recorded.counter(REQUESTS, &on("Query")), 4 + 1);
    assert_eq!(recorded.counter(REQUESTS, &on("PutItem")), 4);
    assert_eq!(recorded.counter(REQUESTS, &on("GetItem")), 2);
    assert_eq!(recorded.counter(REQUESTS, &on("TransactWriteItems")), 0);
    let write = [("table", table.as_str()), ("kind", "write")];
    // One unit a small put: three events, and a record.
    assert_eq!(recorded.gauge(CAPACITY_UNITS, &write), 4.0);
    assert!(recorded.gauge(CAPACITY_UNITS, &[("kind", "read")]) > 0.0);
}

#[tokio::test]
async fn a_conflict_decided_again_is_a_retry_and_one_past_the_policy_a_conflict() {
    let patient = common::store(StoreOptions::default().cache(100)).await;
    let table = patient.table().clone();
    let hasty = EventStore::<Account>::new(
        table.clone(),
        StoreOptions::default()
            .cache(100)
            .retry(RetryPolicy::default().max_attempts(1)),
    )
    .expect("a store");
    let other = EventStore::<Account>::new(table, StoreOptions::default()).expect("a store");
    patient.execute("a", open("ada")).await.expect("open");
    hasty.execute("b", open("bob")).await.expect("open");
    // Both caches fall behind.
    other.execute("a", deposit(1)).await.expect("deposit");
    other.execute("b", deposit(1)).await.expect("deposit");

    let metrics = Metrics::new();
    let _installed = metrics.install();
    let outcome_a = patient
        .execute("a", deposit(2))
        .await
        .expect("decided again");
    assert_eq!(outcome_a.attempts, 2);
    let error = hasty
        .execute("b", deposit(2))
        .await
        .store_err("no second decision allowed");
    assert!(error.conflict_versions().is_some(), "{error:?}");

    let recorded = metrics.take();
    assert_eq!(recorded.counter(COMMANDS, &outcome("retried")), 1);
    assert_eq!(recorded.counter(COMMANDS, &outcome("applied")), 1);
    assert_eq!(recorded.counter(COMMANDS, &outcome("conflict")), 1);
    assert_eq!(recorded.counter(COMMANDS, &[]), 3);
    assert_eq!(
        recorded
            .histogram(COMMAND_DURATION, &[("aggregate", "account")])
            .len(),
        2,
        "a retry is no command of its own"
    );
}

#[tokio::test]
async fn a_commit_whose_outcome_cannot_be_read_is_counted_unknown() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
    let store = EventStore::<Account>::new(
        proxied,
        StoreOptions::default().retry(
            RetryPolicy::default()
                .max_attempts(2)
                .min_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(2)),
        ),
    )
    .expect("a store");
    store.execute("acc", open("ada")).await.expect("open");
    // The commit's answer is lost, then every request throttled: neither a
    // resend nor a read tells whether it landed.
    proxy.set_plan(
        FaultPlan::default()
            .drop_answer(1.0)
            .operation("PutItem")
            .first(1)
            .then(FaultPlan::default().throttle(Throttle::Throttling, 1.0)),
    );

    let metrics = Metrics::new();
    let _installed = metrics.install();
    let error = store
        .execute("acc", deposit(100))
        .await
        .store_err("neither the resend nor the read got through");
    assert!(error.is_outcome_unknown(), "{error:?}");
    let recorded = metrics.take();
    assert_eq!(recorded.counter(COMMANDS, &outcome("unknown")), 1);
    assert_eq!(recorded.counter(COMMANDS, &[]), 1);
}
