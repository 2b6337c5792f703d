//! The accounts view: one per account, what `ledger accounts` lists.

use std::fmt;

use chrono::{DateTime, Utc};
use dynago_projections::{EventOf, Projection};
use serde::{Deserialize, Serialize};

use super::ViewError;
use crate::account::{Account, AccountEvent};
use crate::money::{Currency, Money};

/// Whether an account is open, as its events say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountStatus {
    /// No `Opened` event applied yet (never stored: an account's first
    /// event opens it).
    #[default]
    Unopened,
    /// Opened and not closed.
    Open,
    /// Closed, for good.
    Closed,
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            AccountStatus::Unopened => "unopened",
            AccountStatus::Open => "open",
            AccountStatus::Closed => "closed",
        })
    }
}

/// One account as its events leave it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// Who owns it.
    pub owner: String,
    /// The one currency it holds (`None` only before its `Opened` event).
    pub currency: Option<Currency>,
    /// How much it holds.
    pub balance: Money,
    /// Open or closed.
    pub status: AccountStatus,
    /// When it was opened.
    pub opened_at: Option<DateTime<Utc>>,
    /// When its last event was stored.
    pub last_event_at: Option<DateTime<Utc>>,
}

impl fmt::Display for AccountView {
    /// `12.34 EUR, open, owner Alice`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let currency = self.currency.as_ref().map_or("", Currency::as_str);
        write!(
            f,
            "{} {currency}, {}, owner {}",
            self.balance, self.status, self.owner
        )
    }
}

/// One view per account: owner, currency, balance, status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accounts;

impl Projection for Accounts {
    const NAME: &'static str = "accounts";
    type Aggregate = Account;
    type View = AccountView;
    type Error = ViewError;

    fn apply(&self, view: &mut AccountView, event: &EventOf<Self>) -> Result<(), ViewError> {
        let overflow = || ViewError::Overflow {
            account: event.aggregate_id.to_string(),
            what: "balance",
        };
        match &event.payload {
            AccountEvent::Opened { owner, currency } => {
                view.owner.clone_from(owner);
                view.currency = Some(currency.clone());
                view.status = AccountStatus::Open;
                view.opened_at = Some(event.timestamp);
            }
            AccountEvent::Deposited { amount } | AccountEvent::Credited { amount, .. } => {
                view.balance = view.balance.checked_add(*amount).ok_or_else(overflow)?;
            }
            AccountEvent::Withdrawn { amount } | AccountEvent::Debited { amount, .. } => {
                view.balance = view.balance.checked_sub(*amount).ok_or_else(overflow)?;
            }
            AccountEvent::Closed => view.status = AccountStatus::Closed,
        }
        view.last_event_at = Some(event.timestamp);
        Ok(())
    }
}
