//! An event whose handler keeps failing is parked with its error; its
//! aggregate's later events wait behind it while the others go on; once
//! the handler is fixed, replaying the aggregate applies the parked event
//! and everything after it.

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{
    events_of, eventually, expected, moves, options, projector, run_commands, setup, stream_of,
    views_of, views_reach, Balance, Balances, Running,
};
use dynago_projections::{Offer, ParkedEvent, Projector, ProjectorOptions};

/// The account with a deposit of 13, its second event.
const POISONED: &str = "unlucky";

/// How often the handler is tried before its event is parked.
const ATTEMPTS: usize = 2;

fn poisoned() -> (Balances, Arc<AtomicBool>) {
    let poison = Arc::new(AtomicBool::new(true));
    let balances = Balances {
        poison: Arc::clone(&poison),
    };
    (balances, poison)
}

fn with_retries(options: ProjectorOptions) -> ProjectorOptions {
    options.handler_retry(
        dynago::RetryPolicy::default()
            .max_attempts(ATTEMPTS)
            .min_delay(Duration::from_millis(5)),
    )
}

/// The one parked event is v2 of the poisoned account, with the handler's
/// error, tried as often as configured.
fn assert_parked_once(parked: &[ParkedEvent]) {
    let [event] = parked else {
        panic!("parked events: {parked:?}, want v2 of {POISONED} alone");
    };
    assert_eq!(
        (
            event.aggregate_id.to_string(),
            event.version,
            event.event_type.as_str(),
            event.error.as_str(),
            event.attempts
        ),
        (
            POISONED.to_owned(),
            2,
            "Deposited",
            "unlucky amount 13",
            ATTEMPTS
        ),
        "the parked event (aggregate, version, type, error, attempts)"
    );
}

/// The poisoned account's view holds its first event only.
async fn assert_held_at_v1(balances: &Projector<Balances>) {
    let view = balances
        .views()
        .get(POISONED)
        .await
        .expect("the view read")
        .expect("the first event applied");
    assert_eq!(
        (view.version, view.view),
        (
            1,
            Balance {
                balance: 20,
                events: 1
            }
        ),
        "the view of {POISONED}, whose v2 is parked"
    );
}

/// The replayed views of `ids`, but for the poisoned account.
async fn others(
    store: &dynago_es::EventStore<common::Account>,
    ids: &[String],
) -> BTreeMap<String, Balance> {
    let (mut want, _) = expected(store, ids).await;
    want.remove(POISONED);
    want
}

#[tokio::test]
async fn a_poison_event_is_parked_and_replayed_through_apply() {
    let setup = setup("proj-poison-apply").await;
    let (projection, poison) = poisoned();
    let balances = projector(
        &setup,
        projection,
        with_retries(ProjectorOptions::default()),
    );
    moves(&setup.store, "fine-a", &[20, -5, 8], "2026-12-01").await;
    moves(&setup.store, "fine-b", &[3, 4], "2026-12-02").await;
    moves(&setup.store, POISONED, &[20, 13, -4, 2], "2026-12-03").await;
    let ids: Vec<String> = ["fine-a", "fine-b", POISONED].map(str::to_owned).to_vec();

    // The accounts' events interleaved, each account's in order.
    let mut events = BTreeMap::new();
    for id in &ids {
        events.insert(id.clone(), events_of(&setup.store, id).await);
    }
    let mut offers: BTreeMap<String, Vec<Offer>> = BTreeMap::new();
    for version in 0..4 {
        for id in &ids {
            if let Some(event) = events[id].get(version) {
                let offer = balances.apply(event).await.expect("an offer");
                offers.entry(id.clone()).or_default().push(offer);
            }
        }
    }
    let one = Offer::Applied { events: 1 };
    assert_eq!(offers["fine-a"], [one; 3], "the offers of fine-a");
    assert_eq!(offers["fine-b"], [one; 2], "the offers of fine-b");
    assert_eq!(
        offers[POISONED],
        [one, Offer::Parked, Offer::Waiting, Offer::Waiting],
        "the offers of {POISONED}: v2 parked, the later ones wait"
    );
    assert_parked_once(&balances.parked().await.expect("parked events"));
    assert_held_at_v1(&balances).await;
    let mut views = views_of::<Balances>(&setup.views).await;
    views.remove(POISONED);
    assert_eq!(
        views,
        others(&setup.store, &ids).await,
        "the other accounts' views"
    );

    // An event written while the account is parked waits too.
    moves(&setup.store, POISONED, &[6], "2026-12-03").await;
    let newest = events_of(&setup.store, POISONED).await.pop().expect("v5");
    assert_eq!(
        balances.apply(&newest).await.expect("an offer"),
        Offer::Waiting,
        "v5 of {POISONED}, written while v2 is parked"
    );
    assert_eq!(balances.status().parked, 1, "events parked");

    poison.store(false, Ordering::SeqCst);
    assert_eq!(
        balances.replay_parked(POISONED).await.expect("the replay"),
        Offer::Applied { events: 4 },
        "the replay of {POISONED}: v2 to v5"
    );
    let (want, _) = expected(&setup.store, &ids).await;
    assert_eq!(
        views_of::<Balances>(&setup.views).await,
        want,
        "the views after the replay"
    );
    let parked = balances.parked().await.expect("parked events");
    assert!(parked.is_empty(), "parked after the replay: {parked:?}");
    for event in events_of(&setup.store, POISONED).await {
        assert_eq!(
            balances.apply(&event).await.expect("an offer"),
            Offer::Duplicate,
            "v{} of {POISONED} offered again after the replay",
            event.version
        );
    }
}

