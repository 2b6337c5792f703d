//! Building views from the table itself: for a new projection, and to
//! rebuild one from scratch.

use dynago::{string_value, Item};
use futures::TryStreamExt;

use crate::error::{Error, Result};
use crate::fence::{self, Fence, Heartbeat};
use crate::keys;
use crate::options::{next_wait, transient_waits};
use crate::projection::Projection;
use crate::projector::Projector;

impl<P: Projection> Projector<P> {
    /// Applies every event of `P::Aggregate` in the events table, read by a
    /// parallel scan ([`ProjectorOptions::scan_segments`](crate::ProjectorOptions::scan_segments)),
    /// each in its aggregate's order and at most once: events applied
    /// before are skipped. How many events it applied.
    ///
    /// Commands may keep coming meanwhile: what the scan misses is in the
    /// stream, which a worker then reads from its oldest record (kept 24
    /// hours), skipping what the scan applied.
    ///
    /// A scan reads every item of the table, events of other aggregate
    /// types, snapshots and command records included: half a read unit per
    /// 4 KB read.
    ///
    /// # Errors
    ///
    /// A read that failed, or a write that failed on an error that is not
    /// transient (transient ones are sent again with backoff).
    pub async fn catch_up_from_table(&self) -> Result<u64> {
        self.catch_up_beating(None).await
    }

    /// [`catch_up_from_table`](Self::catch_up_from_table), beating
    /// `heartbeat` as it goes (a worker's catch-up holds no lease).
    pub(crate) async fn catch_up_beating(&self, heartbeat: Option<&Heartbeat>) -> Result<u64> {
        let events = self.inner.applier.store().table();
        let sort_key = events.sort_key().unwrap_or_default().to_owned();
        let before = self.status().applied;
        let mut items = std::pin::pin!(events
            .scan()
            .filter("begins_with(#pk, :type) AND begins_with(#sk, :event)")
            .name("#pk", events.partition_key())
            .name("#sk", sort_key)
            .value(
                ":type",
                string_value(format!("{}#", <P::Aggregate as dynago_es::Aggregate>::TYPE)),
            )
            .value(":event", string_value("e#"))
            .parallel(self.options().scan_segments)
            .stream_raw());
        while let Some(item) = items.try_next().await? {
            if let Some(heartbeat) = heartbeat {
                heartbeat.tick().await?;
            }
            self.apply_item_retrying(item).await?;
        }
        let applied = self.status().applied - before;
        tracing::info!(projection = P::NAME, applied, "caught up from the table");
        Ok(applied)
    }

    async fn apply_item_retrying(&self, item: Item) -> Result<()> {
        let mut waits = transient_waits();
        loop {
            match self.apply_item(item.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(projection = P::NAME, error = %e, "applying a scanned event failed; trying again");
                    tokio::time::sleep(next_wait(&mut waits)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Deletes every item of this projection: its views, positions,
    /// leases and parked events. How many items were deleted.
    ///
    /// Safe against live writers: it refuses while workers run (a lease
    /// renewed during one lease duration of watching, only when some lease
    /// is held), and deletes behind a fence that no Lambda batch and no
    /// worker writes through ([`Error::Resetting`], retryable), after
    /// [`ProjectorOptions::reset_grace`](crate::ProjectorOptions::reset_grace)
    /// for the batches already running. A reset that fails midway leaves
    /// the fence up: reset again.
    ///
    /// # Errors
    ///
    /// [`Error::Running`] while workers of the projection run; a query or
    /// delete that failed.
    pub async fn reset(&self) -> Result<usize> {
        let views = self.views_table();
        // The fence goes up before the heartbeats are read: a worker beats
        // before it reads the fence, so one of the two sees the other.
        let previous = fence::read_stored(views, P::NAME).await?;
        let generation = previous.unwrap_or_default().generation + 1;
        let over = previous.map(|fence| fence.generation);
        let up = Fence {
            generation,
            up: true,
        };
        // A reset that moved the fence since it was read is running.
        if !fence::write(views, P::NAME, up, over).await? {
            return Err(Error::Resetting {
                projection: P::NAME.to_owned(),
            });
        }
        if let Err(running) = self.refuse_while_running().await {
            // Refused: the projection is left as it was.
            fence::restore(views, P::NAME, previous, generation).await?;
            return Err(running);
        }
        tokio::time::sleep(self.options().reset_grace).await;
        let sort_key = views.sort_key().unwrap_or_default().to_owned();
        let items: Vec<Item> = views
            .query("#pk = :pk")
            .name("#pk", views.partition_key())
            .name("#sk", sort_key.clone())
            .value(":pk", string_value(P::NAME))
            .projection("#sk")
            .consistent_read(true)
            .stream_raw()
            .try_collect()
            .await?;
        let mut deleted = 0;
        for chunk in items.chunks(dynago::MAX_BATCH_WRITE) {
            let mut batch = views.batch_write();
            for item in chunk {
                match item.get(&sort_key) {
                    Some(dynago::AttributeValue::S(sort)) if sort != keys::FENCE => {
                        batch = batch.delete(keys::key(P::NAME, sort.clone()));
                        deleted += 1;
                    }
                    _ => {}
                }
            }
            batch.send().await?;
        }
        self.inner.applier.forget_all();
        self.refresh_parked().await?;
        // What is written from now on is written whole: a view and its
        // position start again from nothing, and a gap is filled from the
        // table, so a catch-up and the stream's writers meet no half.
        // Taken down only while it is this reset's: a reset started since
        // (over a fence left up) takes its own down.
        let down = Fence {
            generation,
            up: false,
        };
        fence::write(views, P::NAME, down, Some(generation)).await?;
        self.inner.applier.observe(generation);
        tracing::info!(projection = P::NAME, deleted, "projection reset");
        Ok(deleted)
    }

    /// Refuses to reset while workers of the projection run, with the
    /// fence up: when a worker's heartbeat is stored, watches the
    /// heartbeats for one lease duration (a running worker beats every
    /// third of one; one that saw the fence waits without beating).
    async fn refuse_while_running(&self) -> Result<()> {
        let views = self.views_table();
        let before = fence::heartbeats(views, P::NAME).await?;
        if before.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(self.options().lease_duration).await;
        let after = fence::heartbeats(views, P::NAME).await?;
        let mut workers: Vec<String> = after
            .into_iter()
            // A heartbeat first written during the watch is a worker that
            // started after the fence went up, and waits behind it.
            .filter(|(worker, beat)| {
                before
                    .iter()
                    .any(|(seen, seen_beat)| seen == worker && seen_beat != beat)
            })
            .map(|(worker, _)| worker)
            .collect();
        workers.sort();
        workers.dedup();
        if workers.is_empty() {
            return Ok(());
        }
        Err(Error::Running {
            projection: P::NAME.to_owned(),
            workers,
        })
    }

    /// Rebuilds the projection from the table: [`reset`](Self::reset),
    /// then [`catch_up_from_table`](Self::catch_up_from_table). Stop its
    /// workers first (it refuses while they run); the next
    /// [`run`](Self::run) reads the stream from its oldest record, skipping
    /// what the rebuild applied. A Lambda function may go on during the
    /// catch-up, which writes as it does. How many events it applied.
    ///
    /// # Errors
    ///
    /// As [`reset`](Self::reset) and
    /// [`catch_up_from_table`](Self::catch_up_from_table).
    pub async fn rebuild(&self) -> Result<u64> {
        self.reset().await?;
        self.catch_up_from_table().await
    }
}
