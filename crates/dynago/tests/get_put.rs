//! `get_item` and `put_item` against a real DynamoDB: reads, replacement,
//! key merging, `return_old` and free conditions.
use crate::common;

use common::{key, n, raw_item, s};
use dynago::{Condition, Error, Item, Key};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Row {
    name: String,
    n: u32,
    note: Option<String>,
}

fn row(name: &str, n: u32) -> Row {
    Row {
        name: name.to_owned(),
        n,
        note: None,
    }
}

#[tokio::test]
async fn get_found_returns_the_item() {
    let table = common::table().await;
    let stored = Row {
        name: "ada".into(),
        n: 7,
        note: Some("first".into()),
    };
    table
        .put_item(key("a", 1), &stored)
        .send()
        .await
        .expect("put");
    let got: Option<Row> = table.get_item(key("a", 1)).send().await.expect("get");
    assert_eq!(got, Some(stored));
}

#[tokio::test]
async fn get_missing_is_none() {
    let table = common::table().await;
    table
        .put_item(key("a", 1), &row("ada", 1))
        .send()
        .await
        .expect("put");
    let other_sort: Option<Row> = table.get_item(key("a", 2)).send().await.expect("get");
    assert_eq!(other_sort, None);
    let other_partition: Option<Row> = table
        .get_item(key("b", 1))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(other_partition, None);
}

#[tokio::test]
async fn consistent_read_sees_the_last_write() {
    let table = common::table().await;
    for i in 0..5u32 {
        table
            .put_item(key("a", 1), &row("ada", i))
            .send()
            .await
            .expect("put");
        let got: Option<Row> = table
            .get_item(key("a", 1))
            .consistent_read(true)
            .send()
            .await
            .expect("get");
        assert_eq!(got, Some(row("ada", i)));
    }
}

#[tokio::test]
async fn an_item_of_another_shape_is_a_deserialize_error_naming_the_key() {
    let table = common::table().await;
    common::put_raw(
        &table,
        Item::from([
            ("pk".to_owned(), s("a")),
            ("sk".to_owned(), n(1)),
            ("name".to_owned(), n(5)),
            ("n".to_owned(), s("not a number")),
        ]),
    )
    .await;
    let err = table
        .get_item(key("a", 1))
        .send::<Row>()
        .await
        .expect_err("the item is not a Row");
    match &err {
        Error::Deserialize {
            table: name, key, ..
        } => {
            assert_eq!(name, table.name());
            assert_eq!(key, "(\"a\", 1)");
        }
        other => panic!("expected Deserialize, got {other:?}"),
    }
    assert!(err.to_string().contains("(\"a\", 1)"), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.is_conflict());
}

