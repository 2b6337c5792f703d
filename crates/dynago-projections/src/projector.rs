//! The projector: one projection, its views, and what feeds it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dynago::Table;
use dynago_es::{AggregateId, EventStore};

use crate::apply::{Applier, Offer, Retries};
use crate::error::{Error, Result};
use crate::fence::Fence;
use crate::keys;
use crate::options::ProjectorOptions;
use crate::parked::ParkedEvent;
use crate::projection::{EventOf, Projection, UnknownEvents};
use crate::status::{ShardStatus, Status};
use crate::view::Views;

/// Keeps the views of projection `P` up to date with the events of
/// `P::Aggregate`: from the table's stream ([`run`](Self::run)), from
/// events handed to it ([`apply`](Self::apply), for a Lambda function on
/// the stream), or from the table itself ([`rebuild`](Self::rebuild)).
/// Cheap to clone; clones share their state.
///
/// Each event is applied once, in its aggregate's version order, whatever
/// the stream delivers: an event at or below the version applied is
/// skipped, one past a gap waits while the missing events are read from the
/// table (a consistent query) and applied first.
///
/// ```no_run
/// # async fn run<P: dynago_projections::Projection + Default>(
/// #     store: dynago_es::EventStore<P::Aggregate>,
/// #     views: dynago::Table,
/// #     stream: dynago_projections::EventStream,
/// # ) -> dynago_projections::Result<()> {
/// use dynago_projections::{Projector, ProjectorOptions};
///
/// let projector = Projector::new(P::default(), store, views, ProjectorOptions::default())?;
/// // Until the future completes: `tokio::signal::ctrl_c()`, say.
/// projector.run(&stream, std::future::pending::<()>()).await?;
/// # Ok(())
/// # }
/// ```
pub struct Projector<P: Projection> {
    pub(crate) inner: Arc<Inner<P>>,
}

pub(crate) struct Inner<P: Projection> {
    pub(crate) applier: Applier<P>,
    pub(crate) options: ProjectorOptions,
    pub(crate) status: Mutex<Status>,
}

