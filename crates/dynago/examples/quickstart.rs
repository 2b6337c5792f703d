//! A tour of `dynago` on a real DynamoDB, in one run.
//!
//! ```sh
//! cargo run -p dynago --example quickstart
//! ```
//!
//! It starts the DynamoDB that the environment names (an embedded one unless
//! `DYNAGO_BACKEND` or `DYNAMODB_ENDPOINT` says otherwise), creates a table,
//! and walks through reads, version-locked writes, a paged query, a batch
//! get and a transaction, saying what it does as it goes. Set
//! `RUST_LOG=dynago=info` to also see one line per DynamoDB request.
#![deny(warnings)]

use std::error::Error;
use std::io::IsTerminal;
use std::process::ExitCode;

use dynago::transact::{Put, Update};
use dynago::{number_value, string_value, AttributeValue, Condition, Key, Table, TableDefinition};
use dynago_local::{unique_table_name, Backend};
use serde::{Deserialize, Serialize};

/// A bank account, stored under `pk = account#<id>`, `sk = account`.
#[derive(Debug, Serialize, Deserialize)]
struct Account {
    holder: String,
    balance: i64,
    /// The optimistic lock's version: 0 until the account is first stored.
    version: u64,
}

/// One line of an account's ledger, stored under `pk = account#<id>`,
/// `sk = entry#<n>`.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    description: String,
    amount: i64,
}

/// The record of a transfer, stored under `pk = transfer#<id>`, `sk = transfer`.
#[derive(Debug, Serialize)]
struct Transfer {
    from: String,
    to: String,
    amount: i64,
}

