//! Part 4: CPU per event, turning events into DynamoDB items and back (see
//! [`envelope`](crate::envelope)); the criterion version of the same is
//! `cargo bench -p dynago-bench`.

use std::hint::black_box;
use std::time::Instant;

use anyhow::{ensure, Result};
use uuid::Uuid;

use crate::account::ACCOUNT_TYPE;
use crate::envelope::{
    cqrs_envelope, dynago_es_from_item, dynago_es_stored_item, dynago_es_to_item,
    dynamo_es_from_item, dynamo_es_to_item, sample_event,
};
use crate::stats::median;

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct CpuPlan {
    /// Measured rounds.
    pub rounds: usize,
    /// Events per path and round.
    pub events: usize,
}

/// The figures of one library.
#[derive(Debug, Clone)]
pub struct CpuResult {
    /// `dynago-es` or `cqrs-es + dynamo-es`.
    pub library: &'static str,
    /// Event to item, µs (median over rounds).
    pub serialize_us: f64,
    /// Item to event, µs.
    pub deserialize_us: f64,
    /// The stored item's size as DynamoDB counts it, key attributes
    /// included, bytes.
    pub item_bytes: usize,
}

/// Runs part 4.
///
/// # Errors
///
/// When an event does not survive the round trip.
pub fn run(plan: CpuPlan) -> Result<Vec<CpuResult>> {
    let event = sample_event("acc-00042", 1234, 1999);
    let commit = Uuid::now_v7();
    let envelope = cqrs_envelope(&event);
    let dynago_item = dynago_es_stored_item(&event, commit)?;
    let dynamo_item = dynamo_es_to_item(&envelope, "events")?;
    let id = event.aggregate_id.clone();
    ensure!(dynago_es_from_item(dynago_item.clone(), ACCOUNT_TYPE, &id)? == event);
    ensure!(dynamo_es_from_item(&dynamo_item)?.payload == event.payload);
    crate::checks::pass(2);

    let mut times: [Vec<f64>; 4] = Default::default();
    let per_event = |started: Instant| started.elapsed().as_secs_f64() * 1e6 / plan.events as f64;
    for _ in 0..plan.rounds {
        let started = Instant::now();
        for _ in 0..plan.events {
            black_box(dynago_es_to_item(black_box(&event), commit)?);
        }
        times[0].push(per_event(started));
        let started = Instant::now();
        for _ in 0..plan.events {
            black_box(dynamo_es_to_item(black_box(&envelope), "events")?);
        }
        times[1].push(per_event(started));
        // dynago-es reads the items it owns, as the SDK hands them over:
        // the copies are made before the clock starts.
        let items: Vec<_> = (0..plan.events).map(|_| dynago_item.clone()).collect();
        let started = Instant::now();
        for item in items {
            black_box(dynago_es_from_item(black_box(item), ACCOUNT_TYPE, &id)?);
        }
        times[2].push(per_event(started));
        let started = Instant::now();
        for _ in 0..plan.events {
            black_box(dynamo_es_from_item(black_box(&dynamo_item))?);
        }
        times[3].push(per_event(started));
    }
    Ok(vec![
        CpuResult {
            library: "dynago-es",
            serialize_us: median(&times[0]),
            deserialize_us: median(&times[2]),
            item_bytes: dynago::item_size(&dynago_item),
        },
        CpuResult {
            library: "cqrs-es + dynamo-es",
            serialize_us: median(&times[1]),
            deserialize_us: median(&times[3]),
            item_bytes: dynago::item_size(&dynamo_item),
        },
    ])
}
