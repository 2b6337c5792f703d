//! How an event's payload is stored: a native DynamoDB map (the default),
//! or JSON text, which is cheaper to read; and the exact form a stored
//! payload is lifted in by upcasters.

use dynago::number::{check_floats, check_floats_noting_whole, FloatTarget};
use dynago::{AttributeValue, Blob};
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// The form of the `payload` attribute of the event items a store writes
/// ([`StoreOptions::payload_encoding`](crate::StoreOptions::payload_encoding)).
/// A store reads both forms whatever it writes, so that a table can hold
/// events of either, and the choice can change at any time.
///
/// Both keep every value exactly (floats bit for bit) or refuse it when
/// the event is written, with [`Error::Serialize`](crate::Error::Serialize),
/// before anything is sent: a value never changes on its way to the table.
/// What each refuses:
///
/// - [`Map`](Self::Map): floats DynamoDB numbers do not hold (NaN, the
///   infinities, `-0.0`, magnitudes from 1E+126 or below 1E-130, every
///   subnormal among them), and 128-bit integers (`serde_dynamo` has none).
/// - [`Json`](Self::Json): NaN and the infinities.
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
    /// The payload deserialized as it is stored.
    pub(crate) fn deserialize<E: DeserializeOwned>(self) -> Result<E, String> {
        match self {
            Self::Json(text) => serde_json::from_str(&text).map_err(|e| e.to_string()),
            Self::Value(value) => serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value)
                .map_err(|e| e.to_string()),
        }
    }
}

/// Checks that `value`, the map form of a value holding `whole` floats
/// with a whole value, reads back with as many: such a float is written as
/// a DynamoDB number without a point (`1.0` as `1`), which a field that
/// does not say its type (a `serde_json::Value`) reads as an integer. Only
/// values that hold such a float pay for it.
pub(crate) fn reads_back_as_written<T: Serialize + DeserializeOwned>(
    whole: usize,
    value: &AttributeValue,
) -> Result<(), String> {
    let read: T = serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value.clone())
        .map_err(|e| format!("it does not read back from its own map form: {e}"))?;
    let read_whole =
        check_floats_noting_whole(&read, FloatTarget::DynamoDbNumber).map_err(|e| e.to_string())?;
    if read_whole != whole {
        return Err(
            "a float with a whole value (such as 1.0) reads back from a DynamoDB number as an integer where its type is not fixed (a serde_json::Value); the JSON payload encoding keeps it".to_owned(),
        );
    }
    Ok(())
}

/// The attribute of `payload` in `encoding`: its name and value.
pub(crate) fn encode<E: Serialize + DeserializeOwned>(
    payload: &E,
    encoding: PayloadEncoding,
) -> Result<(&'static str, AttributeValue), String> {
    match encoding {
        PayloadEncoding::Map => {
            let whole =
                check_floats_noting_whole(payload, FloatTarget::DynamoDbNumber).map_err(|e| {
                    let hint = if e.value().is_finite() {
                        "; the JSON payload encoding keeps it"
                    } else {
                        ""
                    };
                    format!("{e}{hint}")
                })?;
            let value = dynago::item::to_attribute_value(payload).map_err(|e| e.to_string())?;
            if whole > 0 {
                reads_back_as_written::<E>(whole, &value)?;
            }
            Ok((PAYLOAD, value))
        }
        PayloadEncoding::Json => {
            check_floats(payload, FloatTarget::Json).map_err(|e| e.to_string())?;
            serde_json::to_string(payload)
                .map(|text| (PAYLOAD_JSON, AttributeValue::S(text)))
                .map_err(|e| e.to_string())
        }
    }
}

/// A stored payload read exactly, for upcasters: every DynamoDB type kept
/// (bytes, sets, `NULL`), numbers as their text, and a JSON object's
/// members in their order, so that it is written back as it was read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Exact {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Binary(Vec<u8>),
    List(Vec<Exact>),
    Map(Vec<(String, Exact)>),
    StringSet(Vec<String>),
    NumberSet(Vec<String>),
    BinarySet(Vec<Vec<u8>>),
}

