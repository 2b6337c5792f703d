//! Batch reads and writes of any size: order, duplicates, missing keys,
//! chunking, and the checks done before anything is written.
use crate::common;

use std::collections::HashSet;

use common::{key, s};
use dynago::{Error, Key, MAX_ITEM_SIZE};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Row {
    n: u32,
    label: String,
}

fn row(n: u32) -> Row {
    Row {
        n,
        label: format!("row {n}"),
    }
}

#[tokio::test]
async fn batch_get_returns_existing_distinct_items_in_key_order() {
    let table = common::table().await;
    // Items exist for every multiple of 3 below 300.
    (0..300u32)
        .filter(|n| n.is_multiple_of(3))
        .fold(table.batch_write(), |batch, n| {
            batch.put(key("p", n), &row(n))
        })
        .send()
        .await
        .expect("batch write");

    // 250 keys in a scrambled order, with missing keys and duplicates.
    let sks: Vec<u32> = (0..250u32).map(|i| (i * 97 + 13) % 211).collect();
    assert_eq!(sks.len(), 250);
    let distinct: HashSet<u32> = sks.iter().copied().collect();
    assert!(distinct.len() < 250, "there are duplicates");
    let mut seen = HashSet::new();
    let expected: Vec<Row> = sks
        .iter()
        .copied()
        .filter(|n| n.is_multiple_of(3) && seen.insert(*n))
        .map(row)
        .collect();
    assert!(expected.len() > 60 && expected.len() < 100);
    assert!(
        sks.iter().any(|n| !n.is_multiple_of(3)),
        "there are missing keys"
    );

    let before = table.request_count();
    let found: Vec<Row> = table
        .batch_get_items(sks.iter().map(|&n| key("p", n)))
        .send()
        .await
        .expect("batch get");
    assert_eq!(found, expected);
    // 211 distinct keys: three requests of at most 100.
    assert_eq!(table.request_count() - before, 3);

    let consistent: Vec<Row> = table
        .batch_get_items(sks.iter().map(|&n| key("p", n)))
        .consistent_read(true)
        .send()
        .await
        .expect("batch get");
    assert_eq!(consistent, expected);
}

#[tokio::test]
async fn batch_get_of_nothing_and_of_missing_keys() {
    let table = common::table().await;
    let before = table.request_count();
    let none: Vec<Row> = table
        .batch_get_items(Vec::<Key>::new())
        .send()
        .await
        .expect("empty batch get");
    assert_eq!(none, vec![]);
    assert_eq!(table.request_count(), before, "nothing sent");

    let missing: Vec<Row> = table
        .batch_get_items((0..10).map(|n| key("p", n)))
        .send()
        .await
        .expect("batch get");
    assert_eq!(missing, vec![]);
}

#[tokio::test]
async fn batch_get_with_an_invalid_key_is_refused() {
    let table = common::table().await;
    table
        .put_item(key("p", 1), &row(1))
        .send()
        .await
        .expect("put");
    let before = table.request_count();
    let err = table
        .batch_get_items([key("p", 1), key("", 2), key("p", 3)])
        .send::<Row>()
        .await
        .expect_err("an empty partition key");
    assert!(
        matches!(&err, Error::InvalidKey { table: t, .. } if t == table.name()),
        "{err:?}"
    );
    assert!(err.is_invalid_input());
    let err = table
        .batch_get_items([key("p", 1), Key::new(s("p"))])
        .send::<Row>()
        .await
        .expect_err("no sort key");
    assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
    assert_eq!(table.request_count(), before, "nothing sent");
}

