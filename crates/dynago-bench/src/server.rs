//! The one DynamoDB every measurement runs against, and its tables.

use anyhow::{Context, Result};
use dynago::{ScalarAttributeType, Table, TableDefinition, TableOptions};
use dynago_local::LocalDynamo;

use crate::counter::{counted_client, RequestCounter};

/// A running server and one SDK client for it, whose requests are counted.
///
/// Every contender uses this one client (measurements run one at a time),
/// so that connection handling and SDK settings are the same for all.
#[derive(Debug)]
pub struct Server {
    dynamo: LocalDynamo,
    client: aws_sdk_dynamodb::Client,
    counter: RequestCounter,
}

impl Server {
    /// Starts the server the environment asks for (`DYNAGO_BACKEND`,
    /// `DYNAMODB_ENDPOINT`; see `dynago_local::Backend::from_env`).
    ///
    /// # Errors
    ///
    /// When the server cannot be started or reached.
    pub async fn start() -> Result<Self> {
        let dynamo = LocalDynamo::start()
            .await
            .context("starting the DynamoDB server")?;
        let counter = RequestCounter::new();
        let client = counted_client(&dynamo.client().await, &counter);
        Ok(Self {
            dynamo,
            client,
            counter,
        })
    }

    /// `embedded`, `dynamodb-local` or `endpoint`.
    pub fn backend(&self) -> &'static str {
        self.dynamo.backend().name()
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        self.dynamo.url()
    }

    /// The counted SDK client.
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// The counter of every request sent through [`client`](Self::client).
    pub fn counter(&self) -> &RequestCounter {
        &self.counter
    }

    /// A new table named `{prefix}-{unique}` with a string partition key
    /// `pk` and, if given, a sort key of the given name and type; returns its
    /// `dynago` handle on the counted client.
    ///
    /// # Errors
    ///
    /// When the table cannot be created.
    pub async fn create_table(
        &self,
        prefix: &str,
        partition_key: &str,
        sort_key: Option<(&str, ScalarAttributeType)>,
    ) -> Result<Table> {
        self.create_table_with(prefix, partition_key, sort_key, TableDefinition::default())
            .await
    }

    /// As [`create_table`](Self::create_table), created with `definition`
    /// (a stream, say).
    ///
    /// # Errors
    ///
    /// When the table cannot be created.
    pub async fn create_table_with(
        &self,
        prefix: &str,
        partition_key: &str,
        sort_key: Option<(&str, ScalarAttributeType)>,
        definition: TableDefinition,
    ) -> Result<Table> {
        create_table(&self.client, prefix, partition_key, sort_key, definition).await
    }
}

/// A new table named `{prefix}-{unique}`, as [`Server::create_table_with`]
/// creates it, on any client.
///
/// # Errors
///
/// When the table cannot be created.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    prefix: &str,
    partition_key: &str,
    sort_key: Option<(&str, ScalarAttributeType)>,
    mut definition: TableDefinition,
) -> Result<Table> {
    let name = dynago_local::unique_table_name(prefix);
    let mut options = TableOptions::new(&name).partition_key(partition_key);
    if let Some((sort, kind)) = sort_key {
        options = options.sort_key(sort);
        definition = definition.attribute_type(sort, kind);
    }
    let table = Table::with_client(client.clone(), options)?;
    table
        .create_table(definition)
        .await
        .with_context(|| format!("creating table {name}"))?;
    Ok(table)
}
