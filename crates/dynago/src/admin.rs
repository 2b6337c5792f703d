//! Creating, waiting for and deleting the table, for examples and tests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification,
};
use tracing::Instrument;

use crate::error::{from_sdk, Error, Result};
use crate::table::Table;
use crate::telemetry::request_span;

/// What [`Table::create_table`] creates beyond the key: attribute types,
/// global secondary indexes and a time-to-live attribute. Billing is
/// on-demand.
///
/// ```
/// use dynago::{GlobalIndex, ScalarAttributeType, TableDefinition};
///
/// let definition = TableDefinition::default()
///     .attribute_type("sk", ScalarAttributeType::N)
///     .global_index(GlobalIndex::new("gsi1", "gsi1pk").sort_key("gsi1sk"))
///     .time_to_live("expires_at");
/// # let _ = definition;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TableDefinition {
    types: BTreeMap<String, ScalarAttributeType>,
    indexes: Vec<GlobalIndex>,
    ttl_attribute: Option<String>,
    stream: Option<StreamViewType>,
    timeout: Duration,
}

impl Default for TableDefinition {
    fn default() -> Self {
        Self {
            types: BTreeMap::new(),
            indexes: Vec::new(),
            ttl_attribute: None,
            stream: None,
            timeout: Duration::from_secs(60),
        }
    }
}

impl TableDefinition {
    /// The type of a key attribute (of the table or an index); the default is
    /// the type set by [`TableOptions::partition_key_type`](crate::TableOptions::partition_key_type)
    /// or [`sort_key_type`](crate::TableOptions::sort_key_type) for the
    /// table's keys, and string (`S`) otherwise.
    pub fn attribute_type(
        mut self,
        attribute: impl Into<String>,
        kind: ScalarAttributeType,
    ) -> Self {
        self.types.insert(attribute.into(), kind);
        self
    }

    /// Adds a global secondary index.
    pub fn global_index(mut self, index: GlobalIndex) -> Self {
        self.indexes.push(index);
        self
    }

    /// Enables time to live on the numeric attribute `attribute` (seconds
    /// since the epoch).
    pub fn time_to_live(mut self, attribute: impl Into<String>) -> Self {
        self.ttl_attribute = Some(attribute.into());
        self
    }

    /// Enables the table's DynamoDB Stream, whose records carry what
    /// `view` says: `NewImage` is what a projection of events needs (an
    /// event item is written once and never changed).
    ///
    /// ```
    /// use dynago::{sdk::types::StreamViewType, TableDefinition};
    ///
    /// let definition = TableDefinition::default().stream(StreamViewType::NewImage);
    /// # let _ = definition;
    /// ```
    pub fn stream(mut self, view: StreamViewType) -> Self {
        self.stream = Some(view);
        self
    }

    /// How long to wait for the table to become active (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A global secondary index, projecting all attributes.
#[derive(Debug, Clone)]
#[must_use]
pub struct GlobalIndex {
    name: String,
    partition_key: String,
    sort_key: Option<String>,
}

impl GlobalIndex {
    /// The index `name`, partitioned by the attribute `partition_key`.
    pub fn new(name: impl Into<String>, partition_key: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            partition_key: partition_key.into(),
            sort_key: None,
        }
    }

    /// The index's sort key attribute.
    pub fn sort_key(mut self, attribute: impl Into<String>) -> Self {
        self.sort_key = Some(attribute.into());
        self
    }
}

fn key_schema(partition: &str, sort: Option<&str>) -> Result<Vec<KeySchemaElement>> {
    let element = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| Error::Config(format!("invalid key schema: {e}")))
    };
    let mut schema = vec![element(partition, KeyType::Hash)?];
    if let Some(sort) = sort {
        schema.push(element(sort, KeyType::Range)?);
    }
    Ok(schema)
}

