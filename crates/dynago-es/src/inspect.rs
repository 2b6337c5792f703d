//! Reading what is stored without the aggregate's types: events, snapshots
//! and command records as JSON, for explorers, audits and tools that show
//! every aggregate type, known to the build or not.

use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use dynago::{string_value, AttributeValue, Item, Query, Table};
use futures::TryStreamExt;
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::envelope::{EventHeader, Metadata};
use crate::error::{Error, Result};
use crate::event_item::{Attributes, LAST_VERSION};
use crate::id::{AggregateId, CommandId};
use crate::keys;
use crate::payload;
use crate::plan::Folded;
use crate::record::CommandRecord;
use crate::store::{EventStore, Loaded};

/// One event as stored, its payload as JSON (before any upcasting).
///
/// ```
/// # fn show(event: dynago_es::StoredEvent) {
/// println!("v{} {} {}", event.version, event.event_type, event.payload);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredEvent {
    /// The aggregate type.
    pub aggregate_type: String,
    /// The aggregate.
    pub aggregate_id: AggregateId,
    /// The event's version.
    pub version: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The event type's name.
    pub event_type: String,
    /// The schema version of the payload as stored.
    pub schema_version: u32,
    /// When it was stored.
    pub timestamp: DateTime<Utc>,
    /// Who and what caused it; its command id among them.
    pub metadata: Metadata,
    /// The id of the append that wrote it (shared by the events of one
    /// command, on every aggregate the command touched).
    pub commit_id: Uuid,
    /// The payload as stored, as JSON.
    pub payload: serde_json::Value,
    /// The size, as DynamoDB counts it in bytes, of the item holding it
    /// (the events of a commit share one item).
    pub size: usize,
}

impl StoredEvent {
    /// Reads an event item of any aggregate type: its events in order (one,
    /// or a commit's several).
    ///
    /// ```
    /// let item = dynago::Item::new();
    /// assert!(dynago_es::StoredEvent::from_item(item).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::CorruptEvent`] for an item that is not an event item.
    pub fn from_item(item: Item) -> Result<Vec<Self>> {
        let size = dynago::item_size(&item);
        let corrupt = |version: u64, reason: String| Error::CorruptEvent {
            aggregate: "an unknown aggregate".to_owned(),
            version,
            reason,
        };
        let mut attributes = Attributes::take(item, None, None);
        let following = attributes.following().map_err(|e| corrupt(0, e))?;
        let first = Self::read(&mut attributes, size).map_err(|(v, e)| corrupt(v, e))?;
        let version = first.version;
        let mut events = vec![first];
        if let Some(following) = following {
            let last = following.last;
            for mut next in following.events {
                let event = Self::read(&mut next, size)
                    .map_err(|(v, e)| corrupt(version, format!("its event at version {v}: {e}")))?;
                let expected = events.last().map_or(version, |e| e.version).checked_add(1);
                if Some(event.version) != expected {
                    return Err(corrupt(
                        version,
                        format!(
                            "its event after version {} says it is version {}",
                            event.version.saturating_sub(1),
                            event.version
                        ),
                    ));
                }
                events.push(event);
            }
            let end = events.last().map_or(version, |e| e.version);
            if last.is_some_and(|last| last != end) {
                return Err(corrupt(
                    version,
                    format!(
                        "it says its last version is {last:?}, but its events end at version {end}"
                    ),
                ));
            }
        }
        Ok(events)
    }

    /// One event of an item, or what is wrong with it (at which version).
    fn read(attributes: &mut Attributes, size: usize) -> std::result::Result<Self, (u64, String)> {
        let payload = attributes.payload();
        let header = EventHeader::from_attributes(attributes).map_err(|e| (0, e))?;
        let payload = match payload {
            Some(stored) => payload::to_json(stored).map_err(|e| (header.version, e))?,
            None => return Err((header.version, "the item has no payload".to_owned())),
        };
        Ok(Self {
            aggregate_type: header.aggregate_type,
            aggregate_id: header.aggregate_id,
            version: header.version,
            event_id: header.event_id,
            event_type: header.event_type,
            schema_version: header.schema_version,
            timestamp: header.timestamp,
            metadata: header.metadata,
            commit_id: header.commit_id,
            payload,
            size,
        })
    }
}