/// A stored payload as JSON, whatever form it was stored in: for readers
/// without the event's type. Sets read as arrays, bytes as arrays of
/// numbers, numbers as written.
pub(crate) fn to_json(stored: Stored) -> Result<serde_json::Value, String> {
    let (exact, _) = Exact::read(stored)?;
    let mut text = Vec::new();
    exact.write_json(&mut text)?;
    serde_json::from_slice(&text).map_err(|e| e.to_string())
}

/// Which of the stored forms a payload came in, and goes back to for
/// deserializing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Map,
    Json,
}

impl Exact {
    /// A stored payload, read exactly, and the form it came in.
    pub(crate) fn read(stored: Stored) -> Result<(Self, Form), String> {
        match stored {
            Stored::Value(value) => Ok((Self::from_attribute(value)?, Form::Map)),
            Stored::Json(text) => {
                let raw: &RawValue = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                Ok((Self::from_raw(raw).map_err(|e| e.to_string())?, Form::Json))
            }
        }
    }

    /// Deserializes the payload from `form`, as if it had been stored so.
    pub(crate) fn deserialize<E: DeserializeOwned>(&self, form: Form) -> Result<E, String> {
        match form {
            Form::Map => {
                serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(self.to_attribute())
                    .map_err(|e| e.to_string())
            }
            Form::Json => {
                let mut text = Vec::new();
                self.write_json(&mut text)?;
                serde_json::from_slice(&text).map_err(|e| e.to_string())
            }
        }
    }

