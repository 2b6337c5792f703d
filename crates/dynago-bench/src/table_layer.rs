//! Part 1: what the table layer costs over hand-written SDK calls.
//!
//! Each operation is done by `dynago` and by hand with `aws-sdk-dynamodb` +
//! `serde_dynamo` (the code a user would write without `dynago`), on the
//! same table through the same client, one request at a time. A round times
//! a run of operations of one side, then the other (the order swaps every
//! round); the figure is the median over rounds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use dynago::{string_value, Key, ReturnValues, Table, TableDefinition, UpdateExpression};
use serde::{Deserialize, Serialize};

use crate::server::{create_table, Server};
use crate::stats::{median, us};

/// The item both sides read and write: a small account record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Who owns it.
    pub owner: String,
    /// ISO currency code.
    pub currency: String,
    /// Balance in cents.
    pub balance: i64,
    /// Free labels.
    pub tags: Vec<String>,
    /// When it was opened (RFC 3339).
    pub opened_at: String,
    /// The optimistic-lock version.
    pub version: u64,
}

impl Record {
    fn new(pk: &str, sk: &str) -> Self {
        Self {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
            owner: "Ada Lovelace".to_owned(),
            currency: "EUR".to_owned(),
            balance: 123_456,
            tags: vec!["retail".to_owned(), "verified".to_owned()],
            opened_at: "2024-05-01T12:00:00Z".to_owned(),
            version: 1,
        }
    }

    fn key(&self) -> Key {
        Key::new(string_value(&self.pk)).sort(string_value(&self.sk))
    }
}

/// One measured operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `GetItem` of one item, strongly consistent.
    Get,
    /// Unconditional `PutItem`.
    Put,
    /// `PutItem` under a version condition (read nothing; the version is
    /// known). dynago's carries its write id, by which it recognises its own
    /// write when an answer is lost; the hand-written one carries none.
    LockedPut,
    /// [`LockedPut`](Self::LockedPut) with dynago's write id turned off
    /// (`write_id(false)`): the same request on both sides.
    LockedPutNoWriteId,
    /// `UpdateItem` of a counter (`ADD`) under a version condition, the
    /// version bumped in the same request, the updated attributes returned;
    /// dynago's carries its write id.
    LockedUpdate,
    /// [`LockedUpdate`](Self::LockedUpdate) with dynago's write id turned
    /// off: the same request on both sides.
    LockedUpdateNoWriteId,
    /// `Query` of one partition of 100 items, strongly consistent.
    Query100,
    /// `BatchGetItem` of 100 keys.
    BatchGet100,
    /// `Scan` of a table of 100 items, strongly consistent.
    Scan100,
}

impl Operation {
    /// Every operation, in report order.
    pub const ALL: [Operation; 9] = [
        Operation::Get,
        Operation::Put,
        Operation::LockedPut,
        Operation::LockedPutNoWriteId,
        Operation::LockedUpdate,
        Operation::LockedUpdateNoWriteId,
        Operation::Query100,
        Operation::BatchGet100,
        Operation::Scan100,
    ];

    /// Its name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Put => "put",
            Operation::LockedPut => "version-locked put",
            Operation::LockedPutNoWriteId => "version-locked put, write id off",
            Operation::LockedUpdate => "version-locked update",
            Operation::LockedUpdateNoWriteId => "version-locked update, write id off",
            Operation::Query100 => "query, 100 items",
            Operation::BatchGet100 => "batch get, 100 keys",
            Operation::Scan100 => "scan, 100 items",
        }
    }

    /// Whether it reads 100 items.
    pub fn bulk(self) -> bool {
        matches!(
            self,
            Operation::Query100 | Operation::BatchGet100 | Operation::Scan100
        )
    }
}

/// Who sends an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `dynago`.
    Dynago,
    /// `aws-sdk-dynamodb` + `serde_dynamo`, written by hand.
    Raw,
}

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct TableLayerPlan {
    /// Measured rounds (one more is run first, unmeasured).
    pub rounds: usize,
    /// Operations per side and round, for single-item operations.
    pub ops: usize,
    /// Operations per side and round, for the 100-item operations.
    pub bulk_ops: usize,
}

