//! The table handle and the options that build it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::types::ScalarAttributeType;
use aws_sdk_dynamodb::Client;

use crate::cursor::CursorKey;
use crate::error::{Error, Result};
use crate::key::{Key, KeyId, KeySchema};
use crate::retry::RetryPolicy;
use crate::value::Item;

mod options;

pub use options::{
    Endpoint, TableOptions, LOCAL_ACCESS_KEY_ID, LOCAL_REGION, LOCAL_SECRET_ACCESS_KEY,
};

/// The key attribute names of a table's secondary indexes, by index name.
pub(crate) type IndexKeys = std::collections::HashMap<String, Vec<String>>;

/// One DynamoDB table, typed: the handle every operation starts from.
///
/// A `Table` holds an SDK client and the table's key names. It is cheap to
/// clone (an [`Arc`] inside): create it once and share it.
///
/// ```no_run
/// use dynago::{Table, TableOptions};
///
/// # async fn run() -> dynago::Result<()> {
/// let table = Table::connect(
///     TableOptions::new("orders")
///         .partition_key("pk")
///         .sort_key("sk")
///         .region("eu-west-1"),
/// )
/// .await?;
/// # let _ = table;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Table {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    name: String,
    /// The name as a metric label, cloned without a copy.
    label: ::metrics::SharedString,
    keys: KeySchema,
    key_types: (Option<ScalarAttributeType>, Option<ScalarAttributeType>),
    cursor_key: CursorKey,
    retry: RetryPolicy,
    batch_concurrency: usize,
    requests: AtomicU64,
    /// The key attribute names of each secondary index, read once (`None`:
    /// the table could not be described).
    index_keys: tokio::sync::OnceCell<Option<IndexKeys>>,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("name", &self.inner.name)
            .field("partition_key", &self.inner.keys.partition)
            .field("sort_key", &self.inner.keys.sort)
            .finish_non_exhaustive()
    }
}

impl Table {
    /// Builds the SDK client from `options` and returns the table handle.
    ///
    /// The client has the SDK's timeouts and retries, or those of
    /// [`attempt_timeout`](TableOptions::attempt_timeout),
    /// [`operation_timeout`](TableOptions::operation_timeout),
    /// [`sdk_max_attempts`](TableOptions::sdk_max_attempts) and
    /// [`sdk_initial_backoff`](TableOptions::sdk_initial_backoff).
    ///
    /// No request is sent, unless
    /// [`verify_schema`](TableOptions::verify_schema) asks for one
    /// `DescribeTable`: otherwise a missing table shows on the first
    /// operation as [`Error::TableNotFound`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the options are not usable; with
    /// [`verify_schema`](TableOptions::verify_schema), the errors of
    /// [`Table::verify_schema`].
    pub async fn connect(options: TableOptions) -> Result<Self> {
        options.validate()?;
        let config = options.sdk_config().await;
        let verify = options.verify_schema;
        let table = Self::with_client(Client::new(&config), options)?;
        if verify {
            table.verify_schema().await?;
        }
        Ok(table)
    }

    /// The table handle on an SDK client you built yourself; the options'
    /// region, endpoint, SDK timeouts and SDK retries are ignored (they are
    /// the client's). It sends no request, even with
    /// [`verify_schema`](TableOptions::verify_schema): call
    /// [`Table::verify_schema`] yourself. The table's copy of the client
    /// carries one interceptor more, which notes the attempts of a write
    /// that ended without an answer (see [`Error::OutcomeUnknown`]).
    ///
    /// ```no_run
    /// # async fn run() -> dynago::Result<()> {
    /// let config = aws_config::load_from_env().await;
    /// let client = dynago::Client::new(&config);
    /// let table = dynago::Table::with_client(client, dynago::TableOptions::new("t").partition_key("pk"))?;
    /// # let _ = table;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the options are not usable.
    pub fn with_client(client: Client, options: TableOptions) -> Result<Self> {
        options.validate()?;
        let cursor_key = CursorKey::new(options.cursor_secret.as_deref());
        Ok(Self {
            inner: Arc::new(Inner {
                client: watching(client),
                cursor_key,
                keys: KeySchema {
                    partition: options.partition_key,
                    sort: options.sort_key,
                },
                key_types: (options.partition_key_type, options.sort_key_type),
                label: ::metrics::SharedString::from(Arc::<str>::from(options.name.as_str())),
                name: options.name,
                retry: options.retry,
                batch_concurrency: options.batch_concurrency.unwrap_or(4),
                requests: AtomicU64::new(0),
                index_keys: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The name of the partition key attribute.
    pub fn partition_key(&self) -> &str {
        &self.inner.keys.partition
    }

    /// The name of the sort key attribute, if the table has one.
    pub fn sort_key(&self) -> Option<&str> {
        self.inner.keys.sort.as_deref()
    }

    /// The SDK client, for what this crate does not cover.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// How many requests this handle (and its clones) has sent to DynamoDB,
    /// counting each batch chunk and each retry of one.
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The key attributes of `key`, named as this table names them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] for an empty value, a key type DynamoDB refuses
    /// or a sort key that is missing or not expected.
    pub fn key_item(&self, key: &Key) -> Result<Item> {
        self.inner.keys.item(&self.inner.name, key)
    }

    pub(crate) fn keys(&self) -> &KeySchema {
        &self.inner.keys
    }

    /// The key types the options set, partition then sort.
    pub(crate) fn key_types(&self) -> (Option<&ScalarAttributeType>, Option<&ScalarAttributeType>) {
        let (partition, sort) = &self.inner.key_types;
        (partition.as_ref(), sort.as_ref())
    }

    pub(crate) fn index_keys_cell(&self) -> &tokio::sync::OnceCell<Option<IndexKeys>> {
        &self.inner.index_keys
    }

    pub(crate) fn cursor_key(&self) -> &CursorKey {
        &self.inner.cursor_key
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    pub(crate) fn batch_concurrency(&self) -> usize {
        self.inner.batch_concurrency
    }

    /// The table's name as the `table` label of its metrics.
    pub(crate) fn metric_label(&self) -> ::metrics::SharedString {
        self.inner.label.clone()
    }

    pub(crate) fn count_request(&self) {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The identity of an item by its key attributes.
    pub(crate) fn key_id(&self, item: &Item) -> Result<KeyId> {
        self.inner
            .keys
            .id_of(item)
            .ok_or_else(|| Error::InvalidKey {
                table: self.inner.name.clone(),
                reason: "the item lacks a key attribute of this table".into(),
            })
    }

    /// The key of a stored item as text, for errors.
    pub(crate) fn describe(&self, item: &Item) -> String {
        self.inner.keys.describe(item)
    }

    /// Deserializes a stored item of this table; an error names its key
    /// (taken before, and written out only for an error).
    pub(crate) fn read_item<T: serde::de::DeserializeOwned>(&self, item: Item) -> Result<T> {
        let key = self.inner.keys.id_of(&item);
        crate::item::from_item(item, &self.inner.name, || {
            key.map_or_else(|| "?".to_owned(), |id| id.to_string())
        })
    }
}

/// `client` with the interceptor that notes the attempts of a write that
/// ended without a definitive answer (see [`attempts`](crate::attempts)).
fn watching(client: Client) -> Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(crate::attempts::AttemptWatch)
        .retry_classifier(crate::attempts::NoResendAfterSilence)
        .build();
    Client::from_conf(config)
}
