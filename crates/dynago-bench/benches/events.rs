//! CPU per event: a deposit event to a DynamoDB item and back, as dynago-es
//! and as cqrs-es + dynamo-es do it (see `dynago_bench::envelope`).
//!
//! `cargo bench -p dynago-bench` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dynago_bench::account::ACCOUNT_TYPE;
use dynago_bench::envelope::{
    cqrs_envelope, dynago_es_from_item, dynago_es_stored_item, dynago_es_to_item,
    dynamo_es_from_item, dynamo_es_to_item, sample_event,
};
use uuid::Uuid;

fn events(c: &mut Criterion) {
    let event = sample_event("acc-00042", 1234, 1999);
    let commit = Uuid::now_v7();
    let envelope = cqrs_envelope(&event);
    let id = event.aggregate_id.clone();
    let (Ok(dynago_item), Ok(dynamo_item)) = (
        dynago_es_stored_item(&event, commit),
        dynamo_es_to_item(&envelope, "events"),
    ) else {
        panic!("the sample event serializes in both forms");
    };

    let mut group = c.benchmark_group("serialize");
    group.bench_function("dynago-es", |b| {
        b.iter(|| dynago_es_to_item(black_box(&event), commit))
    });
    group.bench_function("cqrs-es + dynamo-es", |b| {
        b.iter(|| dynamo_es_to_item(black_box(&envelope), "events"))
    });
    group.finish();

    let mut group = c.benchmark_group("deserialize");
    group.bench_function("dynago-es", |b| {
        b.iter_batched(
            || dynago_item.clone(),
            |item| dynago_es_from_item(black_box(item), ACCOUNT_TYPE, &id),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("cqrs-es + dynamo-es", |b| {
        b.iter(|| dynamo_es_from_item(black_box(&dynamo_item)))
    });
    group.finish();
}

criterion_group!(benches, events);
criterion_main!(benches);
