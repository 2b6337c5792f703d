//! Records: types that know their own key (and version), declared once,
//! then saved and loaded without building a key at each call.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::item::{from_item, to_item};
use crate::key::Key;
use crate::table::Table;
use crate::value::{number_value, parse_number};

/// A type kept as one item of a table, that knows its key: its id type, how
/// an id makes a key, and the numeric attribute holding its version when
/// every save is guarded by an optimistic lock. [`Table::save`] and
/// [`Table::load`] then take the record or its id alone; `put_item` and
/// `get_item` stay for everything else.
///
/// ```no_run
/// use dynago::{Key, Record};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Customer {
///     id: u64,
///     name: String,
///     version: u64,
/// }
///
/// impl Record for Customer {
///     type Id = u64;
///     const VERSION: Option<&'static str> = Some("version");
///
///     fn id(&self) -> u64 {
///         self.id
///     }
///
///     fn key(id: &u64) -> Key {
///         Key::new(format!("customer#{id}")).sort("profile")
///     }
/// }
///
/// # async fn run(table: dynago::Table) -> dynago::Result<()> {
/// let ada = Customer { id: 7, name: "Ada".into(), version: 0 };
/// let ada = table.save(&ada).await?; // stored as version 1
/// let mut found = table.load::<Customer>(&7).await?.expect("saved");
/// found.name = "Ada L.".into();
/// table.save(&found).await?; // version 2, unless another save came first
/// assert!(table.save(&ada).await.unwrap_err().is_conflict()); // version 1 is stale
/// # Ok(())
/// # }
/// ```
pub trait Record: Serialize + DeserializeOwned {
    /// What names one record: a number, a string, a tuple of the parts of
    /// its key.
    type Id;

    /// The numeric attribute that holds the record's version, when every
    /// [`save`](Table::save) is guarded by an optimistic lock on it (see
    /// [`OptimisticLock`](crate::OptimisticLock)); `None` (the default)
    /// saves without a condition.
    const VERSION: Option<&'static str> = None;

    /// This record's id.
    fn id(&self) -> Self::Id;

    /// The key of the record named `id`.
    fn key(id: &Self::Id) -> Key;
}

impl Table {
    /// Writes `record` under its key (one `PutItem`, 1 write unit per
    /// started KB) and returns it as stored. With a
    /// [`VERSION`](Record::VERSION) attribute the write holds only if the
    /// stored item still carries the version `record` has (0: no item yet),
    /// and the record is stored, and returned, with the version after it.
    ///
    /// # Errors
    ///
    /// [`Error::VersionConflict`] (`is_conflict()`) when another save came
    /// first: load the record again and redo the change;
    /// [`Error::Serialize`] when the record does not serialize into an item,
    /// or its version attribute is not a whole number; the errors of
    /// [`put_item`](Table::put_item).
    pub async fn save<R: Record>(&self, record: &R) -> Result<R> {
        let key = R::key(&record.id());
        let mut item = to_item(record)?;
        let mut put = self.put_item_raw(key, item.clone());
        if let Some(attribute) = R::VERSION {
            let version = match item.get(attribute) {
                None => 0,
                Some(value) => parse_number::<u64>(value).ok_or_else(|| Error::Serialize {
                    what: format!(
                        "the version attribute `{attribute}` of {}",
                        std::any::type_name::<R>()
                    ),
                    source: <serde_dynamo::Error as serde::ser::Error>::custom(format!(
                        "{value:?} is not a whole number of at least 0"
                    )),
                })?,
            };
            put = put.optimistic_lock(attribute, version);
            item.insert(
                attribute.to_owned(),
                number_value(version.saturating_add(1)),
            );
        }
        put.send().await?;
        from_item(item, self.name(), |_| {
            format!("{} as saved", std::any::type_name::<R>())
        })
    }

    /// The record named `id`, read with a strongly consistent `GetItem` (1
    /// read unit per started 4 KB): what a [`save`](Table::save) reads
    /// before it changes a record, so that its version is the latest.
    /// `None` when there is none.
    ///
    /// # Errors
    ///
    /// The errors of [`get_item`](Table::get_item): an item that does not
    /// deserialize into `R` is [`Error::Deserialize`].
    pub async fn load<R: Record>(&self, id: &R::Id) -> Result<Option<R>> {
        self.get_item(R::key(id)).consistent_read(true).send().await
    }
}
