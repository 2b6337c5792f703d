//! An outside review's probes of the read side of "one item per commit":
//! a stream record (an item) holding a commit of several events, applied
//! event by event, exactly once, in order; gap fills that start inside a
//! commit; unreadable events inside a commit; damaged commit items.
//!
//! Each probe documents a case: those marked `FIXED in` failed before the
//! commit they name and pass since; one marked `DEFECT` and `#[ignore]`d
//! documents a known limit, with its reason; the others held from the
//! start. All stay as regression tests.

use crate::common;

use std::time::Duration;

use common::{setup, Account, AccountEvent};
use dynago::{string_value, AttributeValue, Item, Key};
use dynago_es::{Aggregate, DomainEvent, EventStore, Metadata, StoreOptions};
use dynago_projections::{EventOf, Offer, Projection, Projector, UnknownEvents, ViewKind};
use serde::{Deserialize, Serialize};

// ------------------------------------------------------------ projections

/// The versions applied to each account's view, in the order applied;
/// passes over events it cannot read.
struct SequenceSkip;

impl Projection for SequenceSkip {
    const NAME: &'static str = "seq-skip";
    const UNKNOWN_EVENTS: UnknownEvents = UnknownEvents::Skip;
    type Aggregate = Account;
    type View = Vec<u64>;
    type Error = std::convert::Infallible;

    fn apply(&self, view: &mut Vec<u64>, event: &EventOf<Self>) -> Result<(), Self::Error> {
        view.push(event.version);
        Ok(())
    }
}

/// The same, parking what it cannot read.
struct SequencePark;

impl Projection for SequencePark {
    const NAME: &'static str = "seq-park";
    type Aggregate = Account;
    type View = Vec<u64>;
    type Error = std::convert::Infallible;

    fn apply(&self, view: &mut Vec<u64>, event: &EventOf<Self>) -> Result<(), Self::Error> {
        view.push(event.version);
        Ok(())
    }
}

/// Every event of every account in one keyed view, `id:version`, in the
/// order applied; passes over events it cannot read.
struct SequenceAll;

impl Projection for SequenceAll {
    const NAME: &'static str = "seq-all";
    const VIEWS: ViewKind = ViewKind::Keyed;
    const UNKNOWN_EVENTS: UnknownEvents = UnknownEvents::Skip;
    type Aggregate = Account;
    type View = Vec<String>;
    type Error = std::convert::Infallible;

    fn view_key(&self, _: &EventOf<Self>) -> Option<String> {
        Some("all".to_owned())
    }

    fn apply(&self, view: &mut Vec<String>, event: &EventOf<Self>) -> Result<(), Self::Error> {
        view.push(format!("{}:{}", event.aggregate_id, event.version));
        Ok(())
    }
}

/// The account as a newer build knows it: one more event type.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct NewerAccount;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
enum NewerEvent {
    Deposited { amount: i64, day: String },
    Withdrawn { amount: i64, day: String },
    Frozen { reason: String },
}

impl Aggregate for NewerAccount {
    const TYPE: &'static str = <Account as Aggregate>::TYPE;
    type Id = dynago_es::AggregateId;
    type Command = ();
    type Event = NewerEvent;
    type Error = std::convert::Infallible;

    fn handle(&self, (): &()) -> Result<Vec<NewerEvent>, Self::Error> {
        Ok(Vec::new())
    }

    fn apply(&mut self, _: &NewerEvent) {}
}

// ------------------------------------------------------------ helpers

fn deposited(amount: i64) -> AccountEvent {
    AccountEvent::Deposited {
        amount,
        day: "2026-12-01".into(),
    }
}

/// Appends a commit of `count` deposits to `id` after `expected`.
async fn commit(setup: &common::Setup, id: &str, expected: u64, count: u64) {
    let events = (1..=count)
        .map(|n| deposited(i64::try_from(expected + n).expect("small")))
        .collect();
    setup
        .store
        .append(id, expected, events, Metadata::default())
        .await
        .unwrap_or_else(|e| panic!("a commit of {count} after {expected}: {e}"));
}

async fn item(setup: &common::Setup, id: &str, version: u64) -> Item {
    let key = Key::new(string_value(format!("account#{id}")))
        .sort(string_value(format!("e#{version:020}")));
    dynago_local::testing::raw_get(&setup.events, &key)
        .await
        .unwrap_or_else(|| panic!("no item e#{version} of {id}"))
}

async fn offer_item<P: Projection<Aggregate = Account>>(
    projector: &Projector<P>,
    item: Item,
) -> Option<Offer> {
    tokio::time::timeout(Duration::from_secs(20), projector.apply_item(item))
        .await
        .expect("the offer of an item ended within 20 s")
        .expect("an offer")
}

