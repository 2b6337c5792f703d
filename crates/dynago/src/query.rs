//! Queries: one page at a time with a resumable cursor, or as a stream.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, Select};
use futures::stream::{self, Stream, TryStreamExt};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::cursor::{check_key, Scope};
use crate::error::{from_sdk, unusable_answer, Result};
use crate::item::from_item;
use crate::table::Table;
use crate::telemetry::{record_capacity, request_span};
use crate::value::Item;

/// The most items a filtered query with a limit asks DynamoDB to read in one
/// request (which stops at 1 MB anyway).
const MAX_FILTERED_READ: usize = 10_000;

/// DynamoDB's answer to one `Query` request.
struct Answer {
    /// The items the filter kept.
    items: Vec<Item>,
    /// How many items were read (before the filter).
    read: u64,
    /// Where the read stopped, if not at the end.
    last_key: Option<Item>,
}

/// A query on a table or one of its indexes, built by [`Table::query`].
///
/// `send` returns one [`Page`]; `stream` and `pages` page for you.
#[derive(Debug, Clone)]
#[must_use = "a query does nothing until it is sent"]
pub struct Query {
    table: Table,
    key_condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    index: Option<String>,
    ascending: bool,
    limit: Option<u32>,
    filter: Option<String>,
    projection: Option<String>,
    consistent_read: bool,
    cursor: Option<String>,
    /// What the filter kept of the items read by the pages before this one.
    seen: Seen,
}

/// How many items a filtered query read, and how many of them the filter
/// kept: the measure by which it sizes its next request.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    read: u64,
    kept: u64,
}

impl Seen {
    /// How many items to ask DynamoDB to read for `wanted` more: as many as
    /// the filter has needed per item kept so far, and a quarter more; when
    /// it has kept nothing yet, as many again as were read so far. Never
    /// fewer than `wanted`.
    fn ask(self, wanted: usize) -> usize {
        let wanted_u64 = u64::try_from(wanted).unwrap_or(u64::MAX);
        let ask = if self.kept > 0 {
            wanted_u64
                .saturating_mul(self.read)
                .saturating_mul(5)
                .div_ceil(self.kept.saturating_mul(4))
        } else {
            self.read
        };
        usize::try_from(ask)
            .unwrap_or(usize::MAX)
            .clamp(wanted, MAX_FILTERED_READ.max(wanted))
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items of this page, in the query's order.
    pub items: Vec<T>,
    /// Where the next page starts, if DynamoDB may have more items: pass it to
    /// [`Query::cursor`]. A URL-safe string to hand to a client and take
    /// back: signed, so that an altered or foreign one is refused, but not
    /// encrypted (anyone can decode the key of the last item it holds).
    pub cursor: Option<String>,
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
    pub fn query(&self, key_condition: impl Into<String>) -> Query {
        Query {
            table: self.clone(),
            key_condition: key_condition.into(),
            names: HashMap::new(),
            values: HashMap::new(),
            index: None,
            ascending: true,
            limit: None,
            filter: None,
            projection: None,
            consistent_read: false,
            cursor: None,
            seen: Seen::default(),
        }
    }
}

impl Query {
    /// Defines the value placeholder `placeholder` (`:value`) used in the key
    /// condition or the filter.
    pub fn value(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    /// Defines the name placeholder `placeholder` (`#name`) as `attribute`.
    pub fn name(mut self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    /// Queries the index `index` instead of the table.
    pub fn index(mut self, index: impl Into<String>) -> Self {
        self.index = Some(index.into());
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
        self.limit = Some(limit.max(1));
        self
    }

    /// Keeps only the items for which `filter` holds (evaluated after the
    /// read: filtered items still cost read capacity).
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Reads only the attributes named in `projection` (such as `"pk, sk, #n"`).
    pub fn projection(mut self, projection: impl Into<String>) -> Self {
        self.projection = Some(projection.into());
        self
    }

    /// Reads with strong consistency (not available on global secondary indexes).
    pub fn consistent_read(mut self, consistent: bool) -> Self {
        self.consistent_read = consistent;
        self
    }

    /// Starts after the place that `cursor`, from an earlier [`Page`] of the
    /// same query, points at.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            table: self.table.name(),
            index: self.index.as_deref(),
            key_condition: &self.key_condition,
            names: &self.names,
            values: &self.values,
            ascending: self.ascending,
        }
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
        self.decode(self.send_raw().await?)
    }

