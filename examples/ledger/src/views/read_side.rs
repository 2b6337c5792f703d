//! Both projectors, the views table they write, and how they run.

mod lambda;

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use dynago::{RetryPolicy, Table, TableDefinition};
use dynago_es::EventStore;
use dynago_explorer::Catalog;
use dynago_projections::{EventStream, Projector, ProjectorOptions, Status, Views};
use futures::TryStreamExt;
use tokio::sync::watch;

use super::{views_table, Accounts, Currencies, DailyTotals, Result, ViewError};
use crate::account::{Account, AccountEvent};
use crate::ledger::{create_table_if_missing, Ledger};

/// How often a running read side looks for totals parked for want of a
/// currency.
const HEAL_EVERY: Duration = Duration::from_secs(1);

/// The ledger's read side: the [`Accounts`] and [`DailyTotals`]
/// projectors on the views table `{table}-views`, and the accounts'
/// [`Catalog`] that the explorer lists them by. Cheap to clone; clones
/// share their projectors.
#[derive(Debug, Clone)]
pub struct ReadSide {
    accounts: Projector<Accounts>,
    totals: Projector<DailyTotals>,
    catalog: Projector<Catalog<Account>>,
    currencies: Currencies,
    store: EventStore<Account>,
    views: Table,
}

/// What [`ReadSide::rebuild`] applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rebuilt {
    /// Events applied to the accounts view.
    pub accounts: u64,
    /// Events applied to the daily totals.
    pub totals: u64,
    /// Events applied to the accounts' catalog.
    pub catalog: u64,
}

/// How far both projectors got.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Progress {
    /// The accounts projector's status.
    pub accounts: Status,
    /// The daily totals projector's status.
    pub totals: Status,
    /// The catalog projector's status.
    pub catalog: Status,
}

impl Progress {
    /// The largest lag behind the table of any shard either projector
    /// reads, once one was measured.
    pub fn lag(&self) -> Option<Duration> {
        self.both()
            .flat_map(|status| status.shards.iter())
            .filter_map(|shard| shard.lag)
            .max()
    }

    /// Every projector reads shards, and the last read of each found
    /// nothing after the records applied.
    pub fn caught_up(&self) -> bool {
        self.both().all(|status| {
            !status.shards.is_empty()
                && status
                    .shards
                    .iter()
                    .all(|shard| shard.caught_up && shard.records_behind == 0)
        })
    }

    /// Events parked by any projector since it started.
    pub fn parked(&self) -> u64 {
        self.both().map(|status| status.parked).sum()
    }

    fn both(&self) -> impl Iterator<Item = &Status> {
        [&self.accounts, &self.totals, &self.catalog].into_iter()
    }
}

impl ReadSide {
    /// The read side of `ledger`, its projectors run with `options` (their
    /// handlers are tried once: they are pure, and a second try would fail
    /// alike). Sends no request.
    ///
    /// # Errors
    ///
    /// [`Error::Table`](super::Error::Table) when the views table's name is
    /// not usable.
    pub fn new(ledger: &Ledger, options: ProjectorOptions) -> Result<Self> {
        let views = views_table(ledger)?;
        let store = ledger.store().clone();
        let currencies = Currencies::default();
        let options = options.handler_retry(RetryPolicy::default().max_attempts(1));
        let accounts = Projector::new(Accounts, store.clone(), views.clone(), options.clone())?;
        let totals = Projector::new(
            DailyTotals::new(currencies.clone()),
            store.clone(),
            views.clone(),
            options.clone(),
        )?;
        let catalog = Projector::new(Catalog::new(), store.clone(), views.clone(), options)?;
        Ok(ReadSide {
            accounts,
            totals,
            catalog,
            currencies,
            store,
            views,
        })
    }

    /// The views table.
    pub fn table(&self) -> &Table {
        &self.views
    }

    /// The events table the projectors read.
    pub fn events_table(&self) -> &Table {
        self.store.table()
    }

