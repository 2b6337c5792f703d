//! Turning Rust values into DynamoDB items and back, and measuring them.
//!
//! # `Option` fields
//!
//! A field that is `None` is **left out** of the written item rather than
//! stored as `NULL` (`serde_dynamo`'s own choice). An absent attribute is what
//! DynamoDB users expect for "no value": it keeps items small, keeps sparse
//! indexes sparse (an index key attribute may not be `NULL`), and lets
//! `attribute_exists` conditions mean what they say. On reading, a missing
//! attribute and a `NULL` attribute both become `None`, so items written by
//! other tools read back the same.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::value::Item;

/// DynamoDB's largest item: 400 KB, names and values.
pub const MAX_ITEM_SIZE: usize = 400 * 1024;

/// Serializes `value` into an item as every write of this crate does,
/// leaving `None` fields out: for building raw items (see
/// [`transact::Put::raw`](crate::transact::Put::raw)).
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Note { text: String, tag: Option<String> }
///
/// let item = dynago::item::to_item(&Note { text: "hi".into(), tag: None })?;
/// assert!(item.contains_key("text") && !item.contains_key("tag"));
/// # Ok::<(), dynago::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Serialize`] when `value` does not serialize into a map.
pub fn to_item<T: Serialize + ?Sized>(value: &T) -> Result<Item> {
    to_item_named(value, || std::any::type_name::<T>().to_owned())
}

/// Serializes `value` into an item, leaving `None` fields out; `what` names
/// it in errors.
pub(crate) fn to_item_named<T: Serialize + ?Sized>(
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<Item> {
    let mut item: Item =
        guarded(|| serde_dynamo::aws_sdk_dynamodb_1::to_item(value)).map_err(|source| {
            Error::Serialize {
                what: what(),
                source,
            }
        })?;
    strip_nulls(&mut item);
    Ok(item)
}

/// Serializes `value` into one attribute value exactly as serde gives it:
/// `None`, `()` and unit structs are `NULL`, also inside maps and lists
/// (nothing is left out, unlike [`to_item`]). For values that must read back
/// as they were, map entries with no value included, such as a whole state
/// kept in one attribute.
///
/// ```
/// use std::collections::BTreeMap;
/// use dynago::AttributeValue;
///
/// let state = BTreeMap::from([("ada".to_owned(), None::<u32>)]);
/// let AttributeValue::M(map) = dynago::item::to_attribute_value(&state)? else { unreachable!() };
/// assert_eq!(map["ada"], AttributeValue::Null(true));
/// # Ok::<(), dynago::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Serialize`] when `value` cannot be written as a DynamoDB value
/// (a map keyed by something that is not a string, say).
pub fn to_attribute_value<T: Serialize + ?Sized>(value: &T) -> Result<AttributeValue> {
    guarded(|| serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value)).map_err(|source| {
        Error::Serialize {
            what: std::any::type_name::<T>().to_owned(),
            source,
        }
    })
}

/// Runs a serialization, turning a panic inside it into an error:
/// `serde_dynamo` panics on some shapes (a map keyed by bytes) rather than
/// refusing them, and a caller's bad value must not end its task.
fn guarded<T>(
    serialize: impl FnOnce() -> std::result::Result<T, serde_dynamo::Error>,
) -> std::result::Result<T, serde_dynamo::Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(serialize)).unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(<serde_dynamo::Error as serde::ser::Error>::custom(format!(
            "this shape cannot be written as a DynamoDB value (serde_dynamo panicked: {reason})"
        )))
    })
}

/// Deserializes a stored item; `key` names it in the error, and is only
/// called for one.
pub(crate) fn from_item<T: DeserializeOwned>(
    item: Item,
    table: &str,
    key: impl FnOnce() -> String,
) -> Result<T> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|source| Error::Deserialize {
        table: table.to_owned(),
        key: key(),
        source,
    })
}

fn strip_nulls(item: &mut Item) {
    item.retain(|_, value| !matches!(value, AttributeValue::Null(_)));
    for value in item.values_mut() {
        strip_nested(value);
    }
}

fn strip_nested(value: &mut AttributeValue) {
    match value {
        AttributeValue::M(map) => strip_nulls(map),
        AttributeValue::L(list) => list.iter_mut().for_each(strip_nested),
        _ => {}
    }
}

/// The size of an item as DynamoDB counts it against the 400 KB limit.
///
/// Names and values count by their UTF-8 or binary length, a number by one
/// byte per pair of significant digits (paired from the decimal point) plus
/// one, and one more if it is negative, `NULL` and booleans one byte, and
/// lists and maps three bytes plus one byte per element.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        _ => 1,
    }
}

