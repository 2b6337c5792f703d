//! Upcasting: lifting stored events of an old shape to the current one on read.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use dynago::AttributeValue;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::payload::{Exact, Stored};

type Lift<V> = dyn Fn(V) -> std::result::Result<V, String> + Send + Sync;

/// What an upcaster is handed: the payload's JSON form, or its exact form.
#[derive(Clone)]
enum Step {
    Json(Arc<Lift<serde_json::Value>>),
    Exact(Arc<Lift<AttributeValue>>),
}

/// Lifts one event type's payload from schema version `from` to `from + 1`.
///
/// Register one upcaster per step; a v1 event with upcasters for v1 and v2
/// is lifted v1 → v2 → v3 before it is deserialized. An upcaster sees the
/// payload in the shape the event type serializes to, in the form it was
/// stored in ([`PayloadEncoding`](crate::PayloadEncoding)), and the lifted
/// payload is deserialized from that same form: an upcaster that changes
/// nothing reads every event exactly as a store without it does.
///
/// Two kinds, by what the function is handed:
///
/// - [`Upcaster::new`]: the payload as JSON (`serde_json::Value`), the
///   simplest to write. JSON has no exact form for some values a store
///   writes (integers beyond 64 bits, bytes, sets): the function sees those
///   approximately (as the nearest `f64`, as lists), and whatever it leaves
///   as it saw them (in place, or moved elsewhere unchanged) is put back
///   exactly.
/// - [`Upcaster::exact`]: the payload as a DynamoDB attribute value, every
///   value exact: numbers as their text, bytes, string, number and binary
///   sets, `NULL`. For upcasters that read or compute such values.
///
/// ```
/// use dynago_es::Upcaster;
///
/// // v1 stored `{"Deposited": {"cents": 100}}`; v2 calls it `amount`.
/// let rename = Upcaster::new("Deposited", 1, |mut payload: serde_json::Value| {
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
    step: Step,
}

impl fmt::Debug for Upcaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upcaster")
            .field("event_type", &self.event_type)
            .field("from", &self.from)
            .field(
                "sees",
                &match self.step {
                    Step::Json(_) => "json",
                    Step::Exact(_) => "attribute value",
                },
            )
            .finish_non_exhaustive()
    }
}

impl Upcaster {
    /// Lifts events of type `event_type` stored with schema version
    /// `from`, handed over as JSON (see [`Upcaster`] for what JSON shows
    /// approximately, and keeps exactly).
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
            step: Step::Json(Arc::new(move |value| {
                lift(value).map_err(|e| e.to_string())
            })),
        }
    }

    /// Lifts events of type `event_type` stored with schema version
    /// `from`, handed over exactly, as a DynamoDB attribute value: what a
    /// [map payload](crate::PayloadEncoding::Map) holds, and for a JSON
    /// payload its text read so (objects as `M`, arrays as `L`, numbers as
    /// `N` with their text).
    ///
    /// ```
    /// use dynago::{string_value, AttributeValue};
    /// use dynago_es::Upcaster;
    ///
    /// // v1 counted `cents` in a u128; v2 counts whole euros and has a currency.
    /// let euros = Upcaster::exact("Deposited", 1, |mut payload: AttributeValue| {
    ///     let AttributeValue::M(event) = &mut payload else { return Err("not a map".to_owned()) };
    ///     let Some(AttributeValue::M(body)) = event.get_mut("Deposited") else {
    ///         return Err("no Deposited body".to_owned());
    ///     };
    ///     let Some(AttributeValue::N(cents)) = body.remove("cents") else {
    ///         return Err("no cents".to_owned());
    ///     };
    ///     let cents: u128 = cents.parse().map_err(|e| format!("cents: {e}"))?;
    ///     body.insert("euros".into(), AttributeValue::N((cents / 100).to_string()));
    ///     body.insert("currency".into(), string_value("EUR"));
    ///     Ok(payload)
    /// });
    /// # let _ = euros;
    /// ```
    pub fn exact<F, E>(event_type: impl Into<String>, from: u32, lift: F) -> Self
    where
        F: Fn(AttributeValue) -> std::result::Result<AttributeValue, E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        Self {
            event_type: event_type.into(),
            from,
            step: Step::Exact(Arc::new(move |value| {
                lift(value).map_err(|e| e.to_string())
            })),
        }
    }

    /// Lifts `payload` one step.
    fn lift(&self, payload: Exact) -> std::result::Result<Exact, String> {
        match &self.step {
            Step::Json(lift) => {
                let lifted = lift(payload.to_json())?;
                let moved = Approximated::of(&payload);
                Ok(restore_json(lifted, Some(&payload), &moved))
            }
            Step::Exact(lift) => {
                let lifted = lift(payload.to_attribute())?;
                restore_attribute(lifted, Some(&payload))
            }
        }
    }
}

