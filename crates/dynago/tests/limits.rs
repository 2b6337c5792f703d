//! DynamoDB's limits and rules, checked before sending: item size (and that
//! our count agrees with the server's), empty and malformed keys, values
//! that are not items.
use crate::common;

use common::{key, raw_item, s, try_raw_put};
use dynago::{binary_value, item_size, AttributeValue, Error, Item, Key, MAX_ITEM_SIZE};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Blob {
    data: String,
}

/// A blob whose item under the partition key `pk` (on a hash table) is `size` bytes.
fn blob_of_size(pk: &str, size: usize) -> Blob {
    // "pk" + value, "data" + value
    Blob {
        data: "x".repeat(size - 2 - pk.len() - 4),
    }
}

#[tokio::test]
async fn an_item_of_exactly_the_limit_is_accepted() {
    let table = common::hash_table().await;
    let blob = blob_of_size("exact", MAX_ITEM_SIZE);
    table
        .put_item(Key::new(s("exact")), &blob)
        .send()
        .await
        .expect("exactly 400 KB");
    let raw = raw_item(&table, &Key::new(s("exact")))
        .await
        .expect("stored");
    assert_eq!(item_size(&raw), MAX_ITEM_SIZE);
    let back: Option<Blob> = table
        .get_item(Key::new(s("exact")))
        .send()
        .await
        .expect("get");
    assert_eq!(back, Some(blob));
}

