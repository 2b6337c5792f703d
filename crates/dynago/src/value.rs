//! Attribute values: the helpers that build them and the item type.

use std::collections::HashMap;
use std::fmt::Display;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

/// A DynamoDB item as the SDK holds it: attribute names to values.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute value (`S`).
///
/// ```
/// use dynago::{string_value, AttributeValue};
/// assert_eq!(string_value("user#1"), AttributeValue::S("user#1".into()));
/// ```
pub fn string_value(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute value (`N`) from any of Rust's primitive numbers.
///
/// DynamoDB sends numbers as decimal strings; this writes the number's
/// `Display` form, which is exact for integers.
///
/// ```
/// use dynago::{number_value, AttributeValue};
/// assert_eq!(number_value(42u64), AttributeValue::N("42".into()));
/// assert_eq!(number_value(-1.5), AttributeValue::N("-1.5".into()));
/// ```
pub fn number_value<N: Number>(value: N) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A binary attribute value (`B`).
///
/// ```
/// use dynago::{binary_value, AttributeValue, Blob};
/// assert_eq!(binary_value([1u8, 2]), AttributeValue::B(Blob::new(vec![1, 2])));
/// ```
pub fn binary_value(value: impl Into<Vec<u8>>) -> AttributeValue {
    AttributeValue::B(Blob::new(value.into()))
}

/// Rust's primitive number types, which [`number_value`] takes.
///
/// This trait is sealed: it exists so that `number_value` refuses strings.
pub trait Number: Display + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Number for $t {}
    )*};
}
numbers!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);

/// The number held by an attribute value, if it is an `N` that parses as `T`.
pub(crate) fn parse_number<T: std::str::FromStr>(value: &AttributeValue) -> Option<T> {
    match value {
        AttributeValue::N(n) => n.parse().ok(),
        _ => None,
    }
}

/// A DynamoDB value made from a Rust value with `From`: a string (`S`), an
/// integer or a float (`N`, as [`number_value`] writes it), bytes (`B`), a
/// bool (`BOOL`), or any [`AttributeValue`] as it is. Keys
/// ([`Key::new`](crate::Key::new)) and the values of expressions
/// (`.value(":amount", 250)`) take one, so that plain Rust values need no
/// wrapping; a key refuses a value that is not a string, a number or bytes
/// with [`Error::InvalidKey`](crate::Error::InvalidKey) when it is used.
///
/// ```
/// use dynago::{number_value, string_value, Value};
/// use aws_sdk_dynamodb::types::AttributeValue;
///
/// assert_eq!(AttributeValue::from(Value::from("pk_jon")), string_value("pk_jon"));
/// assert_eq!(AttributeValue::from(Value::from(42_u64)), number_value(42));
/// assert_eq!(AttributeValue::from(Value::from(true)), AttributeValue::Bool(true));
/// assert_eq!(
///     AttributeValue::from(Value::from(&b"\x01"[..])),
///     dynago::binary_value(vec![1])
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Value(AttributeValue);

impl From<Value> for AttributeValue {
    fn from(value: Value) -> Self {
        value.0
    }
}

impl From<AttributeValue> for Value {
    fn from(value: AttributeValue) -> Self {
        Value(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value(string_value(value))
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value(string_value(value))
    }
}

impl From<&String> for Value {
    fn from(value: &String) -> Self {
        Value(string_value(value.as_str()))
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value(AttributeValue::Bool(value))
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Self {
        Value(binary_value(value))
    }
}

impl From<&[u8]> for Value {
    fn from(value: &[u8]) -> Self {
        Value(binary_value(value))
    }
}

impl From<Blob> for Value {
    fn from(value: Blob) -> Self {
        Value(AttributeValue::B(value))
    }
}

macro_rules! number_values {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(value: $t) -> Self {
                Value(number_value(value))
            }
        }
    )*};
}
number_values!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);
