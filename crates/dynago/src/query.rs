//! Queries: one page at a time with a resumable cursor, or as a stream.

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use futures::stream::Stream;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::cursor::{Kind, Scope};
use crate::error::{from_sdk, Result};
use crate::expr::{Expression, Projection};
use crate::paging::{self, Answer, Page, Read, ReadParts};
use crate::table::Table;
use crate::telemetry::read_span;
use crate::value::Item;
use crate::value::Value;

/// A query on a table or one of its indexes, built by [`Table::query`].
///
/// `send` returns one [`Page`]; `stream` and `pages` page for you.
#[derive(Debug, Clone)]
#[must_use = "a query does nothing until it is sent"]
pub struct Query {
    parts: ReadParts,
    key_condition: String,
    ascending: bool,
}

impl Table {
    /// A query with the key condition `key_condition`, whose placeholders are
    /// defined with [`Query::value`] and [`Query::name`].
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Person { name: String }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::string_value;
    ///
    /// let page = table
    ///     .query("pk = :pk_val")
    ///     .value(":pk_val", string_value("merchant#id"))
    ///     .send::<Person>()
    ///     .await?;
    /// for person in page.items {
    ///     println!("{}", person.name);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// The key condition may also be typed, its placeholders generated (see
    /// [`expr`](crate::expr)):
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Order { total: u64 }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::expr::attr;
    ///
    /// let page = table
    ///     .query(attr("pk").eq("customer#42").and(attr("sk").between(100, 200)))
    ///     .filter(attr("status").eq("shipped"))
    ///     .projection([attr("total")])
    ///     .send::<Order>()
    ///     .await?;
    /// # let _ = page;
    /// # Ok(())
    /// # }
    /// ```
    pub fn query(&self, key_condition: impl Into<Expression>) -> Query {
        let mut parts = ReadParts::new(self.clone());
        let key_condition = parts.take(key_condition.into().compile("k"));
        Query {
            parts,
            key_condition,
            ascending: true,
        }
    }
}

impl Query {
    /// Defines the value placeholder `placeholder` (`:value`) used in the key
    /// condition or the filter.
    pub fn value(mut self, placeholder: impl Into<String>, value: impl Into<Value>) -> Self {
        self.parts
            .values
            .insert(placeholder.into(), value.into().into());
        self
    }

    /// Defines the name placeholder `placeholder` (`#name`) as `attribute`.
    pub fn name(mut self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.parts
            .names
            .insert(placeholder.into(), attribute.into());
        self
    }

    /// Queries the index `index` instead of the table.
    pub fn index(mut self, index: impl Into<String>) -> Self {
        self.parts.index = Some(index.into());
        self
    }

    /// Orders by sort key ascending (`true`, the default) or descending.
    pub fn ascending(mut self, ascending: bool) -> Self {
        self.ascending = ascending;
        self
    }

    /// Orders by sort key descending.
    pub fn descending(self) -> Self {
        self.ascending(false)
    }

    /// Returns at most `limit` items per page.
    ///
    /// Unlike DynamoDB's own `Limit`, which counts the items *evaluated*
    /// before a filter, this counts the items *returned*: a page holds
    /// `limit` items unless the query runs out, sending more requests if a
    /// filter or the 1 MB page size left it short (with a filter, each one
    /// sized by how many items the filter has needed per item kept). The
    /// cursor then points at the last item returned, so the next page starts
    /// right after it: nothing skipped, nothing repeated.
    pub fn limit(mut self, limit: u32) -> Self {
        self.parts.limit = Some(limit.max(1));
        self
    }

    /// Keeps only the items for which `filter` holds (evaluated after the
    /// read: filtered items still cost read capacity).
    /// A string (its placeholders defined with [`name`](Self::name) and
    /// [`value`](Self::value)) or a typed [`Expr`](crate::expr::Expr); set
    /// once.
    pub fn filter(mut self, filter: impl Into<Expression>) -> Self {
        self.parts.filter = Some(self.parts.take(filter.into().compile("f")));
        self
    }

    /// Reads only the attributes named in `projection`: a string (such as
    /// `"pk, sk, #n"`) or typed paths (`[attr("pk"), attr("name")]`); set once.
    pub fn projection(mut self, projection: impl Into<Projection>) -> Self {
        self.parts.projection = Some(self.parts.take(projection.into().compile("p")));
        self
    }

