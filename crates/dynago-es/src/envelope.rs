//! Stored events: the envelope around a payload, and its item form.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use dynago::{AttributeValue, Item};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::DomainEvent;
use crate::error::{Error, Result};
use crate::event_item::{self, Attributes, LAST_VERSION, NEXT_EVENTS};
use crate::id::AggregateId;
use crate::keys;
use crate::payload::{self, PayloadEncoding, PAYLOAD, PAYLOAD_JSON};
use crate::upcast::Upcasters;

/// Who and what caused an event: correlation and causation ids, the command
/// id, and free key/values.
///
/// ```
/// use dynago_es::Metadata;
/// let metadata = Metadata::default()
///     .correlation_id("req-17")
///     .with("user", "ada");
/// assert_eq!(metadata.extra["user"], "ada");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// The id shared by everything one request caused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The id of the message that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// The id of the command that produced the event, if it carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
    /// Free key/values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl Metadata {
    /// Sets the correlation id.
    #[must_use]
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the causation id.
    #[must_use]
    pub fn causation_id(mut self, id: impl Into<String>) -> Self {
        self.causation_id = Some(id.into());
        self
    }

    /// Adds a free key/value.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Nothing is set: such metadata is not stored at all.
    ///
    /// ```
    /// use dynago_es::Metadata;
    /// assert!(Metadata::default().is_empty());
    /// assert!(!Metadata::default().with("user", "ada").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One stored event with everything known about it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EventEnvelope<E> {
    /// The aggregate type.
    pub aggregate_type: String,
    /// The aggregate.
    pub aggregate_id: AggregateId,
    /// The event's place in the aggregate's stream: 1, 2, 3, ...
    pub version: u64,
    /// The event's unique id (a UUID v7).
    pub event_id: Uuid,
    /// The event type's name.
    pub event_type: String,
    /// The schema version of the payload as stored (before upcasting).
    pub schema_version: u32,
    /// When it was stored.
    pub timestamp: DateTime<Utc>,
    /// Who and what caused it.
    pub metadata: Metadata,
    /// The event.
    pub payload: E,
}

/// An event item's attributes, all but the payload.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventHeader {
    pub(crate) aggregate_type: String,
    pub(crate) aggregate_id: AggregateId,
    pub(crate) version: u64,
    pub(crate) event_id: Uuid,
    pub(crate) event_type: String,
    pub(crate) schema_version: u32,
    pub(crate) timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub(crate) metadata: Metadata,
    /// The id of the append that wrote the event.
    pub(crate) commit_id: Uuid,
}

impl EventHeader {
    /// The header of an event item, read as a load reads it, its key and
    /// payload left aside.
    pub(crate) fn from_item(item: Item) -> std::result::Result<Self, String> {
        Self::from_attributes(&mut Attributes::take(item, None, None))
    }

    /// Decodes the header attributes of an event item, in the order of
    /// the header's fields.
    pub(crate) fn from_attributes(item: &mut Attributes) -> std::result::Result<Self, String> {
        // Struct fields are evaluated in the order written: the header's.
        Ok(Self {
            aggregate_type: item.aggregate_type()?,
            aggregate_id: AggregateId::new(item.aggregate_id()?),
            version: item.version()?,
            event_id: item.event_id()?,
            event_type: item.event_type()?,
            schema_version: item.schema_version()?,
            timestamp: item.timestamp()?,
            // Left out when empty; missing and NULL read as empty.
            metadata: item.metadata()?,
            commit_id: item.commit_id()?,
        })
    }
}

/// What replaying an event needs of its header: the attributes checked
/// against the key and the stream, and those that say how to read the
/// payload. The ids, timestamp and metadata are not even fetched.
struct ReplayHeader {
    aggregate_type: String,
    aggregate_id: String,
    version: u64,
    event_type: String,
    schema_version: u32,
}

impl ReplayHeader {
    /// The attributes a replay fetches, the payload included (in either
    /// form).
    const ATTRIBUTES: [&'static str; 9] = [
        "aggregate_type",
        "aggregate_id",
        "version",
        "event_type",
        "schema_version",
        PAYLOAD,
        PAYLOAD_JSON,
        NEXT_EVENTS,
        LAST_VERSION,
    ];
}

/// The stream an event item is read from: what its key and header must say.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The aggregate type.
    aggregate_type: &'static str,
    /// The aggregate.
    id: AggregateId,
    /// The name of the table's sort key attribute.
    sort_key: String,
}

/// An [`Origin`] borrowed: the stream an item is read from, for one item
/// seen outside a load as for every item of one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    aggregate_type: &'a str,
    id: &'a str,
    sort_key: &'a str,
}

