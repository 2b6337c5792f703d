//! The account aggregate: its commands, its events, and the rules that
//! decide between them.
//!
//! Every rule lives in [`Account::handle`], which runs before anything is
//! written: a command it refuses leaves the table untouched. A transfer is two
//! commands, a [`Debit`](AccountCommand::Debit) of the source and a
//! [`Credit`](AccountCommand::Credit) of the target, that
//! [`Ledger::transfer`](crate::Ledger::transfer) executes in one transaction.

use std::fmt;
use std::str::FromStr;

use dynago_es::{Aggregate, AggregateId, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};

/// The id of an account, chosen by whoever opens it (`alice`, `acc-1001`):
/// 1 to 64 characters, no spaces.
///
/// ```
/// use ledger::AccountId;
///
/// let id: AccountId = "alice".parse()?;
/// assert_eq!(id.as_str(), "alice");
/// assert!("two words".parse::<AccountId>().is_err());
/// # Ok::<(), ledger::ParseAccountIdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    /// The longest id, in characters.
    pub const MAX_LEN: usize = 64;

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl From<&AccountId> for AggregateId {
    fn from(id: &AccountId) -> Self {
        AggregateId::new(id.as_str())
    }
}

/// Text that is not an account id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account id `{0}` must be 1 to 64 characters with no spaces")]
pub struct ParseAccountIdError(pub String);

impl FromStr for AccountId {
    type Err = ParseAccountIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let length = text.chars().count();
        if (1..=Self::MAX_LEN).contains(&length)
            && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            Ok(AccountId(text.to_owned()))
        } else {
            Err(ParseAccountIdError(text.to_owned()))
        }
    }
}

/// What is known of an opened account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Who owns it.
    pub owner: String,
    /// The one currency it holds.
    pub currency: Currency,
    /// How much it holds; never below zero.
    pub balance: Money,
}

/// A bank account: the fold of its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Account {
    /// No event yet: the account does not exist.
    #[default]
    Unopened,
    /// Open: it takes deposits, withdrawals and transfers.
    Open(Holder),
    /// Closed at a zero balance, for good.
    Closed(Holder),
}

impl Account {
    /// The holder, once the account was opened.
    pub fn holder(&self) -> Option<&Holder> {
        match self {
            Account::Unopened => None,
            Account::Open(holder) | Account::Closed(holder) => Some(holder),
        }
    }

    /// The balance (zero for an account never opened).
    pub fn balance(&self) -> Money {
        self.holder().map_or(Money::ZERO, |holder| holder.balance)
    }

    /// `open`, `closed` or `unopened`.
    pub fn status(&self) -> &'static str {
        match self {
            Account::Unopened => "unopened",
            Account::Open(_) => "open",
            Account::Closed(_) => "closed",
        }
    }
}

/// What can be asked of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCommand {
    /// Opens the account for `owner`, in `currency`.
    Open {
        /// Who owns it.
        owner: String,
        /// The one currency it will hold.
        currency: Currency,
    },
    /// Puts money in.
    Deposit {
        /// How much, in the account's currency.
        amount: Money,
    },
    /// Takes money out.
    Withdraw {
        /// How much, in the account's currency.
        amount: Money,
    },
    /// The source's half of a transfer: money leaves for `to`.
    Debit {
        /// The account credited in the same transaction.
        to: AccountId,
        /// How much.
        amount: Money,
        /// The transfer's currency, which must be the account's.
        currency: Currency,
    },
    /// The target's half of a transfer: money arrives from `from`.
    Credit {
        /// The account debited in the same transaction.
        from: AccountId,
        /// How much.
        amount: Money,
        /// The transfer's currency, which must be the account's.
        currency: Currency,
    },
    /// Closes the account, which must be empty.
    Close,
}

/// What happened to an account. Stored as a DynamoDB map, such as
/// `{"Deposited": {"amount": 1234}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, DomainEvent)]
pub enum AccountEvent {
    /// The account was opened.
    Opened {
        /// Who owns it.
        owner: String,
        /// The one currency it holds.
        currency: Currency,
    },
    /// Money was put in.
    Deposited {
        /// How much.
        amount: Money,
    },
    /// Money was taken out.
    Withdrawn {
        /// How much.
        amount: Money,
    },
    /// Money left for another account, in a transfer.
    Debited {
        /// The account credited.
        to: AccountId,
        /// How much.
        amount: Money,
    },
    /// Money arrived from another account, in a transfer.
    Credited {
        /// The account debited.
        from: AccountId,
        /// How much.
        amount: Money,
    },
    /// The account was closed.
    Closed,
}

