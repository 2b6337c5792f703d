//! The store's item codec, public: an event as the item an append writes,
//! and an item seen outside the store (a stream record, a scan) as an
//! event.

use dynago::{AttributeValue, Item};

use crate::aggregate::Aggregate;
use crate::envelope::{EventEnvelope, Place};
use crate::error::Result;
use crate::event_item::Attributes;
use crate::keys;
use crate::store::EventStore;

impl<A: Aggregate> EventStore<A> {
    /// The item an append writes for `event`: its key, its header
    /// attributes and its payload in the store's
    /// [`PayloadEncoding`](crate::PayloadEncoding), under a fresh commit id.
    /// For tools that write or measure events as the store does; commands
    /// write through [`execute`](Self::execute).
    ///
    /// ```no_run
    /// # async fn run<A: dynago_es::Aggregate>(store: dynago_es::EventStore<A>) -> dynago_es::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let events: Vec<_> = store.events("acc-1", 1).try_collect().await?;
    /// for event in &events {
    ///     let item = store.event_item(event)?;
    ///     let read = store.read_event_item(item)?.unwrap_or_default();
    ///     assert_eq!(read.first().map(|read| read.event_id), Some(event.event_id));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`](crate::Error::Serialize) when the payload or
    /// the metadata does not serialize.
    pub fn event_item(&self, event: &EventEnvelope<A::Event>) -> Result<Item> {
        let mut item = event.to_item(uuid::Uuid::now_v7(), self.options().payload_encoding_of())?;
        let key =
            self.table()
                .key_item(&keys::event(A::TYPE, &event.aggregate_id, event.version))?;
        item.extend(key);
        Ok(item)
    }

    /// The item a command writes for `events`, consecutive versions of one
    /// aggregate decided together: one item however many they are (the
    /// first event's attributes, the others in its `next_events` list), in
    /// the store's [`PayloadEncoding`](crate::PayloadEncoding), under a
    /// fresh commit id. For tools and tests that write commits as the
    /// store does.
    ///
    /// ```no_run
    /// # fn run<A: dynago_es::Aggregate>(store: dynago_es::EventStore<A>, events: Vec<dynago_es::EventEnvelope<A::Event>>) -> dynago_es::Result<()> {
    /// let item = store.commit_item(&events)?;
    /// let read = store.read_event_item(item)?.unwrap_or_default();
    /// assert_eq!(read.len(), events.len());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`](crate::Error::Serialize) when `events` is empty,
    /// or a payload or the metadata does not serialize.
    pub fn commit_item(&self, events: &[EventEnvelope<A::Event>]) -> Result<Item> {
        let mut item = EventEnvelope::commit_item(
            events,
            uuid::Uuid::now_v7(),
            self.options().payload_encoding_of(),
        )?;
        if let Some(first) = events.first() {
            let key =
                self.table()
                    .key_item(&keys::event(A::TYPE, &first.aggregate_id, first.version))?;
            item.extend(key);
        }
        Ok(item)
    }

    /// Reads an item seen outside the store (a stream record's image, a
    /// scanned item) as the events of this aggregate type it holds, in
    /// order (one, or a commit's several), their payloads lifted through
    /// the store's upcasters.
    ///
    /// `Ok(None)` when the item is not an event item of this type: a
    /// snapshot, a command record, an event of another aggregate type, any
    /// item that is not the store's. An item keyed as such an event item
    /// that does not read whole is
    /// [`Error::CorruptEvent`](crate::Error::CorruptEvent), naming the
    /// version of its key (the first of its events) and, in its reason, the
    /// event at fault.
    ///
    /// ```no_run
    /// # fn run<A: dynago_es::Aggregate>(store: dynago_es::EventStore<A>, item: dynago::Item) -> dynago_es::Result<()> {
    /// for event in store.read_event_item(item)?.unwrap_or_default() {
    ///     println!("{}#{} v{}", event.aggregate_type, event.aggregate_id, event.version);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::CorruptEvent`](crate::Error::CorruptEvent) for an item keyed as an event of this type
    /// that is not one, or whose payload does not deserialize.
    pub fn read_event_item(&self, item: Item) -> Result<Option<Vec<EventEnvelope<A::Event>>>> {
        let Some((read, attributes)) = self.event_item_of(item) else {
            return Ok(None);
        };
        let mut events = Vec::with_capacity(read.count);
        read.place()
            .read_each_event(attributes, self.options().upcasters(), |event| {
                events.push(event?);
                Ok(())
            })?;
        Ok(Some(events))
    }

