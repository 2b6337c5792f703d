//! A projection's lag over the last hour, as sampled by the explorer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How long samples are kept.
pub(crate) const KEPT: Duration = Duration::from_secs(3600);

/// One sample of a projection's progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub(crate) at: DateTime<Utc>,
    /// The largest lag of its shards, in seconds; `None` when it cannot be
    /// told (charted as a gap).
    pub(crate) lag_seconds: Option<f64>,
}

/// The samples of each projection, the last hour's.
#[derive(Debug, Default)]
pub(crate) struct History {
    samples: Mutex<HashMap<&'static str, VecDeque<Sample>>>,
}

impl History {
    /// Keeps `sample` of `projection`, and forgets those over an hour
    /// older.
    pub(crate) fn record(&self, projection: &'static str, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = samples.entry(projection).or_default();
        kept.push_back(sample);
        let oldest = sample.at - chrono::Duration::from_std(KEPT).unwrap_or_default();
        while kept.front().is_some_and(|s| s.at < oldest) {
            kept.pop_front();
        }
    }

    /// The samples of `projection`, oldest first.
    pub(crate) fn of(&self, projection: &str) -> Vec<Sample> {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples
            .get(projection)
            .map(|kept| kept.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_older_than_an_hour_are_forgotten() {
        let history = History::default();
        let start = Utc::now();
        for minutes in [0, 30, 61] {
            history.record(
                "views",
                Sample {
                    at: start + chrono::Duration::minutes(minutes),
                    lag_seconds: Some(1.0),
                },
            );
        }
        let kept: Vec<_> = history.of("views").iter().map(|s| s.at).collect();
        assert_eq!(
            kept,
            [
                start + chrono::Duration::minutes(30),
                start + chrono::Duration::minutes(61)
            ]
        );
        assert!(history.of("other").is_empty());
    }
}