fn number_size(n: &str) -> usize {
    // DynamoDB stores a number as base-100 digits (pairs of decimal digits
    // aligned on the decimal point) from the first to the last that is not
    // zero, one byte each, plus one byte of exponent, plus one byte for a
    // negative number. Zero is one byte.
    let n = n.trim();
    let negative = n.starts_with('-');
    let unsigned = n.trim_start_matches(['-', '+']);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().unwrap_or(0)),
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = integer
        .bytes()
        .chain(fraction.bytes())
        .filter(u8::is_ascii_digit)
        .collect();
    let integer_digits = integer.bytes().filter(u8::is_ascii_digit).count();
    // Where the decimal point falls among `digits`.
    let point = i64::try_from(integer_digits)
        .unwrap_or(i64::MAX)
        .saturating_add(exponent);
    // The base-100 digit that the decimal digit at `index` belongs to.
    let pair = |index: usize| {
        i64::try_from(index)
            .unwrap_or(i64::MAX)
            .saturating_sub(point)
            .div_euclid(2)
    };
    let (Some(first), Some(last)) = (
        digits.iter().position(|&d| d != b'0'),
        digits.iter().rposition(|&d| d != b'0'),
    ) else {
        return 1;
    };
    let pairs = usize::try_from(pair(last) - pair(first) + 1).unwrap_or(usize::MAX);
    pairs.saturating_add(1 + usize::from(negative))
}

/// Refuses an item over [`MAX_ITEM_SIZE`]; returns its size.
pub(crate) fn check_size(item: &Item, describe: impl FnOnce() -> String) -> Result<usize> {
    let size = item_size(item);
    if size > MAX_ITEM_SIZE {
        return Err(Error::ItemTooLarge {
            // The callers that know the table name it (`Error::in_table`).
            table: String::new(),
            item: describe(),
            size,
            limit: MAX_ITEM_SIZE,
        });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Profile {
        name: String,
        nickname: Option<String>,
        address: Address,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Address {
        city: String,
        zip: Option<String>,
    }

    #[test]
    fn none_is_left_out_and_missing_reads_as_none() {
        let profile = Profile {
            name: "Ada".into(),
            nickname: None,
            address: Address {
                city: "London".into(),
                zip: None,
            },
        };
        let item = to_item_named(&profile, || "profile".into()).expect("serializes");
        assert!(!item.contains_key("nickname"));
        let AttributeValue::M(address) = &item["address"] else {
            panic!("address is a map")
        };
        assert!(!address.contains_key("zip"));
        let back: Profile = from_item(item, "t", || "k".into()).expect("deserializes");
        assert_eq!(back, profile);
    }

    #[test]
    fn null_reads_as_none() {
        let mut item = to_item_named(
            &Profile {
                name: "Ada".into(),
                nickname: Some("A".into()),
                address: Address {
                    city: "London".into(),
                    zip: Some("N1".into()),
                },
            },
            || "profile".into(),
        )
        .expect("serializes");
        item.insert("nickname".into(), AttributeValue::Null(true));
        let back: Profile = from_item(item, "t", || "k".into()).expect("deserializes");
        assert_eq!(back.nickname, None);
    }

    #[test]
    fn unsupported_shape_is_an_error() {
        let err = to_item_named(&42, || "the answer".into()).expect_err("a number is no item");
        assert!(matches!(err, Error::Serialize { .. }));
        assert!(err.to_string().contains("the answer"), "{err}");
    }

    #[test]
    fn a_map_keyed_by_bytes_is_an_error_not_a_panic() {
        let state = std::collections::BTreeMap::from([(vec![1u8, 2], 3u32)]);
        let err = to_attribute_value(&state).expect_err("bytes keys");
        assert!(matches!(err, Error::Serialize { .. }), "{err:?}");
        assert!(err.to_string().contains("BTreeMap"), "{err}");
        #[derive(Serialize)]
        struct Holder {
            by_bytes: std::collections::BTreeMap<Vec<u8>, u32>,
        }
        let holder = Holder { by_bytes: state };
        let err = to_item_named(&holder, || "the holder".into()).expect_err("bytes keys");
        assert!(matches!(err, Error::Serialize { .. }), "{err:?}");
    }

    #[test]
    fn values_keep_their_nulls() {
        let state = std::collections::BTreeMap::from([
            ("ada".to_owned(), None::<u32>),
            ("bob".to_owned(), Some(2)),
        ]);
        let value = to_attribute_value(&state).expect("serializes");
        let back: std::collections::BTreeMap<String, Option<u32>> =
            serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value).expect("reads");
        assert_eq!(back, state);
    }

    #[test]
    fn sizes() {
        let mut item = Item::new();
        item.insert("ab".into(), AttributeValue::S("xyz".into()));
        assert_eq!(item_size(&item), 5);
        // As DynamoDB Local measures them (the largest item it accepts).
        assert_eq!(number_size("12345"), 4);
        assert_eq!(number_size("-0.0012300"), 4);
        assert_eq!(number_size("0.0012300"), 3);
        assert_eq!(number_size("0.01234"), 4);
        assert_eq!(number_size("0"), 1);
        assert_eq!(number_size("-0"), 1);
        assert_eq!(number_size("5"), 2);
        assert_eq!(number_size("42"), 2);
        assert_eq!(number_size("-42"), 3);
        assert_eq!(number_size("1.5"), 3);
        assert_eq!(number_size("100"), 2);
        assert_eq!(number_size("1000"), 2);
        assert_eq!(number_size("1E2"), 2);
        assert_eq!(number_size("1.5e-3"), 2);
        item.insert(
            "l".into(),
            AttributeValue::L(vec![AttributeValue::Bool(true)]),
        );
        assert_eq!(item_size(&item), 5 + 1 + 3 + 2);
    }
}
