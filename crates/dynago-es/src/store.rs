//! The event store handle, its options, and reading aggregates back.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dynago::{string_value, Item, Query, RetryPolicy, ScalarAttributeType, Table};
use futures::stream::{Stream, StreamExt, TryStreamExt};
use lru::LruCache;

use crate::aggregate::Aggregate;
use crate::envelope::{self, EventEnvelope, Origin};
use crate::error::{Error, Result};
use crate::id::AggregateId;
use crate::keys;
use crate::snapshot::{self, SnapshotPolicy};
use crate::upcast::{Upcaster, Upcasters};

/// How an [`EventStore`] snapshots, retries and caches.
///
/// ```
/// use dynago_es::{SnapshotPolicy, StoreOptions};
/// use dynago::RetryPolicy;
///
/// let options = StoreOptions::default()
///     .snapshots(SnapshotPolicy::Every(100))
///     .retry(RetryPolicy::default().max_attempts(20))
///     .cache(10_000);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct StoreOptions {
    snapshots: SnapshotPolicy,
    retry: RetryPolicy,
    cache: Option<NonZeroUsize>,
    upcasters: Upcasters,
    command_record_lifetime: Option<Duration>,
    allow_replicas: bool,
}

impl Default for StoreOptions {
    /// No snapshots, no cache, and up to 10 attempts per command with
    /// exponential backoff from 5 ms to 500 ms, with jitter.
    fn default() -> Self {
        Self {
            snapshots: SnapshotPolicy::Never,
            retry: RetryPolicy::default()
                .max_attempts(10)
                .min_delay(Duration::from_millis(5))
                .max_delay(Duration::from_millis(500)),
            cache: None,
            upcasters: Upcasters::default(),
            command_record_lifetime: None,
            allow_replicas: false,
        }
    }
}

impl StoreOptions {
    /// When to save snapshots.
    pub fn snapshots(mut self, policy: SnapshotPolicy) -> Self {
        self.snapshots = policy;
        self
    }

    /// How commands retry on a conflict (reload, decide again) and how a
    /// write retries on a transient error (the same write, sent again).
    /// Its attempts bound the write requests of one command in all, both
    /// kinds of retry together (each request may take the SDK's own
    /// attempts, see `dynago::TableOptions::sdk_max_attempts`), plus one
    /// when a due snapshot had to be left out.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Keeps the state and version of up to `capacity` aggregates in memory
    /// (least recently used out first). An uncontended command on a cached
    /// aggregate then costs one write and no read; on a conflict only the
    /// events after the cached version are read. A decision that writes
    /// nothing (a refusal, or no events) cannot meet a conflict, so when it is
    /// made on a cached state the events after it are read first and, if
    /// there are any, the command is decided again. `0` turns the cache off.
    pub fn cache(mut self, capacity: usize) -> Self {
        self.cache = NonZeroUsize::new(capacity);
        self
    }

    /// Registers an upcaster for events read from the store.
    pub fn upcaster(mut self, upcaster: Upcaster) -> Self {
        self.upcasters.add(upcaster);
        self
    }

    /// Lets the records of idempotent commands expire: each carries the
    /// time `lifetime` after it was written, in seconds since the epoch, in
    /// the attribute [`COMMAND_EXPIRY_ATTRIBUTE`], for DynamoDB's time to
    /// live. Turn TTL on for that attribute of the table (TTL is one
    /// attribute per table; no other item of the store carries it). Once a
    /// record is gone its command id can be used again, so choose a lifetime
    /// longer than any caller retries: days, not minutes. Without it (the
    /// default) records are kept for good.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = dynago_es::StoreOptions::default()
    ///     .command_records_expire_after(Duration::from_secs(7 * 24 * 3600));
    /// # let _ = options;
    /// ```
    pub fn command_records_expire_after(mut self, lifetime: Duration) -> Self {
        self.command_record_lifetime = Some(lifetime);
        self
    }

