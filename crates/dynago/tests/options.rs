//! `Option` fields: `None` is left out of the stored item, and a stored
//! `NULL` or a missing attribute both read back as `None`.
use crate::common;

use common::{key, n, raw_item, s};
use dynago::{AttributeValue, Item};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Profile {
    name: String,
    nickname: Option<String>,
    age: Option<u32>,
    address: Address,
    tags: Vec<Option<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Address {
    city: String,
    zip: Option<String>,
}

fn bare() -> Profile {
    Profile {
        name: "ada".into(),
        nickname: None,
        age: None,
        address: Address {
            city: "London".into(),
            zip: None,
        },
        tags: vec![],
    }
}

#[tokio::test]
async fn none_is_absent_from_the_stored_item() {
    let table = common::table().await;
    table
        .put_item(key("p", 1), &bare())
        .send()
        .await
        .expect("put");
    let raw = raw_item(&table, &key("p", 1)).await.expect("stored");
    assert_eq!(
        raw,
        Item::from([
            ("pk".to_owned(), s("p")),
            ("sk".to_owned(), n(1)),
            ("name".to_owned(), s("ada")),
            (
                "address".to_owned(),
                AttributeValue::M(Item::from([("city".to_owned(), s("London"))])),
            ),
            ("tags".to_owned(), AttributeValue::L(vec![])),
        ]),
        "no NULL anywhere, nested maps included"
    );
    let back: Option<Profile> = table
        .get_item(key("p", 1))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(back, Some(bare()));
}

#[tokio::test]
async fn some_is_stored_and_read_back() {
    let table = common::table().await;
    let full = Profile {
        name: "ada".into(),
        nickname: Some("countess".into()),
        age: Some(36),
        address: Address {
            city: "London".into(),
            zip: Some("W1".into()),
        },
        tags: vec![Some("a".into()), None, Some("c".into())],
    };
    table
        .put_item(key("p", 1), &full)
        .send()
        .await
        .expect("put");
    let raw = raw_item(&table, &key("p", 1)).await.expect("stored");
    assert_eq!(raw.get("nickname"), Some(&s("countess")));
    assert_eq!(raw.get("age"), Some(&n(36)));
    // A `None` inside a list keeps its place.
    assert_eq!(
        raw.get("tags"),
        Some(&AttributeValue::L(vec![
            s("a"),
            AttributeValue::Null(true),
            s("c")
        ]))
    );
    let back: Option<Profile> = table
        .get_item(key("p", 1))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(back, Some(full.clone()));

    // Replacing with `None`s removes the attributes.
    table
        .put_item(key("p", 1), &bare())
        .send()
        .await
        .expect("put");
    let raw = raw_item(&table, &key("p", 1)).await.expect("stored");
    assert!(!raw.contains_key("nickname"), "{raw:?}");
    assert!(!raw.contains_key("age"), "{raw:?}");
}

#[tokio::test]
async fn stored_null_and_missing_attributes_read_as_none() {
    let table = common::table().await;
    let with_nulls = Item::from([
        ("pk".to_owned(), s("p")),
        ("sk".to_owned(), n(1)),
        ("name".to_owned(), s("ada")),
        ("nickname".to_owned(), AttributeValue::Null(true)),
        ("age".to_owned(), AttributeValue::Null(true)),
        (
            "address".to_owned(),
            AttributeValue::M(Item::from([
                ("city".to_owned(), s("London")),
                ("zip".to_owned(), AttributeValue::Null(true)),
            ])),
        ),
        ("tags".to_owned(), AttributeValue::L(vec![])),
    ]);
    let missing = Item::from([
        ("pk".to_owned(), s("p")),
        ("sk".to_owned(), n(2)),
        ("name".to_owned(), s("ada")),
        (
            "address".to_owned(),
            AttributeValue::M(Item::from([("city".to_owned(), s("London"))])),
        ),
        ("tags".to_owned(), AttributeValue::L(vec![])),
    ]);
    common::put_raw(&table, with_nulls).await;
    common::put_raw(&table, missing).await;
    for sk in [1, 2] {
        let back: Option<Profile> = table
            .get_item(key("p", sk))
            .consistent_read(true)
            .send()
            .await
            .expect("get");
        assert_eq!(back, Some(bare()), "sort key {sk}");
    }
    // Through a query and a batch get too.
    let page = table
        .query("pk = :pk")
        .value(":pk", s("p"))
        .consistent_read(true)
        .send::<Profile>()
        .await
        .expect("query");
    assert_eq!(page.items, vec![bare(), bare()]);
    let batch: Vec<Profile> = table
        .batch_get_items([key("p", 1), key("p", 2)])
        .consistent_read(true)
        .send()
        .await
        .expect("batch get");
    assert_eq!(batch, vec![bare(), bare()]);
}
