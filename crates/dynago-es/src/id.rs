//! Identifiers: of aggregates and of commands.

use std::fmt;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// The identity of one aggregate within its type.
///
/// ```
/// use dynago_es::AggregateId;
/// let id = AggregateId::from("acc-1");
/// assert_eq!(id.as_str(), "acc-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AggregateId(String);

impl AggregateId {
    /// The id `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id an aggregate of a typed id ([`Aggregate::Id`](crate::Aggregate::Id))
    /// has in its items: its `Display` form.
    ///
    /// ```
    /// assert_eq!(dynago_es::AggregateId::of(&42_u64).as_str(), "42");
    /// ```
    pub fn of(id: &impl fmt::Display) -> Self {
        Self(id.to_string())
    }

    /// A new random id (a UUID v7, which sorts by creation time).
    pub fn random() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an aggregate's id type is ([`Aggregate::Id`](crate::Aggregate::Id)):
/// cloned, compared, hashed, shown, and sent between tasks. Every such type
/// is one: [`AggregateId`], a `String`, a `u64`, a `Uuid`, or an id type of
/// your own. Its `Display` form is what the keys hold.
///
/// ```
/// fn takes<I: dynago_es::Identity>(_: I) {}
/// takes(dynago_es::AggregateId::from("acc-1"));
/// takes(42_u64);
/// ```
pub trait Identity: Clone + Eq + Hash + fmt::Debug + fmt::Display + Send + Sync + 'static {}

impl<T> Identity for T where T: Clone + Eq + Hash + fmt::Debug + fmt::Display + Send + Sync + 'static
{}

impl fmt::Display for AggregateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AggregateId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl From<String> for AggregateId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&AggregateId> for AggregateId {
    fn from(id: &AggregateId) -> Self {
        id.clone()
    }
}

impl From<uuid::Uuid> for AggregateId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id.to_string())
    }
}

/// The identity of one command, for idempotency: a command carried again
/// with the same id is not applied again (see
/// [`CommandOptions::command_id`](crate::CommandOptions::command_id)).
///
/// ```
/// use dynago_es::CommandId;
/// let id = CommandId::new("deposit-7f3a");
/// assert_eq!(id.to_string(), "deposit-7f3a");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommandId(String);

impl CommandId {
    /// The id `id`, chosen by the caller (a request id, a message id).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// A new random id (a UUID v7).
    pub fn random() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
