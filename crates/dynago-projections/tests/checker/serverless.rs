//! The Lambda function on the stream: warm containers, each with its own
//! projectors (its own memory), given batches of the real stream's records
//! duplicated, reordered and split, several at once; what fails is sent
//! again, as Lambda does.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use dynago_projections::lambda::{self, BatchProjector, EventRecord, StreamEvent};
use dynago_projections::{Projector, ProjectorOptions};

use super::{handler_options, Ctx, LAMBDA_TIMEOUT};
use crate::common::{Balances, DailyTotals};

/// The most records Lambda hands over at once (`BatchSize`).
const BATCH_SIZE: usize = 100;

/// What one invocation answered.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// No batch item failure.
    Applied,
    /// The sequence numbers of the records to send again.
    Failed(Vec<String>),
    /// Cut off at the function's timeout.
    TimedOut,
    /// `lambda::handle` failed the whole batch.
    Refused(String),
}

fn sequence(record: &EventRecord) -> String {
    record.change.sequence_number.clone().unwrap_or_default()
}

/// The account a record is of, from its keys (`account#{id}`).
fn account_of(record: &EventRecord) -> Option<String> {
    match record.change.keys.clone().into_inner().get("pk") {
        Some(serde_dynamo::AttributeValue::S(pk)) => pk.strip_prefix("account#").map(str::to_owned),
        _ => None,
    }
}

/// One execution environment of the function.
pub(crate) struct Container {
    name: String,
    balances: Projector<Balances>,
    totals: Projector<DailyTotals>,
}

impl Container {
    fn cold(ctx: &Ctx, n: usize) -> Self {
        let name = format!("lambda-{n}");
        let options = handler_options(ProjectorOptions::default().worker_id(name.clone()));
        let (store, views) = (&ctx.setup.store, &ctx.views);
        let balances = Projector::new(
            ctx.balances.clone(),
            store.clone(),
            views.clone(),
            options.clone(),
        )
        .expect("a projector");
        let totals = Projector::new(DailyTotals, store.clone(), views.clone(), options)
            .expect("a projector");
        Self {
            name,
            balances,
            totals,
        }
    }

    /// Writes of views this container lost to other writers.
    pub(crate) fn conflicts(&self) -> u64 {
        self.balances.status().conflicts + self.totals.status().conflicts
    }

    /// Invokes the function with `records`, handed over as JSON, as Lambda
    /// does.
    pub(crate) async fn invoke(&self, records: &[EventRecord]) -> Outcome {
        let mut event = StreamEvent::default();
        event.records = records.to_vec();
        let json = serde_json::to_value(&event).expect("a batch serializes");
        let event: StreamEvent = serde_json::from_value(json).expect("a batch deserializes");
        let projectors: [&dyn BatchProjector; 2] = [&self.balances, &self.totals];
        match tokio::time::timeout(LAMBDA_TIMEOUT, lambda::handle(&projectors, &event)).await {
            Err(_) => Outcome::TimedOut,
            Ok(Err(e)) => Outcome::Refused(format!("{} ({e:?})", self.name)),
            Ok(Ok(answer)) if answer.batch_item_failures.is_empty() => Outcome::Applied,
            Ok(Ok(answer)) => Outcome::Failed(
                answer
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone().unwrap_or_default())
                    .collect(),
            ),
        }
    }
}

/// The function: its warm containers, what it was handed, what it must
/// send again.
pub(crate) struct Lambda {
    pub(crate) containers: Vec<Container>,
    born: usize,
    /// The sequence numbers handed over at least once.
    delivered: HashSet<String>,
    /// Batches (from their first failed record) to send again.
    pending: Vec<Vec<EventRecord>>,
    /// Accounts whose records the function is not given until all is quiet
    /// (an event source mapping's filter): their views are the workers'
    /// alone, so that an event a worker skipped is not made good here.
    hidden: BTreeSet<String>,
}

