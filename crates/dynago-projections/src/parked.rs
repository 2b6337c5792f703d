//! Parked events: those whose handler kept failing, stored with their
//! error so that they can be listed, fixed and replayed.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use dynago::{AttributeValue, Item, Table};
use dynago_es::AggregateId;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys;

/// An event its projection could not apply.
///
/// ```
/// # fn show(parked: dynago_projections::ParkedEvent) {
/// println!("{} v{} ({}): {} after {} tries", parked.aggregate_id, parked.version,
///     parked.event_type, parked.error, parked.attempts);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParkedEvent {
    /// Its aggregate.
    pub aggregate_id: AggregateId,
    /// Its version.
    pub version: u64,
    /// Its type.
    pub event_type: String,
    /// The handler's last error.
    pub error: String,
    /// How many times the handler was tried.
    pub attempts: usize,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
}

/// The parked events of one projection, and the aggregates they block.
pub(crate) struct Parking {
    table: Table,
    projection: &'static str,
    blocked: Mutex<HashSet<AggregateId>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Parking {
    pub(crate) fn new(table: Table, projection: &'static str) -> Self {
        Self {
            table,
            projection,
            blocked: Mutex::new(HashSet::new()),
        }
    }

    /// An event of `id` is parked (as last read or parked here).
    pub(crate) fn is_blocked(&self, id: &AggregateId) -> bool {
        lock(&self.blocked).contains(id)
    }

    /// Whether an event of `id` is still parked, read strongly: another
    /// process may have replayed it since this one parked it or read it
    /// parked. The aggregate is unblocked here when none is left.
    ///
    /// An event of a blocked aggregate may only wait (its checkpoint moves
    /// on) behind a parked event that is durably there: a replay deletes the
    /// parked events before it reads the aggregate's events from the table,
    /// so an event read here as waiting is in what that replay reads.
    pub(crate) async fn still_blocked(&self, id: &AggregateId) -> Result<bool> {
        let sort_key = self.table.sort_key().unwrap_or_default().to_owned();
        let prefix = keys::parked_prefix(id);
        let items: Vec<Item> = keys::under(&self.table, self.projection, &prefix)
            .projection("#sk")
            .stream_raw()
            .try_collect()
            .await?;
        // The prefix of `a` also begins the keys of `a#b`'s parked events.
        let parked = items.iter().any(|item| match item.get(&sort_key) {
            Some(AttributeValue::S(sort)) => {
                keys::parse_parked(sort).is_some_and(|(parked, _)| &parked == id)
            }
            _ => false,
        });
        if !parked {
            lock(&self.blocked).remove(id);
        }
        Ok(parked)
    }

    /// Stores a parked event and blocks its aggregate.
    pub(crate) async fn park(
        &self,
        id: &AggregateId,
        version: u64,
        event_type: &str,
        error: &str,
        attempts: usize,
    ) -> Result<()> {
        let parked = ParkedEvent {
            aggregate_id: id.clone(),
            version,
            event_type: event_type.to_owned(),
            error: error.to_owned(),
            attempts,
            parked_at: Utc::now(),
        };
        self.table
            .put_item(
                keys::key(self.projection, keys::parked(id, version)),
                &parked,
            )
            .write_id(false)
            .send()
            .await?;
        lock(&self.blocked).insert(id.clone());
        Ok(())
    }

    /// Every parked event, read strongly; the set of blocked aggregates is
    /// brought up to date with it (another worker may have parked or
    /// replayed some).
    pub(crate) async fn list(&self) -> Result<Vec<ParkedEvent>> {
        let sort_key = self.table.sort_key().unwrap_or_default().to_owned();
        let items: Vec<Item> = keys::under(&self.table, self.projection, keys::PARKED)
            .stream_raw()
            .try_collect()
            .await?;
        let mut parked = Vec::with_capacity(items.len());
        for item in items {
            let sort = match item.get(&sort_key) {
                Some(AttributeValue::S(sort)) => sort.clone(),
                _ => String::new(),
            };
            let event: ParkedEvent =
                serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|e| {
                    Error::CorruptView {
                        projection: self.projection.to_owned(),
                        key: sort.clone(),
                        reason: format!("it is not a parked event: {e}"),
                    }
                })?;
            if keys::parse_parked(&sort) != Some((event.aggregate_id.clone(), event.version)) {
                return Err(Error::CorruptView {
                    projection: self.projection.to_owned(),
                    key: sort,
                    reason: "its key does not name its event".into(),
                });
            }
            parked.push(event);
        }
        *lock(&self.blocked) = parked.iter().map(|p| p.aggregate_id.clone()).collect();
        Ok(parked)
    }

    /// Removes the parked events of `id` and unblocks it; how many there
    /// were.
    pub(crate) async fn release(&self, id: &AggregateId) -> Result<usize> {
        let parked: Vec<ParkedEvent> = self
            .list()
            .await?
            .into_iter()
            .filter(|p| &p.aggregate_id == id)
            .collect();
        for event in &parked {
            self.table
                .delete_item(keys::key(self.projection, keys::parked(id, event.version)))
                .send()
                .await?;
        }
        lock(&self.blocked).remove(id);
        Ok(parked.len())
    }
}
