//! View items: how a view and its version are stored, and how they are
//! read back ([`Views`]).

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use dynago::{number_value, string_value, AttributeValue, Item, Table};
use dynago_es::AggregateId;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys;
use crate::projection::Projection;

/// The attribute that holds the view itself, a native DynamoDB map.
pub(crate) const VIEW: &str = "view";
/// The version of the last event applied to an aggregate's view, or the
/// position of a source aggregate.
pub(crate) const VERSION: &str = "version";
/// How many times a keyed view was written (its optimistic lock).
pub(crate) const REVISION: &str = "revision";
const UPDATED_AT: &str = "updated_at";

/// A view as stored, with what says how far it got.
///
/// ```
/// # fn show(view: dynago_projections::StoredView<u64>) {
/// println!("{} = {:?} (version {})", view.key, view.view, view.version);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredView<V> {
    /// The aggregate id of a per-aggregate view, the key of a keyed one.
    pub key: String,
    /// The view.
    pub view: V,
    /// For a per-aggregate view, the version of the last event applied;
    /// for a keyed view, how many events changed it.
    pub version: u64,
    /// When it was last written.
    pub updated_at: Option<DateTime<Utc>>,
}

/// One page of views, and where the next begins.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ViewPage<V> {
    /// The views of this page, in key order.
    pub views: Vec<StoredView<V>>,
    /// Pass it to [`Views::list`] for the next page; `None` on the last.
    pub cursor: Option<String>,
}

/// The views of projection `P`, read from the view table: what an API or a
/// report reads, never the events.
///
/// ```no_run
/// # async fn run<P: dynago_projections::Projection>(views: dynago::Table) -> dynago_projections::Result<()> {
/// use dynago_projections::Views;
///
/// let views = Views::<P>::new(views)?;
/// let page = views.list(None, 50).await?;
/// for view in page.views {
///     println!("{}: {:?}", view.key, view.view);
/// }
/// # Ok(())
/// # }
/// ```
pub struct Views<P: Projection> {
    table: Table,
    projection: PhantomData<fn() -> P>,
}

impl<P: Projection> Clone for Views<P> {
    fn clone(&self) -> Self {
        Self {
            table: self.table.clone(),
            projection: PhantomData,
        }
    }
}

impl<P: Projection> std::fmt::Debug for Views<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views")
            .field("projection", &P::NAME)
            .field("table", &self.table.name())
            .finish()
    }
}

impl<P: Projection> Views<P> {
    /// The views of `P` in `table`, a table with a string partition key and
    /// a string sort key.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the table has no sort key or `P::NAME` is not
    /// a usable name.
    pub fn new(table: Table) -> Result<Self> {
        keys::check_name(P::NAME).map_err(Error::Config)?;
        if table.sort_key().is_none() {
            return Err(Error::Config(format!(
                "the view table `{}` needs a sort key",
                table.name()
            )));
        }
        Ok(Self {
            table,
            projection: PhantomData,
        })
    }

    /// The views of `P` in a table already checked.
    pub(crate) fn new_unchecked(table: Table) -> Self {
        Self {
            table,
            projection: PhantomData,
        }
    }

    /// The view table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The view of aggregate `id` (per-aggregate projections), read
    /// strongly: `None` before its first event was applied.
    ///
    /// # Errors
    ///
    /// [`Error::Table`] when the read fails, [`Error::CorruptView`] when the
    /// item is not a view.
    pub async fn get(&self, id: impl Into<AggregateId>) -> Result<Option<StoredView<P::View>>> {
        self.read(keys::aggregate_view(&id.into())).await
    }

