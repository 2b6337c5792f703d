//! Commands carried again: a command id matched with its record, and the
//! first outcome read back from the events it appended.
//!
//! A record written in a commit's transaction names the versions its
//! command appended. A reserved record (a command on one aggregate, its
//! record written before its events, see docs/event-store.md) names where
//! the first attempt aimed them: the command's events, if any landed, are
//! the first commit at or after that version whose metadata carries the
//! command id, found by reading on from there.

use std::collections::BTreeSet;

use crate::aggregate::Aggregate;
use crate::command::{CommandOptions, CommandOutcome};
use crate::error::{Error, Result};
use crate::id::{AggregateId, CommandId};
use uuid::Uuid;

use crate::envelope::EventEnvelope;
use crate::keys;
use crate::plan::{Basis, Folded};
use crate::record::{CommandRecord, CommandResult};
use crate::store::EventStore;

/// The commit id and last version of a reserved record's first attempt.
fn first_attempt(record: &CommandRecord, result: &CommandResult) -> Option<(Uuid, u64)> {
    Some((record.commit_id, result.last_version))
}

/// What a command carried again comes to.
pub(crate) enum Repeat<A: Aggregate> {
    /// Its first outcome, read back: the command was applied.
    Answered(Vec<CommandOutcome<A>>),
    /// Its record is reserved but none of its events landed so far: it is
    /// decided again, on the state read after looking (its basis).
    NotLanded(AggregateId, Basis<A>),
}

/// What reading on from a reserved command's first version found.
pub(crate) enum Landing<A: Aggregate> {
    /// The events of the command's commit.
    Landed(Vec<EventEnvelope<A::Event>>),
    /// No event of the command: the state folded to the stream's end (when
    /// folding), and the last version read.
    Not { folded: Folded<A>, seen: u64 },
}

impl<A: Aggregate> EventStore<A> {
    /// The record of the command `command_id`, if one was recorded (a
    /// consistent read).
    pub(crate) async fn read_record(
        &self,
        command_id: &CommandId,
    ) -> Result<Option<CommandRecord>> {
        Ok(self
            .table()
            .get_item(keys::command(A::TYPE, command_id))
            .consistent_read(true)
            .send()
            .await?)
    }

    /// The answer to `commands` carrying a command id that `record` holds:
    /// the first outcome, in the order of `commands`, when they are the same
    /// command (the same aggregates, and the same fingerprint where both
    /// have one); [`Error::CommandIdReused`] otherwise.
    pub(crate) async fn repeated(
        &self,
        record: &CommandRecord,
        commands: &[(AggregateId, A::Command)],
        options: &CommandOptions,
        attempts: usize,
    ) -> Result<Repeat<A>> {
        self.same_command(record, commands, options).await?;
        if record.reserved {
            // One aggregate, checked above to be this command's.
            let Some(result) = record.results.first() else {
                return Err(Error::CommandIdReused {
                    command_id: record.command_id.to_string(),
                    first_used_for: Vec::new(),
                    reason: "its record names no aggregate".to_owned(),
                });
            };
            let id = &result.aggregate_id;
            let command_id = &record.command_id;
            let answered =
                |events| Repeat::Answered(vec![self.landed_outcome(id, events, attempts)]);
            let seen = match self
                .look_for(
                    command_id,
                    first_attempt(record, result),
                    id,
                    result.first_version,
                    None,
                )
                .await?
            {
                Landing::Landed(events) => return Ok(answered(events)),
                Landing::Not { seen, .. } => seen,
            };
            // Not landed so far: the command is decided again, on the
            // state loaded now; what came after the versions looked at is
            // looked at too.
            let loaded = self.load_upto(id, None).await?.into_folded();
            let after = seen.saturating_add(1).max(result.first_version);
            return Ok(
                match self
                    .look_for(
                        command_id,
                        first_attempt(record, result),
                        id,
                        after,
                        Some(loaded),
                    )
                    .await?
                {
                    Landing::Landed(events) => answered(events),
                    Landing::Not { folded, .. } => Repeat::NotLanded(
                        id.clone(),
                        Basis {
                            folded,
                            cached: false,
                            taken: 0,
                        },
                    ),
                },
            );
        }
        let mut outcomes = Vec::with_capacity(commands.len());
        for (id, _) in commands {
            let Some(result) = record.results.iter().find(|r| r.aggregate_id == *id) else {
                continue;
            };
            outcomes.push(self.first_outcome(record, result, attempts).await?);
        }
        Ok(Repeat::Answered(outcomes))
    }

