//! Stored events: the envelope around a payload, and its item form.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dynago::{AttributeValue, Item};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::DomainEvent;
use crate::error::{Error, Result};
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Reads the header attributes of an event item, each decoded once, in
    /// the order of the header's fields (see [`Attributes`]).
    fn from_item(item: Item) -> std::result::Result<Self, String> {
        let mut item = Attributes(item);
        // Struct fields are evaluated in the order written: the header's.
        Ok(Self {
            aggregate_type: item.take("aggregate_type")?,
            aggregate_id: item.take("aggregate_id")?,
            version: item.take("version")?,
            event_id: item.take("event_id")?,
            event_type: item.take("event_type")?,
            schema_version: item.take("schema_version")?,
            timestamp: item.take("timestamp")?,
            // Left out when empty; missing and NULL read as empty.
            metadata: item.take_or_default("metadata")?,
            commit_id: item.take("commit_id")?,
        })
    }
}

/// What replaying an event needs of its header: the attributes checked
/// against the key and the stream, and those that say how to read the
/// payload. The ids, timestamp and metadata are not even fetched.
struct ReplayHeader {
    aggregate_type: String,
    aggregate_id: AggregateId,
    version: u64,
    event_type: String,
    schema_version: u32,
}

impl ReplayHeader {
    /// The attributes a replay fetches, the payload included (in either
    /// form).
    const ATTRIBUTES: [&'static str; 7] = [
        "aggregate_type",
        "aggregate_id",
        "version",
        "event_type",
        "schema_version",
        PAYLOAD,
        PAYLOAD_JSON,
    ];

    fn from_item(item: Item) -> std::result::Result<Self, String> {
        let mut item = Attributes(item);
        Ok(Self {
            aggregate_type: item.take("aggregate_type")?,
            aggregate_id: item.take("aggregate_id")?,
            version: item.take("version")?,
            event_type: item.take("event_type")?,
            schema_version: item.take("schema_version")?,
        })
    }
}

/// An item whose attributes are taken out one by one and decoded once.
/// Taken in a fixed order, the first attribute at fault is named, so that
/// one item always gives one message (the item's own order is a hash
/// map's).
struct Attributes(Item);

impl Attributes {
    fn take<T: DeserializeOwned>(&mut self, name: &str) -> std::result::Result<T, String> {
        let value = self
            .0
            .remove(name)
            .ok_or_else(|| format!("it has no attribute `{name}`"))?;
        Self::decode(name, value)
    }

    /// Like [`take`](Self::take), a missing or NULL attribute being the
    /// default value.
    fn take_or_default<T: DeserializeOwned + Default>(
        &mut self,
        name: &str,
    ) -> std::result::Result<T, String> {
        match self.0.remove(name) {
            None | Some(AttributeValue::Null(_)) => Ok(T::default()),
            Some(value) => Self::decode(name, value),
        }
    }

    fn decode<T: DeserializeOwned>(
        name: &str,
        value: AttributeValue,
    ) -> std::result::Result<T, String> {
        serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value)
            .map_err(|e| format!("its attribute `{name}` is not valid: {e}"))
    }
}

/// The stream an event item is read from: what its key and header must say.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The aggregate type.
    aggregate_type: &'static str,
    /// The aggregate.
    id: AggregateId,
    /// The stream's name, `{type}#{id}`, for errors.
    aggregate: String,
    /// The name of the table's sort key attribute.
    sort_key: String,
}

/// The header attributes an event item is read with.
trait Header: Sized {
    fn from_item(item: Item) -> std::result::Result<Self, String>;
    /// What the header says of the event.
    fn said(&self) -> Said<'_>;
}

/// What a header says of its event: which one it is, and how to read its
/// payload.
struct Said<'a> {
    version: u64,
    aggregate_type: &'a str,
    aggregate_id: &'a AggregateId,
    event_type: &'a str,
    schema_version: u32,
}

