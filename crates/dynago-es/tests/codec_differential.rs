//! One value, every path: arbitrary events (floats of every kind, 128-bit
//! integers, bytes, string, number and binary sets, nested options and
//! maps, unicode) written in both payload encodings must come back
//! identical (floats bit for bit) through each path the store and its
//! readers have: the command's outcome, the cache, a plain load, loads
//! through identity upcasters of both kinds and through one that adds a
//! field, a snapshot, the item codec, the stream record a projector reads,
//! and the same record as a Lambda function receives it (JSON, parsed by
//! `aws_lambda_events`, converted as `dynago-projections` converts it).
//! What an encoding cannot keep must be refused when written, with
//! `Error::Serialize`, and nothing written.
//!
//! The model of what each encoding keeps is written here, apart from the
//! store's own checks. `DYNAGO_PROPTEST_CASES` sets the number of cases
//! (48 by default); `PROPTEST_RNG_SEED` replays a run, whose seed is
//! printed when it fails.

use crate::common;
use crate::exact_values::Bytes;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_lambda_events::event::dynamodb::{EventRecord, StreamRecord};
use dynago::sdk::types::StreamViewType;
use dynago::{Item, Table, TableDefinition};
use dynago_es::{
    Aggregate, AggregateId, CommandError, DomainEvent, Error, EventStore, PayloadEncoding,
    SnapshotPolicy, StoreOptions, Upcaster,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde::{Deserialize, Serialize};

type StreamImage = HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
pub enum Sample {
    Floats {
        f: f64,
        g: f32,
        list: Vec<f64>,
        maybe: Option<f64>,
    },
    Integers {
        i: i64,
        u: u64,
        small: i8,
    },
    /// Integers beyond 64 bits: `serde_dynamo` has none, so a map payload
    /// refuses them.
    Wide {
        big: u128,
        neg: i128,
    },
    Binary {
        blob: Bytes,
        #[serde(
            default,
            skip_serializing_if = "BTreeSet::is_empty",
            with = "serde_dynamo::string_set"
        )]
        tags: BTreeSet<String>,
        #[serde(
            default,
            skip_serializing_if = "BTreeSet::is_empty",
            with = "serde_dynamo::number_set"
        )]
        counts: BTreeSet<i64>,
        #[serde(
            default,
            skip_serializing_if = "BTreeSet::is_empty",
            with = "serde_dynamo::binary_set"
        )]
        keys: BTreeSet<Bytes>,
    },
    Nested {
        text: String,
        map: BTreeMap<String, Option<BTreeMap<String, Option<f64>>>>,
        list: Vec<Option<String>>,
        units: BTreeMap<String, ()>,
        unit: (),
    },
    Pair(String, Option<f64>),
    Empty,
}

impl Sample {
    /// Every float it holds, `f32`s widened.
    fn floats(&self) -> Vec<f64> {
        match self {
            Sample::Floats { f, g, list, maybe } => [*f, f64::from(*g)]
                .into_iter()
                .chain(list.iter().copied())
                .chain(*maybe)
                .collect(),
            Sample::Nested { map, .. } => map
                .values()
                .flatten()
                .flat_map(BTreeMap::values)
                .flatten()
                .copied()
                .collect(),
            Sample::Pair(_, maybe) => maybe.iter().copied().collect(),
            _ => Vec::new(),
        }
    }
}

/// Whether a DynamoDB number holds `x` exactly: its shortest text is
/// within DynamoDB's range (exponent -130 to 125) and it is not `-0.0`
/// (stored as 0).
fn number_holds(x: f64) -> bool {
    if !x.is_finite() || (x == 0.0 && x.is_sign_negative()) {
        return false;
    }
    if x == 0.0 {
        return true;
    }
    let text = format!("{x:e}");
    let exponent: i32 = text
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .expect("an exponent");
    (-130..=125).contains(&exponent)
}

/// Whether the store must refuse `samples` in `encoding`.
fn refused(encoding: PayloadEncoding, samples: &[Sample]) -> bool {
    samples.iter().any(|sample| match encoding {
        PayloadEncoding::Json => sample.floats().into_iter().any(|x| !x.is_finite()),
        _ => {
            matches!(sample, Sample::Wide { .. })
                || sample.floats().into_iter().any(|x| !number_holds(x))
        }
    })
}

/// Whether a snapshot (a map) keeps a state of `samples`.
fn snapshot_keeps(samples: &[Sample]) -> bool {
    !refused(PayloadEncoding::Map, samples)
}

/// Every sample seen, in order.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    all: Vec<Sample>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

