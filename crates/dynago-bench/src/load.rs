//! Part 3: what loading an aggregate costs as its stream grows, with
//! snapshots every 100 events and without.
//!
//! Streams are built through each library's own write path (dynago-es:
//! `append` of one event at a time without snapshots, an item per event as
//! dynamo-es writes them, and `execute` with them; cqrs-es: its
//! repository's `persist` without snapshots, the snapshot store's commands
//! with them), then loaded again and again, the libraries taking turns. Every
//! load is checked against the state the stream must fold to.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{CqrsFramework, EventStore as _};
use dynago::ScalarAttributeType;
use dynago_es::{EventStore, Metadata, SnapshotPolicy, StoreOptions};
use dynamo_es::DynamoEventRepository;
use serde_json::Value;

use crate::account::{expected, Account, AccountCommand, AccountEvent, DocumentedAccount};
use crate::commands::CqrsTables;
use crate::server::Server;
use crate::stats::{median, ms};

/// Every deposit of the load streams is of this many cents.
const AMOUNT: u64 = 3;
/// Snapshot interval, in events, for both libraries.
pub const SNAPSHOT_EVERY: u64 = 100;

/// Which library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Library {
    /// dynago-es.
    DynagoEs,
    /// dynago-es with `SnapshotPolicy::InCommit`: the state in each commit
    /// item (measured on the rows with snapshots).
    DynagoEsInCommit,
    /// cqrs-es + dynamo-es.
    CqrsEs,
}

impl Library {
    /// Its name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Library::DynagoEs => "dynago-es",
            Library::DynagoEsInCommit => "dynago-es, state in each commit",
            Library::CqrsEs => "cqrs-es + dynamo-es",
        }
    }
}

/// How long to measure.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Stream lengths, in events.
    pub lengths: Vec<u64>,
    /// Measured rounds (one more is run first, unmeasured).
    pub rounds: usize,
}

/// Whether a load gave the state the stream folds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The right state, from every event.
    Correct,
    /// Only the first `applied` events were read: dynamo-es reads one
    /// query page (1 MB) and no more.
    Truncated {
        /// Events applied.
        applied: u64,
    },
}

/// The figures of one library on one stream.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Events in the stream.
    pub events: u64,
    /// With snapshots every [`SNAPSHOT_EVERY`] events.
    pub snapshots: bool,
    /// Which library.
    pub library: Library,
    /// Median over rounds of the mean time of one load, ms.
    pub load_ms: f64,
    /// Items read by one load (events, plus the snapshot).
    pub items_read: u64,
    /// Requests per load.
    pub requests: f64,
    /// Whether the load was right.
    pub verdict: Verdict,
}

/// Part 3's figures, and what cqrs-es's snapshot store makes of an
/// aggregate written as its documentation writes them.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    /// One result per stream length, snapshot setting and library.
    pub results: Vec<LoadResult>,
    /// The check of cqrs-es's snapshots with [`DocumentedAccount`].
    pub documented_snapshots: SnapshotCheck,
    /// When a cqrs-es load came back truncated: a deposit on that stream,
    /// tried a few times (attempts, and how many ended in
    /// `AggregateConflict`).
    pub truncated_append: Option<(u32, u32)>,
}

/// Deposits of one cent on a [`DocumentedAccount`] through cqrs-es's
/// snapshot store (a snapshot every [`SNAPSHOT_EVERY`] events), then one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotCheck {
    /// Deposits made, each one command of one event.
    pub deposits: u64,
    /// The balance the events add up to (checked by reading them all).
    pub events_balance: u64,
    /// The balance the snapshot store loads.
    pub loaded_balance: u64,
}

/// A dynamo-es repository that counts the events and snapshots it returns.
struct CountingRepository {
    inner: DynamoEventRepository,
    items: Arc<AtomicU64>,
}

fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl PersistedEventRepository for CountingRepository {
    async fn get_events<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self.inner.get_events::<A>(aggregate_id).await?;
        self.items.fetch_add(len(events.len()), Ordering::Relaxed);
        Ok(events)
    }

    async fn get_last_events<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self
            .inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await?;
        self.items.fetch_add(len(events.len()), Ordering::Relaxed);
        Ok(events)
    }

    async fn get_snapshot<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let snapshot = self.inner.get_snapshot::<A>(aggregate_id).await?;
        if snapshot.is_some() {
            self.items.fetch_add(1, Ordering::Relaxed);
        }
        Ok(snapshot)
    }

    async fn persist<A: cqrs_es::Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        self.inner.persist::<A>(events, snapshot_update).await
    }

    async fn stream_events<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: cqrs_es::Aggregate>(
        &self,
    ) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_all_events::<A>().await
    }
}

