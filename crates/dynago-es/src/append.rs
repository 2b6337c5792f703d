//! Appending events decided elsewhere ([`EventStore::append`]): one commit
//! of one plan, under the caller's expected version; what it writes is
//! [`plan`](crate::plan)'s, sending it [`commit`](crate::commit)'s.

use chrono::Utc;
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::envelope::EventEnvelope;
use crate::error::{Error, Result};
use crate::id::AggregateId;
use crate::plan::{versions_after, Commit, Plan, Recording};
use crate::store::{EventStore, SendBudget};

impl<A: Aggregate> EventStore<A> {
    /// Appends `events` to the aggregate `id` under the expected version
    /// `expected` (0 for a new aggregate), without deciding anything: for
    /// events decided elsewhere. No retry on a conflict, no snapshot; the
    /// cache entry of the aggregate is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] with the version the stream is at (read after the
    /// failed condition) when it is not at `expected`, ahead or behind (with
    /// no events, one consistent read of the stream's last version says
    /// whether it is at `expected`); [`Error::VersionOutOfRange`]
    /// when the versions would pass `u64::MAX`; [`Error::RetriesExhausted`] when a transient error
    /// outlasts the retry policy and nothing was written;
    /// [`Error::OutcomeUnknown`] when it cannot be told whether the events
    /// were written; [`Error::Table`] for limits and DynamoDB failures.
    pub async fn append(
        &self,
        id: impl Into<A::Id>,
        expected: u64,
        events: Vec<A::Event>,
        metadata: crate::Metadata,
    ) -> Result<Vec<EventEnvelope<A::Event>>> {
        let id = Self::key_id(&id.into());
        self.set_cached(&id, None);
        if events.is_empty() {
            // Nothing to write, and so no condition to check it by: the
            // stream is read to say whether it is at `expected`.
            self.expect_end(&id, expected).await?;
            return Ok(Vec::new());
        }
        let (first, last) = versions_after(|| Self::aggregate_name(&id), expected, events.len())?;
        // The events go under the version after `expected`, free only if
        // no commit follows it; that the stream reached `expected`, and
        // not inside a commit of several events, is read first. The stream
        // only grows, and every commit is keyed by the version after the
        // one its writer read last: once it is past `expected`, the key
        // written here is taken.
        if expected > 0 {
            self.expect_end(&id, expected).await?;
        }
        let now = Utc::now();
        let events: Vec<EventEnvelope<A::Event>> = events
            .into_iter()
            .zip(first..=last)
            .map(|(event, version)| {
                EventEnvelope::new(A::TYPE, &id, version, event, &metadata, now)
            })
            .collect();
        let plans = [Plan {
            id: id.clone(),
            expected,
            events,
            state: None,
            snapshot: false,
            previous: None,
        }];
        let commit = Commit {
            plans: &plans,
            command_id: None,
            fingerprint: None,
            commit_id: Uuid::now_v7(),
            now,
            recording: Recording::InCommit,
            reserved: None,
        };
        let budget = SendBudget::new(self.retry_policy().attempts());
        match self.commit(&commit, &budget).await {
            Ok(_) => {
                let [plan] = plans;
                Ok(plan.events)
            }
            // The failed condition says only that the stream is elsewhere:
            // the caller, who chose the version, is told where.
            Err(Error::Conflict {
                aggregate,
                expected,
                ..
            }) => Err(Error::Conflict {
                aggregate,
                expected,
                actual: self.last_version(&id).await?,
            }),
            Err(error) => Err(error),
        }
    }

    /// A conflict unless the stream of `id` ends at `expected` (one
    /// consistent query of its newest item).
    async fn expect_end(&self, id: &AggregateId, expected: u64) -> Result<()> {
        let actual = self.last_version(id).await?;
        if actual == expected {
            return Ok(());
        }
        Err(Error::Conflict {
            aggregate: Self::aggregate_name(id),
            expected,
            actual,
        })
    }
}