#[tokio::test]
async fn a_poison_event_is_parked_and_replayed_through_the_stream() {
    let setup = setup("proj-poison-stream").await;
    let (projection, poison) = poisoned();
    let balances = projector(
        &setup,
        projection,
        with_retries(options("w1").catch_up_from_table(false)),
    );
    let worker = Running::start(&balances, &stream_of(&setup).await);

    let mut ids = run_commands(&setup.store, 4, 30, 3).await;
    moves(&setup.store, POISONED, &[20, 13, -4, 2], "2026-12-03").await;
    ids.push(POISONED.to_owned());
    let want = with_poisoned_at_v1(others(&setup.store, &ids).await);
    let parked_and_others_done = eventually(Duration::from_secs(20), || async {
        views_of::<Balances>(&setup.views).await == want
            && !balances.parked().await.expect("parked events").is_empty()
    })
    .await;
    assert!(
        parked_and_others_done,
        "no parked event, or views other than wanted: {}; parked {:?}; status {:?}",
        common::differences(&views_of::<Balances>(&setup.views).await, &want),
        balances.parked().await,
        balances.status()
    );
    assert!(
        !worker.ended(),
        "the worker stopped: {:?}",
        balances.status()
    );
    assert_parked_once(&balances.parked().await.expect("parked events"));

    // The others go on; the poisoned account's new events wait.
    run_commands(&setup.store, 4, 10, 4).await;
    moves(&setup.store, POISONED, &[6], "2026-12-03").await;
    let want = with_poisoned_at_v1(others(&setup.store, &ids).await);
    if let Err(diff) = views_reach::<Balances>(&setup.views, &want, Duration::from_secs(20)).await {
        panic!(
            "the views while {POISONED} is parked: {diff}; status {:?}",
            balances.status()
        );
    }
    assert_held_at_v1(&balances).await;

    poison.store(false, Ordering::SeqCst);
    assert_eq!(
        balances.replay_parked(POISONED).await.expect("the replay"),
        Offer::Applied { events: 4 },
        "the replay of {POISONED}: v2 to v5"
    );
    // And what comes after the replay is applied from the stream.
    moves(&setup.store, POISONED, &[1], "2026-12-03").await;
    let (want, _) = expected(&setup.store, &ids).await;
    if let Err(diff) = views_reach::<Balances>(&setup.views, &want, Duration::from_secs(20)).await {
        panic!(
            "the views after the replay: {diff}; status {:?}",
            balances.status()
        );
    }
    let parked = balances.parked().await.expect("parked events");
    assert!(parked.is_empty(), "parked after the replay: {parked:?}");
    let status = balances.status();
    worker.stop().await.expect("the worker");
    assert_eq!(status.parked, 1, "events parked by the worker");
}

/// `others` with the poisoned account's view at its first event.
fn with_poisoned_at_v1(mut others: BTreeMap<String, Balance>) -> BTreeMap<String, Balance> {
    others.insert(
        POISONED.to_owned(),
        Balance {
            balance: 20,
            events: 1,
        },
    );
    others
}

#[tokio::test]
async fn a_replay_from_another_process_lets_the_next_events_through() {
    let setup = setup("proj-poison-elsewhere").await;
    let (projection, _poison) = poisoned();
    // The worker that parks the event keeps its own memory of it.
    let worker = projector(
        &setup,
        projection,
        with_retries(ProjectorOptions::default()),
    );
    moves(&setup.store, POISONED, &[20, 13], "2026-12-03").await;
    let offers = {
        let mut offers = Vec::new();
        for event in events_of(&setup.store, POISONED).await {
            offers.push(worker.apply(&event).await.expect("an offer"));
        }
        offers
    };
    assert_eq!(offers, [Offer::Applied { events: 1 }, Offer::Parked]);

    // An operator's tool, another process with the handler fixed, replays it.
    let (fixed, poison) = poisoned();
    poison.store(false, Ordering::SeqCst);
    let admin = projector(&setup, fixed, with_retries(ProjectorOptions::default()));
    assert_eq!(
        admin.replay_parked(POISONED).await.expect("the replay"),
        Offer::Applied { events: 1 }
    );
    // The worker's handler is fixed too (a new deploy), but its memory
    // still holds the aggregate blocked: the next events must not wait
    // behind a parked event that is no longer there.
    moves(&setup.store, POISONED, &[-4, 2], "2026-12-03").await;
    let mut fixed_worker_offers = Vec::new();
    for event in events_of(&setup.store, POISONED).await.into_iter().skip(2) {
        fixed_worker_offers.push(worker.apply(&event).await.expect("an offer"));
    }
    // Before: [Waiting, Waiting], the view left at version 2 with nothing
    // parked, and a checkpoint free to move past both.
    assert_eq!(
        fixed_worker_offers,
        [Offer::Applied { events: 1 }, Offer::Applied { events: 1 }]
    );
    let (want, _) = expected(&setup.store, &[POISONED.to_owned()]).await;
    assert_eq!(views_of::<Balances>(&setup.views).await, want);
    assert!(worker.parked().await.expect("parked").is_empty());
}
