//! The spans of reads whose item count is known only once DynamoDB answered
//! (queries and scans) and of transactional reads: one `dynago.items`
//! field, recorded once per request, with the items that request returned
//! (or the keys it sent); the operation named in the OpenTelemetry shape.
//! Counted by the same spans, opened before a request is sent and closed
//! once it is answered: a parallel scan never has more requests in flight
//! than its concurrency.
use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use common::{key, s};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A request span as captured: every value each field was given, in order.
#[derive(Debug, Clone, Default)]
struct Captured {
    fields: BTreeMap<String, Vec<String>>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .and_then(|values| values.last())
            .map(String::as_str)
    }

    /// The one value of `dynago.items`, checked to be recorded once.
    fn items(&self) -> usize {
        let values = self.fields.get("dynago.items").cloned().unwrap_or_default();
        assert_eq!(
            values.len(),
            1,
            "`dynago.items` recorded {values:?}: {self:?}"
        );
        values[0].parse().expect("a count")
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl Capture {
    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, Vec<String>>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .entry(field.name().to_owned())
            .or_default()
            .push(format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .entry(field.name().to_owned())
            .or_default()
            .push(value.to_owned());
    }
}

struct Index(usize);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "dynamodb" {
            return;
        }
        let mut captured = Captured::default();
        attrs.record(&mut Fields(&mut captured.fields));
        let mut spans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        spans.push(captured);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Index(spans.len() - 1));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        let Some(Index(index)) = extensions.get::<Index>() else {
            return;
        };
        let mut spans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(captured) = spans.get_mut(*index) {
            values.record(&mut Fields(&mut captured.fields));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    n: u32,
    tag: u32,
}

/// Checks that `spans` are requests of `operation` and returns the items
/// each recorded.
fn items_of(spans: &[Captured], operation: &str) -> Vec<usize> {
    assert!(!spans.is_empty(), "no {operation} span");
    spans
        .iter()
        .map(|span| {
            assert_eq!(span.field("db.operation"), Some(operation), "{span:?}");
            assert_eq!(
                span.field("otel.name"),
                Some(format!("DynamoDB.{operation}").as_str())
            );
            span.items()
        })
        .collect()
}

#[test]
fn reads_record_their_items_once_per_request() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let table = common::table().await;
        (0..40u32)
            .fold(table.batch_write(), |batch, i| {
                batch.put(key("p", i), &Row { n: i, tag: i % 4 })
            })
            .send()
            .await
            .expect("setup");
        let _setup = capture.take();

        // One query page: one request, its items.
        let page = table
            .query("pk = :pk")
            .value(":pk", s("p"))
            .send::<Row>()
            .await
            .expect("query");
        assert_eq!(page.items.len(), 40);
        assert_eq!(items_of(&capture.take(), "Query"), vec![40]);

        // A filtered query by pages: each request its own count, once.
        let rows: Vec<Row> = table
            .query("pk = :pk")
            .value(":pk", s("p"))
            .filter("tag = :zero")
            .value(":zero", common::n(0))
            .limit(3)
            .stream()
            .try_collect()
            .await
            .expect("filtered query");
        assert_eq!(rows.len(), 10);
        let counts = items_of(&capture.take(), "Query");
        assert!(counts.iter().sum::<usize>() >= 10, "{counts:?}");

        // A scan, by pages of 15.
        let rows: Vec<Row> = table
            .scan()
            .limit(15)
            .stream()
            .try_collect()
            .await
            .expect("scan");
        assert_eq!(rows.len(), 40);
        let counts = items_of(&capture.take(), "Scan");
        assert_eq!(counts.iter().sum::<usize>(), 40, "{counts:?}");
        assert!(counts.iter().all(|&c| c <= 15), "{counts:?}");

        // A parallel scan: one span per segment request.
        let rows: Vec<Row> = table
            .scan()
            .parallel(3)
            .stream()
            .try_collect()
            .await
            .expect("parallel scan");
        assert_eq!(rows.len(), 40);
        let counts = items_of(&capture.take(), "Scan");
        assert!(counts.len() >= 3, "{counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 40, "{counts:?}");

        // A transactional read: the keys it sent, one of them missing.
        let read: Vec<Option<Row>> = table
            .transact_get([key("p", 1), key("p", 99), key("p", 2)])
            .send()
            .await
            .expect("transact get");
        assert_eq!(read.iter().flatten().count(), 2);
        let spans = capture.take();
        assert_eq!(items_of(&spans, "TransactGetItems"), vec![3]);
        let units = spans[0]
            .field("aws.dynamodb.consumed_capacity")
            .expect("the capacity, once answered");
        assert!(units.parse::<f64>().expect("units") >= 0.0);
    });
}

/// How many request spans are open at once, at most: a request's span is
/// opened before it is sent and closed once it is answered.
#[derive(Clone, Default)]
struct InFlight(Arc<Mutex<(usize, usize)>>);

impl InFlight {
    fn take_max(&self) -> usize {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let open = counts.0;
        std::mem::replace(&mut counts.1, open)
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for InFlight {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        if attrs.metadata().name() == "dynamodb" {
            let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            counts.0 += 1;
            counts.1 = counts.1.max(counts.0);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if ctx.span(&id).is_some_and(|span| span.name() == "dynamodb") {
            let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            counts.0 -= 1;
        }
    }
}

#[test]
fn a_parallel_scan_keeps_no_more_requests_in_flight_than_its_concurrency() {
    let in_flight = InFlight::default();
    let subscriber = tracing_subscriber::registry().with(in_flight.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let table = common::table().await;
        (0..300u32)
            .fold(table.batch_write(), |batch, i| {
                batch.put(key("p", i), &Row { n: i, tag: i % 4 })
            })
            .send()
            .await
            .expect("setup");
        let _setup = in_flight.take_max();
        for (concurrency, scan) in [
            (3, table.scan().limit(10).parallel(8).concurrency(3)),
            // The default: the table's batch concurrency, 4.
            (4, table.scan().limit(10).parallel(8)),
            (1, table.scan().limit(10).parallel(8).concurrency(1)),
        ] {
            let before = table.request_count();
            let rows: Vec<Row> = scan.stream().try_collect().await.expect("parallel scan");
            let mut numbers: Vec<u32> = rows.iter().map(|r| r.n).collect();
            numbers.sort_unstable();
            assert_eq!(numbers, (0..300).collect::<Vec<_>>());
            assert!(table.request_count() - before >= 30);
            let max = in_flight.take_max();
            assert!(
                max <= concurrency,
                "{max} requests in flight, over {concurrency}"
            );
            if concurrency > 1 {
                assert!(max > 1, "the segments were read one at a time");
            }
        }
    });
}
