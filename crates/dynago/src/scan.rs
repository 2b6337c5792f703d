//! Scans: every item of a table or index, one page at a time with a
//! resumable cursor or as a stream, and in parallel over segments.

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use futures::stream::Stream;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::cursor::{Kind, Scope, Segment};
use crate::error::{from_sdk, Error, Result};
use crate::expr::{Expression, Projection};
use crate::paging::{self, Answer, Page, Read, ReadParts};
use crate::table::Table;
use crate::telemetry::read_span;
use crate::value::Item;
use crate::value::Value;

mod parallel;

pub use parallel::ParallelScan;

/// The most segments DynamoDB splits a parallel scan into
/// ([`Scan::parallel`], [`Scan::segment`]); more is
/// [`Error::InvalidSegment`], before sending.
///
/// ```
/// # fn run(table: dynago::Table) {
/// let workers = 64;
/// assert!(workers <= dynago::MAX_SCAN_SEGMENTS);
/// let scan = table.scan().parallel(workers);
/// # let _ = scan;
/// # }
/// ```
pub const MAX_SCAN_SEGMENTS: u32 = 1_000_000;

/// A scan of a table or one of its indexes, built by [`Table::scan`].
///
/// `send` returns one [`Page`]; `stream` and `pages` page for you;
/// [`parallel`](Self::parallel) splits the scan into segments read at once.
///
/// ```no_run
/// # use serde::Deserialize;
/// # #[derive(Deserialize)] struct Order { total: u64 }
/// # async fn run(table: dynago::Table) -> dynago::Result<()> {
/// use dynago::number_value;
///
/// let page = table
///     .scan()
///     .filter("total >= :min")
///     .value(":min", number_value(100))
///     .limit(25)
///     .send::<Order>()
///     .await?;
/// // Hand `page.cursor` to the client; it comes back for the next page.
/// # let _ = page;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a scan does nothing until it is sent"]
pub struct Scan {
    parts: ReadParts,
    segment: Option<Segment>,
}

impl Table {
    /// A scan of every item of the table (or, with [`Scan::index`], of an
    /// index).
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Person { name: String }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let people: Vec<Person> = table.scan().stream().try_collect().await?;
    /// # let _ = people;
    /// # Ok(())
    /// # }
    /// ```
    pub fn scan(&self) -> Scan {
        Scan {
            parts: ReadParts::new(self.clone()),
            segment: None,
        }
    }
}

impl Scan {
    /// Defines the value placeholder `placeholder` (`:value`) used in the
    /// filter.
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// let scan = table
    ///     .scan()
    ///     .filter("currency = :eur")
    ///     .value(":eur", dynago::string_value("EUR"));
    /// # let _ = scan;
    /// # }
    /// ```
    pub fn value(mut self, placeholder: impl Into<String>, value: impl Into<Value>) -> Self {
        self.parts
            .values
            .insert(placeholder.into(), value.into().into());
        self
    }

    /// Defines the name placeholder `placeholder` (`#name`) as `attribute`.
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// let scan = table
    ///     .scan()
    ///     .filter("#status = :open")
    ///     .name("#status", "status")
    ///     .value(":open", dynago::string_value("open"));
    /// # let _ = scan;
    /// # }
    /// ```
    pub fn name(mut self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.parts
            .names
            .insert(placeholder.into(), attribute.into());
        self
    }

    /// Scans the index `index` instead of the table.
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// let scan = table.scan().index("by-email");
    /// # let _ = scan;
    /// # }
    /// ```
    pub fn index(mut self, index: impl Into<String>) -> Self {
        self.parts.index = Some(index.into());
        self
    }

    /// Returns at most `limit` items per page, counting the items
    /// *returned*, as [`Query::limit`](crate::Query::limit) does: a page
    /// holds `limit` items unless the scan runs out, and its cursor points at
    /// the last item returned.
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// let scan = table.scan().limit(100);
    /// # let _ = scan;
    /// # }
    /// ```
    pub fn limit(mut self, limit: u32) -> Self {
        self.parts.limit = Some(limit.max(1));
        self
    }

