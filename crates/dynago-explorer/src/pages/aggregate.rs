//! An aggregate: its timeline, its state at a version, what each event
//! changed, its snapshot beside the state replayed, its command records.

use dynago_es::{StoredCommand, StoredEvent, StoredSnapshot};
use maud::{html, Markup};
use serde_json::Value;

use super::overview::command_record;
use super::{aggregate_link, json, link, optional_time, raw, time};
use crate::diff::{same, Change};

/// Everything an aggregate's page shows.
#[derive(Debug)]
pub(crate) struct AggregatePage<'a> {
    pub(crate) aggregate_type: &'a str,
    pub(crate) id: &'a str,
    /// Whether the type is registered (states can be folded).
    pub(crate) registered: bool,
    pub(crate) last_version: u64,
    /// The versions of the page.
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) page_size: u64,
    pub(crate) events: &'a [StoredEvent],
    /// What each event of the page changed, by the events' order.
    pub(crate) changes: Option<Vec<Vec<Change>>>,
    /// The version shown and its state.
    pub(crate) at: Option<(u64, Value)>,
    pub(crate) snapshot: Option<SnapshotCheck>,
    pub(crate) commands: &'a [StoredCommand],
    /// Why no state is shown for a registered type (a gap in the versions,
    /// an event this build cannot read).
    pub(crate) unfolded: Option<String>,
}

/// The snapshot beside the state replayed from the events to its version.
#[derive(Debug)]
pub(crate) struct SnapshotCheck {
    pub(crate) stored: StoredSnapshot,
    /// The state folded from the events alone up to the snapshot's
    /// version, and the version the events reached, when the type is
    /// registered.
    pub(crate) replayed: Option<(u64, Value)>,
}

impl SnapshotCheck {
    /// The snapshot holds another state than its events give, or is
    /// stamped with a version the events do not reach.
    pub(crate) fn differs(&self) -> bool {
        self.replayed.as_ref().is_some_and(|(version, replayed)| {
            *version != self.stored.version || !same(replayed, &self.stored.state)
        })
    }
}

pub(crate) fn aggregate(page: &AggregatePage<'_>) -> Markup {
    let base = aggregate_link(page.aggregate_type, page.id);
    let window = |from: u64| link(&base, &[("from", &from.to_string())]);
    let nav = html! {
        nav.pager aria-label="Events" {
            @if page.from > 1 {
                a href=(window(1)) { "⇤ First" }
                a rel="prev" href=(window(page.from.saturating_sub(page.page_size).max(1))) { "← Earlier" }
            }
            span { "Versions " (page.from) "–" (page.to) " of " (page.last_version) }
            @if page.to < page.last_version {
                a rel="next" href=(window(page.to + 1)) { "Later →" }
                a href=(window(page.last_version.saturating_sub(page.page_size - 1).max(1))) { "Last ⇥" }
            }
        }
    };
    html! {
        h1 { (page.aggregate_type) " " span.id { (page.id) } }
        p {
            (page.last_version) @if page.last_version == 1 { " event. " } @else { " events. " }
            @if !page.registered {
                "This type is not registered with the explorer: its events are shown as stored, no state is folded."
            }
        }
        @if let Some(reason) = &page.unfolded {
            p.flag role="alert" data-unfolded="" { "No state is shown: " (reason) ". The events are shown as stored." }
        }
        @if let Some((version, state)) = &page.at {
            section.state aria-labelledby="state" {
                h2 #state { "State at version " span data-version=(version) { (version) } }
                form.at action=(base) method="get" {
                    label for="at" { "Version" }
                    input #at type="number" name="at" min="0" max=(page.last_version) value=(version);
                    button type="submit" { "Show" }
                }
                pre.json data-state-version=(version) { (json(state)) }
            }
        }
        @if let Some(check) = &page.snapshot {
            section.snapshot aria-labelledby="snapshot" {
                h2 #snapshot { "Snapshot at version " (check.stored.version) }
                @if check.differs() {
                    p.flag role="alert" data-snapshot="differs" {
                        @match &check.replayed {
                            Some((reached, _)) if *reached != check.stored.version => {
                                "The snapshot is stamped version " (check.stored.version) ", but the events end at version " (reached) "."
                            }
                            _ => { "The snapshot differs from the state replayed from events 1 to " (check.stored.version) "." }
                        }
                    }
                } @else if check.replayed.is_some() {
                    p data-snapshot="matches" { "The snapshot equals the state replayed from the events." }
                }
                p { "Taken " (optional_time(check.stored.taken_at)) ", state shape version " (check.stored.state_version) "." }
                div.side-by-side {
                    div { h3 { "Stored" } pre.json { (json(&check.stored.state)) } }
                    @if let Some((reached, replayed)) = &check.replayed {
                        div { h3 { "Replayed from events 1 to " (reached) } pre.json { (json(replayed)) } }
                    }
                }
            }
        }
        section.timeline aria-labelledby="timeline" {
            h2 #timeline { "Timeline" }
            (nav)
            ol.events {
                @for (index, event) in page.events.iter().enumerate() {
                    li.event id=(format!("v{}", event.version)) data-version=(event.version) {
                        h3 {
                            a href=(format!("{}?at={}#v{}", link(&base, &[("from", &page.from.to_string())]), event.version, event.version)) { "v" (event.version) }
                            " " span.type { (event.event_type) }
                        }
                        dl.header {
                            dt { "Stored" } dd { (time(event.timestamp)) }
                            dt { "Commit" } dd { code { (event.commit_id) } }
                            dt { "Command" } dd { @match &event.metadata.command_id { Some(id) => code { (id) }, None => (raw("&mdash;")) } }
                            dt { "Event id" } dd { code { (event.event_id) } }
                            dt { "Schema" } dd { (event.schema_version) }
                            dt { "Size" } dd { (event.size) " bytes" }
                        }
                        @if !event.metadata.is_empty() {
                            details { summary { "Metadata" } pre.json { (json(&serde_json::to_value(&event.metadata).unwrap_or_default())) } }
                        }
                        details open { summary { "Payload" } pre.json.payload { (json(&event.payload)) } }
                        @if let Some(changes) = page.changes.as_ref().and_then(|c| c.get(index)) {
                            details.changes open {
                                summary { "Changed " (changes.len()) " value" @if changes.len() != 1 { "s" } }
                                @if !changes.is_empty() {
                                    table.diff {
                                        thead { tr { th scope="col" { "Path" } th scope="col" { "Before" } th scope="col" { "After" } } }
                                        tbody {
                                            @for change in changes {
                                                tr {
                                                    td { code { @if change.path.is_empty() { "(the state)" } @else { (change.path) } } }
                                                    td.before { @match &change.before { Some(v) => code { (v) }, None => (raw("&mdash;")) } }
                                                    td.after { @match &change.after { Some(v) => code { (v) }, None => (raw("&mdash;")) } }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (nav)
        }
        @if !page.commands.is_empty() {
            section aria-labelledby="commands" {
                h2 #commands { "Command records of these events" }
                @for command in page.commands { (command_record(command)) }
            }
        }
    }
}