#[tokio::test]
async fn a_missing_table_is_not_found() {
    let table = common::missing_table().await;
    let err = table
        .get_item(key("a", 1))
        .send::<Row>()
        .await
        .expect_err("no such table");
    assert!(err.is_not_found(), "{err:?}");
    assert!(
        matches!(&err, Error::TableNotFound { table: t } if t == table.name()),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let err = table
        .put_item(key("a", 1), &row("ada", 1))
        .send()
        .await
        .expect_err("no such table");
    assert!(err.is_not_found(), "{err:?}");
    let err = table
        .delete_item(key("a", 1))
        .send()
        .await
        .expect_err("no such table");
    assert!(err.is_not_found(), "{err:?}");
    let err = table
        .query("pk = :pk")
        .value(":pk", s("a"))
        .send::<Row>()
        .await
        .expect_err("no such table");
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn put_replaces_the_whole_item() {
    let table = common::table().await;
    let first = Row {
        name: "ada".into(),
        n: 1,
        note: Some("old note".into()),
    };
    table
        .put_item(key("a", 1), &first)
        .send()
        .await
        .expect("put");
    let second = row("grace", 2);
    let outcome = table
        .put_item(key("a", 1), &second)
        .send()
        .await
        .expect("put");
    assert_eq!(outcome.version, None);
    assert_eq!(outcome.old_item, None, "not asked for");
    assert!(!outcome.recovered);
    let got: Option<Row> = table
        .get_item(key("a", 1))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(got, Some(second));
    let raw = raw_item(&table, &key("a", 1)).await.expect("stored");
    assert_eq!(
        raw,
        Item::from([
            ("pk".to_owned(), s("a")),
            ("sk".to_owned(), n(1)),
            ("name".to_owned(), s("grace")),
            ("n".to_owned(), n(2)),
        ]),
        "nothing of the first item is left"
    );
}

#[tokio::test]
async fn key_attributes_are_merged_into_the_item() {
    let table = common::table().await;
    table
        .put_item(key("part", 42), &row("ada", 3))
        .send()
        .await
        .expect("put");
    let raw = raw_item(&table, &key("part", 42)).await.expect("stored");
    assert_eq!(raw.get("pk"), Some(&s("part")));
    assert_eq!(raw.get("sk"), Some(&n(42)));
    assert_eq!(raw.len(), 4, "{raw:?}");

    // A hash-only table gets only the partition key.
    let hash = common::hash_table().await;
    hash.put_item(Key::new(s("solo")), &row("ada", 3))
        .send()
        .await
        .expect("put");
    let raw = raw_item(&hash, &Key::new(s("solo"))).await.expect("stored");
    assert_eq!(
        raw,
        Item::from([
            ("pk".to_owned(), s("solo")),
            ("name".to_owned(), s("ada")),
            ("n".to_owned(), n(3)),
        ])
    );
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Keyed {
    pk: String,
    sk: u32,
    body: String,
}

#[tokio::test]
async fn an_item_whose_key_field_differs_from_the_key_is_refused() {
    let table = common::table().await;
    let same = Keyed {
        pk: "a".into(),
        sk: 1,
        body: "same key".into(),
    };
    table
        .put_item(key("a", 1), &same)
        .send()
        .await
        .expect("the item's key fields agree with the key");
    let got: Option<Keyed> = table.get_item(key("a", 1)).send().await.expect("get");
    assert_eq!(got, Some(same));

    let other_partition = Keyed {
        pk: "b".into(),
        sk: 2,
        body: "other partition".into(),
    };
    let err = table
        .put_item(key("a", 2), &other_partition)
        .send()
        .await
        .expect_err("pk differs");
    assert!(
        matches!(&err, Error::InvalidKey { table: t, reason } if t == table.name() && reason.contains("`pk`")),
        "{err:?}"
    );
    assert!(err.is_invalid_input());
    let other_sort = Keyed {
        pk: "a".into(),
        sk: 3,
        body: "other sort".into(),
    };
    let err = table
        .put_item(key("a", 2), &other_sort)
        .send()
        .await
        .expect_err("sk differs");
    assert!(
        matches!(&err, Error::InvalidKey { reason, .. } if reason.contains("`sk`")),
        "{err:?}"
    );
    assert_eq!(raw_item(&table, &key("a", 2)).await, None);
    assert_eq!(raw_item(&table, &key("b", 2)).await, None);
    assert_eq!(raw_item(&table, &key("a", 3)).await, None);
    assert_eq!(common::count(&table).await, 1);
}

#[tokio::test]
async fn return_old_gives_the_replaced_item() {
    let table = common::table().await;
    let first = Row {
        name: "ada".into(),
        n: 1,
        note: Some("n1".into()),
    };
    let outcome = table
        .put_item(key("a", 1), &first)
        .return_old(true)
        .send()
        .await
        .expect("put");
    assert_eq!(outcome.old::<Row>(&table).expect("a Row"), None);

    let outcome = table
        .put_item(key("a", 1), &row("grace", 2))
        .return_old(true)
        .send()
        .await
        .expect("put");
    assert_eq!(outcome.old::<Row>(&table).expect("a Row"), Some(first));
    let old_raw = outcome.old_item.expect("old item");
    assert_eq!(old_raw.get("pk"), Some(&s("a")));
    assert_eq!(old_raw.get("sk"), Some(&n(1)));

    let outcome = table
        .put_item(key("a", 1), &row("linus", 3))
        .return_old(false)
        .send()
        .await
        .expect("put");
    assert_eq!(outcome.old_item, None);

    let outcome = table
        .delete_item(key("a", 1))
        .return_old(true)
        .send()
        .await
        .expect("delete");
    assert_eq!(
        outcome.old::<Row>(&table).expect("a Row"),
        Some(row("linus", 3))
    );
    let outcome = table
        .delete_item(key("a", 1))
        .return_old(true)
        .send()
        .await
        .expect("delete of nothing");
    assert_eq!(outcome.old_item, None);
}

#[tokio::test]
async fn a_failing_condition_is_condition_failed_and_writes_nothing() {
    let table = common::table().await;
    let first = row("ada", 1);
    let absent = || Condition::new("attribute_not_exists(#pk)").name("#pk", "pk");
    table
        .put_item(key("a", 1), &first)
        .condition(absent())
        .send()
        .await
        .expect("no item yet");

    // The same item again: the condition fails, the write must not be
    // reported as done.
    let err = table
        .put_item(key("a", 1), &first)
        .condition(absent())
        .send()
        .await
        .expect_err("the item exists");
    assert!(err.is_conflict(), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.code(), Some("ConditionalCheckFailedException"));
    match &err {
        Error::ConditionFailed {
            table: t,
            key,
            item,
        } => {
            assert_eq!(t, table.name());
            assert_eq!(key, "(\"a\", 1)");
            let stored = item.as_deref().expect("the stored item comes back");
            assert_eq!(stored.get("name"), Some(&s("ada")));
        }
        other => panic!("expected ConditionFailed, got {other:?}"),
    }

    // Another item: refused too, and the stored item is untouched.
    let err = table
        .put_item(key("a", 1), &row("mallory", 666))
        .condition(absent())
        .send()
        .await
        .expect_err("the item exists");
    assert!(matches!(err, Error::ConditionFailed { .. }), "{err:?}");
    let got: Option<Row> = table
        .get_item(key("a", 1))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(got, Some(first));
}

#[tokio::test]
async fn a_condition_with_names_and_values() {
    let table = common::table().await;
    table
        .put_item(key("a", 1), &row("ada", 10))
        .send()
        .await
        .expect("put");
    let at_least = |min: u32| {
        Condition::new("#n >= :min")
            .name("#n", "n")
            .value(":min", n(min))
    };
    let err = table
        .put_item(key("a", 1), &row("ada", 11))
        .condition(at_least(11))
        .send()
        .await
        .expect_err("10 < 11");
    assert!(matches!(err, Error::ConditionFailed { .. }), "{err:?}");
    table
        .put_item(key("a", 1), &row("ada", 12))
        .condition(at_least(10))
        .send()
        .await
        .expect("10 >= 10");
    let got: Option<Row> = table
        .get_item(key("a", 1))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(got, Some(row("ada", 12)));

    // A condition on a missing item fails (no attribute to compare).
    let err = table
        .delete_item(key("a", 2))
        .condition(at_least(0))
        .send()
        .await
        .expect_err("no item");
    assert!(
        matches!(&err, Error::ConditionFailed { item: None, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn measure_adds_up_the_capacity_of_each_call_and_nests() {
    use dynago::telemetry::measure;

    let table = common::table().await;
    let ((), outer) = measure(async {
        let (written, inner) = measure(table.put_item(key("m", 1), &row("ada", 1)).send()).await;
        written.expect("put");
        assert_eq!(inner.write_units, 1.0, "{inner:?}");
        assert_eq!(inner.read_units, 0.0, "{inner:?}");
        let read = table
            .get_item(key("m", 1))
            .consistent_read(true)
            .send::<Row>()
            .await
            .expect("get");
        assert!(read.is_some());
    })
    .await;
    assert_eq!(
        outer.write_units, 1.0,
        "the inner put counts outside too: {outer:?}"
    );
    assert_eq!(
        outer.read_units, 1.0,
        "a consistent read under 4 KB: {outer:?}"
    );
}