async fn view<P: Projection<Aggregate = Account, View = Vec<u64>>>(
    projector: &Projector<P>,
    id: &str,
) -> Vec<u64> {
    projector
        .views()
        .get(id)
        .await
        .expect("read")
        .map(|view| view.view)
        .unwrap_or_default()
}

async fn all_view(setup: &common::Setup) -> Vec<String> {
    dynago_projections::Views::<SequenceAll>::new(setup.views.clone())
        .expect("views")
        .get_keyed("all")
        .await
        .expect("read")
        .map(|view| view.view)
        .unwrap_or_default()
}

// ------------------------------------------------------------ probes

/// A stream record holding a commit of five events applies the five, once,
/// in order; delivered again (three times), it applies nothing; a later
/// record past a gap fills the gap from the table, once.
#[tokio::test]
async fn probe_a_commit_record_applies_each_event_once_in_order() {
    let setup = setup("probe-commit-once").await;
    commit(&setup, "c", 0, 5).await; // 1..5
    commit(&setup, "c", 5, 3).await; // 6..8
    commit(&setup, "c", 8, 2).await; // 9..10
    let own = common::projector(&setup, SequenceSkip, common::options("w1"));
    let keyed = common::projector(&setup, SequenceAll, common::options("w1"));
    assert_eq!(
        offer_item(&own, item(&setup, "c", 1).await).await,
        Some(Offer::Applied { events: 5 })
    );
    assert_eq!(
        offer_item(&keyed, item(&setup, "c", 1).await).await,
        Some(Offer::Applied { events: 5 })
    );
    for _ in 0..3 {
        assert_eq!(
            offer_item(&own, item(&setup, "c", 1).await).await,
            Some(Offer::Duplicate)
        );
        assert_eq!(
            offer_item(&keyed, item(&setup, "c", 1).await).await,
            Some(Offer::Duplicate)
        );
    }
    // Past a gap: the record at 9 first, then the one at 6 late.
    assert_eq!(
        offer_item(&own, item(&setup, "c", 9).await).await,
        Some(Offer::Applied { events: 5 })
    );
    offer_item(&keyed, item(&setup, "c", 9).await).await;
    for version in [6, 1, 9] {
        assert_eq!(
            offer_item(&own, item(&setup, "c", version).await).await,
            Some(Offer::Duplicate)
        );
        offer_item(&keyed, item(&setup, "c", version).await).await;
    }
    assert_eq!(view(&own, "c").await, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        all_view(&setup).await,
        (1..=10).map(|v| format!("c:{v}")).collect::<Vec<_>>()
    );
}

/// A gap fill that starts inside a commit (the view holds part of it):
/// the rest of that commit, then the later ones, each once.
#[tokio::test]
async fn probe_a_gap_fill_that_starts_inside_a_commit() {
    let setup = setup("probe-gap-inside").await;
    let own = common::projector(&setup, SequenceSkip, common::options("w1"));
    let keyed = common::projector(&setup, SequenceAll, common::options("w1"));
    let mut expected_all = Vec::new();
    for applied in [2_usize, 4, 5, 6] {
        let id = format!("g{applied}");
        commit(&setup, &id, 0, 4).await; // 1..4
        commit(&setup, &id, 4, 3).await; // 5..7
        commit(&setup, &id, 7, 1).await; // 8
        let events = common::events_of(&setup.store, &id).await;
        for event in &events[..applied] {
            own.apply(event).await.expect("applied");
            keyed.apply(event).await.expect("applied");
        }
        let offer = offer_item(&own, item(&setup, &id, 8).await).await;
        assert_eq!(
            offer,
            Some(Offer::Applied {
                events: 8 - applied as u64
            }),
            "from {applied}"
        );
        offer_item(&keyed, item(&setup, &id, 8).await).await;
        assert_eq!(
            view(&own, &id).await,
            (1..=8).collect::<Vec<_>>(),
            "from {applied}"
        );
        for version in [1, 5, 8] {
            assert_eq!(
                offer_item(&own, item(&setup, &id, version).await).await,
                Some(Offer::Duplicate)
            );
            offer_item(&keyed, item(&setup, &id, version).await).await;
        }
        expected_all.extend((1..=8).map(|v| format!("{id}:{v}")));
    }
    assert_eq!(all_view(&setup).await, expected_all);
}

