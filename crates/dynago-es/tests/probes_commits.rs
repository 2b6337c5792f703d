//! An outside review's probes of "one item per commit" and of commands
//! with an id on one aggregate (a reservation, then the commit): each probe
//! is a case where a false answer, a lost or a doubled event could hide.
//!
//! Each probe documents a case: those marked `FIXED in` failed before the
//! commit they name and pass since; one marked `DEFECT` and `#[ignore]`d
//! documents a known limit, with its reason; the others held from the
//! start. All stay as regression tests.
use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Account, AccountCommand, AccountEvent, Journal, Write};
use dynago::{string_value, AttributeValue, Item, Key, RetryPolicy};
use dynago_es::{
    AggregateId, CommandError, CommandId, CommandOptions, CommandOutcome, Error, EventEnvelope,
    EventStore, Metadata, SnapshotPolicy, StoreOptions,
};
use dynago_local::{FaultPlan, Throttle};
use futures::TryStreamExt;

// ------------------------------------------------------------ helpers

fn deposit(amount: i64) -> AccountCommand {
    AccountCommand::Deposit { amount }
}

fn many(amounts: &[i64]) -> AccountCommand {
    AccountCommand::DepositMany {
        amounts: amounts.to_vec(),
    }
}

fn with_id(id: &str) -> CommandOptions {
    CommandOptions::default().command_id(CommandId::new(id))
}

fn item_key(aggregate_type: &str, id: &str, version: u64) -> Key {
    common::event_key(aggregate_type, id, version)
}

async fn raw_item(store: &EventStore<Account>, id: &str, version: u64) -> Item {
    common::raw_get(store.table(), item_key("account", id, version))
        .await
        .unwrap_or_else(|| panic!("no item at e#{version} of {id}"))
}

/// Versions and amounts of events (Opened is amount 0).
fn summary(events: &[EventEnvelope<AccountEvent>]) -> Vec<(u64, i64)> {
    events
        .iter()
        .map(|e| {
            let amount = match &e.payload {
                AccountEvent::Opened { .. } => 0,
                AccountEvent::Deposited { amount } => *amount,
                AccountEvent::Withdrawn { amount } => -*amount,
            };
            (e.version, amount)
        })
        .collect()
}

async fn between(
    store: &EventStore<Account>,
    id: &str,
    range: std::ops::RangeInclusive<u64>,
) -> dynago_es::Result<Vec<EventEnvelope<AccountEvent>>> {
    store.events_between(id, range).try_collect().await
}

/// The version a corrupt-data error names, if it is one.
fn corrupt_at(error: &Error) -> Option<u64> {
    match error {
        Error::CorruptEvent { version, .. } => Some(*version),
        Error::VersionGap { found, .. } => Some(*found),
        _ => None,
    }
}

/// Opens `id` and writes commits of the given sizes after it; every
/// deposit's amount is its own version. The model: (version, amount).
async fn stream_of_commits(
    store: &EventStore<Account>,
    id: &str,
    sizes: &[usize],
) -> Vec<(u64, i64)> {
    store.execute(id, common::open("ada")).await.expect("open");
    let mut model = vec![(1, 0)];
    let mut next = 2_i64;
    for size in sizes {
        let amounts: Vec<i64> = (next..next + i64::try_from(*size).expect("small")).collect();
        store.execute(id, many(&amounts)).await.expect("a commit");
        for amount in &amounts {
            model.push((u64::try_from(*amount).expect("positive"), *amount));
        }
        next += i64::try_from(*size).expect("small");
    }
    model
}

// ------------------------------------------------------------ reading

/// Every range of a stream of commits of several events, starting and
/// ending inside commits, at their edges, before and past the end, reads
/// as the whole stream filtered does: `events_between`, `Inspector::events`,
/// and the folds `load_at`, `state_at` and `replay_at` (with snapshots
/// every 2 versions, so that a snapshot sits at commit ends).
#[tokio::test]
async fn probe_every_range_of_a_stream_of_commits_reads_as_the_whole() {
    let store = common::store(StoreOptions::default().snapshots(SnapshotPolicy::Every(2))).await;
    let model = stream_of_commits(&store, "r", &[3, 1, 4, 2, 1, 5]).await;
    let end = model.len() as u64;
    let whole = between(&store, "r", 0..=u64::MAX).await.expect("all");
    assert_eq!(summary(&whole), model);
    let inspector = store.inspector();
    let id = AggregateId::new("r");
    let mut bounds: Vec<u64> = (0..=end + 2).collect();
    bounds.push(u64::MAX - 1);
    bounds.push(u64::MAX);
    for &from in &bounds {
        for &to in bounds.iter().filter(|to| **to >= from) {
            let expected: Vec<(u64, i64)> = model
                .iter()
                .copied()
                .filter(|(v, _)| (from..=to).contains(v))
                .collect();
            let read = between(&store, "r", from..=to)
                .await
                .unwrap_or_else(|e| panic!("events_between({from}..={to}): {e}"));
            assert_eq!(summary(&read), expected, "events_between({from}..={to})");
            let shown: Vec<u64> = inspector
                .events("account", &id, from..=to)
                .await
                .unwrap_or_else(|e| panic!("Inspector::events({from}..={to}): {e}"))
                .iter()
                .map(|e| e.version)
                .collect();
            let versions: Vec<u64> = expected.iter().map(|(v, _)| *v).collect();
            assert_eq!(shown, versions, "Inspector::events({from}..={to})");
        }
    }
    for &at in &bounds {
        let upto = at.min(end);
        let balance: i64 = model
            .iter()
            .filter(|(v, _)| *v <= upto)
            .map(|(_, a)| a)
            .sum();
        for (what, loaded) in [
            ("load_at", store.load_at("r", at).await),
            ("state_at", store.state_at("r", at).await),
            ("replay_at", store.replay_at("r", at).await),
        ] {
            let loaded = loaded.unwrap_or_else(|e| panic!("{what}({at}): {e}"));
            assert_eq!(
                (loaded.version, loaded.state.balance),
                (upto, balance),
                "{what}({at})"
            );
        }
    }
}

/// A stream of 41 items and a commit of 3 after them.
async fn long_stream(store: &EventStore<Account>, id: &str) {
    store.execute(id, common::open("ada")).await.expect("open");
    for amount in 2..=40 {
        store.execute(id, deposit(amount)).await.expect("deposit");
    }
    store
        .execute(id, many(&[41, 42, 43]))
        .await
        .expect("a commit");
}

/// `events_between` of one version reads the item holding it, and no
/// other: on a long stream it costs what it costs on a short one.
///
/// FIXED in 753987c (failed on d5b9cbd). Was:
/// (cost): the item holding the first version is read by a
/// descending query of `Limit 1`; when no query follows it (`from == to`,
/// or `from == u64::MAX`), `Pages::next_page` follows that page's cursor,
/// down the stream, one item per request, to version 1.
#[tokio::test]
async fn probe_events_between_one_version_costs_one_query() {
    let store = common::store(StoreOptions::default()).await;
    long_stream(&store, "one").await;
    for v in [42, 40] {
        let before = store.table().request_count();
        let read = between(&store, "one", v..=v).await.expect("one version");
        let requests = store.table().request_count() - before;
        assert_eq!(summary(&read), vec![(v, i64::try_from(v).expect("small"))]);
        assert!(
            requests <= 2,
            "events_between({v}..={v}) on a stream of 41 items took {requests} requests"
        );
    }
}

