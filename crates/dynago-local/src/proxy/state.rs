//! What the proxy's tasks share: the plan with its generator and
//! counters, which decides each request's faults, and the upstream.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper::Uri;
use tokio::sync::watch;

use super::answer::{Failure, Throttle};
use super::permissions::{Iterators, Permission};
use super::plan::FaultPlan;
use super::stats::{ProxyStats, ReadRequest};
use crate::error::{Error, Result};

/// What to do with one request.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Action {
    Forward,
    Reset,
    Throttle(Throttle),
    Fail(Failure),
    /// Answer `ReplicatedWriteConflictException`, not forwarded.
    ReplicatedWriteConflict,
    DropAnswer,
    Unprocessed,
    /// Leave the client unanswered for this long, then forward anyway.
    Hold(Duration),
    /// Forward, answer, and forward again.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Decision {
    pub(super) delay: Option<Duration>,
    pub(super) action: Action,
    pub(super) strip_token: bool,
    /// Merged into the answer, in order.
    pub(super) patches: Vec<serde_json::Value>,
    /// Shuffle the records of a `GetRecords` answer with this seed.
    pub(super) shuffle_seed: Option<u64>,
    /// Give the stream's shards closed parents.
    pub(super) split_shards: bool,
}

/// The plan, its generator and the counters, behind one lock.
pub(super) struct State {
    pub(super) plan: FaultPlan,
    rng: fastrand::Rng,
    /// Requests the plan applied to so far.
    matched: u64,
    pub(super) stats: ProxyStats,
    /// The reads received, in order.
    pub(super) reads: Vec<ReadRequest>,
    /// The permissions the requests received asked for.
    pub(super) permissions: BTreeSet<Permission>,
    /// The streams of the shard iterators DynamoDB handed out.
    pub(super) iterators: Iterators,
}

impl State {
    pub(super) fn new(plan: FaultPlan) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(plan.seed),
            plan,
            matched: 0,
            stats: ProxyStats::default(),
            reads: Vec::new(),
            permissions: BTreeSet::new(),
            iterators: Iterators::default(),
        }
    }

    pub(super) fn set_plan(&mut self, plan: FaultPlan) {
        self.rng = fastrand::Rng::with_seed(plan.seed);
        self.plan = plan;
        self.matched = 0;
    }

    /// Counts a request and picks its faults.
    pub(super) fn decide(&mut self, operation: Option<&str>) -> Decision {
        self.stats.requests += 1;
        if let Some(operation) = operation {
            *self
                .stats
                .by_operation
                .entry(operation.to_owned())
                .or_default() += 1;
        }
        self.select(operation)
    }

    /// Picks the faults of a request under the current plan.
    fn select(&mut self, operation: Option<&str>) -> Decision {
        // A plan whose first requests are past hands over to the next.
        while self.plan.first.is_some_and(|first| self.matched >= first) {
            let Some(next) = self.plan.next.take() else {
                break;
            };
            self.set_plan(*next);
        }
        let pass = Decision {
            delay: None,
            action: Action::Forward,
            strip_token: self.plan.strip_tokens,
            patches: self.plan.patches_for(operation),
            shuffle_seed: (self.plan.shuffle_records && operation == Some("GetRecords"))
                .then(|| self.rng.u64(..)),
            split_shards: self.plan.split_shards,
        };
        if !self.plan.applies_to(operation) {
            return pass;
        }
        let index = self.matched;
        self.matched += 1;
        if self.plan.first.is_some_and(|first| index >= first) {
            return pass;
        }
        // Two draws per request, whatever the plan: the sequence of faults
        // depends only on the seed and the order of the requests.
        let latency_draw = self.rng.f64();
        let action_draw = self.rng.f64();
        let plan = &self.plan;
        let delay =
            (latency_draw < plan.latency_share && !plan.latency.is_zero()).then_some(plan.latency);
        let reset_until = plan.reset_share;
        let throttle_until = reset_until + plan.throttle_share;
        let fail_until = throttle_until + plan.fail_share;
        let conflict_until = fail_until + plan.replicated_write_conflict_share;
        let drop_until = conflict_until + plan.drop_answer_share;
        let unprocessed_until = drop_until + plan.unprocessed_share;
        let hold_until = unprocessed_until + plan.hold_share;
        let duplicate_until = hold_until + plan.duplicate_share;
        let action = if action_draw < reset_until {
            Action::Reset
        } else if action_draw < throttle_until {
            Action::Throttle(plan.throttle)
        } else if let Some(failure) = plan.fail.as_ref().filter(|_| action_draw < fail_until) {
            Action::Fail(failure.clone())
        } else if action_draw < conflict_until {
            Action::ReplicatedWriteConflict
        } else if action_draw < drop_until {
            Action::DropAnswer
        } else if action_draw < unprocessed_until {
            Action::Unprocessed
        } else if action_draw < hold_until {
            Action::Hold(plan.hold)
        } else if action_draw < duplicate_until {
            Action::Duplicate
        } else {
            Action::Forward
        };
        if delay.is_some() {
            self.stats.delayed += 1;
        }
        match action {
            Action::Reset => self.stats.resets += 1,
            Action::Throttle(_) => self.stats.throttled += 1,
            Action::Fail(_) => self.stats.failed += 1,
            Action::ReplicatedWriteConflict => self.stats.replicated_write_conflicts += 1,
            // Counted once the answer is there to drop, the request found
            // to be a batch, held or sent again.
            Action::DropAnswer
            | Action::Unprocessed
            | Action::Hold(_)
            | Action::Duplicate
            | Action::Forward => {}
        }
        Decision {
            delay,
            action,
            ..pass
        }
    }
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// Where requests go; [`FaultProxy::set_upstream`](crate::FaultProxy::set_upstream) changes it.
    pub(super) upstream: Mutex<Upstream>,
    /// Deliveries of held and duplicated requests not yet answered.
    pub(super) pending: watch::Sender<u64>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn upstream(&self) -> MutexGuard<'_, Upstream> {
        self.upstream.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where requests go: the scheme and authority of the upstream URL.
