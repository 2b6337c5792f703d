//! What the projection tests share: an account aggregate, two projections
//! of it (a view per account, totals per day), and a table pair with the
//! events' stream on.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dynago::sdk::types::StreamViewType;
use dynago::{Table, TableDefinition, TableOptions};
use dynago_es::{Aggregate, DomainEvent, EventStore, StoreOptions};
use dynago_local::testing;
use dynago_projections::{EventOf, Projection, ViewKind};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Account {
    pub balance: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    Deposited { amount: i64, day: String },
    Withdrawn { amount: i64, day: String },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Deposited { .. } => "Deposited",
            Self::Withdrawn { .. } => "Withdrawn",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("insufficient funds")]
pub struct Refused;

/// A positive amount deposits, a negative one withdraws; `day` is where
/// the totals count it.
#[derive(Debug, Clone)]
pub struct Move {
    pub amount: i64,
    pub day: String,
}

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = Move;
    type Event = AccountEvent;
    type Error = Refused;

    fn handle(&self, command: &Move) -> Result<Vec<AccountEvent>, Refused> {
        let day = command.day.clone();
        if command.amount >= 0 {
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
        let page = views
            .list(cursor.as_deref(), 100)
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

/// Runs `count` commands over `accounts` accounts, spread over three days;
/// the ids of the accounts.
pub async fn run_commands(
    store: &EventStore<Account>,
    accounts: usize,
    count: usize,
    seed: u64,
) -> Vec<String> {
    let ids: Vec<String> = (0..accounts).map(|n| format!("acc-{n}")).collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..count {
        let id = &ids[rng.usize(..accounts)];
        let amount = if rng.bool() {
            rng.i64(1..50)
        } else {
            -rng.i64(1..30)
        };
        let day = format!("2026-12-0{}", rng.u8(1..4));
        match store.execute(id.as_str(), Move { amount, day }).await {
            Ok(_) => {}
            Err(dynago_es::Error::Rejected { .. }) => {}
            Err(e) => panic!("command failed: {e}"),
        }
    }
    ids
}