impl Table {
    /// Creates the table with its key, `definition`'s indexes and on-demand
    /// billing, and waits until it is active.
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// table.create_table(dynago::TableDefinition::default()).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Dynamo`] when DynamoDB refuses (the table exists, say);
    /// [`Error::TableNotActive`] when it is not active in time.
    pub async fn create_table(&self, definition: TableDefinition) -> Result<()> {
        let mut attributes: BTreeMap<&str, ScalarAttributeType> = BTreeMap::new();
        let mut names: Vec<&str> = vec![self.partition_key()];
        names.extend(self.sort_key());
        for index in &definition.indexes {
            names.push(&index.partition_key);
            names.extend(index.sort_key.as_deref());
        }
        let (partition_type, sort_type) = self.key_types();
        for name in names {
            // The definition's type, else the options' type of a table key,
            // else a string.
            let option_type = if name == self.partition_key() {
                partition_type
            } else if Some(name) == self.sort_key() {
                sort_type
            } else {
                None
            };
            let kind = definition
                .types
                .get(name)
                .or(option_type)
                .cloned()
                .unwrap_or(ScalarAttributeType::S);
            attributes.insert(name, kind);
        }
        let definitions = attributes
            .into_iter()
            .map(|(name, kind)| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(kind)
                    .build()
                    .map_err(|e| Error::Config(format!("invalid attribute definition: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let indexes = definition
            .indexes
            .iter()
            .map(|index| {
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(key_schema(
                        &index.partition_key,
                        index.sort_key.as_deref(),
                    )?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(|e| Error::Config(format!("invalid index `{}`: {e}", index.name)))
            })
            .collect::<Result<Vec<_>>>()?;
        let span = request_span(self, "CreateTable", 0);
        self.client()
            .create_table()
            .table_name(self.name())
            .set_key_schema(Some(key_schema(self.partition_key(), self.sort_key())?))
            .set_attribute_definitions(Some(definitions))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .billing_mode(BillingMode::PayPerRequest)
            .set_stream_specification(
                definition
                    .stream
                    .map(|view| {
                        StreamSpecification::builder()
                            .stream_enabled(true)
                            .stream_view_type(view)
                            .build()
                            .map_err(|e| Error::Config(format!("invalid stream: {e}")))
                    })
                    .transpose()?,
            )
            .send()
            .instrument(span)
            .await
            .map_err(|e| from_sdk(self.name(), "CreateTable", e))?;
        self.wait_until_active(definition.timeout).await?;
        if let Some(attribute) = definition.ttl_attribute {
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(true)
                .build()
                .map_err(|e| Error::Config(format!("invalid time to live: {e}")))?;
            let span = request_span(self, "UpdateTimeToLive", 0);
            self.client()
                .update_time_to_live()
                .table_name(self.name())
                .time_to_live_specification(spec)
                .send()
                .instrument(span)
                .await
                .map_err(|e| from_sdk(self.name(), "UpdateTimeToLive", e))?;
        }
        Ok(())
    }

    /// Waits until the table and its indexes are active, polling with backoff.
    ///
    /// # Errors
    ///
    /// [`Error::TableNotActive`] after `timeout`; [`Error::TableNotFound`]
    /// when there is no such table.
    pub async fn wait_until_active(&self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(20);
        loop {
            let table = self.describe_table().await?;
            let active = table.is_some_and(|t| {
                t.table_status() == Some(&TableStatus::Active)
                    && t.global_secondary_indexes()
                        .iter()
                        .all(|i| i.index_status().is_none_or(|s| s.as_str() == "ACTIVE"))
            });
            if active {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(Error::TableNotActive {
                    table: self.name().to_owned(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }

    /// Deletes the table and everything in it.
    ///
    /// # Errors
    ///
    /// [`Error::TableNotFound`] when there is no such table; [`Error::Dynamo`].
    pub async fn delete_table(&self) -> Result<()> {
        let span = request_span(self, "DeleteTable", 0);
        self.client()
            .delete_table()
            .table_name(self.name())
            .send()
            .instrument(span)
            .await
            .map_err(|e| from_sdk(self.name(), "DeleteTable", e))?;
        Ok(())
    }
}