/// A snapshot as stored, its state as JSON.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredSnapshot {
    /// The version of the last event folded into it.
    pub version: u64,
    /// The shape of the state it holds
    /// ([`Aggregate::SNAPSHOT_VERSION`] when it was taken).
    pub state_version: u32,
    /// When it was taken, if it says.
    pub taken_at: Option<DateTime<Utc>>,
    /// The state, as JSON.
    pub state: serde_json::Value,
}

/// The record of a command that carried an id, as stored.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredCommand {
    /// The command's id.
    pub command_id: CommandId,
    /// The aggregate type it was sent to.
    pub aggregate_type: String,
    /// The commit that wrote its events.
    pub commit_id: Uuid,
    /// The events it appended, per aggregate.
    pub effects: Vec<CommandEffect>,
    /// A digest of its body, when the caller gave one.
    pub fingerprint: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// When the record may be deleted by DynamoDB's time to live, if set.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The events one command appended to one aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandEffect {
    /// The aggregate.
    pub aggregate_id: AggregateId,
    /// The version of its first event.
    pub first_version: u64,
    /// The version of its last event.
    pub last_version: u64,
}

/// Reads the store's items of any aggregate type from one table, without
/// the aggregates' types: every read strongly consistent, one request per
/// call unless said otherwise.
///
/// ```no_run
/// # async fn run(table: dynago::Table) -> dynago_es::Result<()> {
/// use dynago_es::{AggregateId, Inspector};
///
/// let inspector = Inspector::new(table);
/// let id = AggregateId::new("acc-1");
/// let last = inspector.last_version("account", &id).await?;
/// for event in inspector.events("account", &id, last.saturating_sub(9)..=last).await? {
///     println!("v{} {}", event.version, event.event_type);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Inspector {
    table: Table,
}

impl Inspector {
    /// An inspector of the store's items in `table`.
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// The table it reads.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Refuses a type that would name other items: `x#y` with id `z` is the
    /// partition of type `x`, id `y#z`.
    fn checked(aggregate_type: &str) -> Result<()> {
        keys::check_aggregate_type(aggregate_type).map_err(Error::InvalidAggregateType)
    }

    fn events_query(&self, aggregate_type: &str, id: &AggregateId, from: u64, to: u64) -> Query {
        let table = &self.table;
        table
            .query("#pk = :pk AND #sk BETWEEN :from AND :to")
            .name("#pk", table.partition_key())
            .name("#sk", table.sort_key().unwrap_or_default().to_owned())
            .value(":pk", string_value(keys::stream(aggregate_type, id)))
            .value(":from", string_value(keys::event_sort(from)))
            .value(":to", string_value(keys::event_sort(to)))
            .consistent_read(true)
    }

    /// The events of `id` whose versions are in `versions`, in order (one
    /// query, paged by DynamoDB past 1 MB). A version missing from the
    /// range is not an error here: what is stored is what is shown.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAggregateType`] for a type that cannot name the
    /// store's items (each method refuses it alike);
    /// [`Error::CorruptEvent`] for an item in the range that is not an
    /// event; [`Error::Table`] from DynamoDB.
    pub async fn events(
        &self,
        aggregate_type: &str,
        id: &AggregateId,
        versions: RangeInclusive<u64>,
    ) -> Result<Vec<StoredEvent>> {
        Self::checked(aggregate_type)?;
        let (from, to) = (*versions.start(), *versions.end());
        if from > to {
            return Ok(Vec::new());
        }
        // A version after the first may lie inside a commit of several
        // events, keyed by its first: the item holding it is read first.
        let mut items = Vec::new();
        let mut after = Some(from);
        if from > 1 {
            let page = self
                .events_query(aggregate_type, id, 0, from)
                .descending()
                .limit(1)
                .send_raw()
                .await?;
            items.extend(page.items);
            after = from.checked_add(1);
        }
        if let Some(after) = after.filter(|after| *after <= to) {
            let rest: Vec<Item> = Box::pin(
                self.events_query(aggregate_type, id, after, to)
                    .stream_raw()
                    .try_collect::<Vec<Item>>(),
            )
            .await?;
            items.extend(rest);
        }
        let mut events = Vec::new();
        for item in items {
            events.extend(
                StoredEvent::from_item(item)?
                    .into_iter()
                    .filter(|event| versions.contains(&event.version)),
            );
        }
        Ok(events)
    }

