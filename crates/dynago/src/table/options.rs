//! The options that build a table handle: the table's name and keys, where
//! DynamoDB is, and the SDK's timeouts and retries.

use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::ScalarAttributeType;

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// How to reach a table: its name, its key names, and where DynamoDB is.
///
/// Without an [`endpoint`](TableOptions::endpoint), [`Table::connect`](crate::Table::connect) uses
/// the standard AWS configuration chain (environment, profile, instance role)
/// for credentials and region.
#[derive(Clone, Default)]
#[must_use]
pub struct TableOptions {
    pub(super) name: String,
    pub(super) partition_key: String,
    pub(super) sort_key: Option<String>,
    pub(super) partition_key_type: Option<ScalarAttributeType>,
    pub(super) sort_key_type: Option<ScalarAttributeType>,
    pub(super) verify_schema: bool,
    region: Option<String>,
    endpoint: Option<Endpoint>,
    pub(super) cursor_secret: Option<Vec<u8>>,
    pub(super) retry: RetryPolicy,
    pub(super) batch_concurrency: Option<usize>,
    attempt_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
    sdk_max_attempts: Option<u32>,
    sdk_initial_backoff: Option<Duration>,
}

impl fmt::Debug for TableOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableOptions")
            .field("name", &self.name)
            .field("partition_key", &self.partition_key)
            .field("sort_key", &self.sort_key)
            .field("partition_key_type", &self.partition_key_type)
            .field("sort_key_type", &self.sort_key_type)
            .field("verify_schema", &self.verify_schema)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field(
                "cursor_secret",
                &self.cursor_secret.as_ref().map(|_| "<secret>"),
            )
            .field("retry", &self.retry)
            .field("batch_concurrency", &self.batch_concurrency)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("sdk_max_attempts", &self.sdk_max_attempts)
            .field("sdk_initial_backoff", &self.sdk_initial_backoff)
            .finish_non_exhaustive()
    }
}

impl TableOptions {
    /// Options for the table called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The name of the partition key attribute (required).
    pub fn partition_key(mut self, name: impl Into<String>) -> Self {
        self.partition_key = name.into();
        self
    }

    /// The name of the sort key attribute, for tables that have one.
    pub fn sort_key(mut self, name: impl Into<String>) -> Self {
        self.sort_key = Some(name.into());
        self
    }

    /// The type of the partition key (`S`, `N` or `B`), when it matters:
    /// [`Table::verify_schema`](crate::Table::verify_schema) then checks it, and
    /// [`Table::create_table`](crate::Table::create_table) creates it (unless the
    /// [`TableDefinition`](crate::TableDefinition) says otherwise). Without
    /// it, any type is accepted and tables are created with `S`.
    ///
    /// ```
    /// use dynago::{ScalarAttributeType, TableOptions};
    ///
    /// let options = TableOptions::new("events")
    ///     .partition_key("pk")
    ///     .partition_key_type(ScalarAttributeType::S)
    ///     .sort_key("seq")
    ///     .sort_key_type(ScalarAttributeType::N)
    ///     .verify_schema(true);
    /// # let _ = options;
    /// ```
    pub fn partition_key_type(mut self, kind: ScalarAttributeType) -> Self {
        self.partition_key_type = Some(kind);
        self
    }

    /// The type of the sort key, when it matters: see
    /// [`partition_key_type`](Self::partition_key_type).
    pub fn sort_key_type(mut self, kind: ScalarAttributeType) -> Self {
        self.sort_key_type = Some(kind);
        self
    }

    /// Whether [`Table::connect`](crate::Table::connect) checks the table's key schema against
    /// these options before it returns (default `false`): one
    /// `DescribeTable` request, and [`Error::SchemaMismatch`] or
    /// [`Error::TableNotFound`] at start-up rather than puzzling
    /// `ValidationException`s on every request later. See
    /// [`Table::verify_schema`](crate::Table::verify_schema).
    pub fn verify_schema(mut self, verify: bool) -> Self {
        self.verify_schema = verify;
        self
    }

