//! The ledger: accounts kept in an event store, and what a teller does with
//! them.

use std::time::Duration;

use dynago::sdk::types::StreamViewType;
use dynago::{RetryPolicy, Table, TableDefinition, TableOptions};
use dynago_es::{
    AggregateId, CommandError, CommandId, CommandOptions, CommandOutcome, EventEnvelope,
    EventStore, SnapshotPolicy, StoreOptions,
};
use futures::TryStreamExt;

use crate::account::{Account, AccountCommand, AccountError, AccountEvent, AccountId, Holder};
use crate::money::{Currency, Money};

/// The partition key of the ledger's table.
pub const PARTITION_KEY: &str = "pk";
/// The sort key of the ledger's table.
pub const SORT_KEY: &str = "sk";

/// A specialised `Result` whose error is [`LedgerError`].
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// Why the ledger did not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// An account refused the command; nothing was written.
    #[error("account {account}: {reason}")]
    Refused {
        /// The account that refused.
        account: AccountId,
        /// Its reason.
        reason: AccountError,
    },
    /// A transfer from an account to itself; nothing was written.
    #[error("cannot transfer from account {0} to itself")]
    SameAccount(AccountId),
    /// The event store failed: DynamoDB, the network, or conflicts that
    /// outlasted the retry policy.
    #[error(transparent)]
    Store(dynago_es::Error),
    /// The table could not be reached or created.
    #[error(transparent)]
    Table(#[from] dynago::Error),
}

impl LedgerError {
    /// The account's reason, when an account refused the command.
    pub fn refusal(&self) -> Option<&AccountError> {
        match self {
            LedgerError::Refused { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl From<dynago_es::Error> for LedgerError {
    fn from(error: dynago_es::Error) -> Self {
        LedgerError::Store(error)
    }
}

impl From<CommandError<Account>> for LedgerError {
    fn from(error: CommandError<Account>) -> Self {
        match error {
            CommandError::Rejected { id, reason } => LedgerError::Refused {
                account: id,
                reason,
            },
            CommandError::Store(error) => LedgerError::Store(error),
        }
    }
}

/// What a command did to one account.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Receipt {
    /// The account.
    pub account: AccountId,
    /// Its version after the command: the number of its events.
    pub version: u64,
    /// The account after the command.
    pub holder: Holder,
    /// How many times the command was decided: 1, plus one for each
    /// conflict with another writer.
    pub attempts: usize,
    /// How many DynamoDB requests the whole command took.
    pub requests: u32,
    /// The capacity those requests consumed, as DynamoDB reported it.
    pub capacity: dynago::telemetry::Capacity,
}

/// A transfer: `amount` of `currency` from one account to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The account debited.
    pub from: AccountId,
    /// The account credited.
    pub to: AccountId,
    /// How much.
    pub amount: Money,
    /// In which currency; both accounts must hold it.
    pub currency: Currency,
}

/// What a transfer did: both halves, written in one transaction.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TransferReceipt {
    /// The source, debited.
    pub from: Receipt,
    /// The target, credited.
    pub to: Receipt,
}

/// A deposit, a withdrawal or a transfer, as data: what a client sends with a
/// command id to [`Ledger::submit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Puts `amount` into `account`.
    Deposit {
        /// The account.
        account: AccountId,
        /// How much.
        amount: Money,
    },
    /// Takes `amount` out of `account`.
    Withdraw {
        /// The account.
        account: AccountId,
        /// How much.
        amount: Money,
    },
    /// Moves money between two accounts, in one transaction.
    Transfer(Transfer),
}

impl Operation {
    /// The accounts it writes, in the order of [`Submitted::versions`].
    pub fn accounts(&self) -> Vec<&AccountId> {
        match self {
            Operation::Deposit { account, .. } | Operation::Withdraw { account, .. } => {
                vec![account]
            }
            Operation::Transfer(transfer) => vec![&transfer.from, &transfer.to],
        }
    }
}

/// What [`Ledger::submit`] did with an operation and its command id.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Submitted {
    /// The command id was recorded already: the operation had been applied
    /// before (perhaps by a send whose answer was lost), and nothing was
    /// applied now.
    pub duplicate: bool,
    /// Each account written, with its version after the operation (after
    /// its first application, for a duplicate).
    pub versions: Vec<(AccountId, u64)>,
    /// How many times the operation was decided: 1, plus one for each
    /// conflict with another writer.
    pub attempts: usize,
    /// How many DynamoDB requests it took.
    pub requests: u32,
    /// The capacity those requests consumed, as DynamoDB reported it.
    pub capacity: dynago::telemetry::Capacity,
}