fn account_key(id: &str) -> Key {
    Key::new(string_value(format!("account#{id}"))).sort(string_value("account"))
}

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            // Colours only for a terminal, not for a file or a pipe.
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
    }
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", causes(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The error's message and those of its sources, `a: b: c`, each once (a
/// message that already holds its source's is not followed by it again).
fn causes(error: &(dyn Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

async fn run() -> Result<(), Box<dyn Error>> {
    // 1. A DynamoDB to talk to, and a table on it.
    let dynamo = dynago_local::LocalDynamo::start().await?;
    // A server started for this run is ours alone; on one that was already
    // running, pick a table name nobody else uses.
    let (what, name) = match dynamo.backend() {
        Backend::Embedded => ("Started an embedded DynamoDB", "quickstart".to_owned()),
        Backend::DynamoDbLocal => ("Started DynamoDB Local", "quickstart".to_owned()),
        _ => ("Using the DynamoDB", unique_table_name("quickstart")),
    };
    println!("{what} at {}.", dynamo.url());
    let table = Table::connect(
        dynamo
            .table_options(name.as_str())
            .partition_key("pk")
            .sort_key("sk"),
    )
    .await?;
    table.create_table(TableDefinition::default()).await?;
    println!("Created the table `{name}`, keyed by `pk` and `sk`.");

    let result = tour(&table).await;
    table.delete_table().await?;
    println!("\nDeleted the table. That was the tour.");
    result
}

async fn tour(table: &Table) -> Result<(), Box<dyn Error>> {
    // 2. Put and get. Version 0 means "this account must not exist yet".
    println!("\n-- Put and get");
    for (id, holder, balance) in [("ada", "Ada", 100), ("grace", "Grace", 50)] {
        let account = Account {
            holder: holder.into(),
            balance,
            version: 0,
        };
        let outcome = table
            .put_item(account_key(id), &account)
            .optimistic_lock("version", 0)
            .send()
            .await?;
        println!(
            "Opened {holder}'s account with a balance of {balance}; it is stored as version {}.",
            outcome.version.unwrap_or_default()
        );
    }
    let ada = read_account(table, "ada").await?;
    println!(
        "Read Ada's account back: balance {}, version {}.",
        ada.balance, ada.version
    );

    // 3. Optimistic locking: two clerks update from the same version.
    println!("\n-- Optimistic locking");
    let mut first = read_account(table, "ada").await?;
    let mut second = read_account(table, "ada").await?;
    println!(
        "Two clerks read Ada's account at version {}.",
        first.version
    );
    first.balance += 20;
    let saved = table
        .put_item(account_key("ada"), &first)
        .optimistic_lock("version", first.version)
        .send()
        .await?;
    println!(
        "The first deposits 20 and saves: the account is now version {}.",
        saved.version.unwrap_or_default()
    );
    second.balance -= 30;
    match table
        .put_item(account_key("ada"), &second)
        .optimistic_lock("version", second.version)
        .send()
        .await
    {
        Err(error @ dynago::Error::VersionConflict { .. }) => {
            println!(
                "The second withdraws 30 from its stale copy and is refused \
                 with Error::VersionConflict:"
            );
            println!("  {error}");
        }
        Err(error) => return Err(error.into()),
        Ok(_) => return Err("a stale write went through".into()),
    }
    let ada = withdraw(table, "ada", 30).await?;
    println!(
        "It reads the account again and withdraws 30 from what it finds: balance {}, version {}.",
        ada.balance, ada.version
    );

    // 4. A batch write, then a query read two items a page.
    println!("\n-- Batch write and paged query");
    let entries = [
        ("opening deposit", 100),
        ("salary", 20),
        ("rent", -30),
        ("coffee", -4),
        ("refund", 4),
    ];
    let batch = entries.iter().enumerate().fold(
        table.batch_write(),
        |batch, (n, (description, amount))| {
            batch.put(
                Key::new(string_value("account#ada")).sort(string_value(format!("entry#{n:03}"))),
                &Entry {
                    description: (*description).into(),
                    amount: *amount,
                },
            )
        },
    );
    let written = batch.len();
    batch.send().await?;
    println!("Wrote {written} ledger entries for Ada in one batch write.");

    let query = table
        .query("pk = :pk AND begins_with(sk, :entry)")
        .value(":pk", string_value("account#ada"))
        .value(":entry", string_value("entry#"))
        .limit(2);
    let mut page = query.send::<Entry>().await?;
    for number in 1.. {
        let lines: Vec<String> = page
            .items
            .iter()
            .map(|entry| format!("{} {:+}", entry.description, entry.amount))
            .collect();
        let Some(cursor) = page.cursor else {
            println!(
                "Page {number}: {}; no cursor, so that was all.",
                lines.join(", ")
            );
            break;
        };
        println!(
            "Page {number}: {}; a cursor ({} characters) points past them.",
            lines.join(", "),
            cursor.len()
        );
        page = query.clone().cursor(cursor).send().await?;
    }

    // 5. A batch get: found items come back in the order of the keys.
    println!("\n-- Batch get");
    let accounts: Vec<Account> = table
        .batch_get_items([
            account_key("grace"),
            account_key("nobody"),
            account_key("ada"),
        ])
        .send()
        .await?;
    let found: Vec<String> = accounts
        .iter()
        .map(|a| format!("{} ({})", a.holder, a.balance))
        .collect();
    println!(
        "Asked for Grace, nobody and Ada; got {} accounts, in that order: {}.",
        accounts.len(),
        found.join(", ")
    );

    // 6. Transactions: a transfer is three writes that happen together or not at all.
    println!("\n-- Transactions");
    transfer(table, "t1", "ada", "grace", 40).await?;
    let (ada, grace) = (
        read_account(table, "ada").await?,
        read_account(table, "grace").await?,
    );
    println!(
        "Transferred 40 from Ada to Grace: Ada has {}, Grace has {}.",
        ada.balance, grace.balance
    );
    match transfer(table, "t2", "ada", "grace", 500).await {
        Err(dynago::Error::TransactionCanceled { reasons, .. }) => {
            println!("A transfer of 500 was cancelled:");
            for failed in reasons.failed() {
                let balance = failed
                    .item
                    .as_ref()
                    .and_then(|item| item.get("balance"))
                    .and_then(|value| match value {
                        AttributeValue::N(n) => Some(n.as_str()),
                        _ => None,
                    })
                    .unwrap_or("?");
                println!(
                    "  action {} ({}) failed with {}; the account held {balance}.",
                    failed.index,
                    TRANSFER_ACTIONS.get(failed.index).unwrap_or(&"?"),
                    failed.code,
                );
            }
        }
        Err(error) => return Err(error.into()),
        Ok(()) => return Err("an overdraft went through".into()),
    }
    let ada = read_account(table, "ada").await?;
    println!("Nothing of it was written: Ada still has {}.", ada.balance);
    Ok(())
}

/// Reads an account with a strongly consistent read.
async fn read_account(table: &Table, id: &str) -> Result<Account, Box<dyn Error>> {
    table
        .get_item(account_key(id))
        .consistent_read(true)
        .send()
        .await?
        .ok_or_else(|| format!("there is no account `{id}`").into())
}

/// Withdraws `amount` under the optimistic lock, reading again and deciding
/// again whenever another writer got there first (five tries at most).
async fn withdraw(table: &Table, id: &str, amount: i64) -> Result<Account, Box<dyn Error>> {
    let mut tries = 0;
    loop {
        tries += 1;
        let mut account = read_account(table, id).await?;
        account.balance -= amount;
        match table
            .put_item(account_key(id), &account)
            .optimistic_lock("version", account.version)
            .send()
            .await
        {
            Ok(outcome) => {
                account.version = outcome.version.unwrap_or(account.version);
                return Ok(account);
            }
            Err(error) if error.is_conflict() && tries < 5 => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// What each action of [`transfer`] does, by index.
const TRANSFER_ACTIONS: [&str; 3] = ["record the transfer", "debit the payer", "credit the payee"];

/// Moves `amount` between two accounts in one transaction: the transfer is
/// recorded once (version 0: its record must not exist), the payer must
/// hold the amount, and both accounts move to their next version.
async fn transfer(
    table: &Table,
    id: &str,
    from: &str,
    to: &str,
    amount: i64,
) -> dynago::Result<()> {
    let record = Transfer {
        from: from.into(),
        to: to.into(),
        amount,
    };
    table
        .transact_write()
        .put(
            Put::new(
                Key::new(string_value(format!("transfer#{id}"))).sort(string_value("transfer")),
                &record,
            )
            .optimistic_lock("version", 0),
        )
        .update(
            Update::new(
                account_key(from),
                "SET balance = balance - :amount, version = version + :one",
            )
            .value(":amount", number_value(amount))
            .value(":one", number_value(1))
            .condition(Condition::new("balance >= :amount")),
        )
        .update(
            Update::new(
                account_key(to),
                "SET balance = balance + :amount, version = version + :one",
            )
            .value(":amount", number_value(amount))
            .value(":one", number_value(1)),
        )
        .send()
        .await
}
