//! Applying events to views: in each aggregate's version order, exactly
//! once, with gaps filled from the table and failing events parked.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use backon::Retryable;
use dynago::transact::Put;
use dynago::{RetryPolicy, Table};
use dynago_es::{AggregateId, EventStore};
use futures::TryStreamExt;

use crate::cache::Bounded;
use crate::error::{Error, Result};
use crate::keys;
use crate::parked::Parking;
use crate::projection::{EventOf, Projection, UnknownEvents, ViewKind};
use crate::view::{self, REVISION, VERSION};

/// What became of one event offered to a projection.
///
/// ```
/// use dynago_projections::Offer;
/// assert!(Offer::Applied { events: 3 }.applied_any());
/// assert!(!Offer::Duplicate.applied_any());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Offer {
    /// Applied, with `events - 1` missing events before it read from the
    /// table and applied first.
    Applied {
        /// How many events were applied.
        events: u64,
    },
    /// Already applied: a record delivered again, or an event a gap fill
    /// or a rebuild applied first.
    Duplicate,
    /// Its handler kept failing: it is parked
    /// ([`Projector::parked`](crate::Projector::parked)), and its
    /// aggregate's later events wait behind it.
    Parked,
    /// An earlier event of its aggregate is parked: it waits (it is read
    /// from the table again when the parked event is replayed).
    Waiting,
    /// The event is past a gap, and the table does not hold it: a record
    /// of a table that was deleted and created again under the same name
    /// (an emulator's stream may keep those; AWS gives the new table a new
    /// stream). An event right after the version applied is not looked up:
    /// it is taken as read from the table's stream.
    NotInTable,
    /// It cannot be read by this build, and the projection passes over
    /// such events ([`UnknownEvents::Skip`](crate::UnknownEvents::Skip)):
    /// its aggregate's position moved past it.
    Skipped,
}

impl Offer {
    /// At least one event was applied.
    pub fn applied_any(&self) -> bool {
        matches!(self, Self::Applied { .. })
    }

    /// What the offers of a commit's events come to, this one's and then
    /// `next`'s: a park or a wait outweighs what was applied before it
    /// (the aggregate stops there), events applied add up, and an event
    /// already applied says nothing next to one that was.
    pub(crate) fn then(self, next: Offer) -> Offer {
        match (self, next) {
            (Self::Parked, _) | (_, Self::Parked) => Self::Parked,
            (Self::Waiting, _) | (_, Self::Waiting) => Self::Waiting,
            (Self::Applied { events: a }, Self::Applied { events: b }) => Self::Applied {
                events: a.saturating_add(b),
            },
            (applied @ Self::Applied { .. }, _) | (_, applied @ Self::Applied { .. }) => applied,
            (Self::Duplicate, next) => next,
            (this, _) => this,
        }
    }
}

/// What the projector knows of an aggregate's progress.
#[derive(Debug, Clone)]
enum Known<V> {
    /// A per-aggregate view: the version applied, the view (`None`
    /// before the first event), and the size of its item.
    View {
        version: u64,
        view: Option<V>,
        bytes: usize,
    },
    /// Keyed views: the version applied, and the one stored in the
    /// position item (events that change no view move only the first).
    Position { applied: u64, stored: u64 },
}

impl<V> Known<V> {
    fn applied(&self) -> u64 {
        match self {
            Self::View { version, .. } => *version,
            Self::Position { applied, .. } => *applied,
        }
    }

    /// What it weighs in memory, about: its view's item, or a position.
    fn bytes(&self) -> usize {
        match self {
            Self::View { bytes, .. } => *bytes,
            Self::Position { .. } => POSITION_BYTES,
        }
    }
}

/// About what a position weighs in memory, with its aggregate id.
const POSITION_BYTES: usize = 128;

/// Counters of what the projector did, since it started.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) applied: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) parked: AtomicU64,
    pub(crate) gap_events: AtomicU64,
    pub(crate) conflicts: AtomicU64,
}