    /// Keeps only the items for which `filter` holds (evaluated after the
    /// read: a scan reads, and pays for, every item). A string (its
    /// placeholders defined with [`name`](Self::name) and
    /// [`value`](Self::value)) or a typed [`Expr`](crate::expr::Expr); set
    /// once.
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// use dynago::attr;
    ///
    /// let closed = table.scan().filter("attribute_exists(closed_at)");
    /// // `status` is a reserved word: a typed path needs no placeholder.
    /// let open = table.scan().filter(attr("status").eq("open").and(attr("balance").gt(0)));
    /// # let _ = (closed, open);
    /// # }
    /// ```
    pub fn filter(mut self, filter: impl Into<Expression>) -> Self {
        self.parts.filter = Some(self.parts.take(filter.into().compile("f")));
        self
    }

    /// Reads only the attributes named in `projection`: a string (such as
    /// `"pk, sk, #n"`) or typed paths; set once.
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// use dynago::attr;
    ///
    /// let scan = table.scan().projection("pk, sk, balance");
    /// let typed = table.scan().projection([attr("pk"), attr("name")]);
    /// # let _ = (scan, typed);
    /// # }
    /// ```
    pub fn projection(mut self, projection: impl Into<Projection>) -> Self {
        self.parts.projection = Some(self.parts.take(projection.into().compile("p")));
        self
    }

    /// Reads with strong consistency (not available on global secondary indexes).
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// let scan = table.scan().consistent_read(true);
    /// # let _ = scan;
    /// # }
    /// ```
    pub fn consistent_read(mut self, consistent: bool) -> Self {
        self.parts.consistent_read = consistent;
        self
    }

