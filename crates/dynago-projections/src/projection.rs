//! What users write: a projection, the view it keeps and where.

use std::fmt::Debug;

use dynago_es::{Aggregate, EventEnvelope};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The events a projection of `P` reads.
pub type EventOf<P> = EventEnvelope<<<P as Projection>::Aggregate as Aggregate>::Event>;

/// What a projection does with an event this build cannot read: a type a
/// newer build wrote first (in a rolling deploy, writers go first), or a
/// damaged item.
///
/// ```
/// use dynago_projections::UnknownEvents;
/// assert_eq!(UnknownEvents::default(), UnknownEvents::Park);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnknownEvents {
    /// Parks it with the reason, as a handler's error: its aggregate's
    /// later events wait behind it, every other aggregate goes on; replay
    /// it ([`Projector::replay_parked`](crate::Projector::replay_parked))
    /// once a build that reads it is deployed. For views an event may
    /// change.
    #[default]
    Park,
    /// Passes over it, as an event that changes no view: its aggregate's
    /// position moves past it (one conditional write) and its later events
    /// are applied. For a projection that says no event it does not know
    /// can concern it.
    Skip,
}

/// Where a projection keeps its views.
///
/// ```
/// use dynago_projections::ViewKind;
/// assert_eq!(ViewKind::default(), ViewKind::PerAggregate);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewKind {
    /// One view per aggregate, changed by each of its events (an account's
    /// balance). The view item holds the version of the last event applied,
    /// and is written under the condition that it holds the one before: one
    /// conditional `PutItem` per event.
    #[default]
    PerAggregate,
    /// Views under keys of the projection's choosing
    /// ([`Projection::view_key`]), each changed by events of many
    /// aggregates (totals per day and currency). The position of each
    /// source aggregate is its own item, written in one transaction with
    /// the view, both under conditions: two items per event.
    Keyed,
}

/// A read model built from the events of one aggregate type: a handler
/// that folds an event into a view, as plainly as
/// [`Aggregate::apply`].
///
/// Each event is applied exactly once to its view, in the order of its
/// aggregate's versions, whatever order and however often the stream
/// delivers it (see [`Projector`](crate::Projector)).
///
/// ```
/// use dynago_es::{Aggregate, DomainEvent};
/// use dynago_projections::{EventOf, Projection};
/// use serde::{Deserialize, Serialize};
///
/// # #[derive(Debug, Default, Clone, Serialize, Deserialize)]
/// # struct Account { balance: u64 }
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
/// # enum AccountEvent { Deposited { amount: u64 } }
/// # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
/// # impl Aggregate for Account {
/// #     const TYPE: &'static str = "account";
/// #     type Id = dynago_es::AggregateId;
/// #     type Command = u64; type Event = AccountEvent; type Error = No;
/// #     fn handle(&self, _: &u64) -> Result<Vec<AccountEvent>, No> { Ok(vec![]) }
/// #     fn apply(&mut self, _: &AccountEvent) {}
/// # }
/// /// The balance of every account, one view item each.
/// struct Balances;
///
/// #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
/// struct Balance { deposits: u32, balance: u64 }
///
/// impl Projection for Balances {
///     const NAME: &'static str = "balances";
///     type Aggregate = Account;
///     type View = Balance;
///     type Error = std::convert::Infallible;
///
///     fn apply(&self, view: &mut Balance, event: &EventOf<Self>) -> Result<(), Self::Error> {
///         match event.payload {
///             AccountEvent::Deposited { amount } => {
///                 view.deposits += 1;
///                 view.balance += amount;
///             }
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Projection: Send + Sync + 'static {
    /// The projection's name: the partition of its items in the view
    /// table. Not empty, without `#`; a new name is a new projection, built
    /// from the start.
    const NAME: &'static str;

    /// Where its views are kept (default: one per aggregate).
    const VIEWS: ViewKind = ViewKind::PerAggregate;

    /// What it does with an event this build cannot read (default: park
    /// it).
    const UNKNOWN_EVENTS: UnknownEvents = UnknownEvents::Park;

    /// The aggregate whose events it reads.
    type Aggregate: Aggregate;

    /// What a view holds; a view starts as `View::default()`.
    type View: Serialize + DeserializeOwned + Default + Clone + Debug + Send + Sync + 'static;

    /// What a handler may fail with. A failing event is tried again, then
    /// parked with this error: its aggregate's later events wait behind
    /// it, the others go on.
    type Error: std::error::Error + Send + Sync + 'static;

    /// For [`ViewKind::Keyed`] projections, the key of the view `event`
    /// changes, or `None` when it changes none. Not called for
    /// [`ViewKind::PerAggregate`] projections, whose view is the
    /// aggregate's. The default changes none.
    fn view_key(&self, event: &EventOf<Self>) -> Option<String> {
        let _ = event;
        None
    }

    /// Folds `event` into `view`.
    ///
    /// # Errors
    ///
    /// Whatever the handler refuses; see [`Projection::Error`].
    fn apply(&self, view: &mut Self::View, event: &EventOf<Self>) -> Result<(), Self::Error>;
}
