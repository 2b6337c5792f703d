//! Every answer the store gives is true: a command with an id that was
//! applied by the time the store answers is answered with its first
//! outcome, never refused; an append with no events checks the version it
//! was given; a store refuses key names it writes as attributes; a stream
//! at the last version there is loads.
use crate::common;

use std::time::Duration;

use common::{Account, AccountCommand, AccountError};
use dynago::{number_value, Table, TableDefinition};
use dynago_es::{
    Aggregate, CommandError, CommandId, CommandOptions, DomainEvent, Error, EventStore, Metadata,
    StoreOptions,
};
use dynago_local::{testing, FaultPlan, FaultProxy};
use serde::{Deserialize, Serialize};

/// A wallet whose `Empty` command decides no event on an empty wallet.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Wallet {
    balance: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
enum WalletEvent {
    Deposited { amount: i64 },
    Emptied { amount: i64 },
}

#[derive(Debug, Clone)]
enum WalletCommand {
    Deposit(i64),
    /// Takes out everything there is; nothing on an empty wallet.
    Empty,
}

impl Aggregate for Wallet {
    const TYPE: &'static str = "wallet";
    type Id = dynago_es::AggregateId;
    type Command = WalletCommand;
    type Event = WalletEvent;
    type Error = std::convert::Infallible;

    fn handle(&self, command: &WalletCommand) -> Result<Vec<WalletEvent>, Self::Error> {
        Ok(match command {
            WalletCommand::Deposit(amount) => vec![WalletEvent::Deposited { amount: *amount }],
            WalletCommand::Empty if self.balance == 0 => Vec::new(),
            WalletCommand::Empty => vec![WalletEvent::Emptied {
                amount: self.balance,
            }],
        })
    }

    fn apply(&mut self, event: &WalletEvent) {
        match event {
            WalletEvent::Deposited { amount } => self.balance += amount,
            WalletEvent::Emptied { amount } => self.balance -= amount,
        }
    }
}

fn with_id(id: &str) -> CommandOptions {
    CommandOptions::default().command_id(CommandId::new(id))
}

/// A table, and the same table through a proxy that holds the first
/// `Query` (a load) for a second before it forwards it: a command sent
/// through it reads the command record at once and loads a second later.
async fn slow_first_load() -> (Table, Table, FaultProxy) {
    let direct = common::table().await;
    let plan = FaultPlan::default()
        .latency(Duration::from_secs(1), 1.0)
        .operation("Query")
        .first(1);
    let (proxied, proxy) = common::through_proxy(&direct, plan, 1, |o| o).await;
    (direct, proxied, proxy)
}

/// Sends `repeat` through a store whose first load is held, and the same
/// command with the same id through `first` while the repeat waits: the
/// repeat reads no record, then loads the state the first left.
async fn repeat_while_the_first_is_in_flight<A, F, R>(
    first: F,
    repeat: R,
) -> (
    Result<Vec<u64>, CommandError<A>>,
    Result<(bool, u64), CommandError<A>>,
)
where
    A: Aggregate,
    F: std::future::Future<Output = Result<dynago_es::CommandOutcome<A>, CommandError<A>>>,
    R: std::future::Future<Output = Result<dynago_es::CommandOutcome<A>, CommandError<A>>>
        + Send
        + 'static,
{
    let repeat = tokio::spawn(repeat);
    // The repeat has read the record (there is none yet) and its load is held.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = first
        .await
        .map(|outcome| outcome.events.iter().map(|e| e.version).collect());
    let repeat = repeat
        .await
        .expect("the repeat's task")
        .map(|outcome| (outcome.duplicate, outcome.version));
    (first, repeat)
}

