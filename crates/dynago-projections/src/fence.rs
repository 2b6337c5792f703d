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
use dynago::{number_value, string_value, AttributeValue, Item, Table};

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
    let item = views
        .get_item(keys::key(projection, keys::FENCE.to_owned()))
        .consistent_read(true)
        .send_raw()
        .await?;
    Ok(item.map_or_else(Fence::default, |item| Fence {
        generation: match item.get(GENERATION) {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or_default(),
            _ => 0,
        },
        up: matches!(item.get(UP), Some(AttributeValue::Bool(true))),
    }))
}

/// Writes the fence of `projection`.
pub(crate) async fn write(views: &Table, projection: &str, fence: Fence) -> Result<()> {
    let mut item = Item::new();
    item.insert(GENERATION.to_owned(), number_value(fence.generation));
    item.insert(UP.to_owned(), AttributeValue::Bool(fence.up));
    item.insert("since".to_owned(), string_value(Utc::now().to_rfc3339()));
    views
        .put_item_raw(keys::key(projection, keys::FENCE.to_owned()), item)
        .send()
        .await?;
    Ok(())
}
