//! Reading events: an aggregate's stream by version range, one item seen
//! outside the store, and the consistent reads of single items.

use dynago::{string_value, Item, Key, Query};
use futures::stream::{Stream, TryStreamExt};

use crate::aggregate::Aggregate;
use crate::envelope::{self, EventEnvelope, Origin};
use crate::error::{Error, Result};
use crate::event_item::Attributes;
use crate::id::AggregateId;
use crate::keys;
use crate::snapshot;
use crate::store::EventStore;

impl<A: Aggregate> EventStore<A> {
    /// The item under `key`, read strongly, counted in `requests`.
    pub(crate) async fn read_consistent(&self, key: Key) -> Result<Option<Item>> {
        Ok(self
            .table()
            .get_item(key)
            .consistent_read(true)
            .send_raw()
            .await?)
    }

    pub(crate) fn events_query(&self, id: &AggregateId, from: u64, to: u64) -> Query {
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
    /// that pages for you (consistent reads). The aggregate is named by its
    /// id as its items hold it, as an event's
    /// [`aggregate_id`](crate::EventEnvelope::aggregate_id) names it (from a
    /// typed id: [`AggregateId::of`]). An item that is not a readable
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
        let from = (*versions.start()).max(1);
        let to = *versions.end();
        let pages = Pages::<A::Event> {
            aggregate: Self::aggregate_name(&id),
            upcasters: self.options().upcasters().clone(),
            origin: self.origin(&id),
            next: from,
            to,
            // A version after the first may lie inside a commit of several
            // events, whose item is keyed by its first: the item holding it
            // is the last one keyed at or before it, read first.
            phase: match (from <= to, from > 1) {
                (false, _) => Phase::Done,
                (true, true) => Phase::Holding(Box::new((
                    self.events_query(&id, 0, from).descending().limit(1),
                    from.checked_add(1)
                        .filter(|after| *after <= to)
                        .map(|after| self.events_query(&id, after, to)),
                ))),
                (true, false) => Phase::After(self.events_query(&id, from, to)),
            },
            _event: std::marker::PhantomData,
        };
        futures::stream::try_unfold(pages, Pages::next_page)
            .map_ok(|events| futures::stream::iter(events.into_iter().map(Ok)))
            .try_flatten()
    }

    /// The version of the last event of `id` (0 for none): one consistent
    /// query of one key, newest first.
    pub(crate) async fn last_version(&self, id: &AggregateId) -> Result<u64> {
        let origin = self.origin(id);
        let sort_key = self.table().sort_key().unwrap_or_default();
        let Some(item) = self.newest_item(id, u64::MAX).await? else {
            return Ok(0);
        };
        let mut attributes = Attributes::take(item, None, Some(sort_key));
        let first = match attributes.sort.take() {
            Some(dynago::AttributeValue::S(sort)) => {
                keys::parse_event_sort(&sort).ok_or_else(|| origin.not_an_event_key(&sort))?
            }
            other => return Err(origin.not_an_event_key(&format!("{other:?}"))),
        };
        let corrupt = |reason: String| Error::CorruptEvent {
            aggregate: Self::aggregate_name(id),
            version: first,
            reason,
        };
        let Some(following) = attributes.following().map_err(corrupt)? else {
            return Ok(first);
        };
        let count = u64::try_from(following.events.len()).unwrap_or(u64::MAX);
        let end = first
            .checked_add(count)
            .ok_or_else(|| corrupt("its events pass the last version there is".to_owned()))?;
        match following.last {
            Some(said) if said != end => Err(corrupt(format!(
                "it says its last version is {said}, but its events end at version {end}"
            ))),
            _ => Ok(end),
        }
    }

    /// The newest event item of `id` keyed at or before version `upto`, whole
    /// (a read unit is charged by the item's size whatever is projected,
    /// and its list of events says where it ends as much as its
    /// `last_version` does); `None` when there is none. One consistent query
    /// of one item, newest first.
    pub(crate) async fn newest_item(&self, id: &AggregateId, upto: u64) -> Result<Option<Item>> {
        let page = self
            .events_query(id, 1, upto)
            .descending()
            .limit(1)
            .send_raw()
            .await?;
        Ok(page.items.into_iter().next())
    }