/// Why an account refuses a command. Nothing is written when it does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The account was never opened: there is no such account.
    #[error("no such account")]
    NotOpen,
    /// `Open` on an account that is already open.
    #[error("already open")]
    AlreadyOpen,
    /// Anything on a closed account.
    #[error("the account is closed")]
    AlreadyClosed,
    /// `Open` with an empty owner.
    #[error("the owner's name is empty")]
    NoOwner,
    /// An amount of zero.
    #[error("the amount must be greater than zero")]
    NotPositive,
    /// Taking out more than the balance: there are no overdrafts.
    #[error("insufficient funds: the balance is {balance} {currency}, {asked} {currency} asked")]
    InsufficientFunds {
        /// The balance.
        balance: Money,
        /// The amount asked.
        asked: Money,
        /// The account's currency.
        currency: Currency,
    },
    /// A transfer in another currency than the account's.
    #[error("currency mismatch: the account holds {account}, the transfer is in {transfer}")]
    CurrencyMismatch {
        /// The account's currency.
        account: Currency,
        /// The transfer's.
        transfer: Currency,
    },
    /// `Close` while money is left.
    #[error("only an empty account can be closed; the balance is {balance} {currency}")]
    BalanceNotZero {
        /// The balance.
        balance: Money,
        /// The account's currency.
        currency: Currency,
    },
    /// A balance that would pass the largest amount [`Money`] holds.
    #[error("the balance would exceed the largest amount the ledger holds")]
    TooLarge,
}

impl Holder {
    fn positive(amount: Money) -> Result<Money, AccountError> {
        if amount.is_positive() {
            Ok(amount)
        } else {
            Err(AccountError::NotPositive)
        }
    }

    fn same_currency(&self, transfer: &Currency) -> Result<(), AccountError> {
        if &self.currency == transfer {
            Ok(())
        } else {
            Err(AccountError::CurrencyMismatch {
                account: self.currency.clone(),
                transfer: transfer.clone(),
            })
        }
    }

    /// `amount` can come in without passing the largest balance.
    fn can_receive(&self, amount: Money) -> Result<Money, AccountError> {
        let amount = Self::positive(amount)?;
        self.balance
            .checked_add(amount)
            .map(|_| amount)
            .ok_or(AccountError::TooLarge)
    }

    /// `amount` can go out without taking the balance below zero.
    fn can_pay(&self, amount: Money) -> Result<Money, AccountError> {
        let amount = Self::positive(amount)?;
        if amount > self.balance {
            return Err(AccountError::InsufficientFunds {
                balance: self.balance,
                asked: amount,
                currency: self.currency.clone(),
            });
        }
        Ok(amount)
    }
}

impl Account {
    /// What an account that does not exist yet decides.
    fn open(command: &AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        let AccountCommand::Open { owner, currency } = command else {
            return Err(AccountError::NotOpen);
        };
        let owner = owner.trim();
        if owner.is_empty() {
            return Err(AccountError::NoOwner);
        }
        Ok(vec![AccountEvent::Opened {
            owner: owner.to_owned(),
            currency: currency.clone(),
        }])
    }
}

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Id = AccountId;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;

    fn handle(&self, command: &AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        let holder = match self {
            Account::Unopened => return Self::open(command),
            Account::Closed(_) => return Err(AccountError::AlreadyClosed),
            Account::Open(holder) => holder,
        };
        let event = match command {
            AccountCommand::Open { .. } => return Err(AccountError::AlreadyOpen),
            AccountCommand::Deposit { amount } => AccountEvent::Deposited {
                amount: holder.can_receive(*amount)?,
            },
            AccountCommand::Withdraw { amount } => AccountEvent::Withdrawn {
                amount: holder.can_pay(*amount)?,
            },
            AccountCommand::Debit {
                to,
                amount,
                currency,
            } => {
                holder.same_currency(currency)?;
                AccountEvent::Debited {
                    to: to.clone(),
                    amount: holder.can_pay(*amount)?,
                }
            }
            AccountCommand::Credit {
                from,
                amount,
                currency,
            } => {
                holder.same_currency(currency)?;
                AccountEvent::Credited {
                    from: from.clone(),
                    amount: holder.can_receive(*amount)?,
                }
            }
            AccountCommand::Close if holder.balance != Money::ZERO => {
                return Err(AccountError::BalanceNotZero {
                    balance: holder.balance,
                    currency: holder.currency.clone(),
                })
            }
            AccountCommand::Close => AccountEvent::Closed,
        };
        Ok(vec![event])
    }

    fn apply(&mut self, event: &AccountEvent) {
        match (&mut *self, event) {
            (_, AccountEvent::Opened { owner, currency }) => {
                *self = Account::Open(Holder {
                    owner: owner.clone(),
                    currency: currency.clone(),
                    balance: Money::ZERO,
                });
            }
            (
                Account::Open(holder),
                AccountEvent::Deposited { amount } | AccountEvent::Credited { amount, .. },
            ) => holder.balance = holder.balance.saturating_add(*amount),
            (
                Account::Open(holder),
                AccountEvent::Withdrawn { amount } | AccountEvent::Debited { amount, .. },
            ) => holder.balance = holder.balance.saturating_sub(*amount),
            (Account::Open(holder), AccountEvent::Closed) => {
                *self = Account::Closed(holder.clone());
            }
            // `handle` never decides an event for an account in another
            // state, so there is nothing else to fold.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
