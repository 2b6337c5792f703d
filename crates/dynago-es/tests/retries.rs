//! The store's retry budget: conflicts and transient errors that outlast it
//! are `Error::RetriesExhausted` with the number of attempts; throttling
//! within it is retried with backoff and loses nothing; a validation error is
//! never retried.
use crate::common;
use crate::common::StoreErr;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{contents, Account, AccountCommand};
use dynago::{RetryPolicy, Table};
use dynago_es::{Aggregate, DomainEvent, Error, EventStore, StoreOptions};
use dynago_local::{FaultPlan, FaultProxy, Throttle};
use serde::{Deserialize, Serialize};

/// A counter whose commands can make another writer append to it while
/// they are being decided: a writer that conflicts with every attempt.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Tally {
    total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
enum TallyEvent {
    Added { n: u64 },
}

/// Runs (and waits for) another writer's append.
type Interfere = Arc<dyn Fn() + Send + Sync>;

struct Add {
    n: u64,
    /// Called while deciding, between the load and the append.
    interfere: Option<Interfere>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Tally {
    const TYPE: &'static str = "tally";
    type Id = dynago_es::AggregateId;
    type Command = Add;
    type Event = TallyEvent;
    type Error = Never;

    fn handle(&self, command: &Add) -> Result<Vec<TallyEvent>, Never> {
        if let Some(interfere) = &command.interfere {
            interfere();
        }
        Ok(vec![TallyEvent::Added { n: command.n }])
    }

    fn apply(&mut self, event: &TallyEvent) {
        match event {
            TallyEvent::Added { n } => self.total += n,
        }
    }
}

/// Another writer of the tally `id` on `table`, on a thread and runtime of
/// its own (so that it can run while a decision blocks the caller's), and
/// the function that makes it append one event, the first `times` times it
/// is called.
fn rival(table: &str, id: &'static str, times: usize) -> (Interfere, Arc<AtomicUsize>) {
    let (requests, inbox) = mpsc::channel::<mpsc::Sender<()>>();
    let table = table.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let dynamo = dynago_local::shared().await.expect("the test server");
            let table = Table::connect(
                dynamo
                    .table_options(table)
                    .partition_key("pk")
                    .sort_key("sk"),
            )
            .await
            .expect("options");
            let store = EventStore::<Tally>::new(table, StoreOptions::default()).expect("store");
            while let Ok(done) = inbox.recv() {
                let add = Add {
                    n: 100,
                    interfere: None,
                };
                store.execute(id, add).await.expect("the rival appends");
                let _ = done.send(());
            }
        });
    });
    let requests = Mutex::new(requests);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let interfere: Interfere = Arc::new(move || {
        if counted.fetch_add(1, Ordering::SeqCst) >= times {
            return;
        }
        let (done, wait) = mpsc::channel();
        requests
            .lock()
            .expect("the rival's inbox")
            .send(done)
            .expect("the rival is running");
        wait.recv().expect("the rival appended");
    });
    (interfere, calls)
}

