//! Commits whose answer is lost, through a fault-injecting proxy: every
//! command lands exactly once, whoever sends it again (the SDK, the store or
//! the caller), and throttled or flaky writers lose nothing.
//!
//! DynamoDB recognises a transaction sent again with the same client request
//! token by itself; each lost-answer case also runs with the proxy stripping
//! the tokens, so that the store's own recognition of its commit id (what
//! happens after DynamoDB's 10-minute idempotency window) is what is tested.
use crate::common;
use crate::common::StoreErr;

use std::time::Duration;

use common::{Account, AccountCommand};
use dynago::{RetryPolicy, Table};
use dynago_es::{CommandId, CommandOptions, Error, EventStore, StoreOptions};
use dynago_local::{FaultPlan, FaultProxy, Throttle};
use futures::TryStreamExt;

/// A fresh table, a proxy in front of the shared server, and the table
/// through the proxy, whose SDK makes `sdk_attempts` attempts per request
/// (2 ms backoff, 30 s per attempt).
async fn behind_proxy(sdk_attempts: u32) -> (Table, Table, FaultProxy) {
    let direct = common::table().await;
    let (proxied, proxy) =
        common::through_proxy(&direct, FaultPlan::default(), sdk_attempts, |o| o).await;
    (direct, proxied, proxy)
}

fn store(table: Table, options: StoreOptions) -> EventStore<Account> {
    EventStore::new(table, options).expect("a store")
}

/// The answer of the next commit (a PutItem for one aggregate, a
/// TransactWriteItems across aggregates) only is lost; with `strip`,
/// DynamoDB does not see the client request tokens.
fn lose_next_commit(strip: bool) -> FaultPlan {
    FaultPlan::default()
        .drop_answer(1.0)
        .operation("TransactWriteItems")
        .operation("PutItem")
        .first(1)
        .strip_client_request_tokens(strip)
}

/// `plan` once the next `PutItem` (a command's record, reserved before
/// its events) has passed untouched.
fn after_the_record(plan: FaultPlan) -> FaultPlan {
    FaultPlan::default()
        .operation("PutItem")
        .first(1)
        .then(plan)
}

/// The next request of any kind throttled, then nothing.
fn unreadable_once() -> FaultPlan {
    FaultPlan::default()
        .throttle(Throttle::Throttling, 1.0)
        .first(1)
}

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

async fn open(store: &EventStore<Account>, id: &str) {
    store
        .execute(
            id,
            AccountCommand::Open {
                owner: "ada".into(),
            },
        )
        .await
        .expect("open");
}

async fn versions(store: &EventStore<Account>, id: &str) -> Vec<u64> {
    store
        .events(id, 1)
        .map_ok(|event| event.version)
        .try_collect()
        .await
        .expect("events")
}

/// Checks, reading directly, that `id` holds exactly these deposits: through
/// the store, and in the raw event items past it.
async fn assert_deposits(store: &EventStore<Account>, id: &str, amounts: &[i64]) {
    let loaded = store.load(id).await.expect("load");
    let count = amounts.len() as u64;
    assert_eq!(
        common::raw_event_versions(store.table(), "account", id).await,
        (1..=count + 1).collect::<Vec<_>>(),
        "the event items of {id}"
    );
    assert_eq!(loaded.state.balance, amounts.iter().sum::<i64>(), "{id}");
    assert_eq!(loaded.state.deposits, count, "{id}");
    assert_eq!(loaded.version, count + 1, "{id}");
    assert_eq!(
        versions(store, id).await,
        (1..=count + 1).collect::<Vec<_>>(),
        "{id}"
    );
}

