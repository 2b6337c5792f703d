//! The error type: its classification (`is_conflict`, `is_retryable`,
//! `is_invalid_input`, `is_not_found`), its messages and its auto traits, on
//! errors produced by a real DynamoDB.
use crate::common;

use common::{key, s};
use dynago::transact::{Check, Put};
use dynago::{Condition, Error, Key, Table, TableOptions};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Doc {
    body: String,
    version: u64,
}

fn doc(version: u64) -> Doc {
    Doc {
        body: "text".into(),
        version,
    }
}

#[test]
fn error_is_send_sync_and_static() {
    fn assert_traits<T: Send + Sync + 'static + std::error::Error>() {}
    assert_traits::<Error>();
    // It boxes into the usual dynamic error, and crosses threads.
    let err = Error::InvalidCursor {
        table: "t".into(),
        reason: "test".into(),
    };
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    let text = std::thread::spawn(move || boxed.to_string())
        .join()
        .expect("thread");
    assert_eq!(text, "invalid cursor for table `t`: test");
}

/// What the predicates say about an error: conflict, retryable, invalid
/// input, not found.
fn kinds(err: &Error) -> (bool, bool, bool, bool) {
    (
        err.is_conflict(),
        err.is_retryable(),
        err.is_invalid_input(),
        err.is_not_found(),
    )
}

const CONFLICT: (bool, bool, bool, bool) = (true, false, false, false);
const INVALID: (bool, bool, bool, bool) = (false, false, true, false);
const NOT_FOUND: (bool, bool, bool, bool) = (false, false, false, true);
const OTHER: (bool, bool, bool, bool) = (false, false, false, false);

#[tokio::test]
async fn conflicts_are_never_retryable() {
    let table = common::table().await;
    table
        .put_item(key("d", 1), &doc(0))
        .optimistic_lock("version", 0)
        .send()
        .await
        .expect("create");

    let version = table
        .put_item(key("d", 1), &doc(5))
        .optimistic_lock("version", 5)
        .send()
        .await
        .expect_err("stale");
    assert_eq!(kinds(&version), CONFLICT, "{version:?}");
    assert_eq!(
        version.to_string(),
        format!(
            "version conflict on (\"d\", 1) in table `{}`: expected version 5, found version 1",
            table.name()
        )
    );
    let gone = table
        .put_item(key("d", 2), &doc(5))
        .optimistic_lock("version", 5)
        .send()
        .await
        .expect_err("no item");
    assert_eq!(kinds(&gone), CONFLICT);
    assert!(gone.to_string().ends_with("found no item"), "{gone}");

    let condition = table
        .put_item(key("d", 1), &doc(1))
        .condition(Condition::new("attribute_not_exists(pk)"))
        .send()
        .await
        .expect_err("exists");
    assert_eq!(kinds(&condition), CONFLICT, "{condition:?}");
    assert_eq!(
        condition.to_string(),
        format!("condition failed on (\"d\", 1) in table `{}`", table.name())
    );

    let canceled = table
        .transact_write()
        .put(Put::new(key("d", 3), &doc(0)))
        .check(Check::new(
            key("d", 1),
            Condition::new("attribute_not_exists(pk)"),
        ))
        .send()
        .await
        .expect_err("exists");
    assert_eq!(kinds(&canceled), CONFLICT, "{canceled:?}");
    assert_eq!(canceled.version_conflict(), None);
    assert!(
        canceled
            .to_string()
            .contains("action 1 failed with ConditionalCheckFailed"),
        "{canceled}"
    );
}