    /// Starts after the place that `cursor`, from an earlier [`Page`] of the
    /// same scan (the same table, index and segment), points at. A query's
    /// cursor, or another segment's, is refused.
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Person { name: String }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// let first = table.scan().limit(10).send::<Person>().await?;
    /// if let Some(cursor) = first.cursor {
    ///     let next = table.scan().limit(10).cursor(cursor).send::<Person>().await?;
    ///     # let _ = next;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.parts.cursor = Some(cursor.into());
        self
    }

    /// Scans only the segment `segment` of `total` (numbered from 0): the
    /// segments of a parallel scan are disjoint and together hold every
    /// item. Each segment has its own cursors. `total` is 1 to
    /// [`MAX_SCAN_SEGMENTS`] and `segment` under it, checked before sending.
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Person { name: String }
    /// # async fn run(table: dynago::Table, worker: u32) -> dynago::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// // Worker `worker` of 8 reads its eighth of the table.
    /// let people: Vec<Person> = table.scan().segment(worker, 8).stream().try_collect().await?;
    /// # let _ = people;
    /// # Ok(())
    /// # }
    /// ```
    pub fn segment(mut self, segment: u32, total: u32) -> Self {
        self.segment = Some(Segment {
            index: segment,
            total,
        });
        self
    }

    /// Sends the scan and returns one page.
    ///
    /// With a [`limit`](Self::limit), the page holds up to that many items;
    /// without, it is one DynamoDB response (up to 1 MB of items read).
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Person { name: String }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// let page = table.scan().limit(50).send::<Person>().await?;
    /// for person in page.items {
    ///     println!("{}", person.name);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Before sending: [`Error::InvalidCursor`] for a cursor of another
    /// read, an altered one or one whose key does not fit;
    /// [`Error::InvalidSegment`] for a segment out of range. From DynamoDB:
    /// [`Error::TableNotFound`], [`Error::Dynamo`] (such as a malformed
    /// expression). [`Error::Deserialize`] for an item that is not a `T`.
    pub async fn send<T: DeserializeOwned>(&self) -> Result<Page<T>> {
        paging::decode(&self.parts.table, self.send_raw().await?)
    }

    /// Sends the scan and returns one page of items as DynamoDB stored them.
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// let page = table.scan().projection("pk").send_raw().await?;
    /// println!("{} keys", page.items.len());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), but for deserialization.
    pub async fn send_raw(&self) -> Result<Page<Item>> {
        Ok(paging::fetch(self).await?.0)
    }

    /// Every page of the scan, one after the other, starting at the
    /// [`cursor`](Self::cursor) if one is set. Each page is what
    /// [`send`](Self::send) returns; the stream ends after the page without a
    /// cursor, or after the first error.
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Person { name: String }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let mut pages = std::pin::pin!(table.scan().limit(100).pages::<Person>());
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} people", page.items.len());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> impl Stream<Item = Result<Page<T>>> + Send + 'static {
        paging::pages(self)
    }

    /// Every item of the scan as DynamoDB stored it, paging as it goes.
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let items: Vec<dynago::Item> = table.scan().stream_raw().try_collect().await?;
    /// # let _ = items;
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream_raw(self) -> impl Stream<Item = Result<Item>> + Send + 'static {
        paging::raw_items(self)
    }

    /// Every item of the scan, paging as it goes. The [`limit`](Self::limit),
    /// if set, is the size of each page read.
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Order { total: u64 }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let orders: Vec<Order> = table.scan().stream().try_collect().await?;
    /// # let _ = orders;
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> impl Stream<Item = Result<T>> + Send + 'static {
        paging::items(self)
    }

    /// The segment, checked against DynamoDB's bounds.
    fn checked_segment(&self) -> Result<Option<Segment>> {
        match self.segment {
            Some(s) if s.total == 0 || s.total > MAX_SCAN_SEGMENTS || s.index >= s.total => {
                Err(Error::InvalidSegment {
                    table: self.parts.table.name().to_owned(),
                    segment: s.index,
                    total: s.total,
                    limit: MAX_SCAN_SEGMENTS,
                })
            }
            segment => Ok(segment),
        }
    }

    /// One DynamoDB `Scan` request.
    async fn send_request(&self, start: Option<Item>, limit: Option<usize>) -> Result<Answer> {
        let segment = self.checked_segment()?;
        let parts = &self.parts;
        parts.check(None)?;
        let table = &parts.table;
        let span = read_span(table, "Scan");
        let output = table
            .client()
            .scan()
            .table_name(table.name())
            .set_index_name(parts.index.clone())
            .set_filter_expression(parts.filter.clone())
            .set_projection_expression(parts.projection.clone())
            .set_select(parts.select())
            .set_expression_attribute_names(parts.request_names())
            .set_expression_attribute_values(parts.request_values())
            .consistent_read(parts.consistent_read)
            .set_segment(segment.map(|s| i32::try_from(s.index).unwrap_or(i32::MAX)))
            .set_total_segments(segment.map(|s| i32::try_from(s.total).unwrap_or(i32::MAX)))
            .set_limit(limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .instrument(span.clone())
            .await
            .map_err(|e| from_sdk(table.name(), "Scan", e))?;
        Ok(Answer::new(
            table,
            "Scan",
            &span,
            output.items,
            output.scanned_count,
            output.last_evaluated_key,
            output.consumed_capacity.as_ref(),
        ))
    }
}

impl Read for Scan {
    const OPERATION: &'static str = "Scan";

    fn parts(&self) -> &ReadParts {
        &self.parts
    }

    fn parts_mut(&mut self) -> &mut ReadParts {
        &mut self.parts
    }

    fn scope(&self) -> Scope<'_> {
        self.parts.scope(Kind::Scan(self.segment), "", true)
    }

    async fn request(&self, start: Option<Item>, limit: Option<usize>) -> Result<Answer> {
        self.send_request(start, limit).await
    }
}