/// One deposit whose commit answer is lost, resent by the SDK
/// (`sdk_attempts` > 1) or by the store (`sdk_attempts` = 1).
async fn lost_commit_lands_once(sdk_attempts: u32, strip: bool, command_id: Option<&str>) {
    let options = match command_id {
        Some(id) => CommandOptions::default().command_id(CommandId::new(id)),
        None => CommandOptions::default(),
    };
    let (direct, proxied, proxy) = behind_proxy(sdk_attempts).await;
    let accounts = store(proxied, StoreOptions::default());
    open(&accounts, "acc").await;

    // With a command id, the commit follows the command's record.
    let lose = lose_next_commit(strip);
    proxy.set_plan(match command_id {
        Some(_) => after_the_record(lose),
        None => lose,
    });
    let outcome = accounts
        .execute_with("acc", deposit(100), options)
        .await
        .expect("the deposit took place; its resend finds it");
    assert_eq!(outcome.version, 2);
    assert!(!outcome.duplicate);
    assert_eq!(outcome.attempts, 1, "decided once, sent twice");
    assert_eq!(outcome.state.map(|a| a.balance), Some(100));

    let stats = proxy.stats();
    assert_eq!(stats.dropped_answers, 1);
    let record = u64::from(command_id.is_some());
    assert_eq!(
        common::writes(&stats),
        3 + record,
        "open, (the record,) lost, resent: {stats:?}"
    );
    // One event is one PutItem, which has no token, with a command id too.
    assert_eq!(stats.requests_for("TransactWriteItems"), 0, "{stats:?}");
    assert_eq!(stats.tokens_stripped, 0);
    assert_deposits(&store(direct, StoreOptions::default()), "acc", &[100]).await;
}

#[tokio::test]
async fn a_deposit_whose_commit_answer_is_lost_lands_once() {
    for strip in [false, true] {
        lost_commit_lands_once(3, strip, None).await;
    }
}

#[tokio::test]
async fn without_sdk_retries_the_store_resends_and_recognises_its_commit() {
    for strip in [false, true] {
        lost_commit_lands_once(1, strip, None).await;
        // With a command id, the command record is recognised too.
        lost_commit_lands_once(1, strip, Some("deposit-1")).await;
    }
}

#[tokio::test]
async fn a_lost_commit_of_a_cached_aggregate_lands_once() {
    for strip in [false, true] {
        let (direct, proxied, proxy) = behind_proxy(1).await;
        let cached = store(proxied, StoreOptions::default().cache(10));
        open(&cached, "hot").await;
        proxy.set_plan(lose_next_commit(strip));
        let outcome = cached
            .execute("hot", deposit(7))
            .await
            .expect("the cached deposit");
        assert_eq!(outcome.version, 2);
        // The cache holds the deposit: the next command decides on it.
        let outcome = cached
            .execute("hot", deposit(8))
            .await
            .expect("the next deposit, from the cache");
        assert_eq!(outcome.version, 3);
        assert_eq!(outcome.attempts, 1);
        assert_eq!(
            proxy.stats().requests_for("Query"),
            1,
            "the load before the open, and no read after"
        );
        assert_deposits(&store(direct, StoreOptions::default()), "hot", &[7, 8]).await;
    }
}

#[tokio::test]
async fn a_command_whose_record_answer_is_lost_recognises_its_record_and_applies_once() {
    let (direct, proxied, proxy) = behind_proxy(1).await;
    let accounts = store(proxied, StoreOptions::default());
    open(&accounts, "acc").await;
    // The record lands and its answer is lost; sent again, it finds itself.
    proxy.set_plan(
        FaultPlan::default()
            .drop_answer(1.0)
            .operation("PutItem")
            .first(1),
    );
    let outcome = accounts
        .execute_with(
            "acc",
            deposit(5),
            CommandOptions::default().command_id(CommandId::new("r-1")),
        )
        .await
        .expect("the record recognised, the deposit made");
    assert!(!outcome.duplicate);
    assert_eq!((outcome.version, outcome.attempts), (2, 1));
    let stats = proxy.stats();
    assert_eq!(stats.dropped_answers, 1);
    assert_eq!(
        common::writes(&stats),
        4,
        "open, the record lost and resent, the event: {stats:?}"
    );
    assert_deposits(&store(direct, StoreOptions::default()), "acc", &[5]).await;
}