    /// The AWS region; without it, the standard chain decides
    /// ([`LOCAL_REGION`], `us-east-1`, with an [`endpoint`](Self::endpoint)).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// A DynamoDB endpoint with static credentials, such as DynamoDB Local.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// The secret that signs pagination cursors.
    ///
    /// Cursors always carry a checksum that rejects corrupted or edited
    /// cursors. With a secret (at least 16 bytes, the same on every server that
    /// reads the cursors), nobody without it can forge one either: set it when
    /// cursors travel through clients you do not trust.
    pub fn cursor_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.cursor_secret = Some(secret.into());
        self
    }

    /// How batch operations retry unprocessed keys and items.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How many chunk requests of one batch operation are in flight at once
    /// (default 4).
    pub fn batch_concurrency(mut self, requests: usize) -> Self {
        self.batch_concurrency = Some(requests);
        self
    }

    /// The longest one HTTP attempt may take, from sending the request to
    /// reading the whole answer; an attempt that takes longer fails with a
    /// timeout (which the SDK retries, see
    /// [`sdk_max_attempts`](Self::sdk_max_attempts)). Without it, the SDK
    /// sets no limit. Used by [`Table::connect`](crate::Table::connect) only.
    ///
    /// A timed-out write may have taken place: its answer is what was lost.
    ///
    /// ```
    /// use std::time::Duration;
    /// use dynago::TableOptions;
    ///
    /// let options = TableOptions::new("orders")
    ///     .partition_key("pk")
    ///     .attempt_timeout(Duration::from_secs(2))
    ///     .operation_timeout(Duration::from_secs(10));
    /// # let _ = options;
    /// ```
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The longest one operation may take, all its SDK attempts and the
    /// backoff between them included. Without it, the SDK sets no limit.
    /// Used by [`Table::connect`](crate::Table::connect) only.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = dynago::TableOptions::new("orders")
    ///     .partition_key("pk")
    ///     .operation_timeout(Duration::from_secs(5));
    /// # let _ = options;
    /// ```
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// How many HTTP attempts the SDK makes for one request, the first
    /// included (at least 1), before reporting a transient error
    /// (throttling, a server error, a timeout, a dropped connection). The
    /// SDK's default is 3 (standard retry mode); `1` turns its retries off,
    /// for callers that retry themselves. Used by [`Table::connect`](crate::Table::connect) only.
    ///
    /// This is the SDK's own retry of one request; [`retry`](Self::retry)
    /// is how batch operations retry what DynamoDB left unprocessed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = dynago::TableOptions::new("orders")
    ///     .partition_key("pk")
    ///     .sdk_max_attempts(10)
    ///     .sdk_initial_backoff(Duration::from_millis(20));
    /// # let _ = options;
    /// ```
    pub fn sdk_max_attempts(mut self, attempts: u32) -> Self {
        self.sdk_max_attempts = Some(attempts);
        self
    }

    /// The SDK's backoff before its first retry, which grows exponentially
    /// (with jitter) for the next ones; the SDK's default is 1 s. Used by
    /// [`Table::connect`](crate::Table::connect) only.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = dynago::TableOptions::new("orders")
    ///     .partition_key("pk")
    ///     .sdk_initial_backoff(Duration::from_millis(50));
    /// # let _ = options;
    /// ```
    pub fn sdk_initial_backoff(mut self, backoff: Duration) -> Self {
        self.sdk_initial_backoff = Some(backoff);
        self
    }

    /// The SDK timeouts these options ask for, if any.
    fn timeout_config(&self) -> Option<TimeoutConfig> {
        if self.attempt_timeout.is_none() && self.operation_timeout.is_none() {
            return None;
        }
        let mut timeouts = TimeoutConfig::builder();
        timeouts
            .set_operation_attempt_timeout(self.attempt_timeout)
            .set_operation_timeout(self.operation_timeout);
        Some(timeouts.build())
    }

    /// The SDK retry configuration these options ask for, if any: the
    /// standard mode with the attempts and backoff set here.
    fn retry_config(&self) -> Option<RetryConfig> {
        if self.sdk_max_attempts.is_none() && self.sdk_initial_backoff.is_none() {
            return None;
        }
        let mut config = RetryConfig::standard();
        if let Some(attempts) = self.sdk_max_attempts {
            config = config.with_max_attempts(attempts);
        }
        if let Some(backoff) = self.sdk_initial_backoff {
            config = config.with_initial_backoff(backoff);
        }
        Some(config)
    }

    /// The SDK configuration a table connected with these options uses:
    /// the endpoint and its credentials, the region, the SDK timeouts and
    /// retries set here, everything else from the environment. For clients
    /// of other AWS APIs that must reach the same DynamoDB, such as its
    /// Streams.
    ///
    /// ```no_run
    /// # async fn run() {
    /// let options = dynago::TableOptions::new("ledger").partition_key("pk");
    /// let config = options.sdk_config().await;
    /// let client = dynago::Client::new(&config);
    /// # let _ = client;
    /// # }
    /// ```
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(endpoint) = &self.endpoint {
            loader = loader
                .endpoint_url(&endpoint.url)
                .credentials_provider(Credentials::new(
                    &endpoint.access_key_id,
                    &endpoint.secret_access_key,
                    None,
                    None,
                    "dynago-static",
                ))
                .region(Region::new(
                    self.region.clone().unwrap_or_else(|| LOCAL_REGION.into()),
                ));
        } else if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(timeouts) = self.timeout_config() {
            loader = loader.timeout_config(timeouts);
        }
        if let Some(retries) = self.retry_config() {
            loader = loader.retry_config(retries);
        }
        loader.load().await
    }

    pub(super) fn validate(&self) -> Result<()> {
        if self.name.is_empty() {
            return Err(Error::Config("the table name is empty".into()));
        }
        if self.partition_key.is_empty() {
            return Err(Error::Config(format!(
                "table `{}` has no partition key name",
                self.name
            )));
        }
        if self.sort_key.as_deref() == Some("") {
            return Err(Error::Config(format!(
                "table `{}` has an empty sort key name",
                self.name
            )));
        }
        if self.sort_key.is_none() && self.sort_key_type.is_some() {
            return Err(Error::Config(format!(
                "table `{}` has a sort key type but no sort key name",
                self.name
            )));
        }
        if self.cursor_secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(Error::Config(
                "the cursor secret must be at least 16 bytes long".into(),
            ));
        }
        if self.batch_concurrency == Some(0) {
            return Err(Error::Config(
                "the batch concurrency must be at least 1".into(),
            ));
        }
        if self.sdk_max_attempts == Some(0) {
            return Err(Error::Config(
                "the SDK's attempts must be at least 1".into(),
            ));
        }
        if [self.attempt_timeout, self.operation_timeout].contains(&Some(Duration::ZERO)) {
            return Err(Error::Config("a timeout must not be zero".into()));
        }
        Ok(())
    }
}