/// v1; one commit of v2 (a deposit), v3 (a type this build does not know),
/// v4 (a deposit), by a newer build; v5.
async fn with_an_unknown_event_inside_a_commit(setup: &common::Setup, id: &str) {
    commit(setup, id, 0, 1).await;
    let newer = EventStore::<NewerAccount>::new(setup.events.clone(), StoreOptions::default())
        .expect("a store");
    let deposit = |amount| NewerEvent::Deposited {
        amount,
        day: "2026-12-02".into(),
    };
    newer
        .append(
            id,
            1,
            vec![
                deposit(2),
                NewerEvent::Frozen {
                    reason: "audit".into(),
                },
                deposit(4),
            ],
            Metadata::default(),
        )
        .await
        .expect("one commit by the newer build");
    commit(setup, id, 4, 1).await;
}

/// A gap fill across a commit holding an event this build cannot read,
/// with `Skip`: the others applied once, in order, the unreadable one
/// passed over; the commit's record delivered late changes nothing.
#[tokio::test]
async fn probe_a_gap_fill_across_an_unknown_event_inside_a_commit_skips_only_it() {
    let setup = setup("probe-gap-unknown-skip").await;
    with_an_unknown_event_inside_a_commit(&setup, "u").await;
    let own = common::projector(&setup, SequenceSkip, common::options("w1"));
    let keyed = common::projector(&setup, SequenceAll, common::options("w1"));
    for projector_item in [5, 2, 1, 5] {
        offer_item(&own, item(&setup, "u", projector_item).await).await;
        offer_item(&keyed, item(&setup, "u", projector_item).await).await;
    }
    assert_eq!(view(&own, "u").await, vec![1, 2, 4, 5]);
    assert_eq!(all_view(&setup).await, ["u:1", "u:2", "u:4", "u:5"]);
}

/// The same with `Park`: the unreadable event is parked at its own
/// version, the events before it applied once, those after it wait.
///
/// DEFECT (minor; older than this change): a gap fill that meets an
/// unreadable event parks the event offered (v5, with the error of v3),
/// not the unreadable one: the parked list names the wrong event, and the
/// readable v2 before it is not applied.
#[tokio::test]
#[ignore = "a known limit older than commit items: a gap fill that meets an unreadable event parks the event offered (with the unreadable one's error), not the unreadable one, and the readable events before it wait with it; nothing is lost, the parked list names the later event"]
async fn probe_a_gap_fill_across_an_unknown_event_inside_a_commit_parks_it_at_its_version() {
    let setup = setup("probe-gap-unknown-park").await;
    with_an_unknown_event_inside_a_commit(&setup, "p").await;
    let own = common::projector(&setup, SequencePark, common::options("w1"));
    offer_item(&own, item(&setup, "p", 1).await).await;
    let offer = offer_item(&own, item(&setup, "p", 5).await).await;
    assert_eq!(offer, Some(Offer::Parked));
    let parked: Vec<u64> = own
        .parked()
        .await
        .expect("parked")
        .iter()
        .map(|p| p.version)
        .collect();
    assert_eq!(
        (parked, view(&own, "p").await),
        (vec![3], vec![1, 2]),
        "(parked versions, view)"
    );
}

/// How a commit item is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    MemberNotAMap,
    LastVersionTooHigh,
}

/// v1; a commit of v2 to v4, damaged; v5.
async fn with_a_damaged_commit(setup: &common::Setup, id: &str, damage: Damage) {
    commit(setup, id, 0, 1).await;
    commit(setup, id, 1, 3).await;
    commit(setup, id, 4, 1).await;
    let mut damaged = item(setup, id, 2).await;
    match damage {
        Damage::MemberNotAMap => match damaged.get_mut("next_events") {
            Some(AttributeValue::L(list)) => list[1] = AttributeValue::S("v4".into()),
            other => panic!("no list: {other:?}"),
        },
        Damage::LastVersionTooHigh => {
            damaged.insert("last_version".into(), AttributeValue::N("6".into()));
        }
    }
    dynago_local::testing::raw_put(&setup.events, damaged).await;
}

