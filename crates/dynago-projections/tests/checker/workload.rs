//! The workload: commands on the accounts, most of them into the hot day,
//! from writers in the background and in bursts; deposits of 13 under a
//! poisoned handler; replays of what was parked, from another process.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dynago_es::EventStore;
use tokio::task::JoinHandle;

use super::{Ctx, HOT_DAY};
use crate::common::{Account, Balances, Move};

/// Runs one command on a random account, most of them on the hot day
/// (never a deposit of 13: the poison step writes those); whether it
/// appended an event.
pub(super) async fn one_command(
    store: &EventStore<Account>,
    ids: &[String],
    rng: &mut fastrand::Rng,
) -> bool {
    let id = &ids[rng.usize(..ids.len())];
    let amount = if rng.u8(..10) < 6 {
        match rng.i64(1..50) {
            13 => 14,
            amount => amount,
        }
    } else {
        -rng.i64(1..30)
    };
    let day = if rng.u8(..10) < 6 {
        HOT_DAY.to_owned()
    } else {
        format!("2026-12-{:02}", rng.u8(1..=28))
    };
    match store.execute(id.as_str(), Move { amount, day }).await {
        Ok(_) => true,
        Err(dynago_es::CommandError::Rejected { .. }) => false,
        Err(e) if e.is_conflict() => false,
        Err(e) => panic!("a command on the events table (read directly) failed: {e}"),
    }
}

/// Writers of commands in the background, until stopped.
pub(super) struct Writers {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<usize>>,
}

impl Writers {
    pub(super) fn start(
        store: &EventStore<Account>,
        ids: &[String],
        rng: &mut fastrand::Rng,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..2)
            .map(|_| {
                let (store, ids, stop) = (store.clone(), ids.to_vec(), Arc::clone(&stop));
                let mut rng = fastrand::Rng::with_seed(rng.u64(..));
                tokio::spawn(async move {
                    let mut appended = 0;
                    while !stop.load(Ordering::SeqCst) {
                        appended += usize::from(one_command(&store, &ids, &mut rng).await);
                        tokio::time::sleep(Duration::from_millis(rng.u64(40..160))).await;
                    }
                    appended
                })
            })
            .collect();
        Self { stop, tasks }
    }

    pub(super) async fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let mut appended = 0;
        for task in self.tasks {
            appended += task.await.expect("a writer of commands");
        }
        appended
    }
}

/// A burst of commands from three writers at once.
pub(super) async fn burst(ctx: &mut Ctx) {
    let count = ctx.rng.usize(10..40);
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (store, ids) = (ctx.setup.store.clone(), ctx.ids.clone());
            let mut rng = fastrand::Rng::with_seed(ctx.rng.u64(..));
            tokio::spawn(async move {
                let mut appended = 0;
                for _ in 0..count / 3 {
                    appended += usize::from(one_command(&store, &ids, &mut rng).await);
                }
                appended
            })
        })
        .collect();
    let mut appended = 0;
    for task in tasks {
        appended += task.await.expect("a writer of commands");
    }
    ctx.tally.commands += appended;
    ctx.log(format!("burst: {appended} events from 3 writers"));
}

/// Sets the poison and deposits 13 on one or two accounts, then moves them
/// on: their later events wait behind the parked one.
pub(super) async fn poison(ctx: &mut Ctx) {
    ctx.balances.poison.store(true, Ordering::SeqCst);
    let mut poisoned = Vec::new();
    for _ in 0..ctx.rng.usize(1..=2) {
        let id = ctx.ids[ctx.rng.usize(..ctx.ids.len())].clone();
        let day = if ctx.rng.bool() {
            HOT_DAY.to_owned()
        } else {
            "2026-12-02".to_owned()
        };
        for amount in [13, ctx.rng.i64(1..10)] {
            ctx.setup
                .store
                .execute(
                    id.as_str(),
                    Move {
                        amount,
                        day: day.clone(),
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("a deposit of {amount} on {id}: {e}"));
        }
        ctx.tally.poison_deposits += 1;
        poisoned.push(id);
    }
    ctx.log(format!("poison set; 13 deposited on {poisoned:?}"));
}

/// Replays the parked events from another process whose handler is fixed;
/// the poison of the deployed one lifted first, or not.
pub(super) async fn replay_elsewhere(ctx: &mut Ctx) {
    let lift = ctx.rng.bool();
    if lift {
        ctx.balances.poison.store(false, Ordering::SeqCst);
    }
    let fixed = Balances {
        poison: Arc::new(AtomicBool::new(false)),
    };
    let admin = ctx.admin(fixed, "replay", Duration::ZERO);
    let parked = match Box::pin(admin.parked()).await {
        Ok(parked) => parked,
        Err(e) => {
            ctx.violation(format!("listing the parked events failed: {e}"));
            return;
        }
    };
    let ids: BTreeSet<String> = parked.iter().map(|p| p.aggregate_id.to_string()).collect();
    for event in &parked {
        ctx.tally
            .parked_seen
            .insert((event.aggregate_id.to_string(), event.version));
    }
    let mut offers = Vec::new();
    for id in &ids {
        match admin.replay_parked(id.as_str()).await {
            Ok(offer) => {
                ctx.tally.replays += 1;
                offers.push(format!("{id}: {offer:?}"));
            }
            Err(e) => ctx.violation(format!("replaying {id} from another process failed: {e}")),
        }
    }
    ctx.log(format!(
        "replay from another process ({}): parked {:?}; {offers:?}",
        if lift {
            "poison lifted"
        } else {
            "workers still poisoned"
        },
        parked
            .iter()
            .map(|p| (p.aggregate_id.to_string(), p.version))
            .collect::<Vec<_>>()
    ));
}
