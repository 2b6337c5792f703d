//! Commands across aggregates: all their events in one transaction, or none.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Account, AccountCommand, AccountError, AccountEvent};
use dynago::{RetryPolicy, Table};
use dynago_es::{
    AggregateId, CommandError, CommandOptions, Error, EventStore, Metadata, SnapshotPolicy,
    StoreOptions,
};

fn transfer(from: &str, to: &str, amount: i64) -> Vec<(AggregateId, AccountCommand)> {
    vec![
        (from.into(), AccountCommand::Withdraw { amount }),
        (to.into(), AccountCommand::Deposit { amount }),
    ]
}

async fn funded(store: &EventStore<Account>, id: &str, amount: i64) {
    store.execute(id, common::open(id)).await.expect("open");
    store
        .execute(id, AccountCommand::Deposit { amount })
        .await
        .expect("deposit");
}

async fn balance_and_version(store: &EventStore<Account>, id: &str) -> (i64, u64) {
    let loaded = store.load(id).await.expect("load");
    (loaded.state.balance, loaded.version)
}

#[tokio::test]
async fn a_transfer_appends_both_sides_in_one_transaction() {
    let store = common::store(StoreOptions::default()).await;
    funded(&store, "alice", 100).await;
    funded(&store, "bob", 5).await;
    let before = store.table().request_count();
    let outcomes = store
        .execute_all(transfer("alice", "bob", 30), CommandOptions::default())
        .await
        .expect("transfer");
    assert_eq!(
        store.table().request_count() - before,
        3,
        "two loads, one transaction"
    );
    assert_eq!(outcomes.len(), 2);
    let (from, to) = (&outcomes[0], &outcomes[1]);
    assert_eq!((from.id.as_str(), from.version), ("alice", 3));
    assert_eq!((to.id.as_str(), to.version), ("bob", 3));
    assert_eq!(from.state.as_ref().map(|s| s.balance), Some(70));
    assert_eq!(to.state.as_ref().map(|s| s.balance), Some(35));
    assert_eq!((from.attempts, from.requests), (1, 3));
    assert_eq!((to.attempts, to.requests), (1, 3));
    assert_eq!(
        from.events.iter().map(|e| &e.payload).collect::<Vec<_>>(),
        vec![&AccountEvent::Withdrawn { amount: 30 }]
    );
    assert_eq!(
        to.events.iter().map(|e| &e.payload).collect::<Vec<_>>(),
        vec![&AccountEvent::Deposited { amount: 30 }]
    );
    // One commit: one timestamp for both sides.
    assert_eq!(from.events[0].timestamp, to.events[0].timestamp);
    assert_eq!(balance_and_version(&store, "alice").await, (70, 3));
    assert_eq!(balance_and_version(&store, "bob").await, (35, 3));
}

#[tokio::test]
async fn a_refused_side_writes_nothing_on_either() {
    let store = common::store(StoreOptions::default()).await;
    funded(&store, "alice", 100).await;
    funded(&store, "bob", 5).await;
    for commands in [
        transfer("alice", "bob", 101),
        // The refusal comes second: the first side was decided, and is dropped.
        vec![
            ("bob".into(), AccountCommand::Deposit { amount: 101 }),
            ("alice".into(), AccountCommand::Withdraw { amount: 101 }),
        ],
    ] {
        let refused = store
            .execute_all(commands, CommandOptions::default())
            .await
            .expect_err("insufficient funds");
        assert!(
            matches!(&refused, CommandError::Rejected { id, .. } if id.as_str() == "alice"),
            "{refused:?}"
        );
        assert_eq!(
            refused.rejection(),
            Some(&AccountError::InsufficientFunds {
                balance: 100,
                asked: 101
            })
        );
        assert_eq!(balance_and_version(&store, "alice").await, (100, 2));
        assert_eq!(balance_and_version(&store, "bob").await, (5, 2));
    }
    // A side that is not open refuses too.
    let refused = store
        .execute_all(transfer("alice", "nobody", 10), CommandOptions::default())
        .await
        .expect_err("not open");
    assert_eq!(refused.rejection(), Some(&AccountError::NotOpen));
    assert_eq!(balance_and_version(&store, "alice").await, (100, 2));
    assert_eq!(balance_and_version(&store, "nobody").await, (0, 0));
    assert_eq!(common::versions(&store, "alice").await, vec![1, 2]);
    assert_eq!(common::versions(&store, "bob").await, vec![1, 2]);
}

