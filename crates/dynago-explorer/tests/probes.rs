//! Reviewer's probes: each test states what the explorer should answer and
//! fails where it answers something false or unsafe. Not committed.

#![allow(missing_docs, dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dynago::sdk::types::StreamViewType;
use dynago::{string_value, AttributeValue, Key, Table, TableDefinition, TableOptions};
use dynago_es::{Aggregate, DomainEvent, EventStore, SnapshotPolicy, StoreOptions};
use dynago_explorer::{Catalog, Cataloged, Explorer, ExplorerOptions};
use dynago_local::testing;
use dynago_projections::{EventOf, Offer, Projection, Projector, ProjectorOptions};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- model

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub total: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    pub big: u64,
    pub note: Option<String>,
    pub tags: Vec<String>,
    pub map: std::collections::BTreeMap<String, i64>,
    pub bytes: Vec<u8>,
    pub unit: (),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
pub enum CounterEvent {
    Added { n: i64 },
    Rated { rate: f64 },
    Big { value: u64 },
}

#[derive(Debug, Clone)]
pub enum Cmd {
    Add(i64),
    Rate(f64),
    Big(u64),
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

impl Aggregate for Counter {
    const TYPE: &'static str = "counter";
    type Id = dynago_es::AggregateId;
    type Command = Cmd;
    type Event = CounterEvent;
    type Error = Never;

    fn handle(&self, command: &Cmd) -> Result<Vec<CounterEvent>, Never> {
        Ok(vec![match command {
            Cmd::Add(n) => CounterEvent::Added { n: *n },
            Cmd::Rate(rate) => CounterEvent::Rated { rate: *rate },
            Cmd::Big(value) => CounterEvent::Big { value: *value },
        }])
    }

    fn apply(&mut self, event: &CounterEvent) {
        match event {
            CounterEvent::Added { n } => self.total += n,
            CounterEvent::Rated { rate } => self.rate = Some(*rate),
            CounterEvent::Big { value } => self.big = *value,
        }
    }
}

impl Cataloged for Counter {
    const CATALOG: &'static str = "catalog-counter";
}

/// A per-aggregate view that fails on an `Added { n: 13 }` while poisoned.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub poison: Arc<AtomicBool>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct TallyView {
    pub total: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("unlucky 13")]
pub struct Unlucky;

impl Projection for Tally {
    const NAME: &'static str = "tally";
    type Aggregate = Counter;
    type View = TallyView;
    type Error = Unlucky;

