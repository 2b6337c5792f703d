//! The long-lived stream reader: leases, shards, records, checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;

use dynago::Delays;

use crate::error::{Error, Result};
use crate::fence::Heartbeat;
use crate::lease::{Lease, Leases, Progress};
use crate::metrics::{self, LeaseChange};
use crate::options::{next_wait, transient_waits};
use crate::policy;
use crate::projection::Projection;
use crate::projector::Projector;
use crate::status::ShardStatus;
use crate::stream::{EventStream, ReadError, Shard, StreamItem};

/// The shortest wait between reads of idle shards, doubled up to
/// [`ProjectorOptions::idle_wait`](crate::ProjectorOptions::idle_wait).
const FIRST_IDLE_WAIT: Duration = Duration::from_millis(25);

/// A shard this worker holds.
struct Owned {
    lease: Lease,
    iterator: Option<String>,
    /// The last record read and applied (checkpointed with the next
    /// renewal).
    last_sequence: Option<String>,
    status: ShardStatus,
}

struct Worker<'a, P: Projection> {
    projector: &'a Projector<P>,
    stream: &'a EventStream,
    leases: Leases,
    owned: BTreeMap<String, Owned>,
    shards: Vec<Shard>,
    last_sync: Option<Instant>,
    last_renew: Instant,
    /// A reset's fence stood at the last sync: nothing is read or written.
    fenced: bool,
    /// What tells a reset that this worker runs.
    heartbeat: Heartbeat,
}

impl<P: Projection> Projector<P> {
    /// Runs this projector as a worker on `stream` (the events table's)
    /// until `shutdown` completes: it takes leases on shards (sharing them
    /// with the other workers of the same projection), reads each from its
    /// checkpoint, applies the events, checkpoints with every renewal of its
    /// leases (every third of a lease duration), and
    /// lets its leases go when stopped. A projection with no lease yet
    /// first catches up from the table
    /// ([`ProjectorOptions::catch_up_from_table`](crate::ProjectorOptions::catch_up_from_table)).
    ///
    /// Writes that fail on a transient error are sent again with backoff;
    /// the worker stops on any other error.
    ///
    /// # Errors
    ///
    /// [`Error::FellBehind`] when the stream no longer holds records after
    /// a checkpoint (rebuild the projection); any error that is not
    /// transient.
    pub async fn run<F: Future>(&self, stream: &EventStream, shutdown: F) -> Result<()> {
        let options = self.options();
        let mut worker = Worker {
            projector: self,
            leases: Leases::new(
                self.views_table().clone(),
                P::NAME,
                options.worker.clone(),
                options.lease_duration,
            ),
            stream,
            owned: BTreeMap::new(),
            shards: Vec::new(),
            last_sync: None,
            last_renew: Instant::now(),
            fenced: false,
            heartbeat: Heartbeat::new(
                self.views_table().clone(),
                P::NAME,
                options.worker.clone(),
                options.lease_duration,
            ),
        };
        // Boxed: the future of the loop is deep (reads, applies, writes),
        // too deep for the compiler's default limit in a caller's future.
        let result = tokio::select! {
            result = Box::pin(worker.run()) => result,
            _ = shutdown => Ok(()),
        };
        worker.release_all().await;
        if let Err(error) = worker.heartbeat.stop().await {
            tracing::warn!(projection = P::NAME, %error, "could not remove the worker's heartbeat");
        }
        self.show_stopped(match &result {
            Ok(()) => "stopped".to_owned(),
            Err(e) => e.to_string(),
        });
        result
    }
}