#[tokio::test]
async fn a_command_sent_again_by_the_caller_after_a_lost_answer_applies_once() {
    for strip in [false, true] {
        command_sent_again_by_the_caller(strip).await;
    }
}

async fn command_sent_again_by_the_caller(strip: bool) {
    let (direct, proxied, proxy) = behind_proxy(1).await;
    // No retry anywhere: the lost answer reaches the caller.
    let impatient = store(
        proxied,
        StoreOptions::default().retry(RetryPolicy::default().max_attempts(1)),
    );
    open(&impatient, "acc").await;
    let command = || CommandOptions::default().command_id(CommandId::new("deposit-42"));

    // The answer is lost, and so is the read that would say what became of
    // the commit.
    proxy.set_plan(after_the_record(
        lose_next_commit(strip).then(unreadable_once()),
    ));
    let lost = impatient
        .execute_with("acc", deposit(42), command())
        .await
        .store_err("the answer was lost");
    assert!(lost.is_outcome_unknown(), "{lost:?}");
    assert!(
        !lost.is_retryable(),
        "an unknown outcome is never retryable"
    );
    assert_eq!(proxy.stats().dropped_answers, 1);

    // The caller gives up on that answer and sends the command again.
    let again = impatient
        .execute_with("acc", deposit(42), command())
        .await
        .expect("the command again");
    assert!(again.duplicate);
    assert_eq!(again.version, 2);
    assert_eq!(again.events.len(), 1);
    assert!(again.state.is_none());

    // And once more, from another store, as another process would.
    let elsewhere = store(direct.clone(), StoreOptions::default());
    let third = elsewhere
        .execute_with("acc", deposit(42), command())
        .await
        .expect("the command from elsewhere");
    assert!(third.duplicate);
    assert_eq!(third.version, 2);
    assert_deposits(&elsewhere, "acc", &[42]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deposits_under_throttling_are_exact() {
    const ACCOUNTS: usize = 4;
    const WRITERS_PER_ACCOUNT: usize = 2;
    const DEPOSITS_PER_WRITER: usize = 25;
    let (direct, proxied, proxy) = behind_proxy(10).await;
    let accounts = store(
        proxied,
        StoreOptions::default().retry(
            RetryPolicy::default()
                .max_attempts(100)
                .min_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(20)),
        ),
    );
    proxy.set_plan(
        FaultPlan::default()
            .seed(2024)
            .throttle(Throttle::ProvisionedThroughputExceeded, 0.2),
    );
    for account in 0..ACCOUNTS {
        open(&accounts, &format!("acc-{account}")).await;
    }
    let amount = |writer: usize, n: usize| i64::try_from(writer * 1000 + n + 1).expect("small");
    let writers: Vec<_> = (0..ACCOUNTS)
        .flat_map(|account| (0..WRITERS_PER_ACCOUNT).map(move |writer| (account, writer)))
        .map(|(account, writer)| {
            let accounts = accounts.clone();
            tokio::spawn(async move {
                for n in 0..DEPOSITS_PER_WRITER {
                    accounts
                        .execute(format!("acc-{account}"), deposit(amount(writer, n)))
                        .await
                        .expect("a deposit");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer");
    }
    let amounts: Vec<i64> = (0..WRITERS_PER_ACCOUNT)
        .flat_map(|writer| (0..DEPOSITS_PER_WRITER).map(move |n| amount(writer, n)))
        .collect();
    let reader = store(direct, StoreOptions::default());
    for account in 0..ACCOUNTS {
        assert_deposits(&reader, &format!("acc-{account}"), &amounts).await;
    }
    let stats = proxy.stats();
    let share = stats.throttled as f64 / stats.requests as f64;
    assert!((0.1..0.3).contains(&share), "{share}: {stats:?}");
    assert_eq!(stats.forwarded + stats.throttled, stats.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotent_commands_under_every_fault_apply_once() {
    const ACCOUNTS: usize = 2;
    const COMMANDS_PER_ACCOUNT: usize = 30;
    let (direct, proxied, proxy) = behind_proxy(10).await;
    let accounts = store(
        proxied,
        StoreOptions::default().retry(
            RetryPolicy::default()
                .max_attempts(100)
                .min_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(20)),
        ),
    );
    for account in 0..ACCOUNTS {
        open(&accounts, &format!("acc-{account}")).await;
    }
    proxy.set_plan(
        FaultPlan::default()
            .seed(7)
            .throttle(Throttle::Throttling, 0.1)
            .reset(0.05)
            .drop_answer(0.1)
            .strip_client_request_tokens(true),
    );
    let amount = |account: usize, n: usize| i64::try_from(account * 1000 + n + 1).expect("small");
    let command_id = |account: usize, n: usize| CommandId::new(format!("cmd-{account}-{n}"));
    let run_all = |accounts: EventStore<Account>| async move {
        let tasks: Vec<_> = (0..ACCOUNTS)
            .map(|account| {
                let accounts = accounts.clone();
                tokio::spawn(async move {
                    let mut duplicates = 0;
                    for n in 0..COMMANDS_PER_ACCOUNT {
                        let outcome = accounts
                            .execute_with(
                                format!("acc-{account}"),
                                deposit(amount(account, n)),
                                CommandOptions::default().command_id(command_id(account, n)),
                            )
                            .await
                            .expect("a command");
                        duplicates += usize::from(outcome.duplicate);
                    }
                    duplicates
                })
            })
            .collect();
        let mut duplicates = 0;
        for task in tasks {
            duplicates += task.await.expect("a task");
        }
        duplicates
    };
    assert_eq!(run_all(accounts.clone()).await, 0, "all new the first time");
    // Every command again, still under faults: all recognised, none applied.
    assert_eq!(
        run_all(accounts.clone()).await,
        ACCOUNTS * COMMANDS_PER_ACCOUNT
    );
    let stats = proxy.stats();
    assert!(stats.dropped_answers > 0, "{stats:?}");
    assert!(stats.resets > 0, "{stats:?}");
    assert!(stats.throttled > 0, "{stats:?}");

    let reader = store(direct, StoreOptions::default());
    for account in 0..ACCOUNTS {
        let amounts: Vec<i64> = (0..COMMANDS_PER_ACCOUNT)
            .map(|n| amount(account, n))
            .collect();
        assert_deposits(&reader, &format!("acc-{account}"), &amounts).await;
    }
}

/// A store that sends each commit at most twice, with a quick backoff.
fn twice(table: Table) -> EventStore<Account> {
    store(
        table,
        StoreOptions::default().retry(
            RetryPolicy::default()
                .max_attempts(2)
                .min_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(2)),
        ),
    )
}

#[tokio::test]
async fn a_commit_that_took_place_before_its_resends_were_throttled_is_reported_committed() {
    for strip in [false, true] {
        let (direct, proxied, proxy) = behind_proxy(1).await;
        let accounts = twice(proxied);
        open(&accounts, "acc").await;
        proxy.set_plan(
            lose_next_commit(strip).then(
                FaultPlan::default()
                    .throttle(Throttle::Throttling, 1.0)
                    .operation("TransactWriteItems")
                    .operation("PutItem"),
            ),
        );
        let outcome = accounts
            .execute("acc", deposit(100))
            .await
            .expect("the first send took place: one read says so");
        assert_eq!((outcome.version, outcome.duplicate), (2, false));
        let stats = proxy.stats();
        assert_eq!(
            (stats.dropped_answers, stats.throttled),
            (1, 1),
            "{stats:?}"
        );
        assert_eq!(
            common::writes(&stats),
            3,
            "open, lost, throttled: {stats:?}"
        );
        assert_eq!(stats.requests_for("GetItem"), 1, "the read that settles it");
        assert_deposits(&store(direct, StoreOptions::default()), "acc", &[100]).await;
    }
}

#[tokio::test]
async fn a_commit_whose_outcome_cannot_be_read_is_unknown_not_retryable() {
    let (direct, proxied, proxy) = behind_proxy(1).await;
    let accounts = twice(proxied);
    open(&accounts, "acc").await;
    proxy.set_plan(
        lose_next_commit(false).then(FaultPlan::default().throttle(Throttle::Throttling, 1.0)),
    );
    let error = accounts
        .execute("acc", deposit(100))
        .await
        .store_err("neither the resend nor the read got through");
    match &error {
        Error::OutcomeUnknown {
            aggregate, last, ..
        } => {
            assert_eq!(aggregate, "account#acc");
            assert!(last.is_retryable(), "{last:?}");
        }
        other => panic!("expected an unknown outcome, got {other:?}"),
    }
    assert!(!error.is_retryable() && !error.is_conflict(), "{error:?}");
    assert!(error.to_string().contains("unknown"), "{error}");
    // It took place: a caller who had executed it again would have paid twice.
    assert_deposits(&store(direct, StoreOptions::default()), "acc", &[100]).await;
}

#[tokio::test]
async fn throttled_sends_that_never_took_place_stay_retryable() {
    let (direct, proxied, proxy) = behind_proxy(1).await;
    let accounts = twice(proxied);
    open(&accounts, "acc").await;
    proxy.set_plan(
        FaultPlan::default()
            .throttle(Throttle::Throttling, 1.0)
            .operation("TransactWriteItems")
            .operation("PutItem"),
    );
    let error = accounts
        .execute("acc", deposit(100))
        .await
        .store_err("every send throttled");
    assert!(
        matches!(error, Error::RetriesExhausted { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(error.is_retryable(), "nothing was written: {error:?}");
    assert_eq!(
        proxy.stats().requests_for("GetItem"),
        1,
        "the read that says so"
    );
    assert_deposits(&store(direct, StoreOptions::default()), "acc", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_commit_is_recognised_by_its_first_event_after_others_appended() {
    // The answer of the deposit is lost; while its resend is held in the
    // proxy, another writer appends. The resend (DynamoDB evaluates it
    // again: a PutItem has no token) then fails on its own first event,
    // which carries the deposit's commit id: the deposit is in, whatever
    // came after it.
    let (direct, proxied, proxy) = behind_proxy(1).await;
    let accounts = store(proxied, StoreOptions::default());
    open(&accounts, "acc").await;
    proxy.set_plan(
        lose_next_commit(true).then(
            FaultPlan::default()
                .latency(Duration::from_secs(3), 1.0)
                .operation("PutItem")
                .first(1),
        ),
    );
    let rival = store(direct.clone(), StoreOptions::default());
    let proxy = std::sync::Arc::new(proxy);
    let watcher = {
        let proxy = std::sync::Arc::clone(&proxy);
        tokio::spawn(async move {
            while proxy.stats().dropped_answers == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let forwarded = proxy.stats().forwarded;
            rival
                .execute("acc", deposit(5))
                .await
                .expect("the rival's deposit");
            // The resend was still held: the rival came in between.
            assert_eq!(proxy.stats().forwarded, forwarded, "the resend waited");
        })
    };
    let outcome = accounts
        .execute("acc", deposit(100))
        .await
        .expect("the first send took place: its first event says so");
    watcher.await.expect("the rival appended in between");
    assert_eq!((outcome.version, outcome.attempts), (2, 1));
    let stats = proxy.stats();
    assert_eq!(stats.dropped_answers, 1);
    assert_eq!(stats.delayed, 1, "the resend: {stats:?}");
    assert_eq!(
        stats.requests_for("PutItem"),
        3,
        "open, lost, resent: {stats:?}"
    );
    // Open, the deposit once, the rival's: three event items.
    let reader = store(direct, StoreOptions::default());
    assert_eq!(
        common::raw_event_versions(reader.table(), "account", "acc").await,
        vec![1, 2, 3]
    );
    let loaded = reader.load("acc").await.expect("load");
    assert_eq!((loaded.version, loaded.state.balance), (3, 105));
}