#[tokio::test]
async fn an_aggregate_named_twice_is_refused() {
    let store = common::store(StoreOptions::default()).await;
    funded(&store, "alice", 100).await;
    let error = store
        .execute_all(transfer("alice", "alice", 10), CommandOptions::default())
        .await
        .expect_err("twice");
    assert!(
        matches!(&error, CommandError::Store(Error::AggregateTwice { aggregate }) if aggregate == "account#alice"),
        "{error:?}"
    );
    assert_eq!(balance_and_version(&store, "alice").await, (100, 2));
}

/// A table handle of its own for `name`, built on the runtime that uses it.
async fn same_table(name: &str) -> Table {
    let dynamo = dynago_local::shared().await.expect("the test server");
    Table::connect(
        dynamo
            .table_options(name)
            .partition_key("pk")
            .sort_key("sk"),
    )
    .await
    .expect("table")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_on_one_side_retries_both() {
    // Another writer deposits to alice after the transfer loaded both sides
    // and before it commits: the snapshot policy is asked in between.
    let calls = Arc::new(AtomicUsize::new(0));
    let name = Arc::new(std::sync::OnceLock::<String>::new());
    let policy = {
        let calls = Arc::clone(&calls);
        let name = Arc::clone(&name);
        SnapshotPolicy::custom(move |_| {
            if calls.fetch_add(1, Ordering::SeqCst) == 1 {
                let name = name.get().expect("the table name").clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    runtime.block_on(async {
                        let other = EventStore::<Account>::new(
                            same_table(&name).await,
                            StoreOptions::default(),
                        )
                        .expect("store");
                        other
                            .append(
                                "alice",
                                2,
                                vec![AccountEvent::Deposited { amount: 7 }],
                                Metadata::default(),
                            )
                            .await
                            .expect("the other writer's append");
                    });
                })
                .join()
                .expect("the other writer");
            }
            false
        })
    };
    let table = common::table().await;
    name.set(table.name().to_owned()).expect("once");
    let setup = EventStore::<Account>::new(table.clone(), StoreOptions::default()).expect("store");
    funded(&setup, "alice", 100).await;
    funded(&setup, "bob", 5).await;
    let store = EventStore::<Account>::new(table, StoreOptions::default().snapshots(policy))
        .expect("store");

    let outcomes = store
        .execute_all(transfer("alice", "bob", 30), CommandOptions::default())
        .await
        .expect("transfer");
    assert_eq!(calls.load(Ordering::SeqCst), 4, "two sides, two attempts");
    let (from, to) = (&outcomes[0], &outcomes[1]);
    assert_eq!(from.attempts, 2);
    // Two loads (snapshot and events each: the policy is not `Never`), the
    // failed commit, a catch-up read on each side, the commit.
    assert_eq!(from.requests, 8);
    assert_eq!((from.version, to.version), (4, 3));
    assert_eq!(from.state.as_ref().map(|s| s.balance), Some(77));
    assert_eq!(to.state.as_ref().map(|s| s.balance), Some(35));
    assert_eq!(
        from.events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![4]
    );
    assert_eq!(balance_and_version(&store, "alice").await, (77, 4));
    assert_eq!(balance_and_version(&store, "bob").await, (35, 3));
    assert_eq!(common::versions(&store, "alice").await, vec![1, 2, 3, 4]);
    assert_eq!(common::versions(&store, "bob").await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_stale_cached_side_conflicts_and_both_sides_catch_up() {
    let cached = common::store(StoreOptions::default().cache(10)).await;
    let other =
        EventStore::<Account>::new(cached.table().clone(), StoreOptions::default()).expect("store");
    funded(&cached, "alice", 100).await;
    funded(&cached, "bob", 5).await;
    other
        .execute("bob", AccountCommand::Deposit { amount: 11 })
        .await
        .expect("deposit elsewhere");
    let outcomes = cached
        .execute_all(transfer("alice", "bob", 30), CommandOptions::default())
        .await
        .expect("transfer");
    let (from, to) = (&outcomes[0], &outcomes[1]);
    assert_eq!(from.attempts, 2);
    // The failed commit, a catch-up read on each side, the commit.
    assert_eq!(from.requests, 4);
    assert_eq!((from.version, to.version), (3, 4));
    assert_eq!(to.state.as_ref().map(|s| s.balance), Some(46));
    assert_eq!(balance_and_version(&other, "alice").await, (70, 3));
    assert_eq!(balance_and_version(&other, "bob").await, (46, 4));
    assert_eq!(common::versions(&other, "alice").await, vec![1, 2, 3]);
    assert_eq!(common::versions(&other, "bob").await, vec![1, 2, 3, 4]);
}

/// A small deterministic generator, one per task.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_conserve_money() {
    const ACCOUNTS: [&str; 4] = ["a", "b", "c", "d"];
    const START: i64 = 500;
    let store = common::store(
        StoreOptions::default().retry(
            RetryPolicy::default()
                .max_attempts(300)
                .min_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(40)),
        ),
    )
    .await;
    for id in ACCOUNTS {
        funded(&store, id, START).await;
    }
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ ((task + 1) * 0x1234_5678_9ABC));
                let (mut moved, mut done, mut refused) = (0i64, 0u64, 0u64);
                for _ in 0..20 {
                    let from = usize::try_from(rng.below(4)).expect("small");
                    let to = (from + 1 + usize::try_from(rng.below(3)).expect("small")) % 4;
                    let amount = i64::try_from(rng.below(300) + 1).expect("small");
                    match store
                        .execute_all(
                            transfer(ACCOUNTS[from], ACCOUNTS[to], amount),
                            CommandOptions::default(),
                        )
                        .await
                    {
                        Ok(outcomes) => {
                            assert_eq!(outcomes.len(), 2);
                            assert_eq!(outcomes[0].version, outcomes[0].events[0].version);
                            moved += amount;
                            done += 1;
                        }
                        Err(error) => {
                            assert!(
                                matches!(
                                    error.rejection(),
                                    Some(AccountError::InsufficientFunds { .. })
                                ),
                                "{error:?}"
                            );
                            refused += 1;
                        }
                    }
                }
                (moved, done, refused)
            })
        })
        .collect();
    let (mut moved, mut done, mut refused) = (0, 0, 0);
    for task in tasks {
        let (m, d, r) = task.await.expect("task");
        moved += m;
        done += d;
        refused += r;
    }
    assert_eq!(done + refused, 160);
    assert!(done > 0, "some transfers went through");
    let mut total = 0;
    let (mut withdrawn, mut deposited, mut transfers) = (0, 0, 0);
    for id in ACCOUNTS {
        let events = common::all_events(&store, id).await;
        let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
        assert_eq!(versions, (1..=events.len() as u64).collect::<Vec<_>>());
        let loaded = store.load(id).await.expect("load");
        assert_eq!(loaded.state, common::fold::<Account>(&events));
        assert!(loaded.state.balance >= 0, "{id} overdrawn");
        total += loaded.state.balance;
        for event in &events[2..] {
            match event.payload {
                AccountEvent::Withdrawn { amount } => {
                    withdrawn += amount;
                    transfers += 1;
                }
                AccountEvent::Deposited { amount } => deposited += amount,
                AccountEvent::Opened { .. } => panic!("opened twice"),
            }
        }
    }
    assert_eq!(total, START * 4, "money is conserved");
    assert_eq!(withdrawn, moved);
    assert_eq!(deposited, moved);
    assert_eq!(transfers, done);
}

