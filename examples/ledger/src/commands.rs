//! The commands on one account, and what they print.

use anyhow::Context;
use ledger::{AccountEvent, AccountId, Ledger, Money, Transfer};

/// Moves `amount` from one account to another, in the source's currency.
pub async fn transfer(
    ledger: &Ledger,
    from: AccountId,
    to: AccountId,
    amount: Money,
) -> anyhow::Result<()> {
    // The transfer is in the source's currency. An account's currency never
    // changes, so reading it first is safe; both halves check it again inside
    // the transaction.
    let source = ledger.statement(&from).await?;
    let currency = source
        .state
        .holder()
        .map(|holder| holder.currency.clone())
        .context("the source account has no currency")?;
    let receipt = ledger
        .transfer(&Transfer {
            from,
            to,
            amount,
            currency: currency.clone(),
        })
        .await?;
    let (from, to) = (&receipt.from, &receipt.to);
    println!(
        "transferred {amount} {currency} from {} to {}: {} holds {} {currency}, {} holds {} {currency}",
        from.account, to.account, from.account, from.holder.balance, to.account, to.holder.balance,
    );
    Ok(())
}

/// Prints a page of an account's events from version `from`, and the
/// command that shows the next page, with the `options` given.
pub async fn history(
    ledger: &Ledger,
    id: &AccountId,
    from: u64,
    page_size: u32,
    options: &str,
) -> anyhow::Result<()> {
    let statement = ledger.statement(id).await?;
    let page = ledger
        .history(id, from, usize::try_from(page_size)?)
        .await?;
    let (Some(first), Some(last)) = (page.events.first(), page.events.last()) else {
        println!(
            "{id} has {} events; none from version {from} on",
            statement.version
        );
        return Ok(());
    };
    let currency = statement
        .state
        .holder()
        .map(|holder| holder.currency.to_string())
        .unwrap_or_default();
    println!(
        "{id}: events {} to {} of {} (times in UTC)",
        first.version, last.version, statement.version
    );
    for event in &page.events {
        let what = match &event.payload {
            AccountEvent::Opened { owner, currency } => format!("owner {owner}, in {currency}"),
            AccountEvent::Deposited { amount } => format!("+{amount} {currency}"),
            AccountEvent::Withdrawn { amount } => format!("-{amount} {currency}"),
            AccountEvent::Debited { to, amount } => format!("-{amount} {currency} to {to}"),
            AccountEvent::Credited { from, amount } => {
                format!("+{amount} {currency} from {from}")
            }
            AccountEvent::Closed => String::new(),
        };
        println!(
            "  v{:<4} {}  {:<10} {what}",
            event.version,
            event.timestamp.format("%Y-%m-%d %H:%M:%S%.3f"),
            event.event_type,
        );
    }
    if let Some(next) = page.next {
        println!("more: ledger history {id} --from {next} --page-size {page_size}{options}");
    }
    Ok(())
}
