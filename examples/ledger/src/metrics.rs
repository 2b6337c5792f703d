//! The ledger's metrics for Prometheus: what `dynago`, `dynago-es` and
//! `dynago-projections` record through the `metrics` facade (requests and
//! capacity, commands by outcome, the read side's progress), served at
//! `/metrics` by `metrics-exporter-prometheus`. `docs/metrics.md` lists
//! them, with a scrape.
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Once, at start-up, before the first command.
//! ledger::metrics::serve_prometheus("127.0.0.1:9000".parse()?)?;
//! // curl http://127.0.0.1:9000/metrics
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};
use metrics_util::MetricKindMask;

/// The buckets of `dynago_command_duration_seconds`, in seconds: from a
/// command on a cached account (one write, a few milliseconds) to one that
/// met many conflicts.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The buckets of `dynago_load_events`: between two snapshots an account
/// has at most [`SNAPSHOT_EVERY`](crate::ledger::SNAPSHOT_EVERY) events.
pub const LOAD_EVENTS_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 500.0];

/// How long a gauge no one sets any more stays in the scrape: the lag of a
/// shard this process no longer reads (a reader sets its shards' gauges
/// after every round, at least every idle wait).
pub const IDLE_GAUGES: Duration = Duration::from_secs(600);

/// The Prometheus exporter as the ledger sets it up: histograms with
/// buckets ([`DURATION_BUCKETS`], [`LOAD_EVENTS_BUCKETS`]), and gauges no
/// one set for [`IDLE_GAUGES`] dropped. Neither served nor installed: add
/// a listener, or build a recorder of your own (as the tests do).
///
/// ```
/// let recorder = ledger::metrics::prometheus()?.build_recorder();
/// assert_eq!(recorder.handle().render(), "");
/// # Ok::<(), metrics_exporter_prometheus::BuildError>(())
/// ```
///
/// # Errors
///
/// Never with these buckets ([`BuildError::EmptyBucketsOrQuantiles`] for
/// empty ones).
pub fn prometheus() -> Result<PrometheusBuilder, BuildError> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(dynago_es::metrics::COMMAND_DURATION.to_owned()),
            DURATION_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(dynago_es::metrics::LOAD_EVENTS.to_owned()),
            LOAD_EVENTS_BUCKETS,
        )?
        .idle_timeout(MetricKindMask::GAUGE, Some(IDLE_GAUGES)))
}

/// Installs the Prometheus recorder for the whole process and serves its
/// scrape at `http://{addr}/metrics` (any path, in fact), then gives every
/// metric its help text ([`describe`]). Call it once, at start-up, before
/// the first command; within a Tokio runtime the server runs on it,
/// otherwise on a thread of its own.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// ledger::metrics::serve_prometheus(std::net::SocketAddr::from(([0, 0, 0, 0], 9000)))?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`BuildError::FailedToCreateHTTPListener`] when `addr` cannot be bound
/// (taken, or not this machine's), and
/// [`BuildError::FailedToSetGlobalRecorder`] when a recorder is installed
/// already (a second call).
pub fn serve_prometheus(addr: SocketAddr) -> Result<(), BuildError> {
    prometheus()?.with_http_listener(addr).install()?;
    describe();
    Ok(())
}

/// Gives the metrics of `dynago`, `dynago-es` and `dynago-projections`
/// their unit and help text in the recorder installed now.
///
/// ```
/// // With no recorder installed, it does nothing.
/// ledger::metrics::describe();
/// ```
pub fn describe() {
    dynago::metrics::describe();
    dynago_es::metrics::describe();
    dynago_projections::metrics::describe();
}

#[doc = include_str!("../../../docs/metrics.md")]
#[cfg(doctest)]
pub struct MetricsGuideDoctests;
