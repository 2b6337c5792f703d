//! Part 6: what one command costs in write units, for each shape of
//! command, against the limit AWS's rules set for the items it writes.
//!
//! Five commands, each run on accounts that exist and are cached (a warm-up
//! deposit first, unmeasured), one at a time:
//!
//! | command | what dynago-es writes |
//! |---|---|
//! | one event | one conditional `PutItem` of the commit item |
//! | one event with a command id | the command's record (`PutItem`), then the commit item (`PutItem`), after reading the record (`GetItem`) |
//! | 3 events | one `PutItem` of one commit item holding the three |
//! | 3 events with a command id | the record, then that commit item |
//! | a transfer | one `TransactWriteItems`: a commit item on each of two accounts |
//!
//! For each, the requests and the capacity units come from the command's
//! [`CommandOutcome`]: `requests`, and `capacity` as DynamoDB reported it
//! (`ConsumedCapacity`); beside them the write units by AWS's rules from
//! the items the requests carried, counted on the SDK client
//! ([`crate::counter`]). The **limit** is computed from the size of the
//! item the store writes for the command's events
//! ([`EventStore::commit_item`], [`dynago::item_size`]): a standard write
//! is 1 unit per started KB of its item, so `⌈commit / 1 KB⌉`; a command id
//! adds its record, a write of its own under 1 KB, `+ 1`; inside a
//! transaction each item costs twice, so a transfer is `2 × Σ ⌈commit / 1
//! KB⌉` over its two accounts.
//!
//! The first four are checked on every run (quick mode included, which CI
//! runs): a command that costs more write units than its limit, by either
//! count, ends the run with an error. The transfer is a transaction by
//! design and is shown against its rule, not checked.
//!
//! The bench's account knows deposits only: its transfer is a deposit on
//! each of two accounts in one [`EventStore::execute_all`], which writes
//! what a debit and a credit write (one event on each side, one
//! transaction).

use std::collections::BTreeMap;

use anyhow::{bail, ensure, Context, Result};
use dynago::ScalarAttributeType;
use dynago_es::{AggregateId, CommandId, CommandOptions, CommandOutcome, EventStore, StoreOptions};

use crate::account::{Account, AccountCommand};
use crate::commands::retry_policy;
use crate::server::Server;

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct WriteUnitsPlan {
    /// How many times each command runs (each on accounts of its own).
    pub repeats: usize,
}

/// The shapes of command measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shape {
    /// One event on one aggregate.
    OneEvent,
    /// One event on one aggregate, with a command id.
    OneEventWithId,
    /// Three events on one aggregate.
    ThreeEvents,
    /// Three events on one aggregate, with a command id.
    ThreeEventsWithId,
    /// One event on each of two aggregates, in one command.
    Transfer,
}

impl Shape {
    /// Every shape, in report order.
    pub const ALL: [Shape; 5] = [
        Shape::OneEvent,
        Shape::OneEventWithId,
        Shape::ThreeEvents,
        Shape::ThreeEventsWithId,
        Shape::Transfer,
    ];

    /// Its name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Shape::OneEvent => "one event",
            Shape::OneEventWithId => "one event, with a command id",
            Shape::ThreeEvents => "3 events",
            Shape::ThreeEventsWithId => "3 events, with a command id",
            Shape::Transfer => "a transfer (one event on each of 2 accounts)",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Shape::OneEvent => "one",
            Shape::OneEventWithId => "one-id",
            Shape::ThreeEvents => "three",
            Shape::ThreeEventsWithId => "three-id",
            Shape::Transfer => "transfer",
        }
    }

    /// Events on each account.
    fn events(self) -> u32 {
        match self {
            Shape::ThreeEvents | Shape::ThreeEventsWithId => 3,
            _ => 1,
        }
    }

    fn with_id(self) -> bool {
        matches!(self, Shape::OneEventWithId | Shape::ThreeEventsWithId)
    }

    /// Whether the run fails when the command costs more than its limit:
    /// every command on one aggregate. A transfer is a transaction by
    /// design, shown against its rule.
    pub fn checked(self) -> bool {
        self != Shape::Transfer
    }

    /// Write units of the same command in dynago-es 0.1, the item format
    /// before one item per commit (an item per event; a transaction for
    /// several events or a command id, 2 units per item): recorded, not
    /// measured by this run.
    pub fn previous_write_units(self) -> f64 {
        match self {
            Shape::OneEvent => 1.0,
            Shape::OneEventWithId | Shape::Transfer => 4.0,
            Shape::ThreeEvents => 6.0,
            Shape::ThreeEventsWithId => 8.0,
        }
    }

    /// The limit by AWS's rules for a command whose commit items (one per
    /// account) are `commit_bytes` bytes: see the module's documentation.
    pub fn limit(self, commit_bytes: &[usize]) -> f64 {
        let commits: f64 = commit_bytes.iter().map(|&bytes| started_kb(bytes)).sum();
        match self {
            Shape::Transfer => 2.0 * commits,
            _ if self.with_id() => commits + 1.0,
            _ => commits,
        }
    }
}

