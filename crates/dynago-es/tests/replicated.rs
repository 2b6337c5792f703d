//! Multi-Region strongly consistent global tables: a write that races a
//! write from another Region is refused with
//! `ReplicatedWriteConflictException` (nothing written). The store takes
//! it as a conflict: it reads again and decides again, for a commit of one
//! item, a command's reserved record, and a transaction alike.

use crate::common;
use crate::common::StoreErr;

use common::{Account, AccountCommand};
use dynago::{RetryPolicy, Table};
use dynago_es::{AggregateId, CommandId, CommandOptions, EventStore, StoreOptions};
use dynago_local::{FaultPlan, FaultProxy};

/// A table behind a fault proxy, the SDK sending each request once (so
/// that each answer the proxy gives reaches the store).
async fn behind_proxy() -> (Table, Table, FaultProxy) {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
    (direct, proxied, proxy)
}

/// The first request of `operation` refused as another Region's write
/// would have it refused.
fn refuse_first(operation: &str) -> FaultPlan {
    FaultPlan::default()
        .replicated_write_conflict(1.0)
        .operation(operation)
        .first(1)
}

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

#[tokio::test]
async fn a_commit_refused_for_another_region_is_decided_again_and_lands_once() {
    let (direct, proxied, proxy) = behind_proxy().await;
    let accounts = EventStore::<Account>::new(proxied, StoreOptions::default()).expect("a store");
    accounts
        .execute("acc", common::open("ada"))
        .await
        .expect("open");
    proxy.set_plan(refuse_first("PutItem"));
    let outcome = accounts
        .execute("acc", deposit(5))
        .await
        .expect("a deposit");
    assert_eq!((outcome.version, outcome.attempts), (2, 2), "decided again");
    assert_eq!(proxy.stats().replicated_write_conflicts, 1);
    let direct = EventStore::<Account>::new(direct, StoreOptions::default()).expect("a store");
    assert_eq!(common::versions(&direct, "acc").await, vec![1, 2]);
    assert_eq!(direct.load("acc").await.expect("load").state.balance, 5);
}

#[tokio::test]
async fn a_record_or_a_commit_refused_for_another_region_leaves_one_application() {
    let (direct, proxied, proxy) = behind_proxy().await;
    let accounts = EventStore::<Account>::new(proxied, StoreOptions::default()).expect("a store");
    accounts
        .execute("acc", common::open("ada"))
        .await
        .expect("open");
    // The record refused; then, in a second command, the commit after its
    // record.
    let plans = [
        refuse_first("PutItem"),
        FaultPlan::default()
            .operation("PutItem")
            .first(1)
            .then(refuse_first("PutItem")),
    ];
    for (n, plan) in plans.into_iter().enumerate() {
        proxy.set_plan(plan);
        let id = CommandId::new(format!("rw-{n}"));
        let outcome = accounts
            .execute_with(
                "acc",
                deposit(10),
                CommandOptions::default().command_id(id.clone()),
            )
            .await
            .expect("a deposit with an id");
        assert!(!outcome.duplicate, "{outcome:?}");
        assert_eq!(outcome.attempts, 2, "decided again");
        let again = accounts
            .execute_with("acc", deposit(10), CommandOptions::default().command_id(id))
            .await
            .expect("the same again");
        assert!(again.duplicate);
        assert_eq!(again.version, outcome.version);
    }
    let direct = EventStore::<Account>::new(direct, StoreOptions::default()).expect("a store");
    assert_eq!(direct.load("acc").await.expect("load").state.balance, 20);
    assert_eq!(common::versions(&direct, "acc").await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_transaction_refused_for_another_region_is_decided_again() {
    let (_direct, proxied, proxy) = behind_proxy().await;
    let accounts = EventStore::<Account>::new(proxied, StoreOptions::default()).expect("a store");
    for id in ["a", "b"] {
        accounts.execute(id, common::open(id)).await.expect("open");
    }
    accounts.execute("a", deposit(9)).await.expect("deposit");
    proxy.set_plan(refuse_first("TransactWriteItems"));
    let outcomes = accounts
        .execute_all(
            vec![
                (
                    AggregateId::from("a"),
                    AccountCommand::Withdraw { amount: 4 },
                ),
                (AggregateId::from("b"), deposit(4)),
            ],
            CommandOptions::default(),
        )
        .await
        .expect("a transfer");
    assert!(outcomes.iter().all(|outcome| outcome.attempts == 2));
}

#[tokio::test]
async fn past_the_retry_policy_it_is_a_conflict_never_retryable_nothing_written() {
    let (direct, proxied, proxy) = behind_proxy().await;
    let hasty = EventStore::<Account>::new(
        proxied,
        StoreOptions::default().retry(RetryPolicy::default().max_attempts(1)),
    )
    .expect("a store");
    hasty
        .execute("acc", common::open("ada"))
        .await
        .expect("open");
    proxy.set_plan(refuse_first("PutItem"));
    let error = hasty
        .execute("acc", deposit(5))
        .await
        .store_err("refused once, no second decision allowed");
    // Conflicts to the end of the policy, as any other.
    assert!(
        matches!(&error, dynago_es::Error::RetriesExhausted { last, .. } if last.is_conflict()),
        "{error:?}"
    );
    assert!(
        !error.is_retryable() && !error.is_outcome_unknown(),
        "{error:?}"
    );
    let direct = EventStore::<Account>::new(direct, StoreOptions::default()).expect("a store");
    assert_eq!(common::versions(&direct, "acc").await, vec![1]);
}
