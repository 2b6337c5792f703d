//! Commands carried again: a command id matched with its record, and the
//! first outcome read back from the events it appended.

use std::collections::BTreeSet;

use crate::aggregate::Aggregate;
use crate::command::{CommandOptions, CommandOutcome};
use crate::error::{Error, Result};
use crate::id::{AggregateId, CommandId};
use crate::keys;
use crate::record::{CommandRecord, CommandResult};
use crate::store::EventStore;

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
    ) -> Result<Vec<CommandOutcome<A>>> {
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
        if first != now {
            return Err(reused(format!(
                "it is now carried by a command on {:?}",
                names(&mut commands.iter().map(|(id, _)| id))
            )));
        }
        if let (Some(first), Some(now)) = (&record.fingerprint, &options.fingerprint) {
            if first != now {
                return Err(reused(
                    "it is now carried by a command with another body (another fingerprint)"
                        .to_owned(),
                ));
            }
        }
        let mut outcomes = Vec::with_capacity(commands.len());
        for (id, _) in commands {
            let Some(result) = record.results.iter().find(|r| r.aggregate_id == *id) else {
                continue;
            };
            outcomes.push(self.first_outcome(record, result, attempts).await?);
        }
        Ok(outcomes)
    }

    /// The outcome a recorded command had on one aggregate, from the events
    /// it appended, checked to be those: every version of the record's
    /// range there, written by the record's commit.
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
        Ok(CommandOutcome {
            id: id.clone(),
            version: result.last_version,
            events,
            state: None,
            duplicate: true,
            attempts,
            requests: 0,
            capacity: dynago::telemetry::Capacity::default(),
        })
    }
}
