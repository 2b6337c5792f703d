//! The ledger in the explorer: the accounts, listed by their catalog, and
//! the read side's projections.
//!
//! ```no_run
//! # async fn run(ledger: ledger::Ledger, read_side: ledger::views::ReadSide) -> Result<(), Box<dyn std::error::Error>> {
//! let explorer = ledger::explorer::explorer(&ledger, &read_side, Default::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! axum::serve(listener, explorer.router()).await?;
//! # Ok(())
//! # }
//! ```

use dynago_explorer::{Cataloged, Explorer, ExplorerOptions};

use crate::account::Account;
use crate::ledger::{Ledger, Transfer};
use crate::views::ReadSide;
use crate::{AccountId, Currency, LedgerError, Money};

impl Cataloged for Account {
    const CATALOG: &'static str = "catalog-account";
}

/// The explorer of `ledger`'s table: its accounts, and the accounts view,
/// the daily totals and the catalog of `read_side`.
///
/// # Errors
///
/// The views table is not usable for the catalog.
pub fn explorer(
    ledger: &Ledger,
    read_side: &ReadSide,
    options: ExplorerOptions,
) -> dynago_explorer::Result<Explorer> {
    let (accounts, totals, catalog) = read_side.projectors();
    Explorer::builder(ledger.table().clone(), read_side.table().clone())
        .aggregate(ledger.store().clone())
        .projection(accounts.clone())
        .projection(totals.clone())
        .projection(catalog.clone())
        .options(options)
        .build()
}

/// Writes a small ledger to look at: `accounts` accounts (`acc-001`, ...)
/// in `currency`, each with three deposits and a withdrawal, and a
/// transfer from each to the next; how many commands were applied.
/// Accounts already open are left as they are.
///
/// ```no_run
/// # async fn run(ledger: ledger::Ledger) -> Result<(), ledger::LedgerError> {
/// let applied = ledger::explorer::seed(&ledger, 12, &"EUR".parse().expect("a currency")).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// A command the store could not apply.
pub async fn seed(ledger: &Ledger, accounts: u32, currency: &Currency) -> Result<u32, LedgerError> {
    const OWNERS: [&str; 8] = [
        "Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Leslie",
    ];
    let euros = |n: u32| Money::from_cents(i64::from(n) * 100);
    let mut ids: Vec<AccountId> = Vec::new();
    let mut applied = 0;
    for (n, owner) in (1..=accounts).zip(OWNERS.iter().cycle()) {
        let Ok(id) = format!("acc-{n:03}").parse::<AccountId>() else {
            continue;
        };
        let version = ledger
            .store()
            .load(id.clone())
            .await
            .map_err(LedgerError::Store)?
            .version;
        if version == 0 {
            ledger.open(&id, owner, currency.clone()).await?;
            for amount in [100 + n * 7, 25, 60 + n] {
                ledger.deposit(&id, euros(amount)).await?;
            }
            ledger.withdraw(&id, euros(10 + n % 5)).await?;
            applied += 5;
            ids.push(id);
        }
    }
    for pair in ids.windows(2) {
        let transfer = Transfer {
            from: pair[0].clone(),
            to: pair[1].clone(),
            amount: euros(5),
            currency: currency.clone(),
        };
        ledger.transfer(&transfer).await?;
        applied += 1;
    }
    Ok(applied)
}