    /// The version of the last event of `id`, 0 for none: one query of one
    /// key, newest first.
    ///
    /// # Errors
    ///
    /// [`Error::Table`] from DynamoDB; [`Error::CorruptEvent`] for an event
    /// key that holds no version.
    pub async fn last_version(&self, aggregate_type: &str, id: &AggregateId) -> Result<u64> {
        Self::checked(aggregate_type)?;
        let sort_key = self.table.sort_key().unwrap_or_default().to_owned();
        let page = self
            .events_query(aggregate_type, id, 1, u64::MAX)
            .descending()
            .limit(1)
            .projection("#sk, #last")
            .name("#last", LAST_VERSION)
            .send_raw()
            .await?;
        let Some(item) = page.items.first() else {
            return Ok(0);
        };
        match item.get(&sort_key) {
            Some(AttributeValue::S(sort)) => {
                let first = keys::parse_event_sort(sort).ok_or_else(|| Error::CorruptEvent {
                    aggregate: keys::stream(aggregate_type, id),
                    version: 0,
                    reason: format!("the sort key `{sort}` holds no version"),
                })?;
                // A commit of several events says where it ends.
                match item.get(LAST_VERSION) {
                    None => Ok(first),
                    Some(AttributeValue::N(last)) => last
                        .parse::<u64>()
                        .ok()
                        .filter(|last| *last >= first)
                        .ok_or_else(|| Error::CorruptEvent {
                            aggregate: keys::stream(aggregate_type, id),
                            version: first,
                            reason: format!(
                                "its `{LAST_VERSION}` {last:?} is not a version from {first} on"
                            ),
                        }),
                    Some(other) => Err(Error::CorruptEvent {
                        aggregate: keys::stream(aggregate_type, id),
                        version: first,
                        reason: format!("its `{LAST_VERSION}` is not a number: {other:?}"),
                    }),
                }
            }
            _ => Err(Error::CorruptEvent {
                aggregate: keys::stream(aggregate_type, id),
                version: 0,
                reason: format!("the item has no string sort key `{sort_key}`"),
            }),
        }
    }

