//! Every value the store writes comes back exactly, whatever reads it: a
//! plain load, a load through upcasters, a snapshot; and a value it cannot
//! keep is a typed error when written, never a value changed on the way.

use crate::common;
use crate::common::StoreErr;

use std::collections::BTreeSet;
use std::fmt;

use dynago_es::{
    Aggregate, DomainEvent, Error, EventEnvelope, EventStore, PayloadEncoding, SnapshotPolicy,
    StoreOptions, Upcaster,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes serialized as bytes (`serialize_bytes`: a DynamoDB `B`), as
/// `serde_bytes` does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Bytes, A::Error> {
                let mut bytes = Vec::new();
                while let Some(byte) = seq.next_element()? {
                    bytes.push(byte);
                }
                Ok(Bytes(bytes))
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}

/// What the readings below hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
pub enum Reading {
    /// Integers beyond 64 bits: JSON payloads only (`serde_dynamo` has no
    /// 128-bit numbers).
    Wide {
        big: u128,
        small: i128,
        ratio: f64,
    },
    /// Bytes, sets and a `NULL`.
    Raw {
        blob: Bytes,
        #[serde(with = "serde_dynamo::string_set")]
        tags: BTreeSet<String>,
        #[serde(with = "serde_dynamo::number_set")]
        counts: BTreeSet<i64>,
        #[serde(with = "serde_dynamo::binary_set")]
        keys: BTreeSet<Bytes>,
        note: Option<String>,
    },
    Ratio(f64),
    Ratios(Vec<f64>),
}

/// Every reading it was given, in order.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gauge {
    pub readings: Vec<Reading>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

impl Aggregate for Gauge {
    const TYPE: &'static str = "gauge";
    type Id = dynago_es::AggregateId;
    type Command = Vec<Reading>;
    type Event = Reading;
    type Error = Never;

    fn handle(&self, readings: &Vec<Reading>) -> Result<Vec<Reading>, Never> {
        Ok(readings.clone())
    }

    fn apply(&mut self, reading: &Reading) {
        self.readings.push(reading.clone());
    }
}

/// A value's exact form: floats by their bits (`-0.0` is not `0.0`).
pub fn exact<T: fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

fn json() -> StoreOptions {
    StoreOptions::default().payload_encoding(PayloadEncoding::Json)
}

/// Adds a field to `event_type`'s body (when it is a struct), which the
/// event type ignores.
fn adds_a_field(event_type: &'static str) -> Upcaster {
    Upcaster::new(event_type, 1, move |mut payload: serde_json::Value| {
        let body = payload.get_mut(event_type).ok_or("no body")?;
        if let Some(fields) = body.as_object_mut() {
            fields.insert("lifted".into(), serde_json::json!(true));
        }
        Ok::<_, &str>(payload)
    })
}

/// Writes `readings` with a store of `options`, then loads them with
/// stores on the same table: without upcasters and with `upcasters`.
async fn written_and_loaded(
    options: StoreOptions,
    readings: Vec<Reading>,
    upcasters: Vec<Upcaster>,
) -> (Gauge, Gauge) {
    let table = common::table().await;
    let writer = EventStore::<Gauge>::new(table.clone(), options).expect("a store");
    let id = dynago_es::AggregateId::random();
    writer.execute(&id, readings).await.expect("written");
    let plain = EventStore::<Gauge>::new(table.clone(), StoreOptions::default())
        .expect("a store")
        .load(&id)
        .await
        .expect("loaded")
        .state;
    let lifting = upcasters
        .into_iter()
        .fold(StoreOptions::default(), StoreOptions::upcaster);
    let lifted = EventStore::<Gauge>::new(table, lifting)
        .expect("a store")
        .load(&id)
        .await
        .expect("loaded through upcasters")
        .state;
    (plain, lifted)
}

pub fn wide() -> Reading {
    Reading::Wide {
        big: 123_456_789_012_345_678_901_234_567,
        small: -170_141_183_460_469_231_731_687_303_715_884_105_728,
        ratio: 0.1 + 0.02,
    }
}

pub fn raw() -> Reading {
    Reading::Raw {
        blob: Bytes(vec![0, 159, 146, 150, 255]),
        tags: BTreeSet::from(["ä".to_owned(), "b".to_owned()]),
        counts: BTreeSet::from([-3, 7, 1_000_000_000_000]),
        keys: BTreeSet::from([Bytes(vec![1]), Bytes(vec![2, 3])]),
        note: None,
    }
}

#[tokio::test]
async fn an_upcaster_keeps_integers_beyond_64_bits() {
    let (plain, lifted) =
        written_and_loaded(json(), vec![wide(), wide()], vec![adds_a_field("Wide")]).await;
    assert_eq!(exact(&plain.readings), exact(&vec![wide(), wide()]));
    assert_eq!(exact(&lifted), exact(&plain));
}

#[tokio::test]
async fn an_upcaster_keeps_bytes_sets_and_nulls() {
    let (plain, lifted) = written_and_loaded(
        StoreOptions::default(),
        vec![raw()],
        vec![adds_a_field("Raw")],
    )
    .await;
    assert_eq!(exact(&plain.readings), exact(&vec![raw()]));
    assert_eq!(exact(&lifted), exact(&plain));
}

