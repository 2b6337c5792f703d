//! Records: types that know their own key (and version), declared once,
//! then saved and loaded without building a key at each call.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::item::to_item;
use crate::key::Key;
use crate::table::Table;
use crate::value::{number_value, parse_number, Item};

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
    /// first: load the record again and redo the change. Before anything is
    /// sent: [`Error::Serialize`] when the record does not serialize into an
    /// item, writes no top-level attribute of that name or no whole number
    /// in it, or does not read back as it is written (a field skipped when
    /// serialized, a version field too narrow for the next version);
    /// [`Error::VersionExhausted`] at version `u64::MAX`. Then the errors
    /// of [`put_item`](Table::put_item).
    pub async fn save<R: Record>(&self, record: &R) -> Result<R> {
        let key = R::key(&record.id());
        let item = to_item(record)?;
        let mut stored = item.clone();
        let lock = match R::VERSION {
            Some(attribute) => {
                let version = version_of::<R>(&item, attribute)?;
                let next = version
                    .checked_add(1)
                    .ok_or_else(|| Error::VersionExhausted {
                        table: self.name().to_owned(),
                        attribute: attribute.to_owned(),
                    })?;
                stored.insert(attribute.to_owned(), number_value(next));
                Some((attribute, version))
            }
            None => None,
        };
        // What the caller gets back is read from the item as it will be
        // stored, before it is sent: a record that does not read back as
        // written is refused while nothing is written.
        let saved = read_back::<R>(&stored)?;
        let mut put = self.put_item_raw(key, item);
        if let Some((attribute, version)) = lock {
            put = put.optimistic_lock(attribute, version);
        }
        put.send().await?;
        Ok(saved)
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

/// The version of a record, from the attribute `attribute` of its item.
fn version_of<R: Record>(item: &Item, attribute: &str) -> Result<u64> {
    let refused = |reason: String| Error::Serialize {
        what: format!(
            "the version attribute `{attribute}` of {}",
            std::any::type_name::<R>()
        ),
        source: <serde_dynamo::Error as serde::ser::Error>::custom(reason),
    };
    match item.get(attribute) {
        None => Err(refused(format!(
            "the record writes no top-level attribute `{attribute}` (a renamed or nested field?)"
        ))),
        Some(value) => parse_number::<u64>(value)
            .ok_or_else(|| refused(format!("{value:?} is not a whole number of at least 0"))),
    }
}

/// The record an item holds, when it reads back as it is written:
/// deserialized, and serialized again into the same item.
fn read_back<R: Record>(item: &Item) -> Result<R> {
    let refused = |reason: String| Error::Serialize {
        what: format!("{} as it would be stored", std::any::type_name::<R>()),
        source: <serde_dynamo::Error as serde::ser::Error>::custom(reason),
    };
    let record: R = serde_dynamo::aws_sdk_dynamodb_1::from_item(item.clone())
        .map_err(|error| refused(format!("it does not read back: {error}")))?;
    if to_item(&record)? != *item {
        return Err(refused(
            "it reads back as another record than the one written".to_owned(),
        ));
    }
    Ok(record)
}
