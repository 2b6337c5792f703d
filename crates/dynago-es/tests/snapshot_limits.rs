//! Snapshots of a state over DynamoDB's 400 KB an item: left out, never
//! blocking the events, never replacing the last snapshot that fitted; the
//! loads stay right, and a snapshot is taken again once the state fits.
use crate::common;

use dynago::MAX_ITEM_SIZE;
use dynago_es::{Aggregate, DomainEvent, EventStore, SnapshotPolicy, StoreOptions};
use serde::{Deserialize, Serialize};

/// A notebook that keeps every note it was given: its state grows with
/// each one.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Notebook {
    notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DomainEvent)]
enum NotebookEvent {
    Noted { text: String },
    Cleared,
}

#[derive(Debug, Clone, PartialEq)]
enum NotebookCommand {
    Note(String),
    Clear,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("never refused")]
struct Never;

impl Aggregate for Notebook {
    const TYPE: &'static str = "notebook";
    type Id = dynago_es::AggregateId;
    type Command = NotebookCommand;
    type Event = NotebookEvent;
    type Error = Never;

    fn handle(&self, command: &NotebookCommand) -> Result<Vec<NotebookEvent>, Never> {
        Ok(vec![match command {
            NotebookCommand::Note(text) => NotebookEvent::Noted { text: text.clone() },
            NotebookCommand::Clear => NotebookEvent::Cleared,
        }])
    }

    fn apply(&mut self, event: &NotebookEvent) {
        match event {
            NotebookEvent::Noted { text } => self.notes.push(text.clone()),
            NotebookEvent::Cleared => self.notes.clear(),
        }
    }
}

/// A note of 120 KB, told apart by `n`.
fn note(n: usize) -> String {
    let mut text = format!("{n}:");
    text.extend(std::iter::repeat_n('x', 120 * 1024 - text.len()));
    text
}

/// The version of the stored snapshot, if there is one.
async fn snapshot_version(table: &dynago::Table) -> Option<u64> {
    common::raw_get(table, common::snapshot_key("notebook", "nb"))
        .await
        .map(|item| common::number(&item, "version"))
}

#[tokio::test]
async fn a_snapshot_over_400_kb_is_left_out_and_the_events_are_kept() {
    let table = common::table().await;
    let notebooks = EventStore::<Notebook>::new(
        table.clone(),
        StoreOptions::default().snapshots(SnapshotPolicy::Every(1)),
    )
    .expect("a store");

    // 120, 240 and 360 KB: each state fits in an item, each is snapshotted.
    let mut expected = Notebook::default();
    for n in 1..=3 {
        let outcome = notebooks
            .execute("nb", NotebookCommand::Note(note(n)))
            .await
            .expect("a note");
        assert_eq!(outcome.version, n as u64);
        expected.notes.push(note(n));
        assert_eq!(snapshot_version(&table).await, Some(n as u64), "note {n}");
    }
    let snapshot = common::raw_get(&table, common::snapshot_key("notebook", "nb"))
        .await
        .expect("a snapshot");
    assert!(dynago::item_size(&snapshot) > 3 * 120 * 1024);

    // 480 and 600 KB: over the limit. The notes are written, the snapshot
    // is left out, and the one of version 3 stays.
    for n in 4..=5 {
        let outcome = notebooks
            .execute("nb", NotebookCommand::Note(note(n)))
            .await
            .expect("a note whose state is too large to snapshot");
        assert_eq!(outcome.version, n as u64);
        expected.notes.push(note(n));
        assert_eq!(outcome.state.as_ref(), Some(&expected), "note {n}");
        assert_eq!(snapshot_version(&table).await, Some(3), "note {n}");
    }
    assert!(
        serde_json::to_vec(&expected).expect("json").len() > MAX_ITEM_SIZE,
        "the state is over 400 KB"
    );
    for (n, item) in (1..=5).map(|n| (n, common::event_key("notebook", "nb", n))) {
        assert!(common::raw_get(&table, item).await.is_some(), "event {n}");
    }

    // Loads replay from the snapshot of version 3.
    let fresh = EventStore::<Notebook>::new(
        table.clone(),
        StoreOptions::default().snapshots(SnapshotPolicy::Every(1)),
    )
    .expect("a store");
    let loaded = fresh.load("nb").await.expect("load");
    assert_eq!(loaded.version, 5);
    assert_eq!(loaded.state, expected);
    let earlier = fresh.load_at("nb", 4).await.expect("load at 4");
    assert_eq!(earlier.state.notes.len(), 4);

    // Once the state fits again, it is snapshotted again.
    let outcome = notebooks
        .execute("nb", NotebookCommand::Clear)
        .await
        .expect("clear");
    assert_eq!(outcome.version, 6);
    assert_eq!(snapshot_version(&table).await, Some(6));
    let loaded = fresh.load("nb").await.expect("load");
    assert_eq!((loaded.version, loaded.state), (6, Notebook::default()));
}