/// The header attributes an event item is read with.
trait Header: Sized {
    fn from_attributes(item: &mut Attributes) -> std::result::Result<Self, String>;
    /// What the header says of the event.
    fn said(&self) -> Said<'_>;
}

/// What a header says of its event: which one it is, and how to read its
/// payload.
struct Said<'a> {
    version: u64,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    event_type: &'a str,
    schema_version: u32,
}

impl Header for EventHeader {
    fn from_attributes(item: &mut Attributes) -> std::result::Result<Self, String> {
        EventHeader::from_attributes(item)
    }
    fn said(&self) -> Said<'_> {
        Said {
            version: self.version,
            aggregate_type: &self.aggregate_type,
            aggregate_id: self.aggregate_id.as_str(),
            event_type: &self.event_type,
            schema_version: self.schema_version,
        }
    }
}

impl Header for ReplayHeader {
    fn from_attributes(item: &mut Attributes) -> std::result::Result<Self, String> {
        Ok(Self {
            aggregate_type: item.aggregate_type()?,
            aggregate_id: item.aggregate_id()?,
            version: item.version()?,
            event_type: item.event_type()?,
            schema_version: item.schema_version()?,
        })
    }
    fn said(&self) -> Said<'_> {
        Said {
            version: self.version,
            aggregate_type: &self.aggregate_type,
            aggregate_id: &self.aggregate_id,
            event_type: &self.event_type,
            schema_version: self.schema_version,
        }
    }
}

impl Origin {
    pub(crate) fn new(aggregate_type: &'static str, id: AggregateId, sort_key: String) -> Self {
        Self {
            aggregate_type,
            id,
            sort_key,
        }
    }

    fn place(&self) -> Place<'_> {
        Place {
            aggregate_type: self.aggregate_type,
            id: self.id.as_str(),
            sort_key: &self.sort_key,
        }
    }

    /// The error for an item among the events whose sort key `sort` is not
    /// an event key.
    pub(crate) fn not_an_event_key(&self, sort: &str) -> Error {
        self.place().not_an_event_key(sort)
    }

    /// Limits `query` to the attributes [`replay`] reads.
    pub(crate) fn replay_projection(&self, mut query: dynago::Query) -> dynago::Query {
        let mut projection = String::from("#rsk");
        query = query.name("#rsk", &self.sort_key);
        for (n, attribute) in ReplayHeader::ATTRIBUTES.iter().enumerate() {
            let placeholder = format!("#r{n}");
            projection.push_str(", ");
            projection.push_str(&placeholder);
            query = query.name(placeholder, *attribute);
        }
        query.projection(projection)
    }

    /// Reads an event item of this stream, each of its events in order
    /// (see `Place::read_each`).
    fn read_each<H: Header, E: DomainEvent>(
        &self,
        item: Item,
        upcasters: &Upcasters,
        versions: RangeInclusive<u64>,
        each: impl FnMut(u64, H, E) -> Result<()>,
    ) -> Result<()> {
        let attributes = Attributes::take(item, None, Some(&self.sort_key));
        self.place()
            .read_each(attributes, upcasters, versions, each)
    }
}

/// The stream's name, `{type}#{id}`, as errors name it.
impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.aggregate_type, self.id)
    }
}

impl<'a> Place<'a> {
    /// The stream of the aggregate `aggregate_type`/`id`, in a table whose
    /// sort key attribute is `sort_key`.
    pub(crate) fn new(aggregate_type: &'a str, id: &'a str, sort_key: &'a str) -> Self {
        Self {
            aggregate_type,
            id,
            sort_key,
        }
    }

    fn corrupt(&self, version: u64, reason: String) -> Error {
        Error::CorruptEvent {
            aggregate: self.to_string(),
            version,
            reason,
        }
    }

    fn not_an_event_key(&self, sort: &str) -> Error {
        self.corrupt(
            0,
            format!("the item with sort key {sort:?} is among the events but its key is not an event key (`e#` and 20 digits)"),
        )
    }

    /// Reads the attributes of an event item of this stream, handing each
    /// of its events (or why it does not read) to `each` in order, until
    /// `each` fails (see [`read_every`](Self::read_every)); an error of the
    /// item as a whole is returned.
    pub(crate) fn read_each_event<E: DomainEvent>(
        &self,
        item: Attributes,
        upcasters: &Upcasters,
        mut each: impl FnMut(Result<EventEnvelope<E>>) -> Result<()>,
    ) -> Result<()> {
        self.read_every::<EventHeader, E>(item, upcasters, 0..=u64::MAX, |_, read| {
            each(read.map(|(header, payload)| EventEnvelope::from_parts(header, payload).0))
        })
    }

