//! Checks that the ledger kept its promises, read back from the table: no
//! money created or lost, every transfer whole, no version missing or
//! repeated, and snapshots that agree with the events.

use std::fmt;

use dynago_es::Aggregate;
use futures::TryStreamExt;

use crate::account::{Account, AccountEvent, AccountId};
use crate::ledger::{Ledger, Result};
use crate::money::{Currency, Money};

/// The money that clients were told went in and out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The accounts' one currency.
    pub currency: Currency,
    /// The sum of the deposits acknowledged.
    pub deposited: Money,
    /// The sum of the withdrawals acknowledged.
    pub withdrawn: Money,
}

/// One check and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Check {
    /// Whether the promise held.
    pub passed: bool,
    /// What was checked and found, in a sentence.
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        write!(f, "{verdict}  {}", self.detail)
    }
}

impl Check {
    /// A check that `passed` or not, described by `detail`.
    pub fn new(passed: bool, detail: impl Into<String>) -> Self {
        Check {
            passed,
            detail: detail.into(),
        }
    }
}

fn check(passed: bool, detail: String) -> Check {
    Check::new(passed, detail)
}

/// A sum that remembers it overflowed.
#[derive(Debug, Clone, Copy)]
struct Total(Option<Money>);

impl Default for Total {
    fn default() -> Self {
        Total(Some(Money::ZERO))
    }
}

impl Total {
    fn add(&mut self, amount: Money) {
        self.0 = self.0.and_then(|total| total.checked_add(amount));
    }
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(total) => total.fmt(f),
            None => f.write_str("(overflow)"),
        }
    }
}

/// What the events of all accounts add up to.
#[derive(Debug, Default)]
struct Tally {
    balances: Total,
    deposited: Total,
    withdrawn: Total,
    debited: Total,
    credited: Total,
    debits: usize,
    credits: usize,
    events: u64,
    gaps: Vec<String>,
    stale: Vec<String>,
}

/// Reads every account of `accounts` back and checks the ledger's promises
/// against `expected` (accounts of one currency).
///
/// # Errors
///
/// [`LedgerError`](crate::LedgerError) when an account cannot be read.
pub async fn audit(
    ledger: &Ledger,
    accounts: &[AccountId],
    expected: Expected,
) -> Result<Vec<Check>> {
    let mut tally = Tally::default();
    for account in accounts {
        let statement = ledger.statement(account).await?;
        tally.balances.add(statement.state.balance());
        let mut replayed = Account::default();
        let mut version = 0;
        let mut events = std::pin::pin!(ledger.store().events(account, 1));
        loop {
            let event = match events.try_next().await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                // The stream stops at a gap itself; report it as a failed check.
                Err(error @ dynago_es::Error::VersionGap { .. }) => {
                    tally.gaps.push(error.to_string());
                    break;
                }
                Err(error) => return Err(error.into()),
            };
            version += 1;
            if event.version != version {
                tally.gaps.push(format!(
                    "{account}: version {} where {version} was due",
                    event.version
                ));
                version = event.version;
            }
            match &event.payload {
                AccountEvent::Deposited { amount } => tally.deposited.add(*amount),
                AccountEvent::Withdrawn { amount } => tally.withdrawn.add(*amount),
                AccountEvent::Debited { amount, .. } => {
                    tally.debited.add(*amount);
                    tally.debits += 1;
                }
                AccountEvent::Credited { amount, .. } => {
                    tally.credited.add(*amount);
                    tally.credits += 1;
                }
                AccountEvent::Opened { .. } | AccountEvent::Closed => {}
            }
            replayed.apply(&event.payload);
        }
        tally.events += version;
        if version != statement.version {
            tally.gaps.push(format!(
                "{account}: events end at {version}, the account is at {}",
                statement.version
            ));
        }
        if replayed != statement.state {
            tally.stale.push(format!(
                "{account}: {} loaded from the snapshot at version {}, {} replayed",
                statement.state.balance(),
                statement.snapshot_version,
                replayed.balance(),
            ));
        }
    }
    Ok(verdicts(accounts.len(), &expected, &tally))
}

fn verdicts(accounts: usize, expected: &Expected, tally: &Tally) -> Vec<Check> {
    let currency = &expected.currency;
    let net = expected.deposited.checked_sub(expected.withdrawn);
    let conserved = net.is_some() && tally.balances.0 == net;
    let acknowledged = tally.deposited.0 == Some(expected.deposited)
        && tally.withdrawn.0 == Some(expected.withdrawn);
    let whole = tally.debits == tally.credits
        && tally.debited.0.is_some()
        && tally.debited.0 == tally.credited.0;
    vec![
        check(
            conserved,
            format!(
                "no money created or lost: balances sum to {} {currency} = {} deposited - {} withdrawn",
                tally.balances, expected.deposited, expected.withdrawn,
            ),
        ),
        check(
            acknowledged,
            format!(
                "each acknowledged deposit and withdrawal stored once: events hold {} in, {} out",
                tally.deposited, tally.withdrawn,
            ),
        ),
        check(
            whole,
            format!(
                "every transfer whole: {} debits, {} credits, {} {currency} out, {} {currency} in",
                tally.debits, tally.credits, tally.debited, tally.credited,
            ),
        ),
        check(
            tally.gaps.is_empty(),
            if tally.gaps.is_empty() {
                format!(
                    "versions contiguous: {} events in {accounts} accounts, each numbered 1..=n, no gap or repeat",
                    tally.events
                )
            } else {
                format!("versions not contiguous: {}", tally.gaps.join("; "))
            },
        ),
        check(
            tally.stale.is_empty(),
            if tally.stale.is_empty() {
                "snapshots right: every account loads from its snapshot as it replays from event 1"
                    .to_owned()
            } else {
                format!("snapshots wrong: {}", tally.stale.join("; "))
            },
        ),
    ]
}