#[tokio::test]
async fn validation_errors_are_never_retryable() {
    let table = common::table().await;
    // Refused before sending.
    let invalid: Vec<Error> = vec![
        table
            .put_item(key("", 1), &doc(0))
            .send()
            .await
            .expect_err("empty key"),
        table
            .put_item(key("d", 1), &7)
            .send()
            .await
            .expect_err("not a map"),
        table
            .put_item(
                key("d", 1),
                &Doc {
                    body: "x".repeat(dynago::MAX_ITEM_SIZE),
                    version: 0,
                },
            )
            .send()
            .await
            .expect_err("too large"),
        table
            .batch_write()
            .delete(key("d", 1))
            .delete(key("d", 1))
            .send()
            .await
            .expect_err("duplicate"),
        (0..101)
            .fold(table.transact_write(), |tx, i| {
                tx.put(Put::new(key("d", i), &doc(0)))
            })
            .send()
            .await
            .expect_err("too many"),
        table
            .query("pk = :pk")
            .value(":pk", s("d"))
            .cursor("nope")
            .send::<Doc>()
            .await
            .expect_err("cursor"),
    ];
    for err in &invalid {
        assert_eq!(kinds(err), INVALID, "{err:?}");
        assert_eq!(err.code(), None, "{err:?}");
    }

    // Refused by DynamoDB: a malformed expression.
    let malformed = table
        .query("pk = = :pk")
        .value(":pk", s("d"))
        .send::<Doc>()
        .await
        .expect_err("malformed");
    assert_eq!(kinds(&malformed), OTHER, "{malformed:?}");
    assert_eq!(malformed.code(), Some("ValidationException"));
    assert!(
        matches!(&malformed, Error::Dynamo { operation: "Query", retryable: false, table: t, .. } if t == table.name()),
        "{malformed:?}"
    );
    // An unused value placeholder, on a write.
    let unused = table
        .put_item(key("d", 1), &doc(0))
        .condition(Condition::new("attribute_not_exists(pk)").value(":unused", s("x")))
        .send()
        .await
        .expect_err("unused placeholder");
    assert_eq!(kinds(&unused), OTHER, "{unused:?}");
    assert_eq!(unused.code(), Some("ValidationException"));
    assert!(std::error::Error::source(&unused).is_some());

    // A stored item of another type.
    common::put_raw(
        &table,
        dynago::Item::from([
            ("pk".to_owned(), s("d")),
            ("sk".to_owned(), common::n(9)),
            ("body".to_owned(), common::n(1)),
        ]),
    )
    .await;
    let shape = table
        .get_item(key("d", 9))
        .send::<Doc>()
        .await
        .expect_err("not a Doc");
    assert_eq!(kinds(&shape), OTHER, "{shape:?}");
}

#[tokio::test]
async fn a_missing_table_is_not_found_and_not_retryable() {
    let table = common::missing_table().await;
    let err = table
        .batch_get_items([key("d", 1)])
        .send::<Doc>()
        .await
        .expect_err("no table");
    assert_eq!(kinds(&err), NOT_FOUND, "{err:?}");
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    let err = table
        .batch_write()
        .put(key("d", 1), &doc(0))
        .send()
        .await
        .expect_err("no table");
    assert_eq!(kinds(&err), NOT_FOUND, "{err:?}");
    let err = table
        .transact_write()
        .put(Put::new(key("d", 1), &doc(0)))
        .send()
        .await
        .expect_err("no table");
    assert_eq!(kinds(&err), NOT_FOUND, "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("table `{}` not found", table.name())
    );
}

#[tokio::test]
async fn unusable_options_are_config_errors() {
    let dynamo = dynago_local::shared().await.expect("server");
    let cases = [
        ("no name", TableOptions::new("").partition_key("pk")),
        ("no partition key", dynamo.table_options("t")),
        (
            "empty sort key",
            dynamo.table_options("t").partition_key("pk").sort_key(""),
        ),
        (
            "short secret",
            dynamo
                .table_options("t")
                .partition_key("pk")
                .cursor_secret(b"short".to_vec()),
        ),
        (
            "no concurrency",
            dynamo
                .table_options("t")
                .partition_key("pk")
                .batch_concurrency(0),
        ),
    ];
    for (what, options) in cases {
        let err = Table::connect(options).await.expect_err(what);
        assert!(matches!(err, Error::Config(_)), "{what}: {err:?}");
        assert_eq!(kinds(&err), OTHER, "{what}");
    }
    let table = Table::connect(dynamo.table_options("t").partition_key("pk"))
        .await
        .expect("valid options");
    assert_eq!(table.name(), "t");
    assert_eq!(table.partition_key(), "pk");
    assert_eq!(table.sort_key(), None);
    assert_eq!(
        table.key_item(&Key::new(s("a"))).expect("valid key"),
        dynago::Item::from([("pk".to_owned(), s("a"))])
    );
}
