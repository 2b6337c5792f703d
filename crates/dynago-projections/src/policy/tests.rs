//! The lease policy's rules, one by one, without a server.

use std::time::Duration;

use super::*;

const ME: &str = "me";
const LEASE: Duration = Duration::from_secs(30);

/// A clock: leases observed at `start`, decisions at `start + elapsed`.
struct Clock {
    start: Instant,
}

impl Clock {
    fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    fn at(&self, elapsed: Duration) -> Instant {
        self.start + elapsed
    }
}

/// A lease of `shard`, observed at `clock.start`.
fn lease(clock: &Clock, shard: &str) -> Observed {
    Observed {
        lease: Lease {
            shard: shard.into(),
            owner: None,
            counter: 1,
            checkpoint: None,
            parent: None,
            ended: false,
            progress: None,
        },
        expires: Some(clock.at(LEASE)),
    }
}

fn owned(clock: &Clock, shard: &str, owner: &str) -> Observed {
    let mut observed = lease(clock, shard);
    observed.lease.owner = Some(owner.into());
    observed
}

fn child(clock: &Clock, shard: &str, parent: &str) -> Observed {
    let mut observed = lease(clock, shard);
    observed.lease.parent = Some(parent.into());
    observed
}

fn ended(clock: &Clock, shard: &str) -> Observed {
    let mut observed = lease(clock, shard);
    observed.lease.ended = true;
    observed
}

fn shards(ids: &[&str]) -> Vec<Shard> {
    ids.iter()
        .map(|id| Shard {
            id: (*id).into(),
            parent: None,
            ending: None,
        })
        .collect()
}

/// The shards of every lease, listed.
fn listing(leases: &[Observed]) -> Vec<Shard> {
    let ids: Vec<&str> = leases.iter().map(|l| l.lease.shard.as_str()).collect();
    shards(&ids)
}

fn held<'a>(shards: &[&'a str]) -> BTreeSet<&'a str> {
    shards.iter().copied().collect()
}

fn ids(take: &[&Lease]) -> Vec<String> {
    take.iter().map(|l| l.shard.clone()).collect()
}

fn stolen(plan: &Plan<'_>) -> Option<(String, String)> {
    plan.steal
        .as_ref()
        .map(|s| (s.lease.shard.clone(), s.from.to_owned()))
}

/// Seconds into the lease duration: before any lease expires.
fn soon(clock: &Clock) -> Instant {
    clock.at(Duration::from_secs(1))
}

#[test]
fn no_shards_nothing_to_take() {
    let clock = Clock::new();
    let plan = plan(&[], &[], ME, &held(&[]), soon(&clock));
    assert_eq!(plan, Plan::default());
}

#[test]
fn unowned_leases_are_taken_in_their_order_up_to_the_share() {
    let clock = Clock::new();
    let leases = [
        lease(&clock, "a"),
        owned(&clock, "b", "w2"),
        lease(&clock, "c"),
        lease(&clock, "d"),
    ];
    let plan = plan(&listing(&leases), &leases, ME, &held(&[]), soon(&clock));
    // Four leases, two live workers.
    assert_eq!((plan.share, plan.wanted), (2, 2));
    assert_eq!(ids(&plan.take), ["a", "c", "d"]);
    assert_eq!(stolen(&plan), None);
}

#[test]
fn the_share_is_rounded_up() {
    let clock = Clock::new();
    let leases = [
        owned(&clock, "a", "w2"),
        lease(&clock, "b"),
        lease(&clock, "c"),
    ];
    let plan = plan(&listing(&leases), &leases, ME, &held(&[]), soon(&clock));
    assert_eq!((plan.share, plan.wanted), (2, 2));
    assert_eq!(ids(&plan.take), ["b", "c"]);
}

#[test]
fn a_worker_holding_every_lease_takes_nothing() {
    let clock = Clock::new();
    let leases = [owned(&clock, "a", ME), owned(&clock, "b", ME)];
    let plan = plan(
        &listing(&leases),
        &leases,
        ME,
        &held(&["a", "b"]),
        soon(&clock),
    );
    assert_eq!(
        plan,
        Plan {
            share: 2,
            ..Plan::default()
        }
    );
}

#[test]
fn a_worker_above_its_share_lets_nothing_go() {
    let clock = Clock::new();
    let leases = [
        owned(&clock, "a", ME),
        owned(&clock, "b", ME),
        owned(&clock, "c", ME),
        owned(&clock, "d", "w2"),
    ];
    let plan = plan(
        &listing(&leases),
        &leases,
        ME,
        &held(&["a", "b", "c"]),
        soon(&clock),
    );
    assert_eq!((plan.share, plan.wanted), (2, 0));
    assert!(plan.take.is_empty() && plan.steal.is_none(), "{plan:?}");
}

