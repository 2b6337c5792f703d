//! The explorer: what it shows, how it is built, and its options.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dynago::telemetry::Usage;
use dynago::Table;
use dynago_es::{EventStore, Inspector};
use dynago_projections::{Projection, Projector};

use crate::auth::Secret;
use crate::catalog::Cataloged;
use crate::error::Result;
use crate::history::{History, Sample};
use crate::pages::projections::{lag_of, Lag};
use crate::registry::{self, AggregateSource, Listed, ProjectionSource, Registered};

/// How an explorer behaves.
///
/// ```
/// use std::time::Duration;
/// use dynago_explorer::ExplorerOptions;
///
/// let options = ExplorerOptions::default()
///     .page_size(20)
///     .catalog_max_age(Duration::from_secs(30))
///     .actions("a long random token");
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct ExplorerOptions {
    pub(crate) page_size: u32,
    pub(crate) catalog_max_age: Duration,
    pub(crate) token: Option<String>,
    pub(crate) hosts: Vec<String>,
    pub(crate) base_path: String,
}

/// The shortest token [`ExplorerOptions::actions`] takes.
pub const MIN_TOKEN_LEN: usize = 16;

impl Default for ExplorerOptions {
    fn default() -> Self {
        Self {
            page_size: 50,
            catalog_max_age: Duration::from_secs(10),
            token: None,
            hosts: Vec::new(),
            base_path: String::new(),
        }
    }
}

impl std::fmt::Debug for ExplorerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplorerOptions")
            .field("page_size", &self.page_size)
            .field("catalog_max_age", &self.catalog_max_age)
            .field("actions", &self.token.is_some())
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl ExplorerOptions {
    /// Events and aggregates per page (default 50, at least 1, at most
    /// 1,000).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size.clamp(1, 1000);
        self
    }

    /// How long a catalog read serves the overview and the type pages
    /// before it is read again (default 10 s). Reading a catalog costs a
    /// read unit per 8 KB of entries, about 40 aggregates.
    pub fn catalog_max_age(mut self, age: Duration) -> Self {
        self.catalog_max_age = age;
        self
    }

    /// Enables actions (replaying parked events) for visitors who log in
    /// with `token`, at least [`MIN_TOKEN_LEN`] characters (checked by
    /// [`ExplorerBuilder::build`]). Without it the explorer is read-only.
    pub fn actions(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Answers requests addressed to `host` (a name or an address, without
    /// its port) besides `localhost`, `127.0.0.1` and `[::1]`, the only
    /// ones answered by default: a page of another site that a DNS record
    /// points at this machine (DNS rebinding) is refused, not answered with
    /// the store's data. Needed when the explorer listens on another
    /// interface and is reached by that name.
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into().to_ascii_lowercase());
        self
    }

    /// The path the explorer's router is nested under (`/explorer` for
    /// `Router::new().nest("/explorer", explorer.router())`), which its
    /// pages' links and redirects start from; none by default.
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        let path = path.trim_end_matches('/');
        self.base_path = if path.is_empty() || path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        self
    }

    /// Whether a request whose `Host` header is `header` is answered.
    pub(crate) fn answers(&self, header: &str) -> bool {
        let host = match header.strip_prefix('[') {
            // [::1]:7878
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => header.rsplit_once(':').map_or(header, |(host, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    host
                } else {
                    header
                }
            }),
        };
        let host = host.to_ascii_lowercase();
        matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1") || self.hosts.contains(&host)
    }
}

/// A catalog as read, and what reading it cost.
#[derive(Debug, Clone)]
pub(crate) struct CatalogRead {
    pub(crate) listed: Arc<Vec<Listed>>,
    pub(crate) read_at: DateTime<Utc>,
    pub(crate) usage: Usage,
    fresh_until: Instant,
}

pub(crate) struct Inner {
    pub(crate) inspector: Inspector,
    pub(crate) aggregates: BTreeMap<&'static str, Box<dyn AggregateSource>>,
    pub(crate) projections: BTreeMap<&'static str, Box<dyn ProjectionSource>>,
    pub(crate) options: ExplorerOptions,
    pub(crate) secret: Option<Secret>,
    pub(crate) history: History,
    catalogs: Mutex<BTreeMap<&'static str, CatalogRead>>,
}

/// An event-store explorer: pages on the aggregates of a table and the
/// projections of its stream, served by the [`axum::Router`] of
/// [`router`](Explorer::router) in the user's own service.
///
/// Every page reads what it shows (strongly, where an answer must be
/// current) and says what it cost; the overview and the type pages read
/// each aggregate type's [`Catalog`](crate::Catalog), never the events
/// table.
///
/// ```no_run
/// # async fn run<A: dynago_explorer::Cataloged, P: dynago_projections::Projection>(
/// #     store: dynago_es::EventStore<A>,
/// #     views: dynago::Table,
/// #     catalog: dynago_projections::Projector<dynago_explorer::Catalog<A>>,
/// #     projector: dynago_projections::Projector<P>,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use dynago_explorer::{Explorer, ExplorerOptions};
///
/// let explorer = Explorer::builder(store.table().clone(), views)
///     .aggregate(store)
///     .projection(catalog)
///     .projection(projector)
///     .build()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
/// axum::serve(listener, explorer.router()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Explorer {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Explorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Explorer")
            .field("table", &self.inner.inspector.table().name())
            .field(
                "aggregates",
                &self.inner.aggregates.keys().collect::<Vec<_>>(),
            )
            .field(
                "projections",
                &self.inner.projections.keys().collect::<Vec<_>>(),
            )
            .field("options", &self.inner.options)
            .finish()
    }
}

