//! A command whose input was checked: bad input is refused here, before
//! anything is started or written.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use ledger::{AccountId, Currency, Money};

use crate::cli::Command;
use crate::{explore, read, soak, stress};

/// A command whose input was checked.
pub enum Action {
    Open {
        id: AccountId,
        owner: String,
        currency: Currency,
    },
    Deposit {
        id: AccountId,
        amount: Money,
    },
    Withdraw {
        id: AccountId,
        amount: Money,
    },
    Transfer {
        from: AccountId,
        to: AccountId,
        amount: Money,
    },
    Close {
        id: AccountId,
    },
    Balance {
        id: AccountId,
    },
    History {
        id: AccountId,
        from: u64,
        page_size: u32,
    },
    Accounts {
        limit: u32,
        cursor: Option<String>,
    },
    Report,
    Project(read::Until),
    Rebuild,
    Explore(explore::Shape),
    Demo,
    Stress(stress::Shape),
    Soak(soak::Shape),
    ServeEmbedded(PathBuf),
}

/// Checks the command's input: bad input is refused here, before anything is
/// started or written.
pub fn check(command: &Command) -> anyhow::Result<Action> {
    Ok(match command {
        Command::Open {
            id,
            owner,
            currency,
        } => Action::Open {
            id: account_id(id)?,
            owner: owner.clone(),
            currency: currency.parse()?,
        },
        Command::Deposit { id, amount } => Action::Deposit {
            id: account_id(id)?,
            amount: positive(amount)?,
        },
        Command::Withdraw { id, amount } => Action::Withdraw {
            id: account_id(id)?,
            amount: positive(amount)?,
        },
        Command::Transfer { from, to, amount } => {
            let (from, to) = (account_id(from)?, account_id(to)?);
            let amount = positive(amount)?;
            if from == to {
                bail!("cannot transfer from account {from} to itself");
            }
            Action::Transfer { from, to, amount }
        }
        Command::Close { id } => Action::Close {
            id: account_id(id)?,
        },
        Command::Balance { id } => Action::Balance {
            id: account_id(id)?,
        },
        Command::History {
            id,
            page_size,
            from,
        } => Action::History {
            id: account_id(id)?,
            from: *from,
            page_size: *page_size,
        },
        Command::Accounts { limit, cursor } => Action::Accounts {
            limit: *limit,
            cursor: cursor.clone(),
        },
        Command::Report => Action::Report,
        Command::Project {
            seconds: limit,
            until_idle,
        } => Action::Project(read::Until {
            duration: limit.map(|limit| seconds(limit, "--for")).transpose()?,
            idle: *until_idle,
        }),
        Command::Rebuild => Action::Rebuild,
        Command::Explore {
            bind,
            seed,
            actions,
            no_project,
            metrics,
            hosts,
        } => Action::Explore(explore::Shape {
            bind: *bind,
            seed: *seed,
            actions: *actions,
            project: !*no_project,
            metrics: *metrics,
            hosts: hosts.clone(),
        }),
        Command::Demo => Action::Demo,
        Command::Stress {
            accounts,
            tasks,
            ops,
        } => Action::Stress(stress::Shape {
            accounts: usize::try_from(*accounts)?,
            tasks: usize::try_from(*tasks)?,
            ops: usize::try_from(*ops)?,
        }),
        Command::Soak {
            minutes,
            interval,
            accounts,
            tasks,
            cache,
            memory_margin,
        } => Action::Soak(soak::Shape {
            duration: seconds(minutes * 60.0, "--minutes")?,
            minutes: *minutes,
            interval: seconds(*interval, "--interval")?,
            accounts: usize::try_from(*accounts)?,
            tasks: usize::try_from(*tasks)?,
            cache: usize::try_from(*cache)?,
            margin: *memory_margin,
        }),
        Command::ServeEmbedded { file } => Action::ServeEmbedded(file.clone()),
    })
}

/// A positive duration of at most a week, from seconds.
fn seconds(seconds: f64, option: &str) -> anyhow::Result<Duration> {
    const WEEK: f64 = 7.0 * 24.0 * 3600.0;
    if !(seconds > 0.0 && seconds <= WEEK) {
        bail!("{option} must be more than zero and at most a week");
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn account_id(text: &str) -> anyhow::Result<AccountId> {
    Ok(text.parse()?)
}

/// An amount for a command: exact, and more than zero.
fn positive(text: &str) -> anyhow::Result<Money> {
    let amount: Money = text.parse()?;
    if !amount.is_positive() {
        bail!("amount `{text}` must be greater than zero");
    }
    Ok(amount)
}