impl Header for EventHeader {
    fn from_item(item: Item) -> std::result::Result<Self, String> {
        EventHeader::from_item(item)
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

impl Header for ReplayHeader {
    fn from_item(item: Item) -> std::result::Result<Self, String> {
        ReplayHeader::from_item(item)
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
            aggregate: keys::stream(aggregate_type, &id),
            aggregate_type,
            id,
            sort_key,
        }
    }

    /// The error for an item among the events whose sort key `sort` is not
    /// an event key.
    pub(crate) fn not_an_event_key(&self, sort: &str) -> Error {
        self.corrupt(
            0,
            format!("the item with sort key {sort:?} is among the events but its key is not an event key (`e#` and 20 digits)"),
        )
    }

    fn corrupt(&self, version: u64, reason: String) -> Error {
        Error::CorruptEvent {
            aggregate: self.aggregate.clone(),
            version,
            reason,
        }
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

    /// Reads an event item of this stream: its version, its header and its
    /// payload, lifted through `upcasters`.
    ///
    /// Every check names the aggregate and the version (taken from the sort
    /// key, since the item's own attributes may be what is wrong): the sort
    /// key must be an event key, the header must parse and agree with the
    /// key and the stream, and the payload must deserialize.
    fn read<H: Header, E: DomainEvent>(
        &self,
        mut item: Item,
        upcasters: &Upcasters,
    ) -> Result<(u64, H, E)> {
        let sort = match item.get(&self.sort_key) {
            Some(AttributeValue::S(sort)) => sort.clone(),
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
        let payload = payload::Stored::take(&mut item);
        let header = H::from_item(item).map_err(|e| {
            self.corrupt(
                version,
                format!("the item with sort key {sort:?} is not an event: {e}"),
            )
        })?;
        let said = header.said();
        if said.version != version {
            return Err(self.corrupt(
                version,
                format!(
                    "the item with sort key {sort:?} says it is version {}",
                    said.version
                ),
            ));
        }
        if said.aggregate_type != self.aggregate_type || *said.aggregate_id != self.id {
            return Err(self.corrupt(
                version,
                format!(
                    "the item says it is an event of aggregate {}",
                    keys::stream(said.aggregate_type, said.aggregate_id)
                ),
            ));
        }
        let payload = payload.ok_or_else(|| self.corrupt(version, "it has no payload".into()))?;
        let event = upcasters
            .read::<E>(
                &self.aggregate,
                said.event_type,
                said.schema_version,
                payload,
            )?
            .map_err(|reason| self.corrupt(version, reason))?;
        Ok((version, header, event))
    }
}

/// Reads an event item fetched with [`Origin::replay_projection`] for a
/// replay: its version and payload, with the checks of a full read.
pub(crate) fn replay<E: DomainEvent>(
    item: Item,
    origin: &Origin,
    upcasters: &Upcasters,
) -> Result<(u64, E)> {
    let (version, _, event) = origin.read::<ReplayHeader, E>(item, upcasters)?;
    Ok((version, event))
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
        let header = EventHeader {
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            version: self.version,
            event_id: self.event_id,
            event_type: self.event_type.clone(),
            schema_version: self.schema_version,
            timestamp: self.timestamp,
            metadata: self.metadata.clone(),
            commit_id,
        };
        let serialize_error = |reason: String| Error::Serialize {
            what: format!(
                "event {} of {}#{}",
                self.version, self.aggregate_type, self.aggregate_id
            ),
            reason,
        };
        let mut item =
            dynago::item::to_item(&header).map_err(|e| serialize_error(e.to_string()))?;
        let (name, payload) = payload::encode(&self.payload, encoding).map_err(serialize_error)?;
        item.insert(name.to_owned(), payload);
        Ok(item)
    }

    /// Reads an event item of the stream `origin` (see [`Origin::read`]),
    /// lifting its payload through `upcasters`; with the id of the commit
    /// that wrote it.
    pub(crate) fn from_item(
        item: Item,
        origin: &Origin,
        upcasters: &Upcasters,
    ) -> Result<(Self, Uuid)> {
        let (_, header, payload) = origin.read::<EventHeader, E>(item, upcasters)?;
        Ok((
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
        ))
    }
}