    /// Reads an item seen outside the store as
    /// [`read_event_item`](Self::read_event_item) does, each of its events
    /// on its own: each event, or why it does not read (an event type this
    /// build does not know, a damaged event: an error naming its version),
    /// in order. For readers that go on around an unreadable event, such
    /// as a projection that passes over unknown events. `None` when the
    /// item is not an event item of this type.
    ///
    /// ```no_run
    /// # fn run<A: dynago_es::Aggregate>(store: dynago_es::EventStore<A>, item: dynago::Item) {
    /// if let Some(read) = store.read_item_events(item) {
    ///     for event in read.events {
    ///         match event {
    ///             Ok(event) => println!("v{}", event.version),
    ///             Err(error) => eprintln!("{error}"),
    ///         }
    ///     }
    /// }
    /// # }
    /// ```
    pub fn read_item_events(&self, item: Item) -> Option<ItemEvents<A::Event>> {
        let (read, attributes) = self.event_item_of(item)?;
        let (first_version, count) = (read.first, read.count);
        let mut events = Vec::with_capacity(count);
        if let Err(error) =
            read.place()
                .read_each_event(attributes, self.options().upcasters(), |event| {
                    events.push(event);
                    Ok(())
                })
        {
            events.push(Err(error));
        }
        Some(ItemEvents {
            first_version,
            last_version: first_version
                .saturating_add(u64::try_from(count.saturating_sub(1)).unwrap_or(u64::MAX)),
            events,
        })
    }

    /// The attributes of `item`, and where it belongs, when it is keyed as
    /// an event item of this aggregate type.
    fn event_item_of(&self, item: Item) -> Option<(EventItemOf<'_>, Attributes)> {
        let table = self.table();
        let sort_key = table.sort_key()?;
        let mut attributes = Attributes::take(item, Some(table.partition_key()), Some(sort_key));
        let Some(AttributeValue::S(partition)) = attributes.partition.take() else {
            return None;
        };
        partition
            .strip_prefix(A::TYPE)
            .and_then(|rest| rest.strip_prefix('#'))?;
        let first = match &attributes.sort {
            Some(AttributeValue::S(sort)) => keys::parse_event_sort(sort)?,
            _ => return None,
        };
        let count = usize::try_from(attributes.following_count())
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let of = EventItemOf {
            aggregate_type: A::TYPE,
            partition,
            sort_key,
            first,
            count,
        };
        Some((of, attributes))
    }
}

/// Where an item keyed as an event item of an aggregate type belongs.
struct EventItemOf<'a> {
    aggregate_type: &'static str,
    /// `{type}#{id}`.
    partition: String,
    sort_key: &'a str,
    /// The version of its key.
    first: u64,
    /// How many events it holds.
    count: usize,
}

impl EventItemOf<'_> {
    fn place(&self) -> Place<'_> {
        let id = &self.partition[self.aggregate_type.len() + 1..];
        Place::new(self.aggregate_type, id, self.sort_key)
    }
}

/// The events of an item of the events table, each read on its own
/// ([`EventStore::read_item_events`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct ItemEvents<E> {
    /// The version of the item's first event (its key's).
    pub first_version: u64,
    /// The version of its last event (the first, and one more for each of
    /// the others it lists).
    pub last_version: u64,
    /// Each event in order, or why it does not read
    /// ([`Error::CorruptEvent`](crate::Error::CorruptEvent) or an
    /// upcaster's error, naming its version); last, an error of the item
    /// as a whole, when it has one.
    pub events: Vec<Result<EventEnvelope<E>>>,
}
