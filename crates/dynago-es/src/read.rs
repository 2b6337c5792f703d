//! Reading events: an aggregate's stream by version range, one item seen
//! outside the store, and the consistent reads of single items.

use dynago::{string_value, Item, Key, Query};
use futures::stream::{Stream, StreamExt, TryStreamExt};

use crate::aggregate::Aggregate;
use crate::envelope::{self, EventEnvelope, Origin};
use crate::error::{Error, Result};
use crate::id::AggregateId;
use crate::keys;
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
        let aggregate = Self::aggregate_name(&id);
        let from = (*versions.start()).max(1);
        let to = *versions.end();
        let upcasters = self.options().upcasters().clone();
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

    /// The version of the last event of `id` (0 for none): one consistent
    /// query of one key, newest first.
    pub(crate) async fn last_version(&self, id: &AggregateId) -> Result<u64> {
        let origin = self.origin(id);
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
            let (version, event) = envelope::replay(item, &origin, upcasters)?;
            each(version, event)
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
