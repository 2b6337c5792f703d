//! What a worker sent while it applied events: counted before and after,
//! per event applied.

use std::collections::BTreeMap;

use dynago_local::ProxyStats;

use super::{Costs, Side};
use crate::counter::RequestSnapshot;

/// The counts at one moment.
pub(super) struct Reading {
    pub(super) views: RequestSnapshot,
    pub(super) events_table: RequestSnapshot,
    pub(super) streams: ProxyStats,
    pub(super) reported: u64,
}

/// What was sent while `events` were applied.
#[derive(Debug, Clone, Default)]
pub(super) struct Window {
    pub(super) events: u64,
    views: RequestSnapshot,
    events_table: RequestSnapshot,
    streams: BTreeMap<String, u64>,
    reported: u64,
}

fn add_snapshot(sum: &mut RequestSnapshot, more: &RequestSnapshot) {
    sum.total += more.total;
    for (op, n) in &more.by_operation {
        *sum.by_operation.entry(op.clone()).or_insert(0) += n;
    }
    sum.units.write += more.units.write;
    sum.units.read += more.units.read;
    sum.units.reported += more.units.reported;
}

impl Window {
    pub(super) fn between(before: &Reading, after: &Reading, events: u64) -> Self {
        let streams = after
            .streams
            .by_operation
            .iter()
            .map(|(op, n)| {
                let earlier = before.streams.by_operation.get(op).copied().unwrap_or(0);
                (op.clone(), n - earlier)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        Self {
            events,
            views: after.views.since(&before.views),
            events_table: after.events_table.since(&before.events_table),
            streams,
            reported: after.reported - before.reported,
        }
    }

    pub(super) fn add(&mut self, more: &Window) {
        self.events += more.events;
        add_snapshot(&mut self.views, &more.views);
        add_snapshot(&mut self.events_table, &more.events_table);
        for (op, n) in &more.streams {
            *self.streams.entry(op.clone()).or_insert(0) += n;
        }
        self.reported += more.reported;
    }

    pub(super) fn costs(&self, side: Side) -> Costs {
        let per = |n: f64| n / self.events.max(1) as f64;
        let mut by_operation: Vec<(String, f64)> = self
            .views
            .by_operation
            .iter()
            .map(|(op, n)| (op.clone(), per(*n as f64)))
            .collect();
        by_operation.extend(
            self.events_table
                .by_operation
                .iter()
                .map(|(op, n)| (format!("{op} (events table)"), per(*n as f64))),
        );
        by_operation.extend(
            self.streams
                .iter()
                .map(|(op, n)| (op.clone(), per(*n as f64))),
        );
        Costs {
            view_requests: per(self.views.total as f64),
            reported_view_requests: (side == Side::Projector).then(|| per(self.reported as f64)),
            events_table_requests: per(self.events_table.total as f64),
            stream_requests: per(self.streams.values().sum::<u64>() as f64),
            write_units: per(self.views.units.write),
            read_units: per(self.views.units.read),
            by_operation,
        }
    }
}
