//! Random event items: a real event with each attribute kept, removed or
//! replaced by an arbitrary (nested) value, written raw under an event key
//! and loaded. Whatever the item holds, `load`, the `events` stream and
//! `execute` give a value or a typed `CorruptEvent` that names the aggregate
//! and the version, and agree with one another (a load reads only what its
//! fold needs, so the stream may refuse an item for an attribute the load
//! never read); never a panic.
#[path = "../../dynago/tests/common/arbitrary.rs"]
mod arbitrary;
use crate::common;

use std::cell::Cell;

use common::{raw_get, raw_put, AccountCommand};
use dynago::{AttributeValue, Item};
use dynago_es::{CommandError, Error, EventEnvelope, StoreOptions};
use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The attributes of an event item besides its key.
const FIELDS: &[&str] = &[
    "aggregate_type",
    "aggregate_id",
    "version",
    "event_id",
    "event_type",
    "schema_version",
    "timestamp",
    "metadata",
    "commit_id",
    "payload",
];

/// The attributes that a load does not read (it folds the payloads), but
/// the `events` stream does.
const ENVELOPE_ONLY: &[&str] = &["event_id", "timestamp", "metadata", "commit_id"];

/// Names that the event's types look for, for the nested values.
const KNOWN: &[&str] = &[
    "Opened",
    "Deposited",
    "Withdrawn",
    "owner",
    "amount",
    "correlation_id",
    "causation_id",
    "command_id",
    "extra",
    "version",
    "payload",
    "event_type",
    "timestamp",
];

/// What to do to one attribute: keep it (`None`), remove it
/// (`Some(None)`) or replace it.
type Change = Option<Option<AttributeValue>>;

#[derive(Debug, Clone)]
struct Case {
    /// Which real event to start from.
    template: usize,
    changes: Vec<Change>,
    /// A payload of the right outer shape with an arbitrary body, instead.
    variant_payload: Option<(usize, AttributeValue)>,
    /// More attributes, added first.
    extra: Item,
}

fn case() -> impl Strategy<Value = Case> {
    let change = proptest::option::weighted(
        0.15,
        proptest::option::weighted(0.7, arbitrary::value(KNOWN)),
    );
    (
        0..2usize,
        proptest::collection::vec(change, FIELDS.len()),
        proptest::option::weighted(0.3, (0..3usize, arbitrary::value(KNOWN))),
        arbitrary::item(KNOWN, 3),
    )
        .prop_map(|(template, changes, variant_payload, extra)| Case {
            template,
            changes,
            variant_payload,
            extra,
        })
}

/// The event item of `case` for the aggregate `id`, version 1.
fn build(templates: &[Item], case: &Case, id: &str) -> Item {
    let mut item = templates[case.template].clone();
    for (name, value) in &case.extra {
        if name != "pk" && name != "sk" {
            item.insert(name.clone(), value.clone());
        }
    }
    item.insert("aggregate_id".into(), AttributeValue::S(id.to_owned()));
    if let Some((variant, body)) = &case.variant_payload {
        let variant = ["Opened", "Deposited", "Withdrawn"][*variant];
        item.insert(
            "payload".into(),
            AttributeValue::M(Item::from([(variant.to_owned(), body.clone())])),
        );
    }
    for (name, change) in FIELDS.iter().zip(&case.changes) {
        match change {
            None => {}
            Some(None) => {
                item.remove(*name);
            }
            Some(Some(value)) => {
                item.insert((*name).to_owned(), value.clone());
            }
        }
    }
    item.insert("pk".into(), AttributeValue::S(format!("account#{id}")));
    item.insert(
        "sk".into(),
        AttributeValue::S("e#00000000000000000001".into()),
    );
    item
}

/// The outcome of a read, as a value to compare: the version read, or the
/// corrupt event's reason.
fn outcome(
    what: &str,
    aggregate: &str,
    result: Result<u64, Error>,
) -> Result<Result<u64, String>, TestCaseError> {
    match result {
        Ok(version) => {
            prop_assert_eq!(version, 1, "{}", what);
            Ok(Ok(version))
        }
        Err(Error::CorruptEvent {
            aggregate: a,
            version,
            reason,
        }) => {
            prop_assert_eq!(&a, aggregate, "{}", what);
            prop_assert_eq!(version, 1, "{}: the version of the key", what);
            Ok(Err(reason))
        }
        Err(other) => Err(TestCaseError::fail(format!("{what}: {other:?}"))),
    }
}

#[test]
fn random_event_items_load_as_events_or_corrupt_events() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (store, templates) = runtime.block_on(async {
        let store = common::store(StoreOptions::default()).await;
        store.execute("t", common::open("ada")).await.expect("open");
        store
            .execute("t", AccountCommand::Deposit { amount: 5 })
            .await
            .expect("deposit");
        let mut templates = Vec::new();
        for version in 1..=2 {
            let mut item = raw_get(store.table(), common::event_key("account", "t", version))
                .await
                .expect("an event");
            // Each template as event 1.
            item.insert("version".into(), AttributeValue::N("1".into()));
            templates.push(item);
        }
        (store, templates)
    });
    let counter = Cell::new(0u32);
    let tally = Cell::new((0usize, 0usize));
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        let n = counter.get() + 1;
        counter.set(n);
        let id = format!("f{n}");
        let aggregate = format!("account#{id}");
        let item = build(&templates, &case, &id);
        runtime.block_on(async {
            raw_put(store.table(), item).await;
            let loaded = outcome(
                "load",
                &aggregate,
                store.load(id.as_str()).await.map(|l| l.version),
            )?;
            let streamed: Result<Vec<EventEnvelope<_>>, Error> =
                store.events(id.as_str(), 1).try_collect().await;
            let streamed = outcome(
                "events",
                &aggregate,
                streamed.map(|events| events.last().map_or(0, |e| e.version)),
            )?;
            // A load reads what the state needs; the stream reads every
            // attribute. They agree, except that an attribute only the
            // stream reads may fail the stream alone.
            match (&loaded, &streamed) {
                (Ok(_), Err(reason)) => prop_assert!(
                    ENVELOPE_ONLY
                        .iter()
                        .any(|name| reason.contains(&format!("attribute `{name}`"))),
                    "the load read what the stream could not: {}",
                    reason
                ),
                (Err(_), Err(_)) => {}
                _ => prop_assert_eq!(&loaded, &streamed, "load and events agree"),
            }
            let executed = store
                .execute(id.as_str(), AccountCommand::Deposit { amount: 1 })
                .await;
            match (&loaded, executed) {
                (Ok(_), Ok(outcome)) => prop_assert_eq!(outcome.version, 2),
                (Ok(_), Err(error)) => prop_assert!(error.rejection().is_some(), "{error:?}"),
                (Err(reason), Err(CommandError::Store(Error::CorruptEvent { reason: r, .. }))) => {
                    prop_assert_eq!(reason, &r)
                }
                (Err(_), other) => return Err(TestCaseError::fail(format!("execute: {other:?}"))),
            }
            let (ok, corrupt) = tally.get();
            tally.set(match loaded {
                Ok(_) => (ok + 1, corrupt),
                Err(_) => (ok, corrupt + 1),
            });
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (ok, corrupt) = tally.get();
    assert!(ok >= 10 && corrupt >= 100, "{ok} read, {corrupt} corrupt");
}
