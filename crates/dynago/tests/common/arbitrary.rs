//! Proptest strategies for arbitrary DynamoDB attribute values and items,
//! nested to any depth DynamoDB takes, that DynamoDB accepts as they are
//! (valid numbers, non-empty sets without duplicates): for writing random
//! items raw and reading them back through typed code.
//!
//! Shared by the fuzz tests of `dynago` and `dynago-es` (the latter includes
//! it with `#[path]`).

#![allow(dead_code)]

use std::collections::HashMap;

use dynago::{AttributeValue, Blob, Item};
use proptest::collection::{btree_set, hash_map, vec};
use proptest::prelude::*;

/// A number as DynamoDB takes it: integers of every size up to 38 digits,
/// decimals, exponents, and the shortest forms of floats.
pub fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        // DynamoDB keeps up to 38 significant digits.
        (-(10i128.pow(38) - 1)..10i128.pow(38)).prop_map(|n| n.to_string()),
        (-1e15f64..1e15).prop_map(|f| f.to_string()),
        (any::<i32>(), 0u32..1000).prop_map(|(i, fraction)| format!("{i}.{fraction:03}")),
        (1u32..10, -120i32..120).prop_map(|(m, e)| format!("{m}E{e}")),
        Just("0".to_owned()),
        Just("255".to_owned()),
        Just("-1".to_owned()),
    ]
}

/// A name: mostly the field names typed code looks for, else anything.
pub fn name(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(known).prop_map(str::to_owned),
        2 => "[a-z_]{1,8}",
        1 => "\\PC{1,8}",
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,12}",
        "\\PC{0,12}",
        Just(String::new()),
        // Strings that look like what typed fields parse.
        Just("2024-02-30T25:61:00Z".to_owned()),
        Just("2024-01-01T00:00:00Z".to_owned()),
        Just("018f6b1e-0000-7000-8000-000000000000".to_owned()),
        Just("not-a-uuid".to_owned()),
        Just("true".to_owned()),
        Just("12".to_owned()),
    ]
}

/// A value that holds no other value.
pub fn scalar() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        4 => string().prop_map(AttributeValue::S),
        4 => number().prop_map(AttributeValue::N),
        1 => vec(any::<u8>(), 0..12).prop_map(|b| AttributeValue::B(Blob::new(b))),
        2 => any::<bool>().prop_map(AttributeValue::Bool),
        1 => Just(AttributeValue::Null(true)),
        1 => btree_set("\\PC{1,6}", 1..4)
            .prop_map(|set| AttributeValue::Ss(set.into_iter().collect())),
        1 => btree_set(any::<i32>(), 1..4)
            .prop_map(|set| AttributeValue::Ns(set.iter().map(i32::to_string).collect())),
        1 => btree_set(vec(any::<u8>(), 1..6), 1..4)
            .prop_map(|set| AttributeValue::Bs(set.into_iter().map(Blob::new).collect())),
    ]
}

/// Any value: scalars, and lists and maps of values up to 5 levels deep.
pub fn value(known: &'static [&'static str]) -> impl Strategy<Value = AttributeValue> {
    scalar().prop_recursive(5, 48, 4, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
            hash_map(name(known), inner, 0..4).prop_map(AttributeValue::M),
        ]
    })
}

/// An item of up to `max` attributes, without the key attributes (add them).
pub fn item(known: &'static [&'static str], max: usize) -> impl Strategy<Value = Item> {
    hash_map(name(known), value(known), 0..=max).prop_map(|item: HashMap<_, _>| item)
}
