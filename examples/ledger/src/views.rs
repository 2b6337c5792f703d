//! The read side: two projections of the accounts' events, kept by
//! [`dynago_projections`] in a views table beside the events table, and
//! read by `ledger accounts` and `ledger report` instead of the events.
//!
//! | projection | its views | what a view holds |
//! |---|---|---|
//! | [`Accounts`] (`accounts`) | one per account | [`AccountView`]: owner, currency, balance, open or closed, when it was opened and last changed; its version is its last event's |
//! | [`DailyTotals`] (`daily-totals`) | one per day and currency, keyed `{YYYY-MM-DD}#{currency}` by the event's timestamp (UTC) | [`DayTotals`]: deposited, withdrawn, transferred in and out, accounts opened and closed, events |
//!
//! [`ReadSide`] runs both projectors on the events table's stream, rebuilds
//! them from the table, and reads them. [`replay`] folds every account's
//! events through the same handlers, and [`Replayed::differences`] says
//! where the views differ from that.
//!
//! Money stays exact: amounts are [`Money`](crate::Money), added with
//! checked arithmetic; a sum that would not fit is an error (the event is
//! parked), never a clipped total.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use dynago::TableOptions;
//! use dynago_projections::ProjectorOptions;
//! use ledger::views::ReadSide;
//! use ledger::Ledger;
//!
//! let ledger = Ledger::connect(TableOptions::new("ledger"), ledger::store_options()).await?;
//! let read_side = ReadSide::new(&ledger, ProjectorOptions::default())?;
//! read_side.create_table_if_missing().await?;
//! let rebuilt = read_side.rebuild().await?;
//! println!("{} events applied to the accounts", rebuilt.accounts);
//! if let Some(alice) = read_side.accounts().get("alice").await? {
//!     println!("alice holds {} (version {})", alice.view.balance, alice.version);
//! }
//! # Ok(())
//! # }
//! ```

mod accounts;
mod read_side;
mod replay;
mod totals;

use dynago::{Item, Table, TableDefinition, TableOptions};
use dynago_es::{Aggregate, EventEnvelope, EventStore};
use futures::TryStreamExt;

use crate::account::{Account, AccountEvent};
use crate::ledger::{Ledger, PARTITION_KEY, SORT_KEY};

pub use accounts::{AccountStatus, AccountView, Accounts};
pub use read_side::{Progress, ReadSide, Rebuilt};
pub use replay::{replay, Replayed};
pub use totals::{day_key, Currencies, DailyTotals, DayTotals};

/// What can go wrong on the read side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A projector failed: DynamoDB, its Streams, a view that does not read.
    #[error(transparent)]
    Projection(#[from] dynago_projections::Error),
    /// Reading the events failed.
    #[error(transparent)]
    Store(#[from] dynago_es::Error),
    /// The views table could not be reached or created.
    #[error(transparent)]
    Table(#[from] dynago::Error),
    /// A handler refused an event of the replay.
    #[error("replaying the events: {0}")]
    Replay(#[from] ViewError),
}

/// A specialised `Result` whose error is the read side's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a handler refused an event: the projector tries it again, then
/// parks it (its account's later events wait behind it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// A sum would leave the range of an amount.
    #[error("account {account}: the {what} would not fit in an amount")]
    Overflow {
        /// The account whose event it was.
        account: String,
        /// Which sum.
        what: &'static str,
    },
    /// An event of an account whose `Opened` event (the one that names its
    /// currency) this process has not seen: another worker applied it.
    /// [`ReadSide::run`] reads the currency from the table and replays the
    /// event.
    #[error(
        "account {0}: its currency is not known here (its Opened event was applied elsewhere)"
    )]
    UnknownCurrency(String),
}

/// The views table of the events table `events`: `{events}-views`.
///
/// ```
/// assert_eq!(ledger::views::views_table_name("ledger"), "ledger-views");
/// ```
pub fn views_table_name(events: &str) -> String {
    format!("{events}-views")
}

/// The views table of `ledger`'s table, on the same DynamoDB (and the same
/// client), with the same key names.
///
/// # Errors
///
/// [`dynago::Error::Config`] when the name is not usable.
pub fn views_table(ledger: &Ledger) -> dynago::Result<Table> {
    let events = ledger.table();
    Table::with_client(
        events.client().clone(),
        TableOptions::new(views_table_name(events.name()))
            .partition_key(PARTITION_KEY)
            .sort_key(SORT_KEY),
    )
}

/// Creates the views table of `ledger` (string keys `pk` and `sk`,
/// on-demand, no stream: view writes are nobody's events) when it does not
/// exist, and waits until it is active; whether it created it.
///
/// # Errors
///
/// [`dynago::Error`] when DynamoDB cannot be reached or refuses.
pub async fn create_table_if_missing(ledger: &Ledger) -> dynago::Result<bool> {
    crate::ledger::create_table_if_missing(&views_table(ledger)?, TableDefinition::default()).await
}

/// The first event of every account in the store's table, read by a scan
/// that keeps only those: each account's `Opened`, with its owner and
/// currency. A scan reads the whole table (half a read unit per 4 KB).
async fn opened_events(
    store: &EventStore<Account>,
) -> dynago_es::Result<Vec<EventEnvelope<AccountEvent>>> {
    let table = store.table();
    let items: Vec<Item> = table
        .scan()
        .filter("begins_with(#pk, :type) AND #sk = :first")
        .name("#pk", table.partition_key())
        .name("#sk", table.sort_key().unwrap_or(SORT_KEY))
        .value(":type", format!("{}#", Account::TYPE))
        // The sort key of event 1 (`dynago_es::keys`).
        .value(":first", format!("e#{:020}", 1))
        .stream_raw()
        .try_collect()
        .await?;
    let mut opened = Vec::with_capacity(items.len());
    for item in items {
        let events = store.read_event_item(item)?.unwrap_or_default();
        opened.extend(events.into_iter().filter(|event| event.version == 1));
    }
    opened.sort_by(|a, b| a.aggregate_id.cmp(&b.aggregate_id));
    Ok(opened)
}