/// How a projector retries: a failing handler before its event is parked,
/// and an event whose write lost a race before [`Error::Contention`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retries {
    pub(crate) handler: RetryPolicy,
    pub(crate) contention: RetryPolicy,
}

/// Applies events of `P::Aggregate` to the views of `P`.
pub(crate) struct Applier<P: Projection> {
    projection: Arc<P>,
    store: EventStore<P::Aggregate>,
    views: Table,
    known: Mutex<Bounded<AggregateId, Known<P::View>>>,
    /// Keyed views as last written here: their revision and view. Right
    /// unless another worker wrote since, which the revision's condition
    /// catches (the view is then read again).
    keyed: Mutex<Bounded<String, (u64, P::View)>>,
    pub(crate) parking: Parking,
    /// The projection's generation (resets) that what is remembered here
    /// belongs to.
    generation: AtomicU64,
    retry: Retries,
    pub(crate) counters: Counters,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The result of writing one event's change.
enum Step {
    Done,
    Conflict,
    Parked,
}

impl<P: Projection> Applier<P> {
    pub(crate) fn new(
        projection: Arc<P>,
        store: EventStore<P::Aggregate>,
        views: Table,
        cache: NonZeroUsize,
        cache_bytes: usize,
        retry: Retries,
    ) -> Self {
        Self {
            parking: Parking::new(views.clone(), P::NAME),
            projection,
            store,
            views,
            // The budget is shared by the two.
            known: Mutex::new(Bounded::new(cache, cache_bytes / 2)),
            keyed: Mutex::new(Bounded::new(cache, cache_bytes / 2)),
            generation: AtomicU64::new(0),
            retry,
            counters: Counters::default(),
        }
    }

    /// Notes the projection's generation, read from its fence: after a
    /// reset (elsewhere, too), everything remembered is forgotten.
    pub(crate) fn observe(&self, generation: u64) {
        if self.generation.swap(generation, Ordering::Relaxed) != generation {
            self.forget_all();
        }
    }

    pub(crate) fn store(&self) -> &EventStore<P::Aggregate> {
        &self.store
    }

    pub(crate) fn views(&self) -> &Table {
        &self.views
    }

    /// Counts `events` applied, in the status and the metrics.
    fn count_applied(&self, events: u64) {
        self.counters.applied.fetch_add(events, Ordering::Relaxed);
        crate::metrics::applied(P::NAME, events);
    }

    /// Counts an event parked, in the status and the metrics.
    fn count_parked(&self) {
        self.counters.parked.fetch_add(1, Ordering::Relaxed);
        crate::metrics::parked(P::NAME);
    }

    /// Forgets what is known of `id`, to read it again.
    pub(crate) fn forget(&self, id: &AggregateId) {
        lock(&self.known).pop(id);
    }

    /// Forgets everything known (after a reset).
    pub(crate) fn forget_all(&self) {
        lock(&self.known).clear();
        lock(&self.keyed).clear();
    }