    /// The items of `page` as `T`s.
    fn decode<T: DeserializeOwned>(&self, page: Page<Item>) -> Result<Page<T>> {
        let Page { items, cursor } = page;
        let table = &self.table;
        let items = items
            .into_iter()
            .map(|item| from_item(item, table.name(), |i| table.describe(i)))
            .collect::<Result<_>>()?;
        Ok(Page { items, cursor })
    }

    /// Sends the query and returns one page of items as DynamoDB stored them.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), but for deserialization.
    pub async fn send_raw(&self) -> Result<Page<Item>> {
        Ok(self.fetch().await?.0)
    }

    /// One page, and what the filter kept of the items read for it and the
    /// pages before.
    async fn fetch(&self) -> Result<(Page<Item>, Seen)> {
        let mut start = match &self.cursor {
            Some(cursor) => {
                let key = self.table.cursor_key().decode(&self.scope(), cursor)?;
                check_key(
                    self.table.name(),
                    self.table.keys(),
                    self.index.as_deref(),
                    &key,
                )?;
                Some(key)
            }
            None => None,
        };
        // With a filter, a limit of n makes DynamoDB read n items, of which
        // the filter may keep few: further requests read as many items as
        // the filter has needed so far per item kept (see `Seen::ask`), and
        // a page that brings more than the limit is cut, its cursor made
        // from the last item kept.
        let cut_by = match (self.limit, &self.filter) {
            (Some(_), Some(_)) => self.page_key_names().await,
            _ => None,
        };
        let mut seen = self.seen;
        let mut items: Vec<Item> = Vec::new();
        loop {
            let remaining = self.limit.map(|limit| limit as usize - items.len());
            let ask = match (remaining, &cut_by) {
                (Some(remaining), Some(_)) => Some(seen.ask(remaining)),
                (remaining, _) => remaining,
            };
            let answer = self.request(start.take(), ask).await?;
            seen.read += answer.read;
            seen.kept += u64::try_from(answer.items.len()).unwrap_or(u64::MAX);
            let (mut page, mut last_key) = (answer.items, answer.last_key);
            if let (Some(remaining), Some(names)) = (remaining, &cut_by) {
                if page.len() > remaining {
                    page.truncate(remaining);
                    last_key = page
                        .last()
                        .map(|item| self.key_of(item, names))
                        .transpose()?;
                }
            }
            items.extend(page);
            start = last_key;
            let page_full = match self.limit {
                Some(limit) => items.len() >= limit as usize,
                None => true,
            };
            if start.is_none() || page_full {
                break;
            }
        }
        let cursor = start
            .map(|key| self.table.cursor_key().encode(&self.scope(), &key))
            .transpose()?;
        Ok((Page { items, cursor }, seen))
    }

    /// The query of the page after one fetched with `cursor` and `seen`.
    fn next_page(&self, cursor: Option<String>, seen: Seen) -> Option<Query> {
        cursor.map(|cursor| Query {
            seen,
            ..self.clone().cursor(cursor)
        })
    }

    /// The attributes a page's cursor holds: the table's key and, for an
    /// index, the index's key. `None` when a page cannot be cut: a
    /// projection may leave them out of the items, and the index's key names
    /// may not be known (the table cannot be described).
    async fn page_key_names(&self) -> Option<Vec<String>> {
        if self.projection.is_some() {
            return None;
        }
        let keys = self.table.keys();
        let mut names: Vec<String> = std::iter::once(keys.partition.clone())
            .chain(keys.sort.clone())
            .collect();
        if let Some(index) = &self.index {
            match self.table.index_key_names(index).await {
                Ok(Some(index_keys)) => names.extend(index_keys),
                Ok(None) => return None,
                Err(error) => {
                    tracing::debug!(
                        table = self.table.name(),
                        %error,
                        "cannot describe the table now: this page reads no more than it lacks"
                    );
                    return None;
                }
            }
        }
        names.sort();
        names.dedup();
        Some(names)
    }

