//! `EventStore::open`: one `DescribeTable` that catches a table whose key
//! schema is not the store's (other names, no sort key, a key that is not a
//! string, no table), where `EventStore::new` sends nothing.
use crate::common;

use common::Account;
use dynago::{ScalarAttributeType, Table, TableDefinition, TableOptions};
use dynago_es::{Error, EventStore, StoreOptions};

async fn options(name: &str) -> TableOptions {
    dynago_local::shared()
        .await
        .expect("the test server")
        .table_options(name)
}

/// A new table with the key `pk`, and `sk` of type `sort` if given.
async fn table_with(sort: Option<ScalarAttributeType>) -> Table {
    let mut options = options(&dynago_local::unique_table_name("es-open"))
        .await
        .partition_key("pk");
    if let Some(kind) = sort {
        options = options.sort_key("sk").sort_key_type(kind);
    }
    let table = Table::connect(options).await.expect("options");
    table
        .create_table(TableDefinition::default())
        .await
        .expect("create");
    table
}

/// A handle on the table `name`, keys `partition` and `sort`.
async fn handle(name: &str, partition: &str, sort: &str) -> Table {
    Table::connect(options(name).await.partition_key(partition).sort_key(sort))
        .await
        .expect("options")
}

/// Opens a store on `table`, expecting a schema mismatch, and returns the
/// expected and found schemas; the store's `new` on the same handle sends
/// nothing and succeeds.
async fn mismatch(table: Table) -> (String, String) {
    let name = table.name().to_owned();
    let sent = table.request_count();
    let error = EventStore::<Account>::open(table.clone(), StoreOptions::default())
        .await
        .expect_err("the wrong table");
    assert_eq!(table.request_count() - sent, 1, "one DescribeTable");
    assert!(!error.is_not_found() && !error.is_conflict() && !error.is_retryable());
    let message = error.to_string();
    match error {
        Error::Table(dynago::Error::SchemaMismatch {
            table: t,
            expected,
            found,
        }) => {
            assert_eq!(t, name);
            assert!(
                message.contains(&expected) && message.contains(&found),
                "{message}"
            );
            EventStore::<Account>::new(table.clone(), StoreOptions::default())
                .expect("`new` takes the table on trust");
            assert_eq!(table.request_count() - sent, 1);
            (expected, found)
        }
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn open_accepts_string_keys_of_any_names() {
    let table = common::table().await;
    let sent = table.request_count();
    let store = EventStore::<Account>::open(table.clone(), StoreOptions::default())
        .await
        .expect("pk and sk are strings");
    assert_eq!(table.request_count() - sent, 1);
    store
        .execute("a", common::open("ada"))
        .await
        .expect("the store works");

    let named = Table::connect(
        options(&dynago_local::unique_table_name("es-named"))
            .await
            .partition_key("stream")
            .sort_key("item"),
    )
    .await
    .expect("options");
    named
        .create_table(TableDefinition::default())
        .await
        .expect("create");
    EventStore::<Account>::open(named, StoreOptions::default())
        .await
        .expect("other names, strings");
}

#[tokio::test]
async fn open_refuses_wrong_key_names() {
    let table = common::table().await;
    let (expected, found) = mismatch(handle(table.name(), "id", "sk").await).await;
    assert_eq!(expected, "id (S, HASH), sk (S, RANGE)");
    assert_eq!(found, "pk (S, HASH), sk (S, RANGE)");
    let (expected, _) = mismatch(handle(table.name(), "pk", "rank").await).await;
    assert_eq!(expected, "pk (S, HASH), rank (S, RANGE)");
    let (expected, _) = mismatch(handle(table.name(), "sk", "pk").await).await;
    assert_eq!(expected, "sk (S, HASH), pk (S, RANGE)");
}

#[tokio::test]
async fn open_refuses_a_table_without_a_sort_key() {
    let table = table_with(None).await;
    let (expected, found) = mismatch(handle(table.name(), "pk", "sk").await).await;
    assert_eq!(expected, "pk (S, HASH), sk (S, RANGE)");
    assert_eq!(found, "pk (S, HASH)");
}

#[tokio::test]
async fn open_refuses_a_numeric_sort_key() {
    let table = table_with(Some(ScalarAttributeType::N)).await;
    let (expected, found) = mismatch(handle(table.name(), "pk", "sk").await).await;
    assert_eq!(expected, "pk (S, HASH), sk (S, RANGE)");
    assert_eq!(found, "pk (S, HASH), sk (N, RANGE)");
    // A handle that declares the number is refused before any request.
    let declared = Table::connect(
        options(table.name())
            .await
            .partition_key("pk")
            .sort_key("sk")
            .sort_key_type(ScalarAttributeType::N),
    )
    .await
    .expect("options");
    let error = EventStore::<Account>::new(declared.clone(), StoreOptions::default())
        .expect_err("a numeric sort key");
    assert!(
        matches!(&error, Error::Config(m) if m.contains("sk (N, RANGE)") && m.contains("string sort key")),
        "{error:?}"
    );
    assert_eq!(declared.request_count(), 0);
}

#[tokio::test]
async fn open_on_a_missing_table_is_not_found() {
    let table = handle(&dynago_local::unique_table_name("es-none"), "pk", "sk").await;
    let error = EventStore::<Account>::open(table.clone(), StoreOptions::default())
        .await
        .expect_err("no table");
    assert!(error.is_not_found(), "{error:?}");
    assert!(
        matches!(&error, Error::Table(dynago::Error::TableNotFound { table: t }) if t == table.name())
    );
}

#[tokio::test]
async fn open_refuses_a_global_table_unless_told_otherwise() {
    let direct = common::table().await;
    let plan = dynago_local::FaultPlan::default().patch_answer(
        "DescribeTable",
        serde_json::json!({"Table": {"Replicas": [
            {"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"},
            {"RegionName": "us-east-1", "ReplicaStatus": "ACTIVE"}
        ]}}),
    );
    let (global, _proxy) = common::through_proxy(&direct, plan, 1, |o| o).await;
    let error = EventStore::<Account>::open(global.clone(), StoreOptions::default())
        .await
        .expect_err("replicas in two regions");
    assert!(matches!(error, Error::Config(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("eu-west-1, us-east-1") && message.contains("allow_global_table"),
        "{message}"
    );
    EventStore::<Account>::open(global, StoreOptions::default().allow_global_table(true))
        .await
        .expect("allowed");
    // The same table without replicas opens as always.
    EventStore::<Account>::open(direct, StoreOptions::default())
        .await
        .expect("no replicas");
}

/// An aggregate whose type holds the key separator.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Separated;

impl dynago_es::Aggregate for Separated {
    const TYPE: &'static str = "account#x";
    type Id = dynago_es::AggregateId;
    type Command = ();
    type Event = common::AccountEvent;
    type Error = common::AccountError;

    fn handle(&self, _: &()) -> Result<Vec<common::AccountEvent>, common::AccountError> {
        Ok(vec![])
    }

    fn apply(&mut self, _: &common::AccountEvent) {}
}

#[tokio::test]
async fn an_aggregate_type_holding_the_key_separator_is_refused() {
    // `account#x` with id `1` would share the stream of `account` with id `x#1`.
    let error = EventStore::<Separated>::new(common::table().await, StoreOptions::default())
        .expect_err("the type holds `#`");
    assert!(matches!(error, Error::Config(_)), "{error:?}");
    assert!(error.to_string().contains("`account#x`"), "{error}");
}