impl Aggregate for Samples {
    const TYPE: &'static str = "samples";
    type Id = dynago_es::AggregateId;
    type Command = Vec<Sample>;
    type Event = Sample;
    type Error = Never;

    fn handle(&self, samples: &Vec<Sample>) -> Result<Vec<Sample>, Never> {
        Ok(samples.clone())
    }

    fn apply(&mut self, sample: &Sample) {
        self.all.push(sample.clone());
    }
}

/// The exact form compared: `Debug` writes every float by its shortest
/// text, which differs for any two bit patterns but NaN's (and NaN is
/// never written).
fn exact<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

macro_rules! same {
    ($left:expr, $right:expr, $($what:tt)+) => {
        prop_assert_eq!(exact(&$left), exact(&$right), $($what)+)
    };
}

fn float() -> impl Strategy<Value = f64> {
    let below_1e126 = f64::from_bits(1e126_f64.to_bits() - 1);
    prop_oneof![
        3 => -1e6..1e6f64,
        2 => (1u32..100_000, prop::sample::select(vec![3.0, 7.0]))
            .prop_map(|(k, d)| f64::from(k) / d),
        2 => (0u32..100_000).prop_map(|k| f64::from(k) * 0.01 + 0.1),
        2 => (any::<i16>(), any::<i16>())
            .prop_map(|(a, b)| f64::from(a) * 0.1 + f64::from(b) * 0.02),
        1 => (1u64..(1 << 52)).prop_map(f64::from_bits),
        1 => any::<u64>().prop_map(f64::from_bits),
        2 => prop::sample::select(vec![
            -0.0, 0.0, 0.1 + 0.2, 0.12000000000000001, 5e-324, -5e-324,
            f64::MIN_POSITIVE, f64::MAX, f64::MIN, 1e-130, -1e-130, 1e-131, below_1e126, 1e126,
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY,
        ]),
    ]
}

fn float32() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => -1e3..1e3f32,
        1 => any::<u32>().prop_map(f32::from_bits),
        1 => prop::sample::select(vec![-0.0f32, 0.1, f32::MAX, f32::MIN_POSITIVE, 1e-45]),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[a-z]{0,4}",
        Just("é\u{10FFFF}\u{0}#e#".to_owned())
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{1,8}", "[a-z]{1,3}"]
}

fn bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..6).prop_map(Bytes)
}

fn sample() -> impl Strategy<Value = Sample> {
    use proptest::collection::{btree_map, btree_set, vec};
    prop_oneof![
        3 => (float(), float32(), vec(float(), 0..4), proptest::option::of(float()))
            .prop_map(|(f, g, list, maybe)| Sample::Floats { f, g, list, maybe }),
        1 => (any::<i64>(), any::<u64>(), any::<i8>())
            .prop_map(|(i, u, small)| Sample::Integers { i, u, small }),
        1 => (any::<u128>(), any::<i128>()).prop_map(|(big, neg)| Sample::Wide { big, neg }),
        2 => (
            bytes(),
            btree_set("\\PC{1,6}", 0..3),
            btree_set(any::<i64>(), 0..3),
            btree_set(proptest::collection::vec(any::<u8>(), 1..4).prop_map(Bytes), 0..3),
        )
            .prop_map(|(blob, tags, counts, keys)| Sample::Binary { blob, tags, counts, keys }),
        2 => (
            text(),
            btree_map(
                name(),
                proptest::option::of(btree_map(name(), proptest::option::of(float()), 0..3)),
                0..3,
            ),
            vec(proptest::option::of(text()), 0..3),
            btree_map(name(), Just(()), 0..2),
        )
            .prop_map(|(text, map, list, units)| Sample::Nested { text, map, list, units, unit: () }),
        1 => (text(), proptest::option::of(float())).prop_map(|(t, f)| Sample::Pair(t, f)),
        1 => Just(Sample::Empty),
    ]
}

/// One to five samples, and where the first command ends (the rest is a
/// second command, served from the cache).
fn case() -> impl Strategy<Value = (Vec<Sample>, usize)> {
    proptest::collection::vec(sample(), 1..6).prop_flat_map(|samples| {
        let len = samples.len();
        (Just(samples), 1..=len)
    })
}

fn encodings() -> [PayloadEncoding; 2] {
    [PayloadEncoding::Map, PayloadEncoding::Json]
}

