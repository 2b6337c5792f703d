//! Leases: which worker reads which shard, and where it got to.
//!
//! One item per shard and projection, after the Kinesis Client Library's
//! design: an owner, a counter bumped by every change and required by every
//! change (so that a worker whose lease was taken is refused its next
//! renewal or checkpoint), the checkpoint, the parent shard, and whether
//! the shard was read to its end. A lease is expired when its counter has
//! not moved for a lease duration *as this worker observed it*, so that no
//! clocks need to agree.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use dynago::Table;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::keys;
use crate::stream::Shard;

/// The lease item's counter attribute (its optimistic lock).
const COUNTER: &str = "counter";

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lease {
    pub(crate) shard: String,
    #[serde(default)]
    pub(crate) owner: Option<String>,
    #[serde(default)]
    pub(crate) counter: u64,
    #[serde(default)]
    pub(crate) checkpoint: Option<String>,
    #[serde(default)]
    pub(crate) parent: Option<String>,
    #[serde(default)]
    pub(crate) ended: bool,
    /// How far its holder got, as it last said (absent from leases written
    /// by earlier versions, and from those never held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) progress: Option<Progress>,
}

/// What a lease's holder writes of its progress with each renewal, for
/// those who watch it from outside (an explorer, an operator's script).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Progress {
    /// When the holder wrote it, by its own clock.
    pub(crate) renewed_at: DateTime<Utc>,
    /// The holder's lease duration, in milliseconds.
    pub(crate) lease_ms: u64,
    /// When the newest record applied was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) applied_at: Option<DateTime<Utc>>,
    /// Records read and not applied yet.
    pub(crate) behind: u64,
    /// The last read found nothing after what was applied.
    pub(crate) caught_up: bool,
    /// The shard's lag, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lag_ms: Option<u64>,
}

/// A lease as listed, and when it expires as this worker observed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    pub(crate) lease: Lease,
    /// A lease duration after this worker first saw the lease's counter
    /// where it stands: unless the counter moves by then, its holder is
    /// taken for gone (`None`: later than the clock can tell).
    pub(crate) expires: Option<Instant>,
}

/// Every lease of `projection`, read strongly.
pub(crate) async fn read_all(table: &Table, projection: &str) -> Result<Vec<Lease>> {
    // Boxed: the paging stream's future is deep, and callers' futures
    // hold it.
    let leases = keys::under(table, projection, keys::LEASE)
        .stream::<Lease>()
        .try_collect::<Vec<Lease>>();
    Ok(Box::pin(leases).await?)
}

/// The leases of one projection, as one worker sees them.
pub(crate) struct Leases {
    table: Table,
    projection: &'static str,
    worker: String,
    duration: Duration,
    /// Each lease's counter when this worker first saw it, and when.
    observed: HashMap<String, (u64, Instant)>,
}

impl Leases {
    pub(crate) fn new(
        table: Table,
        projection: &'static str,
        worker: String,
        duration: Duration,
    ) -> Self {
        Self {
            table,
            projection,
            worker,
            duration,
            observed: HashMap::new(),
        }
    }

    pub(crate) fn worker(&self) -> &str {
        &self.worker
    }

    /// Every lease, read strongly, with when it expires: a lease duration
    /// after its counter was first seen where it stands.
    pub(crate) async fn list(&mut self) -> Result<Vec<Observed>> {
        let leases = read_all(&self.table, self.projection).await?;
        let now = Instant::now();
        Ok(leases
            .into_iter()
            .map(|lease| {
                let entry = self
                    .observed
                    .entry(lease.shard.clone())
                    .or_insert((lease.counter, now));
                if entry.0 != lease.counter {
                    *entry = (lease.counter, now);
                }
                Observed {
                    expires: entry.1.checked_add(self.duration),
                    lease,
                }
            })
            .collect())
    }

    /// Creates the leases of shards that have none (unowned, no
    /// checkpoint); a lease another worker created first is left alone.
    pub(crate) async fn create_missing(
        &self,
        shards: &[Shard],
        existing: &[Observed],
    ) -> Result<usize> {
        let mut created = 0;
        for shard in shards {
            if existing.iter().any(|l| l.lease.shard == shard.id) {
                continue;
            }
            let lease = Lease {
                shard: shard.id.clone(),
                owner: None,
                counter: 0,
                checkpoint: None,
                parent: shard.parent.clone(),
                ended: false,
                progress: None,
            };
            match self.write(&lease).await {
                Ok(_) => created += 1,
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    /// Writes `lease` under the condition that its counter is still the one
    /// read; the lease as stored, its counter bumped.
    async fn write(&self, lease: &Lease) -> Result<Lease> {
        self.table
            .put_item(keys::key(self.projection, keys::lease(&lease.shard)), lease)
            .optimistic_lock(COUNTER, lease.counter)
            .write_id(false)
            .send()
            .await?;
        Ok(Lease {
            counter: lease.counter + 1,
            ..lease.clone()
        })
    }

    /// Writes a change to a lease; `None` when another worker changed it
    /// first (the lease is lost, or was taken first).
    ///
    /// A change whose answer was lost, sent again, fails against itself: a
    /// failed condition is read again, and the lease found as this change
    /// leaves it, one counter on, is this change's.
    async fn change(&self, lease: &Lease) -> Result<Option<Lease>> {
        match self.write(lease).await {
            Ok(lease) => Ok(Some(lease)),
            Err(e) if e.is_conflict() => {
                let written = Lease {
                    counter: lease.counter + 1,
                    ..lease.clone()
                };
                Ok(self
                    .read(&lease.shard)
                    .await?
                    .filter(|stored| *stored == written))
            }
            Err(e) => Err(e),
        }
    }

    /// The lease of `shard` as stored, read strongly.
    pub(crate) async fn read(&self, shard: &str) -> Result<Option<Lease>> {
        Ok(self
            .table
            .get_item(keys::key(self.projection, keys::lease(shard)))
            .consistent_read(true)
            .send()
            .await?)
    }

    /// Takes `lease` for this worker.
    pub(crate) async fn take(&self, lease: &Lease) -> Result<Option<Lease>> {
        self.change(&Lease {
            owner: Some(self.worker.clone()),
            ..lease.clone()
        })
        .await
    }

    /// Renews a lease this worker holds, with its progress.
    pub(crate) async fn renew(&self, lease: &Lease, progress: Progress) -> Result<Option<Lease>> {
        self.change(&Lease {
            progress: Some(progress),
            ..lease.clone()
        })
        .await
    }

    /// Stores a checkpoint of a lease this worker holds, with its progress.
    pub(crate) async fn checkpoint(
        &self,
        lease: &Lease,
        sequence: &str,
        progress: Progress,
    ) -> Result<Option<Lease>> {
        self.change(&Lease {
            checkpoint: Some(sequence.to_owned()),
            progress: Some(progress),
            ..lease.clone()
        })
        .await
    }

    /// Marks a shard read to its end and lets the lease go: its children
    /// may start.
    pub(crate) async fn end(&self, lease: &Lease) -> Result<Option<Lease>> {
        self.change(&Lease {
            owner: None,
            ended: true,
            ..lease.clone()
        })
        .await
    }

    /// Lets a lease go, for another worker to take at once.
    pub(crate) async fn release(&self, lease: &Lease) -> Result<Option<Lease>> {
        self.change(&Lease {
            owner: None,
            ..lease.clone()
        })
        .await
    }
}