    fn apply(&self, view: &mut TallyView, event: &EventOf<Self>) -> Result<(), Unlucky> {
        if let CounterEvent::Added { n } = &event.payload {
            if *n == 13 && self.poison.load(Ordering::SeqCst) {
                return Err(Unlucky);
            }
            view.total += n;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- setup

const TOKEN: &str = "probe-token-0123456789";

fn keys(options: TableOptions) -> TableOptions {
    options.partition_key("pk").sort_key("sk")
}

pub struct Setup {
    pub events: Table,
    pub events_options: TableOptions,
    pub views: Table,
    pub store: EventStore<Counter>,
    pub catalog: Projector<Catalog<Counter>>,
    pub tally: Projector<Tally>,
    pub poison: Arc<AtomicBool>,
}

async fn setup(prefix: &str, store_options: StoreOptions) -> Setup {
    let events = testing::fresh_table(
        prefix,
        keys,
        TableDefinition::default().stream(StreamViewType::NewImage),
    )
    .await;
    let views =
        testing::fresh_table(&format!("{prefix}-views"), keys, TableDefinition::default()).await;
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let events_options = keys(dynamo.table_options(events.name()));
    let store = EventStore::new(events.clone(), store_options).expect("a store");
    let options = ProjectorOptions::default()
        .worker_id("probe")
        .lease_duration(Duration::from_secs(2))
        .idle_wait(Duration::from_millis(200))
        .shard_sync(Duration::from_secs(1));
    let catalog = Projector::new(
        Catalog::<Counter>::new(),
        store.clone(),
        views.clone(),
        options.clone(),
    )
    .expect("the catalog projector");
    let poison = Arc::new(AtomicBool::new(false));
    let tally = Projector::new(
        Tally {
            poison: Arc::clone(&poison),
        },
        store.clone(),
        views.clone(),
        options,
    )
    .expect("the tally projector");
    Setup {
        events,
        events_options,
        views,
        store,
        catalog,
        tally,
        poison,
    }
}

fn explorer(setup: &Setup, options: ExplorerOptions) -> Explorer {
    Explorer::builder(setup.events.clone(), setup.views.clone())
        .aggregate(setup.store.clone())
        .projection(setup.catalog.clone())
        .projection(setup.tally.clone())
        .options(options)
        .build()
        .expect("the explorer")
}

async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    address.to_string()
}

async fn serve(setup: &Setup, options: ExplorerOptions) -> String {
    serve_router(explorer(setup, options).router()).await
}

use dynago_local::testing::http::{send as http, Answer};

async fn get(address: &str, path: &str) -> Answer {
    http(address, "GET", path, &[], "").await
}

fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(byte));
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// The text of the first `<pre ... data-state-version="N">` of a page, the
/// version and the JSON.
fn state_shown(body: &str) -> Option<(u64, serde_json::Value)> {
    let start = body.find("data-state-version=\"")? + "data-state-version=\"".len();
    let rest = &body[start..];
    let end = rest.find('"')?;
    let version: u64 = rest[..end].parse().ok()?;
    let open = rest.find('>')? + 1;
    let close = rest.find("</pre>")?;
    let text = unescape(&rest[open..close]);
    Some((version, serde_json::from_str(&text).ok()?))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn event_key(aggregate: &str, id: &str, version: u64) -> Key {
    Key::new(string_value(format!("{aggregate}#{id}")))
        .sort(string_value(format!("e#{version:020}")))
}

fn snapshot_key(aggregate: &str, id: &str) -> Key {
    Key::new(string_value(format!("{aggregate}#{id}"))).sort(string_value("snapshot"))
}

async fn adds(store: &EventStore<Counter>, id: &str, amounts: &[i64]) {
    for &n in amounts {
        store.execute(id, Cmd::Add(n)).await.expect("an add");
    }
}

// ---------------------------------------------------------------- probes

/// An aggregate page with a type that holds `#` names another aggregate's
/// partition: `counter#x` / `y` is the stream of `counter` / `x#y`. The
/// page must not show `x#y`'s events under the name `counter#x y`.
#[tokio::test]
async fn a_type_with_the_separator_does_not_show_another_aggregates_events() {
    let setup = setup("probe-sep", StoreOptions::default()).await;
    adds(&setup.store, "x#y", &[1, 2, 3]).await;
    let address = serve(&setup, ExplorerOptions::default()).await;
    let answer = get(&address, "/aggregates/counter%23x/y").await;
    assert!(
        answer.status == 404 || answer.status == 400,
        "the page of type `counter#x`, id `y` answered {} showing {} events of counter `x#y`",
        answer.status,
        answer.body.matches("class=\"event\"").count()
    );
}

/// Events 1..=5 with event 3 missing: whatever window is asked, the page
/// must not give a state at a version as if the stream were whole.
#[tokio::test]
async fn a_stream_with_a_gap_gives_no_state_as_if_it_were_whole() {
    let setup = setup("probe-gap", StoreOptions::default()).await;
    adds(&setup.store, "gap", &[1, 10, 100, 1000, 10000]).await;
    testing::raw_delete(&setup.events, &event_key("counter", "gap", 3)).await;
    // A load refuses the stream.
    assert!(
        setup.store.load("gap").await.is_err(),
        "a load sees the gap"
    );
    let address = serve(&setup, ExplorerOptions::default()).await;

    let whole = get(&address, "/aggregates/counter/gap").await;
    println!("default window: status {}", whole.status);
    let window = get(&address, "/aggregates/counter/gap?from=4").await;
    let shown = state_shown(&window.body);
    println!("from=4: status {} state {:?}", window.status, shown);
    // total 1+10+1000+10000 = 11011: events 1,2,4,5 folded as if whole.
    assert!(
        shown.is_none(),
        "from=4 shows a state {shown:?} that no load gives (the stream has a gap at 3); the default window answered {}",
        whole.status
    );
}

/// The default window of an aggregate with a gap still shows its stored
/// events (the inspector reads them), not a server error.
#[tokio::test]
async fn a_stream_with_a_gap_still_shows_its_events() {
    let setup = setup("probe-gap2", StoreOptions::default()).await;
    adds(&setup.store, "gap", &[1, 10, 100, 1000]).await;
    testing::raw_delete(&setup.events, &event_key("counter", "gap", 2)).await;
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/aggregates/counter/gap").await;
    assert_eq!(
        page.status,
        200,
        "the timeline of a stream with a gap: {}",
        page.body
            .find("<main")
            .map_or("", |at| &page.body[at..])
            .split("</main>")
            .next()
            .unwrap_or("")
    );
}

/// `?from=5&at=2`: the state at 2, asked beside a window that starts later.
#[tokio::test]
async fn a_version_before_the_window_is_the_replay_to_it() {
    let setup = setup("probe-at", StoreOptions::default()).await;
    adds(&setup.store, "at", &[1, 10, 100, 1000, 10000, 100000]).await;
    let address = serve(&setup, ExplorerOptions::default()).await;
    for (query, version, total) in [
        ("?from=5&at=2", 2, 11),
        ("?from=6&at=0", 0, 0),
        ("?at=0", 0, 0),
        ("?from=1&at=6", 6, 111111),
        ("?from=99999999999&at=3", 3, 111),
    ] {
        let page = get(&address, &format!("/aggregates/counter/at{query}")).await;
        let shown = state_shown(&page.body);
        assert_eq!(
            shown.as_ref().map(|(v, s)| (*v, s["total"].as_i64())),
            Some((version, Some(total))),
            "{query}: status {}",
            page.status
        );
    }
}

/// A snapshot whose version is past the stream's last event: the page must
/// not say it equals the state replayed to its version.
#[tokio::test]
async fn a_snapshot_ahead_of_the_events_is_not_said_to_match() {
    let setup = setup(
        "probe-snap-ahead",
        StoreOptions::default().snapshots(SnapshotPolicy::Every(2)),
    )
    .await;
    adds(&setup.store, "ahead", &[1, 2, 3, 4]).await;
    let key = snapshot_key("counter", "ahead");
    let mut item = testing::raw_get(&setup.events, &key)
        .await
        .expect("a snapshot at 4");
    assert_eq!(item.get("version"), Some(&AttributeValue::N("4".into())));
    item.insert("version".into(), AttributeValue::N("99".into()));
    testing::raw_put(&setup.events, item).await;
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/aggregates/counter/ahead").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("data-snapshot=\"matches\""),
        "a snapshot at version 99 of a stream of 4 events is said to equal the state replayed to 99"
    );
}

