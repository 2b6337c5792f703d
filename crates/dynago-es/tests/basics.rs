//! The store's basic promises: versions, conflicts, rejections, loads.

use crate::common;

use common::{Account, AccountCommand, AccountError};
use dynago_es::StoreOptions;

#[tokio::test]
async fn commands_append_contiguous_versions() {
    let store = common::store(StoreOptions::default()).await;
    let opened = store
        .execute(
            "a1",
            AccountCommand::Open {
                owner: "ada".into(),
            },
        )
        .await
        .expect("open");
    assert_eq!(opened.version, 1);
    let deposited = store
        .execute(
            "a1",
            AccountCommand::DepositMany {
                amounts: vec![5, 7, 9],
            },
        )
        .await
        .expect("deposit");
    assert_eq!(deposited.version, 4);
    assert_eq!(
        deposited
            .events
            .iter()
            .map(|e| e.version)
            .collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    let loaded = store.load("a1").await.expect("load");
    assert_eq!(loaded.version, 4);
    assert_eq!(loaded.state.balance, 21);
    let rejected = store
        .execute("a1", AccountCommand::Withdraw { amount: 100 })
        .await
        .expect_err("overdraft");
    assert_eq!(
        rejected.rejection(),
        Some(&AccountError::InsufficientFunds {
            balance: 21,
            asked: 100
        })
    );
    let at2 = store.load_at("a1", 2).await.expect("load at 2");
    assert_eq!((at2.version, at2.state.balance), (2, 5));
    let stale = store
        .append(
            "a1",
            2,
            vec![common::AccountEvent::Deposited { amount: 1 }],
            Default::default(),
        )
        .await
        .expect_err("stale");
    assert_eq!(
        stale.conflict_versions(),
        Some(dynago_es::ConflictVersions {
            expected: 2,
            actual: 4
        })
    );
    let _: Account = store.load("a1").await.expect("load").state;
}
