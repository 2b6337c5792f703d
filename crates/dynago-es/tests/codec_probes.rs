//! Probes of the serde-free event item codec (`event_item.rs`): hand-built
//! items read through `read_event_item`, `events` and `load` exactly as the
//! previous version read them (serde_dynamo, one header attribute at a time
//! in the header's order, modelled here), refusals being
//! `Error::CorruptEvent` naming the aggregate and the version; and items
//! written by `event_item` byte for byte as serde wrote the header, for
//! times, ids and metadata at the edges.
use crate::common;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use common::{event_key, raw_put, Account, AccountEvent};
use dynago::sdk::primitives::Blob;
use dynago::{AttributeValue, Item, Table, TableDefinition};
use dynago_es::{EventEnvelope, EventStore, Metadata, PayloadEncoding, StoreOptions};
use dynago_local::testing;
use futures::TryStreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The header as the previous version wrote and read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OldHeader {
    aggregate_type: String,
    aggregate_id: String,
    version: u64,
    event_id: Uuid,
    event_type: String,
    schema_version: u32,
    timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    metadata: Metadata,
    commit_id: Uuid,
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(text: &str) -> AttributeValue {
    AttributeValue::N(text.to_owned())
}

fn old<T: DeserializeOwned>(item: &Item, name: &str) -> Result<T, String> {
    let value = item.get(name).cloned().ok_or(format!("no {name}"))?;
    serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value).map_err(|e| e.to_string())
}

/// The previous version's full read (`events`, `read_event_item`) of event
/// 1 of `account#{id}`: the header, its agreement with the key and stream,
/// the payload (the map form first).
fn old_read(item: &Item, id: &str) -> Result<(OldHeader, AccountEvent), String> {
    let header = OldHeader {
        aggregate_type: old(item, "aggregate_type")?,
        aggregate_id: old(item, "aggregate_id")?,
        version: old(item, "version")?,
        event_id: old(item, "event_id")?,
        event_type: old(item, "event_type")?,
        schema_version: old(item, "schema_version")?,
        timestamp: old(item, "timestamp")?,
        metadata: match item.get("metadata") {
            None | Some(AttributeValue::Null(_)) => Metadata::default(),
            Some(_) => old(item, "metadata")?,
        },
        commit_id: old(item, "commit_id")?,
    };
    agrees(
        &header.aggregate_type,
        &header.aggregate_id,
        header.version,
        id,
    )?;
    Ok((header, old_payload(item)?))
}

/// The previous version's replay (`load`): five attributes only.
fn old_replay(item: &Item, id: &str) -> Result<AccountEvent, String> {
    let aggregate_type: String = old(item, "aggregate_type")?;
    let aggregate_id: String = old(item, "aggregate_id")?;
    let version: u64 = old(item, "version")?;
    let _: String = old(item, "event_type")?;
    let _: u32 = old(item, "schema_version")?;
    agrees(&aggregate_type, &aggregate_id, version, id)?;
    old_payload(item)
}

fn agrees(aggregate_type: &str, aggregate_id: &str, version: u64, id: &str) -> Result<(), String> {
    if version != 1 || aggregate_type != "account" || aggregate_id != id {
        return Err("disagrees".into());
    }
    Ok(())
}

fn old_payload(item: &Item) -> Result<AccountEvent, String> {
    match (item.get("payload"), item.get("payload_json")) {
        (Some(value), _) => serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value.clone())
            .map_err(|e| e.to_string()),
        (None, Some(AttributeValue::S(text))) => {
            serde_json::from_str(text).map_err(|e| e.to_string())
        }
        _ => Err("no payload".into()),
    }
}

fn opened() -> AccountEvent {
    AccountEvent::Opened {
        owner: "ada".into(),
    }
}

/// The item the store writes for event 1 of `id`.
fn base_item(store: &EventStore<Account>, id: &str) -> Item {
    let event = EventEnvelope::of("account", id, 1, opened())
        .with_metadata(Metadata::default().correlation_id("c").with("user", "ada"));
    store.event_item(&event).expect("an item")
}