/// Started KB of `bytes`, at least 1: the write units of an item written on
/// its own.
fn started_kb(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// What one shape of command cost: the most over its repeats.
#[derive(Debug, Clone)]
pub struct WriteUnitsResult {
    /// The command.
    pub shape: Shape,
    /// How many were measured.
    pub commands: usize,
    /// Requests, as the outcome reports them (`CommandOutcome::requests`).
    pub requests: u32,
    /// Requests by operation, counted on the SDK client.
    pub by_operation: BTreeMap<String, u64>,
    /// Write units as DynamoDB reported them (`CommandOutcome::capacity`).
    pub write_units: f64,
    /// Write units by AWS's rules from the items the requests carried.
    pub write_units_by_rules: f64,
    /// Read units as DynamoDB reported them.
    pub read_units: f64,
    /// The size of each commit item the command writes (one per account).
    pub commit_bytes: Vec<usize>,
    /// The limit by AWS's rules, from those sizes.
    pub limit: f64,
}

impl WriteUnitsResult {
    /// The dearer of the two counts of write units: what is checked.
    pub fn worst(&self) -> f64 {
        self.write_units.max(self.write_units_by_rules)
    }

    /// Whether the command stays within its limit.
    pub fn within_limit(&self) -> bool {
        self.worst() <= self.limit + 1e-9
    }
}

/// One command measured.
struct Measured {
    requests: u32,
    by_operation: BTreeMap<String, u64>,
    write_units: f64,
    write_units_by_rules: f64,
    read_units: f64,
    commit_bytes: Vec<usize>,
}

/// Runs part 6, and checks the commands on one aggregate against their
/// limits.
///
/// # Errors
///
/// A failed command, an account whose events do not add up, a server that
/// reports no capacity, or a command on one aggregate that costs more write
/// units than its limit ([`check`]).
pub async fn run(server: &Server, plan: WriteUnitsPlan) -> Result<Vec<WriteUnitsResult>> {
    let table = server
        .create_table("bench-units", "pk", Some(("sk", ScalarAttributeType::S)))
        .await?;
    let store = EventStore::<Account>::new(
        table.clone(),
        StoreOptions::default().retry(retry_policy()).cache(1_000),
    )?;
    let verify = EventStore::<Account>::new(table, StoreOptions::default())?;
    let mut results = Vec::new();
    for shape in Shape::ALL {
        let mut worst: Option<WriteUnitsResult> = None;
        for repeat in 0..plan.repeats.max(1) {
            let measured = measure(server, &store, &verify, shape, repeat).await?;
            let limit = shape.limit(&measured.commit_bytes);
            let result = WriteUnitsResult {
                shape,
                commands: repeat + 1,
                requests: measured.requests,
                by_operation: measured.by_operation,
                write_units: measured.write_units,
                write_units_by_rules: measured.write_units_by_rules,
                read_units: measured.read_units,
                commit_bytes: measured.commit_bytes,
                limit,
            };
            // Every repeat is checked; the dearest is reported.
            check(std::slice::from_ref(&result))?;
            worst = Some(match worst {
                Some(w) if w.worst() >= result.worst() => WriteUnitsResult {
                    commands: repeat + 1,
                    ..w
                },
                _ => result,
            });
        }
        results.extend(worst);
    }
    Ok(results)
}

/// Fails when a command on one aggregate costs more write units than its
/// limit, by DynamoDB's count or by AWS's rules from the items sent.
///
/// # Errors
///
/// The first such command, with both counts and its limit.
pub fn check(results: &[WriteUnitsResult]) -> Result<()> {
    for r in results.iter().filter(|r| r.shape.checked()) {
        if !r.within_limit() {
            bail!(
                "{}: {} write units as DynamoDB reported them, {} by AWS's rules from the items sent, \
                 over its limit of {} (commit item {} bytes{}): a command on one aggregate \
                 is one PutItem of one item, and its id one more",
                r.shape.label(),
                r.write_units,
                r.write_units_by_rules,
                r.limit,
                r.commit_bytes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" + "),
                if r.shape.with_id() {
                    ", + 1 for the command's record"
                } else {
                    ""
                },
            );
        }
        crate::checks::pass(1);
    }
    Ok(())
}

/// The deposit that creates (and caches) each account before the measured
/// command.
const WARM_UP_AMOUNT: u64 = 1;

/// Each deposit of a measured command.
const AMOUNT: u64 = 250;