    /// The key of `item` made of the attributes `names`, to resume after it.
    fn key_of(&self, item: &Item, names: &[String]) -> Result<Item> {
        names
            .iter()
            .map(|name| match item.get(name) {
                Some(value) => Ok((name.clone(), value.clone())),
                None => Err(unusable_answer(
                    self.table.name(),
                    "Query",
                    format!("an item of the query lacks the key attribute `{name}`"),
                )),
            })
            .collect()
    }

    /// One DynamoDB `Query` request.
    async fn request(&self, start: Option<Item>, limit: Option<usize>) -> Result<Answer> {
        let table = &self.table;
        let span = request_span(table, "Query", 0);
        let output = table
            .client()
            .query()
            .table_name(table.name())
            .set_index_name(self.index.clone())
            .key_condition_expression(&self.key_condition)
            .set_filter_expression(self.filter.clone())
            .set_projection_expression(self.projection.clone())
            .set_select(self.projection.as_ref().map(|_| Select::SpecificAttributes))
            .set_expression_attribute_names((!self.names.is_empty()).then(|| self.names.clone()))
            .set_expression_attribute_values((!self.values.is_empty()).then(|| self.values.clone()))
            .scan_index_forward(self.ascending)
            .consistent_read(self.consistent_read)
            .set_limit(limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .instrument(span.clone())
            .await
            .map_err(|e| from_sdk(table.name(), "Query", e))?;
        record_capacity(&span, output.consumed_capacity());
        let items = output.items.unwrap_or_default();
        span.record("dynago.items", items.len());
        Ok(Answer {
            read: u64::try_from(output.scanned_count).unwrap_or(0),
            items,
            last_key: output.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }

    /// Every page of the query, one after the other, starting at the
    /// [`cursor`](Self::cursor) if one is set. Each page is what
    /// [`send`](Self::send) returns; the stream ends after the page without a
    /// cursor, or after the first error.
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> impl Stream<Item = Result<Page<T>>> + Send + 'static {
        stream::try_unfold(Some(self), |query| async move {
            let Some(query) = query else {
                return Ok(None);
            };
            let (page, seen) = query.fetch().await?;
            let next = query.next_page(page.cursor.clone(), seen);
            Ok(Some((query.decode::<T>(page)?, next)))
        })
    }

    /// Every item of the query as DynamoDB stored it, paging as it goes.
    pub fn stream_raw(self) -> impl Stream<Item = Result<Item>> + Send + 'static {
        stream::try_unfold(Some(self), |query| async move {
            let Some(query) = query else {
                return Ok(None);
            };
            let (page, seen) = query.fetch().await?;
            let next = query.next_page(page.cursor.clone(), seen);
            Ok(Some((stream::iter(page.items.into_iter().map(Ok)), next)))
        })
        .try_flatten()
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
        self.pages::<T>()
            .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
            .try_flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::{Seen, MAX_FILTERED_READ};

    #[test]
    fn a_filtered_query_sizes_its_requests_by_what_the_filter_kept() {
        // Nothing read yet: as many as the page lacks.
        assert_eq!(Seen::default().ask(10), 10);
        // Nothing kept yet: as many again as all read so far.
        assert_eq!(Seen { read: 40, kept: 0 }.ask(10), 40);
        // One kept in 7: 7 read per item wanted, and a quarter more.
        assert_eq!(Seen { read: 70, kept: 10 }.ask(4), 35);
        // Never fewer than wanted, nor more than the bound (unless wanted).
        assert_eq!(Seen { read: 10, kept: 10 }.ask(8), 10);
        assert_eq!(Seen { read: 3, kept: 0 }.ask(8), 8);
        assert_eq!(
            Seen {
                read: u64::MAX,
                kept: 1
            }
            .ask(5),
            MAX_FILTERED_READ
        );
        assert_eq!(Seen::default().ask(20_000), 20_000);
    }
}
