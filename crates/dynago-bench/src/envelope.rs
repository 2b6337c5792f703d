//! One event as each store turns it into a DynamoDB item and back: the CPU
//! each library spends per event, without the network.
//!
//! Neither library makes its item form public, so both paths are mirrored
//! here from their sources, step for step:
//!
//! - **dynago-es** (`EventEnvelope::to_item` / `from_item`, crate-private):
//!   the envelope's header (type, id, version, event id, event type, schema
//!   version, timestamp, metadata, commit id) serialized with
//!   `dynago::item::to_item` (which also strips nulls), the payload as a
//!   native DynamoDB map with `serde_dynamo`; read back the same way, with
//!   the checks dynago-es makes (version from the sort key, header against
//!   key and stream). Mirrored from dynago-es as of this benchmark's
//!   writing: keep it in step when the envelope changes.
//! - **dynamo-es** (`build_event_put_transactions` / `serialized_event`,
//!   crate-private): `cqrs_es::persist::SerializedEvent::try_from` the
//!   envelope (payload and metadata to `serde_json::Value`), then both
//!   values to JSON bytes in binary attributes of a `Put`; read back by
//!   parsing the attributes and `EventEnvelope::try_from`.

use std::collections::HashMap;

use anyhow::{anyhow, Context, Result};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put};
use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use dynago::Item;
use dynago_es::{AggregateId, Metadata};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::{Account, AccountEvent, ACCOUNT_TYPE};

/// An event with what dynago-es stores beside it (the fields of
/// `dynago_es::EventEnvelope`, whose constructor is private).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The aggregate type.
    pub aggregate_type: String,
    /// The aggregate.
    pub aggregate_id: AggregateId,
    /// Its place in the stream.
    pub version: u64,
    /// Its unique id.
    pub event_id: Uuid,
    /// The event type's name.
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// When it was stored.
    pub timestamp: DateTime<Utc>,
    /// Who and what caused it.
    pub metadata: Metadata,
    /// The event.
    pub payload: AccountEvent,
}

/// dynago-es's `EventHeader`: every attribute but the payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EventHeader {
    aggregate_type: String,
    aggregate_id: AggregateId,
    version: u64,
    event_id: Uuid,
    event_type: String,
    schema_version: u32,
    timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    metadata: Metadata,
    commit_id: Uuid,
}

const PAYLOAD: &str = "payload";

/// A deposit event at `version` of `account`, as dynago-es would store it.
pub fn sample_event(account: &str, version: u64, amount: u64) -> StoredEvent {
    StoredEvent {
        aggregate_type: ACCOUNT_TYPE.to_owned(),
        aggregate_id: AggregateId::new(account),
        version,
        event_id: Uuid::now_v7(),
        event_type: "Deposited".to_owned(),
        schema_version: 1,
        timestamp: Utc::now(),
        metadata: Metadata::default(),
        payload: AccountEvent::Deposited { amount },
    }
}

/// The item dynago-es writes for `event` (its key attributes aside).
///
/// # Errors
///
/// When the event does not serialize.
pub fn dynago_es_to_item(event: &StoredEvent, commit_id: Uuid) -> Result<Item> {
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
    let what = || {
        format!(
            "event {} of {}#{}",
            event.version, event.aggregate_type, event.aggregate_id
        )
    };
    let mut item = dynago::item::to_item(&header).with_context(what)?;
    let payload: AttributeValue =
        serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(&event.payload).with_context(what)?;
    item.insert(PAYLOAD.to_owned(), payload);
    Ok(item)
}

/// The item as the table holds it: [`dynago_es_to_item`] plus the key
/// attributes `pk` (`{type}#{id}`) and `sk` (`e#` and the version in 20
/// digits) that the store's transaction adds.
///
/// # Errors
///
/// When the event does not serialize.
pub fn dynago_es_stored_item(event: &StoredEvent, commit_id: Uuid) -> Result<Item> {
    let mut item = dynago_es_to_item(event, commit_id)?;
    item.insert(
        "pk".to_owned(),
        AttributeValue::S(format!("{}#{}", event.aggregate_type, event.aggregate_id)),
    );
    item.insert(
        "sk".to_owned(),
        AttributeValue::S(format!("e#{:020}", event.version)),
    );
    Ok(item)
}

