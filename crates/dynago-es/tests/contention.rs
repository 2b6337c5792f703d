//! Many writers on one aggregate: every command lands once, versions stay contiguous.

use crate::common;

use std::time::Duration;

use common::AccountCommand;
use dynago::RetryPolicy;
use dynago_es::StoreOptions;
use futures::TryStreamExt;

async fn contend(options: StoreOptions, tasks: usize, per_task: usize) {
    let store = common::store(options).await;
    store
        .execute(
            "hot",
            AccountCommand::Open {
                owner: "ada".into(),
            },
        )
        .await
        .expect("open");
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..per_task {
                    let amount = i64::try_from(task * 1000 + n + 1).expect("small");
                    store
                        .execute("hot", AccountCommand::Deposit { amount })
                        .await
                        .expect("deposit");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("task");
    }
    let expected_sum: i64 = (0..tasks)
        .flat_map(|task| {
            (0..per_task).map(move |n| i64::try_from(task * 1000 + n + 1).expect("small"))
        })
        .sum();
    let loaded = store.load("hot").await.expect("load");
    let total = (tasks * per_task) as u64;
    assert_eq!(loaded.version, total + 1);
    assert_eq!(loaded.state.balance, expected_sum);
    assert_eq!(loaded.state.deposits, total);
    let versions: Vec<u64> = store
        .events("hot", 1)
        .map_ok(|e| e.version)
        .try_collect()
        .await
        .expect("events");
    assert_eq!(versions, (1..=total + 1).collect::<Vec<_>>());
}

fn patient() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(200)
        .min_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(50))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_on_one_aggregate() {
    contend(
        StoreOptions::default()
            .retry(patient())
            .snapshots(dynago_es::SnapshotPolicy::Every(50)),
        16,
        100,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_on_one_cached_aggregate() {
    contend(StoreOptions::default().retry(patient()).cache(100), 16, 25).await;
}
