//! The baseline of part 5: the balance of every account kept from the
//! events table's stream by a loop written by hand with
//! `aws-sdk-dynamodbstreams` and `aws-sdk-dynamodb`, as a user would write
//! it without `dynago-projections`.
//!
//! `DescribeStream` lists the shards, `GetShardIterator` (`TRIM_HORIZON`)
//! starts each at its oldest record, `GetRecords` reads them in turn; every
//! event record's new image is read with `serde_dynamo`, and the account's
//! view item is read (`GetItem`, strongly consistent), changed and put back
//! (`PutItem`). No ordering by version, no exactly-once, no checkpoint, no
//! lease: a record delivered twice is counted twice, and a restart starts
//! from the oldest record again. An idle shard is read again after 25 ms,
//! doubling up to the loop's `idle_wait`, as `dynago-projections` backs off.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use serde::{Deserialize, Serialize};

use crate::account::{evolve, Account, AccountEvent};

/// The first wait after a read that found nothing.
const FIRST_IDLE_WAIT: Duration = Duration::from_millis(25);

/// One account's view item: `pk` is the account's id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceItem {
    /// The account's id.
    pub pk: String,
    /// The sum of its deposits, in cents.
    pub balance: u64,
    /// How many deposits were applied.
    pub deposits: u64,
}

impl BalanceItem {
    /// The account it holds.
    pub fn account(&self) -> Account {
        Account {
            balance: self.balance,
            deposits: self.deposits,
        }
    }
}

/// What the loop reads of an event item's new image (dynago-es's commit
/// item: the key, the first event's envelope attributes and payload as a
/// map, and for a command of several events the others in `next_events`,
/// in order).
#[derive(Debug, Deserialize)]
struct EventImage {
    aggregate_id: String,
    payload: AccountEvent,
    #[serde(default)]
    next_events: Vec<NextEvent>,
}

/// An event of a commit after its first: what the loop reads of it.
#[derive(Debug, Deserialize)]
struct NextEvent {
    payload: AccountEvent,
}

/// How far the loop got, read by the benchmark while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    applied: AtomicU64,
}

impl Progress {
    /// Events applied since the loop started (a record of a commit of
    /// several counts each).
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }
}

/// The loop and what it reads and writes.
#[derive(Debug, Clone)]
pub struct Loop {
    /// The Streams client.
    pub streams: aws_sdk_dynamodbstreams::Client,
    /// The stream's ARN (`LatestStreamArn` of the events table).
    pub arn: String,
    /// The DynamoDB client for the view table.
    pub dynamo: aws_sdk_dynamodb::Client,
    /// The view table (partition key `pk`, no sort key).
    pub views: String,
    /// The longest wait between reads of an idle shard.
    pub idle_wait: Duration,
    /// Its progress.
    pub progress: Arc<Progress>,
}

impl Loop {
    /// Reads the stream and applies its events until `shutdown` completes.
    ///
    /// # Errors
    ///
    /// The first request that fails, or an event image that does not read.
    pub async fn run(self, shutdown: tokio::sync::oneshot::Receiver<()>) -> Result<()> {
        tokio::select! {
            result = self.read() => result,
            _ = shutdown => Ok(()),
        }
    }

    async fn read(&self) -> Result<()> {
        let mut seen = HashSet::new();
        let mut iterators = Vec::new();
        self.new_shards(&mut seen, &mut iterators).await?;
        let mut idle = FIRST_IDLE_WAIT;
        loop {
            let mut read_any = false;
            let mut closed = false;
            for slot in &mut iterators {
                let Some(iterator) = slot.take() else {
                    continue;
                };
                let answer = self
                    .streams
                    .get_records()
                    .shard_iterator(iterator)
                    .limit(1000)
                    .send()
                    .await
                    .context("GetRecords")?;
                for record in answer.records() {
                    read_any = true;
                    self.apply(record).await?;
                }
                *slot = answer.next_shard_iterator().map(str::to_owned);
                closed |= slot.is_none();
            }
            if closed {
                // A shard read to its end: its children are new shards.
                iterators.retain(Option::is_some);
                self.new_shards(&mut seen, &mut iterators).await?;
            }
            if read_any {
                idle = FIRST_IDLE_WAIT;
            } else {
                tokio::time::sleep(idle).await;
                idle = (idle * 2).min(self.idle_wait.max(FIRST_IDLE_WAIT));
            }
        }
    }

