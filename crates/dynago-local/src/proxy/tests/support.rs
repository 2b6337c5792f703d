//! An embedded server, SDK clients and a table, for the tests.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

use crate::{unique_table_name, Backend, LocalDynamo, ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

pub(super) async fn dynamo() -> LocalDynamo {
    LocalDynamo::start_backend(Backend::Embedded)
        .await
        .expect("the embedded server")
}

/// An SDK client on `url` with `attempts` attempts, 5 ms backoff and a
/// 3 s attempt timeout.
pub(super) async fn client(url: &str, attempts: u32) -> aws_sdk_dynamodb::Client {
    client_with_timeout(url, attempts, Duration::from_secs(3)).await
}

/// An SDK client on `url` with `attempts` attempts, 5 ms backoff and an
/// attempt timeout of `attempt_timeout`.
pub(super) async fn client_with_timeout(
    url: &str,
    attempts: u32,
    attempt_timeout: Duration,
) -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "test",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(attempt_timeout)
                .build(),
        )
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

pub(super) async fn create_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = unique_table_name("proxy");
    create_table_named(client, &name).await;
    name
}

/// Creates the table `name`, keyed by the string `pk`.
pub(super) async fn create_table_named(client: &aws_sdk_dynamodb::Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
}

pub(super) async fn put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> std::result::Result<
    aws_sdk_dynamodb::operation::put_item::PutItemOutput,
    SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>,
> {
    client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.to_owned()))
        .send()
        .await
}

pub(super) async fn exists(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> bool {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
        .is_some()
}