    /// Reads the attributes of an event item of this stream: for each of
    /// its events in order (one, or a commit's several), its version, its
    /// header and its payload, lifted through `upcasters`, handed to `each`.
    ///
    /// Every check names the aggregate and the version (taken from the sort
    /// key and the event's place in the item, since the item's own
    /// attributes may be what is wrong): the sort key must be an event key,
    /// each header must decode and agree with the key, the stream and its
    /// place in the commit, and each payload must deserialize. The events
    /// are handed on in order as they are read: an event that fails stops
    /// the reading there; the events of the item outside `versions` are not
    /// read at all.
    fn read_each<H: Header, E: DomainEvent>(
        &self,
        item: Attributes,
        upcasters: &Upcasters,
        versions: RangeInclusive<u64>,
        mut each: impl FnMut(u64, H, E) -> Result<()>,
    ) -> Result<()> {
        self.read_every::<H, E>(item, upcasters, versions, |version, read| {
            let (header, event) = read?;
            each(version, header, event)
        })
    }

    /// As [`read_each`](Self::read_each), each event's reading (or its
    /// error) handed to `each`, which decides whether to go on: the events
    /// of a commit are read one by one, from their own attributes and those
    /// they share with the first. An error of the item as a whole (its key,
    /// its list of events) is returned.
    fn read_every<H: Header, E: DomainEvent>(
        &self,
        mut item: Attributes,
        upcasters: &Upcasters,
        versions: RangeInclusive<u64>,
        mut each: impl FnMut(u64, Result<(H, E)>) -> Result<()>,
    ) -> Result<()> {
        let sort = match item.sort.take() {
            Some(AttributeValue::S(sort)) => sort,
            other => {
                return Err(self.corrupt(
                    0,
                    format!(
                        "an item among the events has no string sort key `{}` ({other:?})",
                        self.sort_key
                    ),
                ))
            }
        };
        let version = keys::parse_event_sort(&sort).ok_or_else(|| self.not_an_event_key(&sort))?;
        let following = item.following().map_err(|e| {
            self.corrupt(
                version,
                format!("the item with sort key {sort:?} is not an event: {e}"),
            )
        })?;
        if versions.contains(&version) {
            let read = self.read_one::<H, E>(&mut item, version, &sort, upcasters, |r| {
                self.corrupt(version, r)
            });
            each(version, read)?;
        }
        let Some(following) = following else {
            return Ok(());
        };
        let said_last = following.last;
        let mut at = version;
        for mut next in following.events {
            at = at.checked_add(1).ok_or_else(|| {
                self.corrupt(
                    version,
                    "its events pass the last version there is".to_owned(),
                )
            })?;
            if at > *versions.end() {
                return Ok(());
            }
            if at < *versions.start() {
                continue;
            }
            let read = self.read_one::<H, E>(&mut next, at, &sort, upcasters, |r| {
                self.corrupt(
                    at,
                    format!("in the commit at sort key {sort:?}, the event at version {at}: {r}"),
                )
            });
            each(at, read)?;
        }
        match said_last {
            Some(said) if said != at => Err(self.corrupt(
                version,
                format!("the item with sort key {sort:?} says its last version is {said}, but its events end at version {at}"),
            )),
            _ => Ok(()),
        }
    }

    /// Reads one event of an item, which must be version `version`, each
    /// fault told through `fail`.
    fn read_one<H: Header, E: DomainEvent>(
        &self,
        item: &mut Attributes,
        version: u64,
        sort: &str,
        upcasters: &Upcasters,
        fail: impl Fn(String) -> Error,
    ) -> Result<(H, E)> {
        let payload = item.payload();
        let header = H::from_attributes(item).map_err(|e| {
            fail(format!(
                "the item with sort key {sort:?} is not an event: {e}"
            ))
        })?;
        let said = header.said();
        if said.version != version {
            return Err(fail(format!(
                "the item with sort key {sort:?} says it is version {}",
                said.version
            )));
        }
        if said.aggregate_type != self.aggregate_type || said.aggregate_id != self.id {
            return Err(fail(format!(
                "the item says it is an event of aggregate {}#{}",
                said.aggregate_type, said.aggregate_id
            )));
        }
        let payload = payload.ok_or_else(|| fail("it has no payload".to_owned()))?;
        let event = upcasters
            .read::<E>(self, said.event_type, said.schema_version, payload)?
            .map_err(fail)?;
        Ok((header, event))
    }
}

