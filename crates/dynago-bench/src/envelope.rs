//! One event as each store turns it into a DynamoDB item and back: the CPU
//! each library spends per event, without the network.
//!
//! - **dynago-es**: the store's own codec, `EventStore::event_item` and
//!   `EventStore::read_event_item` (the header attributes, the payload as a
//!   native DynamoDB map or, with `PayloadEncoding::Json`, as JSON text;
//!   read back with every check the store makes on its events).
//! - **dynamo-es** (`build_event_put_transactions` / `serialized_event`,
//!   crate-private, so mirrored here from its sources step for step):
//!   `cqrs_es::persist::SerializedEvent::try_from` the envelope (payload and
//!   metadata to `serde_json::Value`), then both values to JSON bytes in
//!   binary attributes of a `Put`; read back by parsing the attributes and
//!   `EventEnvelope::try_from`.

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put};
use cqrs_es::persist::SerializedEvent;
use dynago::{Item, Table, TableOptions};
use dynago_es::{EventEnvelope, EventStore, PayloadEncoding, StoreOptions};

use crate::account::{Account, AccountEvent, ACCOUNT_TYPE};

/// An event as dynago-es stores it.
pub type StoredEvent = EventEnvelope<AccountEvent>;

/// A deposit event at `version` of `account`.
pub fn sample_event(account: &str, version: u64, amount: u64) -> StoredEvent {
    EventEnvelope::of(
        ACCOUNT_TYPE,
        account,
        version,
        AccountEvent::Deposited { amount },
    )
}

/// A store of accounts whose codec writes payloads in `encoding`, on a
/// table (keys `pk` and `sk`) that it never sends a request to.
///
/// # Errors
///
/// When the store refuses its options.
pub fn codec(encoding: PayloadEncoding) -> Result<EventStore<Account>> {
    let config = dynago::sdk::Config::builder()
        .behavior_version(dynago::sdk::config::BehaviorVersion::latest())
        .region(dynago::sdk::config::Region::new(dynago::LOCAL_REGION))
        .build();
    let table = Table::with_client(
        dynago::Client::from_conf(config),
        TableOptions::new("events")
            .partition_key("pk")
            .sort_key("sk"),
    )?;
    Ok(EventStore::new(
        table,
        StoreOptions::default().payload_encoding(encoding),
    )?)
}

/// The item dynago-es writes for `event`, key attributes included.
///
/// # Errors
///
/// When the event does not serialize.
pub fn dynago_es_to_item(store: &EventStore<Account>, event: &StoredEvent) -> Result<Item> {
    Ok(store.event_item(event)?)
}

/// Reads an item written by [`dynago_es_to_item`] back, as dynago-es reads
/// its events.
///
/// # Errors
///
/// When the item is not an event of the store's aggregate type.
pub fn dynago_es_from_item(store: &EventStore<Account>, item: Item) -> Result<StoredEvent> {
    let mut events = store.read_event_item(item)?.unwrap_or_default().into_iter();
    match (events.next(), events.next()) {
        (Some(event), None) => Ok(event),
        _ => Err(anyhow!("the item is not one event of an account")),
    }
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
        for (encoding, is_form) in [
            (
                PayloadEncoding::Map,
                (|v| matches!(v, Some(AttributeValue::M(_))))
                    as fn(Option<&AttributeValue>) -> bool,
            ),
            // JSON goes to `payload_json`: no `payload` at all.
            (PayloadEncoding::Json, |v| v.is_none()),
        ] {
            let store = codec(encoding)?;
            let item = dynago_es_to_item(&store, &event)?;
            assert!(is_form(item.get("payload")), "{encoding:?}: {item:?}");
            assert_eq!(dynago_es_from_item(&store, item)?, event);
        }

        let envelope = cqrs_envelope(&event);
        let item = dynamo_es_to_item(&envelope, "events")?;
        let back = dynamo_es_from_item(&item)?;
        assert_eq!(back.sequence, 7);
        assert_eq!(back.payload, event.payload);
        Ok(())
    }
}
