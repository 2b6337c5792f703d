//! What the failed conditions of a commit mean, without I/O: each failed
//! action and the item it found (read back where the answer left it out)
//! is a [`Finding`], and a [`Verdict`] takes the findings in the order of
//! the actions: the commit's own earlier success, a command recorded by
//! another commit, or a conflict.

use dynago::Item;
use uuid::Uuid;

use crate::envelope::EventHeader;
use crate::plan::Role;
use crate::record::CommandRecord;

/// What one failed condition says, from the item it found.
#[derive(Debug)]
pub(crate) enum Finding {
    /// The commit's own write: an earlier send of it landed.
    Ours,
    /// The command id is recorded by another commit.
    Recorded(CommandRecord),
    /// Another commit holds `actual`, where plan `plan` wanted to write.
    Conflict { plan: usize, actual: u64 },
    /// Nothing that explains it: a record that does not read as one.
    Nothing,
}

/// What the failure of the action of `role` says, given the item `found`
/// under its key (`None`: no item there), for the commit `commit_id`
/// whose plans expected the versions `expected`.
pub(crate) fn finding(
    commit_id: Uuid,
    role: Role,
    expected: &[u64],
    found: Option<&Item>,
) -> Finding {
    match role {
        Role::Command => match found.and_then(record_of) {
            Some(record) if record.commit_id == commit_id => Finding::Ours,
            Some(record) => Finding::Recorded(record),
            None => Finding::Nothing,
        },
        Role::Event { plan, version } => match found.and_then(commit_of) {
            Some(writer) if writer == commit_id => Finding::Ours,
            _ => Finding::Conflict {
                plan,
                actual: version,
            },
        },
        Role::Check { plan } => Finding::Conflict {
            plan,
            actual: expected[plan].saturating_add(1),
        },
    }
}

/// Whether the failure of the action of `role` is read from the item it
/// found: a check's is not (its key being taken is all it says).
pub(crate) fn needs_item(role: Role) -> bool {
    matches!(role, Role::Command | Role::Event { .. })
}

/// What a commit's failed conditions come to.
#[derive(Debug)]
pub(crate) enum Conclusion {
    /// An earlier send of the commit landed: it is committed.
    Committed,
    /// The command was applied by another commit.
    Duplicate(CommandRecord),
    /// Another writer got there first (`actual` 0: the stream is behind).
    Conflict { plan: usize, actual: u64 },
    /// No failure explains it.
    Unexplained,
}

/// The findings of one commit, taken in the order of its actions.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    conflict: Option<(usize, u64)>,
    duplicate: Option<CommandRecord>,
}

impl Verdict {
    /// Takes one finding; `Some` when it settles the commit at once (the
    /// commit's own write).
    pub(crate) fn take(&mut self, finding: Finding) -> Option<Conclusion> {
        match finding {
            Finding::Ours => return Some(Conclusion::Committed),
            Finding::Recorded(record) => self.duplicate = Some(record),
            Finding::Conflict { plan, actual } => {
                self.conflict.get_or_insert((plan, actual));
            }
            Finding::Nothing => {}
        }
        None
    }

    /// What the findings come to when none settled the commit at once: a
    /// recorded command before a conflict (the command was applied).
    pub(crate) fn conclude(self) -> Conclusion {
        match (self.duplicate, self.conflict) {
            (Some(record), _) => Conclusion::Duplicate(record),
            (None, Some((plan, actual))) => Conclusion::Conflict { plan, actual },
            (None, None) => Conclusion::Unexplained,
        }
    }
}

/// The command record in an item.
pub(crate) fn record_of(item: &Item) -> Option<CommandRecord> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item.clone()).ok()
}