/// Reads an event item fetched with [`Origin::replay_projection`] for a
/// replay: the version and payload of each of its events in `versions`,
/// with the checks of a full read.
pub(crate) fn replay<E: DomainEvent>(
    item: Item,
    origin: &Origin,
    upcasters: &Upcasters,
    versions: RangeInclusive<u64>,
    mut each: impl FnMut(u64, E) -> Result<()>,
) -> Result<()> {
    origin.read_each::<ReplayHeader, E>(item, upcasters, versions, |version, _, event| {
        each(version, event)
    })
}

impl<E: DomainEvent> EventEnvelope<E> {
    /// An event of the aggregate `aggregate_type`/`aggregate_id` at
    /// `version`, with a fresh event id, the current time and no metadata:
    /// for tests and tools that build events as the store would (with
    /// [`EventStore::event_item`](crate::EventStore::event_item)); commands
    /// make their own.
    ///
    /// ```
    /// use dynago_es::{DomainEvent, EventEnvelope, Metadata};
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, DomainEvent)]
    /// # struct Deposited { amount: u64 }
    ///
    /// let event = EventEnvelope::of("account", "acc-1", 3, Deposited { amount: 5 })
    ///     .with_metadata(Metadata::default().correlation_id("req-9"));
    /// assert_eq!((event.version, event.event_type.as_str()), (3, "Deposited"));
    /// ```
    pub fn of(
        aggregate_type: impl Into<String>,
        aggregate_id: impl Into<AggregateId>,
        version: u64,
        payload: E,
    ) -> Self {
        Self::new(
            &aggregate_type.into(),
            &aggregate_id.into(),
            version,
            payload,
            &Metadata::default(),
            Utc::now(),
        )
    }

    /// The same event with `metadata`.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The same event stored at `timestamp`.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// A new event of `aggregate` at `version`, with a fresh event id.
    pub(crate) fn new(
        aggregate_type: &str,
        aggregate_id: &AggregateId,
        version: u64,
        payload: E,
        metadata: &Metadata,
        timestamp: DateTime<Utc>,
    ) -> Self {
        Self {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.clone(),
            version,
            event_id: Uuid::now_v7(),
            event_type: payload.event_type().to_owned(),
            schema_version: payload.schema_version(),
            timestamp,
            metadata: metadata.clone(),
            payload,
        }
    }

    /// The item form: the header's attributes and the payload in
    /// `encoding`.
    pub(crate) fn to_item(&self, commit_id: Uuid, encoding: PayloadEncoding) -> Result<Item> {
        let serialize_error = |reason: String| Error::Serialize {
            what: format!(
                "event {} of {}#{}",
                self.version, self.aggregate_type, self.aggregate_id
            ),
            reason,
        };
        let metadata = if self.metadata.is_empty() {
            None
        } else {
            Some(
                dynago::item::to_attribute_value(&self.metadata)
                    .map_err(|e| serialize_error(e.to_string()))?,
            )
        };
        let header = event_item::Header {
            aggregate_type: &self.aggregate_type,
            aggregate_id: self.aggregate_id.as_str(),
            version: self.version,
            event_id: self.event_id,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            timestamp: self.timestamp,
            metadata,
            commit_id,
        };
        // Room for the payload and the two keys.
        let mut item = header.into_item(3);
        let (name, payload) = payload::encode(&self.payload, encoding).map_err(serialize_error)?;
        item.insert(name.to_owned(), payload);
        Ok(item)
    }

    /// Reads an event item of the stream `origin` (see `Place::read_each`),
    /// lifting the payloads through `upcasters`: each of its events in
    /// `versions`, with the id of the commit that wrote it, handed to
    /// `each`.
    pub(crate) fn from_item(
        item: Item,
        origin: &Origin,
        upcasters: &Upcasters,
        versions: RangeInclusive<u64>,
        mut each: impl FnMut(Self, Uuid) -> Result<()>,
    ) -> Result<()> {
        origin.read_each::<EventHeader, E>(item, upcasters, versions, |_, header, payload| {
            let (event, commit_id) = Self::from_parts(header, payload);
            each(event, commit_id)
        })
    }

    /// The item of a commit of `events` (consecutive versions of one
    /// aggregate, at least one): the first event's item, and when there are
    /// more, their list ([`NEXT_EVENTS`]), each a map of what it does not
    /// share with the first, and the last version ([`LAST_VERSION`]).
    pub(crate) fn commit_item(
        events: &[Self],
        commit_id: Uuid,
        encoding: PayloadEncoding,
    ) -> Result<Item> {
        let Some((first, rest)) = events.split_first() else {
            return Err(Error::Serialize {
                what: "a commit".to_owned(),
                reason: "it has no events".to_owned(),
            });
        };
        let mut item = first.to_item(commit_id, encoding)?;
        if rest.is_empty() {
            return Ok(item);
        }
        let mut next_events = Vec::with_capacity(rest.len());
        for event in rest {
            let mut map = event.to_item(commit_id, encoding)?;
            // What it shares with the first is read from the first.
            map.remove("aggregate_type");
            map.remove("aggregate_id");
            map.remove("commit_id");
            if event.timestamp == first.timestamp {
                map.remove("timestamp");
            }
            if event.metadata == first.metadata {
                map.remove("metadata");
            } else if event.metadata.is_empty() {
                map.insert("metadata".to_owned(), AttributeValue::Null(true));
            }
            next_events.push(AttributeValue::M(map));
        }
        let last = events.last().map_or(first.version, |event| event.version);
        item.insert(
            LAST_VERSION.to_owned(),
            AttributeValue::N(itoa::Buffer::new().format(last).to_owned()),
        );
        item.insert(NEXT_EVENTS.to_owned(), AttributeValue::L(next_events));
        Ok(item)
    }

    /// The event of a decoded header and payload, and the id of the commit
    /// that wrote it.
    fn from_parts(header: EventHeader, payload: E) -> (Self, Uuid) {
        (
            EventEnvelope {
                aggregate_type: header.aggregate_type,
                aggregate_id: header.aggregate_id,
                version: header.version,
                event_id: header.event_id,
                event_type: header.event_type,
                schema_version: header.schema_version,
                timestamp: header.timestamp,
                metadata: header.metadata,
                payload,
            },
            header.commit_id,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An event with nothing in it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Noted;

    impl DomainEvent for Noted {
        fn event_type(&self) -> &'static str {
            "Noted"
        }
    }

    /// The header as serde writes it, as the store wrote it before it
    /// wrote its attributes itself.
    fn by_serde(event: &EventEnvelope<Noted>, commit_id: Uuid) -> Item {
        let header = EventHeader {
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            version: event.version,
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            timestamp: event.timestamp,
            metadata: event.metadata.clone(),
            commit_id,
        };
        dynago::item::to_item(&header).expect("a header")
    }

    proptest! {
        #[test]
        fn the_header_is_written_as_serde_writes_it_and_reads_back(
            aggregate_type in "[a-z]{1,12}",
            id in "\\PC{1,20}",
            version in any::<u64>(),
            event_type in "\\PC{1,20}",
            schema_version in any::<u32>(),
            seconds in -62_135_596_800i64..253_402_300_799,
            nanos in prop_oneof![Just(0u32), 0u32..1_000, 0u32..1_000_000_000],
            correlation in proptest::option::of("\\PC{0,8}"),
            extra in proptest::collection::btree_map("\\PC{1,6}", "\\PC{0,6}", 0..3),
            ids in any::<(u128, u128)>(),
        ) {
            let metadata = Metadata {
                correlation_id: correlation,
                extra,
                ..Metadata::default()
            };
            let event = EventEnvelope {
                aggregate_type: aggregate_type.clone(),
                aggregate_id: AggregateId::new(id.clone()),
                version,
                event_id: Uuid::from_u128(ids.0),
                event_type,
                schema_version,
                timestamp: DateTime::from_timestamp(seconds, nanos).expect("a time"),
                metadata,
                payload: Noted,
            };
            let commit_id = Uuid::from_u128(ids.1);
            let mut item = event.to_item(commit_id, PayloadEncoding::Json).expect("an item");
            let payload = item.remove(PAYLOAD_JSON);
            prop_assert_eq!(payload, Some(AttributeValue::S("null".into())));
            prop_assert_eq!(&item, &by_serde(&event, commit_id));

            item.insert("sk".into(), AttributeValue::S(keys::event_sort(version)));
            item.insert(PAYLOAD_JSON.into(), AttributeValue::S("null".into()));
            let origin = Origin::new(
                "placeholder",
                event.aggregate_id.clone(),
                "sk".into(),
            );
            let place = Place { aggregate_type: &aggregate_type, ..origin.place() };
            let mut read = Vec::new();
            place
                .read_each::<EventHeader, Noted>(
                    Attributes::take(item, None, Some("sk")),
                    &Upcasters::default(),
                    0..=u64::MAX,
                    |_, header, payload| {
                        read.push(EventEnvelope::from_parts(header, payload));
                        Ok(())
                    },
                )
                .expect("it reads back");
            prop_assert_eq!(read.len(), 1);
            let (read, commit) = read.remove(0);
            prop_assert_eq!(read, event);
            prop_assert_eq!(commit, commit_id);
        }
    }
}