/// The figures of one operation.
#[derive(Debug, Clone)]
pub struct OperationResult {
    /// Which operation.
    pub operation: Operation,
    /// Median over rounds of the mean time of one operation through `dynago`, µs.
    pub dynago_us: f64,
    /// The same by hand, µs.
    pub raw_us: f64,
    /// Median over rounds of dynago's time / raw time in the same round.
    pub ratio: f64,
    /// Requests per operation through `dynago`.
    pub dynago_requests: f64,
    /// Requests per operation by hand.
    pub raw_requests: f64,
}

/// The tables and items both sides work on.
pub struct Ctx {
    table: Table,
    client: aws_sdk_dynamodb::Client,
    /// Read by both sides.
    shared: Record,
    /// Written by one side each.
    dynago_item: Record,
    raw_item: Record,
    /// The versions stored under the two locked items.
    dynago_version: u64,
    raw_version: u64,
    /// The items updated in place, one per side, with their balance and
    /// version.
    updated: [Updated; 2],
    /// The partition of 100 items.
    partition: String,
    keys: Vec<Record>,
    /// A table of 100 items, for the scan.
    scanned: Table,
    /// What it holds, by partition key.
    scanned_items: HashMap<String, Record>,
}

impl Ctx {
    /// Creates the tables through `client` and writes the items both sides
    /// read.
    ///
    /// # Errors
    ///
    /// When a request fails.
    pub async fn new(client: &aws_sdk_dynamodb::Client) -> Result<Self> {
        let table = create_table(
            client,
            "bench-items",
            "pk",
            Some(("sk", dynago::ScalarAttributeType::S)),
            TableDefinition::default(),
        )
        .await?;
        let client = client.clone();
        let shared = Record::new("shared", "shared");
        let dynago_item = Record::new("locked-dynago", "item");
        let raw_item = Record::new("locked-raw", "item");
        table.put_item(shared.key(), &shared).send().await?;
        let partition = "partition-of-100".to_owned();
        let items: Vec<Record> = (0..ITEMS)
            .map(|i| Record::new(&partition, &format!("item#{i:03}")))
            .collect();
        let mut batch = table.batch_write();
        for item in &items {
            batch = batch.put(item.key(), item);
        }
        batch.send().await.context("seeding 100 items")?;
        let scanned = create_table(
            &client,
            "bench-scan",
            "pk",
            Some(("sk", dynago::ScalarAttributeType::S)),
            TableDefinition::default(),
        )
        .await?;
        let scanned_items: HashMap<String, Record> = (0..ITEMS)
            .map(|i| {
                let record = Record::new(&format!("scanned#{i:03}"), "item");
                (record.pk.clone(), record)
            })
            .collect();
        let mut batch = scanned.batch_write();
        for item in scanned_items.values() {
            batch = batch.put(item.key(), item);
        }
        batch.send().await.context("seeding the scanned table")?;
        // Both locked items start at version 1.
        table
            .put_item(dynago_item.key(), &dynago_item)
            .optimistic_lock("version", 0)
            .send()
            .await?;
        client
            .put_item()
            .table_name(table.name())
            .set_item(Some(serde_dynamo::aws_sdk_dynamodb_1::to_item(&raw_item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await?;
        let updated = [Updated::new("update-dynago"), Updated::new("update-raw")];
        for item in &updated {
            table
                .put_item(item.record.key(), &item.record)
                .optimistic_lock("version", 0)
                .send()
                .await?;
        }
        Ok(Ctx {
            updated,
            table,
            client,
            shared,
            dynago_item,
            raw_item,
            dynago_version: 1,
            raw_version: 1,
            partition,
            keys: items,
            scanned,
            scanned_items,
        })
    }
}

const ITEMS: usize = 100;

/// Runs part 1.
///
/// # Errors
///
/// A failed request, or a wrong answer from either side.
pub async fn run(server: &Server, plan: TableLayerPlan) -> Result<Vec<OperationResult>> {
    let mut ctx = Ctx::new(server.client()).await?;
    let mut results = Vec::new();
    for operation in Operation::ALL {
        let n = if operation.bulk() {
            plan.bulk_ops
        } else {
            plan.ops
        };
        let mut dynago_times = Vec::new();
        let mut raw_times = Vec::new();
        let mut ratios = Vec::new();
        let mut requests = [0u64; 2];
        for round in 0..=plan.rounds {
            let order = if round % 2 == 0 {
                [Side::Dynago, Side::Raw]
            } else {
                [Side::Raw, Side::Dynago]
            };
            let mut times = [Duration::ZERO; 2];
            for side in order {
                let before = server.counter().total();
                let elapsed = run_side(&mut ctx, side, operation, n).await?;
                let sent = server.counter().total() - before;
                let slot = usize::from(side == Side::Raw);
                times[slot] = elapsed;
                if round > 0 {
                    requests[slot] += sent;
                }
            }
            if round == 0 {
                continue; // warm-up
            }
            let per_op = |d: Duration| us(d) / n as f64;
            dynago_times.push(per_op(times[0]));
            raw_times.push(per_op(times[1]));
            ratios.push(times[0].as_secs_f64() / times[1].as_secs_f64());
        }
        let total_ops = (plan.rounds * n) as f64;
        results.push(OperationResult {
            operation,
            dynago_us: median(&dynago_times),
            raw_us: median(&raw_times),
            ratio: median(&ratios),
            dynago_requests: requests[0] as f64 / total_ops,
            raw_requests: requests[1] as f64 / total_ops,
        });
    }
    Ok(results)
}

async fn run_side(ctx: &mut Ctx, side: Side, operation: Operation, n: usize) -> Result<Duration> {
    let started = Instant::now();
    run_ops(ctx, side, operation, n).await?;
    let elapsed = started.elapsed();
    crate::checks::pass(u64::try_from(n)?);
    Ok(elapsed)
}

/// `n` operations of one kind from one side, each answer checked.
///
/// # Errors
///
/// A failed request or a wrong answer.
pub async fn run_ops(ctx: &mut Ctx, side: Side, operation: Operation, n: usize) -> Result<()> {
    for _ in 0..n {
        match (side, operation) {
            (Side::Dynago, Operation::Get) => dynago_get(ctx).await?,
            (Side::Raw, Operation::Get) => raw_get(ctx).await?,
            (Side::Dynago, Operation::Put) => dynago_put(ctx).await?,
            (Side::Raw, Operation::Put) => raw_put(ctx).await?,
            (Side::Dynago, Operation::LockedPut) => dynago_locked_put(ctx, true).await?,
            (Side::Dynago, Operation::LockedPutNoWriteId) => dynago_locked_put(ctx, false).await?,
            (Side::Raw, Operation::LockedPut | Operation::LockedPutNoWriteId) => {
                raw_locked_put(ctx).await?
            }
            (Side::Dynago, Operation::LockedUpdate) => dynago_locked_update(ctx, true).await?,
            (Side::Dynago, Operation::LockedUpdateNoWriteId) => {
                dynago_locked_update(ctx, false).await?
            }
            (Side::Raw, Operation::LockedUpdate | Operation::LockedUpdateNoWriteId) => {
                raw_locked_update(ctx).await?
            }
            (Side::Dynago, Operation::Query100) => dynago_query(ctx).await?,
            (Side::Raw, Operation::Query100) => raw_query(ctx).await?,
            (Side::Dynago, Operation::BatchGet100) => dynago_batch_get(ctx).await?,
            (Side::Raw, Operation::BatchGet100) => raw_batch_get(ctx).await?,
            (Side::Dynago, Operation::Scan100) => dynago_scan(ctx).await?,
            (Side::Raw, Operation::Scan100) => raw_scan(ctx).await?,
        }
    }
    Ok(())
}

fn raw_key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

async fn dynago_get(ctx: &Ctx) -> Result<()> {
    let record: Option<Record> = ctx
        .table
        .get_item(ctx.shared.key())
        .consistent_read(true)
        .send()
        .await?;
    ensure!(
        record.as_ref() == Some(&ctx.shared),
        "dynago read {record:?}"
    );
    Ok(())
}

async fn raw_get(ctx: &Ctx) -> Result<()> {
    let output = ctx
        .client
        .get_item()
        .table_name(ctx.table.name())
        .set_key(Some(raw_key(&ctx.shared.pk, &ctx.shared.sk)))
        .consistent_read(true)
        .send()
        .await?;
    let record: Option<Record> = output
        .item
        .map(serde_dynamo::aws_sdk_dynamodb_1::from_item)
        .transpose()?;
    ensure!(record.as_ref() == Some(&ctx.shared), "raw read {record:?}");
    Ok(())
}

async fn dynago_put(ctx: &Ctx) -> Result<()> {
    let mut record = ctx.dynago_item.clone();
    record.sk = "plain".to_owned();
    ctx.table.put_item(record.key(), &record).send().await?;
    Ok(())
}

async fn raw_put(ctx: &Ctx) -> Result<()> {
    let mut record = ctx.raw_item.clone();
    record.sk = "plain".to_owned();
    ctx.client
        .put_item()
        .table_name(ctx.table.name())
        .set_item(Some(serde_dynamo::aws_sdk_dynamodb_1::to_item(&record)?))
        .send()
        .await?;
    Ok(())
}

async fn dynago_locked_put(ctx: &mut Ctx, write_id: bool) -> Result<()> {
    let mut record = ctx.dynago_item.clone();
    record.version = ctx.dynago_version;
    record.balance += 1;
    let outcome = ctx
        .table
        .put_item(record.key(), &record)
        .optimistic_lock("version", ctx.dynago_version)
        .write_id(write_id)
        .send()
        .await?;
    ensure!(
        outcome.version == Some(ctx.dynago_version + 1),
        "dynago's locked put reported version {:?} after {}",
        outcome.version,
        ctx.dynago_version
    );
    ctx.dynago_version += 1;
    ctx.dynago_item = record;
    Ok(())
}

async fn raw_locked_put(ctx: &mut Ctx) -> Result<()> {
    let mut record = ctx.raw_item.clone();
    record.version = ctx.raw_version + 1;
    record.balance += 1;
    let result = ctx
        .client
        .put_item()
        .table_name(ctx.table.name())
        .set_item(Some(serde_dynamo::aws_sdk_dynamodb_1::to_item(&record)?))
        .condition_expression("#version = :expected")
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":expected", AttributeValue::N(ctx.raw_version.to_string()))
        .send()
        .await;
    if let Err(error) = result {
        bail!(
            "raw locked put at version {}: {}",
            ctx.raw_version,
            aws_sdk_dynamodb::error::DisplayErrorContext(&error)
        );
    }
    ctx.raw_version += 1;
    ctx.raw_item = record;
    Ok(())
}

/// An item updated in place, and what it holds.
struct Updated {
    record: Record,
    balance: i64,
    version: u64,
}

impl Updated {
    /// An item that a locked put creates at version 1.
    fn new(pk: &str) -> Self {
        let record = Record::new(pk, "item");
        Self {
            balance: record.balance,
            version: 1,
            record,
        }
    }
}

/// The balance and version in the attributes an update returned.
fn balance_and_version(attributes: Option<&HashMap<String, AttributeValue>>) -> Option<(i64, u64)> {
    let attributes = attributes?;
    let number = |name: &str| attributes.get(name)?.as_n().ok().cloned();
    Some((
        number("balance")?.parse().ok()?,
        number("version")?.parse().ok()?,
    ))
}

async fn dynago_locked_update(ctx: &mut Ctx, write_id: bool) -> Result<()> {
    let item = &mut ctx.updated[0];
    let outcome = ctx
        .table
        .update_item(item.record.key(), UpdateExpression::new().add("balance", 1))
        .optimistic_lock("version", item.version)
        .write_id(write_id)
        .return_values(ReturnValues::UpdatedNew)
        .send()
        .await?;
    let expected = (item.balance + 1, item.version + 1);
    ensure!(
        outcome.version == Some(expected.1)
            && balance_and_version(outcome.attributes.as_ref()) == Some(expected),
        "dynago's locked update at version {} answered {outcome:?}",
        item.version
    );
    (item.balance, item.version) = expected;
    Ok(())
}

async fn raw_locked_update(ctx: &mut Ctx) -> Result<()> {
    let item = &mut ctx.updated[1];
    let result = ctx
        .client
        .update_item()
        .table_name(ctx.table.name())
        .set_key(Some(raw_key(&item.record.pk, &item.record.sk)))
        .update_expression("ADD #balance :one SET #version = :next")
        .condition_expression("#version = :expected")
        .expression_attribute_names("#balance", "balance")
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
        .expression_attribute_values(":next", AttributeValue::N((item.version + 1).to_string()))
        .expression_attribute_values(":expected", AttributeValue::N(item.version.to_string()))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await;
    let output = match result {
        Ok(output) => output,
        Err(error) => bail!(
            "raw locked update at version {}: {}",
            item.version,
            aws_sdk_dynamodb::error::DisplayErrorContext(&error)
        ),
    };
    let expected = (item.balance + 1, item.version + 1);
    let answered = balance_and_version(output.attributes.as_ref());
    ensure!(
        answered == Some(expected),
        "the raw locked update at version {} answered {answered:?}",
        item.version
    );
    (item.balance, item.version) = expected;
    Ok(())
}

async fn dynago_query(ctx: &Ctx) -> Result<()> {
    let page = ctx
        .table
        .query("#pk = :pk")
        .name("#pk", "pk")
        .value(":pk", string_value(&ctx.partition))
        .consistent_read(true)
        .send::<Record>()
        .await?;
    ensure!(
        page.items.len() == ITEMS && page.items[ITEMS - 1] == ctx.keys[ITEMS - 1],
        "dynago's query read {} items",
        page.items.len()
    );
    Ok(())
}

async fn raw_query(ctx: &Ctx) -> Result<()> {
    let output = ctx
        .client
        .query()
        .table_name(ctx.table.name())
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_values(":pk", AttributeValue::S(ctx.partition.clone()))
        .consistent_read(true)
        .send()
        .await?;
    let items: Vec<Record> =
        serde_dynamo::aws_sdk_dynamodb_1::from_items(output.items.unwrap_or_default())?;
    ensure!(
        items.len() == ITEMS && items[ITEMS - 1] == ctx.keys[ITEMS - 1],
        "the raw query read {} items",
        items.len()
    );
    Ok(())
}

async fn dynago_batch_get(ctx: &Ctx) -> Result<()> {
    let records: Vec<Record> = ctx
        .table
        .batch_get_items(ctx.keys.iter().map(Record::key))
        .send()
        .await?;
    ensure!(
        records.len() == ITEMS,
        "dynago's batch get read {}",
        records.len()
    );
    Ok(())
}

async fn raw_batch_get(ctx: &Ctx) -> Result<()> {
    let mut pending: Vec<HashMap<String, AttributeValue>> = ctx
        .keys
        .iter()
        .map(|record| raw_key(&record.pk, &record.sk))
        .collect();
    let mut records: Vec<Record> = Vec::with_capacity(ITEMS);
    let mut attempts = 0;
    while !pending.is_empty() {
        attempts += 1;
        ensure!(attempts <= 10, "keys still unprocessed after 10 attempts");
        let request = KeysAndAttributes::builder()
            .set_keys(Some(pending))
            .build()?;
        let output = ctx
            .client
            .batch_get_item()
            .request_items(ctx.table.name(), request)
            .send()
            .await?;
        let found = output
            .responses
            .and_then(|mut r| r.remove(ctx.table.name()))
            .unwrap_or_default();
        records.extend(serde_dynamo::aws_sdk_dynamodb_1::from_items::<Record>(
            found,
        )?);
        pending = output
            .unprocessed_keys
            .and_then(|mut u| u.remove(ctx.table.name()))
            .map(|k| k.keys)
            .unwrap_or_default();
    }
    ensure!(
        records.len() == ITEMS,
        "the raw batch get read {}",
        records.len()
    );
    Ok(())
}

/// Checks that a scan read the 100 items of the scanned table, each once.
fn check_scan(ctx: &Ctx, records: &[Record], who: &str) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(records.len());
    for record in records {
        ensure!(
            ctx.scanned_items.get(&record.pk) == Some(record) && seen.insert(&record.pk),
            "{who} scan read {record:?}"
        );
    }
    ensure!(
        records.len() == ITEMS,
        "{who} scan read {} items",
        records.len()
    );
    Ok(())
}

async fn dynago_scan(ctx: &Ctx) -> Result<()> {
    let page = ctx
        .scanned
        .scan()
        .consistent_read(true)
        .send::<Record>()
        .await?;
    ensure!(page.cursor.is_none(), "dynago's scan did not reach the end");
    check_scan(ctx, &page.items, "dynago's")
}

async fn raw_scan(ctx: &Ctx) -> Result<()> {
    let output = ctx
        .client
        .scan()
        .table_name(ctx.scanned.name())
        .consistent_read(true)
        .send()
        .await?;
    ensure!(
        output.last_evaluated_key.is_none_or(|key| key.is_empty()),
        "the raw scan did not reach the end"
    );
    let records: Vec<Record> =
        serde_dynamo::aws_sdk_dynamodb_1::from_items(output.items.unwrap_or_default())?;
    check_scan(ctx, &records, "the raw")
}
