//! What the views must hold, from the events themselves, and where the
//! views differ from it.

use std::collections::BTreeMap;
use std::fmt::Display;

use dynago_es::EventStore;
use dynago_projections::{Projection, Views};
use futures::TryStreamExt;

use super::{opened_events, AccountView, Accounts, DailyTotals, DayTotals, ReadSide, Result};
use crate::account::Account;

/// Every account's events folded through the handlers of [`Accounts`] and
/// [`DailyTotals`], as a projector applies them: what the views must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replayed {
    /// Each account's view, and the version of its last event.
    pub accounts: BTreeMap<String, (AccountView, u64)>,
    /// The totals of each day and currency, and how many events changed
    /// them.
    pub totals: BTreeMap<String, (DayTotals, u64)>,
    /// The events replayed.
    pub events: u64,
}

/// Replays every account in the store's table: their `Opened` events found
/// by one scan, then each account's events read in order.
///
/// # Errors
///
/// A read that failed, or a handler that refused an event (a sum that
/// would not fit).
pub async fn replay(store: &EventStore<Account>) -> Result<Replayed> {
    let totals = DailyTotals::default();
    let mut replayed = Replayed::default();
    for opened in opened_events(store).await? {
        let id = opened.aggregate_id;
        let mut view = AccountView::default();
        let mut version = 0;
        let mut events = std::pin::pin!(store.events(id.clone(), 1));
        while let Some(event) = events.try_next().await? {
            Projection::apply(&Accounts, &mut view, &event)?;
            if let Some(key) = totals.view_key(&event) {
                let (day, changes) = replayed.totals.entry(key).or_default();
                Projection::apply(&totals, day, &event)?;
                *changes += 1;
            }
            version = event.version;
            replayed.events += 1;
        }
        replayed.accounts.insert(id.to_string(), (view, version));
    }
    Ok(replayed)
}

impl Replayed {
    /// Where the views of `read_side` differ from this replay, one line
    /// each (none when every view is what the events replay to).
    ///
    /// # Errors
    ///
    /// A read of the views that failed.
    pub async fn differences(&self, read_side: &ReadSide) -> Result<Vec<String>> {
        let mut differences = Vec::new();
        compare(
            "account",
            &self.accounts,
            &all(&read_side.accounts()).await?,
            &mut differences,
        );
        compare(
            "totals",
            &self.totals,
            &all(&read_side.totals()).await?,
            &mut differences,
        );
        Ok(differences)
    }
}

/// Every view of `P`, by key, with its version, read page by page.
async fn all<P: Projection>(views: &Views<P>) -> Result<BTreeMap<String, (P::View, u64)>> {
    let mut all = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = views.list(cursor.as_deref(), 100).await?;
        for view in page.views {
            all.insert(view.key, (view.view, view.version));
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// Notes in `differences` each key whose view in `actual` is not the one
/// in `expected`.
fn compare<V: PartialEq + Display>(
    what: &str,
    expected: &BTreeMap<String, (V, u64)>,
    actual: &BTreeMap<String, (V, u64)>,
    differences: &mut Vec<String>,
) {
    let keys: std::collections::BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    for key in keys {
        match (expected.get(key), actual.get(key)) {
            (Some(want), Some(got)) if want == got => {}
            (Some((want, v)), Some((got, g))) => differences.push(format!(
                "{what} {key}: the view holds {got} (version {g}), the events replay to {want} (version {v})"
            )),
            (Some((want, v)), None) => differences.push(format!(
                "{what} {key}: no view, the events replay to {want} (version {v})"
            )),
            (None, Some((got, g))) => differences.push(format!(
                "{what} {key}: a view that no event replays to: {got} (version {g})"
            )),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Money;

    fn totals(events: u64, deposited: i64) -> (DayTotals, u64) {
        let totals = DayTotals {
            events,
            deposited: Money::from_cents(deposited),
            ..DayTotals::default()
        };
        (totals, events)
    }

    #[test]
    fn every_view_that_is_not_the_replay_is_named() {
        let expected = BTreeMap::from([
            ("2026-12-01#EUR".to_owned(), totals(2, 150)),
            ("2026-12-02#EUR".to_owned(), totals(1, 100)),
            ("2026-12-03#EUR".to_owned(), totals(1, 100)),
        ]);
        let actual = BTreeMap::from([
            ("2026-12-01#EUR".to_owned(), totals(2, 150)),
            ("2026-12-02#EUR".to_owned(), totals(1, 99)),
            ("2026-12-04#USD".to_owned(), totals(1, 5)),
        ]);
        let mut differences = Vec::new();
        compare("totals", &expected, &actual, &mut differences);
        assert_eq!(
            differences,
            [
                "totals 2026-12-02#EUR: the view holds events 1, opened 0, closed 0, deposited 0.99, withdrawn 0.00, transferred in 0.00, out 0.00 (version 1), the events replay to events 1, opened 0, closed 0, deposited 1.00, withdrawn 0.00, transferred in 0.00, out 0.00 (version 1)",
                "totals 2026-12-03#EUR: no view, the events replay to events 1, opened 0, closed 0, deposited 1.00, withdrawn 0.00, transferred in 0.00, out 0.00 (version 1)",
                "totals 2026-12-04#USD: a view that no event replays to: events 1, opened 0, closed 0, deposited 0.05, withdrawn 0.00, transferred in 0.00, out 0.00 (version 1)",
            ]
        );
        let mut none = Vec::new();
        compare("totals", &expected, &expected, &mut none);
        assert!(none.is_empty());
    }
}
