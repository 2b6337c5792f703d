//! One side of part 5 at work: its events table, its workers on new view
//! tables, the lag of its views behind the commands, and the checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use dynago::sdk::types::StreamViewType;
use dynago::{ScalarAttributeType, Table, TableDefinition, TableOptions};
use dynago_es::{EventStore, StoreOptions};
use dynago_local::{FaultPlan, FaultProxy};
use dynago_projections::{EventOf, EventStream, Projector, ProjectorOptions, Views};
use futures::TryStreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::window::{Reading, Window};
use super::{
    baseline, Balances, ProjectionPlan, Side, EVENTS_PER_COMMAND, IDLE_WAIT, LAG_POLL, STUCK,
};
use crate::account::{evolve, Account, AccountCommand};
use crate::counter::{counted_client, RequestCounter, RequestSnapshot};
use crate::server::Server;
use crate::stats::ms;

/// One side's events table, what writes it and what reads its stream.
pub(super) struct Rig {
    pub(super) side: Side,
    /// Writes the commands (cached: one request per command).
    store: EventStore<Account>,
    /// The stream's requests pass through it, to be counted.
    proxy: FaultProxy,
    feed: Feed,
    ids: Vec<String>,
    /// Events in the table.
    pub(super) written: u64,
    /// What they replay to, by account.
    replayed: BTreeMap<String, Account>,
}

enum Feed {
    Projector {
        stream: EventStream,
        /// The projector's store, on a client of its own, to count its reads.
        store: EventStore<Account>,
        counter: RequestCounter,
    },
    Loop {
        client: aws_sdk_dynamodbstreams::Client,
        arn: String,
    },
}

/// A view table: counted for the worker, and a handle for the checks.
struct ViewTable {
    counted: Table,
    counter: RequestCounter,
    reader: Table,
}

/// A worker running.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<()>>,
    progress: Progress,
}

enum Progress {
    Projector(Projector<Balances>),
    Loop(Arc<baseline::Progress>),
}

impl Running {
    fn applied(&self) -> u64 {
        match &self.progress {
            Progress::Projector(projector) => projector.status().applied,
            Progress::Loop(progress) => progress.applied(),
        }
    }

