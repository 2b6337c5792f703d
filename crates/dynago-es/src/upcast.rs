//! Upcasting: lifting stored events of an old shape to the current one on read.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::payload::Stored;

type Lift =
    dyn Fn(serde_json::Value) -> std::result::Result<serde_json::Value, String> + Send + Sync;

/// Lifts one event type's payload from schema version `from` to `from + 1`.
///
/// The payload is handed over as JSON (`serde_json::Value`) in the shape the
/// event type serializes to. Register one upcaster per step; a v1 event with
/// upcasters for v1 and v2 is lifted v1 → v2 → v3 before it is deserialized.
///
/// ```
/// use dynago_es::Upcaster;
///
/// // v1 stored `{"Deposited": {"cents": 100}}`; v2 calls it `amount`.
/// let rename = Upcaster::new("Deposited", 1, |mut payload| {
///     let body = payload.get_mut("Deposited").ok_or("no Deposited body")?;
///     let cents = body.as_object_mut().and_then(|b| b.remove("cents")).ok_or("no cents")?;
///     body["amount"] = cents;
///     Ok::<_, &str>(payload)
/// });
/// # let _ = rename;
/// ```
#[derive(Clone)]
pub struct Upcaster {
    event_type: String,
    from: u32,
    lift: Arc<Lift>,
}

impl fmt::Debug for Upcaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upcaster")
            .field("event_type", &self.event_type)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Upcaster {
    /// Lifts events of type `event_type` stored with schema version `from`.
    pub fn new<F, E>(event_type: impl Into<String>, from: u32, lift: F) -> Self
    where
        F: Fn(serde_json::Value) -> std::result::Result<serde_json::Value, E>
            + Send
            + Sync
            + 'static,
        E: fmt::Display,
    {
        Self {
            event_type: event_type.into(),
            from,
            lift: Arc::new(move |value| lift(value).map_err(|e| e.to_string())),
        }
    }
}

/// The upcasters of one store, by event type and version.
#[derive(Clone, Default, Debug)]
pub(crate) struct Upcasters {
    steps: HashMap<(String, u32), Upcaster>,
}

impl Upcasters {
    pub(crate) fn add(&mut self, upcaster: Upcaster) {
        self.steps
            .insert((upcaster.event_type.clone(), upcaster.from), upcaster);
    }

    fn step(&self, event_type: &str, version: u32) -> Option<&Upcaster> {
        self.steps.get(&(event_type.to_owned(), version))
    }

    /// Deserializes a payload, stored as a map or as JSON text
    /// ([`PayloadEncoding`](crate::PayloadEncoding)), lifting it first if
    /// upcasters apply. The outer error is an upcaster's failure; the inner
    /// one, a payload that does not deserialize.
    pub(crate) fn read<E: DeserializeOwned>(
        &self,
        aggregate: &str,
        event_type: &str,
        version: u32,
        payload: Stored,
    ) -> Result<std::result::Result<E, String>> {
        let lifted = self.step(event_type, version).is_some();
        let json: serde_json::Value = match (payload, lifted) {
            (Stored::Json(text), false) => {
                return Ok(serde_json::from_str(&text).map_err(|e| e.to_string()))
            }
            (Stored::Json(text), true) => match serde_json::from_str(&text) {
                Ok(json) => json,
                Err(e) => return Ok(Err(e.to_string())),
            },
            (Stored::Value(payload), false) => {
                return Ok(
                    serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(payload)
                        .map_err(|e| e.to_string()),
                )
            }
            (Stored::Value(payload), true) => {
                match serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(payload) {
                    Ok(json) => json,
                    Err(e) => return Ok(Err(e.to_string())),
                }
            }
        };
        let mut json = json;
        let mut version = version;
        while let Some(step) = self.step(event_type, version) {
            json = (step.lift)(json).map_err(|reason| Error::Upcast {
                aggregate: aggregate.to_owned(),
                event_type: event_type.to_owned(),
                from: version,
                reason,
            })?;
            version += 1;
        }
        Ok(serde_json::from_value(json).map_err(|e| format!("after upcasting to v{version}: {e}")))
    }
}
