//! The bookkeeping item beside the events: the records of commands.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::id::{AggregateId, CommandId};

/// The record of a command that carried an id: written once, in the same
/// transaction as its events (a command across aggregates), or on its own
/// before them (`reserved`: a command on one aggregate).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CommandRecord {
    pub(crate) command_id: CommandId,
    pub(crate) aggregate_type: String,
    pub(crate) commit_id: Uuid,
    pub(crate) results: Vec<CommandResult>,
    /// A digest of the command's body, when the caller gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fingerprint: Option<String>,
    pub(crate) recorded_at: DateTime<Utc>,
    /// When the record may go, in seconds since the epoch, for DynamoDB's
    /// time to live (see `StoreOptions::command_records_expire_after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<i64>,
    /// Written before the events, on its own: `results` say where the first
    /// attempt aimed them. Events of the command, if any landed, carry its
    /// id in their metadata, at `first_version` or after it (an attempt
    /// that lost a race wrote further on, or nothing).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) reserved: bool,
}

/// The events a recorded command appended to one aggregate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CommandResult {
    pub(crate) aggregate_id: AggregateId,
    pub(crate) first_version: u64,
    pub(crate) last_version: u64,
}