/// `lifted`, read back from JSON: every part equal to what the upcaster
/// was shown of the original at the same place is the original, exactly;
/// a part that JSON shows approximately and that was moved unchanged is
/// found by what it showed; the rest is read from JSON. A map keeps the
/// order of the original's members, new members after them.
fn restore_json(
    lifted: serde_json::Value,
    original: Option<&Exact>,
    moved: &Approximated,
) -> Exact {
    use serde_json::Value;
    if let Some(original) = original {
        if original.to_json() == lifted {
            return original.clone();
        }
    }
    if let Some(exact) = moved.find(&lifted) {
        return exact.clone();
    }
    match lifted {
        Value::Object(mut members) => {
            let mut entries = Vec::with_capacity(members.len());
            if let Some(Exact::Map(kept)) = original {
                for (key, was) in kept {
                    if let Some(value) = members.remove(key) {
                        entries.push((key.clone(), restore_json(value, Some(was), moved)));
                    }
                }
            }
            for (key, value) in members {
                entries.push((key, restore_json(value, None, moved)));
            }
            Exact::Map(entries)
        }
        Value::Array(items) => Exact::List(
            items
                .into_iter()
                .enumerate()
                .map(|(n, item)| restore_json(item, original.and_then(|o| o.item(n)), moved))
                .collect(),
        ),
        leaf => Exact::from_json(leaf),
    }
}

/// `lifted`, read back from an attribute value; a part equal to the
/// original at the same place is the original (which keeps the order of a
/// JSON object's members), a map keeps the order of the original's
/// members, new members after them.
fn restore_attribute(
    lifted: AttributeValue,
    original: Option<&Exact>,
) -> std::result::Result<Exact, String> {
    if let Some(original) = original {
        if original.to_attribute() == lifted {
            return Ok(original.clone());
        }
    }
    match lifted {
        AttributeValue::M(mut members) => {
            let mut entries = Vec::with_capacity(members.len());
            if let Some(Exact::Map(kept)) = original {
                for (key, was) in kept {
                    if let Some(value) = members.remove(key) {
                        entries.push((key.clone(), restore_attribute(value, Some(was))?));
                    }
                }
            }
            let mut added: Vec<_> = members.into_iter().collect();
            added.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, value) in added {
                entries.push((key, restore_attribute(value, None)?));
            }
            Ok(Exact::Map(entries))
        }
        AttributeValue::L(items) => Ok(Exact::List(
            items
                .into_iter()
                .enumerate()
                .map(|(n, item)| restore_attribute(item, original.and_then(|o| o.item(n))))
                .collect::<std::result::Result<_, _>>()?,
        )),
        other => Exact::from_attribute(other),
    }
}

/// The parts of a payload that JSON shows approximately (numbers it has no
/// exact form for, bytes, sets), by what JSON shows of them.
struct Approximated<'a> {
    parts: Vec<(serde_json::Value, &'a Exact)>,
}

impl<'a> Approximated<'a> {
    fn of(payload: &'a Exact) -> Self {
        fn collect<'a>(part: &'a Exact, parts: &mut Vec<(serde_json::Value, &'a Exact)>) {
            match part {
                Exact::List(items) => items.iter().for_each(|item| collect(item, parts)),
                Exact::Map(entries) => entries.iter().for_each(|(_, v)| collect(v, parts)),
                Exact::Null | Exact::Bool(_) | Exact::String(_) => {}
                _ => {
                    let shown = part.to_json();
                    if Exact::from_json(shown.clone()) != *part {
                        parts.push((shown, part));
                    }
                }
            }
        }
        let mut parts = Vec::new();
        collect(payload, &mut parts);
        Self { parts }
    }

    /// The one original shown as `shown`; `None` when none is, or several
    /// different ones are.
    fn find(&self, shown: &serde_json::Value) -> Option<&'a Exact> {
        if !(shown.is_number() || shown.is_array()) {
            return None;
        }
        let mut found = None;
        for (was, exact) in &self.parts {
            if was == shown {
                match found {
                    Some(other) if other != *exact => return None,
                    _ => found = Some(*exact),
                }
            }
        }
        found
    }
}

/// The upcasters of one store, by event type, then version: found by a
/// borrowed event type, nothing allocated per event read.
#[derive(Clone, Default, Debug)]
pub(crate) struct Upcasters {
    steps: HashMap<String, HashMap<u32, Upcaster>>,
}

impl Upcasters {
    pub(crate) fn add(&mut self, upcaster: Upcaster) {
        self.steps
            .entry(upcaster.event_type.clone())
            .or_default()
            .insert(upcaster.from, upcaster);
    }

    fn step(&self, event_type: &str, version: u32) -> Option<&Upcaster> {
        if self.steps.is_empty() {
            return None;
        }
        self.steps.get(event_type)?.get(&version)
    }

