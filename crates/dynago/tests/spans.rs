//! The tracing spans of every request, captured by a layer of the test's
//! own: one span per request, in the OpenTelemetry DynamoDB shape (its
//! name, `otel.name`, `db.system`, `db.operation`, `db.name`,
//! `dynago.items`, the consumed capacity once answered), and no item value
//! nor expression value ever recorded, in a span or an event of the crate.
use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use common::{key, s};
use dynago::transact::{Check, Put};
use dynago::{Condition, Error, Table};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// What a sent value holds, to be looked for in everything recorded.
const SECRET: &str = "s3cr3t-value";

/// A span as captured: its name, target and every field, as text.
#[derive(Debug, Clone)]
struct Captured {
    name: String,
    target: String,
    fields: BTreeMap<String, String>,
}

/// Everything recorded: spans (with their later records) and events.
#[derive(Debug, Default)]
struct Log {
    spans: Vec<Captured>,
    events: Vec<Captured>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Log>>);

impl Capture {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The request spans recorded since the last call.
    fn take_requests(&self) -> Vec<Captured> {
        let mut log = self.log();
        let spans = std::mem::take(&mut log.spans);
        spans
            .into_iter()
            .filter(|span| span.name == "dynamodb")
            .collect()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Where a span's entry in the log is, kept in the span's extensions.
struct Index(usize);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut log = self.log();
        log.spans.push(Captured {
            name: attrs.metadata().name().to_owned(),
            target: attrs.metadata().target().to_owned(),
            fields,
        });
        let index = log.spans.len() - 1;
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Index(index));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        let Some(Index(index)) = extensions.get::<Index>() else {
            return;
        };
        let mut log = self.log();
        if let Some(captured) = log.spans.get_mut(*index) {
            values.record(&mut Fields(&mut captured.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.log().events.push(Captured {
            name: event.metadata().name().to_owned(),
            target: event.metadata().target().to_owned(),
            fields,
        });
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    n: u32,
    note: String,
}

fn row(n: u32) -> Row {
    Row {
        n,
        note: format!("{SECRET} {n}"),
    }
}

/// Checks that `spans` are `count` request spans of `operation` on
/// `table`, each with `items` items and its capacity recorded (when
/// `capacity`).
fn assert_requests(
    spans: &[Captured],
    table: &Table,
    operation: &str,
    count: usize,
    items: &[usize],
    capacity: bool,
) {
    assert_eq!(spans.len(), count, "{operation}: {spans:#?}");
    for (span, items) in spans.iter().zip(items.iter().cycle()) {
        let field = |name: &str| span.fields.get(name).map(String::as_str);
        assert!(span.target.starts_with("dynago"), "{span:?}");
        assert_eq!(
            field("otel.name"),
            Some(format!("DynamoDB.{operation}").as_str())
        );
        assert_eq!(field("db.system"), Some("dynamodb"));
        assert_eq!(field("db.operation"), Some(operation));
        assert_eq!(field("db.name"), Some(table.name()));
        assert_eq!(
            field("dynago.items"),
            Some(items.to_string().as_str()),
            "{operation}"
        );
        if capacity {
            let units = field("aws.dynamodb.consumed_capacity")
                .unwrap_or_else(|| panic!("{operation}: no capacity recorded: {span:?}"));
            let units: f64 = units.parse().expect("a number of units");
            assert!(units >= 0.0);
        }
    }
}

#[test]
fn every_request_has_one_span_of_the_opentelemetry_shape_and_no_values() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let table = common::table().await;
        // CreateTable, then DescribeTable until the table is active.
        let spans = capture.take_requests();
        let (create, waits) = spans.split_first().expect("spans");
        assert_requests(
            std::slice::from_ref(create),
            &table,
            "CreateTable",
            1,
            &[0],
            false,
        );
        assert!(!waits.is_empty());
        assert_requests(waits, &table, "DescribeTable", waits.len(), &[0], false);

        table
            .put_item(key("p", 1), &row(1))
            .send()
            .await
            .expect("put");
        assert_requests(&capture.take_requests(), &table, "PutItem", 1, &[1], true);

        let found: Option<Row> = table.get_item(key("p", 1)).send().await.expect("get");
        assert_eq!(found, Some(row(1)));
        assert_requests(&capture.take_requests(), &table, "GetItem", 1, &[1], true);

        // 30 writes: chunks of 25 and 5.
        (2..32u32)
            .fold(table.batch_write(), |batch, i| {
                batch.put(key("p", i), &row(i))
            })
            .send()
            .await
            .expect("batch write");
        let mut spans = capture.take_requests();
        spans.sort_by_key(|span| span.fields.get("dynago.items").cloned());
        assert_requests(&spans[..1], &table, "BatchWriteItem", 1, &[25], true);
        assert_requests(&spans[1..], &table, "BatchWriteItem", 1, &[5], true);

        let rows: Vec<Row> = table
            .batch_get_items((1..=10).map(|i| key("p", i)))
            .send()
            .await
            .expect("batch get");
        assert_eq!(rows.len(), 10);
        assert_requests(
            &capture.take_requests(),
            &table,
            "BatchGetItem",
            1,
            &[10],
            true,
        );

        // A query by pages of 10 over 31 items, with a filter whose value is
        // a secret too: the items of each page, recorded once answered.
        let query = table
            .query("pk = :pk")
            .value(":pk", s("p"))
            .filter("note <> :secret")
            .value(":secret", s(SECRET))
            .limit(10);
        let all: Vec<Row> = query.stream().try_collect().await.expect("query");
        assert_eq!(all.len(), 31);
        let spans = capture.take_requests();
        assert!(spans.len() >= 4, "{spans:#?}");
        let items: usize = spans
            .iter()
            .map(|span| {
                span.fields["dynago.items"]
                    .parse::<usize>()
                    .expect("a count")
            })
            .sum();
        // Each request records the items DynamoDB returned (pages that read
        // ahead read some items twice): at least every item once.
        assert!(items >= 31, "the items of every page, recorded: {items}");
        for span in &spans {
            let count = span.fields["dynago.items"]
                .parse::<usize>()
                .expect("a count");
            assert_requests(
                std::slice::from_ref(span),
                &table,
                "Query",
                1,
                &[count],
                true,
            );
        }

        // A transaction, and one whose check fails (the stored item comes
        // back with the refusal).
        table
            .transact_write()
            .put(Put::new(key("q", 1), &row(100)))
            .check(Check::new(
                key("p", 1),
                Condition::new("attribute_exists(note)"),
            ))
            .send()
            .await
            .expect("transaction");
        assert_requests(
            &capture.take_requests(),
            &table,
            "TransactWriteItems",
            1,
            &[2],
            true,
        );
        let refused = table
            .transact_write()
            .put(Put::new(key("q", 2), &row(101)))
            .check(Check::new(
                key("p", 1),
                Condition::new("note = :other").value(":other", s(&format!("{SECRET}!"))),
            ))
            .send()
            .await
            .expect_err("the check fails");
        assert!(
            matches!(refused, Error::TransactionCanceled { .. }),
            "{refused:?}"
        );
        assert_requests(
            &capture.take_requests(),
            &table,
            "TransactWriteItems",
            1,
            &[2],
            false,
        );

        // An update under a typed condition, both holding secrets.
        table
            .update_item(
                key("p", 2),
                dynago::UpdateExpression::new().set("note", format!("{SECRET}!")),
            )
            .condition(dynago::attr("note").ne(format!("{SECRET}?")))
            .send()
            .await
            .expect("update");
        assert_requests(
            &capture.take_requests(),
            &table,
            "UpdateItem",
            1,
            &[1],
            true,
        );

        // A conditional put that fails, and a delete.
        let refused = table
            .put_item(key("p", 1), &row(1))
            .condition(Condition::new("note = :other").value(":other", s(&format!("{SECRET}?"))))
            .send()
            .await
            .expect_err("the condition fails");
        assert!(
            matches!(refused, Error::ConditionFailed { .. }),
            "{refused:?}"
        );
        assert_requests(&capture.take_requests(), &table, "PutItem", 1, &[1], false);
        table.delete_item(key("p", 1)).send().await.expect("delete");
        assert_requests(
            &capture.take_requests(),
            &table,
            "DeleteItem",
            1,
            &[1],
            true,
        );

        // Nothing the crate recorded, in a span or an event, holds a value.
        let log = capture.log();
        for captured in log.spans.iter().chain(log.events.iter()) {
            if !captured.target.starts_with("dynago") {
                continue;
            }
            for (name, value) in &captured.fields {
                assert!(
                    !value.contains(SECRET),
                    "`{name}` of {} ({}) records a value: {value}",
                    captured.name,
                    captured.target
                );
            }
        }
    });
}