/// A door: opened, closed, passed through while open.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Door {
    open: bool,
    passes: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, dynago_es::DomainEvent)]
enum DoorEvent {
    Opened,
    Closed,
    Passed,
}

enum DoorCommand {
    Open,
    Close,
    Pass,
    /// Decides nothing, but refuses a closed door; `meanwhile` runs while
    /// it decides.
    MustBeOpen {
        meanwhile: Option<Arc<dyn Fn() + Send + Sync>>,
    },
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("the door is closed")]
struct DoorClosed;

impl dynago_es::Aggregate for Door {
    const TYPE: &'static str = "door";
    type Id = dynago_es::AggregateId;
    type Command = DoorCommand;
    type Event = DoorEvent;
    type Error = DoorClosed;

    fn handle(&self, command: &DoorCommand) -> Result<Vec<DoorEvent>, DoorClosed> {
        match command {
            DoorCommand::Open => Ok(vec![DoorEvent::Opened]),
            DoorCommand::Close => Ok(vec![DoorEvent::Closed]),
            _ if !self.open => Err(DoorClosed),
            DoorCommand::Pass => Ok(vec![DoorEvent::Passed]),
            DoorCommand::MustBeOpen { meanwhile } => {
                if let Some(meanwhile) = meanwhile {
                    meanwhile();
                }
                Ok(vec![])
            }
        }
    }