/// A state with a whole `f64` (2.0) is snapshotted: the stored snapshot and
/// the replayed state are the same state, and the page must say so.
#[tokio::test]
async fn a_snapshot_with_a_whole_float_matches_its_replay() {
    let setup = setup(
        "probe-snap-float",
        StoreOptions::default().snapshots(SnapshotPolicy::Every(2)),
    )
    .await;
    setup.store.execute("f", Cmd::Add(1)).await.expect("add");
    setup
        .store
        .execute("f", Cmd::Rate(2.0))
        .await
        .expect("rate");
    let loaded = setup.store.load("f").await.expect("load");
    assert_eq!(loaded.snapshot_version, 2, "the load used the snapshot");
    let stored = setup
        .store
        .inspector()
        .snapshot("counter", &dynago_es::AggregateId::new("f"))
        .await
        .expect("read")
        .expect("a snapshot");
    let replayed =
        serde_json::to_value(&setup.store.replay_at("f", 2).await.expect("replay").state)
            .expect("json");
    println!("stored {:?}\nreplayed {:?}", stored.state, replayed);
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/aggregates/counter/f").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-snapshot=\"matches\""),
        "the snapshot of a state with rate 2.0 is flagged as differing from its own replay"
    );
}

/// A `u128` beyond `u64::MAX` in an event: the payload shown is the number
/// stored, and the state at that version is shown.
#[tokio::test]
async fn a_u64_max_is_shown_as_stored() {
    let setup = setup("probe-u128", StoreOptions::default()).await;
    setup
        .store
        .execute("big", Cmd::Big(u64::MAX))
        .await
        .expect("a big value");
    let loaded = setup.store.load("big").await.expect("load");
    assert_eq!(loaded.state.big, u64::MAX, "the store keeps it");
    let inspector = setup.store.inspector();
    let events = inspector
        .events("counter", &dynago_es::AggregateId::new("big"), 1..=1)
        .await
        .expect("read");
    println!("inspector payload: {}", events[0].payload);
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/aggregates/counter/big").await;
    println!("status {}", page.status);
    assert_eq!(page.status, 200, "the aggregate page of a u128 state");
    assert!(
        page.body.contains(&u64::MAX.to_string()),
        "the page shows u128::MAX as stored; the inspector reads {}",
        events[0].payload
    );
}

