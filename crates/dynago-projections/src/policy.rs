//! The lease policy: which leases a worker takes, decided from what it
//! listed, apart from the reads and writes that carry the decision out.
//!
//! After the Kinesis Client Library's:
//!
//! - Only an *active* lease is shared: one not ended whose shard is still
//!   listed. An unfinished lease whose shard is no longer listed is never
//!   taken; unless a live worker still reads it, the projection fell behind
//!   ([`fell_behind`]).
//! - A lease is *expired* once its counter has not moved for a lease
//!   duration as this worker observed it (at that very instant included).
//!   The holder of an expired lease is taken for gone: it is not counted
//!   among the live workers.
//! - A worker's share is the active leases divided by the live workers,
//!   itself counted, rounded up. It takes leases until it holds its share,
//!   in the order they are listed: unowned ones, expired ones, and its own
//!   that it does not read (held by an earlier run under the same id).
//! - A child shard's lease is taken only once its parent's lease ended (or
//!   the parent has no lease: it was trimmed away).
//! - When it holds less than its share and none of those could be taken, it
//!   takes one lease over from the live worker holding the most, if that
//!   one holds more than its share (on a tie, the first by id).
//! - A worker above its share lets nothing go: the others take leases
//!   over, one a round. It lets its leases go only when it stops.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use crate::lease::{Lease, Observed};
use crate::stream::Shard;

/// What a worker takes in one round.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan<'a> {
    /// Its share of the active leases.
    pub(crate) share: usize,
    /// How many more it wants: its share less the shards it reads.
    pub(crate) wanted: usize,
    /// The leases it may take, in order: taken one after the other until
    /// it took `wanted` (another worker may take one first).
    pub(crate) take: Vec<&'a Lease>,
    /// When none of `take` could be taken: a lease to take over.
    pub(crate) steal: Option<Steal<'a>>,
}

/// A lease to take over from a worker holding more than its share.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Steal<'a> {
    pub(crate) lease: &'a Lease,
    /// Its holder.
    pub(crate) from: &'a str,
}

/// Decides which leases `worker`, reading the shards `held`, takes at
/// `now`, given the `shards` listed and the `leases` listed.
pub(crate) fn plan<'a>(
    shards: &[Shard],
    leases: &'a [Observed],
    worker: &str,
    held: &BTreeSet<&str>,
    now: Instant,
) -> Plan<'a> {
    let listed = listed(shards);
    let active: Vec<&Observed> = leases
        .iter()
        .filter(|l| !l.lease.ended && listed.contains(l.lease.shard.as_str()))
        .collect();
    // The live workers and how many active leases each holds; a map
    // ordered by id, so that a tie goes to the first.
    let mut holding: BTreeMap<&str, usize> = BTreeMap::new();
    holding.insert(worker, 0);
    for observed in &active {
        if let Some(owner) = live_owner(observed, worker, now) {
            *holding.entry(owner).or_default() += 1;
        }
    }
    let share = active.len().div_ceil(holding.len());
    let wanted = share.saturating_sub(held.len());
    if wanted == 0 {
        return Plan {
            share,
            ..Plan::default()
        };
    }
    let take = active
        .iter()
        .filter(|l| takeable(l, worker, held, now) && parent_done(&l.lease, leases))
        .map(|l| &l.lease)
        .collect();
    let mut busiest: Option<(&str, usize)> = None;
    for (&owner, &count) in &holding {
        if owner != worker && busiest.is_none_or(|(_, most)| count > most) {
            busiest = Some((owner, count));
        }
    }
    let steal = busiest
        .filter(|(_, count)| *count > share)
        .and_then(|(victim, _)| {
            active.iter().find_map(|l| match l.lease.owner.as_deref() {
                Some(owner) if owner == victim && parent_done(&l.lease, leases) => Some(Steal {
                    lease: &l.lease,
                    from: owner,
                }),
                _ => None,
            })
        });
    Plan {
        share,
        wanted,
        take,
        steal,
    }
}

/// The first unfinished lease whose shard is no longer listed, unless
/// another live worker holds it: its shard was trimmed away (DynamoDB keeps
/// a stream's records 24 hours) before it was read to its end, and the
/// records after its checkpoint may be gone.
pub(crate) fn fell_behind<'a>(
    shards: &[Shard],
    leases: &'a [Observed],
    worker: &str,
    now: Instant,
) -> Option<&'a Lease> {
    let listed = listed(shards);
    leases
        .iter()
        .filter(|l| !l.lease.ended && !listed.contains(l.lease.shard.as_str()))
        .find(|l| match l.lease.owner.as_deref() {
            Some(owner) if owner != worker => expired(l, now),
            _ => true,
        })
        .map(|l| &l.lease)
}

fn listed(shards: &[Shard]) -> HashSet<&str> {
    shards.iter().map(|s| s.id.as_str()).collect()
}

/// Its counter has not moved for a lease duration, at `now`.
fn expired(observed: &Observed, now: Instant) -> bool {
    observed.expires.is_some_and(|at| now >= at)
}

/// The holder of a lease, while it counts as live: `worker` always, another
/// worker until the lease expires.
fn live_owner<'a>(observed: &'a Observed, worker: &str, now: Instant) -> Option<&'a str> {
    observed
        .lease
        .owner
        .as_deref()
        .filter(|owner| *owner == worker || !expired(observed, now))
}

/// Unowned, expired, or `worker`'s own without being read by it.
fn takeable(observed: &Observed, worker: &str, held: &BTreeSet<&str>, now: Instant) -> bool {
    match observed.lease.owner.as_deref() {
        None => true,
        Some(owner) if owner == worker => !held.contains(observed.lease.shard.as_str()),
        Some(_) => expired(observed, now),
    }
}

/// Whether `lease`'s shard may be read: its parent, if it has a lease, was
/// read to its end.
fn parent_done(lease: &Lease, all: &[Observed]) -> bool {
    match &lease.parent {
        None => true,
        Some(parent) => all
            .iter()
            .find(|l| &l.lease.shard == parent)
            .is_none_or(|l| l.lease.ended),
    }
}

#[cfg(test)]
mod tests;