/// `events_between` of one version is not failed by an unreadable item
/// far below it, which it has no reason to read.
///
/// FIXED in 753987c (failed on d5b9cbd). Was:
/// as above, the stream is read down to version 1, and the
/// damaged item at version 3 (its `next_events` not a list) fails
/// `events_between(40..=40)` after its event was handed on (a
/// `try_collect` gets the error `CorruptEvent` at version 3).
#[tokio::test]
async fn probe_events_between_one_version_ignores_damage_below_it() {
    let store = common::store(StoreOptions::default()).await;
    long_stream(&store, "one").await;
    // Damaged as an item (its list), which a reader finds whatever
    // versions it wants of it.
    let mut damaged = raw_item(&store, "one", 3).await;
    damaged.insert("next_events".into(), AttributeValue::S("not a list".into()));
    damaged.insert("last_version".into(), AttributeValue::N("3".into()));
    common::raw_put(store.table(), damaged).await;
    let mut failures = Vec::new();
    for v in [40, 41, 42, 43] {
        match between(&store, "one", v..=v).await {
            Ok(read) if summary(&read) == vec![(v, i64::try_from(v).expect("small"))] => {}
            other => failures.push(format!(
                "events_between({v}..={v}): {:?}",
                other.map(|e| summary(&e))
            )),
        }
    }
    // A range of two versions reads no further than its item.
    for (from, to) in [(41, 42), (39, 40)] {
        if let Err(e) = between(&store, "one", from..=to).await {
            failures.push(format!("events_between({from}..={to}): {e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A commit item at the very end of the version space: the ranges at
/// `u64::MAX` read it, an append past it is `VersionOutOfRange`, never a
/// wrap.
#[tokio::test]
async fn probe_a_commit_ending_at_u64_max_reads_and_nothing_passes_it() {
    let store = common::store(StoreOptions::default()).await;
    let events: Vec<EventEnvelope<AccountEvent>> = (0..3)
        .map(|n| {
            EventEnvelope::of(
                "account",
                "end",
                u64::MAX - 2 + n,
                AccountEvent::Deposited {
                    amount: i64::try_from(n).expect("small") + 1,
                },
            )
        })
        .collect();
    let item = store.commit_item(&events).expect("a commit item");
    common::raw_put(store.table(), item.clone()).await;
    let read = store
        .read_event_item(item)
        .expect("reads")
        .expect("an event item");
    assert_eq!(read, events);
    for (from, to, count) in [
        (u64::MAX - 2, u64::MAX, 3),
        (u64::MAX - 1, u64::MAX, 2),
        (u64::MAX, u64::MAX, 1),
        (u64::MAX - 1, u64::MAX - 1, 1),
        (u64::MAX - 2, u64::MAX - 1, 2),
    ] {
        let read = between(&store, "end", from..=to).await.unwrap_or_else(|e| {
            panic!(
                "events_between(MAX-{}..=MAX-{}): {e}",
                u64::MAX - from,
                u64::MAX - to
            )
        });
        assert_eq!(
            read.len(),
            count,
            "MAX-{}..=MAX-{}",
            u64::MAX - from,
            u64::MAX - to
        );
        assert!(read.iter().all(|e| (from..=to).contains(&e.version)));
        let shown = store
            .inspector()
            .events("account", &AggregateId::new("end"), from..=to)
            .await
            .expect("inspector");
        assert_eq!(shown.len(), count);
    }
    let error = store
        .append(
            "end",
            u64::MAX,
            vec![AccountEvent::Deposited { amount: 9 }],
            Metadata::default(),
        )
        .await
        .expect_err("past the last version");
    assert!(
        matches!(error, Error::VersionOutOfRange { .. }),
        "{error:?}"
    );
    // The stream's end, as an append reads it: MAX, inside no commit.
    let error = store
        .append(
            "end",
            u64::MAX - 2,
            vec![AccountEvent::Deposited { amount: 9 }],
            Metadata::default(),
        )
        .await
        .expect_err("inside the last commit");
    assert!(
        matches!(error, Error::Conflict { actual, .. } if actual == u64::MAX),
        "{error:?}"
    );
}

/// A damaged commit item at the end of the version space whose list goes
/// past `u64::MAX` is corrupt, not silently cut.
///
/// FIXED in 753987c (failed on d5b9cbd). Was:
/// (damaged data only): `read_every` returns `Ok` as soon as the
/// version reached is the end of the range asked (`u64::MAX`), before it
/// looks at the rest of the list or at `last_version`: the event listed
/// past `u64::MAX` is dropped without a word.
#[tokio::test]
async fn probe_a_commit_listing_events_past_u64_max_is_corrupt() {
    let store = common::store(StoreOptions::default()).await;
    let events: Vec<EventEnvelope<AccountEvent>> = (0..2)
        .map(|n| {
            EventEnvelope::of(
                "account",
                "past",
                u64::MAX - 1 + n,
                AccountEvent::Deposited { amount: 1 },
            )
        })
        .collect();
    let mut item = store.commit_item(&events).expect("a commit item");
    // One more member, which would be version MAX + 1.
    let Some(AttributeValue::L(next)) = item.get_mut("next_events") else {
        panic!("a list")
    };
    let extra = next[0].clone();
    next.push(extra);
    common::raw_put(store.table(), item.clone()).await;
    let read = store.read_event_item(item);
    assert!(
        read.as_ref().is_err_and(|e| e.is_corrupt()),
        "read_event_item: {read:?}"
    );
    let read = between(&store, "past", u64::MAX - 1..=u64::MAX).await;
    assert!(
        read.as_ref().is_err_and(|e| e.is_corrupt()),
        "events_between: {:?}",
        read.map(|e| summary(&e))
    );
}

/// A command of 150 events is one item; every reader sees all 150, in
/// order, whichever version it starts from.
#[tokio::test]
async fn probe_a_commit_of_150_events_reads_whole_from_anywhere() {
    let store = common::store(StoreOptions::default().snapshots(SnapshotPolicy::Every(2))).await;
    let model = stream_of_commits(&store, "big", &[150, 2]).await;
    assert_eq!(
        common::raw_event_versions(store.table(), "account", "big").await,
        vec![1, 2, 152]
    );
    let item = raw_item(&store, "big", 2).await;
    let read = store
        .read_event_item(item)
        .expect("reads")
        .expect("an event item");
    assert_eq!(read.len(), 150);
    for (from, to) in [(2, 151), (75, 80), (151, 152), (100, u64::MAX), (151, 151)] {
        let expected: Vec<(u64, i64)> = model
            .iter()
            .copied()
            .filter(|(v, _)| (from..=to).contains(v))
            .collect();
        let read = between(&store, "big", from..=to).await.expect("read");
        assert_eq!(summary(&read), expected, "{from}..={to}");
    }
    let at = store.load_at("big", 100).await.expect("load_at");
    assert_eq!(at.version, 100);
    assert_eq!(at.state.balance, (2..=100).sum::<i64>());
    let loaded = store.load("big").await.expect("load");
    assert_eq!(loaded.version, 153);
}

/// Commits around the size where one item no longer holds them (the store
/// then writes an item per event, in one transaction) land whole, with an
/// id of DynamoDB's largest partition key too (2 KB: the key is part of
/// the item's 400 KB).
///
/// FIXED in 753987c (failed on d5b9cbd). Was:
/// (an answer that is not false, but a commit refused that fits):
/// the store keeps 2,048 bytes of the item for its keys
/// (`ITEM_MARGIN`), but a partition key may be 2,048 bytes and the sort
/// key 22 more, with their names: a commit just under the margin is sent
/// as one item and refused as `ItemTooLarge` instead of going per event.
#[tokio::test]
async fn probe_commits_near_400_kb_land_whole_with_a_2_kb_key() {
    let store = common::journal_store(StoreOptions::default()).await;
    // "journal#" + id: 2,048 bytes, DynamoDB's largest partition key.
    let long_id = "i".repeat(2048 - "journal#".len());
    let mut refused = Vec::new();
    for (n, id) in ["short".to_owned(), long_id].into_iter().enumerate() {
        // Three events whose one item is 400 KB minus `slack`.
        for slack in (1_900..=2_100).step_by(4) {
            let aggregate = if n == 0 {
                format!("{id}-{slack}")
            } else {
                // The long id, made unique in its last digits.
                format!("{}{slack:04}", &id[..id.len() - 4])
            };
            // The item's size without the texts: measured on a tiny commit.
            let probe: Vec<EventEnvelope<common::JournalEvent>> = (1..=3)
                .map(|v| {
                    EventEnvelope::of(
                        "journal",
                        aggregate.as_str(),
                        v,
                        common::JournalEvent::Written {
                            text: String::new(),
                        },
                    )
                })
                .collect();
            let mut bare = store.commit_item(&probe).expect("an item");
            bare.remove("pk");
            bare.remove("sk");
            let overhead = dynago::item_size(&bare);
            let text = (dynago::MAX_ITEM_SIZE - slack - overhead) / 3;
            let write = Write {
                texts: vec!["x".repeat(text); 3],
            };
            match store.execute(aggregate.as_str(), write).await {
                Ok(outcome) => {
                    assert_eq!(outcome.version, 3);
                    let loaded = store.load(aggregate.as_str()).await.expect("load");
                    assert_eq!(loaded.state.entries, 3);
                    // Every item written is within DynamoDB's 400 KB, keys
                    // included (an emulator may not refuse a larger one;
                    // DynamoDB does).
                    for version in 1..=3 {
                        let key = item_key("journal", &aggregate, version);
                        if let Some(item) = common::raw_get(store.table(), key).await {
                            let size = dynago::item_size(&item);
                            if std::env::var("PROBE_DEBUG").is_ok() {
                                eprintln!(
                                    "id {} slack {slack} e#{version}: {size}",
                                    aggregate.len()
                                );
                            }
                            if size > dynago::MAX_ITEM_SIZE {
                                refused.push(format!(
                                    "id of {} bytes, slack {slack}: the item at e#{version} is {size} bytes, over {}",
                                    aggregate.len(),
                                    dynago::MAX_ITEM_SIZE
                                ));
                            }
                        }
                    }
                }
                Err(error) => refused.push(format!(
                    "id of {} bytes, slack {slack}: refused: {}",
                    aggregate.len(),
                    match &error {
                        CommandError::Store(Error::Table(dynago::Error::ItemTooLarge {
                            size,
                            ..
                        })) => {
                            format!("ItemTooLarge, {size} bytes")
                        }
                        other => other.to_string().chars().take(200).collect(),
                    }
                )),
            }
        }
    }
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

/// The events after the first of a commit keep their own metadata and
/// timestamp: the same as the first, none where the first has some, some
/// where the first has none, a command id of their own.
#[tokio::test]
async fn probe_later_events_of_a_commit_keep_their_own_metadata_and_timestamp() {
    let store = common::store(StoreOptions::default()).await;
    let at = |seconds: i64, nanos: u32| {
        chrono::DateTime::from_timestamp(seconds, nanos).expect("a time")
    };
    let base = Metadata::default().correlation_id("c-1").with("who", "ada");
    let mut other = Metadata::default().causation_id("x");
    other.command_id = Some("cmd-7".into());
    let cases: Vec<(Metadata, chrono::DateTime<chrono::Utc>)> = vec![
        (base.clone(), at(1_765_000_000, 0)),
        (Metadata::default(), at(1_765_000_000, 0)),
        (base.clone(), at(1_765_000_000, 1)),
        (other.clone(), at(1_765_000_000, 0)),
        (base.clone(), at(1_765_000_000, 123_000_000)),
        (Metadata::default(), at(1, 0)),
    ];
    for first_empty in [false, true] {
        let id = format!("meta-{first_empty}");
        let events: Vec<EventEnvelope<AccountEvent>> = cases
            .iter()
            .enumerate()
            .map(|(n, (metadata, time))| {
                let metadata = if first_empty && n == 0 {
                    Metadata::default()
                } else {
                    metadata.clone()
                };
                EventEnvelope::of(
                    "account",
                    id.as_str(),
                    n as u64 + 1,
                    AccountEvent::Deposited {
                        amount: i64::try_from(n).expect("small"),
                    },
                )
                .with_metadata(metadata)
                .with_timestamp(*time)
            })
            .collect();
        let item = store.commit_item(&events).expect("an item");
        common::raw_put(store.table(), item.clone()).await;
        let read = store.read_event_item(item).expect("reads").expect("events");
        assert_eq!(read, events, "read_event_item, first empty: {first_empty}");
        let all = between(&store, &id, 1..=u64::MAX).await.expect("events");
        assert_eq!(all, events, "events, first empty: {first_empty}");
        for from in 2..=6 {
            let from_inside = between(&store, &id, from..=from).await.expect("one");
            assert_eq!(
                from_inside,
                events[usize::try_from(from).expect("small") - 1
                    ..usize::try_from(from).expect("small")]
            );
        }
        let shown = store
            .inspector()
            .events("account", &AggregateId::new(id.as_str()), 1..=6)
            .await
            .expect("inspector");
        for (shown, event) in shown.iter().zip(&events) {
            assert_eq!(
                (&shown.metadata, shown.timestamp),
                (&event.metadata, event.timestamp),
                "Inspector, v{}",
                event.version
            );
        }
    }
}

// ------------------------------------------------------------ damaged items

/// How a commit item of 3 events (versions 2 to 4 of `id`) is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    NotAList,
    MemberNotAMap,
    NestedList,
    LastVersionTooHigh,
    LastVersionTooLow,
    LastVersionNotANumber,
    NoLastVersion,
    NoList,
    MemberWrongVersion,
    MemberNoPayload,
    MemberNoEventId,
    MemberUnknownType,
}

impl Damage {
    const ALL: [Damage; 12] = [
        Damage::NotAList,
        Damage::MemberNotAMap,
        Damage::NestedList,
        Damage::LastVersionTooHigh,
        Damage::LastVersionTooLow,
        Damage::LastVersionNotANumber,
        Damage::NoLastVersion,
        Damage::NoList,
        Damage::MemberWrongVersion,
        Damage::MemberNoPayload,
        Damage::MemberNoEventId,
        Damage::MemberUnknownType,
    ];

    fn apply(self, item: &mut Item) {
        fn list(item: &mut Item) -> &mut Vec<AttributeValue> {
            match item.get_mut("next_events") {
                Some(AttributeValue::L(list)) => list,
                other => panic!("no list: {other:?}"),
            }
        }
        fn member(
            item: &mut Item,
            n: usize,
        ) -> &mut std::collections::HashMap<String, AttributeValue> {
            match &mut list(item)[n] {
                AttributeValue::M(map) => map,
                other => panic!("not a map: {other:?}"),
            }
        }
        match self {
            Damage::NotAList => {
                item.insert("next_events".into(), AttributeValue::S("[]".into()));
            }
            Damage::MemberNotAMap => list(item)[1] = AttributeValue::S("v4".into()),
            Damage::NestedList => {
                let copy = AttributeValue::L(list(item).clone());
                member(item, 0).insert("next_events".into(), copy);
            }
            Damage::LastVersionTooHigh => {
                item.insert("last_version".into(), AttributeValue::N("6".into()));
            }
            Damage::LastVersionTooLow => {
                item.insert("last_version".into(), AttributeValue::N("3".into()));
            }
            Damage::LastVersionNotANumber => {
                item.insert("last_version".into(), AttributeValue::S("4".into()));
            }
            Damage::NoLastVersion => {
                item.remove("last_version");
            }
            Damage::NoList => {
                item.remove("next_events");
            }
            Damage::MemberWrongVersion => {
                member(item, 1).insert("version".into(), AttributeValue::N("3".into()));
            }
            Damage::MemberNoPayload => {
                member(item, 0).remove("payload");
            }
            Damage::MemberNoEventId => {
                member(item, 1).remove("event_id");
            }
            Damage::MemberUnknownType => {
                member(item, 0).insert(
                    "payload".into(),
                    AttributeValue::M(
                        [("Frozen".to_owned(), AttributeValue::M(Default::default()))]
                            .into_iter()
                            .collect(),
                    ),
                );
                member(item, 0).insert("event_type".into(), AttributeValue::S("Frozen".into()));
            }
        }
    }

    /// The version whose event a reader cannot give: the item's key for a
    /// fault of the item as a whole; the member's own version for a fault
    /// of one member.
    fn at(self) -> &'static [u64] {
        match self {
            Damage::MemberWrongVersion | Damage::MemberNoEventId => &[4],
            Damage::MemberNoPayload | Damage::MemberUnknownType => &[3],
            _ => &[2],
        }
    }
}

/// Every damage of a commit item's list is `CorruptEvent` (or a gap) for
/// every reader that reads what is damaged, naming a version of that
/// item, never a panic nor a silent loss. (A load reads no event id, by
/// design; a list without `last_version` says where it ends by itself.)
#[tokio::test]
async fn probe_a_damaged_commit_item_is_corrupt_for_every_reader() {
    let store = common::store(StoreOptions::default()).await;
    let mut failures = Vec::new();
    for damage in Damage::ALL {
        let id = format!("{damage:?}");
        store
            .execute(id.as_str(), common::open("ada"))
            .await
            .expect("open");
        store
            .execute(id.as_str(), many(&[2, 3, 4]))
            .await
            .expect("a commit");
        store.execute(id.as_str(), deposit(5)).await.expect("v5");
        let mut item = raw_item(&store, &id, 2).await;
        damage.apply(&mut item);
        common::raw_put(store.table(), item.clone()).await;
        let allowed = damage.at();
        let whole_is_fine = |what: &str| {
            matches!(damage, Damage::NoLastVersion)
                || (matches!(damage, Damage::MemberNoEventId) && what.starts_with("load"))
        };
        let mut check = |what: &str, result: Result<(), Error>| match result {
            Err(e) if corrupt_at(&e).is_some_and(|v| allowed.contains(&v)) => {}
            Err(e) => failures.push(format!("{damage:?}: {what}: {e:?}")),
            Ok(()) if whole_is_fine(what) => {}
            Ok(()) => failures.push(format!("{damage:?}: {what}: read as whole")),
        };
        check("load", store.load(id.as_str()).await.map(drop));
        check(
            "events(1)",
            between(&store, &id, 1..=u64::MAX).await.map(drop),
        );
        check(
            "events_between(3..=5)",
            between(&store, &id, 3..=5).await.map(drop),
        );
        check("load_at(4)", store.load_at(id.as_str(), 4).await.map(drop));
        check(
            "read_event_item",
            store.read_event_item(item.clone()).map(drop),
        );
        let per_event = store.read_item_events(item.clone()).expect("an event item");
        check(
            "read_item_events",
            match per_event.events.iter().find_map(|e| e.as_ref().err()) {
                Some(e) => Err(clone_error(e)),
                None => Ok(()),
            },
        );
        let shown = store
            .inspector()
            .events("account", &AggregateId::new(id.as_str()), 1..=10)
            .await;
        if shown.is_ok() && !matches!(damage, Damage::MemberUnknownType | Damage::NoLastVersion) {
            failures.push(format!("{damage:?}: Inspector::events read it as whole"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// An append never writes a version a damaged last item already holds
/// (its list says it holds versions 2 to 4): whatever `last_version`
/// says, or fails to say, no key inside the item is written.
///
/// FIXED in 753987c (failed on d5b9cbd). Was:
/// `append` reads the stream's end from the last item's
/// `last_version` alone (`read::last_version`, a projection of the key and
/// `last_version`): a commit item without it (which every reader takes
/// whole, 3 events) is taken for one event, and `append(expected = 2)`
/// writes `e#3`, `Ok`: version 3 twice. A `last_version` too low (3)
/// lets `append(expected = 3)` write `e#4` alike.
#[tokio::test]
async fn probe_an_append_never_writes_inside_a_damaged_last_item() {
    let store = common::store(StoreOptions::default()).await;
    let mut failures = Vec::new();
    for damage in Damage::ALL {
        for expected in [2, 3, 4, 6] {
            let id = format!("{damage:?}-{expected}");
            store
                .execute(id.as_str(), common::open("ada"))
                .await
                .expect("open");
            store
                .execute(id.as_str(), many(&[2, 3, 4]))
                .await
                .expect("a commit");
            let mut item = raw_item(&store, &id, 2).await;
            damage.apply(&mut item);
            common::raw_put(store.table(), item).await;
            let appended = store
                .append(
                    id.as_str(),
                    expected,
                    vec![AccountEvent::Deposited { amount: 99 }],
                    Metadata::default(),
                )
                .await;
            let keys = common::raw_event_versions(store.table(), "account", &id).await;
            if keys.iter().any(|v| (3..=4).contains(v)) {
                failures.push(format!(
                    "{damage:?}: append under {expected} answered {:?}; the item keys are now {keys:?}",
                    appended.map(|e| summary(&e))
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn clone_error(error: &Error) -> Error {
    match error {
        Error::CorruptEvent {
            aggregate,
            version,
            reason,
        } => Error::CorruptEvent {
            aggregate: aggregate.clone(),
            version: *version,
            reason: reason.clone(),
        },
        other => Error::Config(other.to_string()),
    }
}

/// Two items holding one version (a commit item 2..4, and an item of
/// version 3 as an older writer writes it: a 0.1 process that reads only
/// the first event of a commit item, during a rolling deploy, loads
/// version 2 and writes `e#3`, which is free): every reader says the
/// stream is corrupt; none drops the second version 3 in silence.
///
/// DEFECT, in part (`#[ignore]`d as a known limit): on d5b9cbd every
/// range below failed; on 753987c only `3..=4` does
/// (`Ok([(3, 300)])`: version 4 of the commit dropped, no error). Was:
/// `events` and `events_between` (`Pages::next_page`) pass over
/// every event below the next version expected, meant for the item
/// holding the range's first version, in every page: the second
/// version 3 is dropped without a word, and the stream reads as whole
/// (a projector's gap fill reads it so). `load` reports the gap.
#[tokio::test]
#[ignore = "a known limit: a range read that starts at the foreign item (3..=4) reads the item keyed at or before its first version and cannot see a commit keyed earlier that also holds it; such a table comes only from a 0.1 writer running beside 0.2 commits, which StoreOptions::item_per_event exists to prevent during an upgrade (CHANGELOG); load, events from 1 and 2..=4 report it"]
async fn probe_a_version_in_two_items_is_never_read_as_whole() {
    let store = common::store(StoreOptions::default()).await;
    store
        .execute("two", common::open("ada"))
        .await
        .expect("open");
    store
        .execute("two", many(&[2, 3, 4]))
        .await
        .expect("a commit");
    // What a 0.1 writer would write after loading "version 2".
    let older = EventEnvelope::of("account", "two", 3, AccountEvent::Deposited { amount: 300 });
    let item = store.event_item(&older).expect("an item");
    common::raw_put(store.table(), item).await;
    let mut failures = Vec::new();
    match store.load("two").await {
        Err(e) if e.is_corrupt() => {}
        other => failures.push(format!(
            "load: {:?}",
            other.map(|l| (l.version, l.state.balance))
        )),
    }
    for (from, to) in [(1, u64::MAX), (2, 4), (3, 4)] {
        match between(&store, "two", from..=to).await {
            Err(e) if e.is_corrupt() => {}
            other => failures.push(format!(
                "events_between({from}..={to}): {:?}",
                other.map(|e| summary(&e))
            )),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A commit whose first send landed with its answer lost, and whose
/// resend is refused for another Region's write (nothing written by the
/// resend): the store reads its first send's commit, applied once.
#[tokio::test]
async fn probe_a_lost_answer_then_a_replicated_write_conflict_is_applied_once() {
    for with_command_id in [false, true] {
        let direct = common::table().await;
        let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
        let store = EventStore::<Account>::new(proxied, StoreOptions::default()).expect("store");
        store
            .execute("rw", common::open("ada"))
            .await
            .expect("open");
        let lose_then_refuse = FaultPlan::default()
            .drop_answer(1.0)
            .operation("PutItem")
            .first(1)
            .then(
                FaultPlan::default()
                    .replicated_write_conflict(1.0)
                    .operation("PutItem")
                    .first(1),
            );
        let options = if with_command_id {
            proxy.set_plan(
                FaultPlan::default()
                    .operation("PutItem")
                    .first(1)
                    .then(lose_then_refuse),
            );
            with_id("rw-1")
        } else {
            proxy.set_plan(lose_then_refuse);
            CommandOptions::default()
        };
        let outcome = store
            .execute_with("rw", many(&[5, 6]), options)
            .await
            .unwrap_or_else(|e| panic!("id {with_command_id}: {e}"));
        assert_eq!(outcome.version, 3);
        let loaded = EventStore::<Account>::new(direct, StoreOptions::default())
            .expect("store")
            .load("rw")
            .await
            .expect("load");
        assert_eq!(
            (loaded.version, loaded.state.balance),
            (3, 11),
            "id {with_command_id}"
        );
    }
}

/// A command with an id whose events do not fit one item (an item per
/// event, in one transaction), its transaction's answer lost (tokens
/// stripped: DynamoDB does not recognise the resend): applied once; a
/// repeat answers its three events. 101 such events are refused before
/// anything is written, the reservation included.
#[tokio::test]
async fn probe_a_command_with_an_id_too_large_for_one_item_applies_once() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
    let store = EventStore::<Journal>::new(proxied, StoreOptions::default()).expect("store");
    store.execute("big", Write::sized(1, 10)).await.expect("v1");
    proxy.set_plan(
        FaultPlan::default().operation("PutItem").first(1).then(
            FaultPlan::default()
                .drop_answer(1.0)
                .operation("TransactWriteItems")
                .first(1)
                .strip_client_request_tokens(true),
        ),
    );
    let options = || with_id("big-1").fingerprint("three of 150 KB");
    let first = store
        .execute_with("big", Write::sized(3, 150_000), options())
        .await
        .expect("applied");
    assert_eq!((first.version, first.duplicate), (4, false));
    assert_eq!(proxy.stats().dropped_answers, 1);
    assert_eq!(
        common::raw_event_versions(&direct, "journal", "big").await,
        vec![1, 2, 3, 4]
    );
    let again = store
        .execute_with("big", Write::sized(3, 150_000), options())
        .await
        .expect("the repeat");
    assert!(again.duplicate);
    assert_eq!(
        again.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        first.events.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );
    let before = common::contents(&direct).await;
    let error = store
        .execute_with("big", Write::sized(101, 4_000), with_id("big-2"))
        .await
        .expect_err("101 items");
    assert!(
        matches!(error, CommandError::Store(Error::TooManyEvents { .. })),
        "{error:?}"
    );
    assert_eq!(
        common::contents(&direct).await,
        before,
        "nothing written, no reservation"
    );
}

// ------------------------------------------------------------ append

/// `append` under a version inside a commit, at its first, past the end,
/// and 0 on a stream that has events: a conflict naming the stream's end,
/// nothing written; at the end: written after it.
#[tokio::test]
async fn probe_append_inside_beyond_and_at_a_commit() {
    let store = common::store(StoreOptions::default()).await;
    stream_of_commits(&store, "ap", &[3, 4]).await; // 1 | 2..4 | 5..8
    for expected in [0, 1, 2, 3, 4, 5, 6, 7, 9, 100, u64::MAX - 1] {
        let before = common::contents(store.table()).await;
        let error = store
            .append(
                "ap",
                expected,
                vec![AccountEvent::Deposited { amount: 1 }],
                Metadata::default(),
            )
            .await
            .expect_err("not at the end");
        assert!(
            matches!(error, Error::Conflict { actual: 8, .. }),
            "append under {expected}: {error:?}"
        );
        assert_eq!(
            common::contents(store.table()).await,
            before,
            "under {expected}"
        );
    }
    let written = store
        .append(
            "ap",
            8,
            vec![AccountEvent::Deposited { amount: 9 }; 3],
            Metadata::default(),
        )
        .await
        .expect("at the end");
    assert_eq!(
        written.iter().map(|e| e.version).collect::<Vec<_>>(),
        [9, 10, 11]
    );
    // No events: at the end only.
    store
        .append("ap", 11, vec![], Metadata::default())
        .await
        .expect("at the end");
    for expected in [9, 10, 12] {
        let error = store
            .append("ap", expected, vec![], Metadata::default())
            .await
            .expect_err("not the end");
        assert!(
            matches!(error, Error::Conflict { actual: 11, .. }),
            "{error:?}"
        );
    }
}

/// Appends racing each other and commands under the same expected version:
/// exactly one of each round wins, the stream has no gap and no version
/// twice, every winner's events are where it was told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_appends_racing_commands_leave_one_chain() {
    for run in 0..5 {
        let store = Arc::new(common::store(StoreOptions::default()).await);
        let id = format!("race-{run}");
        store
            .execute(id.as_str(), common::open("ada"))
            .await
            .expect("open");
        let won = Arc::new(std::sync::Mutex::new(Vec::<Vec<u64>>::new()));
        let mut tasks = Vec::new();
        for task in 0..6 {
            let store = Arc::clone(&store);
            let id = id.clone();
            let won = Arc::clone(&won);
            tasks.push(tokio::spawn(async move {
                for round in 0..8 {
                    if task % 2 == 0 {
                        let at = store.load(id.as_str()).await.expect("load").version;
                        let events =
                            vec![AccountEvent::Deposited { amount: 1 }; 1 + (round + task) % 3];
                        match store
                            .append(id.as_str(), at, events, Metadata::default())
                            .await
                        {
                            Ok(written) => won
                                .lock()
                                .expect("a lock")
                                .push(written.iter().map(|e| e.version).collect()),
                            Err(e) if e.is_conflict() => {}
                            Err(e) => panic!("append: {e}"),
                        }
                    } else {
                        let amounts = vec![1; 1 + (round + task) % 3];
                        match store.execute(id.as_str(), many(&amounts)).await {
                            Ok(outcome) => won
                                .lock()
                                .expect("a lock")
                                .push(outcome.events.iter().map(|e| e.version).collect()),
                            Err(CommandError::Store(e))
                                if e.is_conflict()
                                    || matches!(e, Error::RetriesExhausted { .. }) => {}
                            Err(e) => panic!("execute: {e}"),
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let mut claimed: Vec<u64> = won
            .lock()
            .expect("a lock")
            .iter()
            .flatten()
            .copied()
            .collect();
        claimed.sort_unstable();
        let all: Vec<u64> = common::versions(&store, &id).await;
        let loaded = store.load(id.as_str()).await.expect("load");
        assert_eq!(all, (1..=loaded.version).collect::<Vec<_>>(), "run {run}");
        assert_eq!(
            claimed,
            (2..=loaded.version).collect::<Vec<_>>(),
            "run {run}"
        );
        assert_eq!(
            u64::try_from(loaded.state.balance).expect("positive"),
            loaded.version - 1
        );
    }
}

// ------------------------------------------------------------ command ids

/// A command with an id and a fingerprint, refused (or deciding nothing)
/// while another command with the same id and another fingerprint is
/// applied on the same aggregate: `CommandIdReused`, never the other's
/// outcome as a duplicate of its own.
///
/// FIXED in d5b9cbd (`same_command`; failed on its working tree of
/// 18:38, before it was committed). Was:
/// after a decision that writes nothing, `execute_inner` reads the
/// record again and, for a reservation (`recorded_outcome`), answers the
/// command's outcome from the events without comparing the fingerprint
/// (`repeated` does, for the record read first): the withdrawal is told
/// `Ok(duplicate)` with the other command's deposit as its events.
#[tokio::test]
async fn probe_a_refused_command_is_never_answered_with_another_bodys_outcome() {
    let direct = common::table().await;
    let fast =
        EventStore::<Account>::new(direct.clone(), StoreOptions::default()).expect("a store");
    fast.execute("fp", common::open("ada")).await.expect("open");
    // The second store's load is slow: the first command runs meanwhile.
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
    let slow = EventStore::<Account>::new(proxied, StoreOptions::default()).expect("a store");
    proxy.set_plan(
        FaultPlan::default()
            .latency(Duration::from_millis(4000), 1.0)
            .operation("Query")
            .first(1),
    );
    let options = |body: &str| with_id("shared-id").fingerprint(body);
    let withdrawal = tokio::spawn({
        let options = options("withdraw 1000");
        async move {
            slow.execute_with("fp", AccountCommand::Withdraw { amount: 1000 }, options)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let applied = fast
        .execute_with("fp", deposit(5), options("deposit 5"))
        .await
        .expect("the deposit");
    assert!(!applied.duplicate);
    assert!(
        !withdrawal.is_finished(),
        "the slow load ended before the deposit"
    );
    let answer = withdrawal.await.expect("the task");
    if std::env::var("PROBE_DEBUG").is_ok() {
        eprintln!(
            "the withdrawal: {:?}",
            answer.as_ref().map(|o| (o.duplicate, o.version))
        );
    }
    match answer {
        Err(CommandError::Store(Error::CommandIdReused { .. })) => {}
        Err(CommandError::Rejected { .. }) => {}
        other => panic!(
            "a withdrawal with id shared-id and another fingerprint was answered {:?}",
            other.map(|o| (o.duplicate, o.version, summary(&o.events)))
        ),
    }
}

/// A transfer (`execute_all`) with an id, refused, while a command of that
/// id on one of its aggregates is applied: never answered as a duplicate
/// with one outcome for two commands.
///
/// FIXED in d5b9cbd (`same_command`; failed on its working tree of
/// 18:38, before it was committed). Was:
/// as above: `recorded_outcome` answers from a reservation on one
/// of the aggregates of the transfer, with that one aggregate's outcome.
#[tokio::test]
async fn probe_a_refused_transfer_is_never_answered_with_one_sides_outcome() {
    let direct = common::table().await;
    let fast =
        EventStore::<Account>::new(direct.clone(), StoreOptions::default()).expect("a store");
    for id in ["t-a", "t-b"] {
        fast.execute(id, common::open("ada")).await.expect("open");
    }
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
    let slow = EventStore::<Account>::new(proxied, StoreOptions::default()).expect("a store");
    proxy.set_plan(
        FaultPlan::default()
            .latency(Duration::from_millis(4000), 1.0)
            .operation("Query")
            .first(1),
    );
    let transfer = tokio::spawn(async move {
        slow.execute_all(
            vec![
                ("t-a".into(), AccountCommand::Withdraw { amount: 1000 }),
                ("t-b".into(), deposit(1000)),
            ],
            with_id("transfer-1"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    fast.execute_with("t-a", deposit(5), with_id("transfer-1"))
        .await
        .expect("one side alone");
    assert!(
        !transfer.is_finished(),
        "the slow load ended before the deposit"
    );
    let answer = transfer.await.expect("the task");
    match answer {
        Err(CommandError::Store(Error::CommandIdReused { .. }))
        | Err(CommandError::Rejected { .. }) => {}
        other => panic!(
            "a transfer on t-a and t-b was answered {:?}",
            other.map(|o| o
                .iter()
                .map(|o| (o.id.to_string(), o.duplicate, o.version))
                .collect::<Vec<_>>())
        ),
    }
}

/// What one execution of a command id was answered.
#[derive(Debug)]
#[allow(dead_code)]
enum Answer {
    Applied {
        duplicate: bool,
        events: Vec<(u64, uuid::Uuid)>,
        version: u64,
    },
    NotApplied(String),
    Unknown(String),
}

fn answer_of(result: &Result<CommandOutcome<Account>, CommandError<Account>>) -> Answer {
    match result {
        Ok(outcome) => Answer::Applied {
            duplicate: outcome.duplicate,
            events: outcome
                .events
                .iter()
                .map(|e| (e.version, e.event_id))
                .collect(),
            version: outcome.version,
        },
        Err(CommandError::Rejected { reason, .. }) => {
            Answer::NotApplied(format!("rejected: {reason}"))
        }
        Err(CommandError::Store(e)) if e.is_outcome_unknown() => Answer::Unknown(e.to_string()),
        Err(CommandError::Store(e))
            if e.is_retryable()
                || e.is_conflict()
                || matches!(e, Error::RetriesExhausted { .. }) =>
        {
            Answer::NotApplied(e.to_string())
        }
        Err(CommandError::Store(e)) => panic!("an answer the contract does not have: {e:?}"),
    }
}

/// `tasks` executions of one command id (a commit of two deposits) at
/// once, each from a process of its own (a store each), with two other
/// writers on the aggregate, under `plan` (lost answers, late and
/// repeated delivery); a caller that gets no definitive answer sends the
/// command again with its id. Returns the violations found.
async fn one_id_many_times(
    options: StoreOptions,
    tasks: usize,
    plan: FaultPlan,
    run: u64,
) -> Vec<String> {
    one_id_many_times_mixed(options.clone(), options, tasks, plan, run).await
}

/// As [`one_id_many_times`], the tasks of odd number with `odd` options
/// (a fleet half upgraded, say).
async fn one_id_many_times_mixed(
    options: StoreOptions,
    odd: StoreOptions,
    tasks: usize,
    plan: FaultPlan,
    run: u64,
) -> Vec<String> {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 2, |o| {
        o.attempt_timeout(Duration::from_millis(300))
    })
    .await;
    let setup = EventStore::<Account>::new(direct.clone(), StoreOptions::default()).expect("store");
    setup
        .execute("hot", common::open("ada"))
        .await
        .expect("open");
    setup.execute("hot", deposit(1)).await.expect("warm");
    let command_id = format!("cmd-{run}");
    let mut stores = Vec::new();
    for task in 0..tasks {
        let options = if task % 2 == 1 {
            odd.clone()
        } else {
            options.clone()
        };
        let store = EventStore::<Account>::new(proxied.clone(), options).expect("store");
        // Warm the cache (when there is one) on a version soon stale.
        store.execute("hot", deposit(1)).await.expect("warm");
        stores.push(store);
    }
    proxy.set_plan(plan);
    let started = Instant::now();
    let mut handles = Vec::new();
    for (task, store) in stores.into_iter().enumerate() {
        let command_id = command_id.clone();
        handles.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis((task as u64 * 7 + run * 3) % 40)).await;
            let mut answers = Vec::new();
            for _ in 0..12 {
                let result = store
                    .execute_with(
                        "hot",
                        many(&[100, 200]),
                        with_id(&command_id).fingerprint("two deposits"),
                    )
                    .await;
                let answer = answer_of(&result);
                let again = matches!(answer, Answer::Unknown(_))
                    || matches!(&answer, Answer::NotApplied(m) if !m.starts_with("rejected"));
                answers.push((started.elapsed(), answer));
                if !again {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            answers
        }));
    }
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let store = EventStore::<Account>::new(proxied.clone(), StoreOptions::default())
                .expect("store");
            tokio::spawn(async move {
                for _ in 0..15 {
                    let _ = store.execute("hot", deposit(1)).await;
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for handle in handles {
        all.push(handle.await.expect("a task"));
    }
    for writer in writers {
        writer.await.expect("a writer");
    }
    proxy.set_plan(FaultPlan::default());
    proxy.settled().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let events: Vec<EventEnvelope<AccountEvent>> =
        EventStore::<Account>::new(direct, StoreOptions::default())
            .expect("store")
            .events("hot", 1)
            .try_collect()
            .await
            .expect("read");
    let mine: Vec<&EventEnvelope<AccountEvent>> = events
        .iter()
        .filter(|e| e.metadata.command_id.as_deref() == Some(command_id.as_str()))
        .collect();
    let stored: Vec<(u64, uuid::Uuid)> = mine.iter().map(|e| (e.version, e.event_id)).collect();
    let mut violations = Vec::new();
    if !(stored.is_empty() || stored.len() == 2) {
        violations.push(format!(
            "run {run}: the command's events: {stored:?} (applied {} times?)",
            stored.len() as f64 / 2.0
        ));
    }
    let applied = !stored.is_empty();
    let mut fresh = 0;
    for (task, answers) in all.iter().enumerate() {
        let Some((_, last)) = answers.last() else {
            continue;
        };
        for (_, answer) in answers {
            if let Answer::Applied {
                duplicate,
                events,
                version,
            } = answer
            {
                if !duplicate {
                    fresh += 1;
                }
                if *events != stored || Some(*version) != stored.last().map(|(v, _)| *v) {
                    violations.push(format!(
                        "run {run}: task {task} answered {answer:?}, the table holds {stored:?}"
                    ));
                }
            }
        }
        if let (Answer::NotApplied(why), true) = (last, applied) {
            violations.push(format!(
                "run {run}: task {task}'s last answer was not applied ({why}), but the command is applied: {answers:?}"
            ));
        }
    }
    if fresh > 1 {
        violations.push(format!(
            "run {run}: {fresh} answers said applied by this call"
        ));
    }
    violations
}

/// How many rounds a fault probe runs: `PROBE_RUNS`, or `embedded` rounds
/// on the embedded server and one on the others. What these probes check is
/// the store's own protocol under the proxy's faults, the same on every
/// server; the further rounds are new seeds, run where a round is quickest.
fn probe_runs(embedded: u64) -> u64 {
    if let Some(runs) = std::env::var("PROBE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return runs;
    }
    match dynago_local::Backend::from_env() {
        Ok(dynago_local::Backend::Embedded) => embedded,
        _ => 1,
    }
}

fn store_kinds() -> Vec<(&'static str, StoreOptions)> {
    vec![
        ("plain", StoreOptions::default()),
        ("cache", StoreOptions::default().cache(16)),
        (
            "snapshots",
            StoreOptions::default().snapshots(SnapshotPolicy::Every(2)),
        ),
        (
            "cache+snapshots",
            StoreOptions::default()
                .cache(16)
                .snapshots(SnapshotPolicy::Every(2)),
        ),
    ]
}

/// 2 to 8 executions of one id at once on a contended aggregate, no fault:
/// applied exactly once, every answer its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_concurrent_executions_of_one_id_apply_once() {
    let mut violations = Vec::new();
    let mut run = 0;
    for (kind, options) in store_kinds() {
        for tasks in [2, 3, 5, 8] {
            run += 1;
            for v in one_id_many_times(options.clone(), tasks, FaultPlan::default(), run).await {
                violations.push(format!("{kind}, {tasks} tasks: {v}"));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// The same, with the writes' answers lost, requests held past the
/// client's timeout and delivered late, and requests delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_concurrent_executions_of_one_id_under_write_faults_apply_once() {
    let runs = probe_runs(2);
    let mut violations = Vec::new();
    let mut run = 100;
    for round in 0..runs {
        for (kind, options) in store_kinds() {
            for tasks in [2, 4, 8] {
                run += 1;
                let plan = FaultPlan::default()
                    .seed(run * 31 + round)
                    .drop_answer(0.25)
                    .hold(Duration::from_millis(700), 0.15)
                    .duplicate(0.15)
                    .throttle(Throttle::Throttling, 0.1)
                    .operation("PutItem")
                    .operation("TransactWriteItems");
                for v in one_id_many_times(options.clone(), tasks, plan, run).await {
                    violations.push(format!("{kind}, {tasks} tasks: {v}"));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A fleet during an upgrade: half the executions of one id write as 0.1
/// did (`item_per_event(true)`: the record in the commit's transaction,
/// an item per event), half reserve the record first and write one item;
/// with and without faults: applied once, every answer its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_concurrent_executions_of_one_id_from_a_mixed_fleet_apply_once() {
    let runs = probe_runs(1);
    let mut violations = Vec::new();
    let mut run = 500;
    for round in 0..runs {
        for (kind, options) in store_kinds() {
            for (faults, tasks) in [(false, 2), (false, 6), (true, 4), (true, 8)] {
                run += 1;
                let plan = if faults {
                    FaultPlan::default()
                        .seed(run * 17 + round)
                        .drop_answer(0.25)
                        .hold(Duration::from_millis(700), 0.15)
                        .duplicate(0.15)
                        .throttle(Throttle::Throttling, 0.1)
                        .operation("PutItem")
                        .operation("TransactWriteItems")
                } else {
                    FaultPlan::default()
                };
                let odd = options.clone().item_per_event(true);
                for v in one_id_many_times_mixed(options.clone(), odd, tasks, plan, run).await {
                    violations.push(format!("{kind}, {tasks} tasks, faults {faults}: {v}"));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A command whose every commit send is held past the client's timeout
/// (answered `OutcomeUnknown`), sent again with its id while the held sends
/// are still on their way, with a snapshot due (so that the repeat's load
/// starts after the command's commit if it landed), the cache on or off:
/// applied once; the repeat's answer is its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_a_repeat_while_the_first_commit_is_held_applies_once() {
    let mut failures = Vec::new();
    for (kind, options) in store_kinds() {
        for (hold_ms, wait_ms) in [(1_500, 0), (1_500, 600), (3_000, 1_000), (800, 1_500)] {
            let direct = common::table().await;
            let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| {
                o.attempt_timeout(Duration::from_millis(200))
            })
            .await;
            let store = EventStore::<Account>::new(
                proxied,
                options
                    .clone()
                    .retry(RetryPolicy::default().max_attempts(3)),
            )
            .expect("store");
            store.execute("h", common::open("ada")).await.expect("open");
            store.execute("h", deposit(1)).await.expect("v2");
            // The record passes; every commit send after it is held.
            proxy.set_plan(
                FaultPlan::default().operation("PutItem").first(1).then(
                    FaultPlan::default()
                        .hold(Duration::from_millis(hold_ms), 1.0)
                        .operation("PutItem")
                        .first(3),
                ),
            );
            let first = store
                .execute_with("h", many(&[10, 20]), with_id("held"))
                .await;
            let first = answer_of(&first);
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            let second = store
                .execute_with("h", many(&[10, 20]), with_id("held"))
                .await;
            let second_answer = answer_of(&second);
            proxy.settled().await;
            let events: Vec<EventEnvelope<AccountEvent>> =
                EventStore::<Account>::new(direct.clone(), StoreOptions::default())
                    .expect("store")
                    .events("h", 1)
                    .try_collect()
                    .await
                    .expect("read");
            let mine: Vec<(u64, uuid::Uuid)> = events
                .iter()
                .filter(|e| e.metadata.command_id.as_deref() == Some("held"))
                .map(|e| (e.version, e.event_id))
                .collect();
            let case = format!("{kind}, hold {hold_ms} ms, repeat after {wait_ms} ms");
            if mine.len() != 2 {
                failures.push(format!(
                    "{case}: the command's events {mine:?}; answers {first:?}, {second_answer:?}"
                ));
                continue;
            }
            match &second_answer {
                Answer::Applied { events, .. } if *events == mine => {}
                other => failures.push(format!("{case}: the repeat answered {other:?}, the table holds {mine:?} (first: {first:?})")),
            }
            // A third send, after everything settled: the same outcome.
            let third = store
                .execute_with("h", many(&[10, 20]), with_id("held"))
                .await;
            match answer_of(&third) {
                Answer::Applied {
                    duplicate: true,
                    events,
                    ..
                } if events == mine => {}
                other => failures.push(format!("{case}: the third send answered {other:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A command whose reservation's answer is lost and whose commit's answer
/// is lost too, under snapshots: the store recognises both, applies once;
/// a caller's repeat gets the outcome, with the same events.
#[tokio::test]
async fn probe_lost_answers_on_the_record_and_the_commit_apply_once() {
    for (kind, options) in store_kinds() {
        for strip in [false, true] {
            let direct = common::table().await;
            let (proxied, proxy) =
                common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
            let store = EventStore::<Account>::new(proxied, options.clone()).expect("store");
            store.execute("l", common::open("ada")).await.expect("open");
            proxy.set_plan(
                FaultPlan::default()
                    .drop_answer(1.0)
                    .operation("PutItem")
                    .first(2)
                    .strip_client_request_tokens(strip),
            );
            let first = store
                .execute_with("l", many(&[3, 4, 5]), with_id("lost-both"))
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert!(!first.duplicate);
            assert_eq!(first.version, 4, "{kind}");
            let again = store
                .execute_with("l", many(&[3, 4, 5]), with_id("lost-both"))
                .await
                .expect("the repeat");
            assert!(again.duplicate, "{kind}");
            assert_eq!(
                again.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
                first.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
                "{kind}"
            );
            let loaded = store.load("l").await.expect("load");
            assert_eq!((loaded.version, loaded.state.balance), (4, 12), "{kind}");
        }
    }
}

/// A repeat of an applied command after other writers moved the stream on
/// past a snapshot (the repeat's load starts after the command's commit):
/// the first outcome, whatever the cache holds.
#[tokio::test]
async fn probe_a_repeat_after_snapshots_past_the_commit_is_its_first_outcome() {
    for (kind, options) in store_kinds() {
        let store = common::store(options.clone()).await;
        let other = EventStore::<Account>::new(store.table().clone(), options).expect("store");
        store.execute("s", common::open("ada")).await.expect("open");
        let first = store
            .execute_with("s", many(&[1, 2, 3]), with_id("snap"))
            .await
            .expect("first");
        for _ in 0..5 {
            other.execute("s", deposit(7)).await.expect("other");
        }
        for repeat in [&store, &other] {
            let again = repeat
                .execute_with("s", many(&[1, 2, 3]), with_id("snap"))
                .await
                .expect("repeat");
            assert!(again.duplicate, "{kind}");
            assert_eq!(again.version, first.version, "{kind}");
            assert_eq!(
                again.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
                first.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
                "{kind}"
            );
        }
        assert_eq!(store.load("s").await.expect("load").state.balance, 6 + 35);
    }
}

/// A reservation left without a commit (the first attempt's commit never
/// sent: the process died), then other writers move on; a repeat applies
/// it once, and a repeat of that answers its outcome. Also when the
/// command's first commit lost a race and landed far after its
/// reservation's first version.
#[tokio::test]
async fn probe_a_reservation_without_commit_is_applied_once_by_a_repeat() {
    let direct = common::table().await;
    let (proxied, proxy) = common::through_proxy(&direct, FaultPlan::default(), 1, |o| o).await;
    let store = EventStore::<Account>::new(
        proxied,
        StoreOptions::default().retry(RetryPolicy::default().max_attempts(2)),
    )
    .expect("store");
    let direct_store =
        EventStore::<Account>::new(direct.clone(), StoreOptions::default()).expect("store");
    store.execute("d", common::open("ada")).await.expect("open");
    // The record passes, every commit send is throttled: nothing of the
    // command but its reservation.
    proxy.set_plan(
        FaultPlan::default().operation("PutItem").first(1).then(
            FaultPlan::default()
                .throttle(Throttle::Throttling, 1.0)
                .operation("PutItem"),
        ),
    );
    let error = store
        .execute_with("d", deposit(50), with_id("orphan"))
        .await
        .expect_err("throttled");
    assert!(error.is_retryable(), "{error}");
    proxy.set_plan(FaultPlan::default());
    for _ in 0..3 {
        direct_store.execute("d", deposit(1)).await.expect("others");
    }
    let again = store
        .execute_with("d", deposit(50), with_id("orphan"))
        .await
        .expect("the repeat applies it");
    assert!(!again.duplicate);
    assert_eq!(again.version, 5);
    let third = direct_store
        .execute_with("d", deposit(50), with_id("orphan"))
        .await
        .expect("the third");
    assert!(third.duplicate);
    assert_eq!(third.version, 5);
    assert_eq!(third.events[0].event_id, again.events[0].event_id);
    assert_eq!(
        direct_store.load("d").await.expect("load").state.balance,
        53
    );
}

/// Record and commit keys: a multi-aggregate command and a one-aggregate
/// command with the same id, each first: the other is `CommandIdReused`
/// or the first outcome, never applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_one_id_on_one_aggregate_and_on_a_transfer_at_once() {
    for run in 0..6 {
        let store = Arc::new(common::store(StoreOptions::default()).await);
        for id in ["x", "y"] {
            store.execute(id, common::open("ada")).await.expect("open");
        }
        let id = format!("mixed-{run}");
        let single = {
            let store = Arc::clone(&store);
            let id = id.clone();
            tokio::spawn(async move {
                store
                    .execute_with("x", deposit(5), with_id(&id))
                    .await
                    .map(drop)
            })
        };
        let transfer = {
            let store = Arc::clone(&store);
            let id = id.clone();
            tokio::spawn(async move {
                store
                    .execute_all(
                        vec![("x".into(), deposit(5)), ("y".into(), deposit(5))],
                        with_id(&id),
                    )
                    .await
                    .map(drop)
            })
        };
        let single = single.await.expect("task");
        let transfer = transfer.await.expect("task");
        let x: Vec<EventEnvelope<AccountEvent>> =
            store.events("x", 1).try_collect().await.expect("x");
        let y: Vec<EventEnvelope<AccountEvent>> =
            store.events("y", 1).try_collect().await.expect("y");
        let tagged = x
            .iter()
            .chain(&y)
            .filter(|e| e.metadata.command_id.as_deref() == Some(id.as_str()))
            .count();
        assert!(
            tagged == 1 || tagged == 2,
            "run {run}: {tagged} events of the id"
        );
        assert!(
            single.is_ok() != transfer.is_ok(),
            "run {run}: single {single:?}, transfer {transfer:?}"
        );
    }
}

#[allow(dead_code)]
fn _unused(_: BTreeMap<(), ()>, _: Journal, _: &str) -> Key {
    Key::new(string_value("x"))
}
