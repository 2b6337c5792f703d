//! One hot keyed view: every event of every account writes the same total,
//! from several writers at once (workers or Lambda containers of one
//! projection, each with its own memory). Each lost race reads the total
//! again and waits a little longer before it tries again; none fails.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use dynago::ScalarAttributeType;
use dynago_es::{EventStore, StoreOptions};
use dynago_projections::{
    EventOf, Offer, Projection, Projector, ProjectorOptions, ViewKind, Views,
};
use futures::TryStreamExt;

use crate::account::{Account, AccountCommand, AccountEvent};
use crate::server::Server;

/// Writers sharing the view.
pub const WRITERS: usize = 8;

/// The one total every event adds to.
#[derive(Debug, Clone, Copy, Default)]
pub struct HotTotal;

impl Projection for HotTotal {
    const NAME: &'static str = "hot-total";
    const VIEWS: ViewKind = ViewKind::Keyed;
    type Aggregate = Account;
    type View = u64;
    type Error = std::convert::Infallible;

    fn view_key(&self, _: &EventOf<Self>) -> Option<String> {
        Some("all".to_owned())
    }

    fn apply(&self, total: &mut u64, event: &EventOf<Self>) -> Result<(), Self::Error> {
        let AccountEvent::Deposited { amount } = event.payload;
        *total += amount;
        Ok(())
    }
}

/// What the writers did.
#[derive(Debug, Clone, Copy)]
pub struct HotResult {
    /// Events applied, in all.
    pub events: u64,
    /// Events applied per second, all writers together.
    pub events_per_s: f64,
    /// Races lost per event applied.
    pub lost_per_event: f64,
}

/// Writes `per_writer` one-event commands on each of [`WRITERS`] accounts,
/// then has one projector per account apply its account's events into the
/// one total, all at once; checks the total.
///
/// # Errors
///
/// A failed request, an event not applied, or a total that is not the sum
/// of the amounts.
pub async fn run(server: &Server, per_writer: u64) -> Result<HotResult> {
    let events = server
        .create_table(
            "bench-hot-events",
            "pk",
            Some(("sk", ScalarAttributeType::S)),
        )
        .await?;
    let views = server
        .create_table(
            "bench-hot-views",
            "pk",
            Some(("sk", ScalarAttributeType::S)),
        )
        .await?;
    let store = EventStore::<Account>::new(events, StoreOptions::default().cache(WRITERS))?;
    let mut sum = 0;
    for writer in 0..WRITERS {
        for n in 1..=per_writer {
            store
                .execute(
                    format!("hot-{writer}"),
                    AccountCommand::Deposit { amount: n },
                )
                .await?;
            sum += n;
        }
    }
    let mut tasks = Vec::with_capacity(WRITERS);
    let started = Instant::now();
    for writer in 0..WRITERS {
        let projector = Projector::new(
            HotTotal,
            store.clone(),
            views.clone(),
            ProjectorOptions::default().worker_id(format!("w{writer}")),
        )?;
        let events: Vec<_> = store
            .events(format!("hot-{writer}"), 1)
            .try_collect()
            .await?;
        tasks.push(tokio::spawn(async move {
            for event in &events {
                let offer = projector.apply(event).await?;
                ensure!(offer == Offer::Applied { events: 1 }, "{offer:?}");
            }
            Ok::<_, anyhow::Error>(projector.status().conflicts)
        }));
    }
    let mut lost = 0;
    for task in tasks {
        lost += task.await??;
    }
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    let total = Views::<HotTotal>::new(views)?.get_keyed("all").await?;
    let events = per_writer * WRITERS as u64;
    ensure!(
        total.as_ref().map(|view| view.view) == Some(sum),
        "the hot total is {total:?}, where its {events} events add up to {sum}"
    );
    Ok(HotResult {
        events,
        events_per_s: events as f64 / elapsed.as_secs_f64(),
        lost_per_event: lost as f64 / events as f64,
    })
}