/// The access key that [`Endpoint::new`] signs with, and that `dynago-local`
/// and the ledger example use for every local server.
///
/// DynamoDB Local keeps the tables of each access key (and region) apart
/// unless started with `-sharedDb`: a table created with one key is not
/// found with another. One default keeps them together.
pub const LOCAL_ACCESS_KEY_ID: &str = "dynago";

/// The secret that goes with [`LOCAL_ACCESS_KEY_ID`].
pub const LOCAL_SECRET_ACCESS_KEY: &str = "dynago";

/// The region of a table on an [`Endpoint`] when the options name none.
pub const LOCAL_REGION: &str = "us-east-1";

/// A DynamoDB endpoint with static credentials, for DynamoDB Local and other
/// servers that are not AWS.
///
/// ```
/// use dynago::Endpoint;
/// let local = Endpoint::new("http://localhost:8000");
/// assert_eq!(local.url(), "http://localhost:8000");
/// // Other credentials, for tables created under another access key:
/// let other = Endpoint::new("http://localhost:8000").credentials("key", "secret");
/// # let _ = other;
/// ```
#[derive(Clone)]
#[must_use]
pub struct Endpoint {
    url: String,
    access_key_id: String,
    secret_access_key: String,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The endpoint at `url`, with the access key [`LOCAL_ACCESS_KEY_ID`]
    /// and the secret [`LOCAL_SECRET_ACCESS_KEY`] (both `dynago`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            access_key_id: LOCAL_ACCESS_KEY_ID.into(),
            secret_access_key: LOCAL_SECRET_ACCESS_KEY.into(),
        }
    }

    /// The static access key and secret to sign requests with.
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.access_key_id = access_key_id.into();
        self.secret_access_key = secret_access_key.into();
        self
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}