    /// Reads with strong consistency (not available on global secondary indexes).
    pub fn consistent_read(mut self, consistent: bool) -> Self {
        self.parts.consistent_read = consistent;
        self
    }

    /// Starts after the place that `cursor`, from an earlier [`Page`] of the
    /// same query, points at.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.parts.cursor = Some(cursor.into());
        self
    }

    /// Sends the query and returns one page.
    ///
    /// With a [`limit`](Self::limit), the page holds up to that many items;
    /// without, it is one DynamoDB response (up to 1 MB of items read).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCursor`](crate::Error::InvalidCursor) before sending,
    /// [`Error::Deserialize`](crate::Error::Deserialize) for an item that is
    /// not a `T`, [`Error::TableNotFound`](crate::Error::TableNotFound) and
    /// [`Error::Dynamo`](crate::Error::Dynamo) from DynamoDB (such as a
    /// malformed expression).
    pub async fn send<T: DeserializeOwned>(&self) -> Result<Page<T>> {
        paging::decode(&self.parts.table, self.send_raw().await?)
    }

    /// Sends the query and returns one page of items as DynamoDB stored them.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), but for deserialization.
    pub async fn send_raw(&self) -> Result<Page<Item>> {
        Ok(paging::fetch(self).await?.0)
    }

    /// One DynamoDB `Query` request.
    async fn send_request(&self, start: Option<Item>, limit: Option<usize>) -> Result<Answer> {
        let parts = &self.parts;
        parts.check(Some(&self.key_condition))?;
        let table = &parts.table;
        let span = read_span(table, "Query");
        let output = table
            .client()
            .query()
            .table_name(table.name())
            .set_index_name(parts.index.clone())
            .key_condition_expression(&self.key_condition)
            .set_filter_expression(parts.filter.clone())
            .set_projection_expression(parts.projection.clone())
            .set_select(parts.select())
            .set_expression_attribute_names(parts.request_names())
            .set_expression_attribute_values(parts.request_values())
            .scan_index_forward(self.ascending)
            .consistent_read(parts.consistent_read)
            .set_limit(limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .instrument(span.clone())
            .await
            .map_err(|e| from_sdk(table.name(), "Query", e))?;
        Ok(Answer::new(
            table,
            "Query",
            &span,
            output.items,
            output.scanned_count,
            output.last_evaluated_key,
            output.consumed_capacity.as_ref(),
        ))
    }

    /// Every page of the query, one after the other, starting at the
    /// [`cursor`](Self::cursor) if one is set. Each page is what
    /// [`send`](Self::send) returns; the stream ends after the page without a
    /// cursor, or after the first error.
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> impl Stream<Item = Result<Page<T>>> + Send + 'static {
        paging::pages(self)
    }

    /// Every item of the query as DynamoDB stored it, paging as it goes.
    pub fn stream_raw(self) -> impl Stream<Item = Result<Item>> + Send + 'static {
        paging::raw_items(self)
    }

    /// Every item of the query, paging as it goes. The [`limit`](Self::limit),
    /// if set, is the size of each page read.
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Order { total: u64 }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use dynago::string_value;
    /// use futures::TryStreamExt;
    ///
    /// let orders: Vec<Order> = table
    ///     .query("pk = :pk")
    ///     .value(":pk", string_value("customer#42"))
    ///     .stream()
    ///     .try_collect()
    ///     .await?;
    /// # let _ = orders;
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> impl Stream<Item = Result<T>> + Send + 'static {
        paging::items(self)
    }
}

impl Read for Query {
    const OPERATION: &'static str = "Query";

    fn parts(&self) -> &ReadParts {
        &self.parts
    }

    fn parts_mut(&mut self) -> &mut ReadParts {
        &mut self.parts
    }

    fn scope(&self) -> Scope<'_> {
        self.parts
            .scope(Kind::Query, &self.key_condition, self.ascending)
    }

    async fn request(&self, start: Option<Item>, limit: Option<usize>) -> Result<Answer> {
        self.send_request(start, limit).await
    }
}
