//! A given/when/then harness for testing aggregates without DynamoDB.
//!
//! ```
//! # use dynago_es::{Aggregate, DomainEvent};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Default, Clone, Serialize, Deserialize)] struct Counter { value: u64 }
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)] enum Ev { Incremented { by: u64 } }
//! # #[derive(Debug, PartialEq, thiserror::Error)] #[error("zero")] struct Zero;
//! # impl Aggregate for Counter {
//! #     const TYPE: &'static str = "counter"; type Id = dynago_es::AggregateId; type Command = u64; type Event = Ev; type Error = Zero;
//! #     fn handle(&self, by: &u64) -> Result<Vec<Ev>, Zero> { if *by == 0 { Err(Zero) } else { Ok(vec![Ev::Incremented { by: *by }]) } }
//! #     fn apply(&mut self, e: &Ev) { match e { Ev::Incremented { by } => self.value += by } }
//! # }
//! use dynago_es::testing::TestFramework;
//!
//! TestFramework::<Counter>::given(vec![Ev::Incremented { by: 2 }])
//!     .when(3)
//!     .then_expect_events(vec![Ev::Incremented { by: 3 }]);
//!
//! TestFramework::<Counter>::given_no_previous_events()
//!     .when(0)
//!     .then_expect_error(Zero);
//! ```
//!
//! Every state the framework reaches is also written as a snapshot would
//! hold it and read back: a state that would load from its snapshot as
//! another (its serde form loses something, or cannot be written at all)
//! fails the test, rather than a store in production
//! ([`without_snapshots`](TestFramework::without_snapshots) for aggregates
//! never snapshotted). For your own states, [`snapshot_round_trip`] does
//! the same.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::aggregate::Aggregate;
use crate::snapshot;

/// `state` (of an aggregate, or any part of one) as a snapshot holds it,
/// read back: what a load that starts from
/// a snapshot of it would start from. Use it in property tests of your own
/// states, which must come back equal.
///
/// ```
/// # use dynago_es::{Aggregate, DomainEvent};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)] enum Ev { Set }
/// # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
/// use std::collections::BTreeMap;
///
/// #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
/// struct Registry { names: BTreeMap<String, Option<u32>> }
/// # impl Aggregate for Registry { const TYPE: &'static str = "registry"; type Id = dynago_es::AggregateId; type Command = (); type Event = Ev; type Error = No;
/// #   fn handle(&self, _: &()) -> Result<Vec<Ev>, No> { Ok(vec![]) } fn apply(&mut self, _: &Ev) {} }
///
/// let state = Registry { names: BTreeMap::from([("ada".to_owned(), None)]) };
/// assert_eq!(dynago_es::testing::snapshot_round_trip(&state), Ok(state));
/// ```
///
/// # Errors
///
/// What is wrong, when the state cannot be written as a snapshot, does not
/// read back, or reads back as a state that writes otherwise. The store
/// then leaves such snapshots out (with a warning) and replays events.
pub fn snapshot_round_trip<S: Serialize + DeserializeOwned>(state: &S) -> Result<S, String> {
    snapshot::round_trip(state)
}

/// Panics when `state` does not survive a snapshot.
#[track_caller]
fn assert_survives_snapshot<A: Aggregate>(state: &A) -> A {
    match snapshot::round_trip(state) {
        Ok(back) => back,
        Err(reason) => panic!(
            "the state of {} does not survive a snapshot: {reason}",
            A::TYPE
        ),
    }
}

/// Starts a test: the aggregate's history.
#[derive(Debug)]
pub struct TestFramework<A: Aggregate> {
    state: A,
    check_snapshots: bool,
}

impl<A: Aggregate> TestFramework<A> {
    /// An aggregate that has seen `events`, in order.
    pub fn given(events: Vec<A::Event>) -> Self {
        let mut state = A::default();
        for event in &events {
            state.apply(event);
        }
        Self {
            state,
            check_snapshots: true,
        }
    }

    /// A new aggregate, with no events.
    pub fn given_no_previous_events() -> Self {
        Self::given(Vec::new())
    }

