//! The aggregate types and projections an explorer shows, behind traits
//! that forget their types: what a page asks of each, as JSON.

use chrono::{DateTime, Utc};
use dynago::Table;
use dynago_es::{Aggregate, AggregateId, EventStore};
use dynago_projections::{LeaseStatus, Offer, ParkedEvent, Projection, Projector, ViewKind, Views};
use futures::future::BoxFuture;
use futures::TryStreamExt;
use serde_json::Value;

use crate::catalog::{Catalog, CatalogEntry, Cataloged};
use crate::error::{Error, Result};

/// One aggregate as listed by its catalog.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) id: String,
    pub(crate) version: u64,
    pub(crate) entry: CatalogEntry,
}

/// The states of an aggregate around a run of events: before the first,
/// then after each.
#[derive(Debug, Clone)]
pub(crate) struct States {
    /// The state before the first event of the run (its version).
    pub(crate) before: (u64, Value),
    /// The state after each event, by version.
    pub(crate) after: Vec<(u64, Value)>,
}

impl States {
    /// The state at `version`, when it is among these.
    pub(crate) fn at(&self, version: u64) -> Option<&(u64, Value)> {
        if version == self.before.0 {
            return Some(&self.before);
        }
        self.after.iter().find(|(v, _)| *v == version)
    }
}

/// A registered aggregate type.
pub(crate) trait AggregateSource: Send + Sync {
    fn aggregate_type(&self) -> &'static str;
    /// Every entry of its catalog.
    fn catalog(&self) -> BoxFuture<'_, Result<Vec<Listed>>>;
    /// The states around events `from..=to` of `id`, folded by the
    /// aggregate from its events alone.
    fn states(&self, id: AggregateId, from: u64, to: u64) -> BoxFuture<'_, Result<States>>;
    /// The state at `version` folded from the events alone.
    fn replayed(&self, id: AggregateId, version: u64) -> BoxFuture<'_, Result<(u64, Value)>>;
}

pub(crate) struct Registered<A: Cataloged> {
    pub(crate) store: EventStore<A>,
    pub(crate) catalog: Views<Catalog<A>>,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Render(e.to_string()))
}

impl<A: Cataloged> AggregateSource for Registered<A> {
    fn aggregate_type(&self) -> &'static str {
        A::TYPE
    }

    fn catalog(&self) -> BoxFuture<'_, Result<Vec<Listed>>> {
        Box::pin(async move {
            let mut listed = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = self.catalog.list(cursor.as_deref(), 1000).await?;
                listed.extend(page.views.into_iter().map(|stored| Listed {
                    id: stored.key,
                    version: stored.version,
                    entry: stored.view,
                }));
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => return Ok(listed),
                }
            }
        })
    }

    fn states(&self, id: AggregateId, from: u64, to: u64) -> BoxFuture<'_, Result<States>> {
        Box::pin(async move {
            // From the events alone: what the state is, whatever a snapshot
            // holds (the snapshot is checked against it, not trusted).
            let start = from.saturating_sub(1);
            let loaded = self.store.replay_at(id.clone(), start).await?;
            if loaded.version != start {
                return Err(Error::Unfoldable(format!(
                    "the events stop at version {} before version {start}",
                    loaded.version
                )));
            }
            let mut state: A = loaded.state;
            let before = (loaded.version, to_json(&state)?);
            let events: Vec<_> = Box::pin(
                self.store
                    .events_between(id, from.max(1)..=to)
                    .try_collect::<Vec<_>>(),
            )
            .await?;
            let mut after = Vec::with_capacity(events.len());
            for event in &events {
                state.apply(&event.payload);
                after.push((event.version, to_json(&state)?));
            }
            Ok(States { before, after })
        })
    }

    fn replayed(&self, id: AggregateId, version: u64) -> BoxFuture<'_, Result<(u64, Value)>> {
        Box::pin(async move {
            let loaded = self.store.replay_at(id, version).await?;
            Ok((loaded.version, to_json(&loaded.state)?))
        })
    }
}

/// One view as stored.
#[derive(Debug, Clone)]
pub(crate) struct ShownView {
    pub(crate) key: String,
    pub(crate) view: Value,
    pub(crate) version: u64,
    pub(crate) updated_at: Option<DateTime<Utc>>,
}

/// A registered projection.
pub(crate) trait ProjectionSource: Send + Sync {
    fn name(&self) -> &'static str;
    fn aggregate_type(&self) -> &'static str;
    fn keyed(&self) -> bool;
    fn leases(&self) -> BoxFuture<'_, Result<Vec<LeaseStatus>>>;
    fn parked(&self) -> BoxFuture<'_, Result<Vec<ParkedEvent>>>;
    /// Replays the parked events of `id`; what became of them.
    fn replay(&self, id: AggregateId) -> BoxFuture<'_, Result<String>>;
    /// The view under `key` (an aggregate id for per-aggregate views).
    fn view(&self, key: String) -> BoxFuture<'_, Result<Option<ShownView>>>;
    /// A page of its views, in key order.
    fn views(
        &self,
        cursor: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<(Vec<ShownView>, Option<String>)>>;
}

fn shown<V: serde::Serialize>(stored: dynago_projections::StoredView<V>) -> Result<ShownView> {
    Ok(ShownView {
        view: to_json(&stored.view)?,
        key: stored.key,
        version: stored.version,
        updated_at: stored.updated_at,
    })
}

/// What a replay's offer says, in words.
fn offer_text(offer: &Offer) -> String {
    match offer {
        Offer::Applied { events } => format!("applied: {events} event(s) caught up"),
        Offer::Duplicate => "nothing to do: already applied".to_owned(),
        Offer::Parked => "parked again: its handler still fails".to_owned(),
        Offer::Waiting => "waiting behind an earlier parked event".to_owned(),
        other => format!("{other:?}"),
    }
}

impl<P: Projection> ProjectionSource for Projector<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn aggregate_type(&self) -> &'static str {
        P::Aggregate::TYPE
    }

    fn keyed(&self) -> bool {
        P::VIEWS == ViewKind::Keyed
    }

    fn leases(&self) -> BoxFuture<'_, Result<Vec<LeaseStatus>>> {
        Box::pin(async move { Ok(Projector::leases(self).await?) })
    }

    fn parked(&self) -> BoxFuture<'_, Result<Vec<ParkedEvent>>> {
        Box::pin(async move { Ok(Projector::parked(self).await?) })
    }

    fn replay(&self, id: AggregateId) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move { Ok(offer_text(&self.replay_parked(id).await?)) })
    }

    fn view(&self, key: String) -> BoxFuture<'_, Result<Option<ShownView>>> {
        Box::pin(async move {
            let views = self.views();
            let stored = if P::VIEWS == ViewKind::Keyed {
                views.get_keyed(&key).await?
            } else {
                views.get(key).await?
            };
            stored.map(shown).transpose()
        })
    }

    fn views(
        &self,
        cursor: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<(Vec<ShownView>, Option<String>)>> {
        Box::pin(async move {
            let page = Projector::views(self)
                .list(cursor.as_deref(), limit)
                .await?;
            let views = page.views.into_iter().map(shown).collect::<Result<_>>()?;
            Ok((views, page.cursor))
        })
    }
}

/// The catalog views of `A` in `table`.
pub(crate) fn catalog_views<A: Cataloged>(table: Table) -> Result<Views<Catalog<A>>> {
    Ok(Views::new(table)?)
}
