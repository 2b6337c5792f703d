//! Two workers of one projection share the stream's shards by leases; when
//! one dies without letting its leases go, the other takes its shards over
//! once the leases expire, from their checkpoints: nothing missed, nothing
//! counted twice.

use crate::common;

use std::time::Duration;

use common::{
    eventually, expected, leases_of, options, projector, setup, stream_of, views_of, views_reach,
    Balances, Commands, LeaseItem, Running,
};
use dynago_projections::{Projection, Projector};

/// The leases not ended (shards still read), read raw.
async fn active_leases(views: &dynago::Table) -> Vec<LeaseItem> {
    leases_of(views, Balances::NAME)
        .await
        .into_iter()
        .filter(|lease| !lease.ended)
        .collect()
}

#[tokio::test]
async fn a_killed_worker_s_shards_are_taken_over_after_its_lease_expires() {
    let setup = setup("proj-workers").await;
    let stream = stream_of(&setup).await;
    let ids: Vec<String> = (0..8).map(|n| format!("acc-{n}")).collect();
    let commands = Commands::start(&setup.store, ids.clone(), 5);
    let worker = |id: &str| -> Projector<Balances> {
        projector(
            &setup,
            Balances::default(),
            options(id).catch_up_from_table(false),
        )
    };
    let (one, two) = (worker("w1"), worker("w2"));
    let (w1, w2) = (Running::start(&one, &stream), Running::start(&two, &stream));

    // Every shard leased, and events applied by whoever holds them.
    let reading = eventually(Duration::from_secs(20), || async {
        let leases = active_leases(&setup.views).await;
        !leases.is_empty()
            && leases.iter().all(|lease| lease.owner.is_some())
            && one.status().applied + two.status().applied >= 20
    })
    .await;
    assert!(
        reading,
        "the workers did not lease every shard and apply events: leases {:?}; status {:?} / {:?}",
        active_leases(&setup.views).await,
        one.status(),
        two.status()
    );

    // Kill a worker that holds a lease (with a single shard, the one that
    // reads): its task is dropped where it is, its leases kept.
    let leases = active_leases(&setup.views).await;
    let victim = leases
        .iter()
        .find_map(|lease| lease.owner.clone())
        .expect("an owned lease");
    let (killed, survivor, survivor_id) = if victim == "w1" {
        (w1, w2, "w2")
    } else {
        (w2, w1, "w1")
    };
    killed.handle.abort();
    let aborted = killed.handle.await;
    assert!(
        aborted
            .as_ref()
            .is_err_and(tokio::task::JoinError::is_cancelled),
        "the killed worker's task: {aborted:?}"
    );
    let survivor_projector = survivor.projector.clone();
    let applied_before = survivor_projector.status().applied;

    // Commands keep coming; the survivor takes every shard over.
    let taken_over = eventually(Duration::from_secs(20), || async {
        let leases = active_leases(&setup.views).await;
        leases
            .iter()
            .all(|lease| lease.owner.as_deref() == Some(survivor_id))
            && survivor_projector.status().applied > applied_before
    })
    .await;
    assert!(
        taken_over,
        "{survivor_id} did not take {victim}'s shards over and apply their events: leases {:?}; status {:?}",
        active_leases(&setup.views).await,
        survivor_projector.status()
    );
    let commands_run = commands.stop().await;

    let (want, _) = expected(&setup.store, &ids).await;
    if let Err(diff) = views_reach::<Balances>(&setup.views, &want, Duration::from_secs(20)).await {
        let counted: u64 = views_of::<Balances>(&setup.views)
            .await
            .values()
            .map(|view| view.events)
            .sum();
        let written: u64 = want.values().map(|view| view.events).sum();
        panic!(
            "after {commands_run} commands, the views count {counted} events of {written} written: {diff}; status {:?}",
            survivor_projector.status()
        );
    }

    // Each shard's lease has one owner, the survivor, and it read every
    // record after the checkpoint it took over: nothing was filled from
    // the table.
    let leases = active_leases(&setup.views).await;
    assert!(
        !leases.is_empty()
            && leases
                .iter()
                .all(|lease| lease.owner.as_deref() == Some(survivor_id)),
        "the leases at the end, all {survivor_id}'s wanted: {leases:?}"
    );
    // Read from outside, as an explorer does: each held lease says who
    // holds it, when it was renewed and for how long, and how far behind.
    let public = survivor_projector.leases().await.expect("the leases");
    let held: Vec<_> = public.iter().filter(|lease| !lease.ended).collect();
    assert!(
        !held.is_empty()
            && held.iter().all(|lease| {
                lease.owner.as_deref() == Some(survivor_id)
                    && lease.renewed_at.is_some()
                    && lease.lease_duration.is_some()
                    && lease.records_behind.is_some()
            }),
        "the leases read through Projector::leases: {public:?}"
    );
    let status = survivor_projector.status();
    assert_eq!(
        status.gap_events, 0,
        "events {survivor_id} read from the table because the stream skipped them: {status:?}"
    );
    survivor.stop().await.expect("the surviving worker");
    assert!(
        active_leases(&setup.views)
            .await
            .iter()
            .all(|lease| lease.owner.is_none()),
        "a stopped worker lets its leases go: {:?}",
        active_leases(&setup.views).await
    );
}

#[tokio::test]
async fn a_worker_stopped_after_a_renewal_landed_unanswered_lets_its_lease_go() {
    let setup = setup("proj-workers-stop").await;
    let stream = stream_of(&setup).await;
    let (views, proxy) = dynago_local::testing::through_proxy(
        &setup.views,
        dynago_local::FaultPlan::default(),
        1,
        |o| o,
    )
    .await;
    let balances = Projector::new(
        Balances::default(),
        setup.store.clone(),
        views,
        options("w1").catch_up_from_table(false),
    )
    .expect("a projector");
    let running = Running::start(&balances, &stream);
    let leased = eventually(Duration::from_secs(20), || async {
        active_leases(&setup.views)
            .await
            .iter()
            .any(|lease| lease.owner.as_deref() == Some("w1"))
    })
    .await;
    assert!(leased, "no lease taken: {:?}", balances.status());
    // The next lease write (a renewal) lands, and its answer is lost.
    proxy.set_plan(
        dynago_local::FaultPlan::default()
            .drop_answer(1.0)
            .operation("PutItem")
            .first(1),
    );
    let dropped = eventually(Duration::from_secs(20), || async {
        proxy.stats().dropped_answers == 1
    })
    .await;
    assert!(dropped, "no renewal sent: {:?}", proxy.stats());
    running.stop().await.expect("stopped");
    // Before: the lease stayed with w1 until it expired, its shard unread.
    let leases = active_leases(&setup.views).await;
    assert!(
        leases.iter().all(|lease| lease.owner.is_none()),
        "leases after the stop: {leases:?}"
    );
}