    /// Offers `event` to the projection: applied if it is the next of its
    /// aggregate, after the events it misses (read from the table) if it is
    /// further on, skipped if it was applied before.
    pub(crate) async fn offer(&self, event: &EventOf<P>) -> Result<Offer> {
        let id = &event.aggregate_id;
        // Between two lost races, a wait that grows, with jitter, so that
        // many writers of one hot view do not keep meeting.
        let mut waits = self.retry.contention.delays();
        // Only lost races count against the policy: passing over an
        // unreadable event before this one is progress.
        let mut lost = 0;
        loop {
            if self.parking.is_blocked(id) {
                if self.parking.still_blocked(id).await? {
                    return Ok(Offer::Waiting);
                }
                // Replayed by another process: its view moved on there.
                self.forget(id);
            }
            let known = self.known(id).await?;
            let applied = known.applied();
            if event.version <= applied {
                self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                return Ok(Offer::Duplicate);
            }
            let missing = if event.version == applied + 1 {
                vec![event.clone()]
            } else {
                let read: std::result::Result<Vec<EventOf<P>>, _> = self
                    .store
                    .events_between(id.clone(), applied + 1..=event.version)
                    .try_collect()
                    .await;
                let events = match read {
                    Ok(events) => events,
                    // An earlier event this build cannot read (a type
                    // written by a newer one): passed over, then this one
                    // is offered again; or this one waits behind it.
                    Err(error) if error.is_corrupt() => match unreadable_version(&error) {
                        Some(version) if P::UNKNOWN_EVENTS == UnknownEvents::Skip => {
                            match Box::pin(self.pass_unreadable(id, version)).await? {
                                Offer::Skipped => continue,
                                // Passed over already, and the gap still
                                // does not read: the item holding it is
                                // damaged past that event (its list of
                                // events), and how far it goes is unknown.
                                // Parked, not read again forever.
                                Offer::Duplicate => {
                                    return self
                                        .park_unreadable(
                                            id,
                                            event.version,
                                            &event.event_type,
                                            &error,
                                        )
                                        .await
                                }
                                held => return Ok(held),
                            }
                        }
                        _ => {
                            return self
                                .park_unreadable(id, event.version, &event.event_type, &error)
                                .await
                        }
                    },
                    Err(error) => return Err(error.into()),
                };
                if events.last().map(|e| e.version) != Some(event.version) {
                    tracing::warn!(
                        projection = P::NAME,
                        aggregate = %id,
                        version = event.version,
                        "an event of the stream is not in the table; skipped"
                    );
                    return Ok(Offer::NotInTable);
                }
                self.counters
                    .gap_events
                    .fetch_add(events.len() as u64 - 1, Ordering::Relaxed);
                events
            };
            match self.apply_in_order(known, &missing).await? {
                (Step::Done, n) => {
                    self.count_applied(n);
                    return Ok(Offer::Applied { events: n });
                }
                (Step::Parked, n) => {
                    self.count_applied(n);
                    return Ok(Offer::Parked);
                }
                (Step::Conflict, n) => {
                    self.count_applied(n);
                    self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                    self.forget(id);
                    lost += 1;
                    if lost >= self.retry.contention.attempts() {
                        return Err(Error::Contention {
                            projection: P::NAME.to_owned(),
                            aggregate: format!("{}#{id}", event.aggregate_type),
                            version: event.version,
                            conflicts: lost,
                        });
                    }
                    if let Some(wait) = waits.next() {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    /// Passes over event `version` of `id`, which this build cannot read
    /// ([`UnknownEvents::Skip`]): the events before it are applied first,
    /// then its aggregate's position (the view's version, or the position
    /// item of keyed views) moves to it, under the condition that it is at
    /// the version before.
    pub(crate) async fn pass_unreadable(&self, id: &AggregateId, version: u64) -> Result<Offer> {
        // Only lost races count against the policy; offering the events
        // before it is progress, and an offer that made none is the answer.
        let mut lost = 0;
        let mut before_offer: Option<(u64, Offer)> = None;
        loop {
            if self.parking.is_blocked(id) && self.parking.still_blocked(id).await? {
                return Ok(Offer::Waiting);
            }
            let known = self.known(id).await?;
            let applied = known.applied();
            if version <= applied {
                return Ok(Offer::Duplicate);
            }
            if let Some((seen, offer)) = before_offer.take() {
                if seen == applied {
                    return Ok(offer);
                }
            }
            if version > applied + 1 {
                // The events before it, through the usual offer (which
                // passes over unreadable ones in turn).
                let before: std::result::Result<Vec<EventOf<P>>, _> = self
                    .store
                    .events_between(id.clone(), applied + 1..=version - 1)
                    .try_collect()
                    .await;
                let offered = match before {
                    Ok(events) => match events.last() {
                        Some(last) => Box::pin(self.offer(last)).await?,
                        None => return Ok(Offer::NotInTable),
                    },
                    Err(error) => match unreadable_version(&error) {
                        Some(earlier) if earlier < version => {
                            Box::pin(self.pass_unreadable(id, earlier)).await?
                        }
                        _ => return Err(error.into()),
                    },
                };
                before_offer = Some((applied, offered));
                continue;
            }
            let moved = match known {
                Known::View { view, .. } => {
                    let sort = keys::aggregate_view(id);
                    let item = view::encode::<P>(&sort, &view.unwrap_or_default())?;
                    self.views
                        .put_item_raw(keys::key(P::NAME, sort), item)
                        .optimistic_lock(VERSION, version - 1)
                        .write_id(false)
                        .send()
                        .await
                        .map(drop)
                }
                Known::Position { stored, .. } => {
                    let held = view::position_held(stored);
                    self.views
                        .put_item_raw(
                            keys::key(P::NAME, keys::position(id)),
                            view::position_item(version),
                        )
                        .condition(held)
                        .write_id(false)
                        .send()
                        .await
                        .map(drop)
                }
            };
            // Read again either way: the next offer starts from the table.
            self.forget(id);
            match moved {
                Ok(()) => {
                    tracing::warn!(
                        projection = P::NAME,
                        aggregate = %id,
                        version,
                        "an event this build cannot read was passed over"
                    );
                    return Ok(Offer::Skipped);
                }
                Err(e) => match Error::from(e) {
                    e if e.is_conflict() => {
                        self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                        lost += 1;
                        if lost >= self.retry.contention.attempts() {
                            return Err(Error::Contention {
                                projection: P::NAME.to_owned(),
                                aggregate: format!(
                                    "{}#{id}",
                                    <P::Aggregate as dynago_es::Aggregate>::TYPE
                                ),
                                version,
                                conflicts: lost,
                            });
                        }
                    }
                    e => return Err(e),
                },
            }
        }
    }

    /// Parks event `version` of `id`, which cannot be read, or waits behind
    /// one that cannot: its type is unknown to this build (a rolling deploy
    /// whose writers went first), or its item is damaged. The aggregate's
    /// later events wait behind it; the others go on. Replayed once this
    /// build can read it ([`Projector::replay_parked`](crate::Projector::replay_parked)).
    pub(crate) async fn park_unreadable(
        &self,
        id: &AggregateId,
        version: u64,
        event_type: &str,
        error: &(dyn std::fmt::Display + Sync),
    ) -> Result<Offer> {
        self.parking
            .park(id, version, event_type, &error.to_string(), 0)
            .await?;
        self.count_parked();
        tracing::error!(
            projection = P::NAME,
            aggregate = %id,
            version,
            %error,
            "an event that cannot be read is parked: its aggregate's later events wait behind it"
        );
        Ok(Offer::Parked)
    }

    /// Applies `events` (consecutive versions of one aggregate, the first
    /// right after `known`) one by one; how far it got.
    async fn apply_in_order(
        &self,
        mut known: Known<P::View>,
        events: &[EventOf<P>],
    ) -> Result<(Step, u64)> {
        let mut applied = 0;
        for event in events {
            let step = match &mut known {
                Known::View {
                    version,
                    view,
                    bytes,
                } => self.apply_to_own(event, version, view, bytes).await?,
                Known::Position { applied, stored } => {
                    self.apply_keyed(event, applied, stored).await?
                }
            };
            match step {
                Step::Done => {
                    applied += 1;
                    let bytes = known.bytes();
                    lock(&self.known).put(event.aggregate_id.clone(), known.clone(), bytes);
                }
                other => return Ok((other, applied)),
            }
        }
        Ok((Step::Done, applied))
    }

    /// What is known of `id`: from memory, else read strongly.
    async fn known(&self, id: &AggregateId) -> Result<Known<P::View>> {
        if let Some(known) = lock(&self.known).get(id) {
            return Ok(known);
        }
        let known = match P::VIEWS {
            ViewKind::PerAggregate => {
                let sort = keys::aggregate_view(id);
                match self.read(&sort).await? {
                    None => Known::View {
                        version: 0,
                        view: None,
                        bytes: 0,
                    },
                    Some(item) => {
                        let version = view::number_of::<P>(&item, VERSION, &sort)?;
                        let bytes = dynago::item_size(&item);
                        let stored = view::decode::<P>(&self.views, item)?;
                        Known::View {
                            version,
                            view: Some(stored.view),
                            bytes,
                        }
                    }
                }
            }
            ViewKind::Keyed => {
                let sort = keys::position(id);
                let stored = match self.read(&sort).await? {
                    None => 0,
                    Some(item) => view::number_of::<P>(&item, VERSION, &sort)?,
                };
                Known::Position {
                    applied: stored,
                    stored,
                }
            }
        };
        lock(&self.known).put(id.clone(), known.clone(), known.bytes());
        Ok(known)
    }

    async fn read(&self, sort: &str) -> Result<Option<dynago::Item>> {
        Ok(self
            .views
            .get_item(keys::key(P::NAME, sort.to_owned()))
            .consistent_read(true)
            .send_raw()
            .await?)
    }

    /// Runs the handler on a copy of `view`, tried again with backoff; the
    /// changed view, or the error and attempts of its last try.
    async fn handle(
        &self,
        view: &P::View,
        event: &EventOf<P>,
    ) -> std::result::Result<P::View, (P::Error, usize)> {
        let attempts = AtomicU64::new(0);
        let result = (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            let mut changed = view.clone();
            self.projection.apply(&mut changed, event).map(|()| changed)
        })
        .retry(self.retry.handler.delays())
        .notify(|error, delay| {
            tracing::warn!(
                projection = P::NAME,
                aggregate = %event.aggregate_id,
                version = event.version,
                %error,
                ?delay,
                "the handler failed; trying again"
            );
        })
        .await;
        let tries = usize::try_from(attempts.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        result.map_err(|error| (error, tries))
    }

    /// Parks `event` after its handler failed `attempts` times, or its
    /// changed view could not be written (`attempts` 0).
    async fn park(
        &self,
        event: &EventOf<P>,
        error: &(dyn std::fmt::Display + Sync),
        attempts: usize,
    ) -> Result<Step> {
        self.parking
            .park(
                &event.aggregate_id,
                event.version,
                &event.event_type,
                &error.to_string(),
                attempts,
            )
            .await?;
        self.count_parked();
        tracing::error!(
            projection = P::NAME,
            aggregate = %event.aggregate_id,
            version = event.version,
            %error,
            attempts,
            "event parked: its aggregate's later events wait behind it"
        );
        Ok(Step::Parked)
    }

    /// Applies `event` to its aggregate's view, written under the condition
    /// that the view holds the event before it.
    async fn apply_to_own(
        &self,
        event: &EventOf<P>,
        version: &mut u64,
        view: &mut Option<P::View>,
        bytes: &mut usize,
    ) -> Result<Step> {
        let current = view.clone().unwrap_or_default();
        let changed = match self.handle(&current, event).await {
            Ok(changed) => changed,
            Err((error, attempts)) => return self.park(event, &error, attempts).await,
        };
        let sort = keys::aggregate_view(&event.aggregate_id);
        let item = match view::encode::<P>(&sort, &changed) {
            Ok(item) => item,
            Err(error) => return self.park(event, &error, 0).await,
        };
        let size = dynago::item_size(&item);
        let written = self
            .views
            .put_item_raw(keys::key(P::NAME, sort), item)
            .optimistic_lock(VERSION, event.version - 1)
            .write_id(false)
            .send()
            .await;
        match written {
            Ok(_) => {
                *version = event.version;
                *view = Some(changed);
                *bytes = size;
                Ok(Step::Done)
            }
            // A view DynamoDB cannot hold (over 400 KB): this aggregate's
            // data, not the projection's, is at fault.
            Err(e) if e.is_invalid_input() => self.park(event, &e, 0).await,
            Err(e) => match Error::from(e) {
                // Its own write, if it landed, is read back as applied.
                e if e.is_conflict() => Ok(Step::Conflict),
                e => Err(e),
            },
        }
    }

    /// Applies `event` to the view under its key, in one transaction with
    /// its aggregate's position, each under a condition.
    async fn apply_keyed(
        &self,
        event: &EventOf<P>,
        applied: &mut u64,
        stored: &mut u64,
    ) -> Result<Step> {
        let Some(key) = self.projection.view_key(event) else {
            *applied = event.version;
            return Ok(Step::Done);
        };
        let sort = keys::keyed_view(&key);
        let cached = lock(&self.keyed).get(&key);
        let (revision, current) = match cached {
            Some(cached) => cached,
            None => match self.read(&sort).await? {
                None => (0, P::View::default()),
                Some(item) => {
                    let revision = view::number_of::<P>(&item, REVISION, &sort)?;
                    (revision, view::decode::<P>(&self.views, item)?.view)
                }
            },
        };
        let changed = match self.handle(&current, event).await {
            Ok(changed) => changed,
            Err((error, attempts)) => return self.park(event, &error, attempts).await,
        };
        let item = match view::encode::<P>(&sort, &changed) {
            Ok(item) => item,
            Err(error) => return self.park(event, &error, 0).await,
        };
        let size = dynago::item_size(&item);
        let position = keys::position(&event.aggregate_id);
        let held = view::position_held(*stored);
        let written = self
            .views
            .transact_write()
            .put(
                Put::raw(keys::key(P::NAME, sort.clone()), item)
                    .optimistic_lock(REVISION, revision),
            )
            .put(
                Put::raw(
                    keys::key(P::NAME, position),
                    view::position_item(event.version),
                )
                .condition(held),
            )
            .send()
            .await;
        match written {
            Ok(()) => {
                *applied = event.version;
                *stored = event.version;
                lock(&self.keyed).put(key, (revision + 1, changed), size);
                Ok(Step::Done)
            }
            Err(e) => {
                // Whatever became of it, read the view again next time.
                lock(&self.keyed).pop(&key);
                if e.is_invalid_input() {
                    return self.park(event, &e, 0).await;
                }
                match Error::from(e) {
                    e if e.is_conflict() => Ok(Step::Conflict),
                    e => Err(e),
                }
            }
        }
    }

    /// Catches aggregate `id` up with the table: every event after the one
    /// applied, in order. For a replayed parked event.
    pub(crate) async fn catch_up(&self, id: &AggregateId) -> Result<Offer> {
        self.forget(id);
        let known = self.known(id).await?;
        let events: Vec<EventOf<P>> = self
            .store
            .events_between(id.clone(), known.applied() + 1..=u64::MAX)
            .try_collect()
            .await?;
        // Offered in order, each is the next one: read once, here, and not
        // again as a gap.
        let mut applied = 0;
        for event in &events {
            match Box::pin(self.offer(event)).await? {
                Offer::Applied { events } => applied += events,
                // Applied meanwhile by another worker: on to the next.
                Offer::Duplicate => {}
                other => return Ok(other),
            }
        }
        Ok(if applied == 0 {
            Offer::Duplicate
        } else {
            Offer::Applied { events: applied }
        })
    }
}

/// The version of the event item that `error` says cannot be read.
pub(crate) fn unreadable_version(error: &dynago_es::Error) -> Option<u64> {
    match error {
        dynago_es::Error::CorruptEvent { version, .. } if *version > 0 => Some(*version),
        _ => None,
    }
}