/// An account as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statement {
    /// The account.
    pub account: AccountId,
    /// Its state: open or closed, owner, currency, balance.
    pub state: Account,
    /// Its version: the number of its events.
    pub version: u64,
    /// The version of the snapshot it was loaded from, 0 if none.
    pub snapshot_version: u64,
    /// How many events were read after the snapshot.
    pub events_read: usize,
}

/// One page of an account's history.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HistoryPage {
    /// The events, in order, with their versions and timestamps.
    pub events: Vec<EventEnvelope<AccountEvent>>,
    /// The version the next page starts at, if there are more events.
    pub next: Option<u64>,
}

/// How many events an account has between two of its snapshots.
pub const SNAPSHOT_EVERY: u64 = 50;

/// The store options the ledger is made for: the state of up to 10,000
/// accounts cached in memory, a snapshot every [`SNAPSHOT_EVERY`] events, and
/// a patient retry policy, since busy accounts conflict often.
pub fn store_options() -> StoreOptions {
    StoreOptions::default()
        .cache(10_000)
        .snapshots(SnapshotPolicy::Every(SNAPSHOT_EVERY))
        .retry(
            RetryPolicy::default()
                .max_attempts(50)
                .min_delay(Duration::from_millis(2))
                .max_delay(Duration::from_millis(200)),
        )
}

/// A bank ledger on one DynamoDB table. Cheap to clone: share it.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use dynago::TableOptions;
/// use ledger::{Ledger, Transfer};
///
/// let ledger = Ledger::connect(TableOptions::new("ledger"), ledger::store_options()).await?;
/// ledger.create_table_if_missing().await?;
/// let (alice, bob) = ("alice".parse()?, "bob".parse()?);
/// ledger.open(&alice, "Alice", "EUR".parse()?).await?;
/// ledger.open(&bob, "Bob", "EUR".parse()?).await?;
/// ledger.deposit(&alice, "100".parse()?).await?;
/// let transfer = Transfer { from: alice, to: bob, amount: "25.50".parse()?, currency: "EUR".parse()? };
/// let receipt = ledger.transfer(&transfer).await?;
/// println!("alice now holds {}", receipt.from.holder.balance);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Ledger {
    accounts: EventStore<Account>,
}

impl Ledger {
    /// The ledger on `table`, whose keys are named [`PARTITION_KEY`] and
    /// [`SORT_KEY`] (set here), with `options` for its event store.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Table`] when the table options are not usable.
    pub async fn connect(table: TableOptions, options: StoreOptions) -> Result<Self> {
        let table = Table::connect(table.partition_key(PARTITION_KEY).sort_key(SORT_KEY)).await?;
        Ok(Ledger {
            accounts: EventStore::new(table, options)?,
        })
    }

    /// The event store of the accounts.
    pub fn store(&self) -> &EventStore<Account> {
        &self.accounts
    }

    /// The table.
    pub fn table(&self) -> &Table {
        self.accounts.table()
    }

    /// Creates the table (string keys `pk` and `sk`, on-demand billing, its
    /// stream on with new images, which the projections of
    /// [`views`](crate::views) read) when it does not exist, and waits until
    /// it is active. Returns whether it created it.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Table`] when DynamoDB cannot be reached or refuses.
    pub async fn create_table_if_missing(&self) -> Result<bool> {
        let definition = TableDefinition::default().stream(StreamViewType::NewImage);
        Ok(create_table_if_missing(self.table(), definition).await?)
    }

    async fn execute(&self, account: &AccountId, command: AccountCommand) -> Result<Receipt> {
        let outcome = self.accounts.execute(account.clone(), command).await?;
        receipt(account, outcome)
    }

    /// Opens `account` for `owner`, in `currency`.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Refused`] when the account exists already or the owner
    /// is empty; [`LedgerError::Store`] when the store fails.
    pub async fn open(
        &self,
        account: &AccountId,
        owner: &str,
        currency: Currency,
    ) -> Result<Receipt> {
        let command = AccountCommand::Open {
            owner: owner.to_owned(),
            currency,
        };
        self.execute(account, command).await
    }

