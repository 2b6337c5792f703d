//! The metrics the code under test records, captured by a recorder of the
//! test's own: installed on the test's thread only, so tests running at
//! once never see each other's figures.
//!
//! The recorder is thread-local: run the test on one thread
//! (`#[tokio::test]`, whose runtime is current-thread, not
//! `flavor = "multi_thread"`); what a task records on another thread is
//! not captured.
//!
//! ```no_run
//! # async fn run(table: dynago::Table) -> dynago::Result<()> {
//! use dynago::Key;
//! use dynago_local::testing::metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! let _installed = metrics.install();
//! table.get_item(Key::new("account#1")).send_raw().await?;
//! let recorded = metrics.take();
//! assert_eq!(recorded.counter("dynago_requests_total", &[("operation", "GetItem")]), 1);
//! # Ok(())
//! # }
//! ```

use ::metrics::{Key, LocalRecorderGuard};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// A recorder for one test, and what it captured.
#[derive(Debug)]
pub struct Metrics {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        Self {
            recorder,
            snapshotter,
        }
    }
}

impl Metrics {
    /// A recorder that has captured nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes this the recorder of the current thread until the guard is
    /// dropped (the one before is restored then).
    pub fn install(&self) -> LocalRecorderGuard<'_> {
        ::metrics::set_default_local_recorder(&self.recorder)
    }

    /// What was recorded since the last `take`: counters and gauges count
    /// from 0 again after it, histograms start empty.
    pub fn take(&self) -> Recorded {
        let entries = self
            .snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| (key.key().clone(), value))
            .collect();
        Recorded { entries }
    }
}

/// What a [`Metrics`] captured between two takes. Each query names a metric
/// and some of its labels, and adds up every series of that name whose
/// labels include them (no labels: every series of the name).
#[derive(Debug)]
pub struct Recorded {
    entries: Vec<(Key, DebugValue)>,
}

impl Recorded {
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a DebugValue> + 'a {
        self.entries
            .iter()
            .filter(move |(key, _)| {
                key.name() == name
                    && labels.iter().all(|(label, value)| {
                        key.labels()
                            .any(|found| found.key() == *label && found.value() == *value)
                    })
            })
            .map(|(_, value)| value)
    }

    /// The counter `name`, summed over the series with `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.matching(name, labels)
            .map(|value| match value {
                DebugValue::Counter(count) => *count,
                _ => 0,
            })
            .sum()
    }

    /// The gauge `name`, summed over the series with `labels` (0 without
    /// any).
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels)
            .map(|value| match value {
                DebugValue::Gauge(gauge) => gauge.into_inner(),
                _ => 0.0,
            })
            .sum()
    }

    /// The values recorded in the histogram `name`, over the series with
    /// `labels`, series by series in the order they were first recorded.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.matching(name, labels)
            .flat_map(|value| match value {
                DebugValue::Histogram(values) => values.iter().map(|v| v.into_inner()).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The values the label `label` takes in the series of `name`, sorted,
    /// each once.
    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .entries
            .iter()
            .filter(|(key, _)| key.name() == name)
            .flat_map(|(key, _)| {
                key.labels()
                    .filter(|found| found.key() == label)
                    .map(|found| found.value().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        values.sort();
        values.dedup();
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_was_recorded_on_this_thread_since_the_last_take() {
        let metrics = Metrics::new();
        {
            let _installed = metrics.install();
            ::metrics::counter!("jobs_total", "kind" => "a").increment(2);
            ::metrics::counter!("jobs_total", "kind" => "b").increment(3);
            ::metrics::gauge!("units", "kind" => "read").increment(0.5);
            ::metrics::histogram!("sizes").record(4.0);
            // Another thread records into its own (here: no) recorder.
            std::thread::spawn(|| ::metrics::counter!("jobs_total", "kind" => "a").increment(7))
                .join()
                .expect("the thread ends");
        }
        // Uninstalled: not captured.
        ::metrics::counter!("jobs_total", "kind" => "a").increment(11);
        let recorded = metrics.take();
        assert_eq!(recorded.counter("jobs_total", &[("kind", "a")]), 2);
        assert_eq!(recorded.counter("jobs_total", &[]), 5);
        assert_eq!(recorded.gauge("units", &[("kind", "read")]), 0.5);
        assert_eq!(recorded.histogram("sizes", &[]), vec![4.0]);
        assert_eq!(recorded.label_values("jobs_total", "kind"), ["a", "b"]);
        assert_eq!(metrics.take().counter("jobs_total", &[]), 0);
    }
}
