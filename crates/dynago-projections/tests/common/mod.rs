//! What the projection tests share: an account aggregate, two projections
//! of it (a view per account, totals per day), and a table pair with the
//! events' stream on.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dynago::sdk::types::StreamViewType;
use dynago::{AttributeValue, Item, Table, TableDefinition, TableOptions};
use dynago_es::{Aggregate, DomainEvent, EventStore, StoreOptions};
use dynago_local::{testing, FaultPlan, FaultProxy};
use dynago_projections::{EventOf, EventStream, Projection, Projector, ProjectorOptions, ViewKind};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Account {
    pub balance: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
pub enum AccountEvent {
    Deposited { amount: i64, day: String },
    Withdrawn { amount: i64, day: String },
}

#[derive(Debug, thiserror::Error)]
#[error("insufficient funds")]
pub struct Refused;

/// A positive amount deposits, a negative one withdraws; `day` is where
/// the totals count it. A deposit of [`SPLIT_FROM`] or more is decided as
/// two events (all of it but 1, then 1): a commit of two events, one item
/// and one stream record.
/// The smallest deposit decided as two events.
pub const SPLIT_FROM: i64 = 40;

#[derive(Debug, Clone)]
pub struct Move {
    pub amount: i64,
    pub day: String,
}

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Id = dynago_es::AggregateId;
    type Command = Move;
    type Event = AccountEvent;
    type Error = Refused;

    fn handle(&self, command: &Move) -> Result<Vec<AccountEvent>, Refused> {
        let day = command.day.clone();
        if command.amount >= SPLIT_FROM {
            Ok(vec![
                AccountEvent::Deposited {
                    amount: command.amount - 1,
                    day: day.clone(),
                },
                AccountEvent::Deposited { amount: 1, day },
            ])
        } else if command.amount >= 0 {
            Ok(vec![AccountEvent::Deposited {
                amount: command.amount,
                day,
            }])
        } else if self.balance + command.amount < 0 {
            Err(Refused)
        } else {
            Ok(vec![AccountEvent::Withdrawn {
                amount: -command.amount,
                day,
            }])
        }
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { amount, .. } => self.balance += amount,
            AccountEvent::Withdrawn { amount, .. } => self.balance -= amount,
        }
    }
}

/// The view of one account.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    pub balance: i64,
    pub events: u64,
}

/// One view per account. When `poison` is set, a deposit of exactly 13
/// fails.
#[derive(Debug, Default, Clone)]
pub struct Balances {
    pub poison: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("unlucky amount 13")]
pub struct Unlucky;

impl Projection for Balances {
    const NAME: &'static str = "balances";
    type Aggregate = Account;
    type View = Balance;
    type Error = Unlucky;

    fn apply(&self, view: &mut Balance, event: &EventOf<Self>) -> Result<(), Unlucky> {
        match &event.payload {
            AccountEvent::Deposited { amount: 13, .. } if self.poison.load(Ordering::SeqCst) => {
                return Err(Unlucky)
            }
            AccountEvent::Deposited { amount, .. } => view.balance += amount,
            AccountEvent::Withdrawn { amount, .. } => view.balance -= amount,
        }
        view.events += 1;
        Ok(())
    }
}

/// Money moved per day, over every account.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub deposited: i64,
    pub withdrawn: i64,
    pub events: u64,
}

#[derive(Debug, Default, Clone)]
pub struct DailyTotals;

impl Projection for DailyTotals {
    const NAME: &'static str = "daily";
    const VIEWS: ViewKind = ViewKind::Keyed;
    type Aggregate = Account;
    type View = Totals;
    type Error = std::convert::Infallible;

    fn view_key(&self, event: &EventOf<Self>) -> Option<String> {
        match &event.payload {
            AccountEvent::Deposited { day, .. } | AccountEvent::Withdrawn { day, .. } => {
                Some(day.clone())
            }
        }
    }

    fn apply(&self, view: &mut Totals, event: &EventOf<Self>) -> Result<(), Self::Error> {
        match &event.payload {
            AccountEvent::Deposited { amount, .. } => view.deposited += amount,
            AccountEvent::Withdrawn { amount, .. } => view.withdrawn += amount,
        }
        view.events += 1;
        Ok(())
    }
}

/// An events table with its stream on (new images), a views table, and
/// the store; with the events table's options, for its stream.
pub struct Setup {
    pub events: Table,
    pub events_options: TableOptions,
    pub views: Table,
    pub store: EventStore<Account>,
}

fn keys(options: TableOptions) -> TableOptions {
    options.partition_key("pk").sort_key("sk")
}

