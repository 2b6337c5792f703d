//! What queries and scans share: what they hold ([`ReadParts`]), the pages
//! they return ([`Page`]), a limit that counts the items returned, a signed
//! cursor on every page that is not the last, and streams of pages and
//! items. Each read says how to send one request ([`Read`]); the paging
//! loop is here, once.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, Select};
use futures::stream::{self, Stream, TryStreamExt};
use serde::de::DeserializeOwned;
use tracing::Span;

use crate::cursor::{check_key, Kind, Scope};
use crate::error::{unusable_answer, Result};
use crate::expr::{check_request, Compiled, Invalid};
use crate::table::Table;
use crate::telemetry::{record_capacity, Access};
use crate::value::Item;

/// The most items a filtered read with a limit asks DynamoDB to read in one
/// request (which stops at 1 MB anyway).
const MAX_FILTERED_READ: usize = 10_000;

/// One page of query or scan results.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items of this page, in the query's order.
    pub items: Vec<T>,
    /// Where the next page starts, if DynamoDB may have more items: pass it to
    /// [`Query::cursor`](crate::Query::cursor) (or
    /// [`Scan::cursor`](crate::Scan::cursor)). A URL-safe string to hand to a
    /// client and take back: signed, so that an altered or foreign one is
    /// refused, but not encrypted (anyone can decode the key of the last item
    /// it holds).
    pub cursor: Option<String>,
}

/// DynamoDB's answer to one `Query` or `Scan` request.
pub(crate) struct Answer {
    /// The items the filter kept.
    items: Vec<Item>,
    /// How many items were read (before the filter).
    read: u64,
    /// Where the read stopped, if not at the end.
    last_key: Option<Item>,
}

impl Answer {
    /// The answer of a request of `operation` on `table` that ran in
    /// `span`, whose item count and consumed capacity are recorded there
    /// (each once), the capacity also in its metric.
    pub(crate) fn new(
        table: &Table,
        operation: &'static str,
        span: &Span,
        items: Option<Vec<Item>>,
        scanned_count: i32,
        last_key: Option<Item>,
        capacity: Option<&ConsumedCapacity>,
    ) -> Self {
        record_capacity(table, operation, span, Access::Read, capacity);
        let items = items.unwrap_or_default();
        span.record("dynago.items", items.len());
        Self {
            read: u64::try_from(scanned_count).unwrap_or(0),
            items,
            last_key: last_key.filter(|k| !k.is_empty()),
        }
    }
}

/// How many items a filtered read has read, and how many of them the filter
/// kept: the measure by which it sizes its next request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
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

/// What a query and a scan both hold: the table, the placeholders, the
/// index, the limit, the filter and projection, the consistency, where to
/// start, and what the filter kept on the pages before.
#[derive(Debug, Clone)]
pub(crate) struct ReadParts {
    pub(crate) table: Table,
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: HashMap<String, AttributeValue>,
    /// The first typed expression that could not be built.
    pub(crate) invalid: Option<Invalid>,
    pub(crate) index: Option<String>,
    /// The most items a page returns.
    pub(crate) limit: Option<u32>,
    pub(crate) filter: Option<String>,
    pub(crate) projection: Option<String>,
    pub(crate) consistent_read: bool,
    /// The cursor it starts after.
    pub(crate) cursor: Option<String>,
    /// What the filter kept on the pages before this one.
    pub(crate) seen: Seen,
}

impl ReadParts {
    /// A read of the whole of `table`, with nothing set yet.
    pub(crate) fn new(table: Table) -> Self {
        Self {
            table,
            names: HashMap::new(),
            values: HashMap::new(),
            invalid: None,
            index: None,
            limit: None,
            filter: None,
            projection: None,
            consistent_read: false,
            cursor: None,
            seen: Seen::default(),
        }
    }

    /// The text of a compiled expression, its placeholders added to the
    /// read's (and a reason it cannot be sent kept for the send).
    pub(crate) fn take(&mut self, compiled: Compiled) -> String {
        compiled.into_request(&mut self.names, &mut self.values, &mut self.invalid)
    }