    /// Starts every shard not seen yet at its oldest record.
    async fn new_shards(
        &self,
        seen: &mut HashSet<String>,
        iterators: &mut Vec<Option<String>>,
    ) -> Result<()> {
        let described = self
            .streams
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .context("DescribeStream")?;
        let shards = described
            .stream_description()
            .map(|d| d.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id() else { continue };
            if !seen.insert(id.to_owned()) {
                continue;
            }
            let iterator = self
                .streams
                .get_shard_iterator()
                .stream_arn(&self.arn)
                .shard_id(id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .context("GetShardIterator")?;
            iterators.push(iterator.shard_iterator().map(str::to_owned));
        }
        Ok(())
    }

    /// Adds one event record (a commit: one event or several) to its
    /// account's view: read, change, put.
    async fn apply(&self, record: &Record) -> Result<()> {
        if record.event_name() == Some(&OperationType::Remove) {
            return Ok(());
        }
        let Some(image) = record.dynamodb().and_then(|r| r.new_image()) else {
            return Ok(());
        };
        // Events only: dynago-es keys them `e#{version}`.
        let is_event = matches!(
            image.get("sk"),
            Some(aws_sdk_dynamodbstreams::types::AttributeValue::S(sk)) if sk.starts_with("e#")
        );
        if !is_event {
            return Ok(());
        }
        let event: EventImage = serde_dynamo::aws_sdk_dynamodbstreams_1::from_item(image.clone())
            .context("reading an event record")?;
        let stored = self
            .dynamo
            .get_item()
            .table_name(&self.views)
            .key("pk", AttributeValue::S(event.aggregate_id.clone()))
            .consistent_read(true)
            .send()
            .await
            .context("GetItem of a view")?;
        let mut view: BalanceItem = match stored.item {
            Some(item) => serde_dynamo::aws_sdk_dynamodb_1::from_item(item)?,
            None => BalanceItem {
                pk: event.aggregate_id,
                ..BalanceItem::default()
            },
        };
        let mut account = view.account();
        evolve(&mut account, &event.payload);
        for next in &event.next_events {
            evolve(&mut account, &next.payload);
        }
        view.balance = account.balance;
        view.deposits = account.deposits;
        self.dynamo
            .put_item()
            .table_name(&self.views)
            .set_item(Some(serde_dynamo::aws_sdk_dynamodb_1::to_item(&view)?))
            .send()
            .await
            .context("PutItem of a view")?;
        self.progress
            .applied
            .fetch_add(1 + event.next_events.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Every view item of `table`, by account (a strongly consistent scan).
///
/// # Errors
///
/// A failed scan or an item that is not a view.
pub async fn read_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<BTreeMap<String, Account>> {
    let mut all = BTreeMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("scanning the views")?;
        for item in page.items() {
            let view: BalanceItem = serde_dynamo::aws_sdk_dynamodb_1::from_item(item.clone())?;
            all.insert(view.pk.clone(), view.account());
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(all),
        }
    }
}

/// The deposits applied to `account`'s view (0 before its first).
///
/// # Errors
///
/// A failed read or an item that is not a view.
pub async fn deposits(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    account: &str,
) -> Result<u64> {
    let stored = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(account.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .context("GetItem of a view")?;
    Ok(match stored.item {
        Some(item) => serde_dynamo::aws_sdk_dynamodb_1::from_item::<BalanceItem>(item)?.deposits,
        None => 0,
    })
}
