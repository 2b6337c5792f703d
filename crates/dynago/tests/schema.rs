//! The key schema check: `Table::verify_schema` and `TableOptions::verify_schema`
//! catch, with one `DescribeTable`, a table whose keys differ from the
//! handle's, and name both schemas.
use crate::common;

use dynago::{
    Error, KeyAttribute, ScalarAttributeType, Table, TableDefinition, TableOptions, TableSchema,
};
use dynago_local::{FaultPlan, FaultProxy};

/// Options for the existing table `name` on the shared server.
async fn options(name: &str) -> TableOptions {
    dynago_local::shared()
        .await
        .expect("the shared server")
        .table_options(name)
}

/// A handle on `name` with the given key names (no request sent).
async fn handle(name: &str, partition: &str, sort: Option<&str>) -> Table {
    let mut options = options(name).await.partition_key(partition);
    if let Some(sort) = sort {
        options = options.sort_key(sort);
    }
    Table::connect(options).await.expect("table options")
}

/// The expected and found schemas of a mismatch, after checking its message.
fn mismatch(error: Error, table: &str) -> (String, String) {
    let message = error.to_string();
    match error {
        Error::SchemaMismatch {
            table: t,
            expected,
            found,
        } => {
            assert_eq!(t, table);
            assert_eq!(
                message,
                format!("table `{table}` has the key schema {found}, but {expected} was expected")
            );
            (expected, found)
        }
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn the_expected_schema_passes_with_one_describe_table() {
    let table = common::table().await;
    let before = table.request_count();
    let found = table.verify_schema().await.expect("the schema is right");
    assert_eq!(table.request_count() - before, 1);
    assert_eq!(found.to_string(), "pk (S, HASH), sk (N, RANGE)");
    assert_eq!(
        found,
        TableSchema::new(
            KeyAttribute::new("pk").of_type(ScalarAttributeType::S),
            Some(KeyAttribute::new("sk").of_type(ScalarAttributeType::N)),
        )
    );
    assert_eq!(table.expected_schema().to_string(), "pk (HASH), sk (RANGE)");
    assert_eq!(table.describe_schema().await.expect("describe"), found);

    // With the types given, and checked by `connect`.
    let typed = Table::connect(
        options(table.name())
            .await
            .partition_key("pk")
            .partition_key_type(ScalarAttributeType::S)
            .sort_key("sk")
            .sort_key_type(ScalarAttributeType::N)
            .verify_schema(true),
    )
    .await
    .expect("the typed schema is right");
    assert_eq!(typed.request_count(), 1, "one DescribeTable, nothing else");
    assert_eq!(
        typed.expected_schema().to_string(),
        "pk (S, HASH), sk (N, RANGE)"
    );

    let hash = common::hash_table().await;
    assert_eq!(
        hash.verify_schema().await.expect("hash only").to_string(),
        "pk (S, HASH)"
    );
}

#[tokio::test]
async fn wrong_key_names_are_a_schema_mismatch() {
    let table = common::table().await;
    let name = table.name();
    let cases = [
        ("id", Some("sk"), "id (HASH), sk (RANGE)"),
        ("pk", Some("seq"), "pk (HASH), seq (RANGE)"),
        ("sk", Some("pk"), "sk (HASH), pk (RANGE)"),
        ("PK", Some("SK"), "PK (HASH), SK (RANGE)"),
    ];
    for (partition, sort, expected) in cases {
        let wrong = handle(name, partition, sort).await;
        let error = wrong.verify_schema().await.expect_err(expected);
        assert!(!error.is_conflict() && !error.is_retryable() && !error.is_not_found());
        let (want, found) = mismatch(error, name);
        assert_eq!(want, expected);
        assert_eq!(found, "pk (S, HASH), sk (N, RANGE)");
        assert_eq!(wrong.request_count(), 1);
    }
}

#[tokio::test]
async fn a_sort_key_too_few_or_too_many_is_a_schema_mismatch() {
    // The handle expects a sort key that the table does not have.
    let hash = common::hash_table().await;
    let error = handle(hash.name(), "pk", Some("sk"))
        .await
        .verify_schema()
        .await
        .expect_err("no sort key");
    assert_eq!(
        mismatch(error, hash.name()),
        ("pk (HASH), sk (RANGE)".into(), "pk (S, HASH)".into())
    );
    // The handle expects none, the table has one.
    let table = common::table().await;
    let error = handle(table.name(), "pk", None)
        .await
        .verify_schema()
        .await
        .expect_err("a sort key");
    assert_eq!(
        mismatch(error, table.name()),
        ("pk (HASH)".into(), "pk (S, HASH), sk (N, RANGE)".into())
    );
}

#[tokio::test]
async fn a_numeric_sort_key_where_a_string_is_expected_is_a_schema_mismatch() {
    let table = common::table().await;
    let strings = Table::connect(
        options(table.name())
            .await
            .partition_key("pk")
            .sort_key("sk")
            .sort_key_type(ScalarAttributeType::S),
    )
    .await
    .expect("options");
    let error = strings.verify_schema().await.expect_err("sk is a number");
    assert_eq!(
        mismatch(error, table.name()),
        (
            "pk (HASH), sk (S, RANGE)".into(),
            "pk (S, HASH), sk (N, RANGE)".into()
        )
    );
    // The same check, asked for with a schema of one's own.
    let expected = TableSchema::new(
        KeyAttribute::new("pk").of_type(ScalarAttributeType::B),
        Some(KeyAttribute::new("sk")),
    );
    let error = table
        .verify_schema_with(&expected)
        .await
        .expect_err("pk is a string");
    assert_eq!(mismatch(error, table.name()).0, "pk (B, HASH), sk (RANGE)");
}

#[tokio::test]
async fn connect_with_verify_schema_fails_at_once_on_a_wrong_table() {
    let table = common::table().await;
    let dynamo = dynago_local::shared().await.expect("the shared server");
    let proxy = FaultProxy::start(dynamo.url(), FaultPlan::default())
        .await
        .expect("a proxy that counts");
    let error = Table::connect(
        proxy
            .table_options(table.name())
            .partition_key("pk")
            .sort_key("sk")
            .sort_key_type(ScalarAttributeType::S)
            .verify_schema(true),
    )
    .await
    .expect_err("sk is a number");
    let (expected, found) = mismatch(error, table.name());
    assert_eq!(
        (expected.as_str(), found.as_str()),
        ("pk (HASH), sk (S, RANGE)", "pk (S, HASH), sk (N, RANGE)")
    );
    let stats = proxy.stats();
    assert_eq!(stats.requests, 1, "{stats:?}");
    assert_eq!(stats.requests_for("DescribeTable"), 1);

    // A right handle is checked once, at connect, and never again.
    let right = Table::connect(
        proxy
            .table_options(table.name())
            .partition_key("pk")
            .sort_key("sk")
            .verify_schema(true),
    )
    .await
    .expect("the schema is right");
    for n in 0..3u32 {
        right
            .put_item(common::key("a", n), &serde_json::json!({ "n": n }))
            .send()
            .await
            .expect("put");
    }
    let stats = proxy.stats();
    assert_eq!(stats.requests_for("DescribeTable"), 2, "{stats:?}");
    assert_eq!(stats.requests_for("PutItem"), 3);
    // Without the option, connect sends nothing.
    let unchecked = Table::connect(proxy.table_options("no-such-table").partition_key("pk"))
        .await
        .expect("no request");
    assert_eq!(unchecked.request_count(), 0);
    assert_eq!(proxy.stats().requests, 5);
}

#[tokio::test]
async fn a_missing_table_is_not_found() {
    let missing = common::missing_table().await;
    let error = missing.verify_schema().await.expect_err("no table");
    assert!(error.is_not_found(), "{error:?}");
    assert!(matches!(&error, Error::TableNotFound { table } if table == missing.name()));
    assert!(missing
        .describe_schema()
        .await
        .expect_err("no table")
        .is_not_found());
    let error = Table::connect(
        options(missing.name())
            .await
            .partition_key("pk")
            .verify_schema(true),
    )
    .await
    .expect_err("no table");
    assert!(error.is_not_found(), "{error:?}");
}

#[tokio::test]
async fn create_table_uses_the_key_types_of_the_options() {
    let options = options(&dynago_local::unique_table_name("schema"))
        .await
        .partition_key("pk")
        .partition_key_type(ScalarAttributeType::N)
        .sort_key("sk")
        .sort_key_type(ScalarAttributeType::B);
    let table = Table::connect(options).await.expect("options");
    table
        .create_table(TableDefinition::default())
        .await
        .expect("create");
    assert_eq!(
        table.verify_schema().await.expect("as created").to_string(),
        "pk (N, HASH), sk (B, RANGE)"
    );
    // The definition's type wins over the options'.
    let overridden = Table::connect(
        self::options(&dynago_local::unique_table_name("schema"))
            .await
            .partition_key("pk")
            .sort_key("sk")
            .sort_key_type(ScalarAttributeType::B),
    )
    .await
    .expect("options");
    overridden
        .create_table(TableDefinition::default().attribute_type("sk", ScalarAttributeType::N))
        .await
        .expect("create");
    assert_eq!(
        overridden
            .describe_schema()
            .await
            .expect("describe")
            .to_string(),
        "pk (S, HASH), sk (N, RANGE)"
    );
}

#[tokio::test]
async fn a_sort_key_type_without_a_sort_key_is_a_config_error() {
    let error = Table::connect(
        options("t")
            .await
            .partition_key("pk")
            .sort_key_type(ScalarAttributeType::S),
    )
    .await
    .expect_err("no sort key");
    assert!(
        matches!(&error, Error::Config(m) if m.contains("sort key type")),
        "{error:?}"
    );
}