async fn measure(
    server: &Server,
    store: &EventStore<Account>,
    verify: &EventStore<Account>,
    shape: Shape,
    repeat: usize,
) -> Result<Measured> {
    let prefix = format!("units-{}-r{repeat}", shape.slug());
    let accounts: Vec<AggregateId> = if shape == Shape::Transfer {
        vec![
            AggregateId::new(format!("{prefix}-from")),
            AggregateId::new(format!("{prefix}-to")),
        ]
    } else {
        vec![AggregateId::new(prefix.clone())]
    };
    for id in &accounts {
        store
            .execute(
                id.clone(),
                AccountCommand::Deposit {
                    amount: WARM_UP_AMOUNT,
                },
            )
            .await?;
    }
    let count = shape.events();
    let command = || {
        if count == 1 {
            AccountCommand::Deposit { amount: AMOUNT }
        } else {
            AccountCommand::DepositMany {
                amount: AMOUNT,
                count,
            }
        }
    };
    let options = if shape.with_id() {
        CommandOptions::default().command_id(CommandId::new(format!("{prefix}-command")))
    } else {
        CommandOptions::default()
    };
    let commands = accounts.iter().map(|id| (id.clone(), command())).collect();
    let before = server.counter().snapshot();
    let outcomes: Vec<CommandOutcome<Account>> = store.execute_all(commands, options).await?;
    let sent = server.counter().snapshot().since(&before);

    ensure!(
        outcomes.len() == accounts.len(),
        "{}: {} outcomes for {} accounts",
        shape.label(),
        outcomes.len(),
        accounts.len()
    );
    let mut commit_bytes = Vec::with_capacity(outcomes.len());
    for (id, outcome) in accounts.iter().zip(&outcomes) {
        ensure!(
            !outcome.duplicate
                && outcome.attempts == 1
                && outcome.events.len() == count as usize
                && outcome.version == 1 + u64::from(count),
            "{} on {id}: {} events to version {} in {} attempts (duplicate: {}); expected {count} to version {}",
            shape.label(),
            outcome.events.len(),
            outcome.version,
            outcome.attempts,
            outcome.duplicate,
            1 + u64::from(count)
        );
        let item = store
            .commit_item(&outcome.events)
            .with_context(|| format!("the commit item of {id}"))?;
        commit_bytes.push(dynago::item_size(&item));
        let loaded = verify.load(id.clone()).await?;
        let want = Account {
            balance: WARM_UP_AMOUNT + AMOUNT * u64::from(count),
            deposits: 1 + u64::from(count),
        };
        ensure!(
            loaded.state == want && loaded.version == want.deposits,
            "{id}: {:?} at version {}, expected {want:?}",
            loaded.state,
            loaded.version
        );
        crate::checks::pass(1);
    }
    // Every outcome of one command carries the whole command's usage.
    let first = &outcomes[0];
    ensure!(
        first.capacity.write_units > 0.0,
        "{}: the server reported no write units ({:?}): nothing to measure",
        shape.label(),
        first.capacity
    );
    Ok(Measured {
        requests: first.requests,
        by_operation: sent.by_operation,
        write_units: first.capacity.write_units,
        write_units_by_rules: sent.units.write,
        read_units: first.capacity.read_units,
        commit_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(shape: Shape, write_units: f64, commit_bytes: Vec<usize>) -> WriteUnitsResult {
        WriteUnitsResult {
            shape,
            commands: 1,
            requests: 1,
            by_operation: BTreeMap::new(),
            write_units,
            write_units_by_rules: write_units,
            read_units: 0.0,
            limit: shape.limit(&commit_bytes),
            commit_bytes,
        }
    }

    #[test]
    fn limits_follow_the_item_sizes() {
        assert_eq!(Shape::OneEvent.limit(&[300]), 1.0);
        assert_eq!(Shape::OneEventWithId.limit(&[300]), 2.0);
        assert_eq!(Shape::ThreeEvents.limit(&[900]), 1.0);
        assert_eq!(Shape::ThreeEvents.limit(&[1_025]), 2.0);
        assert_eq!(Shape::ThreeEventsWithId.limit(&[900]), 2.0);
        assert_eq!(Shape::Transfer.limit(&[300, 300]), 4.0);
    }

    #[test]
    fn the_previous_format_fails_the_check_and_this_one_passes() {
        let sizes = [300, 300, 900, 900];
        let shapes = &Shape::ALL[..4];
        let now = [1.0, 2.0, 1.0, 2.0];
        let results: Vec<_> = shapes
            .iter()
            .zip(now)
            .zip(sizes)
            .map(|((&shape, units), size)| result(shape, units, vec![size]))
            .collect();
        check(&results).expect("within the limits");
        // Any one command of 0.1's cost over its limit fails the run.
        for (&shape, size) in shapes.iter().zip(sizes) {
            let previous = result(shape, shape.previous_write_units(), vec![size]);
            if shape == Shape::OneEvent {
                check(&[previous]).expect("one event cost 1 then too");
            } else {
                let error = check(&[previous]).expect_err("over the limit");
                assert!(error.to_string().contains("over its limit"), "{error}");
            }
        }
        // Either count over the limit fails: the rules' count alone too.
        let mut sneaky = result(Shape::ThreeEvents, 1.0, vec![900]);
        sneaky.write_units_by_rules = 3.0;
        assert!(check(&[sneaky]).is_err());
        // A transfer is shown, not checked.
        check(&[result(Shape::Transfer, 4.0, vec![300, 300])]).expect("not checked");
    }
}