impl<P: Projection> Worker<'_, P> {
    fn options(&self) -> &crate::ProjectorOptions {
        self.projector.options()
    }

    async fn run(&mut self) -> Result<()> {
        let mut waits = transient_waits();
        loop {
            match self.start().await {
                Ok(()) => break,
                Err(e) if e.is_retryable() => self.back_off("starting", &e, &mut waits).await,
                Err(e) => return Err(e),
            }
        }
        let mut idle = FIRST_IDLE_WAIT;
        let mut waits = transient_waits();
        loop {
            match self.round().await {
                Ok(true) => {
                    idle = FIRST_IDLE_WAIT;
                    waits = transient_waits();
                }
                Ok(false) => {
                    tokio::time::sleep(idle).await;
                    idle = (idle * 2).min(self.options().idle_wait.max(FIRST_IDLE_WAIT));
                    waits = transient_waits();
                }
                Err(e) if e.is_retryable() => self.back_off("a round", &e, &mut waits).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// A new projection (no lease yet) first catches up from the table.
    async fn start(&mut self) -> Result<()> {
        self.pass_fence().await?;
        let existing = self.leases.list().await?;
        if existing.is_empty() && self.options().catch_up_from_table {
            self.projector
                .catch_up_beating(Some(&self.heartbeat))
                .await?;
        }
        Ok(())
    }

    /// Beats, then reads the fence (in that order: a reset that put it up
    /// first then sees the beat); waits, without beating, while a reset
    /// runs, and beats again once it is done.
    async fn pass_fence(&mut self) -> Result<()> {
        let views = self.projector.views_table();
        loop {
            self.heartbeat.beat().await?;
            if !self.projector.fence().await?.up {
                return Ok(());
            }
            tracing::info!(projection = P::NAME, "a reset is running; waiting for it");
            while crate::fence::read(views, P::NAME).await?.up {
                tokio::time::sleep(self.options().idle_wait).await;
            }
        }
    }

    /// Waits after a transient error, longer each time in a row.
    async fn back_off(&self, what: &str, error: &Error, waits: &mut Delays) {
        let wait = next_wait(waits);
        tracing::warn!(projection = P::NAME, error = %error, ?wait, "{what} failed; trying again");
        tokio::time::sleep(wait).await;
    }

    /// Syncs shards and leases when due, then reads every shard held once;
    /// whether any record was read.
    async fn round(&mut self) -> Result<bool> {
        let sync_due = self
            .last_sync
            .is_none_or(|at| at.elapsed() >= self.options().shard_sync);
        if sync_due {
            self.sync().await?;
        }
        if self.fenced {
            return Ok(false);
        }
        self.heartbeat.tick().await?;
        if sync_due || self.last_renew.elapsed() >= self.options().lease_duration / 3 {
            self.renew_and_take().await?;
        }
        let mut read_any = false;
        let shards: Vec<String> = self.owned.keys().cloned().collect();
        for shard in shards {
            read_any |= Box::pin(self.read_shard(&shard)).await? > 0;
        }
        self.publish();
        Ok(read_any)
    }

    /// Lists the shards, creates the leases of new ones, ends the leases of
    /// shards no longer listed, and reads which aggregates are parked.
    async fn sync(&mut self) -> Result<()> {
        // A reset deletes the projection: hold nothing, read nothing, until
        // it is done (its leases go with it).
        // Beat first, then read the fence: see `pass_fence`.
        self.heartbeat.beat().await?;
        self.fenced = self.projector.fence().await?.up;
        if self.fenced {
            tracing::info!(projection = P::NAME, "a reset is running; waiting for it");
            self.release_all().await;
            self.last_sync = Some(Instant::now());
            return Ok(());
        }
        self.shards = self.stream.shards().await?;
        let leases = self.leases.list().await?;
        let created = self.leases.create_missing(&self.shards, &leases).await?;
        // The lease is left as it is, for the rebuild to reset.
        let behind =
            policy::fell_behind(&self.shards, &leases, self.leases.worker(), Instant::now());
        if let Some(lease) = behind {
            tracing::error!(
                projection = P::NAME,
                shard = %lease.shard,
                checkpoint = ?lease.checkpoint,
                "the shard of an unfinished lease is no longer listed: records after its checkpoint may be gone"
            );
            return Err(Error::FellBehind {
                table: self.stream.table().to_owned(),
                shard: lease.shard.clone(),
            });
        }
        if created > 0 {
            tracing::info!(
                projection = P::NAME,
                created,
                "leases created for new shards"
            );
        }
        self.projector.refresh_parked().await?;
        self.last_sync = Some(Instant::now());
        Ok(())
    }

    /// Renews the leases held, drops those lost, and takes leases up to a
    /// fair share, as the lease policy plans ([`policy::plan`]).
    async fn renew_and_take(&mut self) -> Result<()> {
        let shards: Vec<String> = self.owned.keys().cloned().collect();
        for shard in shards {
            self.renew(&shard).await?;
        }
        self.last_renew = Instant::now();
        let all = self.leases.list().await?;
        let held: BTreeSet<&str> = self.owned.keys().map(String::as_str).collect();
        let plan = policy::plan(
            &self.shards,
            &all,
            self.leases.worker(),
            &held,
            Instant::now(),
        );
        let mut taken = Vec::new();
        for lease in plan.take {
            if taken.len() >= plan.wanted {
                break;
            }
            if let Some(lease) = self.leases.take(lease).await? {
                metrics::lease(P::NAME, LeaseChange::Taken);
                taken.push(lease);
            }
        }
        // None free, or each taken first by another worker: one taken over.
        if let Some(steal) = plan.steal.filter(|_| taken.is_empty()) {
            if let Some(lease) = self.leases.take(steal.lease).await? {
                metrics::lease(P::NAME, LeaseChange::TakenOver);
                tracing::info!(projection = P::NAME, shard = %lease.shard, from = %steal.from, "lease taken over");
                taken.push(lease);
            }
        }
        for lease in taken {
            tracing::info!(projection = P::NAME, shard = %lease.shard, checkpoint = ?lease.checkpoint, "reading shard");
            self.owned.insert(
                lease.shard.clone(),
                Owned {
                    last_sequence: lease.checkpoint.clone(),
                    status: ShardStatus {
                        shard: lease.shard.clone(),
                        checkpoint: lease.checkpoint.clone(),
                        ..ShardStatus::default()
                    },
                    lease,
                    iterator: None,
                },
            );
        }
        Ok(())
    }

    /// Renews the lease of `shard`; drops it when it was lost.
    async fn renew(&mut self, shard: &str) -> Result<()> {
        let Some(owned) = self.owned.get(shard) else {
            return Ok(());
        };
        // The renewal carries the checkpoint: where the shard's records
        // were applied up to.
        let progress = progress(&owned.status, self.projector.options().lease_duration);
        let renewed = match &owned.last_sequence {
            Some(sequence) if owned.last_sequence != owned.lease.checkpoint => {
                self.leases
                    .checkpoint(&owned.lease, sequence, progress)
                    .await?
            }
            _ => self.leases.renew(&owned.lease, progress).await?,
        };
        match renewed {
            Some(lease) => {
                if let Some(owned) = self.owned.get_mut(shard) {
                    owned.status.checkpoint = lease.checkpoint.clone();
                    owned.lease = lease;
                }
            }
            None => self.lost(shard),
        }
        Ok(())
    }

    fn lost(&mut self, shard: &str) {
        tracing::warn!(
            projection = P::NAME,
            shard,
            "lease lost to another worker; shard dropped"
        );
        metrics::lease(P::NAME, LeaseChange::Lost);
        metrics::shard_let_go(P::NAME, shard);
        self.owned.remove(shard);
    }

    /// Reads one batch of `shard` and applies it; how many records it
    /// held. The checkpoint goes with the next renewal of the lease.
    async fn read_shard(&mut self, shard: &str) -> Result<usize> {
        let batch_size = self.options().batch_size;
        let Some(owned) = self.owned.get_mut(shard) else {
            return Ok(0);
        };
        let iterator = match &owned.iterator {
            Some(iterator) => iterator.clone(),
            None => {
                let Some(iterator) = self
                    .stream
                    .iterator(shard, owned.last_sequence.as_deref())
                    .await?
                else {
                    return Ok(0);
                };
                owned.iterator = Some(iterator.clone());
                iterator
            }
        };
        let batch = match self.stream.records(shard, &iterator, batch_size).await {
            Ok(batch) => batch,
            Err(ReadError::Expired) => {
                tracing::info!(projection = P::NAME, shard, "iterator expired; renewing it");
                owned.iterator = None;
                return Ok(0);
            }
            Err(ReadError::Other(e)) if e.is_retryable() => {
                tracing::warn!(projection = P::NAME, shard, error = %e, "reading the shard failed; trying again");
                return Ok(0);
            }
            Err(ReadError::Other(e)) => return Err(e),
        };
        let records = batch.items.len();
        owned.status.records_behind = records;
        for (done, item) in batch.items.into_iter().enumerate() {
            if !self.owned.contains_key(shard) {
                return Ok(records);
            }
            self.apply_retrying(shard, &item).await?;
            if let Some(owned) = self.owned.get_mut(shard) {
                owned.last_sequence = Some(item.sequence_number.clone());
                owned.status.records_behind = records - done - 1;
                if item.created_at.is_some() {
                    owned.status.newest_applied_at = item.created_at;
                }
            }
        }
        let Some(owned) = self.owned.get_mut(shard) else {
            return Ok(records);
        };
        if batch.last_sequence.is_some() {
            owned.last_sequence = batch.last_sequence.clone();
        }
        owned.status.caught_up = batch.last_sequence.is_none();
        owned.status.lag = if owned.status.caught_up {
            Some(Duration::ZERO)
        } else {
            owned
                .status
                .newest_applied_at
                .and_then(|at| (Utc::now() - at).to_std().ok())
        };
        owned.iterator = batch.next.clone();
        if batch.next.is_none() {
            self.shard_without_next(shard).await?;
        }
        Ok(records)
    }

    /// `GetRecords` gave no next iterator: the shard is closed and read to
    /// its end (its lease ends, its children may start), or, on servers
    /// that sometimes leave it out, a new iterator is needed.
    async fn shard_without_next(&mut self, shard: &str) -> Result<()> {
        self.shards = self.stream.shards().await?;
        let Some(owned) = self.owned.get(shard) else {
            return Ok(());
        };
        let ending = self
            .shards
            .iter()
            .find(|s| s.id == shard)
            .map(|s| s.ending.clone());
        // No next iterator on a closed shard (one with an ending sequence
        // number) means it was read to its end, records or none; a shard
        // no longer listed was trimmed away. Only an open shard without a
        // next iterator (some emulators leave it out) is read again.
        let read_to_end = match ending {
            None | Some(Some(_)) => true,
            Some(None) => false,
        };
        if read_to_end {
            let lease = Lease {
                checkpoint: owned.last_sequence.clone(),
                ..owned.lease.clone()
            };
            if self.leases.end(&lease).await?.is_some() {
                metrics::lease(P::NAME, LeaseChange::Ended);
                tracing::info!(projection = P::NAME, shard, "shard read to its end");
            }
            metrics::shard_let_go(P::NAME, shard);
            self.owned.remove(shard);
            // Its children may be taken now.
            self.last_sync = None;
        }
        Ok(())
    }

    /// Offers one record's item until it is applied, waiting out
    /// transient errors (renewing leases meanwhile).
    async fn apply_retrying(&mut self, shard: &str, item: &StreamItem) -> Result<()> {
        let mut waits = transient_waits();
        loop {
            match self.projector.apply_item(item.item.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_retryable() => {
                    let wait = next_wait(&mut waits);
                    tracing::warn!(projection = P::NAME, shard, error = %e, ?wait, "applying a record failed; trying again");
                    tokio::time::sleep(wait).await;
                    if self.last_renew.elapsed() >= self.options().lease_duration / 3 {
                        self.heartbeat.tick().await?;
                        self.renew(shard).await?;
                        self.last_renew = Instant::now();
                        if !self.owned.contains_key(shard) {
                            return Ok(());
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Shows the shards' progress in the projector's status.
    fn publish(&self) {
        let shards: Vec<ShardStatus> = self.owned.values().map(|o| o.status.clone()).collect();
        for shard in &shards {
            metrics::shard(P::NAME, shard);
            tracing::debug!(
                projection = P::NAME,
                shard = %shard.shard,
                lag_ms = shard.lag.map(|l| l.as_millis()),
                records_behind = shard.records_behind,
                "progress"
            );
        }
        self.projector.show_shards(shards);
    }

    /// Lets every lease held go, so that other workers take them at once.
    async fn release_all(&mut self) {
        for (shard, owned) in std::mem::take(&mut self.owned) {
            let lease = Lease {
                checkpoint: owned.last_sequence,
                ..owned.lease
            };
            metrics::shard_let_go(P::NAME, &shard);
            match self.release(&lease).await {
                Ok(true) => metrics::lease(P::NAME, LeaseChange::Released),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(projection = P::NAME, shard, error = %e, "could not let the lease go");
                }
            }
        }
    }

    /// Lets `lease` go; whether this worker still held it. A stop may have
    /// cut a renewal short after its write landed, one counter on: a lease
    /// still held by this worker is let go at the counter read, not left
    /// held until it expires.
    async fn release(&self, lease: &Lease) -> Result<bool> {
        if self.leases.release(lease).await?.is_some() {
            return Ok(true);
        }
        match self.leases.read(&lease.shard).await? {
            Some(stored) if stored.owner.as_deref() == Some(self.leases.worker()) => {
                // The checkpoint read is one this worker wrote: its
                // own, applied up to, is as far or further.
                let checkpoint = lease.checkpoint.clone().or(stored.checkpoint.clone());
                Ok(self
                    .leases
                    .release(&Lease {
                        checkpoint,
                        ..stored
                    })
                    .await?
                    .is_some())
            }
            _ => Ok(false),
        }
    }
}

/// What a renewal writes of a shard's progress, from its status now.
fn progress(status: &ShardStatus, lease_duration: Duration) -> Progress {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Progress {
        renewed_at: chrono::Utc::now(),
        lease_ms: millis(lease_duration),
        applied_at: status.newest_applied_at,
        behind: status.records_behind as u64,
        caught_up: status.caught_up,
        lag_ms: status.lag.map(millis),
    }
}