    /// Lets [`EventStore::open`] accept a global table (one with replicas in
    /// other regions), which it otherwise refuses: DynamoDB checks
    /// conditions in the region that takes the write only, and replicates
    /// the last writer's item, so two regions can each accept an append at
    /// the same version and one of them is lost. Turn it on only when every
    /// writer of the store writes in one region.
    pub fn allow_global_table(mut self, allow: bool) -> Self {
        self.allow_replicas = allow;
        self
    }

    pub(crate) fn command_record_lifetime(&self) -> Option<Duration> {
        self.command_record_lifetime
    }
}

/// The attribute of a command record that holds when it expires, in
/// seconds since the epoch, when
/// [`StoreOptions::command_records_expire_after`] is set: the attribute to
/// turn DynamoDB's time to live on for.
pub const COMMAND_EXPIRY_ATTRIBUTE: &str = "expires_at";

/// The state of an aggregate at a version.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Loaded<A> {
    /// The aggregate.
    pub id: AggregateId,
    /// Its state: the fold of events 1 to `version`.
    pub state: A,
    /// The version of its last event; 0 for an aggregate with no events.
    pub version: u64,
    /// The version of the snapshot the load started from, 0 if none.
    pub snapshot_version: u64,
    /// How many events were read and applied.
    pub events_read: usize,
}

#[derive(Clone)]
pub(crate) struct Cached<A> {
    pub(crate) state: A,
    pub(crate) version: u64,
    pub(crate) snapshot_version: u64,
}

/// The write requests a command may still send: the retry policy's
/// attempts, shared by its decisions and by the resends of each write, so
/// that conflicts and transient errors together never send more.
#[derive(Debug)]
pub(crate) struct SendBudget(AtomicUsize);

impl SendBudget {
    pub(crate) fn new(sends: usize) -> Self {
        Self(AtomicUsize::new(sends))
    }