/// Upcasters from v1 for every event type, built by `upcaster`.
fn every_type(upcaster: impl Fn(&'static str) -> Upcaster) -> StoreOptions {
    [
        "Floats", "Integers", "Wide", "Binary", "Nested", "Pair", "Empty",
    ]
    .into_iter()
    .map(upcaster)
    .fold(StoreOptions::default(), StoreOptions::upcaster)
}

/// The readers of a table: a plain store (which replays every event), one
/// that starts from snapshots, and stores with identity upcasters (JSON and
/// exact) and with upcasters that add a field.
fn readers(table: &Table) -> Vec<(&'static str, EventStore<Samples>)> {
    let json_identity = every_type(|t| Upcaster::new(t, 1, Ok::<_, &str>));
    let exact_identity = every_type(|t| Upcaster::exact(t, 1, Ok::<_, &str>));
    let adds_a_field = every_type(|t| {
        Upcaster::new(t, 1, move |mut payload: serde_json::Value| {
            if let Some(fields) = payload
                .get_mut(t)
                .and_then(serde_json::Value::as_object_mut)
            {
                fields.insert("added".into(), serde_json::json!([1, "x", null]));
            }
            Ok::<_, &str>(payload)
        })
    });
    [
        ("plain", StoreOptions::default()),
        (
            "snapshots",
            StoreOptions::default().snapshots(SnapshotPolicy::Every(1)),
        ),
        ("json identity upcasters", json_identity),
        ("exact identity upcasters", exact_identity),
        ("upcasters adding a field", adds_a_field),
    ]
    .into_iter()
    .map(|(what, options)| {
        (
            what,
            EventStore::new(table.clone(), options).expect("a store"),
        )
    })
    .collect()
}

fn fail<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> TestCaseError + '_ {
    move |e| TestCaseError::fail(format!("{what}: {e}"))
}

async fn check(
    streams: &aws_sdk_dynamodbstreams::Client,
    samples: Vec<Sample>,
    split: usize,
) -> Result<(), TestCaseError> {
    let table = dynago_local::testing::fresh_table(
        "codec",
        |options| options.partition_key("pk").sort_key("sk"),
        TableDefinition::default().stream(StreamViewType::NewImage),
    )
    .await;
    let readers = readers(&table);
    // What each event must read as, by aggregate and version.
    let mut expected: HashMap<(String, u64), Sample> = HashMap::new();
    for encoding in encodings() {
        let writer = EventStore::<Samples>::new(
            table.clone(),
            StoreOptions::default()
                .payload_encoding(encoding)
                .cache(8)
                .snapshots(SnapshotPolicy::Every(1)),
        )
        .expect("a store");
        let id = AggregateId::random();
        if refused(encoding, &samples) {
            let outcome = writer.execute(&id, samples.clone()).await;
            prop_assert!(
                matches!(outcome, Err(CommandError::Store(Error::Serialize { .. }))),
                "{encoding:?} must refuse with a Serialize error: {outcome:?}"
            );
            let loaded = readers[0].1.load(&id).await.map_err(fail("load"))?;
            prop_assert_eq!(loaded.version, 0, "nothing written");
            continue;
        }
        let (first, second) = samples.split_at(split);
        for command in [first, second].into_iter().filter(|c| !c.is_empty()) {
            let outcome = writer
                .execute(&id, command.to_vec())
                .await
                .map_err(fail("execute"))?;
            let payloads: Vec<&Sample> = outcome.events.iter().map(|e| &e.payload).collect();
            same!(
                payloads,
                command.iter().collect::<Vec<_>>(),
                "{:?} outcome",
                encoding
            );
        }
        let state = Samples {
            all: samples.clone(),
        };
        let version = samples.len() as u64;
        for (n, sample) in samples.iter().enumerate() {
            expected.insert((id.to_string(), n as u64 + 1), sample.clone());
        }

        let cached = writer.load(&id).await.map_err(fail("cached load"))?;
        same!(cached.state, state, "{:?} cache", encoding);

        for (what, reader) in &readers {
            let loaded = reader.load(&id).await.map_err(fail(what))?;
            same!(loaded.state, state, "{:?} load, {}", encoding, what);
            prop_assert_eq!(loaded.version, version);
            // The newest snapshot taken: after the second command, or the
            // first, each when the state then had one.
            let snapshot = [samples.len(), split]
                .into_iter()
                .find(|&at| *what == "snapshots" && snapshot_keeps(&samples[..at]))
                .map_or(0, |at| at as u64);
            prop_assert_eq!(loaded.snapshot_version, snapshot, "{:?} {}", encoding, what);
            let events = common::all_events(reader, id.as_str()).await;
            let payloads: Vec<&Sample> = events.iter().map(|e| &e.payload).collect();
            same!(
                payloads,
                samples.iter().collect::<Vec<_>>(),
                "{:?} events, {}",
                encoding,
                what
            );
            // The item codec, as tools use it.
            for event in &events {
                let item = writer.event_item(event).map_err(fail("event_item"))?;
                let read = reader
                    .read_event_item(item)
                    .map_err(fail("read_event_item"))?;
                same!(
                    read.and_then(|r| r.into_iter().next()).map(|r| r.payload),
                    Some(&event.payload),
                    "{:?} codec, {}",
                    encoding,
                    what
                );
            }
        }
        let round_trip = dynago_es::testing::snapshot_round_trip(&state);
        prop_assert_eq!(
            round_trip.is_ok(),
            snapshot_keeps(&samples),
            "{:?}",
            round_trip.as_ref().err()
        );
        if let Ok(back) = round_trip {
            same!(back, state, "snapshot codec");
        }
    }

    // The stream: each event record, read as a projector reads it and as a
    // Lambda function receives it.
    let mut seen = 0;
    for image in stream_images(streams, &table).await {
        let from_stream = Item::from(serde_dynamo::Item::from(image.clone()));
        let from_lambda = through_lambda(image);
        for (what, reader) in &readers {
            for (path, item) in [("stream", &from_stream), ("lambda", &from_lambda)] {
                let Some(events) = reader.read_event_item(item.clone()).map_err(fail(path))? else {
                    continue;
                };
                // A record per commit: each of its events.
                for event in events {
                    let key = (event.aggregate_id.to_string(), event.version);
                    let Some(sample) = expected.get(&key) else {
                        return Err(TestCaseError::fail(format!(
                            "{path}: an unexpected event {key:?}"
                        )));
                    };
                    same!(event.payload, sample, "{} record, {}", path, what);
                    seen += 1;
                }
            }
        }
    }
    prop_assert_eq!(
        seen,
        expected.len() * readers.len() * 2,
        "every event on the stream"
    );
    Ok(())
}