pub async fn setup(prefix: &str) -> Setup {
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
    let store = EventStore::new(events.clone(), StoreOptions::default()).expect("a store");
    Setup {
        events,
        events_options,
        views,
        store,
    }
}

/// The views the events of `ids` replay to, read from the table.
pub async fn expected(
    store: &EventStore<Account>,
    ids: &[String],
) -> (BTreeMap<String, Balance>, BTreeMap<String, Totals>) {
    let mut balances = BTreeMap::new();
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for id in ids {
        let events: Vec<EventOf<Balances>> = store
            .events(id.as_str(), 1)
            .try_collect()
            .await
            .expect("events read");
        if events.is_empty() {
            continue;
        }
        let mut view = Balance::default();
        for event in &events {
            Projection::apply(&Balances::default(), &mut view, event).expect("a pure handler");
            let key = DailyTotals.view_key(event).expect("every event has a day");
            let total = totals.entry(key).or_default();
            Projection::apply(&DailyTotals, total, event).expect("a pure handler");
        }
        balances.insert(id.clone(), view);
    }
    (balances, totals)
}

/// Every view of `P`, read from the view table.
pub async fn views_of<P: Projection>(views: &Table) -> BTreeMap<String, P::View> {
    let views = dynago_projections::Views::<P>::new(views.clone()).expect("views");
    let mut all = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        // Boxed: the future of a page is deep.
        let page = Box::pin(views.list(cursor.as_deref(), 100))
            .await
            .expect("a page of views");
        for view in page.views {
            all.insert(view.key, view.view);
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Polls `check` until it holds, for at most `within`; whether it held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `count` commands over `accounts` accounts, spread over three days
/// (never a deposit of 13); the ids of the accounts.
pub async fn run_commands(
    store: &EventStore<Account>,
    accounts: usize,
    count: usize,
    seed: u64,
) -> Vec<String> {
    let ids: Vec<String> = (0..accounts).map(|n| format!("acc-{n}")).collect();
    run_some(store, &ids, count, seed).await;
    ids
}

/// Worker options for the tests: short leases, idle shards polled often,
/// shards listed every second.
pub fn options(worker: &str) -> ProjectorOptions {
    ProjectorOptions::default()
        .worker_id(worker)
        .lease_duration(Duration::from_secs(2))
        .idle_wait(Duration::from_millis(200))
        .shard_sync(Duration::from_secs(1))
}

/// The stream of the events table, read directly.
pub async fn stream_of(setup: &Setup) -> EventStream {
    EventStream::connect(setup.events_options.clone())
        .await
        .expect("the events table's stream")
}

/// The stream of the events table read through a new fault proxy under
/// `plan`, whose SDK makes `sdk_attempts` attempts per request (2 ms
/// backoff).
pub async fn stream_through_proxy(
    setup: &Setup,
    plan: FaultPlan,
    sdk_attempts: u32,
) -> (EventStream, FaultProxy) {
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let proxy = FaultProxy::start(dynamo.url(), plan)
        .await
        .expect("a fault proxy");
    let stream = EventStream::connect(
        proxy
            .table_options_for(&setup.events)
            .sdk_max_attempts(sdk_attempts)
            .sdk_initial_backoff(Duration::from_millis(2)),
    )
    .await
    .expect("the events table's stream through the proxy");
    (stream, proxy)
}

/// A projector of `projection` over the setup's store and views (no
/// stream).
pub fn projector<P: Projection<Aggregate = Account>>(
    setup: &Setup,
    projection: P,
    options: ProjectorOptions,
) -> Projector<P> {
    Projector::new(
        projection,
        setup.store.clone(),
        setup.views.clone(),
        options,
    )
    .expect("a projector")
}

/// A projector's `run` in a task of its own, until stopped.
pub struct Running<P: Projection> {
    pub projector: Projector<P>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: JoinHandle<dynago_projections::Result<()>>,
}

impl<P: Projection> Running<P> {
    /// Starts `projector.run` on `stream` in a task.
    pub fn start(projector: &Projector<P>, stream: &EventStream) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn({
            let projector = projector.clone();
            let stream = stream.clone();
            async move { projector.run(&stream, stopped).await }
        });
        Self {
            projector: projector.clone(),
            stop: Some(stop),
            handle,
        }
    }

    /// Whether `run` returned (with an error, since nothing stopped it).
    pub fn ended(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stops the worker (it lets its leases go) and gives what `run`
    /// returned.
    pub async fn stop(mut self) -> dynago_projections::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.handle).await.expect("the worker task joined")
    }
}