    pub(crate) fn from_attribute(value: AttributeValue) -> Result<Self, String> {
        Ok(match value {
            AttributeValue::Null(_) => Self::Null,
            AttributeValue::Bool(b) => Self::Bool(b),
            AttributeValue::N(n) => Self::Number(n),
            AttributeValue::S(s) => Self::String(s),
            AttributeValue::B(b) => Self::Binary(b.into_inner()),
            AttributeValue::L(items) => Self::List(
                items
                    .into_iter()
                    .map(Self::from_attribute)
                    .collect::<Result<_, _>>()?,
            ),
            AttributeValue::M(map) => Self::Map(
                map.into_iter()
                    .map(|(k, v)| Ok((k, Self::from_attribute(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            AttributeValue::Ss(set) => Self::StringSet(set),
            AttributeValue::Ns(set) => Self::NumberSet(set),
            AttributeValue::Bs(set) => {
                Self::BinarySet(set.into_iter().map(Blob::into_inner).collect())
            }
            other => {
                return Err(format!(
                    "an attribute value of a type unknown to this version: {other:?}"
                ))
            }
        })
    }

    /// The payload as a DynamoDB attribute value: what a map payload
    /// holds, and what exact upcasters see.
    pub(crate) fn to_attribute(&self) -> AttributeValue {
        match self {
            Self::Null => AttributeValue::Null(true),
            Self::Bool(b) => AttributeValue::Bool(*b),
            Self::Number(n) => AttributeValue::N(n.clone()),
            Self::String(s) => AttributeValue::S(s.clone()),
            Self::Binary(b) => AttributeValue::B(Blob::new(b.clone())),
            Self::List(items) => AttributeValue::L(items.iter().map(Self::to_attribute).collect()),
            Self::Map(entries) => AttributeValue::M(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_attribute()))
                    .collect(),
            ),
            Self::StringSet(set) => AttributeValue::Ss(set.clone()),
            Self::NumberSet(set) => AttributeValue::Ns(set.clone()),
            Self::BinarySet(set) => {
                AttributeValue::Bs(set.iter().map(|b| Blob::new(b.clone())).collect())
            }
        }
    }

    /// Reads JSON text exactly: numbers as written (no `f64` on the way),
    /// members in order. Each level is parsed by `serde_json` as raw text,
    /// then its parts.
    fn from_raw(raw: &RawValue) -> Result<Self, serde_json::Error> {
        let text = raw.get();
        Ok(match text.as_bytes().first() {
            Some(b'{') => {
                let Members(members) = serde_json::from_str(text)?;
                Self::Map(
                    members
                        .into_iter()
                        .map(|(k, v)| Ok((k, Self::from_raw(v)?)))
                        .collect::<Result<_, serde_json::Error>>()?,
                )
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text)?;
                Self::List(
                    items
                        .into_iter()
                        .map(Self::from_raw)
                        .collect::<Result<_, _>>()?,
                )
            }
            Some(b'"') => Self::String(serde_json::from_str(text)?),
            Some(b't' | b'f') => Self::Bool(serde_json::from_str(text)?),
            Some(b'n') => Self::Null,
            _ => Self::Number(text.to_owned()),
        })
    }

    /// Writes the payload as JSON text: bytes and sets as `serde_json`
    /// writes them (lists), numbers as their text.
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        fn list<T>(
            out: &mut Vec<u8>,
            items: &[T],
            mut write: impl FnMut(&mut Vec<u8>, &T) -> Result<(), String>,
        ) -> Result<(), String> {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write(out, item)?;
            }
            out.push(b']');
            Ok(())
        }
        fn number(out: &mut Vec<u8>, n: &str) -> Result<(), String> {
            if !is_json_number(n) {
                return Err(format!("the number `{n}` has no JSON form"));
            }
            out.extend_from_slice(n.as_bytes());
            Ok(())
        }
        fn string(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
            serde_json::to_writer(out, s).map_err(|e| e.to_string())
        }
        fn bytes(out: &mut Vec<u8>, b: &[u8]) -> Result<(), String> {
            list(out, b, |out, byte| {
                out.extend_from_slice(byte.to_string().as_bytes());
                Ok(())
            })
        }
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Self::Number(n) => number(out, n)?,
            Self::String(s) => string(out, s)?,
            Self::Binary(b) => bytes(out, b)?,
            Self::List(items) => list(out, items, |out, item| item.write_json(out))?,
            Self::Map(entries) => {
                out.push(b'{');
                for (n, (k, v)) in entries.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    string(out, k)?;
                    out.push(b':');
                    v.write_json(out)?;
                }
                out.push(b'}');
            }
            Self::StringSet(set) => list(out, set, |out, s| string(out, s))?,
            Self::NumberSet(set) => list(out, set, |out, n| number(out, n))?,
            Self::BinarySet(set) => list(out, set, |out, b| bytes(out, b))?,
        }
        Ok(())
    }

    /// The payload as `serde_json` sees it: what JSON upcasters see. Exact
    /// but for what JSON has no exact form for: a number beyond `i64`/`u64`
    /// that is not an `f64` (shown as the nearest `f64`), bytes and sets
    /// (shown as lists).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        let number = |n: &str| match serde_json::from_str::<serde_json::Number>(n) {
            Ok(number) => Value::Number(number),
            Err(_) => n
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| Value::String(n.to_owned()), Value::Number),
        };
        let bytes = |b: &[u8]| Value::Array(b.iter().map(|&byte| Value::from(byte)).collect());
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => number(n),
            Self::String(s) => Value::String(s.clone()),
            Self::Binary(b) => bytes(b),
            Self::List(items) => Value::Array(items.iter().map(Self::to_json).collect()),
            Self::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Self::StringSet(set) => Value::Array(set.iter().cloned().map(Value::String).collect()),
            Self::NumberSet(set) => Value::Array(set.iter().map(|n| number(n)).collect()),
            Self::BinarySet(set) => Value::Array(set.iter().map(|b| bytes(b)).collect()),
        }
    }

    /// A JSON value, exactly: numbers by their text.
    pub(crate) fn from_json(value: serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(b),
            Value::Number(n) => Self::Number(n.to_string()),
            Value::String(s) => Self::String(s),
            Value::Array(items) => Self::List(items.into_iter().map(Self::from_json).collect()),
            Value::Object(members) => Self::Map(
                members
                    .into_iter()
                    .map(|(k, v)| (k, Self::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The member `key` of a map.
    #[cfg(test)]
    pub(crate) fn member(&self, key: &str) -> Option<&Exact> {
        match self {
            Self::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The item `index` of a list.
    pub(crate) fn item(&self, index: usize) -> Option<&Exact> {
        match self {
            Self::List(items) => items.get(index),
            _ => None,
        }
    }
}

/// Whether `n` is a number in JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(n: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = n.strip_prefix('-').unwrap_or(n);
    let (coefficient, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((coefficient, exponent)) => (
            coefficient,
            Some(exponent.strip_prefix(['+', '-']).unwrap_or(exponent)),
        ),
        None => (unsigned, None),
    };
    let (integer, fraction) = match coefficient.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (coefficient, None),
    };
    digits(integer)
        && (integer == "0" || !integer.starts_with('0'))
        && fraction.is_none_or(digits)
        && exponent.is_none_or(digits)
}

/// A JSON object's members in order, each as raw text.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members<'de>, M::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Exact {
        Exact::read(Stored::Json(text.to_owned())).expect("JSON").0
    }

    fn written(exact: &Exact) -> String {
        let mut out = Vec::new();
        exact.write_json(&mut out).expect("written");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn json_text_is_read_and_written_exactly() {
        for text in [
            r#"{"b":1,"a":[123456789012345678901234567,-0.0,5e-324,1.50,1E+2],"c":null}"#,
            r#"{"Wide":{"big":340282366920938463463374607431768211455,"s":"\u00e9\"\n"}}"#,
            r#""Unit""#,
            "[]",
            "{}",
            "[true,false,{\"x\":[[]]}]",
        ] {
            let exact = json(text);
            let again = written(&exact);
            assert_eq!(json(&again), exact, "{text}");
            let a: serde_json::Value = serde_json::from_str(text).expect("JSON");
            let b: serde_json::Value = serde_json::from_str(&again).expect("JSON");
            assert_eq!(a, b, "{text}");
        }
        assert_eq!(
            written(&json(r#"{ "z" : 1.50 , "a" : [ 1E+2 ] }"#)),
            r#"{"z":1.50,"a":[1E+2]}"#,
            "order and number texts kept"
        );
        assert!(Exact::read(Stored::Json("{".into())).is_err());
    }

    #[test]
    fn bytes_and_sets_are_written_as_serde_json_writes_them() {
        let exact = Exact::Map(vec![
            ("b".into(), Exact::Binary(vec![0, 255])),
            ("ss".into(), Exact::StringSet(vec!["x".into()])),
            (
                "ns".into(),
                Exact::NumberSet(vec!["1".into(), "-2.5".into()]),
            ),
            ("bs".into(), Exact::BinarySet(vec![vec![1], vec![]])),
        ]);
        assert_eq!(
            written(&exact),
            r#"{"b":[0,255],"ss":["x"],"ns":[1,-2.5],"bs":[[1],[]]}"#
        );
        let bad = Exact::Number("+1".into());
        assert!(bad.write_json(&mut Vec::new()).is_err());
    }

    #[test]
    fn attribute_values_convert_both_ways() {
        let value = AttributeValue::M(
            [
                ("n".to_owned(), AttributeValue::N("1.5".into())),
                ("b".to_owned(), AttributeValue::B(Blob::new(vec![7]))),
                ("z".to_owned(), AttributeValue::Null(true)),
                (
                    "l".to_owned(),
                    AttributeValue::L(vec![
                        AttributeValue::Ss(vec!["a".into()]),
                        AttributeValue::Ns(vec!["2".into()]),
                        AttributeValue::Bs(vec![Blob::new(vec![1])]),
                        AttributeValue::Bool(true),
                    ]),
                ),
            ]
            .into(),
        );
        let exact = Exact::from_attribute(value.clone()).expect("known types");
        assert_eq!(exact.to_attribute(), value);
    }

    #[test]
    fn json_numbers_are_recognised() {
        for good in [
            "0",
            "-0",
            "1.5",
            "-0.0",
            "1e5",
            "1E+2",
            "5e-324",
            "123456789012345678901234567",
        ] {
            assert!(is_json_number(good), "{good}");
        }
        for bad in [
            "", "+1", ".5", "5.", "01", "-", "1e", "NaN", "inf", "1.e5", "0x1", " 1",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