impl<P: Projection> Clone for Projector<P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P: Projection> std::fmt::Debug for Projector<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("projection", &P::NAME)
            .field("views", &self.inner.applier.views().name())
            .field("worker", &self.inner.options.worker)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<P: Projection> Projector<P> {
    /// A projector of `projection` that reads events through `store` and
    /// keeps views in `views` (a table with string partition and sort
    /// keys; it may be the events table, but a table of its own keeps the
    /// view writes out of the events' stream).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `P::NAME` is not usable or `views` has no
    /// sort key.
    pub fn new(
        projection: P,
        store: EventStore<P::Aggregate>,
        views: Table,
        options: ProjectorOptions,
    ) -> Result<Self> {
        keys::check_name(P::NAME).map_err(Error::Config)?;
        if views.sort_key().is_none() {
            return Err(Error::Config(format!(
                "the view table `{}` needs a sort key",
                views.name()
            )));
        }
        let applier = Applier::new(
            Arc::new(projection),
            store,
            views,
            options.cache,
            options.cache_bytes,
            Retries {
                handler: options.handler_retry,
                contention: options.contention_retry,
            },
        );
        let status = Status {
            worker: options.worker.clone(),
            ..Status::default()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                applier,
                options,
                status: Mutex::new(status),
            }),
        })
    }

    /// The views this projector writes, to read them.
    pub fn views(&self) -> Views<P> {
        Views::new_unchecked(self.inner.applier.views().clone())
    }

    /// Applies `event` as the stream reader would: in order, exactly once,
    /// gaps filled from the table, a failing event parked. The event must
    /// be one the events table holds (read from its stream, a Lambda's
    /// batch, or the table): the one right after the version applied is
    /// applied as given, without reading it again.
    ///
    /// # Errors
    ///
    /// A read or write that failed ([`Error::is_retryable`] says whether it
    /// may be offered again; nothing is half-applied).
    pub async fn apply(&self, event: &EventOf<P>) -> Result<Offer> {
        // Boxed: the future of an offer is deep (reads, gap fills, writes).
        Box::pin(self.inner.applier.offer(event)).await
    }

    /// Reads an item of the events table (a stream record's new image, a
    /// scanned item) and applies it if it is an event of `P::Aggregate`;
    /// `None` for any other item (a snapshot, a command record).
    ///
    /// An item keyed as an event of `P::Aggregate` that does not read as
    /// one (an event type this build does not know yet, a damaged item) is
    /// parked with the reason, like an event whose handler fails: its
    /// aggregate's later events wait behind it, and every other aggregate
    /// goes on (`Some(Offer::Parked)`).
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply).
    pub async fn apply_item(&self, item: dynago::Item) -> Result<Option<Offer>> {
        match self.read_item(item)? {
            Some(events) => self.apply_event_items(&events).await.map(Some),
            None => Ok(None),
        }
    }

    /// Reads an item of the events table: its events (one, or a commit's
    /// several, in order), each read or not; `None` for any other item
    /// than one keyed as an event item of `P::Aggregate`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when an event of the item does not read and names
    /// no version of an aggregate to park it at.
    pub(crate) fn read_item(&self, item: dynago::Item) -> Result<Option<Vec<EventItem<P>>>> {
        let event_types = event_types(&item);
        let Some(read) = self.inner.applier.store().read_item_events(item) else {
            return Ok(None);
        };
        let first = read.first_version;
        let mut events = Vec::with_capacity(read.events.len());
        for event in read.events {
            events.push(match event {
                Ok(event) => EventItem::Read(event),
                Err(error) => match unreadable::<P>(&error) {
                    Some((id, version)) => EventItem::Unreadable {
                        id,
                        version,
                        event_type: version
                            .checked_sub(first)
                            .and_then(|index| usize::try_from(index).ok())
                            .and_then(|index| event_types.get(index).cloned().flatten()),
                        error,
                    },
                    None => return Err(error.into()),
                },
            });
        }
        Ok(Some(events))
    }

    /// Applies the events of an item read by [`read_item`](Self::read_item)
    /// in order, each as a record of its own would be: one that cannot be
    /// read is passed over or parked ([`Projection::UNKNOWN_EVENTS`]), and
    /// then the events after it wait behind it, or are applied.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply).
    pub(crate) async fn apply_event_items(&self, events: &[EventItem<P>]) -> Result<Offer> {
        let mut offer = Offer::Duplicate;
        for event in events {
            offer = offer.then(self.apply_event_item(event).await?);
        }
        Ok(offer)
    }

    /// Applies one event of an item read by [`read_item`](Self::read_item).
    async fn apply_event_item(&self, event: &EventItem<P>) -> Result<Offer> {
        let applier = &self.inner.applier;
        match event {
            EventItem::Read(event) => self.apply(event).await,
            EventItem::Unreadable { id, version, .. }
                if P::UNKNOWN_EVENTS == UnknownEvents::Skip =>
            {
                Box::pin(applier.pass_unreadable(id, *version)).await
            }
            EventItem::Unreadable {
                id,
                version,
                event_type,
                error,
            } => {
                let event_type = event_type.as_deref().unwrap_or("?");
                Box::pin(applier.park_unreadable(id, *version, event_type, error)).await
            }
        }
    }

    /// Every parked event of this projection, read strongly.
    ///
    /// # Errors
    ///
    /// [`Error::Table`] when the query fails.
    pub async fn parked(&self) -> Result<Vec<ParkedEvent>> {
        self.inner.applier.parking.list().await
    }

    /// Reads which aggregates are parked: another process may have parked
    /// or replayed some since.
    ///
    /// # Errors
    ///
    /// [`Error::Table`] when the query fails.
    pub(crate) async fn refresh_parked(&self) -> Result<()> {
        self.inner.applier.parking.list().await.map(drop)
    }

    /// Replays aggregate `id` after its parked events (once the handler is
    /// fixed): they are removed, and every event after the last applied is
    /// read from the table and applied in order, parking again what still
    /// fails.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply).
    pub async fn replay_parked(&self, id: impl Into<AggregateId>) -> Result<Offer> {
        let id = id.into();
        Box::pin(async move {
            self.inner.applier.parking.release(&id).await?;
            self.inner.applier.catch_up(&id).await
        })
        .await
    }

    /// The options it runs with.
    pub(crate) fn options(&self) -> &ProjectorOptions {
        &self.inner.options
    }

    /// The table its views, leases, fence and parked events are kept in.
    pub(crate) fn views_table(&self) -> &Table {
        self.inner.applier.views()
    }

    /// Reads the projection's fence, and notes its generation: after a
    /// reset, everything remembered of the views is forgotten.
    ///
    /// # Errors
    ///
    /// [`Error::Table`] when the read fails.
    pub(crate) async fn fence(&self) -> Result<Fence> {
        let fence = crate::fence::read(self.views_table(), P::NAME).await?;
        self.inner.applier.observe(fence.generation);
        Ok(fence)
    }

    /// Shows the progress of the shards it reads in its status.
    pub(crate) fn show_shards(&self, shards: Vec<ShardStatus>) {
        lock(&self.inner.status).shards = shards;
    }

    /// Shows why it stopped in its status.
    pub(crate) fn show_stopped(&self, why: String) {
        lock(&self.inner.status).stopped = Some(why);
    }

    /// The leases of this projection's shards as stored, with what their
    /// holders last wrote of their progress: for a page that watches workers
    /// in other processes. One strongly consistent query of the projection's
    /// lease items.
    ///
    /// ```no_run
    /// # async fn run<P: dynago_projections::Projection>(projector: dynago_projections::Projector<P>) -> dynago_projections::Result<()> {
    /// let held = projector.leases().await?.iter().filter(|l| l.owner.is_some()).count();
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A read that failed, or a lease item that is not one.
    pub async fn leases(&self) -> Result<Vec<crate::LeaseStatus>> {
        let leases = crate::lease::read_all(self.views().table(), P::NAME).await?;
        Ok(leases.into_iter().map(Into::into).collect())
    }

    /// What this projector did and where its shards are.
    pub fn status(&self) -> Status {
        let counters = &self.inner.applier.counters;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        Status {
            applied: load(&counters.applied),
            duplicates: load(&counters.duplicates),
            parked: load(&counters.parked),
            gap_events: load(&counters.gap_events),
            conflicts: load(&counters.conflicts),
            ..lock(&self.inner.status).clone()
        }
    }
}