/// Runs one command per amount on account `id` (a positive amount
/// deposits, a negative one withdraws), on `day`; panics on any refusal.
pub async fn moves(store: &EventStore<Account>, id: &str, amounts: &[i64], day: &str) {
    for &amount in amounts {
        store
            .execute(
                id,
                Move {
                    amount,
                    day: day.to_owned(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("moving {amount} on {id}: {e}"));
    }
}

/// Every event of account `id`, read from the table.
pub async fn events_of(store: &EventStore<Account>, id: &str) -> Vec<EventOf<Balances>> {
    store
        .events(id, 1)
        .try_collect()
        .await
        .expect("events read")
}

/// Commands kept coming by a background task until stopped.
pub struct Commands {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<usize>,
}

impl Commands {
    /// Runs commands on the accounts `ids` (as [`run_commands`] does, one
    /// every 5 ms) until [`stop`](Self::stop).
    pub fn start(store: &EventStore<Account>, ids: Vec<String>, seed: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = tokio::spawn({
            let store = store.clone();
            let stop = Arc::clone(&stop);
            async move {
                let mut commands = 0;
                let mut seed = seed;
                while !stop.load(Ordering::SeqCst) {
                    let _ = run_some(&store, &ids, 1, seed).await;
                    seed += 1;
                    commands += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                commands
            }
        });
        Self { stop, handle }
    }

    /// Stops the commands; how many ran.
    pub async fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.await.expect("the command task joined")
    }
}

/// Runs `count` commands over the accounts `ids`, spread over three days
/// (never a deposit of 13, which the poisoned `Balances` refuses; a
/// withdrawal beyond the balance is refused); how many appended an event.
pub async fn run_some(
    store: &EventStore<Account>,
    ids: &[String],
    count: usize,
    seed: u64,
) -> usize {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut appended = 0;
    for _ in 0..count {
        let id = &ids[rng.usize(..ids.len())];
        let amount = if rng.bool() {
            match rng.i64(1..50) {
                13 => 14,
                amount => amount,
            }
        } else {
            -rng.i64(1..30)
        };
        let day = format!("2026-12-0{}", rng.u8(1..4));
        match store.execute(id.as_str(), Move { amount, day }).await {
            Ok(_) => appended += 1,
            Err(dynago_es::CommandError::Rejected { .. }) => {}
            Err(e) => panic!("command failed: {e}"),
        }
    }
    appended
}

/// The keys whose views differ from the ones wanted, with both.
pub fn differences<V: PartialEq + Debug>(
    got: &BTreeMap<String, V>,
    want: &BTreeMap<String, V>,
) -> String {
    let mut out = Vec::new();
    for (key, wanted) in want {
        match got.get(key) {
            None => out.push(format!("{key}: missing, want {wanted:?}")),
            Some(view) if view != wanted => out.push(format!("{key}: {view:?}, want {wanted:?}")),
            Some(_) => {}
        }
    }
    for (key, view) in got {
        if !want.contains_key(key) {
            out.push(format!("{key}: {view:?}, want none"));
        }
    }
    if out.is_empty() {
        "none".to_owned()
    } else {
        out.join("; ")
    }
}

/// Polls the views of `P` until they equal `want`, for at most `within`;
/// the differences left when they did not.
pub async fn views_reach<P: Projection>(
    views: &Table,
    want: &BTreeMap<String, P::View>,
    within: Duration,
) -> Result<(), String>
where
    P::View: PartialEq,
{
    let reached = eventually(within, || async { views_of::<P>(views).await == *want }).await;
    if reached {
        Ok(())
    } else {
        Err(differences(&views_of::<P>(views).await, want))
    }
}

/// The attribute `name` of `item` as a string, if it is one.
pub fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Every item of projection `projection` in the view table, read raw (a
/// consistent scan), keyed by sort key.
pub async fn items_of(views: &Table, projection: &str) -> BTreeMap<String, Item> {
    testing::raw_scan(views)
        .await
        .into_iter()
        .filter(|item| text(item, "pk").as_deref() == Some(projection))
        .map(|item| (text(&item, "sk").unwrap_or_default(), item))
        .collect()
}

/// A shard's lease, as its item stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseItem {
    pub shard: String,
    pub owner: Option<String>,
    pub ended: bool,
}

/// The leases of projection `projection`: its items whose sort key
/// starts with `l#`.
pub async fn leases_of(views: &Table, projection: &str) -> Vec<LeaseItem> {
    items_of(views, projection)
        .await
        .into_iter()
        .filter(|(sort, _)| sort.starts_with("l#"))
        .map(|(sort, item)| LeaseItem {
            shard: sort["l#".len()..].to_owned(),
            owner: text(&item, "owner"),
            ended: matches!(item.get("ended"), Some(AttributeValue::Bool(true))),
        })
        .collect()
}