/// A projection that passes over what it cannot read meets a damaged
/// commit item (item-level damage: a member of its list that is not a
/// map, or a `last_version` that lies) in a gap fill: the offer ends, the
/// aggregate is passed over or parked, nothing is applied twice.
///
/// FIXED in 753987c (failed on d5b9cbd: no end, ~1,500 queries a
/// second; `offer` now parks on `Duplicate`).
/// Was: the offer never ends. The item's error names the item's first
/// version (v2, readable itself); `offer` passes over v2 (or finds it
/// passed over: `Duplicate`) and `continue`s, reads the gap again from
/// v3, meets the same item, the same error at v2, and loops forever
/// (querying the table each turn, about 1,500 queries a second here):
/// the worker's shard stops.
#[tokio::test]
async fn probe_a_damaged_commit_item_does_not_hang_a_skip_projection() {
    let mut failures = Vec::new();
    for damage in [Damage::MemberNotAMap, Damage::LastVersionTooHigh] {
        for first in [1_u64, 2] {
            let setup = setup("probe-damaged-skip").await;
            with_a_damaged_commit(&setup, "d", damage).await;
            let own = common::projector(&setup, SequenceSkip, common::options("w1"));
            // The damaged item's record first, or not.
            for version in 1..first {
                let _ = tokio::time::timeout(
                    Duration::from_secs(20),
                    own.apply_item(item(&setup, "d", version).await),
                )
                .await;
            }
            if first == 2 {
                let _ = tokio::time::timeout(
                    Duration::from_secs(20),
                    own.apply_item(item(&setup, "d", 2).await),
                )
                .await;
            }
            let last = item(&setup, "d", 5).await;
            let before = setup.store.table().request_count();
            let offered = tokio::time::timeout(Duration::from_secs(20), own.apply_item(last)).await;
            let requests = setup.store.table().request_count() - before;
            match offered {
                Err(_) => failures.push(format!(
                    "{damage:?}, records from {first}: the offer of v5 did not end within 20 s ({requests} requests to the events table meanwhile)"
                )),
                Ok(offer) => {
                    let seen = view(&own, "d").await;
                    let mut sorted = seen.clone();
                    sorted.dedup();
                    if sorted != seen {
                        failures.push(format!("{damage:?}: applied twice: {seen:?}"));
                    }
                    if seen.contains(&5) && !seen.windows(2).all(|w| w[1] == w[0] + 1) {
                        failures.push(format!(
                            "{damage:?}: v5 applied past a gap: view {seen:?}, offer {offer:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The same damaged items, with `Park`: the offer ends, parked.
#[tokio::test]
async fn probe_a_damaged_commit_item_parks_a_park_projection() {
    for damage in [Damage::MemberNotAMap, Damage::LastVersionTooHigh] {
        let setup = setup("probe-damaged-park").await;
        with_a_damaged_commit(&setup, "d", damage).await;
        let own = common::projector(&setup, SequencePark, common::options("w1"));
        let offer = offer_item(&own, item(&setup, "d", 5).await).await;
        assert_eq!(offer, Some(Offer::Parked), "{damage:?}");
        let seen = view(&own, "d").await;
        assert!(!seen.contains(&5), "{damage:?}: {seen:?}");
    }
}

/// A Lambda batch of the real stream's records of commits of several
/// events (one holding an unknown event), delivered out of order, twice:
/// every readable event applied once, in order.
#[cfg(feature = "lambda")]
#[tokio::test]
async fn probe_a_lambda_batch_of_commit_records_applies_each_event_once() {
    use dynago_projections::lambda::{self, BatchProjector, StreamEvent};
    let setup = setup("probe-lambda-commits").await;
    commit(&setup, "a", 0, 4).await;
    with_an_unknown_event_inside_a_commit(&setup, "b").await;
    commit(&setup, "a", 4, 3).await;
    commit(&setup, "b", 5, 2).await;
    let stream = dynago_projections::EventStream::connect(setup.events_options.clone())
        .await
        .expect("the stream");
    let records = stream.lambda_records().await.expect("records");
    let projectors: Vec<Box<dyn BatchProjector>> = vec![
        Box::new(common::projector(
            &setup,
            SequenceSkip,
            common::options("l"),
        )),
        Box::new(common::projector(&setup, SequenceAll, common::options("l"))),
    ];
    let refs: Vec<&dyn BatchProjector> = projectors.iter().map(|p| p.as_ref()).collect();
    let mut reversed = records.clone();
    reversed.reverse();
    for records in [reversed, records.clone(), records] {
        let mut event = StreamEvent::default();
        event.records = records;
        let answer = lambda::handle(&refs, &event).await.expect("a batch");
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    }
    let own = common::projector(&setup, SequenceSkip, common::options("check"));
    assert_eq!(view(&own, "a").await, (1..=7).collect::<Vec<_>>());
    assert_eq!(view(&own, "b").await, vec![1, 2, 4, 5, 6, 7]);
    let all = all_view(&setup).await;
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all.len(), sorted.len(), "applied twice: {all:?}");
    assert_eq!(all.len(), 13, "{all:?}");
}

/// Passing over an unknown event two versions past the one applied (the
/// record of the one between not there yet) reads the one between: a few
/// requests, whatever the length of the stream below.
///
/// Written after 753987c's fix of `events_between` (passes there;
/// by reading, d5b9cbd walked ~61 queries here, not run there).
/// Was (cost, from the store's `events_between`): `pass_unreadable`
/// reads the one event before it with `events_between(v..=v)`, which
/// walks the stream down to version 1, one `Query` per item (see the
/// store's probe `probe_events_between_one_version_costs_one_query`).
#[tokio::test]
async fn probe_passing_over_an_unknown_event_costs_no_more_on_a_long_stream() {
    let setup = setup("probe-skip-cost").await;
    for expected in 0..60 {
        commit(&setup, "long", expected, 1).await;
    }
    let newer = EventStore::<NewerAccount>::new(setup.events.clone(), StoreOptions::default())
        .expect("a store");
    newer
        .append(
            "long",
            60,
            vec![NewerEvent::Deposited {
                amount: 61,
                day: "2026-12-02".into(),
            }],
            Metadata::default(),
        )
        .await
        .expect("v61");
    newer
        .append(
            "long",
            61,
            vec![NewerEvent::Frozen {
                reason: "audit".into(),
            }],
            Metadata::default(),
        )
        .await
        .expect("v62, unknown here");
    let own = common::projector(&setup, SequenceSkip, common::options("w1"));
    let first: Vec<EventOf<SequenceSkip>> =
        futures::TryStreamExt::try_collect(setup.store.events_between("long", 1..=60))
            .await
            .expect("v1 to v60");
    for event in &first {
        own.apply(event).await.expect("applied");
    }
    let before = setup.store.table().request_count();
    let offer = offer_item(&own, item(&setup, "long", 62).await).await;
    let requests = setup.store.table().request_count() - before;
    assert_eq!(
        view(&own, "long").await,
        (1..=61).collect::<Vec<_>>(),
        "{offer:?}"
    );
    assert!(
        requests <= 6,
        "passing over v62 after v60 read the events table {requests} times"
    );
}

/// A projection that passes over what it cannot read, an item damaged as
/// a whole far below (passed over long ago), and a new event type (a
/// writer deployed first) past a gap: the offer ends.
///
/// Written after 753987c's fix of `events_between` (passes there;
/// by reading, d5b9cbd looped forever here, not run there). Was:
/// `pass_unreadable(62)` reads v61 with `events_between(61..=61)`,
/// which walks down to the damaged item at v3 and fails there;
/// `pass_unreadable(3)` answers `Duplicate`, which `offer` takes as
/// progress and `continue`s: the same reads, forever.
#[tokio::test]
async fn probe_an_old_damaged_item_and_a_new_event_type_do_not_hang_a_skip_projection() {
    let setup = setup("probe-skip-old-damage").await;
    for expected in 0..10 {
        commit(&setup, "old", expected, 1).await;
    }
    let mut damaged = item(&setup, "old", 3).await;
    damaged.insert("next_events".into(), AttributeValue::S("not a list".into()));
    damaged.insert("last_version".into(), AttributeValue::N("3".into()));
    dynago_local::testing::raw_put(&setup.events, damaged).await;
    let own = common::projector(&setup, SequenceSkip, common::options("w1"));
    for version in 1..=10 {
        offer_item(&own, item(&setup, "old", version).await).await;
    }
    assert_eq!(view(&own, "old").await, vec![1, 2, 4, 5, 6, 7, 8, 9, 10]);
    let newer = EventStore::<NewerAccount>::new(setup.events.clone(), StoreOptions::default())
        .expect("a store");
    for (expected, event) in [
        NewerEvent::Deposited {
            amount: 11,
            day: "2026-12-02".into(),
        },
        NewerEvent::Frozen {
            reason: "audit".into(),
        },
        NewerEvent::Deposited {
            amount: 13,
            day: "2026-12-02".into(),
        },
    ]
    .into_iter()
    .enumerate()
    {
        newer
            .append(
                "old",
                10 + expected as u64,
                vec![event],
                Metadata::default(),
            )
            .await
            .expect("appended by the newer build");
    }
    let before = setup.store.table().request_count();
    let offered = tokio::time::timeout(
        Duration::from_secs(20),
        own.apply_item(item(&setup, "old", 13).await),
    )
    .await;
    let requests = setup.store.table().request_count() - before;
    assert!(
        offered.is_ok(),
        "the offer of v13 did not end within 20 s ({requests} requests meanwhile)"
    );
    assert_eq!(
        view(&own, "old").await,
        vec![1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 13]
    );
}
