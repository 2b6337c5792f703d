//! A projection started after a thousand events exist: it first catches up
//! by a scan of the table, then reads the stream from its oldest record,
//! skipping what the scan applied, while commands keep coming. A rebuild
//! gives the same views, and a run after it changes nothing.

use crate::common;

use std::time::Duration;

use common::{
    eventually, expected, items_of, options, projector, run_some, setup, stream_of, views_reach,
    Balances, Commands, Running,
};
use dynago_projections::Projection;

/// Events written before the projection starts.
const EVENTS: usize = 1_000;
/// Tasks writing them, each on accounts of its own.
const TASKS: usize = 8;
const ACCOUNTS_PER_TASK: usize = 25;

/// Writes `EVENTS` events over `TASKS * ACCOUNTS_PER_TASK` accounts, from
/// `TASKS` tasks at once; the accounts.
async fn thousand_events(store: &dynago_es::EventStore<common::Account>) -> Vec<String> {
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            let ids: Vec<String> = (0..ACCOUNTS_PER_TASK)
                .map(|n| format!("late-{task}-{n}"))
                .collect();
            tokio::spawn(async move {
                let mut seed = 1_000 * task as u64;
                let mut appended = 0;
                while appended < EVENTS / TASKS {
                    appended += run_some(&store, &ids, 1, seed).await;
                    seed += 1;
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.expect("a writing task"));
    }
    ids
}

#[tokio::test]
async fn a_late_projection_catches_up_from_the_table_then_follows_the_stream() {
    let setup = setup("proj-late").await;
    let ids = thousand_events(&setup.store).await;
    let stream = stream_of(&setup).await;

    let commands = Commands::start(&setup.store, ids[..TASKS].to_vec(), 11);
    let balances = projector(&setup, Balances::default(), options("late-1"));
    let worker = Running::start(&balances, &stream);
    let caught_up = eventually(Duration::from_secs(30), || async {
        balances.status().applied >= EVENTS as u64
    })
    .await;
    assert!(
        caught_up,
        "the projection did not catch up with the {EVENTS} events in the table: {:?}",
        balances.status()
    );
    let commands_run = commands.stop().await;

    let (want, _) = expected(&setup.store, &ids).await;
    let total: u64 = want.values().map(|view| view.events).sum();
    if let Err(diff) = views_reach::<Balances>(&setup.views, &want, Duration::from_secs(20)).await {
        panic!(
            "after {commands_run} more commands, the views differ from the replay: {diff}; status {:?}",
            balances.status()
        );
    }
    let status = balances.status();
    assert_eq!(status.applied, total, "events applied: {status:?}");
    // The stream holds every record since the table was created: those of
    // the events the scan applied were skipped.
    assert!(
        status.duplicates >= EVENTS as u64,
        "the stream's records of the {EVENTS} events the scan applied were not skipped as duplicates: {status:?}"
    );
    worker.stop().await.expect("the worker");

    // A rebuild applies every event again, to the same views.
    let views_before = items_of(&setup.views, Balances::NAME).await;
    let rebuilt = balances.rebuild().await.expect("the rebuild");
    assert_eq!(rebuilt, total, "events applied by the rebuild");
    if let Err(diff) = views_reach::<Balances>(&setup.views, &want, Duration::ZERO).await {
        panic!("the views after the rebuild differ from the replay: {diff}");
    }
    let leases_gone = items_of(&setup.views, Balances::NAME)
        .await
        .keys()
        .all(|sort| sort.starts_with("a#") || sort == "reset");
    assert!(
        leases_gone,
        "a rebuild leaves only views, and the generation of its fence"
    );
    assert_eq!(
        items_of(&setup.views, Balances::NAME)
            .await
            .keys()
            .filter(|sort| sort.starts_with("a#"))
            .count(),
        views_before
            .keys()
            .filter(|sort| sort.starts_with("a#"))
            .count(),
        "view items after the rebuild"
    );

    // A new worker after the rebuild finds no lease: it scans the table and
    // reads the whole stream again, and applies nothing.
    let rebuilt_items = items_of(&setup.views, Balances::NAME).await;
    let fresh = projector(&setup, Balances::default(), options("late-2"));
    let worker = Running::start(&fresh, &stream);
    let read_everything = eventually(Duration::from_secs(30), || async {
        let status = fresh.status();
        status.duplicates >= 2 * total
            && !status.shards.is_empty()
            && status.shards.iter().all(|shard| shard.caught_up)
    })
    .await;
    let status = fresh.status();
    worker.stop().await.expect("the worker after the rebuild");
    assert!(
        read_everything,
        "the worker after the rebuild did not skip the scan's {total} events and the stream's: {status:?}"
    );
    assert_eq!(
        status.applied, 0,
        "events applied by a run after the rebuild: {status:?}"
    );
    let views_after: Vec<_> = items_of(&setup.views, Balances::NAME)
        .await
        .into_iter()
        .filter(|(sort, _)| sort.starts_with("a#"))
        .collect();
    assert_eq!(
        views_after,
        rebuilt_items
            .into_iter()
            .filter(|(sort, _)| sort.starts_with("a#"))
            .collect::<Vec<_>>(),
        "view items changed by a run after the rebuild"
    );
}
