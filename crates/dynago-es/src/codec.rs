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
    ///     let read = store.read_event_item(item)?;
    ///     assert_eq!(read.map(|read| read.event_id), Some(event.event_id));
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

    /// Reads an item seen outside the store (a stream record's image, a
    /// scanned item) as an event of this aggregate type, its payload lifted
    /// through the store's upcasters.
    ///
    /// `Ok(None)` when the item is not an event of this type: a snapshot, a
    /// command record, an event of another aggregate type, any item that is
    /// not the store's. An item keyed as such an event that does not read as
    /// one is [`Error::CorruptEvent`](crate::Error::CorruptEvent).
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
    /// [`Error::CorruptEvent`](crate::Error::CorruptEvent) for an item keyed as an event of this type
    /// that is not one, or whose payload does not deserialize.
    pub fn read_event_item(&self, item: Item) -> Result<Option<EventEnvelope<A::Event>>> {
        let table = self.table();
        let Some(sort_key) = table.sort_key() else {
            return Ok(None);
        };
        let mut attributes = Attributes::take(item, Some(table.partition_key()), Some(sort_key));
        let Some(AttributeValue::S(partition)) = attributes.partition.take() else {
            return Ok(None);
        };
        let Some(id) = partition
            .strip_prefix(A::TYPE)
            .and_then(|rest| rest.strip_prefix('#'))
        else {
            return Ok(None);
        };
        match &attributes.sort {
            Some(AttributeValue::S(sort)) if keys::parse_event_sort(sort).is_some() => {}
            _ => return Ok(None),
        }
        let place = Place::new(A::TYPE, id, sort_key);
        let (event, _) = place.read_event(attributes, self.options().upcasters())?;
        Ok(Some(event))
    }
}