    /// The view under `key` (keyed projections), read strongly.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn get_keyed(&self, key: &str) -> Result<Option<StoredView<P::View>>> {
        self.read(keys::keyed_view(key)).await
    }

    async fn read(&self, sort: String) -> Result<Option<StoredView<P::View>>> {
        let item = self
            .table
            .get_item(keys::key(P::NAME, sort.clone()))
            .consistent_read(true)
            .send_raw()
            .await?;
        item.map(|item| decode::<P>(&self.table, item)).transpose()
    }

    /// A page of at most `limit` views in key order, from `cursor` (a
    /// page's [`ViewPage::cursor`]) or from the first.
    ///
    /// # Errors
    ///
    /// [`Error::Table`] when the query fails or the cursor is not one of
    /// this table's; [`Error::CorruptView`] for an item that is not a view.
    pub async fn list(&self, cursor: Option<&str>, limit: u32) -> Result<ViewPage<P::View>> {
        let prefix = match P::VIEWS {
            crate::ViewKind::PerAggregate => keys::AGGREGATE_VIEW,
            crate::ViewKind::Keyed => keys::KEYED_VIEW,
        };
        let sort_key = self.table.sort_key().unwrap_or_default().to_owned();
        let mut query = self
            .table
            .query("#pk = :pk AND begins_with(#sk, :prefix)")
            .name("#pk", self.table.partition_key())
            .name("#sk", sort_key)
            .value(":pk", string_value(P::NAME))
            .value(":prefix", string_value(prefix))
            .limit(limit.max(1));
        if let Some(cursor) = cursor {
            query = query.cursor(cursor);
        }
        let page = query.send_raw().await?;
        Ok(ViewPage {
            views: page
                .items
                .into_iter()
                .map(|item| decode::<P>(&self.table, item))
                .collect::<Result<_>>()?,
            cursor: page.cursor,
        })
    }
}

/// What a view item says besides its view.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stamp {
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    revision: Option<u64>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

/// Reads a view item.
pub(crate) fn decode<P: Projection>(table: &Table, mut item: Item) -> Result<StoredView<P::View>> {
    let sort = match item.get(table.sort_key().unwrap_or_default()) {
        Some(AttributeValue::S(sort)) => sort.clone(),
        _ => String::new(),
    };
    let corrupt = |reason: String| Error::CorruptView {
        projection: P::NAME.to_owned(),
        key: sort.clone(),
        reason,
    };
    let key = sort
        .strip_prefix(keys::AGGREGATE_VIEW)
        .or_else(|| sort.strip_prefix(keys::KEYED_VIEW))
        .ok_or_else(|| corrupt("its sort key is not a view's".into()))?
        .to_owned();
    let view = item
        .remove(VIEW)
        .ok_or_else(|| corrupt(format!("it has no attribute `{VIEW}`")))?;
    let view: P::View = serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(view)
        .map_err(|e| corrupt(format!("its view does not deserialize: {e}")))?;
    let stamp: Stamp = serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| corrupt(format!("its version does not read: {e}")))?;
    Ok(StoredView {
        key,
        view,
        version: stamp.version.or(stamp.revision).unwrap_or(0),
        updated_at: stamp.updated_at,
    })
}

/// The item of a view: the view as a map, and when it was written (the
/// version or revision is added by the write's lock).
pub(crate) fn encode<P: Projection>(sort: &str, view: &P::View) -> Result<Item> {
    let value = dynago::item::to_attribute_value(view).map_err(|e| Error::Serialize {
        projection: P::NAME.to_owned(),
        key: sort.to_owned(),
        reason: e.to_string(),
    })?;
    let mut item = Item::new();
    item.insert(VIEW.to_owned(), value);
    item.insert(UPDATED_AT.to_owned(), string_value(Utc::now().to_rfc3339()));
    Ok(item)
}

/// The condition that a source aggregate's position item holds `stored`
/// (0: that there is none).
pub(crate) fn position_held(stored: u64) -> dynago::Condition {
    if stored == 0 {
        dynago::Condition::new("attribute_not_exists(#v)").name("#v", VERSION)
    } else {
        dynago::Condition::new("#v = :held")
            .name("#v", VERSION)
            .value(":held", number_value(stored))
    }
}

/// The item of a source aggregate's position in keyed views.
pub(crate) fn position_item(version: u64) -> Item {
    let mut item = Item::new();
    item.insert(VERSION.to_owned(), number_value(version));
    item
}

/// The number stored under `attribute` of the item under `sort`: 0 when
/// there is no such attribute, an error when it is not a whole number (a
/// position read as 0 would apply its events again).
pub(crate) fn number_of<P: Projection>(item: &Item, attribute: &str, sort: &str) -> Result<u64> {
    match item.get(attribute) {
        None => Ok(0),
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| Error::CorruptView {
            projection: P::NAME.to_owned(),
            key: sort.to_owned(),
            reason: format!("its `{attribute}` is not a whole number: {n}"),
        }),
        Some(other) => Err(Error::CorruptView {
            projection: P::NAME.to_owned(),
            key: sort.to_owned(),
            reason: format!("its `{attribute}` is not a number: {other:?}"),
        }),
    }
}