    /// Deposits `amount` into `account`.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Refused`] when the account does not exist or is closed,
    /// or the amount is zero; [`LedgerError::Store`] when the store fails.
    pub async fn deposit(&self, account: &AccountId, amount: Money) -> Result<Receipt> {
        self.execute(account, AccountCommand::Deposit { amount })
            .await
    }

    /// Withdraws `amount` from `account`.
    ///
    /// # Errors
    ///
    /// As [`deposit`](Self::deposit), and [`LedgerError::Refused`] when the
    /// balance is smaller than `amount`.
    pub async fn withdraw(&self, account: &AccountId, amount: Money) -> Result<Receipt> {
        self.execute(account, AccountCommand::Withdraw { amount })
            .await
    }

    /// Moves money between two accounts: the debit of the source and the
    /// credit of the target are written in one DynamoDB transaction, each
    /// under the version of its own account, or neither is.
    ///
    /// # Errors
    ///
    /// [`LedgerError::SameAccount`] for a transfer to the source itself;
    /// [`LedgerError::Refused`] when either account refuses (naming which);
    /// [`LedgerError::Store`] when the store fails.
    pub async fn transfer(&self, transfer: &Transfer) -> Result<TransferReceipt> {
        let Transfer { from, to, .. } = transfer;
        let outcomes = self
            .accounts
            .execute_all(transfer_commands(transfer)?, CommandOptions::default())
            .await?;
        let mut outcomes = outcomes.into_iter();
        match (outcomes.next(), outcomes.next()) {
            (Some(debited), Some(credited)) => Ok(TransferReceipt {
                from: receipt(from, debited)?,
                to: receipt(to, credited)?,
            }),
            _ => Err(unexpected("a transfer did not report both accounts")),
        }
    }

    /// Applies `operation` at most once for `id`: a record of `id` is
    /// written with its events (a deposit or a withdrawal: the record on its
    /// own first, then the event, 2 write units; a transfer: the record and
    /// both events in one transaction), and the operation sent again with
    /// the same id (after an error, a timeout, a crash) is recognised and
    /// not applied again. That makes "send again until an answer comes" safe:
    ///
    /// ```no_run
    /// # async fn run(ledger: ledger::Ledger, operation: ledger::Operation) -> ledger::ledger::Result<()> {
    /// use dynago_es::CommandId;
    /// use ledger::LedgerError;
    ///
    /// let id = CommandId::new("req-7f3a"); // chosen once, kept with the request
    /// let submitted = loop {
    ///     match ledger.submit(&operation, &id).await {
    ///         Err(LedgerError::Store(error)) => eprintln!("{error}; sending it again"),
    ///         other => break other?,
    ///     }
    /// };
    /// println!("applied (the first time: {})", !submitted.duplicate);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A refused operation writes nothing, its id included: sent again, it
    /// is decided again.
    ///
    /// # Errors
    ///
    /// As [`deposit`](Self::deposit), [`withdraw`](Self::withdraw) and
    /// [`transfer`](Self::transfer).
    pub async fn submit(&self, operation: &Operation, id: &CommandId) -> Result<Submitted> {
        let commands = match operation {
            Operation::Deposit { account, amount } => {
                vec![(account.clone(), AccountCommand::Deposit { amount: *amount })]
            }
            Operation::Withdraw { account, amount } => {
                vec![(
                    account.clone(),
                    AccountCommand::Withdraw { amount: *amount },
                )]
            }
            Operation::Transfer(transfer) => transfer_commands(transfer)?,
        };
        let outcomes = self
            .accounts
            .execute_all(commands, CommandOptions::default().command_id(id.clone()))
            .await?;
        let accounts = operation.accounts();
        if outcomes.len() != accounts.len() {
            return Err(unexpected("an operation did not report every account"));
        }
        Ok(Submitted {
            duplicate: outcomes.iter().any(|outcome| outcome.duplicate),
            attempts: outcomes.first().map_or(0, |outcome| outcome.attempts),
            requests: outcomes.first().map_or(0, |outcome| outcome.requests),
            capacity: outcomes
                .first()
                .map(|outcome| outcome.capacity)
                .unwrap_or_default(),
            versions: accounts
                .into_iter()
                .cloned()
                .zip(outcomes.iter().map(|outcome| outcome.version))
                .collect(),
        })
    }