    /// The state and the version of the last event of the newest item of
    /// `id` at or before `upto`, read as a load would read the item's
    /// events (every check a replay makes, each event decoded and dropped),
    /// the state taken from the item: `Ok(None)` when there is no item, and
    /// `Some((None, last))` when it holds no state.
    pub(crate) async fn newest_state(
        &self,
        id: &AggregateId,
        upto: u64,
    ) -> Result<Option<(Option<A>, u64)>> {
        let Some(mut item) = self.newest_item(id, upto).await? else {
            return Ok(None);
        };
        let mut state: Item = snapshot::COMMIT_ATTRIBUTES
            .iter()
            .filter_map(|name| item.remove_entry(*name))
            .collect();
        let origin = self.origin(id);
        let mut last = None;
        envelope::replay::<A::Event>(
            item,
            &origin,
            self.options().upcasters(),
            0..=u64::MAX,
            |version, _| {
                last = Some(version);
                Ok(())
            },
        )?;
        // An item always holds an event; were none read, its state is not
        // taken (the caller replays), never the empty stream's.
        let Some(last) = last else {
            return Ok(Some((None, 0)));
        };
        let aggregate = Self::aggregate_name(id);
        Ok(Some((
            snapshot::take_from_commit::<A>(&mut state, &aggregate, last),
            last,
        )))
    }

    /// Where the events of `id` are read from.
    pub(crate) fn origin(&self, id: &AggregateId) -> Origin {
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
    ) -> Result<Vec<(EventEnvelope<A::Event>, uuid::Uuid)>> {
        let origin = self.origin(id);
        let upcasters = self.options().upcasters();
        let mut events = Vec::new();
        if from <= to {
            Self::for_each_item(self.events_query(id, from, to), |item| {
                // The last commit may go on past `to`: not read there.
                EventEnvelope::from_item(item, &origin, upcasters, from..=to, |event, commit_id| {
                    events.push((event, commit_id));
                    Ok(())
                })
            })
            .await?;
        }
        Ok(events)
    }

    /// Hands the events `from..=to` of an aggregate to `each` as version
    /// and payload, in order, as the pages arrive; stops at the first
    /// error. Only what a replay needs is fetched and decoded.
    pub(crate) async fn replay(
        &self,
        id: &AggregateId,
        from: u64,
        to: u64,
        mut each: impl FnMut(u64, A::Event) -> Result<()>,
    ) -> Result<()> {
        if from > to {
            return Ok(());
        }
        let origin = self.origin(id);
        let upcasters = self.options().upcasters();
        let query = origin.replay_projection(self.events_query(id, from, to));
        Self::for_each_item(query, |item| {
            // The last commit may go on past `to`: not read there.
            envelope::replay(item, &origin, upcasters, from..=to, &mut each)
        })
        .await
    }

    /// Runs `query` to its last page, handing every item to `each`.
    async fn for_each_item(
        mut query: Query,
        mut each: impl FnMut(Item) -> Result<()>,
    ) -> Result<()> {
        loop {
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

/// The pages of [`EventStore::events_between`]: the item holding its first
/// version, then the items after it.
struct Pages<E> {
    aggregate: String,
    upcasters: crate::upcast::Upcasters,
    origin: Origin,
    /// The version the next event must be.
    next: u64,
    to: u64,
    phase: Phase,
    _event: std::marker::PhantomData<fn() -> E>,
}

enum Phase {
    /// The query of the item holding the first version, newest first, and
    /// the query of the items after it (none after the last version).
    Holding(Box<(Query, Option<Query>)>),
    /// The query of the items from the next one on.
    After(Query),
    /// An item that did not read, after the events before it.
    Failed(Error),
    Done,
}

impl<E: crate::DomainEvent> Pages<E> {
    /// Reads the next page: its events from `next` to `to` in order, or
    /// `None` after the last.
    async fn next_page(mut self) -> Result<Option<(Vec<EventEnvelope<E>>, Self)>> {
        let (query, holding) = match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Failed(error) => return Err(error),
            Phase::Done => return Ok(None),
            Phase::Holding(queries) => {
                let (query, after) = *queries;
                // One item, newest first: never paged on.
                self.phase = after.map_or(Phase::Done, Phase::After);
                (query, true)
            }
            Phase::After(query) => (query, false),
        };
        let page = query.clone().send_raw().await?;
        if !holding {
            self.phase = match page.cursor {
                Some(cursor) => Phase::After(query.cursor(cursor)),
                None => Phase::Done,
            };
        }
        let mut events = Vec::new();
        for item in page.items {
            // The item holding the first version: the events before it are
            // not read. Any other: every event is, and one before the next
            // version expected is a version stored twice.
            let versions = if holding {
                self.next..=self.to
            } else {
                0..=self.to
            };
            let read = EventEnvelope::from_item(
                item,
                &self.origin,
                &self.upcasters,
                versions,
                |event, _| {
                    if event.version != self.next {
                        return Err(Error::VersionGap {
                            aggregate: self.aggregate.clone(),
                            expected: self.next,
                            found: event.version,
                        });
                    }
                    self.next = self.next.saturating_add(1);
                    events.push(event);
                    Ok(())
                },
            );
            if let Err(error) = read {
                // The events before it are handed on first.
                if events.is_empty() {
                    return Err(error);
                }
                self.phase = Phase::Failed(error);
                break;
            }
        }
        Ok(Some((events, self)))
    }
}