    /// Whether the views table exists (and is active, once it is).
    ///
    /// # Errors
    ///
    /// [`Error::Table`](super::Error::Table) when DynamoDB cannot be
    /// reached.
    pub async fn table_exists(&self) -> Result<bool> {
        match self.views.wait_until_active(Duration::from_secs(120)).await {
            Ok(()) => Ok(true),
            Err(error) if error.is_not_found() => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Creates the views table (string keys `pk` and `sk`, on-demand) when
    /// it does not exist; whether it created it.
    ///
    /// # Errors
    ///
    /// [`Error::Table`](super::Error::Table) when DynamoDB cannot be
    /// reached or refuses.
    pub async fn create_table_if_missing(&self) -> Result<bool> {
        Ok(create_table_if_missing(&self.views, TableDefinition::default()).await?)
    }

    /// The accounts view, to read.
    pub fn accounts(&self) -> Views<Accounts> {
        self.accounts.views()
    }

    /// The daily totals, to read.
    pub fn totals(&self) -> Views<DailyTotals> {
        self.totals.views()
    }

    /// The projectors, for an explorer to show: accounts, totals, catalog.
    pub fn projectors(
        &self,
    ) -> (
        &Projector<Accounts>,
        &Projector<DailyTotals>,
        &Projector<Catalog<Account>>,
    ) {
        (&self.accounts, &self.totals, &self.catalog)
    }

    /// How far the projectors got.
    pub fn progress(&self) -> Progress {
        Progress {
            accounts: self.accounts.status(),
            totals: self.totals.status(),
            catalog: self.catalog.status(),
        }
    }

    /// Runs the projectors on `stream`, the events table's
    /// ([`EventStream::connect`]), until `shutdown` completes or either
    /// fails, which stops the other. Each catches up from the table first
    /// when it never ran.
    ///
    /// It first reads every account's currency from the table (one scan):
    /// the totals key events by it, and the `Opened` events that name it
    /// are not applied again once applied. Totals parked because an
    /// account's currency was not known (its `Opened` event was applied by
    /// another worker after that scan) are replayed once it is read.
    ///
    /// # Errors
    ///
    /// Either projector's error (the other is stopped first).
    pub async fn run<F: Future>(&self, stream: &EventStream, shutdown: F) -> Result<()> {
        self.currencies.read(&self.store).await?;
        self.heal().await?;
        let (stop, stopped) = watch::channel(false);
        let (stop, stopped) = (&stop, &stopped);
        let until_stopped = || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let accounts = async {
            let result = Box::pin(self.accounts.run(stream, until_stopped())).await;
            stop.send_replace(true);
            result.map_err(super::Error::from)
        };
        let totals = async {
            let result = Box::pin(self.totals.run(stream, until_stopped())).await;
            stop.send_replace(true);
            result.map_err(super::Error::from)
        };
        let catalog = async {
            let result = Box::pin(self.catalog.run(stream, until_stopped())).await;
            stop.send_replace(true);
            result.map_err(super::Error::from)
        };
        let healing = async {
            let mut seen = 0;
            loop {
                tokio::select! {
                    () = until_stopped() => return Ok(()),
                    () = tokio::time::sleep(HEAL_EVERY) => {}
                }
                let parked = self.totals.status().parked;
                if parked > seen {
                    seen = parked;
                    if let Err(error) = self.heal().await {
                        stop.send_replace(true);
                        return Err(error);
                    }
                }
            }
        };
        let workers = async {
            let (accounts, totals, catalog, healing) =
                tokio::join!(accounts, totals, catalog, healing);
            accounts.and(totals).and(catalog).and(healing)
        };
        let mut workers = std::pin::pin!(workers);
        tokio::select! {
            result = &mut workers => result,
            _ = shutdown => {
                stop.send_replace(true);
                workers.await
            }
        }
    }

    /// Replays the totals' events parked because their account's currency
    /// was not known, once it is read from the account's `Opened` event;
    /// how many accounts were replayed.
    async fn heal(&self) -> Result<usize> {
        let mut healed = BTreeSet::new();
        for parked in self.totals.parked().await? {
            let id = parked.aggregate_id;
            if healed.contains(&id)
                || parked.error != ViewError::UnknownCurrency(id.to_string()).to_string()
            {
                continue;
            }
            if self.currencies.get(&id).is_none() {
                let mut first = std::pin::pin!(self.store.events_between(id.clone(), 1..=1));
                let Some(AccountEvent::Opened { currency, .. }) =
                    first.try_next().await?.map(|event| event.payload)
                else {
                    continue;
                };
                self.currencies.insert(id.clone(), currency);
            }
            self.totals.replay_parked(id.clone()).await?;
            healed.insert(id);
        }
        Ok(healed.len())
    }

    /// Deletes the projections' views, positions and leases, and builds
    /// them again from the table (a scan each, run at once). Stop
    /// [`run`](Self::run) first, wherever it runs.
    ///
    /// # Errors
    ///
    /// A scan, read or write that failed.
    pub async fn rebuild(&self) -> Result<Rebuilt> {
        let (accounts, totals, catalog) = tokio::try_join!(
            self.accounts.rebuild(),
            self.totals.rebuild(),
            self.catalog.rebuild()
        )?;
        Ok(Rebuilt {
            accounts,
            totals,
            catalog,
        })
    }
}