    /// Closes `account`, which must be empty.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Refused`] when the account does not exist, is closed
    /// already or holds money; [`LedgerError::Store`] when the store fails.
    pub async fn close(&self, account: &AccountId) -> Result<Receipt> {
        self.execute(account, AccountCommand::Close).await
    }

    /// The account as it stands, read from the table (its snapshot, then the
    /// events after it).
    ///
    /// # Errors
    ///
    /// [`LedgerError::Refused`] with [`AccountError::NotOpen`] when there is
    /// no such account; [`LedgerError::Store`] when the store fails.
    pub async fn statement(&self, account: &AccountId) -> Result<Statement> {
        let loaded = self.accounts.load(account.clone()).await?;
        if loaded.state == Account::Unopened {
            return Err(not_open(account));
        }
        Ok(Statement {
            account: account.clone(),
            state: loaded.state,
            version: loaded.version,
            snapshot_version: loaded.snapshot_version,
            events_read: loaded.events_read,
        })
    }

    /// Up to `page_size` events of `account`, from version `from` (1 is the
    /// first), and where the next page starts.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Refused`] with [`AccountError::NotOpen`] when there is
    /// no such account; [`LedgerError::Store`] when the store fails.
    pub async fn history(
        &self,
        account: &AccountId,
        from: u64,
        page_size: usize,
    ) -> Result<HistoryPage> {
        let from = from.max(1);
        let mut stream = std::pin::pin!(self.accounts.events(account, from));
        let mut events = Vec::new();
        let mut next = None;
        while let Some(event) = stream.try_next().await? {
            if events.len() >= page_size {
                next = Some(event.version);
                break;
            }
            events.push(event);
        }
        if events.is_empty() && !self.exists(account).await? {
            return Err(not_open(account));
        }
        Ok(HistoryPage { events, next })
    }

    /// Whether `account` has any event.
    async fn exists(&self, account: &AccountId) -> Result<bool> {
        let mut stream = std::pin::pin!(self.accounts.events(account, 1));
        Ok(stream.try_next().await?.is_some())
    }
}

/// Creates `table` as `definition` says when it does not exist, and waits
/// until it is active; whether it created it.
pub(crate) async fn create_table_if_missing(
    table: &Table,
    definition: TableDefinition,
) -> dynago::Result<bool> {
    let timeout = Duration::from_secs(120);
    match table.wait_until_active(timeout).await {
        Ok(()) => Ok(false),
        Err(error) if error.is_not_found() => match table.create_table(definition).await {
            Ok(()) => Ok(true),
            // Another process created it in between.
            Err(error) if error.code() == Some("ResourceInUseException") => {
                table.wait_until_active(timeout).await?;
                Ok(false)
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    }
}

/// The debit of the source and the credit of the target.
fn transfer_commands(transfer: &Transfer) -> Result<Vec<(AccountId, AccountCommand)>> {
    let Transfer {
        from,
        to,
        amount,
        currency,
    } = transfer;
    if from == to {
        return Err(LedgerError::SameAccount(from.clone()));
    }
    let debit = AccountCommand::Debit {
        to: to.clone(),
        amount: *amount,
        currency: currency.clone(),
    };
    let credit = AccountCommand::Credit {
        from: from.clone(),
        amount: *amount,
        currency: currency.clone(),
    };
    Ok(vec![(from.clone(), debit), (to.clone(), credit)])
}

fn not_open(account: &AccountId) -> LedgerError {
    LedgerError::Refused {
        account: account.clone(),
        reason: AccountError::NotOpen,
    }
}

fn unexpected(what: &str) -> LedgerError {
    LedgerError::Store(dynago_es::Error::Config(what.to_owned()))
}

fn receipt(account: &AccountId, outcome: CommandOutcome<Account>) -> Result<Receipt> {
    // Without a command id (only `submit` sends one), the store always
    // returns the state.
    let holder = outcome
        .state
        .as_ref()
        .and_then(Account::holder)
        .cloned()
        .ok_or_else(|| unexpected("a command returned no account state"))?;
    debug_assert_eq!(outcome.id, AggregateId::from(account));
    Ok(Receipt {
        account: account.clone(),
        version: outcome.version,
        holder,
        attempts: outcome.attempts,
        requests: outcome.requests,
        capacity: outcome.capacity,
    })
}
