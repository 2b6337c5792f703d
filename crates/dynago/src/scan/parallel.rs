//! Parallel scans: a scan split into segments, read at once or handed out
//! one by one.

use futures::stream::{self, Stream, StreamExt};
use serde::de::DeserializeOwned;

use super::{Scan, MAX_SCAN_SEGMENTS};
use crate::error::Result;
use crate::paging;
use crate::value::Item;

impl Scan {
    /// A parallel scan over `total` segments (1 to [`MAX_SCAN_SEGMENTS`]),
    /// with this scan's filter, projection, limit and consistency. A cursor
    /// or segment set on this scan is not carried over: each segment starts
    /// at its beginning and has its own cursors.
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let items: Vec<dynago::Item> = table
    ///     .scan()
    ///     .parallel(8)
    ///     .concurrency(4)
    ///     .stream_raw()
    ///     .try_collect()
    ///     .await?;
    /// # let _ = items;
    /// # Ok(())
    /// # }
    /// ```
    pub fn parallel(self, total: u32) -> ParallelScan {
        let concurrency = self.parts.table.batch_concurrency().max(1);
        ParallelScan {
            scan: Scan {
                parts: self.parts.rewound(),
                segment: None,
            },
            total,
            concurrency,
        }
    }
}

/// A scan split into segments read at once, built by [`Scan::parallel`].
///
/// [`stream`](Self::stream) reads the segments concurrently, at most
/// [`concurrency`](Self::concurrency) requests in flight; [`segments`](Self::segments)
/// hands out one [`Scan`] per segment, to read apart (in other tasks or
/// processes) and resume each by its own cursor.
///
/// ```no_run
/// # use serde::Deserialize;
/// # #[derive(Deserialize)] struct Person { name: String }
/// # async fn run(table: dynago::Table) -> dynago::Result<()> {
/// use futures::TryStreamExt;
///
/// let people: Vec<Person> = table.scan().parallel(4).stream().try_collect().await?;
/// # let _ = people;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a scan does nothing until it is sent"]
pub struct ParallelScan {
    scan: Scan,
    total: u32,
    concurrency: usize,
}

impl ParallelScan {
    /// Reads at most `requests` segments at once, one request in flight
    /// each (default: the table's
    /// [`batch_concurrency`](crate::TableOptions::batch_concurrency), 4
    /// unless set; at least 1).
    ///
    /// ```
    /// # fn run(table: dynago::Table) {
    /// let scan = table.scan().parallel(16).concurrency(8);
    /// # let _ = scan;
    /// # }
    /// ```
    pub fn concurrency(mut self, requests: usize) -> Self {
        self.concurrency = requests.max(1);
        self
    }

    /// One scan per segment, in segment order: the scan of segment `i` is
    /// `scan.segment(i, total)`. Out of DynamoDB's bounds (no segment, or
    /// more than [`MAX_SCAN_SEGMENTS`]), one scan whose sending fails with
    /// [`Error::InvalidSegment`](crate::Error::InvalidSegment).
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// for segment in table.scan().limit(500).parallel(4).segments() {
    ///     tokio::spawn(async move {
    ///         let page = segment.send_raw().await?;
    ///         // Store `page.cursor` to resume this segment later.
    ///         Ok::<_, dynago::Error>(page.cursor)
    ///     });
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn segments(&self) -> Vec<Scan> {
        if (1..=MAX_SCAN_SEGMENTS).contains(&self.total) {
            (0..self.total)
                .map(|i| self.scan.clone().segment(i, self.total))
                .collect()
        } else {
            vec![self.scan.clone().segment(0, self.total)]
        }
    }

    /// Every item of every segment as DynamoDB stored it, segments read
    /// concurrently (items of different segments interleave). A segment
    /// that fails yields its error and ends; collecting with `try_collect`
    /// stops at the first error.
    ///
    /// ```no_run
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let count = table
    ///     .scan()
    ///     .projection("pk")
    ///     .parallel(8)
    ///     .stream_raw()
    ///     .try_fold(0usize, |n, _| async move { Ok(n + 1) })
    ///     .await?;
    /// # let _ = count;
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream_raw(self) -> impl Stream<Item = Result<Item>> + Send + 'static {
        stream::iter(self.segments())
            .map(|segment| Box::pin(paging::raw_items(segment)))
            .flatten_unordered(self.concurrency)
    }

    /// Every item of every segment, segments read concurrently, as
    /// [`stream_raw`](Self::stream_raw) does.
    ///
    /// ```no_run
    /// # use serde::Deserialize;
    /// # #[derive(Deserialize)] struct Person { name: String }
    /// # async fn run(table: dynago::Table) -> dynago::Result<()> {
    /// use futures::TryStreamExt;
    ///
    /// let people: Vec<Person> = table.scan().parallel(4).stream().try_collect().await?;
    /// # let _ = people;
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> impl Stream<Item = Result<T>> + Send + 'static {
        stream::iter(self.segments())
            .map(|segment| Box::pin(paging::items::<Scan, T>(segment)))
            .flatten_unordered(self.concurrency)
    }
}