fn quick(attempts: usize) -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(attempts)
        .min_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_conflict_exhausts_the_retries_and_says_how_many() {
    let table = common::table().await;
    let store = EventStore::<Tally>::new(table.clone(), StoreOptions::default().retry(quick(3)))
        .expect("store");
    let (interfere, calls) = rival(table.name(), "t", usize::MAX);
    let error = store
        .execute(
            "t",
            Add {
                n: 1,
                interfere: Some(interfere),
            },
        )
        .await
        .store_err("the rival always wins");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "decided three times");
    match &error {
        Error::RetriesExhausted { attempts, last } => {
            assert_eq!(*attempts, 3);
            assert!(
                matches!(
                    **last,
                    Error::Conflict {
                        expected: 2,
                        actual: 3,
                        ..
                    }
                ),
                "{last:?}"
            );
        }
        other => panic!("expected retries exhausted, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "gave up after 3 attempts: conflict on aggregate tally#t: expected version 2, found version 3"
    );
    assert_eq!(
        error.conflict_versions(),
        Some(dynago_es::ConflictVersions {
            expected: 2,
            actual: 3
        })
    );
    assert!(!error.is_conflict() && !error.is_retryable() && !error.is_corrupt());
    // Only the rival's three events are stored.
    let loaded = store.load("t").await.expect("load");
    assert_eq!((loaded.version, loaded.state.total), (3, 300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_within_the_budget_are_decided_again() {
    let table = common::table().await;
    let store = EventStore::<Tally>::new(table.clone(), StoreOptions::default().retry(quick(3)))
        .expect("store");
    let (interfere, calls) = rival(table.name(), "t", 2);
    let outcome = store
        .execute(
            "t",
            Add {
                n: 1,
                interfere: Some(interfere),
            },
        )
        .await
        .expect("the third decision goes through");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!((outcome.attempts, outcome.version), (3, 3));
    assert_eq!(outcome.state.map(|t| t.total), Some(201));
}

/// A fresh table, a proxy in front of the shared server under `plan`, and
/// the table through the proxy with `sdk_attempts` SDK attempts per request.
async fn behind_proxy(plan: FaultPlan, sdk_attempts: u32) -> (Table, Table, FaultProxy) {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, plan, sdk_attempts, |o| o).await;
    (direct, proxied, proxy)
}

#[tokio::test]
async fn a_write_throttled_past_the_budget_is_retries_exhausted() {
    // Every commit is throttled; the SDK does not retry, the store does,
    // three sends in all.
    let plan = FaultPlan::default()
        .throttle(Throttle::ProvisionedThroughputExceeded, 1.0)
        .operation("TransactWriteItems")
        .operation("PutItem");
    let (direct, proxied, proxy) = behind_proxy(plan, 1).await;
    let store = EventStore::<Account>::new(proxied, StoreOptions::default().retry(quick(3)))
        .expect("store");
    let before = contents(&direct).await;
    let error = store
        .execute("acc", common::open("ada"))
        .await
        .store_err("always throttled");
    match &error {
        Error::RetriesExhausted { attempts, last } => {
            assert_eq!(*attempts, 3);
            assert_eq!(
                match &**last {
                    Error::Table(e) => e.code(),
                    _ => None,
                },
                Some("ProvisionedThroughputExceededException"),
                "{last:?}"
            );
        }
        other => panic!("expected retries exhausted, got {other:?}"),
    }
    assert!(error.to_string().starts_with("gave up after 3 attempts: "));
    assert!(error.is_retryable(), "worth trying again later");
    assert!(!error.is_conflict());
    let stats = proxy.stats();
    assert_eq!(common::writes(&stats), 3, "{stats:?}");
    assert_eq!(stats.throttled, 3);
    assert_eq!(stats.requests_for("Query"), 1, "one load, not retried");
    assert_eq!(contents(&direct).await, before, "nothing written");
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_loses_nothing() {
    // The SDK retries everything that is throttled.
    let plan = FaultPlan::default()
        .seed(11)
        .throttle(Throttle::ProvisionedThroughputExceeded, 0.3);
    let (direct, proxied, proxy) = behind_proxy(plan, 10).await;
    let store = EventStore::<Account>::new(proxied, StoreOptions::default()).expect("store");
    store.execute("a", common::open("ada")).await.expect("open");
    for amount in 1..=20 {
        store
            .execute("a", AccountCommand::Deposit { amount })
            .await
            .expect("a deposit");
    }
    let stats = proxy.stats();
    assert!(stats.throttled >= 5, "{stats:?}");
    assert_eq!(stats.forwarded + stats.throttled, stats.requests);

    // With the SDK's retries off, the store retries the commits itself.
    proxy.set_plan(
        FaultPlan::default()
            .seed(12)
            .throttle(Throttle::Throttling, 0.5)
            .operation("PutItem"),
    );
    let bare = Table::connect(
        proxy
            .table_options(direct.name())
            .partition_key("pk")
            .sort_key("sk")
            .sdk_max_attempts(1),
    )
    .await
    .expect("options");
    let store =
        EventStore::<Account>::new(bare, StoreOptions::default().retry(quick(30))).expect("store");
    let throttled = proxy.stats().throttled;
    let mut sends = 0;
    for amount in 21..=40 {
        let outcome = store
            .execute("a", AccountCommand::Deposit { amount })
            .await
            .expect("a deposit");
        assert_eq!(
            outcome.attempts, 1,
            "a throttled commit is sent again, not decided again"
        );
        sends += outcome.requests - 1;
    }
    let stats = proxy.stats();
    assert!(stats.throttled - throttled >= 5, "{stats:?}");
    assert_eq!(u64::from(sends), 20 + stats.throttled - throttled);

    let reader = EventStore::<Account>::new(direct, StoreOptions::default()).expect("store");
    let loaded = reader.load("a").await.expect("load");
    assert_eq!(loaded.version, 41, "every deposit once");
    assert_eq!(loaded.state.balance, (1..=40).sum::<i64>());
}

#[tokio::test]
async fn a_validation_error_is_never_retried() {
    let (direct, proxied, proxy) = behind_proxy(FaultPlan::default(), 10).await;
    let store = EventStore::<Account>::new(proxied, StoreOptions::default().retry(quick(10)))
        .expect("store");
    let before = contents(&direct).await;
    // A partition key over DynamoDB's 2048 bytes: the load reads nothing,
    // the commit is refused.
    let id = "x".repeat(3000);
    let error = store
        .execute(id.as_str(), common::open("ada"))
        .await
        .store_err("a key too long");
    // A one-event commit is a PutItem: a `ValidationException` (a
    // transaction would be cancelled for a `ValidationError` on the
    // embedded emulator).
    let validation = match &error {
        Error::Table(dynago::Error::TransactionCanceled { reasons, .. }) => {
            reasons.failed().all(|r| r.code == "ValidationError")
        }
        Error::Table(e) => e.code() == Some("ValidationException"),
        _ => false,
    };
    assert!(validation, "{error:?}");
    assert!(!error.is_retryable() && !error.is_conflict(), "{error:?}");
    let stats = proxy.stats();
    assert_eq!(common::writes(&stats), 1, "{stats:?}");
    assert_eq!(stats.requests, 2, "one load, one commit");
    assert_eq!(contents(&direct).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_and_throttling_together_never_send_more_than_the_budget() {
    // A rival wins every decision, and half the commits are throttled: the
    // decisions and the resends share one budget of four sends.
    let plan = FaultPlan::default()
        .seed(3)
        .throttle(Throttle::Throttling, 0.5)
        .operation("TransactWriteItems")
        .operation("PutItem");
    let (direct, proxied, proxy) = behind_proxy(plan, 1).await;
    let store =
        EventStore::<Tally>::new(proxied, StoreOptions::default().retry(quick(4))).expect("store");
    let (interfere, _) = rival(direct.name(), "t", usize::MAX);
    let error = store
        .execute(
            "t",
            Add {
                n: 1,
                interfere: Some(interfere),
            },
        )
        .await
        .store_err("the rival always wins");
    assert!(matches!(error, Error::RetriesExhausted { .. }), "{error:?}");
    let stats = proxy.stats();
    assert!(stats.throttled >= 1, "throttled too: {stats:?}");
    assert!(common::writes(&stats) <= 4, "at most the budget: {stats:?}");
    let loaded = EventStore::<Tally>::new(direct, StoreOptions::default())
        .expect("store")
        .load("t")
        .await
        .expect("load");
    assert_eq!(loaded.state.total % 100, 0, "none of ours: {loaded:?}");
}