/// A replay from the page of an aggregate whose id has a leading space
/// replays that aggregate, not the one without the space.
#[tokio::test]
async fn a_replay_from_the_page_replays_the_aggregate_named() {
    let setup = setup("probe-replay-ws", StoreOptions::default()).await;
    setup.poison.store(true, Ordering::SeqCst);
    for id in [" sp", "sp"] {
        adds(&setup.store, id, &[13]).await;
        let event = setup.store.events_between(id, 1..=1).collect_one().await;
        let offer = setup.tally.apply(&event).await.expect("offered");
        assert_eq!(offer, Offer::Parked, "{id:?} parked");
    }
    setup.poison.store(false, Ordering::SeqCst);
    let address = serve(&setup, ExplorerOptions::default().actions(TOKEN)).await;
    let session = login(&address).await;
    let page = http(&address, "GET", "/projections", &[("cookie", &session)], "").await;
    let form_token = form_token(&page.body).expect("a replay form");
    let body = format!("aggregate_id={}&form_token={form_token}", encode(" sp"));
    let answer = http(
        &address,
        "POST",
        "/projections/tally/replay",
        &[
            ("cookie", &session),
            ("sec-fetch-site", "same-origin"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &body,
    )
    .await;
    println!(
        "replay answered {} {:?}",
        answer.status,
        answer.header("location")
    );
    let parked: Vec<String> = setup
        .tally
        .parked()
        .await
        .expect("parked")
        .into_iter()
        .map(|p| p.aggregate_id.to_string())
        .collect();
    assert_eq!(
        parked,
        ["sp"],
        "replaying \" sp\" from the page left these parked (it replayed \"sp\")"
    );
}

/// A view under a key with a leading space is found by its key.
#[tokio::test]
async fn a_view_is_found_by_its_exact_key() {
    let setup = setup("probe-view-ws", StoreOptions::default()).await;
    adds(&setup.store, " sp", &[5]).await;
    let event = setup.store.events_between(" sp", 1..=1).collect_one().await;
    setup.tally.apply(&event).await.expect("applied");
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(
        &address,
        &format!("/projections/tally/views?key={}", encode(" sp")),
    )
    .await;
    assert!(
        !page.body.contains("No view under"),
        "the view of \" sp\" is said not to exist: {}",
        page.body
    );
}

/// The crate docs nest the router under `/explorer`: its pages' links,
/// assets and redirects must then lead into the nest.
#[tokio::test]
async fn a_nested_explorer_links_within_its_nest() {
    let setup = setup("probe-nest", StoreOptions::default()).await;
    adds(&setup.store, "n", &[1]).await;
    let options = ExplorerOptions::default().base_path("/explorer");
    let router = axum::Router::new().nest("/explorer", explorer(&setup, options).router());
    let address = serve_router(router).await;
    let page = get(&address, "/explorer/aggregates/counter/n").await;
    assert_eq!(page.status, 200);
    // Every link resolves against the page's base, the nest.
    assert!(
        page.body.contains("<base href=\"/explorer/\">"),
        "{}",
        page.body
    );
    let body = page.body.replace("<base href=\"/explorer/\">", "");
    assert!(
        !body.contains("href=\"/") && !body.contains("src=\"/") && !body.contains("action=\"/"),
        "a link that leaves the nest: {}",
        page.body
    );
    let css = get(&address, "/explorer/assets/explorer.css").await;
    assert_eq!(css.status, 200);
    let opened = get(&address, "/explorer/open?type=counter&id=n").await;
    assert_eq!(
        opened.header("location"),
        Some("/explorer/aggregates/counter/n"),
        "a redirect that leaves the nest"
    );
}

/// Anyone may link an operator to the projections page with any message
/// in the place where replays report what they did.
#[tokio::test]
async fn a_flash_comes_only_from_a_replay() {
    let setup = setup("probe-flash", StoreOptions::default()).await;
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(
        &address,
        "/projections?flash=Replayed%20acc-1%20in%20tally%3A%20applied%3A%203%20event(s)%20caught%20up",
    )
    .await;
    assert!(
        !page
            .body
            .contains("Replayed acc-1 in tally: applied: 3 event(s) caught up"),
        "a read-only explorer (no actions) shows a replay's report that a link wrote"
    );
}

/// Actions enabled with an empty (or short) token: anyone would log in
/// with nothing. The explorer is not built.
#[tokio::test]
async fn an_empty_token_does_not_enable_actions() {
    let setup = setup("probe-empty-token", StoreOptions::default()).await;
    for token in ["", "short"] {
        let built = Explorer::builder(setup.events.clone(), setup.views.clone())
            .aggregate(setup.store.clone())
            .options(ExplorerOptions::default().actions(token))
            .build();
        assert!(
            matches!(&built, Err(dynago_explorer::Error::BadRequest(m)) if m.contains("fewer than 16")),
            "a token of {} characters was taken",
            token.len()
        );
    }
}

// ---------------------------------------------------------------- helpers

trait CollectOne {
    async fn collect_one(self) -> dynago_es::EventEnvelope<CounterEvent>;
}

impl<S> CollectOne for S
where
    S: futures::Stream<Item = dynago_es::Result<dynago_es::EventEnvelope<CounterEvent>>> + Send,
{
    async fn collect_one(self) -> dynago_es::EventEnvelope<CounterEvent> {
        use futures::TryStreamExt;
        let mut events: Vec<_> = Box::pin(self.try_collect::<Vec<_>>())
            .await
            .expect("events");
        events.remove(0)
    }
}

async fn login(address: &str) -> String {
    let answer = http(
        address,
        "POST",
        "/login",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("sec-fetch-site", "same-origin"),
        ],
        &format!("token={TOKEN}"),
    )
    .await;
    let cookie = answer.header("set-cookie").expect("a session cookie");
    cookie.split(';').next().expect("name=value").to_owned()
}

fn form_token(body: &str) -> Option<String> {
    let start = body.find("name=\"form_token\" value=\"")? + "name=\"form_token\" value=\"".len();
    let end = body[start..].find('"')?;
    Some(body[start..start + end].to_owned())
}

// ---------------------------------------------------------------- leases

fn figure(body: &str, section: &str, name: &str) -> Option<String> {
    let start = body.find(&format!("id=\"projection-{section}\""))?;
    let rest = &body[start..];
    let at = rest.find(&format!("data-figure=\"{name}\""))?;
    let rest = &rest[at..];
    let open = rest.find('>')? + 1;
    let close = rest.find("</dd>")?;
    Some(rest[open..close].to_owned())
}

/// The workers of a projection stopped (they let their leases go); events
/// came after. The page must not say the projection is 0 s behind with 0
/// records behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_nobody_reads_is_not_shown_caught_up() {
    let setup = setup("probe-stale-lag", StoreOptions::default()).await;
    let stream = dynago_projections::EventStream::connect(setup.events_options.clone())
        .await
        .expect("the stream");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn({
        let tally = setup.tally.clone();
        let stream = stream.clone();
        async move {
            tally
                .run(&stream, async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    adds(&setup.store, "w", &[1, 2, 3]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let view = setup.tally.views().get("w").await.expect("read");
        let renewed = setup
            .tally
            .leases()
            .await
            .expect("leases")
            .iter()
            .any(|l| l.caught_up);
        if view.is_some_and(|v| v.view.total == 6) && renewed {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the worker applies");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(());
    worker.await.expect("joined").expect("the worker ran");
    adds(&setup.store, "w", &[10, 20, 30, 40, 50]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let leases = setup.tally.leases().await.expect("leases");
    println!("{leases:#?}");
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/projections").await;
    let lag = figure(&page.body, "tally", "lag");
    let behind = figure(&page.body, "tally", "behind");
    println!("lag {lag:?}, behind {behind:?}");
    assert!(
        !(lag.as_deref() == Some("0.0 s") && behind.as_deref() == Some("0")),
        "5 events unread by any worker for 3 s, and the page says lag {lag:?}, {behind:?} records behind"
    );
}

// ---------------------------------------------------------------- cost

fn footer_requests(body: &str) -> Option<u64> {
    let start = body.find("data-requests=\"")? + "data-requests=\"".len();
    let end = body[start..].find('"')?;
    body[start..start + end].parse().ok()
}

/// Every page's footer against the requests a proxy in front of DynamoDB
/// received while the page was built.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_footer_counts_every_request_the_page_sent() {
    let direct = setup(
        "probe-cost",
        StoreOptions::default().snapshots(SnapshotPolicy::Every(3)),
    )
    .await;
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let proxy = dynago_local::FaultProxy::start(dynamo.url(), dynago_local::FaultPlan::default())
        .await
        .expect("a proxy");
    let events = Table::connect(proxy.table_options_for(&direct.events))
        .await
        .expect("events through the proxy");
    let views = Table::connect(proxy.table_options_for(&direct.views))
        .await
        .expect("views through the proxy");
    let store: EventStore<Counter> = EventStore::new(
        events.clone(),
        StoreOptions::default().snapshots(SnapshotPolicy::Every(3)),
    )
    .expect("store");
    for id in ["a", "b", "c"] {
        adds(&store, id, &[1, 2, 3, 4, 5, 6, 7]).await;
    }
    let catalog = Projector::new(
        Catalog::<Counter>::new(),
        store.clone(),
        views.clone(),
        ProjectorOptions::default(),
    )
    .expect("catalog");
    catalog.rebuild().await.expect("the catalog");
    let tally = Projector::new(
        Tally::default(),
        store.clone(),
        views.clone(),
        ProjectorOptions::default(),
    )
    .expect("tally");
    tally.rebuild().await.expect("the tally");
    let explorer = Explorer::builder(events.clone(), views.clone())
        .aggregate(store.clone())
        .projection(catalog)
        .projection(tally)
        .build()
        .expect("explorer");
    let address = serve_router(explorer.router()).await;
    let commit = store
        .inspector()
        .events("counter", &dynago_es::AggregateId::new("a"), 1..=1)
        .await
        .expect("read")[0]
        .commit_id;
    let mut wrong = Vec::new();
    for path in [
        "/".to_owned(),
        "/".to_owned(),
        "/types/counter".to_owned(),
        "/aggregates/counter/a".to_owned(),
        "/aggregates/counter/a?at=2".to_owned(),
        "/aggregates/counter/a?from=4&at=1".to_owned(),
        "/search?q=a".to_owned(),
        format!("/search?q={commit}&scan=commit"),
        "/projections".to_owned(),
        "/projections/tally/views".to_owned(),
        "/projections/tally/views?key=a".to_owned(),
    ] {
        let before = proxy.stats().requests;
        let page = get(&address, &path).await;
        let sent = proxy.stats().requests - before;
        let said = footer_requests(&page.body);
        println!(
            "{path}: status {}, footer {said:?}, proxy {sent}",
            page.status
        );
        if said != Some(sent) {
            wrong.push(format!("{path}: footer {said:?}, sent {sent}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ---------------------------------------------------------------- ids, windows, catalog

fn hrefs(body: &str, prefix: &str) -> Vec<String> {
    body.match_indices(&format!("href=\"{prefix}"))
        .filter_map(|(at, _)| {
            let start = at + "href=\"".len();
            let end = body[start..].find('"')?;
            Some(unescape(&body[start..start + end]))
        })
        .collect()
}

/// Ids with `/`, `%`, `#`, `?`, unicode, and 1 KB: the type page links
/// each, and each link opens that aggregate.
#[tokio::test]
async fn odd_ids_round_trip_through_the_pages() {
    let setup = setup("probe-ids", StoreOptions::default()).await;
    let long = "k".repeat(1000);
    let ids = [
        "a/b",
        "100%",
        "ü ñ 日本",
        "a?b#c",
        "..",
        "%2F",
        "+plus",
        long.as_str(),
    ];
    for (n, id) in (0i64..).zip(&ids) {
        let amounts: Vec<i64> = (0..=n).collect();
        adds(&setup.store, id, &amounts).await;
    }
    setup.catalog.rebuild().await.expect("the catalog");
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/types/counter").await;
    // Relative to the page's base: the explorer may be nested.
    let links: Vec<String> = hrefs(&page.body, "aggregates/")
        .into_iter()
        .map(|link| format!("/{link}"))
        .collect();
    assert_eq!(links.len(), ids.len(), "{links:?}");
    let mut wrong = Vec::new();
    for link in links {
        let page = get(&address, &link).await;
        let events = page.body.matches("class=\"event\"").count();
        let title = page
            .body
            .split("<span class=\"id\">")
            .nth(1)
            .and_then(|rest| rest.split("</span>").next())
            .map(unescape);
        let Some(title) = title else {
            wrong.push(format!("{link}: {} no title", page.status));
            continue;
        };
        let n = ids.iter().position(|id| *id == title);
        match n {
            Some(n) if events == n + 1 => {}
            _ => wrong.push(format!("{link}: {title:?} with {events} events")),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A snapshot that holds a wrong state: "the state at version 5" is one
/// answer, whichever window of events the page shows beside it (version 6).
#[tokio::test]
async fn the_state_at_a_version_does_not_depend_on_the_window() {
    let setup = setup(
        "probe-window",
        StoreOptions::default().snapshots(SnapshotPolicy::Every(3)),
    )
    .await;
    adds(
        &setup.store,
        "w",
        &[1, 10, 100, 1000, 10000, 100000, 1000000],
    )
    .await;
    let key = snapshot_key("counter", "w");
    let mut item = testing::raw_get(&setup.events, &key)
        .await
        .expect("a snapshot");
    println!("snapshot at {:?}", item.get("version"));
    // The snapshot at 6 says total 7 instead of 111111.
    let Some(AttributeValue::M(state)) = item.get_mut("state") else {
        panic!("a native state: {item:?}");
    };
    state.insert("total".into(), AttributeValue::N("7".into()));
    testing::raw_put(&setup.events, item).await;
    let address = serve(&setup, ExplorerOptions::default().page_size(3)).await;
    let mut answers = Vec::new();
    for query in ["?from=1&at=6", "?from=4&at=6", "?from=7&at=6", "?at=6"] {
        let page = get(&address, &format!("/aggregates/counter/w{query}")).await;
        answers.push((
            query,
            state_shown(&page.body).map(|(v, s)| (v, s["total"].clone())),
        ));
    }
    println!("{answers:?}");
    let first = &answers[0].1;
    assert!(
        answers.iter().all(|(_, shown)| shown == first),
        "the state at version 6, by window: {answers:?}"
    );
}

/// An event whose type this build does not know (a newer writer's): the
/// catalog is documented to count it; the overview's events per minute and
/// the type page's last event must agree with the count.
#[tokio::test]
async fn an_unknown_event_counts_in_the_catalog_everywhere() {
    let setup = setup("probe-unknown", StoreOptions::default()).await;
    adds(&setup.store, "u", &[1, 2]).await;
    let mut item = testing::raw_get(&setup.events, &event_key("counter", "u", 2))
        .await
        .expect("event 2");
    println!("{item:?}");
    item.insert("sk".into(), string_value("e#00000000000000000003"));
    item.insert("version".into(), AttributeValue::N("3".into()));
    item.insert("event_type".into(), string_value("Renamed"));
    item.insert(
        "event_id".into(),
        string_value(uuid::Uuid::now_v7().to_string()),
    );
    let payload = std::collections::HashMap::from([(
        "Renamed".to_owned(),
        AttributeValue::M(std::collections::HashMap::from([(
            "to".to_owned(),
            string_value("x"),
        )])),
    )]);
    item.insert("payload".into(), AttributeValue::M(payload));
    testing::raw_put(&setup.events, item).await;
    setup.catalog.rebuild().await.expect("the catalog");
    let address = serve(&setup, ExplorerOptions::default()).await;
    let overview = get(&address, "/").await;
    let type_page = get(&address, "/types/counter").await;
    let start = overview.body.find("data-y=\"").expect("a chart") + "data-y=\"".len();
    let end = overview.body[start..].find('"').expect("its end");
    let per_minute: Vec<f64> =
        serde_json::from_str(&unescape(&overview.body[start..start + end])).expect("numbers");
    let charted: f64 = per_minute.iter().sum();
    let counted = overview
        .body
        .split("data-figure=\"events\"")
        .nth(1)
        .and_then(|rest| rest.split('>').nth(1))
        .and_then(|rest| rest.split('<').next())
        .map(str::to_owned);
    println!("events {counted:?}, charted {charted}");
    // As documented: an event this build cannot read counts in the
    // aggregate's events, not in the chart or the last event type, and the
    // overview says so.
    assert!(
        !type_page.body.contains("Renamed"),
        "the catalog read an event its build cannot read"
    );
    assert!(
        overview
            .body
            .contains("cannot read count in the events, not in the chart"),
        "the overview does not say how unknown events count"
    );
    assert_eq!(
        (counted.as_deref(), charted),
        (Some("3"), 2.0),
        "events counted vs events charted in the last hour"
    );
}

// ---------------------------------------------------------------- other sites

/// DNS rebinding: a page of `attacker.example`, its name pointed at the
/// operator's loopback, reads the explorer as its own origin. The explorer
/// must not answer a request for a host that is not its own.
#[tokio::test]
async fn a_request_for_another_host_is_not_answered_with_the_data() {
    let setup = setup("probe-rebind", StoreOptions::default()).await;
    adds(&setup.store, "secret-account", &[4242]).await;
    let address = serve(&setup, ExplorerOptions::default()).await;
    let port = address.rsplit(':').next().expect("a port");
    let host = format!("attacker.example:{port}");
    let page = http(
        &address,
        "GET",
        "/aggregates/counter/secret-account",
        &[
            ("host", host.as_str()),
            ("origin", &format!("http://{host}")),
            ("sec-fetch-site", "same-origin"),
        ],
        "",
    )
    .await;
    assert!(
        !page.body.contains("4242"),
        "a request for host {host} (DNS rebinding) read the account: status {}",
        page.status
    );
}

/// A cross-site GET (an `<img src>` on any site the operator visits) starts
/// a scan of the whole events table.
#[tokio::test]
async fn a_cross_site_request_does_not_scan_the_table() {
    let setup = setup("probe-xscan", StoreOptions::default()).await;
    adds(&setup.store, "a", &[1]).await;
    let address = serve(&setup, ExplorerOptions::default()).await;
    let commit = uuid::Uuid::now_v7();
    let page = http(
        &address,
        "GET",
        &format!("/search?q={commit}&scan=commit"),
        &[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-dest", "image"),
        ],
        "",
    )
    .await;
    assert!(
        footer_requests(&page.body).unwrap_or(0) <= 2,
        "a cross-site image request ran the commit scan: {} requests",
        footer_requests(&page.body).unwrap_or(0)
    );
}

/// The same-site checks of an action, request by request.
#[tokio::test]
async fn an_action_from_another_site_is_refused() {
    let setup = setup("probe-csrf", StoreOptions::default()).await;
    let address = serve(&setup, ExplorerOptions::default().actions(TOKEN)).await;
    let session = login(&address).await;
    let page = http(&address, "GET", "/projections", &[("cookie", &session)], "").await;
    // No parked event: take the form token from a page that has one.
    let _ = page;
    let secret_form = {
        // The form token is the same for every session: read it from a
        // parked event's form.
        setup.poison.store(true, Ordering::SeqCst);
        adds(&setup.store, "p", &[13]).await;
        let event = setup.store.events_between("p", 1..=1).collect_one().await;
        setup.tally.apply(&event).await.expect("parked");
        let page = http(&address, "GET", "/projections", &[("cookie", &session)], "").await;
        form_token(&page.body).expect("a form token")
    };
    let body = format!("aggregate_id=p&form_token={secret_form}");
    let mut accepted = Vec::new();
    for (what, extra) in [
        ("same-site", vec![("sec-fetch-site", "same-site")]),
        ("cross-site", vec![("sec-fetch-site", "cross-site")]),
        ("origin null", vec![("origin", "null")]),
        ("origin other", vec![("origin", "http://attacker.example")]),
        ("origin other port", vec![("origin", "http://127.0.0.1:1")]),
    ] {
        let mut headers = vec![
            ("cookie", session.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        headers.extend(extra);
        let answer = http(
            &address,
            "POST",
            "/projections/tally/replay",
            &headers,
            &body,
        )
        .await;
        if answer.status != 403 {
            accepted.push(format!("{what}: {}", answer.status));
        }
    }
    assert!(accepted.is_empty(), "{accepted:?}");
}

// ---------------------------------------------------------------- lease progress

/// A renewal (now with the holder's progress) lands and its answer is
/// lost; the SDK sends it again, the condition fails against itself, and
/// the lease read back must be recognised as this renewal's, not lost.
#[tokio::test]
async fn a_renewal_whose_answer_was_lost_keeps_the_lease() {
    let setup = setup("probe-renew", StoreOptions::default()).await;
    let metrics = dynago_local::testing::metrics::Metrics::new();
    let _installed = metrics.install();
    let stream = dynago_projections::EventStream::connect(setup.events_options.clone())
        .await
        .expect("the stream");
    let (views, proxy) =
        testing::through_proxy(&setup.views, dynago_local::FaultPlan::default(), 3, |o| o).await;
    let tally = Projector::new(
        Tally::default(),
        setup.store.clone(),
        views,
        ProjectorOptions::default()
            .worker_id("w1")
            .lease_duration(Duration::from_secs(3))
            .idle_wait(Duration::from_millis(100))
            .shard_sync(Duration::from_secs(1)),
    )
    .expect("tally");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn({
        let tally = tally.clone();
        async move {
            tally
                .run(&stream, async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !tally
        .leases()
        .await
        .expect("leases")
        .iter()
        .any(|l| l.owner.as_deref() == Some("w1") && l.renewed_at.is_some())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a lease held and renewed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.set_plan(
        dynago_local::FaultPlan::default()
            .drop_answer(1.0)
            .operation("PutItem")
            .first(1),
    );
    while proxy.stats().dropped_answers == 0 {
        assert!(tokio::time::Instant::now() < deadline, "a renewal sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let recorded = metrics.take();
    let _ = stop.send(());
    let _ = worker.await;
    println!("{:?}", proxy.stats());
    let lost = recorded.counter(
        "dynago_projection_lease_changes_total",
        &[("projection", "tally"), ("change", "lost")],
    );
    let taken = recorded.counter(
        "dynago_projection_lease_changes_total",
        &[("projection", "tally"), ("change", "taken")],
    );
    println!("taken {taken}, lost {lost}");
    assert_eq!(
        lost, 0,
        "the worker took its own landed renewal for a lost lease"
    );
}

/// A lease item as an earlier version wrote it (no `progress`) reads, and
/// shows no progress.
#[tokio::test]
async fn a_lease_of_the_earlier_version_reads() {
    let setup = setup("probe-old-lease", StoreOptions::default()).await;
    let item = std::collections::HashMap::from([
        ("pk".to_owned(), string_value("tally")),
        ("sk".to_owned(), string_value("l#shard-1")),
        ("shard".to_owned(), string_value("shard-1")),
        ("owner".to_owned(), string_value("old-worker")),
        ("counter".to_owned(), AttributeValue::N("7".into())),
        ("checkpoint".to_owned(), string_value("123")),
        ("ended".to_owned(), AttributeValue::Bool(false)),
    ]);
    testing::raw_put(&setup.views, item).await;
    let leases = setup.tally.leases().await.expect("the old lease reads");
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].renewed_at, None);
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/projections").await;
    assert_eq!(page.status, 200);
}

// ---------------------------------------------------------------- more

/// Put an event a newer build wrote (a type this build does not know) at
/// version 3 of `id`.
async fn unknown_event(setup: &Setup, id: &str) {
    let mut item = testing::raw_get(&setup.events, &event_key("counter", id, 2))
        .await
        .expect("event 2");
    item.insert("sk".into(), string_value("e#00000000000000000003"));
    item.insert("version".into(), AttributeValue::N("3".into()));
    item.insert("event_type".into(), string_value("Renamed"));
    item.insert(
        "event_id".into(),
        string_value(uuid::Uuid::now_v7().to_string()),
    );
    let payload = std::collections::HashMap::from([(
        "Renamed".to_owned(),
        AttributeValue::M(std::collections::HashMap::from([(
            "to".to_owned(),
            string_value("x"),
        )])),
    )]);
    item.insert("payload".into(), AttributeValue::M(payload));
    testing::raw_put(&setup.events, item).await;
}

/// Writers deployed before readers: an aggregate whose newest event this
/// build cannot read still shows its timeline (the inspector reads every
/// event as stored).
#[tokio::test]
async fn an_aggregate_with_an_unknown_event_shows_its_timeline() {
    let setup = setup("probe-unknown-page", StoreOptions::default()).await;
    adds(&setup.store, "u", &[1, 2]).await;
    unknown_event(&setup, "u").await;
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/aggregates/counter/u").await;
    let main = page.body.find("<main").map_or("", |at| &page.body[at..]);
    assert_eq!(
        page.status,
        200,
        "{}",
        &main[..main.find("</main>").unwrap_or(main.len())]
    );
}

/// No worker has ever said what the lag is (a Lambda runs the projection,
/// or nothing does): the page says "not measured yet", and the chart must
/// not draw a lag of 0 s.
#[tokio::test]
async fn an_unmeasured_lag_is_not_charted_as_zero() {
    let setup = setup("probe-lag-chart", StoreOptions::default()).await;
    let explorer = explorer(&setup, ExplorerOptions::default());
    explorer.sample().await;
    explorer.sample().await;
    let address = serve_router(explorer.router()).await;
    let page = get(&address, "/projections").await;
    let figure = figure(&page.body, "tally", "lag");
    let section = &page.body[page.body.find("id=\"projection-tally\"").expect("tally")..];
    let start = section.find("data-y=\"").expect("a chart") + "data-y=\"".len();
    let end = section[start..].find('"').expect("its end");
    let charted = unescape(&section[start..start + end]);
    println!("figure {figure:?}, charted {charted}");
    assert!(
        !(figure.as_deref() == Some("not measured yet") && charted.contains("0.0")),
        "lag {figure:?} and the chart draws {charted}"
    );
}

/// One event stamped two hours ahead (a writer's clock): the aggregate's
/// events stamped now must still count in the last hour.
#[test]
fn a_future_stamp_does_not_erase_the_events_of_now() {
    let now = chrono::Utc::now();
    let mut entry = dynago_explorer::CatalogEntry::default();
    entry.record("Added", now + chrono::Duration::hours(2));
    entry.record("Added", now);
    entry.record("Added", now);
    let minute = now.timestamp().div_euclid(60);
    assert!(
        entry.minutes.iter().any(|(m, _)| *m == minute),
        "the two events of now are gone from the entry: {:?}",
        entry.minutes
    );
}

/// A non-finite float, if the store takes it, is not shown as `null`.
#[tokio::test]
async fn a_non_finite_float_is_not_shown_as_null() {
    let setup = setup("probe-nan", StoreOptions::default()).await;
    let stored = setup.store.execute("nan", Cmd::Rate(f64::INFINITY)).await;
    println!("store: {:?}", stored.as_ref().map(|_| ()));
    if stored.is_err() {
        return;
    }
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/aggregates/counter/nan").await;
    let shown = state_shown(&page.body);
    println!("{} {shown:?}", page.status);
    assert!(
        shown.is_some_and(|(_, s)| !s["rate"].is_null()),
        "an infinite rate is shown as null"
    );
}

/// A snapshot of a state with `None`, empty lists and maps and `()`,
/// taken by the store itself, equals its replay.
#[tokio::test]
async fn a_snapshot_of_empty_values_matches_its_replay() {
    let setup = setup(
        "probe-snap-empty",
        StoreOptions::default().snapshots(SnapshotPolicy::Every(2)),
    )
    .await;
    adds(&setup.store, "e", &[1, 2]).await;
    let stored = setup
        .store
        .inspector()
        .snapshot("counter", &dynago_es::AggregateId::new("e"))
        .await
        .expect("read")
        .expect("a snapshot");
    println!("stored {}", stored.state);
    let address = serve(&setup, ExplorerOptions::default()).await;
    let page = get(&address, "/aggregates/counter/e").await;
    assert!(
        page.body.contains("data-snapshot=\"matches\""),
        "a snapshot of empty values is flagged as differing from its replay"
    );
}

/// An aggregate id the store takes (1,024 bytes; a partition key may hold
/// 2,048) stops the catalog's worker: its entry's sort key `a#{id}` passes
/// DynamoDB's 1,024-byte limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a known limit of per-aggregate views (dynago-projections keys them `a#{id}`, and DynamoDB's sort keys hold 1,024 bytes): docs/explorer.md says ids up to 1,000 bytes"]
async fn a_long_id_the_store_takes_does_not_stop_the_catalog() {
    let setup = setup("probe-long-id", StoreOptions::default()).await;
    let stream = dynago_projections::EventStream::connect(setup.events_options.clone())
        .await
        .expect("the stream");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn({
        let catalog = setup.catalog.clone();
        async move {
            catalog
                .run(&stream, async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let long = "k".repeat(1024);
    adds(&setup.store, &long, &[1]).await;
    adds(&setup.store, "short", &[1]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if worker.is_finished() {
            break;
        }
        if setup
            .catalog
            .views()
            .get("short")
            .await
            .expect("read")
            .is_some()
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finished = worker.is_finished();
    let _ = stop.send(());
    let ended = worker.await.expect("joined");
    println!(
        "finished early: {finished}; run: {ended:?}; parked {:?}",
        setup.catalog.parked().await.map(|p| p.len())
    );
    assert!(
        !finished && ended.is_ok(),
        "the catalog's worker stopped on a 1 KB id: {ended:?}"
    );
}