    /// Refuses `commands` when they are not the command `record` holds
    /// the id of: other aggregates, or another fingerprint where both have
    /// one ([`Error::CommandIdReused`]).
    async fn same_command(
        &self,
        record: &CommandRecord,
        commands: &[(AggregateId, A::Command)],
        options: &CommandOptions,
    ) -> Result<()> {
        let names = |ids: &mut dyn Iterator<Item = &AggregateId>| -> Vec<String> {
            ids.map(Self::aggregate_name).collect()
        };
        let reused = |reason: String| Error::CommandIdReused {
            command_id: record.command_id.to_string(),
            first_used_for: names(&mut record.results.iter().map(|r| &r.aggregate_id)),
            reason,
        };
        let first: BTreeSet<&AggregateId> =
            record.results.iter().map(|r| &r.aggregate_id).collect();
        let now: BTreeSet<&AggregateId> = commands.iter().map(|(id, _)| id).collect();
        let mismatch = if first != now {
            Some(format!(
                "it is now carried by a command on {:?}",
                names(&mut commands.iter().map(|(id, _)| id))
            ))
        } else {
            match (&record.fingerprint, &options.fingerprint) {
                (Some(first), Some(now)) if first != now => Some(
                    "it is now carried by a command with another body (another fingerprint)"
                        .to_owned(),
                ),
                _ => None,
            }
        };
        if let Some(reason) = mismatch {
            // A reservation binds the id as a record does, but says only
            // that a command was sent with it: whether it was applied is
            // read from the events.
            let applied = match (record.reserved, record.results.first()) {
                (true, Some(result)) => matches!(
                    self.look_for(
                        &record.command_id,
                        first_attempt(record, result),
                        &result.aggregate_id,
                        result.first_version,
                        None,
                    )
                    .await?,
                    Landing::Landed(_)
                ),
                _ => true,
            };
            return Err(reused(if applied {
                reason
            } else {
                format!(
                    "{reason}; the command it was first sent with has not been applied so far, and may still be"
                )
            }));
        }
        Ok(())
    }

    /// The first outcome of a recorded command, when it was applied: for a
    /// reserved record, only if its events landed (read on from its first
    /// version to the stream's end).
    pub(crate) async fn recorded_outcome(
        &self,
        record: &CommandRecord,
        commands: &[(AggregateId, A::Command)],
        options: &CommandOptions,
        attempts: usize,
    ) -> Result<Option<Vec<CommandOutcome<A>>>> {
        let result = match (record.reserved, record.results.first()) {
            (true, Some(result)) => result,
            // Applied with its record; or refused as another command's.
            _ => {
                return match self.repeated(record, commands, options, attempts).await? {
                    Repeat::Answered(outcomes) => Ok(Some(outcomes)),
                    Repeat::NotLanded(..) => Ok(None),
                }
            }
        };
        self.same_command(record, commands, options).await?;
        let id = &result.aggregate_id;
        Ok(
            match self
                .look_for(
                    &record.command_id,
                    first_attempt(record, result),
                    id,
                    result.first_version,
                    None,
                )
                .await?
            {
                Landing::Landed(events) => Some(vec![self.landed_outcome(id, events, attempts)]),
                Landing::Not { .. } => None,
            },
        )
    }

