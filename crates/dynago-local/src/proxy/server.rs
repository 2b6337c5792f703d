//! The proxy's handle: starting it, pointing it elsewhere, changing its
//! plan, reading what it saw.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use dynago::{Endpoint, TableOptions};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use super::connection::serve;
use super::permissions::Permission;
use super::plan::FaultPlan;
use super::state::{Shared, State, Upstream};
use super::stats::{ProxyStats, ReadRequest};
use crate::error::{Error, Result};
use crate::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

/// An HTTP/1.1 proxy on `127.0.0.1` that forwards requests to a DynamoDB
/// endpoint and injects the faults of a [`FaultPlan`]: latency, connection
/// resets, throttling and other errors, answers dropped after the request
/// committed, and requests delivered late or twice.
///
/// It serves from a thread of its own (like the embedded server), so it
/// outlives the runtime that started it. Connections are kept alive, to the
/// client and to DynamoDB. Dropping the handle stops it and closes its
/// connections.
///
/// [`set_upstream`](Self::set_upstream) points it at another server while
/// clients stay connected to it: a server that stops and comes back on
/// another port looks to them like one that was unreachable for a while.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use dynago_local::{FaultPlan, FaultProxy, LocalDynamo, Throttle};
///
/// let dynamo = LocalDynamo::start().await?;
/// let proxy = FaultProxy::start(
///     dynamo.url(),
///     FaultPlan::default().seed(1).throttle(Throttle::ProvisionedThroughputExceeded, 0.2),
/// )
/// .await?;
/// let table = dynago::Table::connect(proxy.table_options("orders").partition_key("pk")).await?;
/// // ... use the table; a fifth of its requests are throttled ...
/// println!("{:?}", proxy.stats());
/// # let _ = table;
/// # Ok(())
/// # }
/// ```
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("url", &self.url())
            .field("upstream", &self.upstream)
            .field("plan", &self.shared.lock().plan)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port that forwards to
    /// `upstream_url` (a plain `http://host:port` URL; its path is ignored)
    /// under `plan`.
    ///
    /// ```no_run
    /// # async fn run() -> dynago_local::Result<()> {
    /// use dynago_local::{FaultPlan, FaultProxy};
    ///
    /// let proxy = FaultProxy::start("http://127.0.0.1:8000", FaultPlan::default()).await?;
    /// println!("DynamoDB, with faults, at {}", proxy.url());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Start`] when the URL is not a plain `http` URL with a host,
    /// or the port, thread or runtime cannot be had.
    pub async fn start(upstream_url: &str, plan: FaultPlan) -> Result<Self> {
        let upstream = Upstream::parse(upstream_url)?;
        let start_error = |source| Error::Start {
            what: "the fault proxy",
            source,
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(start_error)?;
        listener.set_nonblocking(true).map_err(start_error)?;
        let addr = listener.local_addr().map_err(start_error)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dynago-fault-proxy")
            .enable_all()
            .build()
            .map_err(start_error)?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener).map_err(start_error)?
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(plan)),
            upstream: Mutex::new(upstream),
            pending: watch::channel(0).0,
        });
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let serving = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("dynago-fault-proxy".into())
            .spawn(move || runtime.block_on(serve(listener, serving, shutdown_rx)))
            .map_err(start_error)?;
        tracing::debug!(%addr, upstream = upstream_url, "fault proxy started");
        Ok(Self {
            addr,
            upstream: upstream_url.to_owned(),
            shared,
            shutdown: Some(shutdown_tx),
        })
    }

    /// The proxy's URL, such as `http://127.0.0.1:41873`.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// let url: String = proxy.url();
    /// # let _ = url;
    /// # }
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The upstream URL the proxy forwards to.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// println!("{} -> {}", proxy.url(), proxy.upstream());
    /// # }
    /// ```
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Forwards to `upstream_url` from now on, as [`start`](Self::start)
    /// would: for a server that stopped and came back on another port.
    /// Requests already forwarded finish with the old upstream (or fail, if
    /// it is gone); every request forwarded after this call goes to the new
    /// one. Client connections, the plan and the [`stats`](Self::stats) are
    /// kept.
    ///
    /// ```no_run
    /// # async fn run(mut proxy: dynago_local::FaultProxy) -> dynago_local::Result<()> {
    /// use dynago_local::{Backend, LocalDynamo};
    ///
    /// // ... the server behind the proxy was dropped; a new one on the same file:
    /// let path = std::path::PathBuf::from("/tmp/ledger.sqlite");
    /// let restarted = LocalDynamo::start_backend(Backend::EmbeddedFile(path)).await?;
    /// proxy.set_upstream(restarted.url())?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Start`] when the URL is not a plain `http` URL with a host;
    /// the proxy then keeps its upstream.
    pub fn set_upstream(&mut self, upstream_url: &str) -> Result<()> {
        let upstream = Upstream::parse(upstream_url)?;
        *self.shared.upstream() = upstream;
        self.upstream = upstream_url.to_owned();
        tracing::debug!(addr = %self.addr, upstream = upstream_url, "fault proxy switched upstream");
        Ok(())
    }

    /// The proxy as an endpoint, with the same credentials as
    /// [`LocalDynamo::endpoint`](crate::LocalDynamo::endpoint).
    ///
    /// ```no_run
    /// # async fn run(proxy: dynago_local::FaultProxy) -> dynago::Result<()> {
    /// use dynago::{Table, TableOptions};
    ///
    /// let table = Table::connect(
    ///     TableOptions::new("orders").partition_key("pk").endpoint(proxy.endpoint()),
    /// )
    /// .await?;
    /// # let _ = table;
    /// # Ok(())
    /// # }
    /// ```
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(self.url()).credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    }

    /// [`TableOptions`] for the table `name` through the proxy, with the
    /// region of [`LocalDynamo::table_options`](crate::LocalDynamo::table_options)
    /// (so the proxy sees the tables the server holds for it).
    ///
    /// ```no_run
    /// # async fn run(proxy: dynago_local::FaultProxy) -> dynago::Result<()> {
    /// let table = dynago::Table::connect(proxy.table_options("orders").partition_key("pk")).await?;
    /// # let _ = table;
    /// # Ok(())
    /// # }
    /// ```
    pub fn table_options(&self, name: impl Into<String>) -> TableOptions {
        TableOptions::new(name)
            .endpoint(self.endpoint())
            .region(REGION)
    }

    /// [`TableOptions`] for `table` through the proxy: its name and key
    /// names, as [`table_options`](Self::table_options) gives them. A test
    /// then holds the same table twice, directly and through the faults.
    ///
    /// ```no_run
    /// # async fn run(proxy: dynago_local::FaultProxy, direct: dynago::Table) -> dynago::Result<()> {
    /// use std::time::Duration;
    ///
    /// let proxied = dynago::Table::connect(
    ///     proxy.table_options_for(&direct).sdk_max_attempts(1).attempt_timeout(Duration::from_secs(2)),
    /// )
    /// .await?;
    /// # let _ = proxied;
    /// # Ok(())
    /// # }
    /// ```
    pub fn table_options_for(&self, table: &dynago::Table) -> TableOptions {
        let options = self
            .table_options(table.name())
            .partition_key(table.partition_key());
        match table.sort_key() {
            Some(sort_key) => options.sort_key(sort_key),
            None => options,
        }
    }

    /// Replaces the plan, from the next request on. The generator starts
    /// again from the new plan's seed, and [`FaultPlan::first`] counts from
    /// here; the [`stats`](Self::stats) go on counting.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// use dynago_local::FaultPlan;
    ///
    /// proxy.set_plan(FaultPlan::default().drop_answer(1.0).first(1));
    /// // ... the next request commits and loses its answer ...
    /// proxy.set_plan(FaultPlan::default()); // no more faults
    /// # }
    /// ```
    pub fn set_plan(&self, plan: FaultPlan) {
        self.shared.lock().set_plan(plan);
    }

    /// The plan in force.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// assert_eq!(proxy.plan(), dynago_local::FaultPlan::default());
    /// # }
    /// ```
    pub fn plan(&self) -> FaultPlan {
        self.shared.lock().plan.clone()
    }

    /// What the proxy has seen and done so far.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// let stats = proxy.stats();
    /// assert!(stats.forwarded <= stats.requests);
    /// # }
    /// ```
    pub fn stats(&self) -> ProxyStats {
        self.shared.lock().stats.clone()
    }

    /// The reads received so far (since the start, or the last
    /// [`take_reads`](Self::take_reads)), in order, with whether each asked
    /// for a strongly consistent read. Reads whose connection was
    /// [reset](FaultPlan::reset) are not listed: their body was never read.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// for read in proxy.reads() {
    ///     println!("{} {}: consistent {}", read.operation, read.table, read.consistent_read);
    /// }
    /// # }
    /// ```
    pub fn reads(&self) -> Vec<ReadRequest> {
        self.shared.lock().reads.clone()
    }

    /// The reads received so far, as [`reads`](Self::reads) gives them,
    /// emptying the log: the next call lists only the reads received after
    /// this one.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// let _setup = proxy.take_reads();
    /// // ... the reads under test ...
    /// assert!(proxy.take_reads().iter().all(|read| read.consistent_read));
    /// # }
    /// ```
    pub fn take_reads(&self) -> Vec<ReadRequest> {
        std::mem::take(&mut self.shared.lock().reads)
    }

    /// The distinct IAM permissions the requests received so far asked
    /// for (since the start, or the last
    /// [`take_permissions`](Self::take_permissions)): each action on each
    /// table, index or stream, as DynamoDB authorizes the request
    /// ([`Permission`]). Requests answered with a fault are listed too:
    /// they were sent. A `GetRecords` on an iterator this proxy did not see
    /// handed out is on [`Resource::Unknown`](crate::Resource::Unknown).
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// for permission in proxy.permissions() {
    ///     println!("{} on {}", permission.action, permission.resource.arn("eu-west-1", "123456789012"));
    /// }
    /// # }
    /// ```
    pub fn permissions(&self) -> BTreeSet<Permission> {
        self.shared.lock().permissions.clone()
    }

    /// The permissions asked for so far, as
    /// [`permissions`](Self::permissions) gives them, emptying the list.
    ///
    /// ```no_run
    /// # fn run(proxy: dynago_local::FaultProxy) {
    /// let _setup = proxy.take_permissions();
    /// // ... the calls under test ...
    /// let asked = proxy.take_permissions();
    /// assert!(asked.iter().all(|permission| permission.action != "dynamodb:Scan"));
    /// # }
    /// ```
    pub fn take_permissions(&self) -> BTreeSet<Permission> {
        std::mem::take(&mut self.shared.lock().permissions)
    }

    /// Waits until no delivery is pending: every request
    /// [held](FaultPlan::hold) so far forwarded and answered, and every
    /// second delivery of a [duplicated](FaultPlan::duplicate) request
    /// answered (the answers discarded). Returns at once when none is
    /// pending. A held request is pending from the moment it is held, so
    /// once its client has given up, this waits for its late delivery.
    ///
    /// It waits as long as DynamoDB takes to answer; a test bounds it with
    /// a timeout of its own.
    ///
    /// ```no_run
    /// # async fn run(proxy: dynago_local::FaultProxy) {
    /// use std::time::Duration;
    ///
    /// // ... a request was held, and its client timed out ...
    /// tokio::time::timeout(Duration::from_secs(30), proxy.settled())
    ///     .await
    ///     .expect("the held requests delivered");
    /// let stats = proxy.stats();
    /// assert_eq!(stats.delivered_late, stats.held);
    /// # }
    /// ```
    pub async fn settled(&self) {
        let mut pending = self.shared.pending.subscribe();
        // The sender lives in `shared`, as long as `self`: no error.
        let _ = pending.wait_for(|pending| *pending == 0).await;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
