//! A given/when/then harness for testing aggregates without DynamoDB.
//!
//! ```
//! # use dynago_es::{Aggregate, DomainEvent};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Default, Clone, Serialize, Deserialize)] struct Counter { value: u64 }
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)] enum Ev { Incremented { by: u64 } }
//! # impl DomainEvent for Ev { fn event_type(&self) -> &'static str { "Incremented" } }
//! # #[derive(Debug, PartialEq, thiserror::Error)] #[error("zero")] struct Zero;
//! # impl Aggregate for Counter {
//! #     const TYPE: &'static str = "counter"; type Command = u64; type Event = Ev; type Error = Zero;
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

use std::fmt::Debug;

use crate::aggregate::Aggregate;

/// Starts a test: the aggregate's history.
#[derive(Debug)]
pub struct TestFramework<A: Aggregate> {
    state: A,
}

impl<A: Aggregate> TestFramework<A> {
    /// An aggregate that has seen `events`, in order.
    pub fn given(events: Vec<A::Event>) -> Self {
        let mut state = A::default();
        for event in &events {
            state.apply(event);
        }
        Self { state }
    }

    /// A new aggregate, with no events.
    pub fn given_no_previous_events() -> Self {
        Self::given(Vec::new())
    }

    /// Hands the aggregate `command`.
    pub fn when(self, command: A::Command) -> Then<A> {
        let result = self.state.handle(&command);
        Then {
            state: self.state,
            result,
        }
    }
}

/// What the aggregate decided, to check.
#[derive(Debug)]
#[must_use = "a test checks nothing until a then_ method is called"]
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A>
where
    A::Event: PartialEq + Debug,
{
    /// Asserts that the aggregate decided exactly `expected`.
    ///
    /// # Panics
    ///
    /// When it decided other events or refused the command.
    #[track_caller]
    pub fn then_expect_events(self, expected: Vec<A::Event>) -> A {
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected, "the aggregate decided other events");
                let mut state = self.state;
                for event in &events {
                    state.apply(event);
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

    /// The aggregate's decision, for checks of your own.
    pub fn inspect_result(self) -> Result<Vec<A::Event>, A::Error> {
        self.result
    }
}