struct Loaders {
    dynago_plain: EventStore<Account>,
    dynago_snap: EventStore<Account>,
    dynago_in_commit: EventStore<Account>,
    cqrs_plain: PersistedEventStore<CountingRepository, Account>,
    cqrs_snap: PersistedEventStore<CountingRepository, Account>,
    cqrs_items: Arc<AtomicU64>,
}

/// Runs part 3.
///
/// # Errors
///
/// A failed request, or a load that gives a wrong state (other than the
/// reported truncation of dynamo-es).
pub async fn run(server: &Server, plan: &LoadPlan) -> Result<LoadOutcome> {
    let table = server
        .create_table("bench-load", "pk", Some(("sk", ScalarAttributeType::S)))
        .await?;
    let tables = CqrsTables::create(server).await?;
    let never = StoreOptions::default();
    let every = StoreOptions::default().snapshots(SnapshotPolicy::Every(SNAPSHOT_EVERY));
    let in_commit = StoreOptions::default().snapshots(SnapshotPolicy::InCommit);
    let cqrs_items = Arc::new(AtomicU64::new(0));
    let counting = || CountingRepository {
        inner: tables.repository(server.client()),
        items: Arc::clone(&cqrs_items),
    };
    let loaders = Loaders {
        dynago_plain: EventStore::new(table.clone(), never.clone())?,
        dynago_snap: EventStore::new(table.clone(), every.clone())?,
        dynago_in_commit: EventStore::new(table.clone(), in_commit.clone())?,
        cqrs_plain: PersistedEventStore::new_event_store(counting()),
        cqrs_snap: PersistedEventStore::new_snapshot_store(
            counting(),
            usize::try_from(SNAPSHOT_EVERY)?,
        ),
        cqrs_items: Arc::clone(&cqrs_items),
    };

    // Build every stream first.
    let writer_snap = EventStore::<Account>::new(table.clone(), every.cache(1_000))?;
    let writer_in_commit = EventStore::<Account>::new(table.clone(), in_commit.cache(1_000))?;
    let cqrs_writer_snap = CqrsFramework::new(
        PersistedEventStore::<_, Account>::new_snapshot_store(
            tables.repository(server.client()),
            usize::try_from(SNAPSHOT_EVERY)?,
        ),
        Vec::new(),
        (),
    );
    let cqrs_repo = tables.repository(server.client());
    for &n in &plan.lengths {
        build_dynago_plain(&loaders.dynago_plain, &stream_id(n, false), n).await?;
        build_dynago_snap(&writer_snap, &stream_id(n, true), n).await?;
        build_dynago_snap(&writer_in_commit, &in_commit_id(n), n).await?;
        build_cqrs_plain(&cqrs_repo, &stream_id(n, false), n).await?;
        let id = stream_id(n, true);
        for count in batches(n, 20) {
            cqrs_writer_snap
                .execute(
                    &id,
                    AccountCommand::DepositMany {
                        amount: AMOUNT,
                        count,
                    },
                )
                .await
                .map_err(|e| anyhow!("cqrs-es building {id}: {e}"))?;
        }
    }

    let mut times: BTreeMap<(u64, bool, Library), Vec<f64>> = BTreeMap::new();
    let mut seen: BTreeMap<(u64, bool, Library), (u64, f64, Verdict)> = BTreeMap::new();
    for round in 0..=plan.rounds {
        for &n in &plan.lengths {
            for snapshots in [false, true] {
                let mut order = vec![Library::DynagoEs, Library::CqrsEs];
                if snapshots {
                    order.insert(1, Library::DynagoEsInCommit);
                }
                if round % 2 == 1 {
                    order.reverse();
                }
                for library in order {
                    let reps = repetitions(n);
                    let before = server.counter().total();
                    let mut elapsed = Duration::ZERO;
                    let mut last = (0, Verdict::Correct);
                    for _ in 0..reps {
                        let (took, items, verdict) =
                            load_once(&loaders, library, n, snapshots).await?;
                        elapsed += took;
                        last = (items, verdict);
                    }
                    let requests = (server.counter().total() - before) as f64 / reps as f64;
                    seen.insert((n, snapshots, library), (last.0, requests, last.1));
                    if round > 0 {
                        times
                            .entry((n, snapshots, library))
                            .or_default()
                            .push(ms(elapsed) / reps as f64);
                    }
                }
            }
        }
    }
    let documented_snapshots = check_documented_snapshots(server, &tables).await?;
    let truncated = seen
        .iter()
        .find_map(|(&(n, snapshots, library), &(_, _, verdict))| {
            (library == Library::CqrsEs && matches!(verdict, Verdict::Truncated { .. }))
                .then(|| stream_id(n, snapshots))
        });
    let truncated_append = match truncated {
        Some(id) => Some(append_after_truncation(server, &tables, &id).await?),
        None => None,
    };
    let mut results = Vec::new();
    for ((events, snapshots, library), samples) in times {
        let (items_read, requests, verdict) = seen[&(events, snapshots, library)];
        results.push(LoadResult {
            events,
            snapshots,
            library,
            load_ms: median(&samples),
            items_read,
            requests,
            verdict,
        });
    }
    Ok(LoadOutcome {
        results,
        documented_snapshots,
        truncated_append,
    })
}