/// One change to the base item: an attribute set (`Some`) or removed.
type Change = (&'static str, Option<AttributeValue>);

fn changes() -> Vec<Vec<Change>> {
    let id = "0123456789abcdef0123456789abcdef";
    let blob16 = AttributeValue::B(Blob::new(vec![7; 16]));
    let m = |entries: Vec<(&str, AttributeValue)>| {
        AttributeValue::M(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    };
    let mut all: Vec<Vec<Change>> = vec![vec![]];
    for value in [
        n("+1"),
        n("01"),
        n("00000000000000000000001"),
        n(" 1"),
        n("1 "),
        n("1.0"),
        n("1e0"),
        n("-1"),
        n("2"),
        n("18446744073709551616"),
        s("1"),
        AttributeValue::Null(true),
    ] {
        all.push(vec![("version", Some(value))]);
    }
    all.push(vec![("version", None)]);
    for value in [
        n("+0"),
        n("0000"),
        n("4294967295"),
        n("4294967296"),
        n("-0"),
        n("0.0"),
        s("0"),
        AttributeValue::Null(true),
    ] {
        all.push(vec![("schema_version", Some(value))]);
    }
    all.push(vec![("schema_version", None)]);
    for name in ["event_id", "commit_id"] {
        for value in [
            s(id),
            s(&id.to_uppercase()),
            s(&format!("{{{id}}}")),
            s(&format!("urn:uuid:{id}")),
            s("01234567-89AB-CDEF-0123-456789ABCDEF"),
            s("{01234567-89ab-cdef-0123-456789abcdef}"),
            s("urn:uuid:01234567-89ab-cdef-0123-456789abcdef"),
            s(" 01234567-89ab-cdef-0123-456789abcdef"),
            s("01234567-89ab-cdef-0123-456789abcde"),
            s(""),
            blob16.clone(),
            AttributeValue::L(vec![n("7"); 16]),
            AttributeValue::Null(true),
        ] {
            all.push(vec![(name, Some(value))]);
        }
        all.push(vec![(name, None)]);
    }
    for text in [
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "+10000-01-01T00:00:00Z",
        "-0001-12-31T23:59:59.5Z",
        "2016-12-31T23:59:60Z",
        "2016-12-31T23:59:60.25Z",
        "2026-12-07T11:02:03.1Z",
        "2026-12-07T11:02:03.1234Z",
        "2026-12-07T11:02:03.1234567891Z",
        "2026-12-07t11:02:03z",
        "2026-12-07 11:02:03Z",
        "2026-12-07T11:02:03+05:30",
        "2026-12-07T11:02:03-00:00",
        "2026-12-07T11:02:03UTC",
        "2026-12-07T11:02:03Z ",
        "2026-12-07T11:02:03Zjunk",
        "2026-12-07T24:00:00Z",
        "2026-02-29T00:00:00Z",
        "٢٠٢٦-12-07T11:02:03Z",
        "2026-12-07T11:02:03",
        "",
    ] {
        all.push(vec![("timestamp", Some(s(text)))]);
    }
    let long = format!("2026-12-07T11:02:03.{}Z", "9".repeat(50_000));
    all.push(vec![("timestamp", Some(AttributeValue::S(long)))]);
    all.push(vec![("timestamp", Some(n("1765000000")))]);
    all.push(vec![("timestamp", None)]);
    for value in [
        AttributeValue::Null(true),
        m(vec![]),
        m(vec![("unknown", s("x"))]),
        m(vec![("correlation_id", n("1"))]),
        m(vec![("correlation_id", AttributeValue::Null(true))]),
        m(vec![("extra", AttributeValue::Null(true))]),
        m(vec![("extra", m(vec![("k", AttributeValue::Bool(true))]))]),
        s("{}"),
        AttributeValue::L(vec![s("c")]),
        AttributeValue::Bool(true),
    ] {
        all.push(vec![("metadata", Some(value))]);
    }
    all.push(vec![("metadata", None)]);
    for (name, value) in [
        ("aggregate_type", Some(s("Account"))),
        (
            "aggregate_type",
            Some(AttributeValue::B(Blob::new(b"account".to_vec()))),
        ),
        (
            "aggregate_type",
            Some(AttributeValue::Ss(vec!["account".into()])),
        ),
        ("aggregate_type", None),
        ("aggregate_id", Some(s("other"))),
        ("aggregate_id", Some(n("1"))),
        ("aggregate_id", None),
        ("event_type", Some(s(""))),
        ("event_type", Some(s("Nothing"))),
        ("event_type", Some(n("1"))),
        ("event_type", None),
        ("Version", Some(s("junk"))),
        ("version ", Some(s("junk"))),
        ("VERSION", Some(s("junk"))),
    ] {
        all.push(vec![(name, value)]);
    }
    // Payload: both forms, the map first; a JSON payload of the wrong kind.
    let json = s(r#"{"Opened":{"owner":"ada"}}"#);
    all.push(vec![("payload_json", Some(s("not json")))]);
    all.push(vec![("payload_json", Some(json.clone()))]);
    all.push(vec![
        ("payload", Some(s("junk"))),
        ("payload_json", Some(json.clone())),
    ]);
    all.push(vec![("payload", None), ("payload_json", Some(json))]);
    all.push(vec![("payload", None), ("payload_json", Some(n("1")))]);
    all.push(vec![("payload", None)]);
    all.push(vec![("payload", Some(AttributeValue::Null(true)))]);
    // Two faults: the first in the header's order is the one met.
    all.push(vec![
        ("commit_id", Some(s("bad"))),
        ("version", Some(s("1"))),
    ]);
    all
}

fn changed(mut item: Item, changes: &[Change]) -> Item {
    for (name, value) in changes {
        match value {
            Some(value) => item.insert((*name).to_owned(), value.clone()),
            None => item.remove(*name),
        };
    }
    item
}

fn refusal_named(error: &dynago_es::Error, aggregate: &str) -> bool {
    matches!(error, dynago_es::Error::CorruptEvent { aggregate: a, version: 1, .. } if a == aggregate)
}

fn same_event(new: &EventEnvelope<AccountEvent>, (header, payload): &(OldHeader, AccountEvent)) {
    assert_eq!(new.aggregate_type, header.aggregate_type);
    assert_eq!(new.aggregate_id.as_str(), header.aggregate_id);
    assert_eq!(new.version, header.version);
    assert_eq!(new.event_id, header.event_id);
    assert_eq!(new.event_type, header.event_type);
    assert_eq!(new.schema_version, header.schema_version);
    assert_eq!(new.timestamp, header.timestamp);
    assert_eq!(new.timestamp.nanosecond(), header.timestamp.nanosecond());
    assert_eq!(new.metadata, header.metadata);
    assert_eq!(&new.payload, payload);
}

/// Every hand-built item reads through `read_event_item`, `events` and
/// `load` as the previous version read it: the same event, or a refusal
/// (`CorruptEvent` naming `account#{id}` and version 1), never a panic.
#[tokio::test]
async fn probe_hand_built_items_read_as_the_previous_version_read_them() {
    let store = common::store(StoreOptions::default()).await;
    let mut failures = Vec::new();
    let (mut read, mut refused) = (0, 0);
    for (case, changes) in changes().into_iter().enumerate() {
        let id = format!("probe-{case}");
        let item = changed(base_item(&store, &id), &changes);
        let aggregate = format!("account#{id}");
        let expected = old_read(&item, &id);

        // The item codec.
        let one = |events: Vec<_>| events.into_iter().next();
        match (
            store
                .read_event_item(item.clone())
                .map(|read| read.and_then(one)),
            &expected,
        ) {
            (Ok(Some(event)), Ok(old)) => {
                same_event(&event, old);
                read += 1;
            }
            (Err(e), Err(_)) if refusal_named(&e, &aggregate) => refused += 1,
            (got, want) => failures.push(format!(
                "read_event_item {changes:?}: got {got:?}, the previous version {want:?}"
            )),
        }

        // Stored, as the server keeps it (numbers normalised) or refuses it
        // (a number it cannot read): the readers of the store see the item
        // as stored.
        let table = store.table();
        if testing::try_raw_put(table, item.clone()).await.is_err() {
            continue;
        }
        let item = common::raw_get(table, event_key("account", &id, 1))
            .await
            .expect("stored");
        let expected = old_read(&item, &id);
        // The events stream.
        let events: Result<Vec<_>, _> = store.events(id.as_str(), 1).try_collect().await;
        match (events, &expected) {
            (Ok(events), Ok(old)) if events.len() == 1 => same_event(&events[0], old),
            (Err(e), Err(_)) if refusal_named(&e, &aggregate) => {}
            (got, want) => failures.push(format!(
                "events {changes:?}: got {got:?}, the previous version {want:?}"
            )),
        }
        // The replay of a load.
        let loaded = store.load(id.as_str()).await;
        match (loaded, old_replay(&item, &id)) {
            (Ok(loaded), Ok(_)) => {
                assert!(loaded.state.open, "{changes:?}");
                assert_eq!(loaded.version, 1, "{changes:?}");
            }
            (Err(e), Err(_)) if refusal_named(&e, &aggregate) => {}
            (got, want) => failures.push(format!(
                "load {changes:?}: got {got:?}, the previous version {want:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Both sides of the comparison were met, many times.
    assert!(
        read >= 30 && refused >= 50,
        "{read} read, {refused} refused"
    );
}

/// The header of `item` as the previous version wrote it for `event`.
fn old_written(event: &EventEnvelope<AccountEvent>, commit_id: Uuid) -> Item {
    dynago::item::to_item(&OldHeader {
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.as_str().to_owned(),
        version: event.version,
        event_id: event.event_id,
        event_type: event.event_type.clone(),
        schema_version: event.schema_version,
        timestamp: event.timestamp,
        metadata: event.metadata.clone(),
        commit_id,
    })
    .expect("a header")
}

fn leap_second(year: i32, nanos: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(year, 12, 31)
        .and_then(|day| day.and_hms_nano_opt(23, 59, 59, nanos))
        .expect("a time")
        .and_utc()
}

/// Events at the edges (times beyond four-digit years, before year 0 and
/// in a leap second; ids with `#`, unicode, empty; full metadata) are
/// written byte for byte as serde wrote them, and read back identical
/// (a leap second's nanosecond included) through every reader, in both
/// payload encodings.
#[tokio::test]
async fn probe_edge_events_are_written_as_serde_wrote_them_and_read_back() {
    let times = [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        DateTime::from_timestamp(-62_167_219_200, 0).expect("year 0"),
        DateTime::from_timestamp(-62_167_219_201, 999_999_999).expect("year -1"),
        DateTime::from_timestamp(253_402_300_800, 1_000).expect("year 10000"),
        DateTime::from_timestamp(253_402_300_799, 999_999_999).expect("year 9999"),
        leap_second(2016, 1_000_000_000),
        leap_second(2016, 1_999_999_999),
        leap_second(2016, 1_000_001_000),
        leap_second(9999, 1_500_000_000),
        leap_second(-5, 1_000_000_001),
    ];
    let ids = [
        "a#b",
        "#",
        "é中😀",
        "",
        " ",
        "e#00000000000000000001",
        "x\u{0}y",
    ];
    let metadata = Metadata::default()
        .correlation_id("")
        .causation_id("é")
        .with(" ", "")
        .with("k#", "v");
    for encoding in [PayloadEncoding::Map, PayloadEncoding::Json] {
        let store = common::store(StoreOptions::default().payload_encoding(encoding)).await;
        for (case, (time, id)) in times
            .iter()
            .flat_map(|time| ids.iter().map(move |id| (time, id)))
            .enumerate()
        {
            let id = format!("{id}{case}");
            let mut event = EventEnvelope::of("account", id.as_str(), 1, opened())
                .with_timestamp(*time)
                .with_metadata(if case % 2 == 0 {
                    metadata.clone()
                } else {
                    Metadata::default()
                });
            event.event_id = Uuid::from_u128(u128::MAX - case as u128);
            event.schema_version = u32::MAX;
            let item = store.event_item(&event).expect("an item");
            let Some(AttributeValue::S(commit)) = item.get("commit_id") else {
                panic!("a commit id in {item:?}");
            };
            let commit_id = Uuid::parse_str(commit).expect("a uuid");
            let mut header = item.clone();
            for name in ["pk", "sk", "payload", "payload_json"] {
                header.remove(name);
            }
            assert_eq!(header, old_written(&event, commit_id), "{time:?} {id:?}");

            // Read back: by the codec, by `events`; and as serde read it.
            let read = store
                .read_event_item(item.clone())
                .expect("it reads")
                .expect("an event")
                .remove(0);
            assert_eq!(read, event);
            assert_eq!(read.timestamp.nanosecond(), time.nanosecond());
            let old: OldHeader =
                serde_dynamo::aws_sdk_dynamodb_1::from_item(header).expect("serde reads it");
            assert_eq!(
                (old.timestamp, old.timestamp.nanosecond()),
                (*time, time.nanosecond())
            );
            raw_put(store.table(), item).await;
            // Schema version u32::MAX has no upcaster: read as is.
            let events: Vec<_> = store
                .events(id.as_str(), 1)
                .try_collect()
                .await
                .expect("events");
            assert_eq!(events, vec![event.clone()]);
            assert_eq!(events[0].timestamp.nanosecond(), time.nanosecond());
        }
    }
}

/// A table whose keys bear names close to the store's own (case, spaces,
/// `#`, unicode, the other key's usual name): events written and read, the
/// key attributes never taken for header attributes.
#[tokio::test]
async fn probe_tables_with_odd_key_names_read_their_events() {
    for (partition, sort) in [
        ("sk", "pk"),
        ("Version", "Payload"),
        ("version ", " timestamp"),
        ("e#", "#"),
        ("ключ", "排序"),
        ("aggregate_type_", "payload_json_"),
    ] {
        let table: Table = testing::fresh_table(
            "probe",
            |options| options.partition_key(partition).sort_key(sort),
            TableDefinition::default(),
        )
        .await;
        let store =
            EventStore::<Account>::new(table.clone(), StoreOptions::default()).expect("a store");
        store
            .execute("acc", common::open("ada"))
            .await
            .expect("open");
        let events: Vec<_> = store.events("acc", 1).try_collect().await.expect("events");
        assert_eq!(events.len(), 1, "{partition:?} {sort:?}");
        let item = store.event_item(&events[0]).expect("an item");
        assert!(item.contains_key(partition) && item.contains_key(sort));
        let read = store.read_event_item(item).expect("it reads");
        assert_eq!(
            read.as_deref(),
            Some(&events[0..1]),
            "{partition:?} {sort:?}"
        );
        let loaded = store.load("acc").await.expect("a load");
        assert!(loaded.state.open);
    }
}

/// Items that are not events of this type are `None`, as before, whatever
/// their header says; an event key with a bad header is a refusal.
#[tokio::test]
async fn probe_items_not_keyed_as_events_are_passed_over() {
    let store = common::store(StoreOptions::default()).await;
    let base = base_item(&store, "acc");
    let not_events = [
        vec![("pk", Some(s("accounts#acc")))],
        vec![("pk", Some(s("account")))],
        vec![("pk", Some(n("1")))],
        vec![("pk", None)],
        vec![("sk", Some(s("snapshot")))],
        vec![("sk", Some(s("e#1")))],
        vec![("sk", Some(s("e#0000000000000000000１")))],
        vec![("sk", Some(s("e#+0000000000000000001")))],
        vec![("sk", Some(n("1")))],
        vec![("sk", None)],
    ];
    for changes in not_events {
        let item = changed(base.clone(), &changes);
        assert!(
            matches!(store.read_event_item(item), Ok(None)),
            "{changes:?}"
        );
    }
    // `account#` with the empty id, keyed as an event.
    let item = changed(base.clone(), &[("pk", Some(s("account#")))]);
    let error = store
        .read_event_item(item)
        .expect_err("another aggregate's header");
    assert!(refusal_named(&error, "account#"), "{error:?}");
    // The key as sort says version 2; the header says 1.
    let item = changed(base, &[("sk", Some(s(&format!("e#{:020}", 2))))]);
    let error = store.read_event_item(item).expect_err("another version");
    assert!(
        matches!(&error, dynago_es::Error::CorruptEvent { aggregate, version: 2, .. } if aggregate == "account#acc"),
        "{error:?}"
    );
}

/// Pre-existing (also before this change), found on the way: an upcaster
/// registered from schema version `u32::MAX` and an item stored at that
/// version. Lifting it adds one to `u32::MAX` (`upcast.rs`, `version += 1`):
/// a panic in a debug build (and a wrap to 0 in release), where a typed
/// error is due. The item was written by another writer (schema versions
/// come from the stored item).
#[tokio::test]
async fn probe_an_upcaster_from_the_last_schema_version_is_an_error_not_a_panic() {
    let options = StoreOptions::default().upcaster(dynago_es::Upcaster::new(
        "Opened",
        u32::MAX,
        Ok::<_, String>,
    ));
    let store = common::store(options).await;
    let item = changed(
        base_item(&store, "acc"),
        &[("schema_version", Some(n(&u32::MAX.to_string())))],
    );
    let read =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.read_event_item(item)));
    let Ok(read) = read else {
        panic!("reading an item at schema version u32::MAX through an upcaster from it panicked");
    };
    assert!(read.is_err(), "{read:?}");
}