#[tokio::test]
async fn one_byte_over_the_limit_is_refused_before_sending() {
    let table = common::hash_table().await;
    let blob = blob_of_size("over", MAX_ITEM_SIZE + 1);
    let before = table.request_count();
    let err = table
        .put_item(Key::new(s("over")), &blob)
        .send()
        .await
        .expect_err("one byte too many");
    match &err {
        Error::ItemTooLarge {
            table: named,
            item,
            size,
            limit,
        } => {
            assert_eq!(named, table.name());
            assert_eq!(item, "(\"over\")");
            assert_eq!((*size, *limit), (MAX_ITEM_SIZE + 1, 409_600));
        }
        other => panic!("expected ItemTooLarge, got {other:?}"),
    }
    assert!(err.to_string().contains(table.name()), "{err}");
    assert!(err.is_invalid_input());
    assert!(!err.is_retryable());
    assert_eq!(table.request_count(), before, "nothing sent");
    assert_eq!(raw_item(&table, &Key::new(s("over"))).await, None);

    // What a lock adds to the item (its version, ...) counts too: measure
    // it on a stored item, then fill the rest.
    #[derive(Serialize)]
    struct Versioned {
        data: String,
        version: u64,
    }
    let empty = Versioned {
        data: String::new(),
        version: 0,
    };
    table
        .put_item(Key::new(s("v")), &empty)
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");
    let stored = raw_item(&table, &Key::new(s("v"))).await.expect("stored");
    assert_eq!(stored.get("version"), Some(&common::n(1)));
    let room = MAX_ITEM_SIZE - item_size(&stored);
    table
        .delete_item(Key::new(s("v")))
        .send()
        .await
        .expect("delete");
    let fits = Versioned {
        data: "x".repeat(room),
        version: 0,
    };
    table
        .put_item(Key::new(s("v")), &fits)
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("exactly 400 KB with version 1");
    let raw = raw_item(&table, &Key::new(s("v"))).await.expect("stored");
    assert_eq!(item_size(&raw), MAX_ITEM_SIZE);
    let over = Versioned {
        data: "x".repeat(room + 1),
        version: 0,
    };
    let err = table
        .put_item(Key::new(s("w")), &over)
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect_err("one byte too many");
    assert!(
        matches!(err, Error::ItemTooLarge { size, .. } if size == MAX_ITEM_SIZE + 1),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_server_agrees_on_the_limit() {
    let table = common::hash_table().await;
    let mut item: Item = Item::from([
        ("pk".to_owned(), s("raw")),
        (
            "data".to_owned(),
            s(&"x".repeat(MAX_ITEM_SIZE - 2 - 3 - 4 + 1)),
        ),
    ]);
    assert_eq!(item_size(&item), MAX_ITEM_SIZE + 1);
    let refused = try_raw_put(&table, item.clone()).await;
    assert_refused_for_its_size(refused);
    item.insert("data".to_owned(), s(&"x".repeat(MAX_ITEM_SIZE - 9)));
    common::put_raw(&table, item).await;
}

/// Checks that the server refused a raw put for the item's size: a
/// validation error that says so, not any error.
fn assert_refused_for_its_size<T: std::fmt::Debug, E>(
    refused: Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
) where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
{
    let error = refused.expect_err("the server refuses 400 KB + 1");
    let service = error.as_service_error().expect("an answer of the server");
    assert_eq!(service.code(), Some("ValidationException"), "{error:?}");
    let message = service.message().unwrap_or_default().to_lowercase();
    assert!(
        message.contains("size"),
        "not refused for its size: {message}"
    );
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Mixed {
    ints: Vec<i64>,
    floats: Vec<f64>,
    flag: bool,
    nested: Nested,
    tags: Vec<Option<String>>,
    pad: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Nested {
    count: u32,
    name: String,
    empty: Vec<u32>,
}

#[tokio::test]
async fn our_size_of_numbers_lists_and_maps_matches_the_server() {
    let table = common::hash_table().await;
    let mixed = |pad: usize| Mixed {
        ints: vec![0, 5, 42, -42, 100, 1000, 12345],
        floats: vec![1.5, -0.00123, 0.00123],
        flag: true,
        nested: Nested {
            count: 7,
            name: "nested".into(),
            empty: vec![],
        },
        tags: vec![Some("a".into()), None],
        pad: "x".repeat(pad),
    };
    table
        .put_item(Key::new(s("base")), &mixed(0))
        .send()
        .await
        .expect("put");
    let base = item_size(
        &raw_item(&table, &Key::new(s("base")))
            .await
            .expect("stored"),
    );
    // Same partition key length for the items below.
    let room = MAX_ITEM_SIZE - base;

    table
        .put_item(Key::new(s("full")), &mixed(room))
        .send()
        .await
        .expect("exactly 400 KB by our count: the server must take it");
    let raw = raw_item(&table, &Key::new(s("full")))
        .await
        .expect("stored");
    assert_eq!(item_size(&raw), MAX_ITEM_SIZE);
    let read: Option<Mixed> = table
        .get_item(Key::new(s("full")))
        .send()
        .await
        .expect("get");
    assert_eq!(read, Some(mixed(room)));

    // One more byte: we refuse it, and so does the server.
    let err = table
        .put_item(Key::new(s("over")), &mixed(room + 1))
        .send()
        .await
        .expect_err("over");
    assert!(matches!(err, Error::ItemTooLarge { .. }), "{err:?}");
    let mut over = raw;
    over.insert("pk".to_owned(), s("over"));
    over.insert("pad".to_owned(), s(&"x".repeat(room + 1)));
    assert_eq!(item_size(&over), MAX_ITEM_SIZE + 1);
    let refused = try_raw_put(&table, over).await;
    assert_refused_for_its_size(refused);
    assert_eq!(raw_item(&table, &Key::new(s("over"))).await, None);
}

#[tokio::test]
async fn empty_and_malformed_keys_are_invalid() {
    let table = common::table().await;
    let hash = common::hash_table().await;
    let before = table.request_count() + hash.request_count();
    let blob = Blob { data: "d".into() };

    let invalid = |err: Error, what: &str| {
        assert!(
            matches!(&err, Error::InvalidKey { .. }),
            "{what}: expected InvalidKey, got {err:?}"
        );
        assert!(err.is_invalid_input(), "{what}");
        assert!(!err.is_retryable(), "{what}");
    };
    invalid(
        table
            .put_item(key("", 1), &blob)
            .send()
            .await
            .expect_err("empty"),
        "put",
    );
    invalid(
        table
            .get_item(key("", 1))
            .send::<Blob>()
            .await
            .expect_err("empty"),
        "get",
    );
    invalid(
        table
            .delete_item(key("", 1))
            .send()
            .await
            .expect_err("empty"),
        "delete",
    );
    invalid(
        hash.put_item(Key::new(s("")), &blob)
            .send()
            .await
            .expect_err("empty"),
        "hash put",
    );
    invalid(
        hash.put_item(Key::new(binary_value(Vec::new())), &blob)
            .send()
            .await
            .expect_err("empty binary"),
        "empty binary",
    );
    invalid(
        hash.put_item(Key::new(AttributeValue::Bool(true)), &blob)
            .send()
            .await
            .expect_err("bool"),
        "bool key",
    );
    invalid(
        table
            .put_item(Key::new(s("p")), &blob)
            .send()
            .await
            .expect_err("no sort key"),
        "missing sort key",
    );
    invalid(
        hash.put_item(key("p", 1), &blob)
            .send()
            .await
            .expect_err("unexpected sort key"),
        "unexpected sort key",
    );
    let err = table
        .put_item(key("", 1), &blob)
        .send()
        .await
        .expect_err("empty");
    assert!(
        matches!(&err, Error::InvalidKey { table: t, reason } if t == table.name() && reason.contains("`pk`") && reason.contains("empty string")),
        "{err:?}"
    );
    assert_eq!(
        table.request_count() + hash.request_count(),
        before,
        "nothing sent"
    );
    assert_eq!(common::count(&table).await, 0);
    assert_eq!(common::count(&hash).await, 0);
}

#[tokio::test]
async fn values_that_are_not_maps_cannot_be_items() {
    let table = common::table().await;
    let before = table.request_count();
    let serialize = |err: Error, what: &str| {
        match &err {
            Error::Serialize { what: w, .. } => assert_eq!(w, "the item to put", "{what}"),
            other => panic!("{what}: expected Serialize, got {other:?}"),
        }
        assert!(err.is_invalid_input(), "{what}");
        assert!(!err.is_retryable(), "{what}");
    };
    serialize(
        table
            .put_item(key("p", 1), &42)
            .send()
            .await
            .expect_err("a number"),
        "number",
    );
    serialize(
        table
            .put_item(key("p", 1), &vec![1, 2, 3])
            .send()
            .await
            .expect_err("a list"),
        "list",
    );
    serialize(
        table
            .put_item(key("p", 1), "text")
            .send()
            .await
            .expect_err("a string"),
        "string",
    );
    serialize(
        table
            .put_item(key("p", 1), &Some(true))
            .send()
            .await
            .expect_err("an option"),
        "option",
    );
    assert_eq!(table.request_count(), before, "nothing sent");
    assert_eq!(common::count(&table).await, 0);
}
