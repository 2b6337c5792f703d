//! What a user writes: an aggregate, its commands and its events.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::id::Identity;

/// A consistency boundary whose state is the fold of its events.
///
/// All business logic lives in [`handle`](Aggregate::handle), which looks at
/// the current state and a command and decides which events happen (or
/// rejects the command). [`apply`](Aggregate::apply) only folds an event into
/// the state: it must not fail and must not decide anything, because it runs
/// again every time the aggregate is loaded.
///
/// ```
/// use dynago_es::{Aggregate, AggregateId, DomainEvent};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Default, Clone, Serialize, Deserialize)]
/// struct Counter { value: u64 }
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
/// enum CounterEvent { Incremented { by: u64 } }
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("cannot increment by zero")]
/// struct ZeroIncrement;
///
/// impl Aggregate for Counter {
///     const TYPE: &'static str = "counter";
///     type Id = AggregateId;
///     type Command = u64;
///     type Event = CounterEvent;
///     type Error = ZeroIncrement;
///
///     fn handle(&self, by: &u64) -> Result<Vec<CounterEvent>, ZeroIncrement> {
///         if *by == 0 { return Err(ZeroIncrement); }
///         Ok(vec![CounterEvent::Incremented { by: *by }])
///     }
///
///     fn apply(&mut self, event: &CounterEvent) {
///         match event { CounterEvent::Incremented { by } => self.value += by }
///     }
/// }
/// ```
pub trait Aggregate:
    Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The aggregate type's name, part of every key of its items
    /// (`account`, `order`). Never change it once data is stored.
    const TYPE: &'static str;

    /// The version of the state's serialized shape. Bump it when a change to
    /// the state type makes old snapshots wrong even though they still
    /// deserialize: snapshots of another version are ignored and the state is
    /// rebuilt from events.
    const SNAPSHOT_VERSION: u32 = 1;

    /// The type of its ids: [`AggregateId`](crate::AggregateId), or a type
    /// of your own (an `AccountId`) that the store takes in
    /// [`execute`](crate::EventStore::execute) and hands back in
    /// [`CommandError::Rejected`](crate::CommandError::Rejected). Its
    /// `Display` form is the id in the keys of the aggregate's items: keep
    /// it stable.
    type Id: Identity;

    /// What callers ask the aggregate to do.
    type Command: Send + Sync;

    /// What happened.
    type Event: DomainEvent;

    /// Why the aggregate refuses a command.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decides which events a command causes, given the current state.
    ///
    /// # Errors
    ///
    /// The aggregate's own error when it refuses the command; it is returned
    /// to the caller as is, never retried.
    fn handle(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds one event into the state.
    fn apply(&mut self, event: &Self::Event);
}

/// An event of an aggregate.
///
/// It is stored as a native DynamoDB map (readable in the console and in
/// DynamoDB Streams) beside its type name and schema version.
///
/// Derive it (the `derive` feature, on by default): the event types of an
/// enum are its variants, each named as the variant and of schema version 1,
/// unless `#[event(rename = "...")]` or `#[event(version = N)]` on the variant
/// says otherwise. A struct is one event type, with the same attributes on
/// the struct.
///
/// ```
/// use dynago_es::DomainEvent;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize, DomainEvent)]
/// enum AccountEvent {
///     Opened { owner: String },
///     /// Deposits gained a currency: their second shape.
///     #[event(version = 2)]
///     Deposited { amount: u64, currency: String },
///     /// Stored as `Closed`, its name before it was renamed in the code.
///     #[event(rename = "Closed")]
///     Terminated,
/// }
///
/// let deposit = AccountEvent::Deposited { amount: 5, currency: "EUR".into() };
/// assert_eq!((deposit.event_type(), deposit.schema_version()), ("Deposited", 2));
/// assert_eq!(AccountEvent::Terminated.event_type(), "Closed");
/// ```
///
/// Type names are how stored events are read back, so two variants with one
/// name are refused at compile time, as are an empty name and a version of 0.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The event's type name, such as `Deposited`.
    fn event_type(&self) -> &'static str;

    /// The version of this event type's shape, 1 unless it changed. When it
    /// changes, register an [`Upcaster`](crate::Upcaster) that lifts the old
    /// shape.
    fn schema_version(&self) -> u32 {
        1
    }
}