#[tokio::test]
async fn batch_write_applies_every_put_and_delete() {
    let table = common::table().await;
    (1000..1030u32)
        .fold(table.batch_write(), |batch, n| {
            batch.put(key("p", n), &row(n))
        })
        .send()
        .await
        .expect("first batch");
    assert_eq!(common::count(&table).await, 30);

    let batch = (0..120u32).fold(table.batch_write(), |batch, n| {
        batch.put(key("p", n), &row(n))
    });
    let batch = (1000..1030u32).fold(batch, |batch, n| batch.delete(key("p", n)));
    // Deleting what does not exist is fine too.
    let batch = batch.delete(key("p", 5000));
    assert_eq!(batch.len(), 151);
    assert!(!batch.is_empty());
    let before = table.request_count();
    batch.send().await.expect("batch write");
    // 151 writes: seven requests of at most 25.
    assert_eq!(table.request_count() - before, 7);

    let page = table
        .query("pk = :pk")
        .value(":pk", s("p"))
        .consistent_read(true)
        .send::<Row>()
        .await
        .expect("query");
    assert_eq!(page.items, (0..120).map(row).collect::<Vec<_>>());
    assert_eq!(common::count(&table).await, 120);

    // An empty batch is fine and sends nothing.
    let before = table.request_count();
    let empty = table.batch_write();
    assert!(empty.is_empty());
    empty.send().await.expect("empty batch");
    assert_eq!(table.request_count(), before);
}

#[tokio::test]
async fn a_duplicate_key_in_a_batch_write_writes_nothing() {
    let table = common::table().await;
    let batch = (0..60u32).fold(table.batch_write(), |batch, n| {
        batch.put(key("p", n), &row(n))
    });
    let err = batch
        .put(key("p", 41), &row(999))
        .put(key("p", 70), &row(70))
        .send()
        .await
        .expect_err("41 twice");
    match &err {
        Error::DuplicateKey {
            table: name,
            operation,
            key,
            first,
            second,
        } => {
            assert_eq!(name, table.name());
            assert_eq!(*operation, "BatchWriteItem");
            assert_eq!(key, "(\"p\", 41)");
            assert_eq!((*first, *second), (41, 60));
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "BatchWriteItem on table `{}` names the item (\"p\", 41) twice (actions 41 and 60)",
            table.name()
        )
    );
    assert!(err.is_invalid_input());
    assert!(!err.is_retryable());
    assert_eq!(common::count(&table).await, 0, "nothing was written");

    // A put and a delete of one item collide too.
    let err = table
        .batch_write()
        .delete(key("p", 1))
        .put(key("p", 2), &row(2))
        .put(key("p", 1), &row(1))
        .send()
        .await
        .expect_err("1 twice");
    assert!(
        matches!(
            err,
            Error::DuplicateKey {
                first: 0,
                second: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(common::count(&table).await, 0, "nothing was written");
}

#[derive(Debug, Serialize)]
struct Blob {
    data: String,
}

#[tokio::test]
async fn an_item_too_large_in_a_batch_write_writes_nothing() {
    let table = common::hash_table().await;
    let batch = (0..30u32).fold(table.batch_write(), |batch, n| {
        batch.put(Key::new(s(&format!("small{n}"))), &row(n))
    });
    // pk (2 + 3) + data (4 + len) = MAX_ITEM_SIZE + 1
    let big = Blob {
        data: "x".repeat(MAX_ITEM_SIZE - 8),
    };
    let err = batch
        .put(Key::new(s("big")), &big)
        .send()
        .await
        .expect_err("over 400 KB");
    match &err {
        Error::ItemTooLarge {
            table: name,
            item,
            size,
            limit,
        } => {
            assert_eq!(name, table.name());
            assert_eq!(*size, MAX_ITEM_SIZE + 1);
            assert_eq!(*limit, MAX_ITEM_SIZE);
            assert!(item.contains("big"), "{item}");
        }
        other => panic!("expected ItemTooLarge, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains(&format!(" of table `{}` is ", table.name())),
        "{err}"
    );
    assert!(err.is_invalid_input());
    assert_eq!(common::count(&table).await, 0, "nothing was written");
}

#[tokio::test]
async fn batch_write_of_a_non_map_value_is_a_serialize_error() {
    let table = common::table().await;
    let err = table
        .batch_write()
        .put(key("p", 1), &row(1))
        .put(key("p", 2), &"just a string")
        .send()
        .await
        .expect_err("a string is no item");
    assert!(
        matches!(&err, Error::Serialize { what, .. } if what == "batch write 1"),
        "{err:?}"
    );
    assert_eq!(common::count(&table).await, 0, "nothing was written");
}
