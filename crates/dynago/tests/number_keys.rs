//! Number key parts are numbers, not texts: `1.50`, `1.5` and `15E-1` name
//! one item, as do `-0` and `0`, wherever keys are matched or checked for
//! duplicates (batch reads, batch writes, transactions).

use crate::common;

use common::{n, s};
use dynago::transact::Put;
use dynago::{number_value, Error, Key};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    label: String,
}

fn row(label: &str) -> Row {
    Row {
        label: label.to_owned(),
    }
}

fn key(sort: dynago::AttributeValue) -> Key {
    Key::new(s("p")).sort(sort)
}

/// Items stored under 1.5, 0 and 100, read under other spellings of the
/// same numbers: each is found by `get_item`, and by `batch_get_items`.
#[tokio::test]
async fn batch_get_finds_items_under_any_spelling_of_their_number() {
    let table = common::table().await;
    for (number, label) in [("1.5", "one and a half"), ("0", "zero"), ("100", "hundred")] {
        table
            .put_item(key(n(number)), &row(label))
            .send()
            .await
            .expect("put");
    }
    let spellings = [n("1.50"), number_value(-0.0), n("1E+2")];
    assert_eq!(spellings[1], n("-0"), "number_value(-0.0) writes -0");
    for spelling in &spellings {
        let found: Option<Row> = table
            .get_item(key(spelling.clone()))
            .send()
            .await
            .expect("get");
        assert!(found.is_some(), "get_item finds {spelling:?}");
    }
    let found: Vec<Row> = table
        .batch_get_items(spellings.iter().cloned().map(key))
        .consistent_read(true)
        .send()
        .await
        .expect("batch get");
    assert_eq!(
        found,
        [row("one and a half"), row("zero"), row("hundred")],
        "every item, in the order of the keys given"
    );

    // Two spellings of one number are one key: read once, returned once.
    let found: Vec<Row> = table
        .batch_get_items([key(n("100")), key(n("1e2")), key(n("0.0")), key(n("-0"))])
        .send()
        .await
        .expect("batch get");
    assert_eq!(found, [row("hundred"), row("zero")]);
}

/// `7` and `7.0` are one item: a batch naming both is refused before
/// anything is sent, as a transaction naming both is.
#[tokio::test]
async fn two_spellings_of_one_number_are_a_duplicate_key() {
    let table = common::table().await;
    let before = table.request_count();
    let err = table
        .batch_write()
        .put(key(n("7")), &row("a"))
        .put(key(n("7.0")), &row("b"))
        .send()
        .await
        .expect_err("7 twice");
    assert!(
        matches!(
            &err,
            Error::DuplicateKey {
                operation: "BatchWriteItem",
                first: 0,
                second: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let err = table
        .batch_write()
        .delete(key(n("-0")))
        .put(key(n("0E5")), &row("b"))
        .send()
        .await
        .expect_err("0 twice");
    assert!(matches!(err, Error::DuplicateKey { .. }), "{err:?}");

    // A large batch: the duplicate is found before the first chunk is sent.
    let batch = (0..60u32).fold(table.batch_write(), |batch, i| {
        batch.put(key(number_value(i)), &row("x"))
    });
    let err = batch
        .put(key(n("4.10E+1")), &row("y"))
        .send()
        .await
        .expect_err("41 twice");
    assert!(
        matches!(
            err,
            Error::DuplicateKey {
                first: 41,
                second: 60,
                ..
            }
        ),
        "{err:?}"
    );

    let err = table
        .transact_write()
        .put(Put::new(key(n("7")), &row("a")))
        .put(Put::new(key(n("7.000")), &row("b")))
        .send()
        .await
        .expect_err("7 twice");
    assert!(
        matches!(
            err,
            Error::DuplicateKey {
                operation: "TransactWriteItems",
                ..
            }
        ),
        "{err:?}"
    );
    let err = table
        .transact_get([key(n("7")), key(n("70E-1"))])
        .send::<Row>()
        .await
        .expect_err("7 twice");
    assert!(matches!(err, Error::DuplicateKey { .. }), "{err:?}");
    assert_eq!(table.request_count(), before, "nothing sent");
    assert_eq!(common::count(&table).await, 0, "nothing written");

    // Different numbers are different keys, however close their texts.
    table
        .batch_write()
        .put(key(n("7")), &row("seven"))
        .put(key(n("70")), &row("seventy"))
        .put(key(n("0.7")), &row("tenths"))
        .put(key(n("-7")), &row("minus"))
        .send()
        .await
        .expect("four items");
    assert_eq!(common::count(&table).await, 4);
}