impl Lambda {
    pub(crate) fn new(ctx: &mut Ctx) -> Self {
        let count = ctx.rng.usize(2..=3);
        let mut hidden: BTreeSet<String> = ctx
            .ids
            .iter()
            .filter(|_| ctx.rng.u8(..10) < 3)
            .cloned()
            .collect();
        if hidden.is_empty() {
            hidden.insert(ctx.ids[ctx.rng.usize(..ctx.ids.len())].clone());
        }
        Self {
            containers: (0..count).map(|n| Container::cold(ctx, n)).collect(),
            born: count,
            delivered: HashSet::new(),
            pending: Vec::new(),
            hidden,
        }
    }

    /// The records the function is given before all is quiet.
    pub(crate) fn shown(&self, records: Vec<EventRecord>) -> Vec<EventRecord> {
        records
            .into_iter()
            .filter(|r| account_of(r).is_none_or(|id| !self.hidden.contains(&id)))
            .collect()
    }

    /// The accounts hidden from the function until all is quiet.
    pub(crate) fn hidden(&self) -> &BTreeSet<String> {
        &self.hidden
    }

    /// Replaces container `n` by a cold one (a timeout, or Lambda's
    /// choice).
    pub(crate) fn cold_start(&mut self, n: usize, ctx: &mut Ctx) {
        ctx.tally.conflicts += self.containers[n].conflicts();
        self.containers[n] = Container::cold(ctx, self.born);
        self.born += 1;
        ctx.tally.cold_starts += 1;
    }

    /// Hands over most of the records not handed over yet (the rest come
    /// later), some old ones again, the failed batches again, split among
    /// the containers, each part reordered and with duplicates at random.
    pub(crate) async fn step(&mut self, ctx: &mut Ctx) {
        if ctx.rng.u8(..4) == 0 {
            let n = ctx.rng.usize(..self.containers.len());
            self.cold_start(n, ctx);
        }
        let all = match ctx.stream.lambda_records().await {
            Ok(all) => all,
            Err(e) => {
                ctx.violation(format!(
                    "reading the stream's records for Lambda failed: {e}"
                ));
                return;
            }
        };
        let mut records: Vec<EventRecord> = Vec::new();
        for record in &all {
            if !self.delivered.contains(&sequence(record)) && ctx.rng.u8(..10) < 8 {
                self.delivered.insert(sequence(record));
                records.push(record.clone());
            }
        }
        let fresh = records.len();
        if ctx.rng.bool() && !all.is_empty() {
            for _ in 0..ctx.rng.usize(1..=10) {
                records.push(all[ctx.rng.usize(..all.len())].clone());
            }
        }
        let mut batches = Vec::new();
        let parts = ctx.rng.usize(1..=self.containers.len());
        let mut cuts: Vec<usize> = (1..parts)
            .map(|_| ctx.rng.usize(..=records.len()))
            .collect();
        cuts.sort_unstable();
        cuts.push(records.len());
        let mut from = 0;
        for cut in cuts {
            let mut part = records[from..cut].to_vec();
            from = cut;
            match ctx.rng.u8(..3) {
                0 => {}
                1 => part.reverse(),
                _ => ctx.rng.shuffle(&mut part),
            }
            if ctx.rng.u8(..3) == 0 && !part.is_empty() {
                for _ in 0..ctx.rng.usize(1..=part.len().min(5)) {
                    let at = ctx.rng.usize(..part.len());
                    let copy = part[ctx.rng.usize(..part.len())].clone();
                    part.insert(at, copy);
                }
            }
            batches.extend(part.chunks(BATCH_SIZE).map(<[EventRecord]>::to_vec));
        }
        let resent = self.pending.len();
        batches.append(&mut self.pending);
        let count = batches.len();
        let failed = self.deliver(batches, ctx).await;
        ctx.log(format!(
            "lambda: {fresh} new records of {}, {count} batches ({resent} sent again) over {} containers; {failed} failed",
            all.len(),
            self.containers.len()
        ));
    }

