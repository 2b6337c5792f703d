//! The projector: one projection, its views, and what feeds it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dynago::Table;
use dynago_es::{AggregateId, EventStore};

use crate::apply::{Applier, HandlerRetry, Offer};
use crate::error::{Error, Result};
use crate::keys;
use crate::options::ProjectorOptions;
use crate::parked::ParkedEvent;
use crate::projection::{EventOf, Projection, UnknownEvents};
use crate::status::Status;
use crate::stream::EventStream;
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
/// let projector = Projector::new(P::default(), store, views, ProjectorOptions::default())?
///     .with_stream(stream);
/// // Until the future completes: `tokio::signal::ctrl_c()`, say.
/// projector.run(std::future::pending::<()>()).await?;
/// # Ok(())
/// # }
/// ```
pub struct Projector<P: Projection> {
    pub(crate) inner: Arc<Inner<P>>,
}

pub(crate) struct Inner<P: Projection> {
    pub(crate) applier: Applier<P>,
    pub(crate) stream: Mutex<Option<EventStream>>,
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
            HandlerRetry {
                attempts: options.handler_attempts,
                delay: options.handler_delay,
            },
        );
        let status = Status {
            worker: options.worker.clone(),
            ..Status::default()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                applier,
                stream: Mutex::new(None),
                options,
                status: Mutex::new(status),
            }),
        })
    }

    /// Reads the events from `stream` when [`run`](Self::run) (clones
    /// share it).
    #[must_use]
    pub fn with_stream(self, stream: EventStream) -> Self {
        *lock(&self.inner.stream) = Some(stream);
        self
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
        let applier = &self.inner.applier;
        let event_type = match item.get("event_type") {
            Some(dynago::AttributeValue::S(event_type)) => event_type.clone(),
            _ => "?".to_owned(),
        };
        match applier.store().read_event_item(item) {
            Ok(None) => Ok(None),
            Ok(Some(event)) => self.apply(&event).await.map(Some),
            Err(error) => match unreadable::<P>(&error) {
                Some((id, version)) if P::UNKNOWN_EVENTS == UnknownEvents::Skip => {
                    Box::pin(applier.pass_unreadable(&id, version))
                        .await
                        .map(Some)
                }
                Some((id, version)) => {
                    Box::pin(applier.park_unreadable(&id, version, &event_type, &error))
                        .await
                        .map(Some)
                }
                None => Err(error.into()),
            },
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