#[test]
fn its_own_lease_left_by_an_earlier_run_is_taken_back_at_once() {
    let clock = Clock::new();
    let leases = [owned(&clock, "a", ME), owned(&clock, "b", ME)];
    // It reads `a`; `b` is held under its id by no one reading it.
    let plan = plan(&listing(&leases), &leases, ME, &held(&["a"]), soon(&clock));
    assert_eq!(plan.wanted, 1);
    assert_eq!(ids(&plan.take), ["b"]);
}

#[test]
fn a_dead_workers_leases_are_taken_and_it_is_not_counted() {
    let clock = Clock::new();
    let mut leases = [
        owned(&clock, "a", "dead"),
        owned(&clock, "b", "dead"),
        owned(&clock, "c", "alive"),
    ];
    // `alive` renewed its lease since: it expires later.
    leases[2].expires = Some(clock.at(LEASE * 2));
    let plan = plan(
        &listing(&leases),
        &leases,
        ME,
        &held(&[]),
        clock.at(LEASE + Duration::from_secs(1)),
    );
    // Three leases, two live workers (`me` and `alive`).
    assert_eq!((plan.share, plan.wanted), (2, 2));
    assert_eq!(ids(&plan.take), ["a", "b"]);
    assert_eq!(stolen(&plan), None);
}

#[test]
fn a_lease_expires_at_the_instant_of_its_expiry() {
    let clock = Clock::new();
    let leases = [owned(&clock, "a", "w2")];
    let shards = listing(&leases);
    let before = plan(
        &shards,
        &leases,
        ME,
        &held(&[]),
        clock.at(LEASE - Duration::from_nanos(1)),
    );
    assert!(before.take.is_empty(), "{before:?}");
    let at = plan(&shards, &leases, ME, &held(&[]), clock.at(LEASE));
    assert_eq!(ids(&at.take), ["a"]);
}

#[test]
fn a_lease_whose_expiry_the_clock_cannot_tell_never_expires() {
    let clock = Clock::new();
    let mut leases = [owned(&clock, "a", "w2")];
    leases[0].expires = None;
    let plan = plan(
        &listing(&leases),
        &leases,
        ME,
        &held(&[]),
        clock.at(LEASE * 1000),
    );
    assert!(plan.take.is_empty(), "{plan:?}");
}

#[test]
fn ended_leases_and_leases_of_shards_no_longer_listed_are_never_taken() {
    let clock = Clock::new();
    let leases = [
        ended(&clock, "ended"),
        lease(&clock, "trimmed"),
        lease(&clock, "open"),
    ];
    let plan = plan(
        &shards(&["ended", "open"]),
        &leases,
        ME,
        &held(&[]),
        soon(&clock),
    );
    // One active lease.
    assert_eq!((plan.share, plan.wanted), (1, 1));
    assert_eq!(ids(&plan.take), ["open"]);
}

#[test]
fn a_child_waits_until_its_parent_ended() {
    let clock = Clock::new();
    let leases = [lease(&clock, "parent"), child(&clock, "child", "parent")];
    let plan_with = |leases: &[Observed]| {
        let shards = shards(&["parent", "child"]);
        ids(&plan(&shards, leases, ME, &held(&[]), soon(&clock)).take)
    };
    assert_eq!(plan_with(&leases), ["parent"]);
    let leases = [ended(&clock, "parent"), child(&clock, "child", "parent")];
    assert_eq!(plan_with(&leases), ["child"]);
}

#[test]
fn a_child_whose_parent_has_no_lease_is_taken() {
    let clock = Clock::new();
    let leases = [child(&clock, "child", "trimmed")];
    let plan = plan(&listing(&leases), &leases, ME, &held(&[]), soon(&clock));
    assert_eq!(ids(&plan.take), ["child"]);
}

#[test]
fn a_child_of_an_unfinished_parent_no_longer_listed_waits() {
    let clock = Clock::new();
    let leases = [lease(&clock, "parent"), child(&clock, "child", "parent")];
    let plan = plan(&shards(&["child"]), &leases, ME, &held(&[]), soon(&clock));
    assert_eq!(plan.wanted, 1);
    assert!(plan.take.is_empty(), "{plan:?}");
}

#[test]
fn with_none_free_one_lease_is_taken_over_from_the_busiest() {
    let clock = Clock::new();
    let leases = [
        owned(&clock, "a", "w3"),
        owned(&clock, "b", "w2"),
        owned(&clock, "c", "w2"),
        owned(&clock, "d", "w2"),
    ];
    let plan = plan(&listing(&leases), &leases, ME, &held(&[]), soon(&clock));
    // Four leases, three live workers.
    assert_eq!((plan.share, plan.wanted), (2, 2));
    assert!(plan.take.is_empty(), "{plan:?}");
    assert_eq!(stolen(&plan), Some(("b".into(), "w2".into())));
}

