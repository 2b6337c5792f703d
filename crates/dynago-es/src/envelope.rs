//! Stored events: the envelope around a payload, and its item form.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dynago::{AttributeValue, Item};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::DomainEvent;
use crate::error::{Error, Result};
use crate::id::AggregateId;
use crate::keys;
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
    #[serde(default)]
    pub(crate) metadata: Metadata,
    /// The id of the append that wrote the event.
    pub(crate) commit_id: Uuid,
}

impl EventHeader {
    /// Reads the header attributes of an event item. When they do not
    /// deserialize, the error names the first attribute at fault in the
    /// order of the header's fields, so that one item always gives one
    /// message (the item's own order is a hash map's).
    fn from_item(item: Item) -> std::result::Result<Self, String> {
        use serde::de::DeserializeOwned;
        use serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value;

        fn check<T: DeserializeOwned>(item: &Item, name: &str, optional: bool) -> Option<String> {
            match item.get(name) {
                None if optional => None,
                None => Some(format!("it has no attribute `{name}`")),
                Some(value) => from_attribute_value::<T>(value.clone())
                    .err()
                    .map(|e| format!("its attribute `{name}` is not valid: {e}")),
            }
        }
        let problem = check::<String>(&item, "aggregate_type", false)
            .or_else(|| check::<AggregateId>(&item, "aggregate_id", false))
            .or_else(|| check::<u64>(&item, "version", false))
            .or_else(|| check::<Uuid>(&item, "event_id", false))
            .or_else(|| check::<String>(&item, "event_type", false))
            .or_else(|| check::<u32>(&item, "schema_version", false))
            .or_else(|| check::<DateTime<Utc>>(&item, "timestamp", false))
            .or_else(|| check::<Metadata>(&item, "metadata", true))
            .or_else(|| check::<Uuid>(&item, "commit_id", false));
        match problem {
            Some(problem) => Err(problem),
            None => serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|e| e.to_string()),
        }
    }
}

pub(crate) const PAYLOAD: &str = "payload";

/// The stream an event item is read from: what its key and header must say.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The aggregate type.
    pub(crate) aggregate_type: &'static str,
    /// The aggregate.
    pub(crate) id: AggregateId,
    /// The name of the table's sort key attribute.
    pub(crate) sort_key: String,
}

impl<E: DomainEvent> EventEnvelope<E> {
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

    /// The item form: the header's attributes and the payload as a map.
    pub(crate) fn to_item(&self, commit_id: Uuid) -> Result<Item> {
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
        let payload: AttributeValue =
            serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(&self.payload)
                .map_err(|e| serialize_error(e.to_string()))?;
        item.insert(PAYLOAD.to_owned(), payload);
        Ok(item)
    }

    /// Reads an event item of the stream `origin`, lifting its payload
    /// through `upcasters`.
    ///
    /// Every check names the aggregate and the version (taken from the sort
    /// key, since the item's own attributes may be what is wrong): the sort
    /// key must be an event key, the header must parse and agree with the
    /// key and the stream, and the payload must deserialize.
    pub(crate) fn from_item(
        mut item: Item,
        origin: &Origin,
        upcasters: &Upcasters,
    ) -> Result<(Self, Uuid)> {
        let aggregate = keys::stream(origin.aggregate_type, &origin.id);
        let corrupt = |version: u64, reason: String| Error::CorruptEvent {
            aggregate: aggregate.clone(),
            version,
            reason,
        };
        let sort = match item.get(&origin.sort_key) {
            Some(AttributeValue::S(sort)) => sort.clone(),
            other => {
                return Err(corrupt(
                    0,
                    format!(
                        "an item among the events has no string sort key `{}` ({other:?})",
                        origin.sort_key
                    ),
                ))
            }
        };
        let version = keys::parse_event_sort(&sort).ok_or_else(|| {
            corrupt(
                0,
                format!("the item with sort key {sort:?} is among the events but its key is not an event key (`e#` and 20 digits)"),
            )
        })?;
        let payload = item.remove(PAYLOAD);
        let header = EventHeader::from_item(item).map_err(|e| {
            corrupt(
                version,
                format!("the item with sort key {sort:?} is not an event: {e}"),
            )
        })?;
        if header.version != version {
            return Err(corrupt(
                version,
                format!(
                    "the item with sort key {sort:?} says it is version {}",
                    header.version
                ),
            ));
        }
        if header.aggregate_type != origin.aggregate_type || header.aggregate_id != origin.id {
            return Err(corrupt(
                version,
                format!(
                    "the item says it is an event of aggregate {}",
                    keys::stream(&header.aggregate_type, &header.aggregate_id)
                ),
            ));
        }
        let payload = payload.ok_or_else(|| corrupt(version, "it has no payload".into()))?;
        let event = upcasters.read::<E>(
            &aggregate,
            &header.event_type,
            header.schema_version,
            payload,
        )?;
        let commit_id = header.commit_id;
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
                payload: event.map_err(|reason| corrupt(version, reason))?,
            },
            commit_id,
        ))
    }
}