#[tokio::test]
async fn a_repeat_sent_while_the_first_is_in_flight_is_not_rejected() {
    let (direct, proxied, _proxy) = slow_first_load().await;
    let first_store =
        EventStore::<Account>::new(direct.clone(), StoreOptions::default()).expect("a store");
    let repeat_store =
        EventStore::<Account>::new(proxied.clone(), StoreOptions::default()).expect("a store");
    first_store
        .execute("w", common::open("ada"))
        .await
        .expect("open");
    first_store
        .execute("w", AccountCommand::Deposit { amount: 100 })
        .await
        .expect("deposit");

    let withdraw = || AccountCommand::Withdraw { amount: 100 };
    let (first, repeat) = repeat_while_the_first_is_in_flight(
        first_store.execute_with("w", withdraw(), with_id("withdraw-once")),
        {
            let store = repeat_store.clone();
            async move {
                store
                    .execute_with("w", withdraw(), with_id("withdraw-once"))
                    .await
            }
        },
    )
    .await;
    assert_eq!(first.expect("the first is applied"), vec![3]);
    // Before: `Rejected: insufficient funds`, for a withdrawal that was made.
    let repeat = repeat.expect("the repeat is answered with the first outcome");
    assert_eq!(repeat, (true, 3));
    let loaded = first_store.load("w").await.expect("load");
    assert_eq!(
        (loaded.version, loaded.state.balance),
        (3, 0),
        "withdrawn once"
    );

    // A repeat that is refused for a reason of its own is still refused.
    let refused = first_store
        .execute_with("w", withdraw(), with_id("withdraw-twice"))
        .await
        .expect_err("nothing left");
    assert!(
        matches!(
            refused.rejection(),
            Some(AccountError::InsufficientFunds { .. })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_repeat_that_would_decide_nothing_is_answered_with_the_first_outcome() {
    let (direct, proxied, _proxy) = slow_first_load().await;
    let first_store =
        EventStore::<Wallet>::new(direct.clone(), StoreOptions::default()).expect("a store");
    let repeat_store =
        EventStore::<Wallet>::new(proxied.clone(), StoreOptions::default()).expect("a store");
    first_store
        .execute("w", WalletCommand::Deposit(40))
        .await
        .expect("deposit");

    let (first, repeat) = repeat_while_the_first_is_in_flight(
        first_store.execute_with("w", WalletCommand::Empty, with_id("empty-once")),
        {
            let store = repeat_store.clone();
            async move {
                store
                    .execute_with("w", WalletCommand::Empty, with_id("empty-once"))
                    .await
            }
        },
    )
    .await;
    assert_eq!(first.expect("the first is applied"), vec![2]);
    // Before: `Ok { duplicate: false, events: [] }` at version 2.
    assert_eq!(repeat.expect("the first outcome"), (true, 2));
}

#[tokio::test]
async fn an_append_of_no_events_checks_the_version_it_is_given() {
    let accounts = common::store(StoreOptions::default()).await;
    accounts
        .execute("t", common::open("ada"))
        .await
        .expect("open");
    for amount in [1, 2] {
        accounts
            .execute("t", AccountCommand::Deposit { amount })
            .await
            .expect("deposit");
    }
    for expected in [100, 1, 0, 2, 4] {
        let error = accounts
            .append("t", expected, Vec::new(), Metadata::default())
            .await
            .expect_err("the stream is at 3");
        assert!(
            matches!(error, Error::Conflict { expected: e, actual: 3, .. } if e == expected),
            "append after {expected}: {error:?}"
        );
        assert!(error.is_conflict());
    }
    let none = accounts
        .append("t", 3, Vec::new(), Metadata::default())
        .await
        .expect("the stream is at 3");
    assert!(none.is_empty());
    // A new stream is at 0.
    accounts
        .append("new", 0, Vec::new(), Metadata::default())
        .await
        .expect("an empty stream is at 0");
    let error = accounts
        .append("new", 1, Vec::new(), Metadata::default())
        .await
        .expect_err("an empty stream is not at 1");
    assert!(
        matches!(error, Error::Conflict { actual: 0, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_store_refuses_key_names_it_writes_as_attributes() {
    for (partition, sort) in [
        ("version", "sk"),
        ("pk", "event_type"),
        ("payload", "sk"),
        ("pk", "state"),
        ("command_id", "sk"),
        ("pk", "expires_at"),
    ] {
        let table = testing::fresh_table(
            "names",
            |options| options.partition_key(partition).sort_key(sort),
            TableDefinition::default(),
        )
        .await;
        let error = EventStore::<Account>::new(table.clone(), StoreOptions::default())
            .expect_err("refused when the store is built");
        match &error {
            Error::Config(message) => {
                let clashing = if partition == "pk" { sort } else { partition };
                assert!(
                    message.contains(&format!("`{clashing}`")),
                    "the message names the key: {message}"
                );
            }
            other => panic!("{partition}/{sort}: expected a configuration error, got {other:?}"),
        }
        let error = EventStore::<Account>::open(table, StoreOptions::default())
            .await
            .expect_err("and when it is opened");
        assert!(matches!(error, Error::Config(_)), "{error:?}");
    }
}

#[tokio::test]
async fn a_stream_at_the_last_version_there_is_loads() {
    let table = common::table().await;
    let accounts = EventStore::<Account>::new(
        table.clone(),
        StoreOptions::default().snapshots(dynago_es::SnapshotPolicy::Every(1)),
    )
    .expect("a store");
    accounts
        .execute("max", common::open("ada"))
        .await
        .expect("open");
    // The snapshot says the stream is at u64::MAX: loading it reads on
    // from the version after, which does not exist.
    let key = common::snapshot_key("account", "max");
    let mut snapshot = common::raw_get(&table, key.clone())
        .await
        .expect("a snapshot");
    snapshot.insert("version".to_owned(), number_value(u64::MAX));
    common::raw_put(&table, snapshot).await;
    let loaded = accounts.load("max").await.expect("loads, without overflow");
    assert_eq!(loaded.version, u64::MAX);
    assert!(loaded.state.open);
    let error = accounts
        .execute("max", AccountCommand::Deposit { amount: 1 })
        .await
        .expect_err("no version after the last");
    assert!(
        matches!(error, CommandError::Store(Error::VersionOutOfRange { .. })),
        "{error:?}"
    );
}

/// A table through a proxy whose every attempt times out after 300 ms and
/// is never retried by the SDK, behind `plan`.
async fn impatient(plan: FaultPlan) -> (Table, Table, FaultProxy) {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, plan, 1, |options| {
        options.attempt_timeout(Duration::from_millis(300))
    })
    .await;
    (direct, proxied, proxy)
}

/// The first `PutItem` held for 1.5 s (its client gives up after 300 ms)
/// and then delivered; with `then`, what happens to later requests.
fn first_put_held(then: Option<FaultPlan>) -> FaultPlan {
    let held = FaultPlan::default()
        .hold(Duration::from_millis(1500), 1.0)
        .operation("PutItem")
        .first(1);
    match then {
        Some(next) => held.then(next),
        None => held,
    }
}

fn three_sends() -> StoreOptions {
    StoreOptions::default().retry(dynago::RetryPolicy::default().max_attempts(3))
}

#[tokio::test]
async fn a_send_that_lands_late_after_throttled_resends_is_unknown_not_retryable() {
    let throttled = FaultPlan::default()
        .throttle(dynago_local::Throttle::Throttling, 1.0)
        .operation("PutItem");
    let (direct, proxied, proxy) = impatient(first_put_held(Some(throttled))).await;
    let store = EventStore::<Wallet>::new(proxied, three_sends()).expect("a store");
    let error = store
        .execute("t", WalletCommand::Deposit(42))
        .await
        .expect_err("timed out, then throttled");
    // Before: `RetriesExhausted`, `is_retryable() == true`, and the held
    // send landed afterwards: a caller who retried as told reached 84.
    assert!(error.is_outcome_unknown(), "{error:?}");
    assert!(!error.is_retryable(), "{error:?}");
    assert!(
        matches!(error, CommandError::Store(Error::OutcomeUnknown { .. })),
        "{error:?}"
    );

    proxy.settled().await;
    let reader = EventStore::<Wallet>::new(direct, StoreOptions::default()).expect("a store");
    let loaded = reader.load("t").await.expect("load");
    assert_eq!((loaded.version, loaded.state.balance), (1, 42), "it landed");
}

#[tokio::test]
async fn a_send_that_lands_late_after_its_resend_was_applied_is_applied_once() {
    let (direct, proxied, proxy) = impatient(first_put_held(None)).await;
    let store = EventStore::<Wallet>::new(proxied, three_sends()).expect("a store");
    let outcome = store
        .execute("t", WalletCommand::Deposit(42))
        .await
        .expect("the resend is answered");
    assert_eq!(outcome.version, 1);
    proxy.settled().await;
    assert_eq!(proxy.stats().delivered_late, 1);
    let reader = EventStore::<Wallet>::new(direct, StoreOptions::default()).expect("a store");
    let loaded = reader.load("t").await.expect("load");
    assert_eq!(
        (loaded.version, loaded.state.balance),
        (1, 42),
        "applied once"
    );
}

#[tokio::test]
async fn a_held_send_whose_version_another_writer_took_is_not_applied() {
    // The held send's version is taken by another writer: the settling
    // read proves it can never land, whatever the sends said.
    let throttled = FaultPlan::default()
        .throttle(dynago_local::Throttle::Throttling, 1.0)
        .operation("PutItem");
    let (direct, proxied, proxy) = impatient(first_put_held(Some(throttled))).await;
    let store = EventStore::<Wallet>::new(proxied, three_sends()).expect("a store");
    let other =
        EventStore::<Wallet>::new(direct.clone(), StoreOptions::default()).expect("a store");
    let command = tokio::spawn({
        let store = store.clone();
        async move { store.execute("t", WalletCommand::Deposit(42)).await }
    });
    // While the first send is held, another writer takes version 1.
    tokio::time::sleep(Duration::from_millis(100)).await;
    other
        .execute("t", WalletCommand::Deposit(1))
        .await
        .expect("the other writer");
    let error = command
        .await
        .expect("the task")
        .expect_err("its sends ran out");
    match &error {
        CommandError::Store(Error::RetriesExhausted { last, .. }) => {
            assert!(last.is_conflict(), "{last:?}")
        }
        other => panic!("expected a conflict to the end, got {other:?}"),
    }
    assert!(!error.is_outcome_unknown());
    proxy.settled().await;
    let loaded = other.load("t").await.expect("load");
    assert_eq!(
        (loaded.version, loaded.state.balance),
        (1, 1),
        "the held send never landed"
    );
}

#[tokio::test]
async fn requests_delivered_twice_apply_every_command_once() {
    let plan = FaultPlan::default()
        .duplicate(1.0)
        .operation("PutItem")
        .operation("TransactWriteItems");
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, plan, 3, |o| o).await;
    let store = EventStore::<Account>::new(proxied, StoreOptions::default()).expect("a store");
    store.execute("d", common::open("ada")).await.expect("open");
    store
        .execute_with("d", AccountCommand::Deposit { amount: 5 }, with_id("d-1"))
        .await
        .expect("deposit");
    store
        .execute(
            "d",
            AccountCommand::DepositMany {
                amounts: vec![1, 2],
            },
        )
        .await
        .expect("deposits");
    proxy.settled().await;
    assert!(proxy.stats().duplicated >= 3, "{:?}", proxy.stats());
    let loaded = store.load("d").await.expect("load");
    assert_eq!((loaded.version, loaded.state.balance), (4, 8));
}
