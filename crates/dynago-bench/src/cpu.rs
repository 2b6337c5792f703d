//! Part 4: CPU per event, turning events into DynamoDB items and back (see
//! [`envelope`](crate::envelope)); the criterion version of the same is
//! `cargo bench -p dynago-bench`.

use std::hint::black_box;
use std::time::Instant;

use anyhow::{ensure, Result};
use dynago_es::PayloadEncoding;

use crate::envelope::{
    codec, cqrs_envelope, dynago_es_from_item, dynago_es_to_item, dynamo_es_from_item,
    dynamo_es_to_item, sample_event,
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
    let envelope = cqrs_envelope(&event);
    let map = codec(PayloadEncoding::Map)?;
    let json = codec(PayloadEncoding::Json)?;
    let map_item = dynago_es_to_item(&map, &event)?;
    let json_item = dynago_es_to_item(&json, &event)?;
    let dynamo_item = dynamo_es_to_item(&envelope, "events")?;
    ensure!(dynago_es_from_item(&map, map_item.clone())? == event);
    ensure!(dynago_es_from_item(&json, json_item.clone())? == event);
    ensure!(dynamo_es_from_item(&dynamo_item)?.payload == event.payload);
    crate::checks::pass(3);

    // Per library: event to item, item to event.
    let mut times: [[Vec<f64>; 2]; 3] = Default::default();
    let per_event = |started: Instant| started.elapsed().as_secs_f64() * 1e6 / plan.events as f64;
    for _ in 0..plan.rounds {
        let (dynago_times, rest) = times.split_at_mut(2);
        for ((store, item), times) in [(&map, &map_item), (&json, &json_item)]
            .into_iter()
            .zip(dynago_times.iter_mut())
        {
            let started = Instant::now();
            for _ in 0..plan.events {
                black_box(dynago_es_to_item(store, black_box(&event))?);
            }
            times[0].push(per_event(started));
            // dynago-es reads the items it owns, as the SDK hands them
            // over: the copies are made before the clock starts.
            let items: Vec<_> = (0..plan.events).map(|_| item.clone()).collect();
            let started = Instant::now();
            for item in items {
                black_box(dynago_es_from_item(store, black_box(item))?);
            }
            times[1].push(per_event(started));
        }
        let started = Instant::now();
        for _ in 0..plan.events {
            black_box(dynamo_es_to_item(black_box(&envelope), "events")?);
        }
        rest[0][0].push(per_event(started));
        // Both loads own the items of the page they read and drop them:
        // so does this loop.
        let items: Vec<_> = (0..plan.events).map(|_| dynamo_item.clone()).collect();
        let started = Instant::now();
        for item in items {
            black_box(dynamo_es_from_item(black_box(&item))?);
        }
        rest[0][1].push(per_event(started));
    }
    let result = |library, times: &[Vec<f64>; 2], item: &dynago::Item| CpuResult {
        library,
        serialize_us: median(&times[0]),
        deserialize_us: median(&times[1]),
        item_bytes: dynago::item_size(item),
    };
    Ok(vec![
        result("dynago-es", &times[0], &map_item),
        result("dynago-es, JSON payload", &times[1], &json_item),
        result("cqrs-es + dynamo-es", &times[2], &dynamo_item),
    ])
}
