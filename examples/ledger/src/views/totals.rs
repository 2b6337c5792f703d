//! The daily totals: one view per day and currency, what `ledger report`
//! shows.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use dynago_es::{AggregateId, EventStore};
use dynago_projections::{EventOf, Projection, ViewKind};
use serde::{Deserialize, Serialize};

use super::ViewError;
use crate::account::{Account, AccountEvent};
use crate::money::{Currency, Money};

/// What the events of one day in one currency add up to, over every
/// account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTotals {
    /// Events counted.
    pub events: u64,
    /// Accounts opened.
    pub opened: u64,
    /// Accounts closed.
    pub closed: u64,
    /// Money deposited.
    pub deposited: Money,
    /// Money withdrawn.
    pub withdrawn: Money,
    /// Money that arrived by transfer (credits).
    pub transferred_in: Money,
    /// Money that left by transfer (debits).
    pub transferred_out: Money,
}

impl fmt::Display for DayTotals {
    /// `events 12, opened 2, closed 0, deposited 100.00, ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "events {}, opened {}, closed {}, deposited {}, withdrawn {}, transferred in {}, out {}",
            self.events,
            self.opened,
            self.closed,
            self.deposited,
            self.withdrawn,
            self.transferred_in,
            self.transferred_out
        )
    }
}

/// The key of the totals of `currency` on the day of `timestamp`, in UTC:
/// `2026-12-01#EUR`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let at = Utc.with_ymd_and_hms(2026, 12, 1, 23, 59, 59).unwrap();
/// let key = ledger::views::day_key(at, &"EUR".parse()?);
/// assert_eq!(key, "2026-12-01#EUR");
/// # Ok::<(), ledger::ParseCurrencyError>(())
/// ```
pub fn day_key(timestamp: DateTime<Utc>, currency: &Currency) -> String {
    format!("{}#{currency}", timestamp.format("%Y-%m-%d"))
}

/// The currency of each account, as its `Opened` event names it: the other
/// events of an account do not carry it, and the daily totals key them by
/// it. Clones share it.
///
/// [`DailyTotals`] learns an account's currency when it keys its `Opened`
/// event, which it always keys before the account's later events (the
/// projector applies an account's events in version order). A process
/// that starts on views that are already built loads the currencies first
/// ([`read`](Self::read)), since the events applied before are not applied
/// again.
#[derive(Debug, Clone, Default)]
pub struct Currencies(Arc<RwLock<HashMap<AggregateId, Currency>>>);

impl Currencies {
    /// The currency of `account`, if known.
    pub fn get(&self, account: &AggregateId) -> Option<Currency> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
            .cloned()
    }

    /// Notes the currency of `account` (it never changes).
    pub fn insert(&self, account: AggregateId, currency: Currency) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account, currency);
    }

    /// How many accounts' currencies are known.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// No currency is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Notes the currency of every account in the store's table, read from
    /// their `Opened` events by one scan of the table; how many accounts.
    ///
    /// # Errors
    ///
    /// The scan failed, or an event did not read.
    pub async fn read(&self, store: &EventStore<Account>) -> dynago_es::Result<usize> {
        let opened = super::opened_events(store).await?;
        for event in &opened {
            if let AccountEvent::Opened { currency, .. } = &event.payload {
                self.insert(event.aggregate_id.clone(), currency.clone());
            }
        }
        Ok(opened.len())
    }
}

/// Totals per day and currency, over every account.
#[derive(Debug, Clone, Default)]
pub struct DailyTotals {
    currencies: Currencies,
}

impl DailyTotals {
    /// The projection, keying events by the currencies in `currencies`
    /// (and noting those it learns).
    pub fn new(currencies: Currencies) -> Self {
        DailyTotals { currencies }
    }

    /// The currencies it keys by.
    pub fn currencies(&self) -> &Currencies {
        &self.currencies
    }
}

/// The key of the totals of an account whose currency is not known: never
/// written, since [`DailyTotals::apply`] refuses such an event.
const UNKNOWN_CURRENCY: &str = "?";

impl Projection for DailyTotals {
    const NAME: &'static str = "daily-totals";
    const VIEWS: ViewKind = ViewKind::Keyed;
    type Aggregate = Account;
    type View = DayTotals;
    type Error = ViewError;

    fn view_key(&self, event: &EventOf<Self>) -> Option<String> {
        let currency = match &event.payload {
            AccountEvent::Opened { currency, .. } => {
                self.currencies
                    .insert(event.aggregate_id.clone(), currency.clone());
                Some(currency.clone())
            }
            _ => self.currencies.get(&event.aggregate_id),
        };
        // An event of an account whose currency is not known still gets a
        // key, so that `apply` refuses it and it is parked, not left out.
        Some(match currency {
            Some(currency) => day_key(event.timestamp, &currency),
            None => format!("{}#{UNKNOWN_CURRENCY}", event.timestamp.format("%Y-%m-%d")),
        })
    }

    fn apply(&self, totals: &mut DayTotals, event: &EventOf<Self>) -> Result<(), ViewError> {
        let account = event.aggregate_id.to_string();
        if self.currencies.get(&event.aggregate_id).is_none() {
            return Err(ViewError::UnknownCurrency(account));
        }
        let add = |sum: Money, amount: Money, what: &'static str| {
            sum.checked_add(amount).ok_or_else(|| ViewError::Overflow {
                account: account.clone(),
                what,
            })
        };
        match &event.payload {
            AccountEvent::Opened { .. } => totals.opened += 1,
            AccountEvent::Deposited { amount } => {
                totals.deposited = add(totals.deposited, *amount, "deposits of the day")?;
            }
            AccountEvent::Withdrawn { amount } => {
                totals.withdrawn = add(totals.withdrawn, *amount, "withdrawals of the day")?;
            }
            AccountEvent::Credited { amount, .. } => {
                totals.transferred_in =
                    add(totals.transferred_in, *amount, "transfers in of the day")?;
            }
            AccountEvent::Debited { amount, .. } => {
                totals.transferred_out =
                    add(totals.transferred_out, *amount, "transfers out of the day")?;
            }
            AccountEvent::Closed => totals.closed += 1,
        }
        totals.events += 1;
        Ok(())
    }
}