#[derive(Clone)]
pub(super) struct Upstream {
    scheme: hyper::http::uri::Scheme,
    authority: hyper::http::uri::Authority,
}

impl Upstream {
    pub(super) fn parse(url: &str) -> Result<Self> {
        let invalid = |reason: String| Error::Start {
            what: "the fault proxy",
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the upstream URL `{url}` {reason}"),
            ),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e| invalid(format!("is not a URL: {e}")))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| invalid("has no scheme".into()))?;
        if scheme != hyper::http::uri::Scheme::HTTP {
            return Err(invalid("is not plain http".into()));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| invalid("has no host".into()))?;
        Ok(Self { scheme, authority })
    }

    /// The upstream URI for a request's path and query.
    pub(super) fn uri_for(&self, incoming: &Uri) -> std::result::Result<Uri, hyper::http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(incoming.path_and_query().map_or("/", |pq| pq.as_str()))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_reproducible_and_keep_their_shares() {
        let plan = FaultPlan::default()
            .seed(99)
            .throttle(Throttle::Throttling, 0.2)
            .drop_answer(0.1)
            .latency(Duration::from_millis(1), 0.5);
        let run = |plan: &FaultPlan| {
            let mut state = State::new(plan.clone());
            (0..10_000)
                .map(|_| state.decide(Some("PutItem")))
                .collect::<Vec<_>>()
        };
        let first = run(&plan);
        assert_eq!(first, run(&plan));
        assert_ne!(first, run(&plan.clone().seed(100)));
        let share = |hit: &dyn Fn(&Decision) -> bool| {
            first.iter().filter(|d| hit(d)).count() as f64 / first.len() as f64
        };
        let throttled = share(&|d| matches!(d.action, Action::Throttle(Throttle::Throttling)));
        let dropped = share(&|d| d.action == Action::DropAnswer);
        let delayed = share(&|d| d.delay.is_some());
        assert!((0.18..0.22).contains(&throttled), "{throttled}");
        assert!((0.08..0.12).contains(&dropped), "{dropped}");
        assert!((0.47..0.53).contains(&delayed), "{delayed}");
    }

    #[test]
    fn plans_select_operations_and_the_first_requests() {
        let mut state = State::new(
            FaultPlan::default()
                .drop_answer(1.0)
                .operation("DynamoDB_20120810.TransactWriteItems")
                .first(2),
        );
        let actions: Vec<Action> = [
            Some("GetItem"),
            Some("TransactWriteItems"),
            None,
            Some("TransactWriteItems"),
            Some("TransactWriteItems"),
        ]
        .into_iter()
        .map(|op| state.decide(op).action)
        .collect();
        assert_eq!(
            actions,
            [
                Action::Forward,
                Action::DropAnswer,
                Action::Forward,
                Action::DropAnswer,
                Action::Forward
            ]
        );
        assert_eq!(state.stats.requests, 5);
        assert_eq!(state.stats.requests_for("TransactWriteItems"), 3);

        // Shares beyond 1 are clamped; kinds are taken in order.
        let mut state = State::new(FaultPlan::default().reset(7.0).drop_answer(f64::NAN));
        assert_eq!(state.decide(None).action, Action::Reset);
        assert_eq!(state.plan.drop_answer_share, 0.0);
    }

    #[test]
    fn plans_hand_over_in_sequence() {
        let mut state = State::new(
            FaultPlan::default()
                .drop_answer(1.0)
                .operation("TransactWriteItems")
                .first(1)
                .then(
                    FaultPlan::default()
                        .throttle(Throttle::Throttling, 1.0)
                        .first(2)
                        .then(FaultPlan::default().reset(1.0).operation("Query")),
                ),
        );
        let actions: Vec<Action> = [
            Some("GetItem"),
            Some("TransactWriteItems"),
            Some("GetItem"),
            Some("TransactWriteItems"),
            Some("TransactWriteItems"),
            Some("Query"),
        ]
        .into_iter()
        .map(|op| state.decide(op).action)
        .collect();
        assert_eq!(
            actions,
            [
                Action::Forward,
                Action::DropAnswer,
                Action::Throttle(Throttle::Throttling),
                Action::Throttle(Throttle::Throttling),
                Action::Forward,
                Action::Reset,
            ]
        );
        assert_eq!(state.stats.requests, 6);
    }

    #[test]
    fn answers_are_patched_by_operation() {
        let plan = FaultPlan::default().patch_answer(
            "DynamoDB_20120810.DescribeTable",
            serde_json::json!({"a": 1}),
        );
        let mut state = State::new(plan);
        assert_eq!(state.decide(Some("DescribeTable")).patches.len(), 1);
        assert!(state.decide(Some("GetItem")).patches.is_empty());
    }

    #[test]
    fn failures_match_dynamodb_streams_operations_and_hand_over() {
        use crate::proxy::plan::operation_name;

        // DynamoDB Streams requests have targets of their own prefix.
        let get_records = "DynamoDBStreams_20120810.GetRecords";
        assert_eq!(operation_name(get_records), "GetRecords");
        let failure = |error_type: &str| {
            Action::Fail(Failure {
                status: 400,
                error_type: error_type.into(),
            })
        };
        let mut state = State::new(
            FaultPlan::default()
                .fail(400, "TrimmedDataAccessException", 1.0)
                .operation("GetRecords")
                .first(1)
                .then(
                    FaultPlan::default()
                        .fail(400, "ExpiredIteratorException", 1.0)
                        .operation("DynamoDBStreams_20120810.GetRecords"),
                ),
        );
        let actions: Vec<Action> = [
            "DynamoDB_20120810.GetItem",
            get_records,
            "DynamoDBStreams_20120810.GetShardIterator",
            get_records,
            get_records,
        ]
        .into_iter()
        .map(|target| state.decide(Some(operation_name(target))).action)
        .collect();
        assert_eq!(
            actions,
            [
                Action::Forward,
                failure("TrimmedDataAccessException"),
                Action::Forward,
                failure("ExpiredIteratorException"),
                failure("ExpiredIteratorException"),
            ]
        );
        assert_eq!(state.stats.requests_for(get_records), 3);
        assert_eq!(state.stats.failed, 3);
        assert_eq!(state.stats.throttled, 0);
        assert_eq!(state.stats.faults(), 3);
    }

    #[test]
    fn failures_are_drawn_after_throttles_and_before_dropped_answers() {
        let base = FaultPlan::default()
            .seed(3)
            .throttle(Throttle::Throttling, 0.6)
            .drop_answer(0.3);
        let run = |plan: FaultPlan| {
            let mut state = State::new(plan);
            (0..10_000)
                .map(|_| state.decide(Some("PutItem")).action)
                .collect::<Vec<_>>()
        };
        // A failure of no share leaves every other fault where it was.
        assert_eq!(
            run(base.clone()),
            run(base.clone().fail(400, "ExpiredIteratorException", 0.0))
        );
        // Beyond a total of 1, the later kinds get what is left: 0.6
        // throttled, 0.4 failed, no answer dropped.
        let actions = run(base.fail(400, "ExpiredIteratorException", 0.6));
        let share = |hit: &dyn Fn(&Action) -> bool| {
            actions.iter().filter(|a| hit(a)).count() as f64 / actions.len() as f64
        };
        let throttled = share(&|a| matches!(a, Action::Throttle(Throttle::Throttling)));
        let failed = share(
            &|a| matches!(a, Action::Fail(f) if f.status == 400 && f.error_type == "ExpiredIteratorException"),
        );
        assert!((0.57..0.63).contains(&throttled), "{throttled}");
        assert!((0.37..0.43).contains(&failed), "{failed}");
        assert!(!actions.contains(&Action::DropAnswer));
    }

    #[test]
    fn replicated_write_conflicts_are_drawn_after_failures_and_counted() {
        let base = FaultPlan::default()
            .seed(11)
            .throttle(Throttle::Throttling, 0.2)
            .fail(400, "ExpiredIteratorException", 0.2)
            .drop_answer(0.2);
        let run = |plan: FaultPlan| {
            let mut state = State::new(plan);
            let actions = (0..10_000)
                .map(|_| state.decide(Some("PutItem")).action)
                .collect::<Vec<_>>();
            (actions, state.stats)
        };
        // No share, no change to any other fault.
        let (without, _) = run(base.clone());
        assert_eq!(without, run(base.clone().replicated_write_conflict(0.0)).0);
        // A share takes requests from the kinds drawn after it only.
        let (with, stats) = run(base.replicated_write_conflict(0.3));
        for (before, after) in without.iter().zip(&with) {
            match before {
                Action::Throttle(_) | Action::Fail(_) => assert_eq!(before, after),
                _ => assert!(
                    matches!(
                        after,
                        Action::ReplicatedWriteConflict | Action::DropAnswer | Action::Forward
                    ),
                    "{after:?}"
                ),
            }
        }
        let conflicts = with
            .iter()
            .filter(|a| **a == Action::ReplicatedWriteConflict)
            .count() as u64;
        let share = conflicts as f64 / with.len() as f64;
        assert!((0.28..0.32).contains(&share), "{share}");
        assert_eq!(stats.replicated_write_conflicts, conflicts);
        assert_eq!(stats.faults(), stats.throttled + stats.failed + conflicts);

        // Limited to an operation and to the first requests, as any fault.
        let mut state = State::new(
            FaultPlan::default()
                .replicated_write_conflict(1.0)
                .operation("PutItem")
                .first(1),
        );
        let actions: Vec<Action> = ["GetItem", "PutItem", "PutItem"]
            .into_iter()
            .map(|op| state.decide(Some(op)).action)
            .collect();
        assert_eq!(
            actions,
            [
                Action::Forward,
                Action::ReplicatedWriteConflict,
                Action::Forward
            ]
        );
    }

    #[test]
    fn holds_and_duplicates_are_drawn_last_and_leave_the_others_be() {
        let base = FaultPlan::default()
            .seed(5)
            .reset(0.1)
            .throttle(Throttle::Throttling, 0.1)
            .drop_answer(0.1);
        let run = |plan: FaultPlan| {
            let mut state = State::new(plan);
            let actions = (0..10_000)
                .map(|_| state.decide(Some("PutItem")).action)
                .collect::<Vec<_>>();
            (actions, state.stats)
        };
        let (without, _) = run(base.clone());
        let (with, stats) = run(base.hold(Duration::from_millis(100), 0.2).duplicate(0.3));
        // Every request the other kinds took, they still take; the new
        // kinds share what was forwarded.
        for (before, after) in without.iter().zip(&with) {
            if *before == Action::Forward {
                assert!(
                    matches!(after, Action::Forward | Action::Hold(_) | Action::Duplicate),
                    "{after:?}"
                );
            } else {
                assert_eq!(before, after);
            }
        }
        let share = |hit: &dyn Fn(&Action) -> bool| {
            with.iter().filter(|a| hit(a)).count() as f64 / with.len() as f64
        };
        let held = share(&|a| *a == Action::Hold(Duration::from_millis(100)));
        let duplicated = share(&|a| *a == Action::Duplicate);
        assert!((0.18..0.22).contains(&held), "{held}");
        assert!((0.28..0.32).contains(&duplicated), "{duplicated}");
        // Counted when they happen, by the connection.
        assert_eq!((stats.held, stats.duplicated), (0, 0));

        // Beyond a total of 1, the later kind gets what is left.
        let mut state = State::new(
            FaultPlan::default()
                .hold(Duration::ZERO, 1.0)
                .duplicate(1.0),
        );
        assert_eq!(state.decide(None).action, Action::Hold(Duration::ZERO));
    }

    #[test]
    fn holds_and_duplicates_select_operations_and_hand_over() {
        let hold = Action::Hold(Duration::from_secs(1));
        let mut state = State::new(
            FaultPlan::default()
                .hold(Duration::from_secs(1), 1.0)
                .operation("PutItem")
                .first(1)
                .then(
                    FaultPlan::default()
                        .duplicate(1.0)
                        .operation("DynamoDB_20120810.UpdateItem")
                        .first(2),
                ),
        );
        let actions: Vec<Action> = [
            "GetItem",
            "PutItem",
            "PutItem",
            "UpdateItem",
            "GetItem",
            "UpdateItem",
            "UpdateItem",
        ]
        .into_iter()
        .map(|op| state.decide(Some(op)).action)
        .collect();
        assert_eq!(
            actions,
            [
                Action::Forward,
                hold,
                Action::Forward,
                Action::Duplicate,
                Action::Forward,
                Action::Duplicate,
                Action::Forward,
            ]
        );
    }
}
