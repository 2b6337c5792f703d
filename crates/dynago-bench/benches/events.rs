//! CPU per event: a deposit event to a DynamoDB item and back, as dynago-es
//! and as cqrs-es + dynamo-es do it (see `dynago_bench::envelope`).
//!
//! `cargo bench -p dynago-bench` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dynago_bench::envelope::{
    codec, cqrs_envelope, dynago_es_from_item, dynago_es_to_item, dynamo_es_from_item,
    dynamo_es_to_item, sample_event,
};
use dynago_es::PayloadEncoding;

fn events(c: &mut Criterion) {
    let event = sample_event("acc-00042", 1234, 1999);
    let envelope = cqrs_envelope(&event);
    let (Ok(map), Ok(json)) = (codec(PayloadEncoding::Map), codec(PayloadEncoding::Json)) else {
        panic!("the codecs build");
    };
    let (Ok(map_item), Ok(json_item), Ok(dynamo_item)) = (
        dynago_es_to_item(&map, &event),
        dynago_es_to_item(&json, &event),
        dynamo_es_to_item(&envelope, "events"),
    ) else {
        panic!("the sample event serializes in every form");
    };

    let mut group = c.benchmark_group("serialize");
    group.bench_function("dynago-es", |b| {
        b.iter(|| dynago_es_to_item(&map, black_box(&event)))
    });
    group.bench_function("dynago-es, JSON payload", |b| {
        b.iter(|| dynago_es_to_item(&json, black_box(&event)))
    });
    group.bench_function("cqrs-es + dynamo-es", |b| {
        b.iter(|| dynamo_es_to_item(black_box(&envelope), "events"))
    });
    group.finish();

    let mut group = c.benchmark_group("deserialize");
    group.bench_function("dynago-es", |b| {
        b.iter_batched(
            || map_item.clone(),
            |item| dynago_es_from_item(&map, black_box(item)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("dynago-es, JSON payload", |b| {
        b.iter_batched(
            || json_item.clone(),
            |item| dynago_es_from_item(&json, black_box(item)),
            BatchSize::SmallInput,
        )
    });
    // Both loads own the items they read and drop them.
    group.bench_function("cqrs-es + dynamo-es", |b| {
        b.iter_batched(
            || dynamo_item.clone(),
            |item| dynamo_es_from_item(black_box(&item)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, events);
criterion_main!(benches);
