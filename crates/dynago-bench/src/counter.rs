//! Counting what goes over the wire: an SDK interceptor that sees every HTTP
//! attempt of a client, whatever library drives it, and what each operation
//! costs in capacity units: computed by AWS's rules from the items it writes
//! and reads, and as the server reports it where it was asked to.
//!
//! AWS's rules: a standard write costs 1 write unit per started KB of the
//! item, a write inside a transaction 2 per KB of each item (a condition
//! check counts as a write of the item it checks, taken here as under 1 KB);
//! a strongly consistent read 1 read unit per started 4 KB (a query sums its
//! items before rounding; its units are counted here from the items it
//! returns, which is less than AWS bills when a projection leaves attributes
//! out). A write that fails its condition is billed all the same.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemOutput, batch_write_item::BatchWriteItemInput,
    delete_item::DeleteItemInput, get_item::GetItemOutput, put_item::PutItemInput,
    put_item::PutItemOutput, query::QueryOutput, transact_write_items::TransactWriteItemsInput,
    transact_write_items::TransactWriteItemsOutput, update_item::UpdateItemInput,
};
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity};

/// Counts the requests a client sends (each SDK retry counts), in all and by
/// DynamoDB operation. Cheap to clone; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: AtomicU64,
    by_operation: Mutex<BTreeMap<String, u64>>,
    units: Mutex<Units>,
}

/// Capacity units, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    /// Write units by AWS's rules, from the items written.
    pub write: f64,
    /// Read units by AWS's rules, from the items returned.
    pub read: f64,
    /// The units the server reported, where the request asked for them.
    pub reported: f64,
}

impl Units {
    fn since(&self, earlier: &Units) -> Units {
        Units {
            write: self.write - earlier.write,
            read: self.read - earlier.read,
            reported: self.reported - earlier.reported,
        }
    }
}

/// Started KB (writes) or started 4 KB (reads) of `bytes`, at least 1.
fn started(bytes: usize, per: usize) -> f64 {
    bytes.div_ceil(per).max(1) as f64
}

fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    dynago::item_size(item)
}

/// The write units of an operation's input, by AWS's rules.
fn write_units(input: &BeforeSerializationInterceptorContextRef<'_>) -> f64 {
    let input = input.input();
    if let Some(put) = input.downcast_ref::<PutItemInput>() {
        return put
            .item()
            .map_or(1.0, |item| started(item_size(item), 1024));
    }
    if input.downcast_ref::<UpdateItemInput>().is_some()
        || input.downcast_ref::<DeleteItemInput>().is_some()
    {
        return 1.0;
    }
    if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
        return batch
            .request_items()
            .map(|tables| {
                tables
                    .values()
                    .flatten()
                    .map(|request| {
                        request
                            .put_request()
                            .map_or(1.0, |put| started(item_size(put.item()), 1024))
                    })
                    .sum()
            })
            .unwrap_or(0.0);
    }
    if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
        return transaction
            .transact_items()
            .iter()
            .map(|action| match action.put() {
                Some(put) => 2.0 * started(item_size(put.item()), 1024),
                None => 2.0,
            })
            .sum();
    }
    0.0
}

/// The read units of an operation's output by AWS's rules, and the units
/// the server reported.
fn read_units(output: &AfterDeserializationInterceptorContextRef<'_>) -> (f64, f64) {
    let Ok(output) = output.output_or_error() else {
        return (0.0, 0.0);
    };
    let reported = |capacity: Option<&ConsumedCapacity>| {
        capacity
            .and_then(ConsumedCapacity::capacity_units)
            .unwrap_or(0.0)
    };
    if let Some(query) = output.downcast_ref::<QueryOutput>() {
        let bytes: usize = query.items().iter().map(item_size).sum();
        return (started(bytes, 4096), reported(query.consumed_capacity()));
    }
    if let Some(get) = output.downcast_ref::<GetItemOutput>() {
        let bytes = get.item().map_or(0, item_size);
        return (started(bytes, 4096), reported(get.consumed_capacity()));
    }
    if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
        let units = batch
            .responses()
            .map(|tables| {
                tables
                    .values()
                    .flatten()
                    .map(|item| started(item_size(item), 4096))
                    .sum()
            })
            .unwrap_or(0.0);
        let server = batch
            .consumed_capacity()
            .iter()
            .map(|c| reported(Some(c)))
            .sum();
        return (units, server);
    }
    if let Some(put) = output.downcast_ref::<PutItemOutput>() {
        return (0.0, reported(put.consumed_capacity()));
    }
    if let Some(transaction) = output.downcast_ref::<TransactWriteItemsOutput>() {
        let server = transaction
            .consumed_capacity()
            .iter()
            .map(|c| reported(Some(c)))
            .sum();
        return (0.0, server);
    }
    (0.0, 0.0)
}

/// The counts at one moment, to subtract from a later one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestSnapshot {
    /// Every request.
    pub total: u64,
    /// Requests by operation (`Query`, `TransactWriteItems`, ...).
    pub by_operation: BTreeMap<String, u64>,
    /// Capacity units.
    pub units: Units,
}

impl RequestSnapshot {
    /// What was sent between `earlier` and this snapshot.
    #[must_use]
    pub fn since(&self, earlier: &RequestSnapshot) -> RequestSnapshot {
        let by_operation = self
            .by_operation
            .iter()
            .map(|(op, n)| {
                let before = earlier.by_operation.get(op).copied().unwrap_or(0);
                (op.clone(), n.saturating_sub(before))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        RequestSnapshot {
            total: self.total.saturating_sub(earlier.total),
            by_operation,
            units: self.units.since(&earlier.units),
        }
    }
}

impl RequestCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests sent so far.
    pub fn total(&self) -> u64 {
        self.inner.total.load(Ordering::Relaxed)
    }

    /// The counts now.
    pub fn snapshot(&self) -> RequestSnapshot {
        let by_operation = self
            .inner
            .by_operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        RequestSnapshot {
            total: self.total(),
            by_operation,
            units: *self.units(),
        }
    }

    fn units(&self) -> std::sync::MutexGuard<'_, Units> {
        self.inner
            .units
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "dynago-bench request counter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let units = write_units(context);
        self.units().write += units;
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let (read, reported) = read_units(context);
        let mut units = self.units();
        units.read += read;
        units.reported += reported;
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.inner.total.fetch_add(1, Ordering::Relaxed);
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        *self
            .inner
            .by_operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(operation)
            .or_insert(0) += 1;
        Ok(())
    }
}

/// `client` with `counter` added to its interceptors.
pub fn counted_client(
    client: &aws_sdk_dynamodb::Client,
    counter: &RequestCounter,
) -> aws_sdk_dynamodb::Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(counter.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