/// Tries a deposit on a stream that cqrs-es loads truncated: it decides on
/// the first page's version, so its append collides with an event that is
/// already there.
async fn append_after_truncation(
    server: &Server,
    tables: &CqrsTables,
    id: &str,
) -> Result<(u32, u32)> {
    const ATTEMPTS: u32 = 3;
    let cqrs = CqrsFramework::new(
        PersistedEventStore::<_, Account>::new_event_store(tables.repository(server.client())),
        Vec::new(),
        (),
    );
    let mut conflicts = 0;
    for _ in 0..ATTEMPTS {
        match cqrs
            .execute(id, AccountCommand::Deposit { amount: AMOUNT })
            .await
        {
            Err(cqrs_es::AggregateError::AggregateConflict) => conflicts += 1,
            Err(error) => bail!("cqrs-es appending to {id}: {error}"),
            Ok(()) => {}
        }
    }
    Ok((ATTEMPTS, conflicts))
}

/// Makes 150 one-cent deposits on a [`DocumentedAccount`] through cqrs-es's
/// snapshot store and loads it again.
async fn check_documented_snapshots(server: &Server, tables: &CqrsTables) -> Result<SnapshotCheck> {
    const DEPOSITS: u64 = 150;
    let id = "documented-account";
    let snapshot_every = usize::try_from(SNAPSHOT_EVERY)?;
    let cqrs = CqrsFramework::new(
        PersistedEventStore::<_, DocumentedAccount>::new_snapshot_store(
            tables.repository(server.client()),
            snapshot_every,
        ),
        Vec::new(),
        (),
    );
    for _ in 0..DEPOSITS {
        cqrs.execute(id, AccountCommand::Deposit { amount: 1 })
            .await
            .map_err(|e| anyhow!("cqrs-es depositing on {id}: {e}"))?;
    }
    let loaded = PersistedEventStore::<_, DocumentedAccount>::new_snapshot_store(
        tables.repository(server.client()),
        snapshot_every,
    )
    .load_aggregate(id)
    .await
    .map_err(|e| anyhow!("cqrs-es loading {id}: {e}"))?;
    let events = PersistedEventStore::<_, DocumentedAccount>::new_event_store(
        tables.repository(server.client()),
    )
    .load_events(id)
    .await
    .map_err(|e| anyhow!("cqrs-es reading the events of {id}: {e}"))?;
    let mut folded = Account::default();
    for event in &events {
        crate::account::evolve(&mut folded, &event.payload);
    }
    ensure!(
        folded == expected(1, DEPOSITS),
        "cqrs-es stored the events of {id} wrong: {folded:?}"
    );
    crate::checks::pass(1);
    Ok(SnapshotCheck {
        deposits: DEPOSITS,
        events_balance: folded.balance,
        loaded_balance: loaded.aggregate.0.balance,
    })
}

fn stream_id(n: u64, snapshots: bool) -> String {
    format!("load-{n}-{}", if snapshots { "snap" } else { "plain" })
}

fn in_commit_id(n: u64) -> String {
    format!("load-{n}-in-commit")
}

/// `n` split into batches of at most `size`.
fn batches(n: u64, size: u32) -> impl Iterator<Item = u32> {
    let size64 = u64::from(size);
    (0..n.div_ceil(size64)).map(move |i| {
        let left = n - i * size64;
        u32::try_from(left.min(size64)).unwrap_or(size)
    })
}

