//! What each command of the `ledger` program costs on DynamoDB, in request
//! units, and what those cost on demand: the figures the program prints
//! before it creates its tables on AWS, and that `tests/cli.rs` checks
//! against the capacity DynamoDB reports for the binary's requests.
//!
//! By AWS's rules: a write 1 unit per started KB of the item, 2 inside a
//! transaction; a strongly consistent read 1 unit per started 4 KB. Each
//! command runs in a process of its own, so the store's cache is empty: a
//! command first reads its account (its snapshot, a `GetItem`, and its
//! events after the snapshot, a `Query`), then writes. None carries a command
//! id ([`Ledger::submit`](crate::Ledger::submit) does: on one account it
//! reads the id's record, then writes it on its own and then the event, 2
//! write units; see docs/event-store.md). `ledger stress` measures what each
//! shape of command costs on accounts it has cached.
//!
//! ```
//! use ledger::cost;
//!
//! assert_eq!(cost::ONE_EVENT.write, 1.0);
//! assert_eq!(cost::TRANSFER.write, 4.0);
//! assert_eq!(cost::TRANSFER.dollars_per_million(), 3.25);
//! ```

/// Request units one command consumes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Units {
    /// Write request units.
    pub write: f64,
    /// Read request units.
    pub read: f64,
}

impl Units {
    /// What a million of them cost on demand, in dollars, at [`WRITE_PRICE`]
    /// and [`READ_PRICE`].
    pub fn dollars_per_million(&self) -> f64 {
        self.write * WRITE_PRICE + self.read * READ_PRICE
    }
}

/// `open`, `deposit`, `withdraw`, `close`: the account read (1 read unit for
/// its snapshot, 1 per started 4 KB of its events after it: 1 when there are
/// none, as AWS bills a read that finds nothing), then one conditional
/// `PutItem` of the event (1 write unit up to 1 KB).
pub const ONE_EVENT: Units = Units {
    write: 1.0,
    read: 2.0,
};

/// `transfer`: the source read for its currency, then both accounts read,
/// then one `TransactWriteItems` of the debit and the credit (2 write units
/// each).
pub const TRANSFER: Units = Units {
    write: 4.0,
    read: 6.0,
};

/// What a command adds when its event is an account's
/// [`SNAPSHOT_EVERY`](crate::ledger::SNAPSHOT_EVERY)th: a `PutItem` of the
/// account's snapshot.
pub const SNAPSHOT: Units = Units {
    write: 1.0,
    read: 0.0,
};

/// Dollars per million write request units, on demand in `us-east-1` when
/// this was written.
pub const WRITE_PRICE: f64 = 0.625;

/// Dollars per million read request units, on demand in `us-east-1` when
/// this was written.
pub const READ_PRICE: f64 = 0.125;

/// Dollars per GB-month stored, in `us-east-1` when this was written.
pub const STORAGE_PRICE: f64 = 0.25;