    /// Deserializes a payload, stored as a map or as JSON text
    /// ([`PayloadEncoding`](crate::PayloadEncoding)), lifting it first if
    /// upcasters apply. The outer error is an upcaster's failure; the inner
    /// one, a payload that does not deserialize.
    pub(crate) fn read<E: DeserializeOwned>(
        &self,
        aggregate: &dyn std::fmt::Display,
        event_type: &str,
        version: u32,
        payload: Stored,
    ) -> Result<std::result::Result<E, String>> {
        if self.step(event_type, version).is_none() {
            return Ok(payload.deserialize());
        }
        let (mut exact, form) = match Exact::read(payload) {
            Ok(read) => read,
            Err(reason) => return Ok(Err(reason)),
        };
        let mut version = version;
        while let Some(step) = self.step(event_type, version) {
            exact = step.lift(exact).map_err(|reason| Error::Upcast {
                aggregate: aggregate.to_string(),
                event_type: event_type.to_owned(),
                from: version,
                reason,
            })?;
            version = version.checked_add(1).ok_or_else(|| Error::Upcast {
                aggregate: aggregate.to_string(),
                event_type: event_type.to_owned(),
                from: version,
                reason: format!(
                    "an upcaster lifts from schema version {version}, after which there is none"
                ),
            })?;
        }
        Ok(exact
            .deserialize(form)
            .map_err(|e| format!("after upcasting to v{version}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored_json(text: &str) -> Exact {
        Exact::read(Stored::Json(text.to_owned())).expect("JSON").0
    }

    fn lifted(upcaster: &Upcaster, payload: &Exact) -> Exact {
        upcaster.lift(payload.clone()).expect("lifted")
    }

    #[test]
    fn what_a_json_upcaster_leaves_as_it_saw_it_is_kept_exactly() {
        let payload = stored_json(
            r#"{"Wide":{"big":123456789012345678901234567,"z":1.50,"bytes":[1,2],"a":0.1}}"#,
        );
        let identity = Upcaster::new("Wide", 1, Ok::<_, &str>);
        assert_eq!(lifted(&identity, &payload), payload);

        // Adds a member: the others stay as they were, in their order.
        let adds = Upcaster::new("Wide", 1, |mut p: serde_json::Value| {
            p["Wide"]["note"] = json!("lifted");
            Ok::<_, &str>(p)
        });
        let Exact::Map(event) = lifted(&adds, &payload) else {
            panic!("a map");
        };
        let Exact::Map(body) = &event[0].1 else {
            panic!("a map");
        };
        let keys: Vec<&str> = body.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["big", "z", "bytes", "a", "note"]);
        assert_eq!(
            body[0].1,
            Exact::Number("123456789012345678901234567".into())
        );
        assert_eq!(body[1].1, Exact::Number("1.50".into()));

        // Moves the big number: found by what it showed.
        let renames = Upcaster::new("Wide", 1, |mut p: serde_json::Value| {
            let body = p["Wide"].as_object_mut().ok_or("no body")?;
            let big = body.remove("big").ok_or("no big")?;
            body.insert("large".into(), big);
            Ok::<_, &str>(p)
        });
        let moved = lifted(&renames, &payload);
        assert_eq!(
            moved.member("Wide").and_then(|b| b.member("large")),
            Some(&Exact::Number("123456789012345678901234567".into()))
        );
    }

    #[test]
    fn what_a_json_upcaster_changes_is_read_from_json() {
        let payload = Exact::Map(vec![(
            "Raw".into(),
            Exact::Map(vec![
                ("blob".into(), Exact::Binary(vec![1, 2])),
                ("n".into(), Exact::Number("5".into())),
            ]),
        )]);
        let doubles = Upcaster::new("Raw", 1, |mut p: serde_json::Value| {
            let n = p["Raw"]["n"].as_i64().ok_or("no n")?;
            p["Raw"]["n"] = json!(n * 2);
            Ok::<_, &str>(p)
        });
        let lifted = lifted(&doubles, &payload);
        let body = lifted.member("Raw").expect("a body");
        assert_eq!(body.member("n"), Some(&Exact::Number("10".into())));
        assert_eq!(body.member("blob"), Some(&Exact::Binary(vec![1, 2])));
    }

    #[test]
    fn two_originals_shown_alike_are_not_guessed() {
        // Two integers beyond 64 bits with one nearest f64, both moved.
        let payload =
            stored_json(r#"{"a":123456789012345678901234567,"b":123456789012345678901234568}"#);
        let swaps = Upcaster::new("X", 1, |p: serde_json::Value| {
            Ok::<_, &str>(json!({"c": p["a"], "d": p["b"]}))
        });
        let lifted = lifted(&swaps, &payload);
        let Some(Exact::Number(c)) = lifted.member("c") else {
            panic!("a number");
        };
        assert_ne!(c, "123456789012345678901234567", "not a guess");
    }

    #[test]
    fn an_exact_upcaster_keeps_json_members_in_order() {
        let payload = stored_json(r#"{"V":{"z":1,"a":2,"m":[3,4]}}"#);
        let identity = Upcaster::exact("V", 1, Ok::<_, &str>);
        assert_eq!(lifted(&identity, &payload), payload);
        let adds = Upcaster::exact("V", 1, |mut p: AttributeValue| {
            if let AttributeValue::M(event) = &mut p {
                if let Some(AttributeValue::M(body)) = event.get_mut("V") {
                    body.insert("b".into(), AttributeValue::N("5".into()));
                }
            }
            Ok::<_, &str>(p)
        });
        let Some(Exact::Map(body)) = lifted(&adds, &payload).member("V").cloned() else {
            panic!("a map");
        };
        let keys: Vec<&str> = body.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m", "b"]);
    }
}