    /// Reads the events of `id` from version `first` on, looking for the
    /// commit of the command `command_id`; when `from` is given, the others after
    /// its version are folded into its state (the stream may have been
    /// read past `first` already, when `from` is later). The item at
    /// `first` is read on its own first: it holds the command's events
    /// unless its first attempt lost a race.
    pub(crate) async fn look_for(
        &self,
        command_id: &CommandId,
        first_attempt: Option<(Uuid, u64)>,
        id: &AggregateId,
        first: u64,
        from: Option<Folded<A>>,
    ) -> Result<Landing<A>> {
        let folding = from.is_some();
        let Folded {
            mut state,
            version,
            snapshot_version,
        } = from.unwrap_or(Folded {
            state: A::default(),
            version: first.saturating_sub(1),
            snapshot_version: 0,
        });
        let command_id = command_id.as_str();
        let start = first.min(version.saturating_add(1)).max(1);
        let origin = self.origin(id);
        let upcasters = self.options().upcasters();
        let mut query = self.events_query(id, start, u64::MAX).limit(1);
        let mut at = start.saturating_sub(1);
        let mut folded_to = version;
        let mut landed: Vec<EventEnvelope<A::Event>> = Vec::new();
        let mut landed_commit = None;
        'pages: loop {
            let page = query.clone().send_raw().await?;
            for item in page.items {
                let mut done = false;
                EventEnvelope::from_item(
                    item,
                    &origin,
                    upcasters,
                    0..=u64::MAX,
                    |event, commit_id| {
                        if done {
                            return Ok(());
                        }
                        if at.checked_add(1) != Some(event.version) {
                            return Err(Error::VersionGap {
                                aggregate: Self::aggregate_name(id),
                                expected: at.saturating_add(1),
                                found: event.version,
                            });
                        }
                        at = event.version;
                        match landed_commit {
                            Some(commit) if commit == commit_id => landed.push(event),
                            Some(_) => done = true,
                            None if event.version >= first
                                && event.metadata.command_id.as_deref() == Some(command_id) =>
                            {
                                landed_commit = Some(commit_id);
                                landed.push(event);
                            }
                            None => {
                                if folding && event.version > folded_to {
                                    state.apply(&event.payload);
                                    folded_to = event.version;
                                }
                            }
                        }
                        // The first attempt's commit ends where its record
                        // says: nothing after it needs reading.
                        if landed_commit.is_some() && first_attempt == landed_commit.zip(Some(at)) {
                            done = true;
                        }
                        Ok(())
                    },
                )?;
                if done {
                    break 'pages;
                }
            }
            match page.cursor {
                // Pages after the first are whole.
                Some(cursor) => query = self.events_query(id, start, u64::MAX).cursor(cursor),
                None => break,
            }
        }
        if landed_commit.is_some() {
            return Ok(Landing::Landed(landed));
        }
        Ok(Landing::Not {
            folded: Folded {
                state,
                version: folded_to,
                snapshot_version,
            },
            seen: at,
        })
    }

    /// The outcome of a command whose events are `events`, read back.
    pub(crate) fn landed_outcome(
        &self,
        id: &AggregateId,
        events: Vec<EventEnvelope<A::Event>>,
        attempts: usize,
    ) -> CommandOutcome<A> {
        CommandOutcome {
            id: id.clone(),
            version: events.last().map_or(0, |event| event.version),
            events,
            state: None,
            duplicate: true,
            attempts,
            requests: 0,
            capacity: dynago::telemetry::Capacity::default(),
        }
    }

    async fn first_outcome(
        &self,
        record: &CommandRecord,
        result: &CommandResult,
        attempts: usize,
    ) -> Result<CommandOutcome<A>> {
        let id = &result.aggregate_id;
        let read = self
            .read_events(id, result.first_version, result.last_version)
            .await?;
        let corrupt = |reason: String| Error::CorruptStream {
            aggregate: Self::aggregate_name(id),
            reason: format!(
                "the record of command {} says it appended versions {} to {}, but {reason}",
                record.command_id, result.first_version, result.last_version
            ),
        };
        let mut events = Vec::with_capacity(read.len());
        let mut next = result.first_version;
        for (event, commit_id) in read {
            if event.version != next {
                return Err(corrupt(format!("version {next} is missing")));
            }
            if commit_id != record.commit_id {
                return Err(corrupt(format!(
                    "version {next} was written by another commit ({commit_id})"
                )));
            }
            next += 1;
            events.push(event);
        }
        if next <= result.last_version {
            return Err(corrupt(format!("the events end before version {next}")));
        }
        Ok(self.landed_outcome(id, events, attempts))
    }
}