    /// Counts one send (the first of a write is sent whatever is left).
    pub(crate) fn spend(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            });
    }

    /// How many sends are left.
    pub(crate) fn left(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counts the requests one operation sends.
#[derive(Debug, Default)]
pub(crate) struct Requests(AtomicU32);

impl Requests {
    pub(crate) fn add(&self, n: u32) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The event store of one aggregate type, on one table.
///
/// Cheap to clone: create it once and share it. Several stores (of several
/// aggregate types) can share one table, which may hold other data too: see
/// the `keys` layout in the guide.
pub struct EventStore<A: Aggregate> {
    pub(crate) inner: Arc<Inner<A>>,
}

pub(crate) struct Inner<A: Aggregate> {
    pub(crate) table: Table,
    pub(crate) options: StoreOptions,
    pub(crate) cache: Option<Mutex<LruCache<AggregateId, Cached<A>>>>,
}

impl<A: Aggregate> Clone for EventStore<A> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<A: Aggregate> std::fmt::Debug for EventStore<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("aggregate_type", &A::TYPE)
            .field("table", &self.inner.table.name())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl<A: Aggregate> EventStore<A> {
    /// The store of `A` on `table`, which needs a string partition key and a
    /// string sort key (of any names).
    ///
    /// ```no_run
    /// # #[derive(Default, Clone, serde::Serialize, serde::Deserialize)] struct Account;
    /// # #[derive(Clone, serde::Serialize, serde::Deserialize)] struct Ev;
    /// # impl dynago_es::DomainEvent for Ev { fn event_type(&self) -> &'static str { "Ev" } }
    /// # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
    /// # impl dynago_es::Aggregate for Account { const TYPE: &'static str = "account"; type Command = (); type Event = Ev; type Error = No;
    /// #   fn handle(&self, _: &()) -> Result<Vec<Ev>, No> { Ok(vec![]) } fn apply(&mut self, _: &Ev) {} }
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use dynago::{Table, TableOptions};
    /// use dynago_es::{EventStore, SnapshotPolicy, StoreOptions};
    ///
    /// let table = Table::connect(TableOptions::new("ledger").partition_key("pk").sort_key("sk")).await?;
    /// let accounts = EventStore::<Account>::new(table, StoreOptions::default().snapshots(SnapshotPolicy::Every(100)))?;
    /// # let _ = accounts;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// No request is sent: the table's key schema is taken on trust (see
    /// [`open`](Self::open), which checks it).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the table handle has no sort key, or declares
    /// a key type other than string, or when `A::TYPE` is not a usable
    /// aggregate type (empty, holding `#`, which separates the type from the
    /// id in keys, or the name `cmd`, which command records use).
    pub fn new(table: Table, options: StoreOptions) -> Result<Self> {
        keys::check_aggregate_type(A::TYPE).map_err(Error::Config)?;
        let expected = table.expected_schema();
        let string_keys = [Some(&expected.partition_key), expected.sort_key.as_ref()]
            .into_iter()
            .flatten()
            .all(|key| {
                key.attribute_type
                    .as_ref()
                    .is_none_or(|kind| *kind == ScalarAttributeType::S)
            });
        if expected.sort_key.is_none() {
            return Err(Error::Config(format!(
                "table `{}` has no sort key; the event store needs a string partition key and a string sort key",
                table.name()
            )));
        }
        if !string_keys {
            return Err(Error::Config(format!(
                "table `{}` is declared with the key schema {expected}; the event store needs a string partition key and a string sort key",
                table.name()
            )));
        }
        let cache = options
            .cache
            .map(|capacity| Mutex::new(LruCache::new(capacity)));
        Ok(Self {
            inner: Arc::new(Inner {
                table,
                options,
                cache,
            }),
        })
    }

    /// The store of `A` on `table`, after checking with one `DescribeTable`
    /// that the table has the key names of the handle, and that both keys
    /// are strings. Use it at start-up: a table made for something else is
    /// caught here, with a message that names both schemas, rather than on
    /// the first command.
    ///
    /// ```no_run
    /// # #[derive(Default, Clone, serde::Serialize, serde::Deserialize)] struct Account;
    /// # #[derive(Clone, serde::Serialize, serde::Deserialize)] struct Ev;
    /// # impl dynago_es::DomainEvent for Ev { fn event_type(&self) -> &'static str { "Ev" } }
    /// # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
    /// # impl dynago_es::Aggregate for Account { const TYPE: &'static str = "account"; type Command = (); type Event = Ev; type Error = No;
    /// #   fn handle(&self, _: &()) -> Result<Vec<Ev>, No> { Ok(vec![]) } fn apply(&mut self, _: &Ev) {} }
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use dynago::{Table, TableOptions};
    /// use dynago_es::{EventStore, StoreOptions};
    ///
    /// let table = Table::connect(TableOptions::new("ledger").partition_key("pk").sort_key("sk")).await?;
    /// let accounts = EventStore::<Account>::open(table, StoreOptions::default()).await?;
    /// # let _ = accounts;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); [`Error::Config`] for a global table (one
    /// with replicas), unless [`StoreOptions::allow_global_table`] is set;
    /// [`Error::Table`] with
    /// [`dynago::Error::SchemaMismatch`] when the table's key schema differs
    /// (such as `pk (S, HASH), sk (N, RANGE)` where
    /// `pk (S, HASH), sk (S, RANGE)` was expected), with
    /// [`dynago::Error::TableNotFound`] when there is no such table
    /// ([`is_not_found`](Error::is_not_found)), and other DynamoDB failures.
    pub async fn open(table: Table, options: StoreOptions) -> Result<Self> {
        let store = Self::new(table, options)?;
        let mut expected = store.table().expected_schema();
        expected.partition_key.attribute_type = Some(ScalarAttributeType::S);
        if let Some(sort) = expected.sort_key.as_mut() {
            sort.attribute_type = Some(ScalarAttributeType::S);
        }
        let found = store.table().verify_schema_with(&expected).await?;
        if !found.replica_regions.is_empty() && !store.options().allow_replicas {
            return Err(Error::Config(format!(
                "table `{}` is a global table with replicas in {}: DynamoDB checks an append's expected version only in the region that takes it, and the last writer wins across regions, so two regions can each append the same version and one is lost; write every aggregate in one region and set StoreOptions::allow_global_table(true) to use it anyway",
                store.table().name(),
                found.replica_regions.join(", ")
            )));
        }
        Ok(store)
    }

    /// The table the store writes to.
    pub fn table(&self) -> &Table {
        &self.inner.table
    }

    pub(crate) fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    pub(crate) fn snapshot_policy(&self) -> &SnapshotPolicy {
        &self.inner.options.snapshots
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.options.retry
    }

    pub(crate) fn aggregate_name(id: &AggregateId) -> String {
        keys::stream(A::TYPE, id)
    }

    pub(crate) fn cached(&self, id: &AggregateId) -> Option<Cached<A>> {
        let cache = self.inner.cache.as_ref()?;
        let mut cache = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(id).cloned()
    }

    pub(crate) fn remember(&self, id: &AggregateId, entry: Option<Cached<A>>) {
        let Some(cache) = self.inner.cache.as_ref() else {
            return;
        };
        let mut cache = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match entry {
            Some(entry) => {
                cache.put(id.clone(), entry);
            }
            None => {
                cache.pop(id);
            }
        }
    }

    /// Loads an aggregate: the newest snapshot, then every event after it,
    /// all with consistent reads. An aggregate with no events loads as
    /// `A::default()` at version 0.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptEvent`] for an event that does not deserialize or an
    /// item among the events that is not one (each naming the aggregate and
    /// the version), [`Error::VersionGap`] for a missing version,
    /// [`Error::Table`] from DynamoDB (a missing table is
    /// [`is_not_found`](Error::is_not_found)).
    pub async fn load(&self, id: impl Into<AggregateId>) -> Result<Loaded<A>> {
        self.load_counted(&id.into(), None, &Requests::default())
            .await
    }

    /// Loads the state as of `version` (events 1 to `version`), from a
    /// snapshot no newer than that when there is one.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load); the result's version is lower than asked
    /// when the stream is shorter.
    pub async fn load_at(&self, id: impl Into<AggregateId>, version: u64) -> Result<Loaded<A>> {
        self.load_counted(&id.into(), Some(version), &Requests::default())
            .await
    }

    pub(crate) async fn load_counted(
        &self,
        id: &AggregateId,
        upto: Option<u64>,
        requests: &Requests,
    ) -> Result<Loaded<A>> {
        let aggregate = Self::aggregate_name(id);
        let mut start = (A::default(), 0);
        if !matches!(self.snapshot_policy(), SnapshotPolicy::Never) {
            requests.add(1);
            let item = self
                .table()
                .get_item(keys::snapshot(A::TYPE, id))
                .consistent_read(true)
                .send_raw()
                .await?;
            if let Some((state, version)) =
                item.and_then(|item| snapshot::from_item::<A>(item, &aggregate))
            {
                if upto.is_none_or(|upto| version <= upto) {
                    start = (state, version);
                }
            }
        }
        let (state, snapshot_version) = start;
        self.catch_up(
            id,
            state,
            snapshot_version,
            snapshot_version,
            upto,
            requests,
        )
        .await
    }

    /// Applies the events after `version` (up to `upto`) to `state`.
    pub(crate) async fn catch_up(
        &self,
        id: &AggregateId,
        mut state: A,
        version: u64,
        snapshot_version: u64,
        upto: Option<u64>,
        requests: &Requests,
    ) -> Result<Loaded<A>> {
        let aggregate = Self::aggregate_name(id);
        let mut loaded_version = version;
        let mut events_read = 0;
        if upto.is_none_or(|upto| upto > version) {
            // Folded page by page: a long stream is never held whole.
            self.replay(
                id,
                version + 1,
                upto.unwrap_or(u64::MAX),
                requests,
                |event_version, event| {
                    if event_version != loaded_version + 1 {
                        return Err(Error::VersionGap {
                            aggregate: aggregate.clone(),
                            expected: loaded_version + 1,
                            found: event_version,
                        });
                    }
                    state.apply(&event);
                    loaded_version = event_version;
                    events_read += 1;
                    Ok(())
                },
            )
            .await?;
        }
        Ok(Loaded {
            id: id.clone(),
            state,
            version: loaded_version,
            snapshot_version,
            events_read,
        })
    }

    fn events_query(&self, id: &AggregateId, from: u64, to: u64) -> Query {
        let table = self.table();
        let sort_key = table.sort_key().unwrap_or_default().to_owned();
        table
            .query("#pk = :pk AND #sk BETWEEN :from AND :to")
            .name("#pk", table.partition_key())
            .name("#sk", sort_key)
            .value(":pk", string_value(keys::stream(A::TYPE, id)))
            .value(":from", string_value(keys::event_sort(from)))
            .value(":to", string_value(keys::event_sort(to)))
            .consistent_read(true)
    }

    /// The aggregate's events from version `from` on, in order, as a stream
    /// that pages for you (consistent reads). An item that is not a readable
    /// event of this aggregate yields [`Error::CorruptEvent`], a missing
    /// version [`Error::VersionGap`], as [`load`](Self::load) does.
    ///
    /// ```no_run
    /// # async fn run<A: dynago_es::Aggregate>(store: dynago_es::EventStore<A>) -> dynago_es::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let mut events = std::pin::pin!(store.events("acc-1", 1));
    /// while let Some(event) = events.try_next().await? {
    ///     println!("v{} {} at {}", event.version, event.event_type, event.timestamp);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn events(
        &self,
        id: impl Into<AggregateId>,
        from: u64,
    ) -> impl Stream<Item = Result<EventEnvelope<A::Event>>> + Send + 'static {
        self.events_between(id, from..=u64::MAX)
    }

    /// The aggregate's events of the versions in `versions`, in order, as
    /// [`events`](Self::events) reads them: for a reader that knows which
    /// versions it misses.
    ///
    /// ```no_run
    /// # async fn run<A: dynago_es::Aggregate>(store: dynago_es::EventStore<A>) -> dynago_es::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let missed: Vec<_> = store.events_between("acc-1", 4..=6).try_collect().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn events_between(
        &self,
        id: impl Into<AggregateId>,
        versions: std::ops::RangeInclusive<u64>,
    ) -> impl Stream<Item = Result<EventEnvelope<A::Event>>> + Send + 'static {
        let id = id.into();
        let aggregate = Self::aggregate_name(&id);
        let from = (*versions.start()).max(1);
        let to = *versions.end();
        let upcasters = self.options().upcasters.clone();
        let origin = self.origin(&id);
        let mut next = from;
        // BETWEEN needs from <= to: an empty range reads one key that
        // cannot hold an event (version 0) and yields nothing.
        let (from, to) = if from <= to { (from, to) } else { (0, 0) };
        self.events_query(&id, from, to)
            .stream_raw()
            .map_err(Error::from)
            .map(move |item: Result<Item>| {
                let (event, _) = EventEnvelope::<A::Event>::from_item(item?, &origin, &upcasters)?;
                if event.version != next {
                    return Err(Error::VersionGap {
                        aggregate: aggregate.clone(),
                        expected: next,
                        found: event.version,
                    });
                }
                next += 1;
                Ok(event)
            })
    }

    /// Reads an item seen outside the store (a stream record's image, a
    /// scanned item) as an event of this aggregate type, its payload lifted
    /// through the store's upcasters.
    ///
    /// `Ok(None)` when the item is not an event of this type: a snapshot, a
    /// command record, an event of another aggregate type, any item that is
    /// not the store's. An item keyed as such an event that does not read as
    /// one is [`Error::CorruptEvent`].
    ///
    /// ```no_run
    /// # fn run<A: dynago_es::Aggregate>(store: dynago_es::EventStore<A>, item: dynago::Item) -> dynago_es::Result<()> {
    /// if let Some(event) = store.read_event_item(item)? {
    ///     println!("{}#{} v{}", event.aggregate_type, event.aggregate_id, event.version);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::CorruptEvent`] for an item keyed as an event of this type
    /// that is not one, or whose payload does not deserialize.
    pub fn read_event_item(&self, item: Item) -> Result<Option<EventEnvelope<A::Event>>> {
        let table = self.table();
        let Some(sort_key) = table.sort_key() else {
            return Ok(None);
        };
        let (Some(dynago::AttributeValue::S(partition)), Some(dynago::AttributeValue::S(sort))) =
            (item.get(table.partition_key()), item.get(sort_key))
        else {
            return Ok(None);
        };
        let Some(id) = partition
            .strip_prefix(A::TYPE)
            .and_then(|rest| rest.strip_prefix('#'))
        else {
            return Ok(None);
        };
        if keys::parse_event_sort(sort).is_none() {
            return Ok(None);
        }
        let origin = self.origin(&AggregateId::new(id));
        let (event, _) =
            EventEnvelope::<A::Event>::from_item(item, &origin, &self.options().upcasters)?;
        Ok(Some(event))
    }

    /// The version of the last event of `id` (0 for none): one consistent
    /// query of one key, newest first.
    pub(crate) async fn last_version(&self, id: &AggregateId, requests: &Requests) -> Result<u64> {
        let origin = self.origin(id);
        requests.add(1);
        let table = self.table();
        let page = self
            .events_query(id, 1, u64::MAX)
            .descending()
            .limit(1)
            .projection("#sk")
            .send_raw()
            .await?;
        let sort_key = table.sort_key().unwrap_or_default();
        match page.items.first() {
            None => Ok(0),
            Some(item) => match item.get(sort_key) {
                Some(dynago::AttributeValue::S(sort)) => {
                    keys::parse_event_sort(sort).ok_or_else(|| origin.not_an_event_key(sort))
                }
                other => Err(origin.not_an_event_key(&format!("{other:?}"))),
            },
        }
    }

    /// Where the events of `id` are read from.
    fn origin(&self, id: &AggregateId) -> Origin {
        Origin::new(
            A::TYPE,
            id.clone(),
            self.table().sort_key().unwrap_or_default().to_owned(),
        )
    }

    /// Reads events `from..=to` of an aggregate, each with the id of the
    /// commit that wrote it.
    pub(crate) async fn read_events(
        &self,
        id: &AggregateId,
        from: u64,
        to: u64,
        requests: &Requests,
    ) -> Result<Vec<(EventEnvelope<A::Event>, uuid::Uuid)>> {
        let origin = self.origin(id);
        let upcasters = &self.options().upcasters;
        let mut events = Vec::new();
        if from <= to {
            Self::for_each_item(self.events_query(id, from, to), requests, |item| {
                events.push(EventEnvelope::from_item(item, &origin, upcasters)?);
                Ok(())
            })
            .await?;
        }
        Ok(events)
    }

    /// Hands the events `from..=to` of an aggregate to `each` as version
    /// and payload, in order, as the pages arrive; stops at the first
    /// error. Only what a replay needs is fetched and decoded.
    async fn replay(
        &self,
        id: &AggregateId,
        from: u64,
        to: u64,
        requests: &Requests,
        mut each: impl FnMut(u64, A::Event) -> Result<()>,
    ) -> Result<()> {
        if from > to {
            return Ok(());
        }
        let origin = self.origin(id);
        let upcasters = &self.options().upcasters;
        let query = origin.replay_projection(self.events_query(id, from, to));
        Self::for_each_item(query, requests, |item| {
            let (version, event) = envelope::replay(item, &origin, upcasters)?;
            each(version, event)
        })
        .await
    }

    /// Runs `query` to its last page, handing every item to `each`.
    async fn for_each_item(
        mut query: Query,
        requests: &Requests,
        mut each: impl FnMut(Item) -> Result<()>,
    ) -> Result<()> {
        loop {
            requests.add(1);
            let page = query.send_raw().await?;
            for item in page.items {
                each(item)?;
            }
            match page.cursor {
                Some(cursor) => query = query.cursor(cursor),
                None => return Ok(()),
            }
        }
    }
}