    /// The same read from its beginning: no cursor, nothing seen.
    pub(crate) fn rewound(self) -> Self {
        Self {
            cursor: None,
            seen: Seen::default(),
            ..self
        }
    }

    /// Refuses, before sending, a read whose expressions (with a query's key
    /// condition) cannot be sent.
    pub(crate) fn check(&self, key_condition: Option<&str>) -> Result<()> {
        check_request(
            self.table.name(),
            self.invalid.as_ref(),
            [
                ("KeyConditionExpression", key_condition),
                ("FilterExpression", self.filter.as_deref()),
                ("ProjectionExpression", self.projection.as_deref()),
            ],
        )
    }

    /// The name placeholders for the request, if any.
    pub(crate) fn request_names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// The value placeholders for the request, if any.
    pub(crate) fn request_values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// What the read's cursors are bound to: these parts, with the read's
    /// kind, key condition (empty for a scan) and order.
    pub(crate) fn scope<'a>(
        &'a self,
        kind: Kind,
        key_condition: &'a str,
        ascending: bool,
    ) -> Scope<'a> {
        Scope {
            table: self.table.name(),
            index: self.index.as_deref(),
            kind,
            key_condition,
            names: &self.names,
            values: &self.values,
            ascending,
        }
    }

    /// `SPECIFIC_ATTRIBUTES` when the read has a projection.
    pub(crate) fn select(&self) -> Option<Select> {
        self.projection.as_ref().map(|_| Select::SpecificAttributes)
    }
}

/// A read that pages: a query or a scan.
pub(crate) trait Read: Clone + Send + Sync + 'static {
    /// The DynamoDB operation: `Query` or `Scan`.
    const OPERATION: &'static str;

    /// What it holds.
    fn parts(&self) -> &ReadParts;
    fn parts_mut(&mut self) -> &mut ReadParts;
    /// What its cursors are bound to.
    fn scope(&self) -> Scope<'_>;
    /// One request from `start`, reading at most `limit` items.
    fn request(
        &self,
        start: Option<Item>,
        limit: Option<usize>,
    ) -> impl Future<Output = Result<Answer>> + Send;
}

/// One page of `read`, and what the filter kept of the items read for it
/// and the pages before.
pub(crate) async fn fetch<R: Read>(read: &R) -> Result<(Page<Item>, Seen)> {
    let parts = read.parts();
    let table = &parts.table;
    let mut start = match &parts.cursor {
        Some(cursor) => {
            let key = table.cursor_key().decode(&read.scope(), cursor)?;
            check_key(table.name(), table.keys(), parts.index.as_deref(), &key)?;
            Some(key)
        }
        None => None,
    };
    // With a filter, a limit of n makes DynamoDB read n items, of which the
    // filter may keep few: further requests read as many items as the
    // filter has needed so far per item kept (see `Seen::ask`), and a page
    // that brings more than the limit is cut, its cursor made from the last
    // item kept.
    let cut_by = match (parts.limit, &parts.filter) {
        (Some(_), Some(_)) => page_key_names(parts).await,
        _ => None,
    };
    let mut seen = parts.seen;
    let mut items: Vec<Item> = Vec::new();
    loop {
        let remaining = parts.limit.map(|limit| limit as usize - items.len());
        let ask = match (remaining, &cut_by) {
            (Some(remaining), Some(_)) => Some(seen.ask(remaining)),
            (remaining, _) => remaining,
        };
        let answer = read.request(start.take(), ask).await?;
        seen.read += answer.read;
        seen.kept += u64::try_from(answer.items.len()).unwrap_or(u64::MAX);
        let (mut page, mut last_key) = (answer.items, answer.last_key);
        if let (Some(remaining), Some(names)) = (remaining, &cut_by) {
            if page.len() > remaining {
                page.truncate(remaining);
                last_key = page
                    .last()
                    .map(|item| key_of::<R>(table, item, names))
                    .transpose()?;
            }
        }
        items.extend(page);
        start = last_key;
        let page_full = match parts.limit {
            Some(limit) => items.len() >= limit as usize,
            None => true,
        };
        if start.is_none() || page_full {
            break;
        }
    }
    let cursor = start
        .map(|key| table.cursor_key().encode(&read.scope(), &key))
        .transpose()?;
    Ok((Page { items, cursor }, seen))
}

