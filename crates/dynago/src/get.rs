//! Reading one item by key.

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{from_sdk, Result};
use crate::key::Key;
use crate::table::Table;
use crate::telemetry::{record_capacity, request_span, Access};
use crate::value::Item;

/// A `GetItem` request, built by [`Table::get_item`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct GetItem {
    table: Table,
    key: Key,
    consistent_read: bool,
}

impl Table {
    /// Reads the item under `key`.
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Person { name: String }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::{string_value, Key};
    ///
    /// let jon: Option<Person> = table
    ///     .get_item(Key::new(string_value("pk_jon")).sort(string_value("sk_jon")))
    ///     .consistent_read(true)
    ///     .send()
    ///     .await?;
    /// match jon {
    ///     Some(jon) => println!("{}", jon.name),
    ///     None => println!("no such person"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_item(&self, key: Key) -> GetItem {
        GetItem {
            table: self.clone(),
            key,
            consistent_read: false,
        }
    }
}

impl GetItem {
    /// Reads with strong consistency: every write acknowledged before the
    /// request is seen (twice the read cost).
    pub fn consistent_read(mut self, consistent: bool) -> Self {
        self.consistent_read = consistent;
        self
    }

    /// Sends the request: `None` when no item exists under the key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`](crate::Error::InvalidKey) before sending,
    /// [`Error::Deserialize`](crate::Error::Deserialize) when the stored item
    /// is not a `T`, [`Error::TableNotFound`](crate::Error::TableNotFound) and
    /// [`Error::Dynamo`](crate::Error::Dynamo) from DynamoDB.
    pub async fn send<T: DeserializeOwned>(self) -> Result<Option<T>> {
        let table = self.table.clone();
        self.send_raw()
            .await?
            .map(|item| table.read_item(item))
            .transpose()
    }

    /// Sends the request and returns the item as DynamoDB stored it.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), but for deserialization.
    pub async fn send_raw(self) -> Result<Option<Item>> {
        let table = &self.table;
        let key = table.key_item(&self.key)?;
        let span = request_span(table, "GetItem", 1);
        let output = table
            .client()
            .get_item()
            .table_name(table.name())
            .set_key(Some(key))
            .consistent_read(self.consistent_read)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .instrument(span.clone())
            .await
            .map_err(|e| from_sdk(table.name(), "GetItem", e))?;
        record_capacity(
            table,
            "GetItem",
            &span,
            Access::Read,
            output.consumed_capacity(),
        );
        Ok(output.item)
    }
}
