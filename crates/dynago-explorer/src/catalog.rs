//! The catalog: what the overview lists, kept as a projection of its own so
//! that no page scans the events table.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use dynago_es::Aggregate;
use dynago_projections::{EventOf, Projection, UnknownEvents};
use serde::{Deserialize, Serialize};

/// How far back a catalog entry counts its aggregate's events per minute.
pub const RECENT_MINUTES: i64 = 60;

/// An aggregate type listed by the explorer: the name of its catalog, the
/// projection that keeps one entry per aggregate.
///
/// ```
/// # use dynago_es::{Aggregate, AggregateId, DomainEvent};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Default, Clone, Serialize, Deserialize)]
/// # struct Account;
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
/// # enum AccountEvent { Opened }
/// # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
/// # impl Aggregate for Account {
/// #     const TYPE: &'static str = "account";
/// #     type Id = AggregateId; type Command = (); type Event = AccountEvent; type Error = No;
/// #     fn handle(&self, _: &()) -> Result<Vec<AccountEvent>, No> { Ok(vec![]) }
/// #     fn apply(&mut self, _: &AccountEvent) {}
/// # }
/// impl dynago_explorer::Cataloged for Account {
///     const CATALOG: &'static str = "catalog-account";
/// }
/// ```
pub trait Cataloged: Aggregate {
    /// The catalog's projection name: unique in the views table, not
    /// empty, without `#` (a projection's name rules).
    const CATALOG: &'static str;
}

/// The projection that keeps the explorer's list of the aggregates of `A`:
/// one view per aggregate ([`CatalogEntry`]), written with each of its
/// events like any per-aggregate view (one conditional `PutItem`, one
/// write unit while the entry stays under 1 KB). Run it with the other
/// projectors of the table's stream.
///
/// ```
/// # use dynago_es::{Aggregate, AggregateId, DomainEvent};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Default, Clone, Serialize, Deserialize)]
/// # struct Account;
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
/// # enum AccountEvent { Opened }
/// # #[derive(Debug, thiserror::Error)] #[error("no")] struct No;
/// # impl Aggregate for Account {
/// #     const TYPE: &'static str = "account";
/// #     type Id = AggregateId; type Command = (); type Event = AccountEvent; type Error = No;
/// #     fn handle(&self, _: &()) -> Result<Vec<AccountEvent>, No> { Ok(vec![]) }
/// #     fn apply(&mut self, _: &AccountEvent) {}
/// # }
/// # impl dynago_explorer::Cataloged for Account { const CATALOG: &'static str = "catalog-account"; }
/// use dynago_explorer::Catalog;
/// use dynago_projections::Projection;
///
/// assert_eq!(<Catalog<Account> as Projection>::NAME, "catalog-account");
/// ```
#[derive(Debug)]
pub struct Catalog<A>(PhantomData<fn() -> A>);

impl<A> Default for Catalog<A> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<A> Catalog<A> {
    /// The catalog of `A`.
    pub fn new() -> Self {
        Self::default()
    }
}

/// What the catalog keeps of one aggregate; its number of events is the
/// view's version.
///
/// ```
/// let entry = dynago_explorer::CatalogEntry::default();
/// assert!(entry.created_at.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CatalogEntry {
    /// When its first event was stored.
    pub created_at: Option<DateTime<Utc>>,
    /// When its newest event was stored.
    pub updated_at: Option<DateTime<Utc>>,
    /// The type of its newest event.
    pub last_event_type: String,
    /// Its events per minute (minutes since the epoch), the
    /// [`RECENT_MINUTES`] latest minutes it had events in, oldest first
    /// (the explorer shows those of the last hour).
    pub minutes: Vec<(i64, u32)>,
}

impl CatalogEntry {
    /// Counts one event of `event_type` stored at `at`.
    ///
    /// ```
    /// let mut entry = dynago_explorer::CatalogEntry::default();
    /// let at = chrono::Utc::now();
    /// entry.record("Opened", at);
    /// entry.record("Deposited", at);
    /// assert_eq!(entry.minutes.len(), 1);
    /// assert_eq!(entry.minutes[0].1, 2);
    /// ```
    pub fn record(&mut self, event_type: &str, at: DateTime<Utc>) {
        if self.created_at.is_none() {
            self.created_at = Some(at);
        }
        if self.updated_at.is_none_or(|updated| at >= updated) {
            self.updated_at = Some(at);
            event_type.clone_into(&mut self.last_event_type);
        }
        let minute = at.timestamp().div_euclid(60);
        match self.minutes.iter_mut().find(|(m, _)| *m == minute) {
            Some((_, count)) => *count = count.saturating_add(1),
            None => {
                self.minutes.push((minute, 1));
                self.minutes.sort_unstable_by_key(|(m, _)| *m);
            }
        }
        // Bounded by count, not by the newest time: an event stamped ahead
        // of the others must not erase theirs.
        let kept = usize::try_from(RECENT_MINUTES).unwrap_or(60);
        let excess = self.minutes.len().saturating_sub(kept);
        self.minutes.drain(..excess);
    }
}

impl<A: Cataloged> Projection for Catalog<A> {
    const NAME: &'static str = A::CATALOG;
    /// An event this build cannot read (written by a newer build) is passed
    /// over: it counts in the aggregate's events (the view's version moves
    /// past it), not in its minutes or its last event type, which only the
    /// events read say.
    const UNKNOWN_EVENTS: UnknownEvents = UnknownEvents::Skip;
    type Aggregate = A;
    type View = CatalogEntry;
    type Error = std::convert::Infallible;

    fn apply(&self, entry: &mut CatalogEntry, event: &EventOf<Self>) -> Result<(), Self::Error> {
        entry.record(&event.event_type, event.timestamp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: i64, second: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(minute * 60 + i64::from(second), 0)
            .single()
            .expect("a time")
    }

    #[test]
    fn an_entry_counts_events_per_minute_for_the_last_hour_of_its_aggregate() {
        let mut entry = CatalogEntry::default();
        entry.record("Opened", at(1000, 5));
        entry.record("Deposited", at(1000, 50));
        entry.record("Deposited", at(1030, 0));
        assert_eq!(entry.minutes, [(1000, 2), (1030, 1)]);
        assert_eq!(entry.created_at, Some(at(1000, 5)));
        entry.record("Withdrawn", at(1060, 0));
        assert_eq!(entry.minutes, [(1000, 2), (1030, 1), (1060, 1)]);
        assert_eq!(entry.updated_at, Some(at(1060, 0)));
        assert_eq!(entry.last_event_type, "Withdrawn");
        for minute in 2000..2070 {
            entry.record("Deposited", at(minute, 0));
        }
        assert_eq!(entry.minutes.len(), 60);
        assert_eq!(entry.minutes[0], (2010, 1));
    }

    #[test]
    fn an_event_stamped_ahead_erases_no_other_minute() {
        let mut entry = CatalogEntry::default();
        entry.record("Deposited", at(1000, 0));
        entry.record("Deposited", at(1120, 0));
        entry.record("Deposited", at(1001, 0));
        assert_eq!(entry.minutes, [(1000, 1), (1001, 1), (1120, 1)]);
    }

    #[test]
    fn an_event_stamped_earlier_than_the_newest_keeps_the_newest_as_last() {
        let mut entry = CatalogEntry::default();
        entry.record("Deposited", at(2000, 0));
        entry.record("Withdrawn", at(1999, 0));
        assert_eq!(entry.last_event_type, "Deposited");
        assert_eq!(entry.minutes, [(1999, 1), (2000, 1)]);
    }
}