    /// Polls `done` until it holds; fails when the worker stopped or it
    /// does not hold within [`STUCK`].
    async fn until(&mut self, what: &str, mut done: impl FnMut(&Self) -> bool) -> Result<()> {
        let deadline = Instant::now() + STUCK;
        loop {
            if done(self) {
                return Ok(());
            }
            if self.task.is_finished() {
                let ended = (&mut self.task).await.context("the worker panicked")?;
                return Err(ended
                    .err()
                    .unwrap_or_else(|| anyhow!("the worker stopped by itself"))
                    .context(format!("{what}: the worker stopped")));
            }
            ensure!(
                Instant::now() < deadline,
                "{what}: not done after {STUCK:?} ({} applied)",
                self.applied()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("the worker panicked")?
    }
}

/// The amount of deposit `n` of account `account`: varied, never zero.
fn amount(account: usize, n: u64) -> u64 {
    1 + ((account as u64) * 7_919 + n * 104_729) % 1_000
}

impl Rig {
    /// The side's events table, filled with `plan.events` events.
    pub(super) async fn new(server: &Server, side: Side, plan: &ProjectionPlan) -> Result<Self> {
        let keys = |options: TableOptions| options.partition_key("pk").sort_key("sk");
        let events = server
            .create_table_with(
                &format!("bench-{}-events", side.slug()),
                "pk",
                Some(("sk", ScalarAttributeType::S)),
                TableDefinition::default().stream(StreamViewType::NewImage),
            )
            .await?;
        let store = EventStore::new(events.clone(), StoreOptions::default().cache(plan.accounts))?;
        let proxy = FaultProxy::start(server.url(), FaultPlan::default()).await?;
        let through = keys(proxy.table_options(events.name()));
        let feed = match side {
            Side::Projector => {
                let counter = RequestCounter::new();
                let table = Table::with_client(
                    counted_client(server.client(), &counter),
                    keys(TableOptions::new(events.name())),
                )?;
                Feed::Projector {
                    stream: EventStream::connect(through).await?,
                    store: EventStore::new(table, StoreOptions::default())?,
                    counter,
                }
            }
            Side::Loop => {
                let described = server
                    .client()
                    .describe_table()
                    .table_name(events.name())
                    .send()
                    .await
                    .context("DescribeTable of the events table")?;
                let arn = described
                    .table()
                    .and_then(|t| t.latest_stream_arn())
                    .ok_or_else(|| anyhow!("the events table has no stream"))?
                    .to_owned();
                Feed::Loop {
                    client: aws_sdk_dynamodbstreams::Client::new(&through.sdk_config().await),
                    arn,
                }
            }
        };
        let ids: Vec<String> = (0..plan.accounts).map(|a| format!("acc-{a:02}")).collect();
        let per_account = plan.events.div_ceil(plan.accounts.max(1) as u64);
        let mut rig = Self {
            side,
            store,
            proxy,
            feed,
            ids,
            written: 0,
            replayed: BTreeMap::new(),
        };
        // The accounts' events interleaved, a few per command.
        let mut done = 0;
        while done < per_account {
            let count = EVENTS_PER_COMMAND.min(per_account - done);
            for (a, id) in rig.ids.iter().enumerate() {
                let command = AccountCommand::DepositMany {
                    amount: amount(a, done),
                    count: u32::try_from(count)?,
                };
                rig.store.execute(id.as_str(), command).await?;
            }
            done += count;
        }
        rig.written = per_account * plan.accounts as u64;
        rig.replay().await?;
        Ok(rig)
    }

    /// Reads every account's events back and folds them.
    async fn replay(&mut self) -> Result<()> {
        let mut replayed = BTreeMap::new();
        let mut total = 0;
        for id in &self.ids {
            let events: Vec<EventOf<Balances>> =
                self.store.events(id.as_str(), 1).try_collect().await?;
            let mut state = Account::default();
            for event in &events {
                evolve(&mut state, &event.payload);
            }
            total += events.len() as u64;
            replayed.insert(id.clone(), state);
        }
        ensure!(
            total == self.written,
            "{}: the events table holds {total} events, {} were written",
            self.side.label(),
            self.written
        );
        self.replayed = replayed;
        Ok(())
    }

    async fn view_table(&self, server: &Server, tag: &str) -> Result<ViewTable> {
        let sort = match self.side {
            Side::Projector => Some(("sk", ScalarAttributeType::S)),
            Side::Loop => None,
        };
        let prefix = format!("bench-{}-views-{tag}", self.side.slug());
        let reader = server
            .create_table_with(&prefix, "pk", sort.clone(), TableDefinition::default())
            .await?;
        let mut options = TableOptions::new(reader.name()).partition_key("pk");
        if sort.is_some() {
            options = options.sort_key("sk");
        }
        let counter = RequestCounter::new();
        let counted = Table::with_client(counted_client(server.client(), &counter), options)?;
        Ok(ViewTable {
            counted,
            counter,
            reader,
        })
    }

    fn spawn(&self, views: &ViewTable) -> Result<Running> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (task, progress) = match &self.feed {
            Feed::Projector { stream, store, .. } => {
                let options = ProjectorOptions::default()
                    .worker_id("bench")
                    .idle_wait(IDLE_WAIT)
                    .catch_up_from_table(false);
                let projector =
                    Projector::new(Balances, store.clone(), views.counted.clone(), options)?;
                let (running, stream) = (projector.clone(), stream.clone());
                let task = tokio::spawn(async move { Ok(running.run(&stream, stopped).await?) });
                (task, Progress::Projector(projector))
            }
            Feed::Loop { client, arn } => {
                let progress = Arc::new(baseline::Progress::default());
                let worker = baseline::Loop {
                    streams: client.clone(),
                    arn: arn.clone(),
                    dynamo: views.counted.client().clone(),
                    views: views.counted.name().to_owned(),
                    idle_wait: IDLE_WAIT,
                    progress: Arc::clone(&progress),
                };
                (tokio::spawn(worker.run(stopped)), Progress::Loop(progress))
            }
        };
        Ok(Running {
            stop,
            task,
            progress,
        })
    }

    fn read(&self, views: &ViewTable) -> Reading {
        Reading {
            views: views.counter.snapshot(),
            events_table: match &self.feed {
                Feed::Projector { counter, .. } => counter.snapshot(),
                Feed::Loop { .. } => RequestSnapshot::default(),
            },
            streams: self.proxy.stats(),
            reported: views.counted.request_count(),
        }
    }

    /// Waits until every event in the table is applied, then until the
    /// stream is read once more (the checkpoint, if any, is written before).
    async fn settle(&self, running: &mut Running, what: &str) -> Result<()> {
        let written = self.written;
        running.until(what, |r| r.applied() >= written).await?;
        let reads = || self.proxy.stats().requests_for("GetRecords");
        let before = reads();
        running.until(what, |_| reads() > before).await
    }

    /// One catch-up from the stream's oldest record on a new view table:
    /// how long until every event was applied, and what was sent.
    pub(super) async fn catch_up(&self, server: &Server, tag: &str) -> Result<(Duration, Window)> {
        let views = self.view_table(server, tag).await?;
        let what = format!("{}: catching up", self.side.label());
        let before = self.read(&views);
        let started = Instant::now();
        let mut running = self.spawn(&views)?;
        let written = self.written;
        running.until(&what, |r| r.applied() >= written).await?;
        let elapsed = started.elapsed();
        self.settle(&mut running, &what).await?;
        let after = self.read(&views);
        running.stop().await?;
        self.check(&views).await?;
        Ok((elapsed, Window::between(&before, &after, written)))
    }

    /// The lag of each command at the plan's rate, ms, and what was sent
    /// per event meanwhile.
    pub(super) async fn lag(
        &mut self,
        server: &Server,
        plan: &ProjectionPlan,
    ) -> Result<(Vec<f64>, Window)> {
        let views = self.view_table(server, "lag").await?;
        let what = format!("{}: commands at a steady rate", self.side.label());
        let mut running = self.spawn(&views)?;
        self.settle(&mut running, &what).await?;
        let before = self.read(&views);
        let commands = u64::from(plan.rate) * u64::try_from(plan.lag_for.as_millis())? / 1000;
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(plan.rate)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watchers = Vec::new();
        for n in 0..commands {
            ticker.tick().await;
            let a = usize::try_from(n)? % self.ids.len();
            let id = self.ids[a].clone();
            let command = AccountCommand::Deposit {
                amount: amount(a, n),
            };
            let outcome = self.store.execute(id.as_str(), command).await?;
            let acked = Instant::now();
            let observer = Observer::new(self.side, &views.reader)?;
            watchers.push(tokio::spawn(async move {
                observer.wait(&id, outcome.version, acked).await
            }));
        }
        let mut lags = Vec::with_capacity(watchers.len());
        for watcher in watchers {
            lags.push(ms(watcher.await.context("a lag task panicked")??));
        }
        self.written += commands;
        self.settle(&mut running, &what).await?;
        let after = self.read(&views);
        running.stop().await?;
        self.replay().await?;
        self.check(&views).await?;
        Ok((lags, Window::between(&before, &after, commands)))
    }

    /// Every view equals what its account's events replay to (and, for
    /// the projector, holds the version of the account's last event).
    async fn check(&self, views: &ViewTable) -> Result<()> {
        let label = self.side.label();
        let stored: BTreeMap<String, (Account, Option<u64>)> = match self.side {
            Side::Projector => {
                let views = Views::<Balances>::new(views.reader.clone())?;
                let mut all = BTreeMap::new();
                let mut cursor: Option<String> = None;
                loop {
                    let page = views.list(cursor.as_deref(), 100).await?;
                    for view in page.views {
                        all.insert(view.key, (view.view, Some(view.version)));
                    }
                    cursor = page.cursor;
                    if cursor.is_none() {
                        break all;
                    }
                }
            }
            Side::Loop => baseline::read_all(views.reader.client(), views.reader.name())
                .await?
                .into_iter()
                .map(|(id, account)| (id, (account, None)))
                .collect(),
        };
        ensure!(
            stored.len() == self.replayed.len(),
            "{label}: {} views for {} accounts",
            stored.len(),
            self.replayed.len()
        );
        for (id, want) in &self.replayed {
            let (view, version) = stored
                .get(id)
                .ok_or_else(|| anyhow!("{label}: no view of {id}"))?;
            ensure!(
                view == want,
                "{label}: the view of {id} holds {view:?}, its events replay to {want:?}"
            );
            if let Some(version) = version {
                ensure!(
                    *version == want.deposits,
                    "{label}: the view of {id} is at version {version}, its last event is {}",
                    want.deposits
                );
            }
        }
        crate::checks::pass(self.replayed.len() as u64);
        Ok(())
    }
}

/// Reads how far an account's view got.
enum Observer {
    Projector(Views<Balances>),
    Loop(Table),
}

impl Observer {
    fn new(side: Side, reader: &Table) -> Result<Self> {
        Ok(match side {
            Side::Projector => Observer::Projector(Views::new(reader.clone())?),
            Side::Loop => Observer::Loop(reader.clone()),
        })
    }

    /// The version of the account's last event applied to its view (every
    /// event is one deposit, so the loop's deposits count it).
    async fn version(&self, id: &str) -> Result<u64> {
        match self {
            Observer::Projector(views) => Ok(views.get(id).await?.map_or(0, |v| v.version)),
            Observer::Loop(table) => baseline::deposits(table.client(), table.name(), id).await,
        }
    }

    /// How long after `acked` the view of `id` reached `version`.
    async fn wait(&self, id: &str, version: u64, acked: Instant) -> Result<Duration> {
        loop {
            if self.version(id).await? >= version {
                return Ok(acked.elapsed());
            }
            ensure!(
                acked.elapsed() < STUCK,
                "the view of {id} did not reach version {version} within {STUCK:?}"
            );
            tokio::time::sleep(LAG_POLL).await;
        }
    }
}