/// Registers what an [`Explorer`] shows ([`Explorer::builder`]).
#[must_use]
pub struct ExplorerBuilder {
    events: Table,
    views: Table,
    aggregates: BTreeMap<&'static str, Box<dyn AggregateSource>>,
    projections: BTreeMap<&'static str, Box<dyn ProjectionSource>>,
    options: ExplorerOptions,
    error: Option<crate::Error>,
}

impl std::fmt::Debug for ExplorerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplorerBuilder")
            .field("events", &self.events.name())
            .field("views", &self.views.name())
            .finish_non_exhaustive()
    }
}

impl Explorer {
    /// An explorer of the events in `events` and the projections whose
    /// views (and the aggregates' catalogs) are in `views`.
    pub fn builder(events: Table, views: Table) -> ExplorerBuilder {
        ExplorerBuilder {
            events,
            views,
            aggregates: BTreeMap::new(),
            projections: BTreeMap::new(),
            options: ExplorerOptions::default(),
            error: None,
        }
    }

    /// Samples the lag of every projection once, for the lag charts (the
    /// live sections sample too, while they are watched): one query of each
    /// projection's leases.
    pub async fn sample(&self) {
        for projection in self.inner.projections.values() {
            if let Ok(leases) = projection.leases().await {
                self.inner.record_lag(projection.name(), &leases);
            }
        }
    }

    /// Samples every `interval` until dropped: spawn it beside the server
    /// for lag charts that cover the time nobody watched.
    ///
    /// ```no_run
    /// # fn run(explorer: dynago_explorer::Explorer) {
    /// let sampler = explorer.clone();
    /// tokio::spawn(async move { sampler.sample_every(std::time::Duration::from_secs(15)).await });
    /// # }
    /// ```
    pub async fn sample_every(&self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        loop {
            ticks.tick().await;
            self.sample().await;
        }
    }
}

impl Inner {
    pub(crate) fn record_lag(
        &self,
        name: &'static str,
        leases: &[dynago_projections::LeaseStatus],
    ) {
        let now = Utc::now();
        let lag_seconds = match lag_of(leases, now) {
            Lag::Known { seconds, .. } => Some(seconds),
            Lag::Unknown(_) => None,
        };
        self.history.record(
            name,
            Sample {
                at: now,
                lag_seconds,
            },
        );
    }

    /// The catalog of `aggregate_type`, read again when older than the
    /// options allow.
    pub(crate) async fn catalog(&self, source: &dyn AggregateSource) -> Result<CatalogRead> {
        let name = source.aggregate_type();
        let cached = self
            .catalogs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .filter(|read| read.fresh_until > Instant::now())
            .cloned();
        if let Some(read) = cached {
            return Ok(read);
        }
        let (listed, usage) = dynago::telemetry::measure_usage(source.catalog()).await;
        let mut listed = listed?;
        // Newest first: by the first event's time, then by id.
        listed.sort_by(|a, b| {
            b.entry
                .created_at
                .cmp(&a.entry.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let read = CatalogRead {
            listed: Arc::new(listed),
            read_at: Utc::now(),
            usage,
            fresh_until: Instant::now() + self.options.catalog_max_age,
        };
        self.catalogs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, read.clone());
        Ok(read)
    }
}

impl ExplorerBuilder {
    /// Shows the aggregates of `store`'s type: listed by their catalog
    /// (run its [`Catalog`](crate::Catalog) projector with the others),
    /// their states folded by `A`.
    pub fn aggregate<A: Cataloged>(mut self, store: EventStore<A>) -> Self {
        match registry::catalog_views::<A>(self.views.clone()) {
            Ok(catalog) => {
                self.aggregates
                    .insert(A::TYPE, Box::new(Registered { store, catalog }));
            }
            Err(error) => self.error = self.error.or(Some(error)),
        }
        self
    }

    /// Shows a projection: its leases, lag, parked events and views.
    pub fn projection<P: Projection>(mut self, projector: Projector<P>) -> Self {
        self.projections.insert(P::NAME, Box::new(projector));
        self
    }

    /// Sets the options.
    pub fn options(mut self, options: ExplorerOptions) -> Self {
        self.options = options;
        self
    }

    /// The explorer.
    ///
    /// # Errors
    ///
    /// A catalog whose views table is not usable (it needs a sort key); an
    /// actions' token shorter than [`MIN_TOKEN_LEN`].
    pub fn build(self) -> Result<Explorer> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if let Some(token) = &self.options.token {
            if token.chars().count() < MIN_TOKEN_LEN {
                return Err(crate::Error::BadRequest(format!(
                    "the actions' token has {} characters, fewer than {MIN_TOKEN_LEN}: give a long random one",
                    token.chars().count()
                )));
            }
        }
        let secret = self.options.token.clone().map(Secret::new);
        Ok(Explorer {
            inner: Arc::new(Inner {
                inspector: Inspector::new(self.events),
                aggregates: self.aggregates,
                projections: self.projections,
                options: self.options,
                secret,
                history: History::default(),
                catalogs: Mutex::new(BTreeMap::new()),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_and_the_hosts_allowed_are_answered() {
        let options = ExplorerOptions::default().allow_host("Ops.Example");
        for host in [
            "localhost",
            "localhost:7878",
            "127.0.0.1:80",
            "[::1]:7878",
            "ops.example:7878",
        ] {
            assert!(options.answers(host), "{host}");
        }
        for host in [
            "attacker.example:7878",
            "127.0.0.2",
            "localhost.attacker.example",
            "[::2]:1",
            "",
        ] {
            assert!(!options.answers(host), "{host}");
        }
    }
}
