//! Values the differential test does not draw, through every read path.
//! A write that is accepted comes back identical from each; a value that
//! cannot is refused when written.
use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use dynago_es::{
    Aggregate, AggregateId, DomainEvent, EventStore, Metadata, PayloadEncoding, SnapshotPolicy,
    StoreOptions, Upcaster,
};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Inner {
    A { u: u64, i: i64, f: f64 },
    B { text: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
pub enum Odd {
    Json { value: serde_json::Value },
    IntKeys { map: BTreeMap<i64, String> },
    BoolKeys { map: BTreeMap<bool, u8> },
    CharKeys { map: BTreeMap<char, u8> },
    EmptyKey { map: BTreeMap<String, String> },
    Tagged { inner: Inner },
    Chars { c: char, s: BTreeSet<String> },
    Unit,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Odds {
    all: Vec<Odd>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

impl Aggregate for Odds {
    const TYPE: &'static str = "odds";
    type Id = dynago_es::AggregateId;
    type Command = Vec<Odd>;
    type Event = Odd;
    type Error = Never;
    fn handle(&self, c: &Vec<Odd>) -> Result<Vec<Odd>, Never> {
        Ok(c.clone())
    }
    fn apply(&mut self, e: &Odd) {
        self.all.push(e.clone());
    }
}

const TYPES: [&str; 8] = [
    "Json", "IntKeys", "BoolKeys", "CharKeys", "EmptyKey", "Tagged", "Chars", "Unit",
];

fn readers() -> Vec<(&'static str, StoreOptions)> {
    let json_up = TYPES
        .into_iter()
        .map(|t| Upcaster::new(t, 1, Ok::<_, &str>))
        .fold(StoreOptions::default(), StoreOptions::upcaster);
    let exact_up = TYPES
        .into_iter()
        .map(|t| Upcaster::exact(t, 1, Ok::<_, &str>))
        .fold(StoreOptions::default(), StoreOptions::upcaster);
    vec![
        ("plain", StoreOptions::default()),
        (
            "snapshots",
            StoreOptions::default().snapshots(SnapshotPolicy::Every(1)),
        ),
        ("json upcasters", json_up),
        ("exact upcasters", exact_up),
    ]
}

fn cases() -> Vec<(&'static str, Odd)> {
    vec![
        (
            "json value integers and strings",
            Odd::Json {
                value: serde_json::json!({"n": -5, "s": "x#y", "empty": {}, "list": [], "null": null}),
            },
        ),
        (
            "int keys",
            Odd::IntKeys {
                map: BTreeMap::from([(-1, "a".into()), (i64::MAX, "b".into()), (0, "c".into())]),
            },
        ),
        (
            "bool keys",
            Odd::BoolKeys {
                map: BTreeMap::from([(true, 1), (false, 0)]),
            },
        ),
        (
            "char keys",
            Odd::CharKeys {
                map: BTreeMap::from([('é', 1), ('#', 2)]),
            },
        ),
        (
            "empty map key",
            Odd::EmptyKey {
                map: BTreeMap::from([(String::new(), "v".into()), ("k".into(), String::new())]),
            },
        ),
        (
            "internally tagged with wide numbers",
            Odd::Tagged {
                inner: Inner::A {
                    u: u64::MAX,
                    i: i64::MIN,
                    f: 0.1 + 0.2,
                },
            },
        ),
        (
            "internally tagged float that is an integer",
            Odd::Tagged {
                inner: Inner::A { u: 0, i: 0, f: 3.0 },
            },
        ),
        (
            "chars and an empty set",
            Odd::Chars {
                c: '\u{0}',
                s: BTreeSet::new(),
            },
        ),
        ("unit", Odd::Unit),
    ]
}

#[tokio::test]
async fn odd_values_come_back_identical_or_are_refused() {
    let mut problems = Vec::new();
    for (encoding, snap) in [
        (PayloadEncoding::Map, false),
        (PayloadEncoding::Json, false),
        (PayloadEncoding::Map, true),
        (PayloadEncoding::Json, true),
    ] {
        for (what, event) in cases() {
            let table = common::table().await;
            let writer = EventStore::<Odds>::new(
                table.clone(),
                if snap {
                    StoreOptions::default()
                        .payload_encoding(encoding)
                        .snapshots(SnapshotPolicy::Every(1))
                } else {
                    StoreOptions::default().payload_encoding(encoding)
                },
            )
            .expect("a store");
            let id = AggregateId::new("odd#1");
            let written = writer
                .execute_with(
                    &id,
                    vec![event.clone()],
                    dynago_es::CommandOptions::default()
                        .metadata(Metadata::default().with("k", "").with("#", "é")),
                )
                .await;
            let written = match written {
                Ok(outcome) => outcome,
                Err(error) => {
                    eprintln!("{encoding:?}/{snap} {what}: refused: {error}");
                    continue;
                }
            };
            let want = format!("{:?}", vec![event.clone()]);
            let meta = format!("{:?}", written.events[0].metadata);
            for (reader, options) in readers() {
                let store = EventStore::<Odds>::new(table.clone(), options).expect("a store");
                // Load twice: the second may start from the snapshot the first left.
                for round in 0..2 {
                    match store.load(&id).await {
                        Ok(loaded) => {
                            let got = format!("{:?}", loaded.state.all);
                            if got != want {
                                problems.push(format!(
                                    "{encoding:?}/{snap} {what} via {reader} load {round}: wrote {want}, loaded {got}"
                                ));
                            }
                        }
                        Err(error) => problems.push(format!(
                            "{encoding:?}/snapshots:{snap} {what} via {reader} load {round}: written (Ok) but unreadable: {error}"
                        )),
                    }
                }
                let events: Result<Vec<_>, _> = store.events(&id, 1).try_collect().await;
                match events {
                    Ok(events) => {
                        let got = format!(
                            "{:?}",
                            events.iter().map(|e| e.payload.clone()).collect::<Vec<_>>()
                        );
                        if got != want {
                            problems.push(format!(
                                "{encoding:?}/snapshots:{snap} {what} via {reader} events: wrote {want}, read {got}"
                            ));
                        }
                        let got_meta = format!("{:?}", events[0].metadata);
                        if got_meta != meta {
                            problems.push(format!(
                                "{encoding:?}/snapshots:{snap} {what} via {reader} metadata: wrote {meta}, read {got_meta}"
                            ));
                        }
                    }
                    Err(error) => problems.push(format!(
                        "{encoding:?}/snapshots:{snap} {what} via {reader} events: written (Ok) but unreadable: {error}"
                    )),
                }
            }
        }
    }
    for p in &problems {
        eprintln!("PROBLEM: {p}");
    }
    assert!(problems.is_empty(), "{} problems", problems.len());
}

/// A `serde_json::Value` float that is a whole number (`1.0`), in an event
/// written with the map encoding (the default): the write is `Ok`, and
/// every read path gives the integer `1` (DynamoDB keeps `N "1"`), a
/// different `Value` (`is_f64()` false; re-serialized as `1`, not `1.0`).
/// The outcome of `execute` held `1.0`.
#[tokio::test]
async fn a_whole_json_float_in_a_map_payload_comes_back_a_float_or_is_refused() {
    let table = common::table().await;
    let store = EventStore::<Odds>::new(table.clone(), StoreOptions::default()).expect("a store");
    let event = Odd::Json {
        value: serde_json::json!({"a": 1.0}),
    };
    let written = store.execute("j", vec![event.clone()]).await;
    let Ok(written) = written else {
        return; // refused when written: a true answer
    };
    assert_eq!(written.events[0].payload, event);
    let fresh = EventStore::<Odds>::new(table, StoreOptions::default()).expect("a store");
    let loaded = fresh.load("j").await.expect("loaded").state.all;
    assert_eq!(loaded, vec![event], "written Ok as 1.0, loaded otherwise");
}

/// The JSON payload encoding keeps `1.0` in the event; a snapshot (always
/// a map) does not. A store that starts from the snapshot gives another
/// state than one that replays the events.
#[tokio::test]
async fn a_snapshot_gives_the_state_the_events_give() {
    let table = common::table().await;
    let json = || StoreOptions::default().payload_encoding(PayloadEncoding::Json);
    let writer = EventStore::<Odds>::new(table.clone(), json().snapshots(SnapshotPolicy::Every(1)))
        .expect("a store");
    let event = Odd::Json {
        value: serde_json::json!({"a": 1.0}),
    };
    writer
        .execute("j", vec![event.clone()])
        .await
        .expect("written");
    let from_events: Vec<Odd> = EventStore::<Odds>::new(table.clone(), json())
        .expect("a store")
        .events("j", 1)
        .map_ok(|e| e.payload)
        .try_collect()
        .await
        .expect("events");
    assert_eq!(from_events, vec![event.clone()], "the events keep 1.0");
    let loaded = EventStore::<Odds>::new(table, json().snapshots(SnapshotPolicy::Every(1)))
        .expect("a store")
        .load("j")
        .await
        .expect("loaded");
    assert_eq!(
        loaded.state.all, from_events,
        "loaded from the snapshot at version {}",
        loaded.snapshot_version
    );
}
