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