#[test]
fn nothing_is_taken_over_from_a_worker_at_its_share() {
    let clock = Clock::new();
    let leases = [
        owned(&clock, "a", "w2"),
        owned(&clock, "b", "w2"),
        owned(&clock, "c", "w3"),
        owned(&clock, "d", "w3"),
    ];
    let plan = plan(&listing(&leases), &leases, ME, &held(&[]), soon(&clock));
    assert_eq!((plan.share, plan.wanted), (2, 2));
    assert_eq!(stolen(&plan), None);
}

#[test]
fn nothing_is_taken_over_by_a_worker_at_its_share() {
    let clock = Clock::new();
    let leases = [
        owned(&clock, "a", ME),
        owned(&clock, "b", ME),
        owned(&clock, "c", "w2"),
        owned(&clock, "d", "w2"),
        owned(&clock, "e", "w2"),
        owned(&clock, "f", "w3"),
    ];
    // Six leases, three workers: `w2` is above its share, and `me` at
    // its own.
    let plan = plan(
        &listing(&leases),
        &leases,
        ME,
        &held(&["a", "b"]),
        soon(&clock),
    );
    assert_eq!((plan.share, plan.wanted), (2, 0));
    assert_eq!(stolen(&plan), None);
}

#[test]
fn a_tie_between_the_busiest_goes_to_the_first_by_id() {
    let clock = Clock::new();
    let leases = [
        owned(&clock, "a", "w3"),
        owned(&clock, "b", "w3"),
        owned(&clock, "c", "w3"),
        owned(&clock, "d", "w2"),
        owned(&clock, "e", "w2"),
        owned(&clock, "f", "w2"),
    ];
    let plan = plan(&listing(&leases), &leases, ME, &held(&[]), soon(&clock));
    // Six leases, three workers: both hold one more than their share.
    assert_eq!((plan.share, plan.wanted), (2, 2));
    assert_eq!(stolen(&plan), Some(("d".into(), "w2".into())));
}

#[test]
fn a_lease_taken_over_is_one_whose_parent_ended() {
    let clock = Clock::new();
    let mut waiting = child(&clock, "a", "open");
    waiting.lease.owner = Some("w2".into());
    let mut ready = child(&clock, "b", "done");
    ready.lease.owner = Some("w2".into());
    let leases = [
        owned(&clock, "open", "w3"),
        ended(&clock, "done"),
        waiting,
        ready,
        owned(&clock, "c", "w2"),
    ];
    let plan = plan(&listing(&leases), &leases, ME, &held(&[]), soon(&clock));
    // Four active leases, three workers: `w2` holds three.
    assert_eq!((plan.share, plan.wanted), (2, 2));
    assert_eq!(stolen(&plan), Some(("b".into(), "w2".into())));
}

#[test]
fn an_expired_lease_is_taken_before_any_is_taken_over() {
    let clock = Clock::new();
    let mut leases = [
        owned(&clock, "a", "w2"),
        owned(&clock, "b", "w2"),
        owned(&clock, "c", "w2"),
        owned(&clock, "d", "dead"),
    ];
    for renewed in &mut leases[..3] {
        renewed.expires = Some(clock.at(LEASE * 2));
    }
    let plan = plan(&listing(&leases), &leases, ME, &held(&[]), clock.at(LEASE));
    assert_eq!((plan.share, plan.wanted), (2, 2));
    assert_eq!(ids(&plan.take), ["d"]);
    // Taken over only if `d` is taken first by another worker.
    assert_eq!(stolen(&plan), Some(("a".into(), "w2".into())));
}

#[test]
fn an_unfinished_lease_no_longer_listed_fell_behind_unless_a_live_worker_holds_it() {
    let clock = Clock::new();
    let now = soon(&clock);
    let listed = shards(&["open"]);
    let check = |unlisted: Observed| {
        let leases = [lease(&clock, "open"), unlisted];
        fell_behind(&listed, &leases, ME, now).map(|l| l.shard.clone())
    };
    let gone = Some("gone".to_owned());
    assert_eq!(check(lease(&clock, "gone")), gone);
    assert_eq!(check(owned(&clock, "gone", ME)), gone);
    assert_eq!(check(owned(&clock, "gone", "w2")), None);
    let mut dead = owned(&clock, "gone", "w2");
    dead.expires = Some(now);
    assert_eq!(check(dead), gone);
    assert_eq!(check(ended(&clock, "gone")), None);
    assert_eq!(check(lease(&clock, "open")), None);
}