/// The commit id stored in an event item whose header reads.
pub(crate) fn commit_of(item: &Item) -> Option<Uuid> {
    EventHeader::from_item(item.clone())
        .ok()
        .map(|header| header.commit_id)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::id::{AggregateId, CommandId};
    use crate::record::CommandResult;

    const OURS: Uuid = Uuid::from_u128(1);
    const THEIRS: Uuid = Uuid::from_u128(2);

    /// An event item written by `commit`.
    fn event(commit: Uuid) -> Item {
        let header = EventHeader {
            aggregate_type: "tally".into(),
            aggregate_id: AggregateId::from("a"),
            version: 3,
            event_id: Uuid::nil(),
            event_type: "Added".into(),
            schema_version: 1,
            timestamp: DateTime::from_timestamp(0, 0).expect("a time"),
            metadata: Default::default(),
            commit_id: commit,
        };
        serde_dynamo::aws_sdk_dynamodb_1::to_item(header).expect("an item")
    }

    fn record(commit: Uuid) -> CommandRecord {
        CommandRecord {
            command_id: CommandId::new("c-1"),
            aggregate_type: "tally".into(),
            commit_id: commit,
            results: vec![CommandResult {
                aggregate_id: AggregateId::from("a"),
                first_version: 3,
                last_version: 3,
            }],
            fingerprint: None,
            recorded_at: DateTime::from_timestamp(0, 0).expect("a time"),
            expires_at: None,
            reserved: false,
        }
    }

    fn record_item(commit: Uuid) -> Item {
        serde_dynamo::aws_sdk_dynamodb_1::to_item(record(commit)).expect("an item")
    }

    const EVENT: Role = Role::Event {
        plan: 0,
        version: 3,
    };

    #[test]
    fn an_event_place_holding_this_commit_is_its_own_earlier_success() {
        let found = finding(OURS, EVENT, &[2], Some(&event(OURS)));
        assert!(matches!(found, Finding::Ours), "{found:?}");
    }

    #[test]
    fn an_event_place_holding_another_commit_or_nothing_readable_is_a_conflict_there() {
        for found in [Some(event(THEIRS)), Some(Item::new()), None] {
            let finding = finding(OURS, EVENT, &[2], found.as_ref());
            assert!(
                matches!(finding, Finding::Conflict { plan: 0, actual: 3 }),
                "{finding:?}"
            );
        }
    }

    #[test]
    fn a_record_of_this_commit_is_success_another_s_a_duplicate_nothing_says_nothing() {
        let ours = finding(OURS, Role::Command, &[2], Some(&record_item(OURS)));
        assert!(matches!(ours, Finding::Ours), "{ours:?}");
        let theirs = finding(OURS, Role::Command, &[2], Some(&record_item(THEIRS)));
        assert!(
            matches!(&theirs, Finding::Recorded(r) if r.commit_id == THEIRS),
            "{theirs:?}"
        );
        let nothing = finding(OURS, Role::Command, &[2], None);
        assert!(matches!(nothing, Finding::Nothing), "{nothing:?}");
    }

    #[test]
    fn a_failed_check_is_a_conflict_at_the_version_after_the_one_decided_on() {
        let found = finding(OURS, Role::Check { plan: 1 }, &[2, 7], None);
        assert!(
            matches!(found, Finding::Conflict { plan: 1, actual: 8 }),
            "{found:?}"
        );
        assert!(!needs_item(Role::Check { plan: 1 }));
        assert!(needs_item(EVENT) && needs_item(Role::Command));
    }

    #[test]
    fn the_commit_s_own_write_settles_it_whatever_came_before() {
        let mut verdict = Verdict::default();
        assert!(verdict
            .take(Finding::Conflict { plan: 0, actual: 3 })
            .is_none());
        assert!(matches!(
            verdict.take(Finding::Ours),
            Some(Conclusion::Committed)
        ));
    }

    #[test]
    fn a_recorded_command_comes_before_a_conflict_and_the_first_conflict_is_kept() {
        let mut verdict = Verdict::default();
        for finding in [
            Finding::Conflict { plan: 1, actual: 5 },
            Finding::Conflict { plan: 0, actual: 3 },
        ] {
            assert!(verdict.take(finding).is_none());
        }
        assert!(matches!(
            Verdict {
                duplicate: None,
                ..verdict
            }
            .conclude(),
            Conclusion::Conflict { plan: 1, actual: 5 }
        ));
        let mut verdict = Verdict::default();
        verdict.take(Finding::Conflict { plan: 0, actual: 3 });
        verdict.take(Finding::Recorded(record(THEIRS)));
        assert!(matches!(verdict.conclude(), Conclusion::Duplicate(_)));
    }

    #[test]
    fn nothing_found_explains_nothing() {
        let mut verdict = Verdict::default();
        assert!(verdict.take(Finding::Nothing).is_none());
        assert!(matches!(verdict.conclude(), Conclusion::Unexplained));
    }
}
