//! The event store handle, its options, and reading aggregates back.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dynago::{RetryPolicy, ScalarAttributeType, Table};
use lru::LruCache;

use crate::aggregate::Aggregate;
use crate::error::{Error, Result};
use crate::id::AggregateId;
use crate::keys;
use crate::payload::PayloadEncoding;
use crate::plan::{Folded, Writing};
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
    payload_encoding: PayloadEncoding,
    item_per_event: bool,
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
            payload_encoding: PayloadEncoding::Map,
            item_per_event: false,
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
    /// writer of the store writes in one region, or when the table is a
    /// multi-Region strongly consistent one, where conditions hold across
    /// regions (a write racing another region's is refused, and decided
    /// again as a conflict) but transactions do not run: commands across
    /// aggregates ([`EventStore::execute_all`]) need a table written in one
    /// region.
    pub fn allow_global_table(mut self, allow: bool) -> Self {
        self.allow_replicas = allow;
        self
    }

    /// Writes every event as an item of its own, several in one
    /// transaction, and every command record in its commit's transaction,
    /// as dynago-es 0.1 did (default `false`): for a rolling upgrade from
    /// 0.1, while a 0.1 process may still write to the table. A 0.1
    /// process reads only the first event of an item holding several, so
    /// it could decide on a stale version and write inside such an item.
    /// Both formats are read either way. It costs what 0.1 cost (`2k`
    /// write units for `k` events, 4 for one event with a command id):
    /// turn it off once no 0.1 process is left.
    ///
    /// ```
    /// let upgrading = dynago_es::StoreOptions::default().item_per_event(true);
    /// # let _ = upgrading;
    /// ```
    pub fn item_per_event(mut self, on: bool) -> Self {
        self.item_per_event = on;
        self
    }

    /// How the events' payloads are written (default
    /// [`PayloadEncoding::Map`]); both forms are read whatever this says.
    pub fn payload_encoding(mut self, encoding: PayloadEncoding) -> Self {
        self.payload_encoding = encoding;
        self
    }

    pub(crate) fn payload_encoding_of(&self) -> PayloadEncoding {
        self.payload_encoding
    }

    pub(crate) fn writes_item_per_event(&self) -> bool {
        self.item_per_event
    }

    pub(crate) fn upcasters(&self) -> &Upcasters {
        &self.upcasters
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

impl<A> Loaded<A> {
    /// The state as of its version, without the load's figures.
    pub(crate) fn into_folded(self) -> Folded<A> {
        Folded {
            state: self.state,
            version: self.version,
            snapshot_version: self.snapshot_version,
        }
    }
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
    pub(crate) cache: Option<Mutex<LruCache<AggregateId, Folded<A>>>>,
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
    /// # #[derive(Clone, serde::Serialize, serde::Deserialize, dynago_es::DomainEvent)] struct Ev;
    /// # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
    /// # impl dynago_es::Aggregate for Account { const TYPE: &'static str = "account"; type Id = dynago_es::AggregateId; type Command = (); type Event = Ev; type Error = No;
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
        let key_names: Vec<&str> = [Some(table.partition_key()), table.sort_key()]
            .into_iter()
            .flatten()
            .collect();
        keys::check_key_names(table.name(), &key_names).map_err(Error::Config)?;
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
    /// # #[derive(Clone, serde::Serialize, serde::Deserialize, dynago_es::DomainEvent)] struct Ev;
    /// # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
    /// # impl dynago_es::Aggregate for Account { const TYPE: &'static str = "account"; type Id = dynago_es::AggregateId; type Command = (); type Event = Ev; type Error = No;
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

    /// How this store writes its items, for [`plan`](crate::plan).
    pub(crate) fn writing(&self) -> Writing<'_> {
        Writing {
            partition_key: self.table().partition_key(),
            sort_key: self.table().sort_key().unwrap_or_default(),
            item_per_event: self.options().writes_item_per_event(),
            state_in_commit: self.snapshot_policy().in_commit(),
            encoding: self.options().payload_encoding_of(),
            record_lifetime: self.options().command_record_lifetime(),
        }
    }

    /// The id of the aggregate `id` in the keys of its items.
    pub(crate) fn key_id(id: &A::Id) -> AggregateId {
        AggregateId::of(id)
    }

    pub(crate) fn aggregate_name(id: &AggregateId) -> String {
        keys::stream(A::TYPE, id)
    }

    pub(crate) fn cached(&self, id: &AggregateId) -> Option<Folded<A>> {
        let cache = self.inner.cache.as_ref()?;
        let mut cache = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(id).cloned()
    }

    pub(crate) fn set_cached(&self, id: &AggregateId, entry: Option<Folded<A>>) {
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
    pub async fn load(&self, id: impl Into<A::Id>) -> Result<Loaded<A>> {
        self.load_upto(&Self::key_id(&id.into()), None).await
    }

    /// Loads the state as of `version` (events 1 to `version`), from a
    /// snapshot no newer than that when there is one.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load); the result's version is lower than asked
    /// when the stream is shorter.
    pub async fn load_at(&self, id: impl Into<A::Id>, version: u64) -> Result<Loaded<A>> {
        self.load_upto(&Self::key_id(&id.into()), Some(version))
            .await
    }

    pub(crate) async fn load_upto(&self, id: &AggregateId, upto: Option<u64>) -> Result<Loaded<A>> {
        let aggregate = Self::aggregate_name(id);
        if self.snapshot_policy().in_commit() {
            // Boxed: a future nested this deep would take a caller's
            // generic `async fn` past the compiler's depth limit for layouts.
            if let Some(loaded) = Box::pin(self.load_newest_state(id, upto)).await? {
                return Ok(loaded);
            }
        }
        let mut start = (A::default(), 0);
        if !matches!(
            self.snapshot_policy(),
            SnapshotPolicy::Never | SnapshotPolicy::InCommit
        ) {
            let item = self.read_consistent(keys::snapshot(A::TYPE, id)).await?;
            if let Some((state, version)) =
                item.and_then(|item| snapshot::from_item::<A>(item, &aggregate))
            {
                if upto.is_none_or(|upto| version <= upto) {
                    start = (state, version);
                }
            }
        }
        let (state, snapshot_version) = start;
        let from = Folded {
            state,
            version: snapshot_version,
            snapshot_version,
        };
        self.fold_after(id, from, upto).await
    }

    /// The state as of `upto` (the end when `None`) from the state in the
    /// newest item up to it ([`SnapshotPolicy::InCommit`]): one query, one
    /// item. `None` when that item holds no state that reads, or its commit
    /// goes on past `upto`: the caller replays the events.
    async fn load_newest_state(
        &self,
        id: &AggregateId,
        upto: Option<u64>,
    ) -> Result<Option<Loaded<A>>> {
        if upto == Some(0) {
            return Ok(None);
        }
        let (state, version) = match self.newest_state(id, upto.unwrap_or(u64::MAX)).await? {
            // No event up to `upto`: the state is the default.
            None => (A::default(), 0),
            // A commit that goes on past `upto` holds the state after it.
            Some((Some(state), last)) if upto.is_none_or(|upto| last <= upto) => (state, last),
            Some(_) => return Ok(None),
        };
        crate::metrics::load::<A>(0);
        Ok(Some(Loaded {
            id: id.clone(),
            state,
            version,
            snapshot_version: version,
            events_read: 0,
        }))
    }

    /// Applies the events after `from`'s version (up to `upto`) to its state.
    pub(crate) async fn fold_after(
        &self,
        id: &AggregateId,
        from: Folded<A>,
        upto: Option<u64>,
    ) -> Result<Loaded<A>> {
        let Folded {
            mut state,
            version,
            snapshot_version,
        } = from;
        let aggregate = Self::aggregate_name(id);
        let mut loaded_version = version;
        let mut events_read = 0;
        // A stream at the last version there is has nothing after it.
        let next = version
            .checked_add(1)
            .filter(|_| upto.is_none_or(|upto| upto > version));
        if let Some(next) = next {
            // Folded page by page: a long stream is never held whole.
            self.replay(
                id,
                next,
                upto.unwrap_or(u64::MAX),
                |event_version, event| {
                    if loaded_version.checked_add(1) != Some(event_version) {
                        return Err(Error::VersionGap {
                            aggregate: aggregate.clone(),
                            expected: loaded_version.saturating_add(1),
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
        crate::metrics::load::<A>(events_read);
        Ok(Loaded {
            id: id.clone(),
            state,
            version: loaded_version,
            snapshot_version,
            events_read,
        })
    }
}