    fn apply(&mut self, event: &DoorEvent) {
        match event {
            DoorEvent::Opened => self.open = true,
            DoorEvent::Closed => self.open = false,
            DoorEvent::Passed => self.passes += 1,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregate_that_decided_no_events_is_guarded_by_its_version() {
    let table = common::table().await;
    let doors = EventStore::<Door>::new(table.clone(), StoreOptions::default()).expect("store");
    doors.execute("a", DoorCommand::Open).await.expect("open a");
    doors.execute("b", DoorCommand::Open).await.expect("open b");

    // Another writer closes b after b was loaded, before the commit.
    let name = table.name().to_owned();
    let closes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&closes);
    let close_b: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        if counted.fetch_add(1, Ordering::SeqCst) > 0 {
            return;
        }
        let name = name.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let other =
                    EventStore::<Door>::new(same_table(&name).await, StoreOptions::default())
                        .expect("store");
                other
                    .execute("b", DoorCommand::Close)
                    .await
                    .expect("close b");
            });
        })
        .join()
        .expect("the other writer");
    });
    let error = doors
        .execute_all(
            vec![
                ("a".into(), DoorCommand::Pass),
                (
                    "b".into(),
                    DoorCommand::MustBeOpen {
                        meanwhile: Some(close_b),
                    },
                ),
            ],
            CommandOptions::default(),
        )
        .await
        .expect_err("b was closed before the commit: decided again, refused");
    assert_eq!(error.rejection(), Some(&DoorClosed), "{error:?}");
    assert!(error.to_string().contains("door#b"), "{error}");
    // The second decision, on the closed door, refused before `meanwhile`.
    assert_eq!(closes.load(Ordering::SeqCst), 1);
    let a = doors.load("a").await.expect("load a");
    assert_eq!((a.version, a.state.passes), (1, 0), "nobody passed a");
    let b = doors.load("b").await.expect("load b");
    assert_eq!((b.version, b.state.open), (2, false));

    // With b open again, the same command goes through, and guards b.
    doors
        .execute("b", DoorCommand::Open)
        .await
        .expect("reopen b");
    let outcomes = doors
        .execute_all(
            vec![
                ("a".into(), DoorCommand::Pass),
                ("b".into(), DoorCommand::MustBeOpen { meanwhile: None }),
            ],
            CommandOptions::default(),
        )
        .await
        .expect("both open");
    assert_eq!((outcomes[0].version, outcomes[1].version), (2, 3));
    assert!(outcomes[1].events.is_empty());
    assert_eq!(doors.load("a").await.expect("load a").state.passes, 1);
}