/// The attributes a page's cursor holds: the table's key and, for an index,
/// the index's key. `None` when a page cannot be cut: a projection may leave
/// them out of the items, and the index's key names may not be known (the
/// table cannot be described).
async fn page_key_names(read: &ReadParts) -> Option<Vec<String>> {
    if read.projection.is_some() {
        return None;
    }
    let table = &read.table;
    let keys = table.keys();
    let mut names: Vec<String> = std::iter::once(keys.partition.clone())
        .chain(keys.sort.clone())
        .collect();
    if let Some(index) = &read.index {
        match table.index_key_names(index).await {
            Ok(Some(index_keys)) => names.extend(index_keys),
            Ok(None) => return None,
            Err(error) => {
                tracing::debug!(
                    table = table.name(),
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
fn key_of<R: Read>(table: &Table, item: &Item, names: &[String]) -> Result<Item> {
    names
        .iter()
        .map(|name| match item.get(name) {
            Some(value) => Ok((name.clone(), value.clone())),
            None => Err(unusable_answer(
                table.name(),
                R::OPERATION,
                format!(
                    "an item of the {} lacks the key attribute `{name}`",
                    R::OPERATION.to_lowercase()
                ),
            )),
        })
        .collect()
}

/// The items of `page` as `T`s.
pub(crate) fn decode<T: DeserializeOwned>(table: &Table, page: Page<Item>) -> Result<Page<T>> {
    let Page { items, cursor } = page;
    let items = items
        .into_iter()
        .map(|item| table.read_item(item))
        .collect::<Result<_>>()?;
    Ok(Page { items, cursor })
}

/// Every page of `read`, one after the other, each made a `P` by `decode`;
/// the stream ends after the page without a cursor, or after the first
/// error.
fn paged<R: Read, P: Send + 'static>(
    read: R,
    decode: fn(&Table, Page<Item>) -> Result<P>,
) -> impl Stream<Item = Result<P>> + Send {
    stream::try_unfold(Some(read), move |read| async move {
        let Some(read) = read else {
            return Ok(None);
        };
        let (page, seen) = fetch(&read).await?;
        let cursor = page.cursor.clone();
        let decoded = decode(&read.parts().table, page)?;
        let next = cursor.map(|cursor| {
            let mut next = read;
            let parts = next.parts_mut();
            (parts.cursor, parts.seen) = (Some(cursor), seen);
            next
        });
        Ok(Some((decoded, next)))
    })
}

/// Every page of `read` with its items as `T`s.
pub(crate) fn pages<R: Read, T: DeserializeOwned + Send + 'static>(
    read: R,
) -> impl Stream<Item = Result<Page<T>>> + Send {
    paged(read, decode::<T>)
}

/// Every page of `read`, as DynamoDB stored the items.
pub(crate) fn raw_pages<R: Read>(read: R) -> impl Stream<Item = Result<Page<Item>>> + Send {
    paged(read, |_, page| Ok(page))
}

/// Every item of `read` as DynamoDB stored it, paging as it goes.
pub(crate) fn raw_items<R: Read>(read: R) -> impl Stream<Item = Result<Item>> + Send {
    raw_pages(read)
        .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
}

/// Every item of `read` as a `T`, paging as it goes.
pub(crate) fn items<R: Read, T: DeserializeOwned + Send + 'static>(
    read: R,
) -> impl Stream<Item = Result<T>> + Send {
    pages::<R, T>(read)
        .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
}

#[cfg(test)]
mod tests {
    use super::{Seen, MAX_FILTERED_READ};

    #[test]
    fn a_filtered_read_sizes_its_requests_by_what_the_filter_kept() {
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