    /// The snapshot of `id` as stored, if there is one.
    ///
    /// # Errors
    ///
    /// [`Error::Table`] from DynamoDB; [`Error::CorruptEvent`] for a
    /// snapshot item without its version or state.
    pub async fn snapshot(
        &self,
        aggregate_type: &str,
        id: &AggregateId,
    ) -> Result<Option<StoredSnapshot>> {
        Self::checked(aggregate_type)?;
        let item = self
            .table
            .get_item(keys::snapshot(aggregate_type, id))
            .consistent_read(true)
            .send_raw()
            .await?;
        let Some(mut item) = item else {
            return Ok(None);
        };
        let corrupt = |reason: String| Error::CorruptEvent {
            aggregate: keys::stream(aggregate_type, id),
            version: 0,
            reason: format!("its snapshot: {reason}"),
        };
        let number = |item: &Item, name: &str| match item.get(name) {
            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
            _ => None,
        };
        let version = number(&item, "version").ok_or_else(|| corrupt("no version".into()))?;
        let state_version = number(&item, "state_version")
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| corrupt("no state version".into()))?;
        let taken_at = match item.get("taken_at") {
            Some(AttributeValue::S(text)) => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            _ => None,
        };
        let state = item
            .remove("state")
            .ok_or_else(|| corrupt("no state".into()))?;
        let state = payload::to_json(payload::Stored::Value(state)).map_err(corrupt)?;
        Ok(Some(StoredSnapshot {
            version,
            state_version,
            taken_at,
            state,
        }))
    }

    /// The record of the command `command_id` sent to `aggregate_type`, if
    /// one is stored (records of commands without an id are not).
    ///
    /// # Errors
    ///
    /// [`Error::Table`] from DynamoDB, a record that does not read among
    /// them.
    pub async fn command(
        &self,
        aggregate_type: &str,
        command_id: &CommandId,
    ) -> Result<Option<StoredCommand>> {
        Self::checked(aggregate_type)?;
        let record: Option<CommandRecord> = self
            .table
            .get_item(keys::command(aggregate_type, command_id))
            .consistent_read(true)
            .send()
            .await?;
        Ok(record.map(|record| StoredCommand {
            command_id: record.command_id,
            aggregate_type: record.aggregate_type,
            commit_id: record.commit_id,
            effects: record
                .results
                .into_iter()
                .map(|result| CommandEffect {
                    aggregate_id: result.aggregate_id,
                    first_version: result.first_version,
                    last_version: result.last_version,
                })
                .collect(),
            fingerprint: record.fingerprint,
            recorded_at: record.recorded_at,
            expires_at: record
                .expires_at
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
        }))
    }

    /// Every event written by the commit `commit_id`, in the order found.
    /// No key leads to a commit: this **scans the whole table** (every item
    /// read, a read unit per 8 KB eventually consistent, a request per MB),
    /// for a search a person asked for, never for a page shown by default.
    ///
    /// # Errors
    ///
    /// [`Error::Table`] from DynamoDB; [`Error::CorruptEvent`] for a
    /// matching item that is not an event.
    pub async fn find_commit(&self, commit_id: Uuid) -> Result<Vec<StoredEvent>> {
        let items: Vec<Item> = Box::pin(
            self.table
                .scan()
                // Command records hold their commit's id too.
                .filter("#commit = :commit AND attribute_exists(#event)")
                .name("#commit", "commit_id")
                .name("#event", "event_id")
                .value(":commit", string_value(commit_id.to_string()))
                .stream_raw()
                .try_collect::<Vec<Item>>(),
        )
        .await?;
        let mut events = Vec::new();
        for item in items {
            events.extend(StoredEvent::from_item(item)?);
        }
        Ok(events)
    }
}

impl<A: Aggregate> EventStore<A> {
    /// An [`Inspector`] of this store's table.
    pub fn inspector(&self) -> Inspector {
        Inspector::new(self.table().clone())
    }

    /// The state at `version` folded from the events alone, 1 to `version`
    /// (no snapshot read): what a snapshot should hold, to hold it beside.
    /// The aggregate is named by its id as stored ([`AggregateId`]).
    ///
    /// ```no_run
    /// # async fn run<A: dynago_es::Aggregate>(store: dynago_es::EventStore<A>) -> dynago_es::Result<()> {
    /// let at_7 = store.replay_at("acc-1", 7).await?;
    /// assert!(at_7.version <= 7);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub async fn replay_at(&self, id: impl Into<AggregateId>, version: u64) -> Result<Loaded<A>> {
        let start = Folded {
            state: A::default(),
            version: 0,
            snapshot_version: 0,
        };
        self.fold_after(&id.into(), start, Some(version)).await
    }

    /// The state at `version` as [`load_at`](Self::load_at) reads it (from
    /// a snapshot no newer, then the events), the aggregate named by its id
    /// as stored ([`AggregateId`]).
    ///
    /// ```no_run
    /// # async fn run<A: dynago_es::Aggregate>(store: dynago_es::EventStore<A>) -> dynago_es::Result<()> {
    /// let at_7 = store.state_at("acc-1", 7).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub async fn state_at(&self, id: impl Into<AggregateId>, version: u64) -> Result<Loaded<A>> {
        self.load_upto(&id.into(), Some(version)).await
    }
}