/// A stream record's new image as Lambda delivers it: the record as JSON,
/// parsed by `aws_lambda_events`, its image converted as
/// `dynago_projections::lambda` converts it.
fn through_lambda(image: StreamImage) -> Item {
    let mut change = StreamRecord::default();
    change.new_image = serde_dynamo::Item::from(image);
    let mut record = EventRecord::default();
    record.event_name = "INSERT".into();
    record.change = change;
    let json = serde_json::to_string(&record).expect("a record serializes");
    let record: EventRecord = serde_json::from_str(&json).expect("a record parses");
    Item::from(record.change.new_image)
}

/// Every new image on the table's stream, shard by shard.
async fn stream_images(
    client: &aws_sdk_dynamodbstreams::Client,
    table: &Table,
) -> Vec<StreamImage> {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    let described = table
        .client()
        .describe_table()
        .table_name(table.name())
        .send()
        .await
        .expect("the table");
    let arn = described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("a stream")
        .to_owned();
    let stream = client
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("the stream");
    let shards: Vec<String> = stream
        .stream_description()
        .map(|d| {
            d.shards()
                .iter()
                .filter_map(|s| s.shard_id().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut images = Vec::new();
    for shard in shards {
        let mut iterator = client
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("an iterator")
            .shard_iterator
            .clone();
        while let Some(at) = iterator {
            let answer = client
                .get_records()
                .shard_iterator(at)
                .send()
                .await
                .expect("records");
            if answer.records().is_empty() {
                break;
            }
            images.extend(
                answer
                    .records()
                    .iter()
                    .filter_map(|r| r.dynamodb().and_then(|d| d.new_image.clone())),
            );
            iterator = answer.next_shard_iterator;
        }
    }
    images
}

#[test]
fn every_value_comes_back_identical_through_every_path() {
    let cases = std::env::var("DYNAGO_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48);
    let defaults = Config::default();
    // A seed of our own when none is given, so that a failure can be replayed.
    let seed = match defaults.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => u64::from_le_bytes(
            uuid::Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .expect("8 bytes"),
        ),
    };
    let config = Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..defaults
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let streams = runtime.block_on(async {
        let dynamo = dynago_local::shared().await.expect("the shared server");
        let config = dynamo.table_options("any").sdk_config().await;
        aws_sdk_dynamodbstreams::Client::new(&config)
    });
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |(samples, split)| {
        runtime.block_on(check(&streams, samples, split))
    });
    if let Err(failure) = result {
        panic!("{failure}\nreplay with PROPTEST_RNG_SEED={seed} DYNAGO_PROPTEST_CASES={cases}");
    }
}
