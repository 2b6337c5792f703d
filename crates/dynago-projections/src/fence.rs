//! The fence a reset puts up while it deletes a projection's items, and
//! the generation it leaves behind.
//!
//! A write under a live writer during a reset would leave views that no
//! replay repairs (a keyed view holding an event whose position was
//! deleted counts it again), so while the fence stands no Lambda batch and
//! no worker writes the projection. Every reset also moves the projection
//! to a new generation: a process that remembers views or positions of an
//! older one (a warm Lambda container, a worker) forgets them before it
//! writes again.

use chrono::Utc;
use dynago::{number_value, string_value, AttributeValue, Condition, Item, Table};

use crate::error::Result;
use crate::keys;

/// The fence item of a projection, as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fence {
    /// How many resets the projection went through.
    pub(crate) generation: u64,
    /// A reset is deleting the projection's items.
    pub(crate) up: bool,
}

const GENERATION: &str = "generation";
const UP: &str = "up";

/// The fence of `projection`, read strongly (none yet: generation 0).
pub(crate) async fn read(views: &Table, projection: &str) -> Result<Fence> {
    Ok(read_stored(views, projection).await?.unwrap_or_default())
}

/// The fence of `projection` as stored, if one is.
pub(crate) async fn read_stored(views: &Table, projection: &str) -> Result<Option<Fence>> {
    let item = views
        .get_item(keys::key(projection, keys::FENCE.to_owned()))
        .consistent_read(true)
        .send_raw()
        .await?;
    Ok(item.map(|item| Fence {
        generation: match item.get(GENERATION) {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or_default(),
            _ => 0,
        },
        up: matches!(item.get(UP), Some(AttributeValue::Bool(true))),
    }))
}

/// Puts the fence of `projection` back as it was (`None`: none stored),
/// unless another reset moved it on from generation `from` since.
pub(crate) async fn restore(
    views: &Table,
    projection: &str,
    fence: Option<Fence>,
    from: u64,
) -> Result<()> {
    match fence {
        Some(fence) => write(views, projection, fence, Some(from)).await.map(drop),
        None => {
            let deleted = views
                .delete_item(keys::key(projection, keys::FENCE.to_owned()))
                .condition(at_generation(views, Some(from)))
                .send()
                .await;
            match deleted {
                Ok(_) => Ok(()),
                Err(e) if e.is_conflict() => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Writes the fence of `projection` when the stored one is at generation
/// `over` (`None`: none is stored); `false` when another reset moved it
/// first (nothing written).
pub(crate) async fn write(
    views: &Table,
    projection: &str,
    fence: Fence,
    over: Option<u64>,
) -> Result<bool> {
    let mut item = Item::new();
    item.insert(GENERATION.to_owned(), number_value(fence.generation));
    item.insert(UP.to_owned(), AttributeValue::Bool(fence.up));
    item.insert("since".to_owned(), string_value(Utc::now().to_rfc3339()));
    let written = views
        .put_item_raw(keys::key(projection, keys::FENCE.to_owned()), item)
        .condition(at_generation(views, over))
        .write_id(false)
        .send()
        .await;
    match written {
        Ok(_) => Ok(true),
        Err(e) if e.is_conflict() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The condition that the stored fence is at generation `over` (`None`:
/// that none is stored).
fn at_generation(views: &Table, over: Option<u64>) -> Condition {
    match over {
        None => Condition::new("attribute_not_exists(#pk)").name("#pk", views.partition_key()),
        Some(generation) => Condition::new("#g = :g")
            .name("#g", GENERATION)
            .value(":g", number_value(generation)),
    }
}

/// The sort key prefix of the workers' heartbeats.
const HEARTBEAT: &str = "w#";

/// A running worker's heartbeat: an item of the projection that the worker
/// writes when it starts and again every third of a lease duration while
/// it reads or writes (also while it catches up from the table, when it
/// holds no lease), and deletes when it stops. A reset writes its fence
/// first and reads the heartbeats after; a worker writes its heartbeat
/// first and reads the fence after: with strongly consistent reads, one of
/// them sees the other. A worker that sees the fence stops beating; a
/// reset that sees a heartbeat beat during one lease duration refuses.
pub(crate) struct Heartbeat {
    views: Table,
    projection: &'static str,
    worker: String,
    every: std::time::Duration,
    beats: std::sync::atomic::AtomicU64,
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Heartbeat {
    pub(crate) fn new(
        views: Table,
        projection: &'static str,
        worker: String,
        lease_duration: std::time::Duration,
    ) -> Self {
        Self {
            views,
            projection,
            worker,
            every: lease_duration / 3,
            beats: std::sync::atomic::AtomicU64::new(0),
            last: std::sync::Mutex::new(None),
        }
    }

    /// Beats now.
    pub(crate) async fn beat(&self) -> Result<()> {
        let beat = self
            .beats
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let mut item = Item::new();
        item.insert("beat".to_owned(), number_value(beat));
        item.insert("at".to_owned(), string_value(Utc::now().to_rfc3339()));
        self.views
            .put_item_raw(
                keys::key(self.projection, format!("{HEARTBEAT}{}", self.worker)),
                item,
            )
            .send()
            .await?;
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::time::Instant::now());
        Ok(())
    }

    /// Beats when a third of a lease duration has passed since the last.
    pub(crate) async fn tick(&self) -> Result<()> {
        let due = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|last| last.elapsed() >= self.every);
        if due {
            self.beat().await?;
        }
        Ok(())
    }

    /// Stops: the heartbeat item goes.
    pub(crate) async fn stop(&self) -> Result<()> {
        self.views
            .delete_item(keys::key(
                self.projection,
                format!("{HEARTBEAT}{}", self.worker),
            ))
            .send()
            .await?;
        Ok(())
    }
}

/// Every heartbeat of `projection`: the worker and its beat count.
pub(crate) async fn heartbeats(views: &Table, projection: &str) -> Result<Vec<(String, u64)>> {
    use futures::TryStreamExt;
    let sort_key = views.sort_key().unwrap_or_default().to_owned();
    let items: Vec<Item> = keys::under(views, projection, HEARTBEAT)
        .stream_raw()
        .try_collect()
        .await?;
    Ok(items
        .into_iter()
        .filter_map(|item| {
            let worker = match item.get(&sort_key) {
                Some(AttributeValue::S(sort)) => sort.strip_prefix(HEARTBEAT)?.to_owned(),
                _ => return None,
            };
            let beat = match item.get("beat") {
                Some(AttributeValue::N(n)) => n.parse().ok()?,
                _ => 0,
            };
            Some((worker, beat))
        })
        .collect())
}