    /// Delivers `batches`, as many at once as there are containers (one
    /// batch a container at a time); what fails goes to `pending`. How
    /// many failed.
    async fn deliver(&mut self, batches: Vec<Vec<EventRecord>>, ctx: &mut Ctx) -> usize {
        let mut failed = 0;
        for wave in batches.chunks(self.containers.len()) {
            let outcomes = futures::future::join_all(
                wave.iter()
                    .zip(&self.containers)
                    .map(|(batch, container)| container.invoke(batch)),
            )
            .await;
            for (n, (batch, outcome)) in wave.iter().zip(outcomes).enumerate() {
                ctx.tally.lambda_batches += 1;
                ctx.tally.lambda_records += batch.len();
                match outcome {
                    Outcome::Applied => {}
                    Outcome::Failed(sequences) => {
                        failed += 1;
                        ctx.tally.lambda_failed += 1;
                        let strangers: Vec<&String> = sequences
                            .iter()
                            .filter(|s| !batch.iter().any(|r| &sequence(r) == *s))
                            .collect();
                        if !strangers.is_empty() {
                            ctx.violation(format!(
                                "a batch answered failures for records it does not hold: {strangers:?}"
                            ));
                        }
                        // Lambda checkpoints before the first failed record
                        // and sends it and all after it again.
                        let first = batch
                            .iter()
                            .position(|r| sequences.contains(&sequence(r)))
                            .unwrap_or(0);
                        self.pending.push(batch[first..].to_vec());
                    }
                    Outcome::TimedOut => {
                        failed += 1;
                        ctx.tally.lambda_timeouts += 1;
                        self.pending.push(batch.clone());
                        self.cold_start(n, ctx);
                    }
                    Outcome::Refused(e) => {
                        ctx.violation(format!("lambda::handle refused a batch: {e}"));
                    }
                }
            }
        }
        failed
    }

    /// Sends `batch` until it is applied, at most `tries` times; a
    /// violation when it still fails.
    pub(crate) async fn until_applied(
        &mut self,
        batch: &[EventRecord],
        tries: usize,
        ctx: &mut Ctx,
        when: &str,
    ) {
        let mut last = None;
        for _ in 0..tries {
            let n = ctx.rng.usize(..self.containers.len());
            ctx.tally.lambda_batches += 1;
            ctx.tally.lambda_records += batch.len();
            match self.containers[n].invoke(batch).await {
                Outcome::Applied => return,
                Outcome::TimedOut => {
                    ctx.tally.lambda_timeouts += 1;
                    self.cold_start(n, ctx);
                    last = Some(Outcome::TimedOut);
                }
                other => {
                    ctx.tally.lambda_failed += 1;
                    last = Some(other);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ctx.violation(format!(
            "a Lambda batch of {} records sent {tries} times {when} still fails: {last:?}",
            batch.len()
        ));
    }

    /// Every record the stream holds, in order, in batches, delivered
    /// again and again until no batch fails (at most `passes` times);
    /// whether none failed in the end.
    pub(crate) async fn deliver_everything(&mut self, ctx: &mut Ctx, passes: usize) -> bool {
        self.pending.clear();
        let all = match ctx.stream.lambda_records().await {
            Ok(all) => all,
            Err(e) => {
                ctx.violation(format!(
                    "reading the stream's records for Lambda failed: {e}"
                ));
                return false;
            }
        };
        let mut batches: Vec<Vec<EventRecord>> = all
            .chunks(BATCH_SIZE)
            .map(<[EventRecord]>::to_vec)
            .collect();
        for pass in 1..=passes {
            let count = batches.len();
            let failed = self.deliver(batches, ctx).await;
            ctx.log(format!(
                "lambda: every record ({}) again, pass {pass}: {count} batches, {failed} failed",
                all.len()
            ));
            if self.pending.is_empty() {
                return true;
            }
            batches = std::mem::take(&mut self.pending);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }
}
