//! Snapshots of states of every serde shape: a state loaded from its
//! snapshot is the state its events replay to, and a state that cannot be
//! snapshotted (it does not serialize, DynamoDB refuses it, or a foreign
//! item holds the snapshot's key) never blocks its events.

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use dynago::{string_value, AttributeValue, Item};
use dynago_es::{
    testing::snapshot_round_trip, Aggregate, DomainEvent, Error, EventStore, SnapshotDue,
    SnapshotPolicy, StoreOptions,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::{Deserialize, Serialize};

fn every(n: u64) -> StoreOptions {
    StoreOptions::default().snapshots(SnapshotPolicy::Every(n))
}

/// Names registered once each, some with a number and some without.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Registry {
    names: BTreeMap<String, Option<u32>>,
    /// Names marked, with no value at all.
    marks: BTreeMap<String, ()>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
enum RegistryEvent {
    Registered { name: String, number: Option<u32> },
    Marked { name: String },
}

enum RegistryCommand {
    Register { name: String, number: Option<u32> },
    Mark { name: String },
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{0} is taken")]
struct Taken(String);

impl Aggregate for Registry {
    const TYPE: &'static str = "registry";
    type Id = dynago_es::AggregateId;
    type Command = RegistryCommand;
    type Event = RegistryEvent;
    type Error = Taken;

    fn handle(&self, command: &RegistryCommand) -> Result<Vec<RegistryEvent>, Taken> {
        match command {
            RegistryCommand::Register { name, .. } | RegistryCommand::Mark { name }
                if self.names.contains_key(name) || self.marks.contains_key(name) =>
            {
                Err(Taken(name.clone()))
            }
            RegistryCommand::Register { name, number } => Ok(vec![RegistryEvent::Registered {
                name: name.clone(),
                number: *number,
            }]),
            RegistryCommand::Mark { name } => {
                Ok(vec![RegistryEvent::Marked { name: name.clone() }])
            }
        }
    }

    fn apply(&mut self, event: &RegistryEvent) {
        match event {
            RegistryEvent::Registered { name, number } => {
                self.names.insert(name.clone(), *number);
            }
            RegistryEvent::Marked { name } => {
                self.marks.insert(name.clone(), ());
            }
        }
    }
}

fn register(name: &str, number: Option<u32>) -> RegistryCommand {
    RegistryCommand::Register {
        name: name.to_owned(),
        number,
    }
}

#[tokio::test]
async fn map_entries_without_a_value_survive_a_snapshot() {
    let table = common::table().await;
    let store = EventStore::<Registry>::new(table.clone(), every(1)).expect("a store");
    store
        .execute("r", register("ada", None))
        .await
        .expect("ada");
    store
        .execute("r", RegistryCommand::Mark { name: "bob".into() })
        .await
        .expect("bob");
    store
        .execute("r", register("cy", Some(7)))
        .await
        .expect("cy");

    // A fresh store loads from the snapshot: ada and bob are there.
    let fresh = EventStore::<Registry>::new(table.clone(), every(1)).expect("a store");
    let loaded = fresh.load("r").await.expect("load");
    assert_eq!((loaded.snapshot_version, loaded.events_read), (3, 0));
    let replayed = EventStore::<Registry>::new(table, StoreOptions::default())
        .expect("a store")
        .load("r")
        .await
        .expect("replay");
    assert_eq!(replayed.snapshot_version, 0);
    assert_eq!(loaded.state, replayed.state);
    assert_eq!(
        loaded.state.names,
        BTreeMap::from([("ada".to_owned(), None), ("cy".to_owned(), Some(7))])
    );
    for name in ["ada", "bob"] {
        let error = fresh
            .execute("r", register(name, Some(1)))
            .await
            .expect_err("taken");
        assert_eq!(error.rejection(), Some(&Taken(name.to_owned())));
    }
}

/// A state that holds shapes a snapshot cannot take.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Quirks {
    count: u64,
    /// Not a map DynamoDB can hold: its keys are not strings.
    pairs: BTreeMap<(u8, u8), u32>,
    /// NaN is no DynamoDB number.
    ratio: Option<f64>,
    /// Past 32 levels, DynamoDB refuses it.
    nest: Option<Box<Level>>,
    /// Keyed by bytes: `serde_dynamo` panics on it.
    by_bytes: BTreeMap<Vec<u8>, u32>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Level {
    inner: Option<Box<Level>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, DomainEvent)]
enum QuirkEvent {
    Counted,
    Paired {
        a: u8,
        b: u8,
    },
    Divided {
        num: i32,
        den: i32,
    },
    Deepened {
        levels: u32,
    },
    Keyed {
        key: Vec<u8>,
    },
    /// An event that cannot be written itself.
    Mapped {
        by_bytes: BTreeMap<Vec<u8>, u32>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Quirks {
    const TYPE: &'static str = "quirks";
    type Id = dynago_es::AggregateId;
    type Command = QuirkEvent;
    type Event = QuirkEvent;
    type Error = Never;

    fn handle(&self, command: &QuirkEvent) -> Result<Vec<QuirkEvent>, Never> {
        Ok(vec![command.clone()])
    }

    fn apply(&mut self, event: &QuirkEvent) {
        match event {
            QuirkEvent::Counted => self.count += 1,
            QuirkEvent::Paired { a, b } => {
                self.pairs.insert((*a, *b), 1);
            }
            QuirkEvent::Divided { num, den } => {
                self.ratio = Some(f64::from(*num) / f64::from(*den));
            }
            QuirkEvent::Deepened { levels } => {
                for _ in 0..*levels {
                    self.nest = Some(Box::new(Level {
                        inner: self.nest.take(),
                    }));
                }
            }
            QuirkEvent::Keyed { key } => {
                self.by_bytes.insert(key.clone(), 1);
            }
            QuirkEvent::Mapped { by_bytes } => self.by_bytes.extend(by_bytes.clone()),
        }
    }
}

/// After `quirk` (version 1), five counts, snapshots due every 2 events:
/// every command goes in, and the aggregate loads right.
async fn counts_after(quirk: QuirkEvent, options: StoreOptions) -> EventStore<Quirks> {
    let store = EventStore::<Quirks>::new(common::table().await, options).expect("a store");
    let outcome = store.execute("q", quirk).await.expect("the quirk");
    assert_eq!(outcome.version, 1);
    for version in 2..=6 {
        let outcome = store
            .execute("q", QuirkEvent::Counted)
            .await
            .unwrap_or_else(|e| panic!("count at version {version}: {e}"));
        assert_eq!(outcome.version, version);
    }
    let loaded = store.load("q").await.expect("load");
    assert_eq!((loaded.version, loaded.state.count), (6, 5));
    store
}

async fn raw_snapshot(store: &EventStore<Quirks>) -> Option<Item> {
    common::raw_get(store.table(), common::snapshot_key("quirks", "q")).await
}

#[tokio::test]
async fn a_state_that_does_not_serialize_never_blocks_its_events() {
    let store = counts_after(QuirkEvent::Paired { a: 1, b: 2 }, every(2)).await;
    assert_eq!(
        raw_snapshot(&store).await,
        None,
        "no snapshot can be written"
    );
}

#[tokio::test]
async fn a_state_keyed_by_bytes_never_blocks_its_events() {
    let store = counts_after(QuirkEvent::Keyed { key: vec![1, 2] }, every(2)).await;
    assert_eq!(
        raw_snapshot(&store).await,
        None,
        "no snapshot can be written"
    );
}

#[tokio::test]
async fn an_event_keyed_by_bytes_is_a_serialize_error_not_a_panic() {
    let store = EventStore::<Quirks>::new(common::table().await, every(2)).expect("a store");
    let error = store
        .execute(
            "q",
            QuirkEvent::Mapped {
                by_bytes: BTreeMap::from([(vec![7], 1)]),
            },
        )
        .await
        .expect_err("cannot be written");
    assert!(
        matches!(
            error,
            dynago_es::CommandError::Store(Error::Serialize { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("event 1 of quirks#q"), "{error}");
    assert_eq!(store.load("q").await.expect("load").version, 0);
}

#[tokio::test]
async fn a_state_dynamodb_refuses_never_blocks_its_events() {
    // NaN is no DynamoDB number.
    let store = counts_after(QuirkEvent::Divided { num: 0, den: 0 }, every(2)).await;
    if let Some(snapshot) = raw_snapshot(&store).await {
        panic!("a snapshot with NaN was stored: {snapshot:?}");
    }
    // Nested past DynamoDB's 32 levels.
    counts_after(QuirkEvent::Deepened { levels: 40 }, every(2)).await;
}

#[tokio::test]
async fn a_foreign_item_at_the_snapshot_key_never_blocks_the_events() {
    let table = common::table().await;
    let mut foreign = Item::new();
    foreign.insert("pk".into(), string_value("quirks#q"));
    foreign.insert("sk".into(), string_value("snapshot"));
    foreign.insert("note".into(), string_value("not a snapshot"));
    common::raw_put(&table, foreign.clone()).await;
    let store = EventStore::<Quirks>::new(table, every(2)).expect("a store");
    for version in 1..=6 {
        let outcome = store
            .execute("q", QuirkEvent::Counted)
            .await
            .unwrap_or_else(|e| panic!("count at version {version}: {e}"));
        assert_eq!(outcome.version, version);
    }
    let loaded = store.load("q").await.expect("load");
    assert_eq!(
        (loaded.version, loaded.snapshot_version, loaded.state.count),
        (6, 0, 6)
    );
    assert_eq!(raw_snapshot(&store).await, Some(foreign), "left as it was");
}

#[tokio::test]
async fn a_snapshot_left_out_is_not_counted_as_the_last_one() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let policy = SnapshotPolicy::custom(move |due: &SnapshotDue| {
        record.lock().expect("the record").push(due.last_snapshot);
        due.after - due.last_snapshot >= 2
    });
    let options = StoreOptions::default().snapshots(policy).cache(10);
    let store = counts_after(QuirkEvent::Paired { a: 1, b: 2 }, options).await;
    assert_eq!(raw_snapshot(&store).await, None);
    let seen = seen.lock().expect("the record").clone();
    assert_eq!(seen, vec![0; 6], "no snapshot was ever written");
    // The cache agrees with the table.
    let loaded = store.load("q").await.expect("load");
    assert_eq!(loaded.snapshot_version, 0);
}

/// A state of every shape serde gives a snapshot: options, units, nested
/// maps, sets, enums, large and negative numbers.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Kitchen {
    options: BTreeMap<String, Option<u32>>,
    units: Vec<()>,
    unit_map: BTreeMap<String, ()>,
    nested: BTreeMap<String, BTreeMap<String, Option<i64>>>,
    sorted: BTreeSet<String>,
    hashed: HashSet<i32>,
    choices: Vec<Choice>,
    big: u64,
    negative: i64,
    float: f64,
    text: Option<String>,
    flag: Option<bool>,
    bytes: Vec<u8>,
    unit: (),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Choice {
    Unit,
    New(i32),
    Pair(u8, String),
    Named { a: Option<bool>, b: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
enum KitchenEvent {
    Replaced(Box<Kitchen>),
}

impl Aggregate for Kitchen {
    const TYPE: &'static str = "kitchen";
    type Id = dynago_es::AggregateId;
    type Command = Kitchen;
    type Event = KitchenEvent;
    type Error = Never;

    fn handle(&self, next: &Kitchen) -> Result<Vec<KitchenEvent>, Never> {
        Ok(vec![KitchenEvent::Replaced(Box::new(next.clone()))])
    }

    fn apply(&mut self, event: &KitchenEvent) {
        let KitchenEvent::Replaced(next) = event;
        *self = (**next).clone();
    }
}

fn name() -> impl Strategy<Value = String> {
    "[a-z]{1,6}"
}

fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        Just(Choice::Unit),
        any::<i32>().prop_map(Choice::New),
        (any::<u8>(), name()).prop_map(|(n, s)| Choice::Pair(n, s)),
        (
            any::<Option<bool>>(),
            proptest::collection::vec(any::<u8>(), 0..4)
        )
            .prop_map(|(a, b)| Choice::Named { a, b }),
    ]
}

fn kitchen() -> impl Strategy<Value = Kitchen> {
    use proptest::collection::{btree_map, btree_set, hash_set, vec};
    (
        btree_map(name(), any::<Option<u32>>(), 0..5),
        vec(Just(()), 0..3),
        btree_map(name(), Just(()), 0..3),
        btree_map(name(), btree_map(name(), any::<Option<i64>>(), 0..3), 0..3),
        btree_set(name(), 0..4),
        hash_set(any::<i32>(), 0..12),
        vec(choice(), 0..4),
        (any::<u64>(), i64::MIN..0i64, -1_000_000i32..1_000_000),
        (
            proptest::option::of(name()),
            any::<Option<bool>>(),
            vec(any::<u8>(), 0..5),
        ),
    )
        .prop_map(
            |(options, units, unit_map, nested, sorted, hashed, choices, numbers, rest)| {
                let (big, negative, milli) = numbers;
                let (text, flag, bytes) = rest;
                Kitchen {
                    options,
                    units,
                    unit_map,
                    nested,
                    sorted,
                    hashed,
                    choices,
                    big,
                    negative,
                    float: f64::from(milli) / 1000.0,
                    text,
                    flag,
                    bytes,
                    unit: (),
                }
            },
        )
}

#[test]
fn every_state_survives_the_snapshot_codec() {
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&kitchen(), |state| {
            prop_assert_eq!(snapshot_round_trip(&state), Ok(state.clone()));
            Ok(())
        })
        .expect("every state comes back equal");
}

#[test]
fn states_that_do_not_survive_a_snapshot_are_named() {
    let mut quirks = Quirks::default();
    quirks.apply(&QuirkEvent::Paired { a: 1, b: 2 });
    let reason = snapshot_round_trip(&quirks).expect_err("tuple keys");
    assert!(reason.contains("Key must be a string"), "{reason}");
    let mut quirks = Quirks::default();
    quirks.apply(&QuirkEvent::Keyed { key: vec![1] });
    snapshot_round_trip(&quirks).expect_err("bytes keys");

    /// Writes a field that it cannot read back when it is empty.
    #[derive(Debug, Default, Clone, Serialize, Deserialize)]
    struct Lossy {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        items: Vec<u8>,
    }
    let reason = snapshot_round_trip(&Lossy::default()).expect_err("missing field");
    assert!(reason.contains("does not read back"), "{reason}");
}

/// A state loaded from its snapshot equals the state its events replay to,
/// through the real server: one state per case, snapshotted at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_loaded_from_snapshots_equal_their_replay() {
    let table = common::table().await;
    let snapshots = EventStore::<Kitchen>::new(table.clone(), every(1)).expect("a store");
    let replays = EventStore::<Kitchen>::new(table, StoreOptions::default()).expect("a store");
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = tokio::task::spawn_blocking(move || {
        runner
            .run(&kitchen(), |state| {
                handle.block_on(async {
                    let id = dynago_es::AggregateId::random();
                    snapshots
                        .execute(&id, state.clone())
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let loaded = snapshots
                        .load(&id)
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!((loaded.snapshot_version, loaded.events_read), (1, 0));
                    let replayed = replays
                        .load(&id)
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&loaded.state, &replayed.state);
                    prop_assert_eq!(&loaded.state, &state);
                    Ok(())
                })
            })
            .map_err(|failure| failure.to_string())
    })
    .await
    .expect("the property test ran");
    result.expect("every snapshot loads as its replay");
}

#[test]
fn attribute_values_of_a_state_keep_their_nulls() {
    let state = Registry {
        names: BTreeMap::from([("ada".to_owned(), None)]),
        marks: BTreeMap::from([("bob".to_owned(), ())]),
    };
    let value: AttributeValue = dynago::item::to_attribute_value(&state).expect("a value");
    let AttributeValue::M(map) = value else {
        panic!("a map")
    };
    assert!(matches!(&map["names"], AttributeValue::M(names) if names.contains_key("ada")));
    assert!(matches!(&map["marks"], AttributeValue::M(marks) if marks.contains_key("bob")));
}