/// Reads an item of the table ([`dynago_es_stored_item`]) back, as
/// dynago-es reads its events (no upcaster registered): the version from the
/// sort key, the header checked against the key and the stream, the payload.
///
/// # Errors
///
/// When the item is not an event of `account`.
pub fn dynago_es_from_item(
    mut item: Item,
    aggregate_type: &str,
    account: &AggregateId,
) -> Result<StoredEvent> {
    let aggregate = format!("{aggregate_type}#{account}");
    let sort = match item.get("sk") {
        Some(AttributeValue::S(sort)) => sort.clone(),
        other => return Err(anyhow!("{aggregate}: no string sort key ({other:?})")),
    };
    let version = sort
        .strip_prefix("e#")
        .filter(|digits| digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u64>().ok())
        .ok_or_else(|| anyhow!("{aggregate}: {sort:?} is not an event key"))?;
    let payload = item.remove(PAYLOAD);
    let header: EventHeader = serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .with_context(|| format!("{aggregate}: the item with sort key {sort:?} is not an event"))?;
    if header.version != version
        || header.aggregate_type != aggregate_type
        || header.aggregate_id != *account
    {
        return Err(anyhow!(
            "{aggregate}: the item's header disagrees with its key"
        ));
    }
    let payload = payload.ok_or_else(|| anyhow!("{aggregate}: event {version} has no payload"))?;
    let payload: AccountEvent = serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(payload)
        .map_err(|e| anyhow!("{aggregate}: event {version}: {e}"))?;
    Ok(StoredEvent {
        aggregate_type: header.aggregate_type,
        aggregate_id: header.aggregate_id,
        version: header.version,
        event_id: header.event_id,
        event_type: header.event_type,
        schema_version: header.schema_version,
        timestamp: header.timestamp,
        metadata: header.metadata,
        payload,
    })
}

/// The envelope cqrs-es hands its repository for `event`.
pub fn cqrs_envelope(event: &StoredEvent) -> cqrs_es::EventEnvelope<Account> {
    cqrs_es::EventEnvelope {
        aggregate_id: event.aggregate_id.as_str().to_owned(),
        sequence: usize::try_from(event.version).unwrap_or(usize::MAX),
        payload: event.payload.clone(),
        metadata: HashMap::new(),
    }
}

/// The item dynamo-es writes for `envelope`: cqrs-es serializes it to JSON
/// values, dynamo-es stores those as JSON bytes in a `Put`.
///
/// # Errors
///
/// When the event does not serialize.
pub fn dynamo_es_to_item(envelope: &cqrs_es::EventEnvelope<Account>, table: &str) -> Result<Item> {
    let event = SerializedEvent::try_from(envelope).map_err(|e| anyhow!("cqrs-es: {e}"))?;
    let put = Put::builder()
        .table_name(table)
        .item(
            "AggregateTypeAndId",
            AttributeValue::S(format!("{}:{}", &event.aggregate_type, &event.aggregate_id)),
        )
        .item(
            "AggregateIdSequence",
            AttributeValue::N(event.sequence.to_string()),
        )
        .item("AggregateType", AttributeValue::S(event.aggregate_type))
        .item("AggregateId", AttributeValue::S(event.aggregate_id))
        .item("EventVersion", AttributeValue::S(event.event_version))
        .item("EventType", AttributeValue::S(event.event_type))
        .item(
            "Payload",
            AttributeValue::B(Blob::new(serde_json::to_vec(&event.payload)?)),
        )
        .item(
            "Metadata",
            AttributeValue::B(Blob::new(serde_json::to_vec(&event.metadata)?)),
        )
        .condition_expression("attribute_not_exists( AggregateIdSequence )")
        .build()?;
    Ok(put.item)
}

/// Reads an item written by [`dynamo_es_to_item`] back, as dynamo-es and
/// cqrs-es read their events.
///
/// # Errors
///
/// When the item is not an event.
pub fn dynamo_es_from_item(item: &Item) -> Result<cqrs_es::EventEnvelope<Account>> {
    let string = |name: &str| -> Result<String> {
        match item.get(name) {
            Some(AttributeValue::S(s)) => Ok(s.clone()),
            _ => Err(anyhow!("missing attribute {name}")),
        }
    };
    let json = |name: &str| -> Result<serde_json::Value> {
        match item.get(name) {
            Some(AttributeValue::B(b)) => Ok(serde_json::from_slice(b.as_ref())?),
            _ => Err(anyhow!("missing attribute {name}")),
        }
    };
    let sequence = match item.get("AggregateIdSequence") {
        Some(AttributeValue::N(n)) => n.parse::<usize>()?,
        _ => return Err(anyhow!("missing attribute AggregateIdSequence")),
    };
    let event = SerializedEvent {
        aggregate_id: string("AggregateId")?,
        sequence,
        aggregate_type: string("AggregateType")?,
        event_type: string("EventType")?,
        event_version: string("EventVersion")?,
        payload: json("Payload")?,
        metadata: json("Metadata")?,
    };
    cqrs_es::EventEnvelope::<Account>::try_from(event).map_err(|e| anyhow!("cqrs-es: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_item_forms_round_trip() -> Result<()> {
        let event = sample_event("acc-1", 7, 1234);
        let item = dynago_es_stored_item(&event, Uuid::now_v7())?;
        assert!(matches!(item.get("payload"), Some(AttributeValue::M(_))));
        assert_eq!(
            dynago_es_from_item(item, ACCOUNT_TYPE, &event.aggregate_id)?,
            event
        );

        let envelope = cqrs_envelope(&event);
        let item = dynamo_es_to_item(&envelope, "events")?;
        let back = dynamo_es_from_item(&item)?;
        assert_eq!(back.sequence, 7);
        assert_eq!(back.payload, event.payload);
        Ok(())
    }
}