#[tokio::test]
async fn an_identity_upcaster_gives_what_no_upcaster_gives() {
    let identity = |event_type| Upcaster::new(event_type, 1, Ok::<_, &str>);
    for (options, readings) in [
        (
            json(),
            vec![wide(), raw(), Reading::Ratio(0.12000000000000001)],
        ),
        (
            StoreOptions::default(),
            vec![raw(), Reading::Ratio(1.0 / 3.0)],
        ),
    ] {
        let upcasters = ["Wide", "Raw", "Ratio"].map(identity).to_vec();
        let (plain, lifted) = written_and_loaded(options, readings.clone(), upcasters).await;
        assert_eq!(exact(&plain.readings), exact(&readings));
        assert_eq!(exact(&lifted), exact(&plain));
    }
}

/// The floats of everyday arithmetic: k/3, k/7 and k·0.01 + 0.1.
fn everyday_floats() -> Vec<f64> {
    (1..100_000u32)
        .flat_map(|k| {
            let k = f64::from(k);
            [k / 3.0, k / 7.0, k * 0.01 + 0.1]
        })
        .collect()
}

/// Through the store's codec (no server): every float comes back bit for
/// bit in both encodings, lifted or not.
#[tokio::test]
async fn every_everyday_float_survives_both_encodings() {
    let table = common::table().await;
    let floats = everyday_floats();
    assert_eq!(floats.len(), 299_997);
    for options in [json(), StoreOptions::default()] {
        for upcaster in [None, Some(adds_a_field("Ratios"))] {
            let options = match upcaster {
                Some(upcaster) => options.clone().upcaster(upcaster),
                None => options.clone(),
            };
            let store = EventStore::<Gauge>::new(table.clone(), options).expect("a store");
            let mut changed = 0;
            for (n, chunk) in floats.chunks(5_000).enumerate() {
                let event =
                    EventEnvelope::of("gauge", "g", n as u64 + 1, Reading::Ratios(chunk.to_vec()));
                let item = store.event_item(&event).expect("an item");
                let read = store
                    .read_event_item(item)
                    .expect("read")
                    .expect("an event")
                    .remove(0);
                let Reading::Ratios(back) = read.payload else {
                    panic!("not ratios");
                };
                changed += chunk
                    .iter()
                    .zip(&back)
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count();
            }
            assert_eq!(changed, 0, "floats changed");
        }
    }
}

#[tokio::test]
async fn floats_json_holds_come_back_bit_for_bit() {
    let floats = vec![
        0.12000000000000001,
        0.1 + 0.02,
        -0.0,
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        1e-300,
        -1e300,
    ];
    let (plain, lifted) = written_and_loaded(
        json(),
        vec![Reading::Ratios(floats.clone())],
        vec![adds_a_field("Ratios")],
    )
    .await;
    assert_eq!(
        exact(&plain.readings),
        exact(&vec![Reading::Ratios(floats)])
    );
    assert_eq!(exact(&lifted), exact(&plain));
}

/// A float an encoding cannot keep is refused when written, with a
/// `Serialize` error naming it; nothing is written.
#[tokio::test]
async fn floats_an_encoding_cannot_keep_are_refused_when_written() {
    let table = common::table().await;
    let native = EventStore::<Gauge>::new(table.clone(), StoreOptions::default()).expect("a store");
    let as_json = EventStore::<Gauge>::new(table.clone(), json()).expect("a store");
    let cases = [
        (&as_json, f64::NAN),
        (&as_json, f64::INFINITY),
        (&native, f64::NAN),
        (&native, f64::NEG_INFINITY),
        (&native, -0.0),
        (&native, 5e-324),
        (&native, 1e-300),
        (&native, 1e200),
    ];
    for (store, value) in cases {
        let id = dynago_es::AggregateId::random();
        let err = store
            .execute(
                &id,
                vec![Reading::Ratio(1.5), Reading::Ratios(vec![0.5, value])],
            )
            .await
            .store_err("refused");
        assert!(
            matches!(&err, Error::Serialize { reason, .. } if reason.contains("Ratios.1")),
            "{value}: {err:?}"
        );
        assert_eq!(
            store.load(&id).await.expect("loaded").version,
            0,
            "nothing written"
        );
    }
}

/// A state with a float a snapshot cannot keep is not snapshotted: a load
/// replays the events, which hold it exactly.
#[tokio::test]
async fn a_state_a_snapshot_cannot_keep_is_replayed() {
    let table = common::table().await;
    let store = EventStore::<Gauge>::new(table, json().snapshots(SnapshotPolicy::Every(1)))
        .expect("a store");
    for readings in [
        vec![Reading::Ratio(1.0), Reading::Ratio(-0.0)],
        vec![Reading::Ratio(5e-324)],
    ] {
        let id = dynago_es::AggregateId::random();
        store.execute(&id, readings.clone()).await.expect("written");
        let loaded = store.load(&id).await.expect("loaded");
        assert_eq!(exact(&loaded.state.readings), exact(&readings));
        assert_eq!(loaded.snapshot_version, 0, "no snapshot");
        let state = Gauge { readings };
        let reason = dynago_es::testing::snapshot_round_trip(&state).expect_err("refused");
        assert!(reason.contains("at `readings."), "{reason}");
    }
}