    /// Leaves out the snapshot round trip of every state: for an aggregate
    /// whose store never takes snapshots ([`SnapshotPolicy::Never`](crate::SnapshotPolicy::Never)).
    pub fn without_snapshots(mut self) -> Self {
        self.check_snapshots = false;
        self
    }

    /// Hands the aggregate `command`.
    ///
    /// # Panics
    ///
    /// When the given state does not survive a snapshot (see
    /// [`snapshot_round_trip`]), unless [`without_snapshots`](Self::without_snapshots).
    #[track_caller]
    pub fn when(self, command: A::Command) -> Then<A> {
        if self.check_snapshots {
            assert_survives_snapshot(&self.state);
        }
        let result = self.state.handle(&command);
        Then {
            state: self.state,
            result,
            check_snapshots: self.check_snapshots,
        }
    }
}

/// What the aggregate decided, to check.
#[derive(Debug)]
#[must_use = "a test checks nothing until a then_ method is called"]
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
    check_snapshots: bool,
}

impl<A: Aggregate> Then<A>
where
    A::Event: PartialEq + Debug,
{
    /// Asserts that the aggregate decided exactly `expected`, and returns
    /// the state after them.
    ///
    /// # Panics
    ///
    /// When it decided other events or refused the command, or when the
    /// state after the events does not survive a snapshot.
    #[track_caller]
    pub fn then_expect_events(self, expected: Vec<A::Event>) -> A {
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "the aggregate decided other events");
                let mut state = self.state;
                for event in &events {
                    state.apply(event);
                }
                if self.check_snapshots {
                    assert_survives_snapshot(&state);
                }
                state
            }
            Err(error) => {
                panic!("expected events {expected:?}, but the command was refused: {error}")
            }
        }
    }

    /// Asserts that the aggregate refused the command with `expected`.
    ///
    /// # Panics
    ///
    /// When it accepted the command or refused it otherwise.
    #[track_caller]
    pub fn then_expect_error(self, expected: A::Error)
    where
        A::Error: PartialEq,
    {
        match self.result {
            Ok(events) => {
                panic!("expected the error {expected:?}, but the aggregate decided {events:?}")
            }
            Err(error) => assert_eq!(error, expected, "the aggregate refused with another error"),
        }
    }

    /// Asserts that the state after the decided events is `expected`, and
    /// that it loads from a snapshot as `expected` too.
    ///
    /// ```
    /// # use dynago_es::{Aggregate, DomainEvent};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)] struct Counter { value: u64 }
    /// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)] enum Ev { Incremented { by: u64 } }
    /// # #[derive(Debug, PartialEq, thiserror::Error)] #[error("zero")] struct Zero;
    /// # impl Aggregate for Counter {
    /// #     const TYPE: &'static str = "counter"; type Id = dynago_es::AggregateId; type Command = u64; type Event = Ev; type Error = Zero;
    /// #     fn handle(&self, by: &u64) -> Result<Vec<Ev>, Zero> { Ok(vec![Ev::Incremented { by: *by }]) }
    /// #     fn apply(&mut self, e: &Ev) { match e { Ev::Incremented { by } => self.value += by } }
    /// # }
    /// use dynago_es::testing::TestFramework;
    ///
    /// TestFramework::<Counter>::given(vec![Ev::Incremented { by: 2 }])
    ///     .when(3)
    ///     .then_expect_state(Counter { value: 5 });
    /// ```
    ///
    /// # Panics
    ///
    /// When the command was refused, the state differs, or its snapshot
    /// loads as another state.
    #[track_caller]
    pub fn then_expect_state(self, expected: A)
    where
        A: PartialEq + Debug,
        A::Error: Debug,
    {
        let events = match self.result {
            Ok(events) => events,
            Err(error) => {
                panic!("expected the state {expected:?}, but the command was refused: {error:?}")
            }
        };
        let mut state = self.state;
        for event in &events {
            state.apply(event);
        }
        assert_eq!(state, expected, "the state after the events");
        if self.check_snapshots {
            let back = assert_survives_snapshot(&state);
            assert_eq!(back, expected, "the state as it loads from a snapshot");
        }
    }

    /// The aggregate's decision, for checks of your own.
    pub fn inspect_result(self) -> Result<Vec<A::Event>, A::Error> {
        self.result
    }
}
