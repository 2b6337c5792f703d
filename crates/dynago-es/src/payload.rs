//! How an event's payload is stored: a native DynamoDB map (the default),
//! or JSON text, which is cheaper to read.

use dynago::AttributeValue;
use serde::Serialize;

/// The form of the `payload` attribute of the event items a store writes
/// ([`StoreOptions::payload_encoding`](crate::StoreOptions::payload_encoding)).
/// A store reads both forms whatever it writes, so that a table can hold
/// events of either, and the choice can change at any time.
///
/// ```
/// use dynago_es::{PayloadEncoding, StoreOptions};
///
/// let compact = StoreOptions::default().payload_encoding(PayloadEncoding::Json);
/// # let _ = compact;
/// assert_eq!(PayloadEncoding::default(), PayloadEncoding::Map);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PayloadEncoding {
    /// A native DynamoDB map (`M`): readable and filterable in the console
    /// and by expressions (`payload.Deposited.amount`), at the price of
    /// decoding every attribute of it on each read.
    #[default]
    Map,
    /// The payload's JSON text in the string attribute `payload_json` (in
    /// place of `payload`): cheaper to decode (see `docs/benchmarks.md`,
    /// CPU per event), but opaque to expressions.
    Json,
}

/// The attribute of a payload stored as a map.
pub(crate) const PAYLOAD: &str = "payload";
/// The attribute of a payload stored as JSON text.
pub(crate) const PAYLOAD_JSON: &str = "payload_json";

/// A payload as stored: a map (or any value `serde_dynamo` writes, such as
/// the string of a unit variant), or JSON text.
#[derive(Debug)]
pub(crate) enum Stored {
    Value(AttributeValue),
    Json(String),
}

impl Stored {
    /// The payload of an event item, taken out of it; `None` when it has
    /// none (or a JSON payload that is not a string).
    pub(crate) fn take(item: &mut dynago::Item) -> Option<Self> {
        match item.remove(PAYLOAD) {
            Some(value) => Some(Self::Value(value)),
            None => match item.remove(PAYLOAD_JSON) {
                Some(AttributeValue::S(text)) => Some(Self::Json(text)),
                _ => None,
            },
        }
    }
}

/// The attribute of `payload` in `encoding`: its name and value.
pub(crate) fn encode<E: Serialize>(
    payload: &E,
    encoding: PayloadEncoding,
) -> Result<(&'static str, AttributeValue), String> {
    match encoding {
        PayloadEncoding::Map => dynago::item::to_attribute_value(payload)
            .map(|value| (PAYLOAD, value))
            .map_err(|e| e.to_string()),
        PayloadEncoding::Json => serde_json::to_string(payload)
            .map(|text| (PAYLOAD_JSON, AttributeValue::S(text)))
            .map_err(|e| e.to_string()),
    }
}