/// An event of an item of the events table keyed as an event item of
/// `P::Aggregate`.
pub(crate) enum EventItem<P: Projection> {
    /// The event, read.
    Read(EventOf<P>),
    /// Event `version` of `id`, which does not read as one: an event type
    /// this build does not know yet, a damaged item.
    Unreadable {
        id: AggregateId,
        version: u64,
        /// Its type, as its item names it.
        event_type: Option<String>,
        error: dynago_es::Error,
    },
}

#[cfg(feature = "lambda")]
impl<P: Projection> EventItem<P> {
    /// The aggregate it belongs to.
    pub(crate) fn aggregate_id(&self) -> &AggregateId {
        match self {
            Self::Read(event) => &event.aggregate_id,
            Self::Unreadable { id, .. } => id,
        }
    }

    /// Its version.
    pub(crate) fn version(&self) -> u64 {
        match self {
            Self::Read(event) => event.version,
            Self::Unreadable { version, .. } => *version,
        }
    }
}

/// The event types an event item names, its first event's and then each
/// listed one's, where it names one.
fn event_types(item: &dynago::Item) -> Vec<Option<String>> {
    let named = |attributes: &dynago::Item| match attributes.get("event_type") {
        Some(dynago::AttributeValue::S(event_type)) => Some(event_type.clone()),
        _ => None,
    };
    let mut types = vec![named(item)];
    if let Some(dynago::AttributeValue::L(next)) = item.get("next_events") {
        types.extend(next.iter().map(|event| match event {
            dynago::AttributeValue::M(event) => named(event),
            _ => None,
        }));
    }
    types
}

/// The aggregate and version of an event item that does not read as an
/// event of `P::Aggregate`.
fn unreadable<P: Projection>(error: &dynago_es::Error) -> Option<(AggregateId, u64)> {
    match error {
        dynago_es::Error::CorruptEvent {
            aggregate, version, ..
        } if *version > 0 => {
            let id = aggregate
                .strip_prefix(<P::Aggregate as dynago_es::Aggregate>::TYPE)?
                .strip_prefix('#')?;
            Some((AggregateId::new(id), *version))
        }
        _ => None,
    }
}