/// Loads per round: enough that a short load is measured over some ms.
fn repetitions(n: u64) -> usize {
    match n {
        0..=100 => 20,
        101..=2_000 => 4,
        _ => 1,
    }
}

async fn build_dynago_plain(store: &EventStore<Account>, id: &str, n: u64) -> Result<()> {
    // One event per commit, the shape of one-event commands: an item per
    // event, as dynamo-es writes them.
    for version in 0..n {
        store
            .append(
                id,
                version,
                vec![AccountEvent::Deposited { amount: AMOUNT }],
                Metadata::default(),
            )
            .await?;
    }
    Ok(())
}

async fn build_dynago_snap(store: &EventStore<Account>, id: &str, n: u64) -> Result<()> {
    // Batches of 50 events put snapshots exactly at multiples of 100.
    for count in batches(n, 50) {
        store
            .execute(
                id,
                AccountCommand::DepositMany {
                    amount: AMOUNT,
                    count,
                },
            )
            .await?;
    }
    Ok(())
}

async fn build_cqrs_plain(repo: &DynamoEventRepository, id: &str, n: u64) -> Result<()> {
    // dynamo-es refuses transactions of more than 25 actions.
    let mut sequence = 0usize;
    for count in batches(n, 25) {
        let mut events = Vec::new();
        for _ in 0..count {
            sequence += 1;
            let envelope = cqrs_es::EventEnvelope::<Account> {
                aggregate_id: id.to_owned(),
                sequence,
                payload: AccountEvent::Deposited { amount: AMOUNT },
                metadata: std::collections::HashMap::new(),
            };
            events.push(SerializedEvent::try_from(&envelope).map_err(|e| anyhow!("{e}"))?);
        }
        repo.persist::<Account>(&events, None)
            .await
            .map_err(|e| anyhow!("cqrs-es building {id}: {e}"))?;
    }
    Ok(())
}

async fn load_once(
    loaders: &Loaders,
    library: Library,
    n: u64,
    snapshots: bool,
) -> Result<(Duration, u64, Verdict)> {
    let id = stream_id(n, snapshots);
    let want = expected(AMOUNT, n);
    match library {
        Library::DynagoEs | Library::DynagoEsInCommit => {
            let in_commit = library == Library::DynagoEsInCommit;
            let (store, id) = match (in_commit, snapshots) {
                (true, _) => (&loaders.dynago_in_commit, in_commit_id(n)),
                (false, true) => (&loaders.dynago_snap, id),
                (false, false) => (&loaders.dynago_plain, id),
            };
            let started = Instant::now();
            let loaded = store.load(id.as_str()).await?;
            let took = started.elapsed();
            ensure!(
                loaded.state == want && loaded.version == n,
                "dynago-es loaded {id} as {:?} at version {}",
                loaded.state,
                loaded.version
            );
            if in_commit {
                ensure!(
                    loaded.snapshot_version == n && loaded.events_read == 0,
                    "dynago-es loaded {id} from the state at {} after {} events",
                    loaded.snapshot_version,
                    loaded.events_read
                );
            } else if snapshots {
                ensure!(
                    loaded.snapshot_version == n / SNAPSHOT_EVERY * SNAPSHOT_EVERY,
                    "dynago-es loaded {id} from the snapshot at {}",
                    loaded.snapshot_version
                );
            }
            let items = len(loaded.events_read) + u64::from(loaded.snapshot_version > 0);
            crate::checks::pass(1);
            Ok((took, items, Verdict::Correct))
        }
        Library::CqrsEs => {
            let store = if snapshots {
                &loaders.cqrs_snap
            } else {
                &loaders.cqrs_plain
            };
            let before = loaders.cqrs_items.load(Ordering::Relaxed);
            let started = Instant::now();
            let context = store
                .load_aggregate(&id)
                .await
                .map_err(|e| anyhow!("cqrs-es loading {id}: {e}"))?;
            let took = started.elapsed();
            let items = loaders.cqrs_items.load(Ordering::Relaxed) - before;
            let state = context.aggregate;
            if state == want {
                crate::checks::pass(1);
                return Ok((took, items, Verdict::Correct));
            }
            // The one wrong answer we know and report: a load that stopped
            // after the first page of the query, holding a prefix of the stream.
            let applied = state.deposits;
            if !snapshots && applied < n && state == expected(AMOUNT, applied) && items == applied {
                crate::checks::pass(1);
                return Ok((took, items, Verdict::Truncated { applied }));
            }
            bail!("cqrs-es loaded {id} as {state:?} from {items} items, expected {want:?}")
        }
    }
}
