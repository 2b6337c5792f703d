//! The overview, a type's aggregates, and search.

use dynago_es::{StoredCommand, StoredEvent};
use maud::{html, Markup};

use super::{aggregate_link, chart, encode, link, optional_time, time};
use crate::registry::Listed;

/// What the overview says of one aggregate type.
#[derive(Debug, Clone)]
pub(crate) struct TypeSummary {
    pub(crate) aggregate_type: &'static str,
    pub(crate) aggregates: usize,
    pub(crate) events: u64,
    /// The first minute charted, in minutes since the epoch.
    pub(crate) first_minute: i64,
    /// Events per minute from `first_minute` on, one per minute.
    pub(crate) per_minute: Vec<u64>,
}

pub(crate) fn overview(types: &[TypeSummary]) -> Markup {
    html! {
        h1 { "Overview" }
        @if types.is_empty() {
            p.message { "No aggregate type is registered with this explorer." }
        }
        @for summary in types {
            section.type-summary aria-labelledby=(format!("type-{}", summary.aggregate_type)) {
                h2 id=(format!("type-{}", summary.aggregate_type)) {
                    a href=(format!("types/{}", encode(summary.aggregate_type))) { (summary.aggregate_type) }
                }
                dl.figures {
                    dt { "Aggregates" } dd data-figure="aggregates" { (summary.aggregates) }
                    dt { "Events" } dd data-figure="events" { (summary.events) }
                    dt { "Events in the last hour" } dd data-figure="recent" { (summary.per_minute.iter().sum::<u64>()) }
                }
                @let x: Vec<i64> = (summary.first_minute..).take(summary.per_minute.len()).map(|minute| minute * 60).collect();
                @let y: Vec<Option<f64>> = summary.per_minute.iter().map(|&n| Some(n as f64)).collect();
                (chart(&format!("Events per minute of {}, last hour", summary.aggregate_type), "bars", &x, &y))
                p { a href=(format!("types/{}", encode(summary.aggregate_type))) { "The newest " (summary.aggregate_type) " aggregates" } }
            }
        }
        @if !types.is_empty() {
            p.note { "Events of types this build cannot read count in the events, not in the chart or an aggregate's last event." }
        }
        section {
            h2 { "Any aggregate" }
            p { "Types not registered here show their events as stored." }
            form.open action="open" method="get" {
                label for="open-type" { "Type" }
                input #open-type name="type" required;
                label for="open-id" { "Id" }
                input #open-id name="id" required;
                button type="submit" { "Open" }
            }
        }
    }
}

/// A page of a type's aggregates, newest first.
#[derive(Debug, Clone)]
pub(crate) struct TypePage<'a> {
    pub(crate) aggregate_type: &'a str,
    pub(crate) total: usize,
    /// 1-based.
    pub(crate) page: usize,
    pub(crate) pages: usize,
    pub(crate) rows: &'a [Listed],
}

pub(crate) fn type_page(page: &TypePage<'_>) -> Markup {
    let base = format!("types/{}", encode(page.aggregate_type));
    let nav = html! {
        nav.pager aria-label="Pages" {
            @if page.page > 1 {
                a rel="prev" href=(link(&base, &[("page", &(page.page - 1).to_string())])) { "← Newer" }
            }
            span { "Page " (page.page) " of " (page.pages) " (" (page.total) " aggregates)" }
            @if page.page < page.pages {
                a rel="next" href=(link(&base, &[("page", &(page.page + 1).to_string())])) { "Older →" }
            }
        }
    };
    html! {
        h1 { "Aggregates of type " (page.aggregate_type) }
        (nav)
        div.scroll {
            table.aggregates {
                caption { "Newest first, by their first event" }
                thead { tr { th scope="col" { "Id" } th scope="col" { "Events" } th scope="col" { "Created" } th scope="col" { "Last event" } th scope="col" { "Updated" } } }
                tbody {
                    @for row in page.rows {
                        tr {
                            td { a href=(aggregate_link(page.aggregate_type, &row.id)) { (row.id) } }
                            td { (row.version) }
                            td { (optional_time(row.entry.created_at)) }
                            td { (row.entry.last_event_type) }
                            td { (optional_time(row.entry.updated_at)) }
                        }
                    }
                }
            }
        }
        (nav)
    }
}

/// What a search found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Aggregates of that id: type, id, last version.
    pub(crate) aggregates: Vec<(&'static str, String, u64)>,
    /// Command records of that id.
    pub(crate) commands: Vec<StoredCommand>,
    /// The query reads as a commit id: it may be looked for by a scan.
    pub(crate) commit_id: Option<uuid::Uuid>,
    /// The events of the commit, when the scan was asked for.
    pub(crate) commit_events: Option<Vec<StoredEvent>>,
}

pub(crate) fn search(query: &str, found: &Found) -> Markup {
    let nothing = found.aggregates.is_empty()
        && found.commands.is_empty()
        && found.commit_events.as_ref().is_none_or(Vec::is_empty);
    html! {
        h1 { "Find " q { (query) } }
        @if nothing {
            p.message { "No aggregate or command record of that id." }
        }
        @if !found.aggregates.is_empty() {
            h2 { "Aggregates" }
            ul.found {
                @for (aggregate_type, id, version) in &found.aggregates {
                    li { a href=(aggregate_link(aggregate_type, id)) { (aggregate_type) " " (id) } " (" (version) " events)" }
                }
            }
        }
        @if !found.commands.is_empty() {
            h2 { "Command records" }
            @for command in &found.commands {
                (command_record(command))
            }
        }
        @if let Some(commit) = found.commit_id {
            h2 { "Commit " (commit) }
            @match &found.commit_events {
                None => {
                    p { "No key leads to a commit: finding its events scans the whole events table (every item read; the page says what it cost)." }
                    form action="search" method="get" {
                        input type="hidden" name="q" value=(query);
                        input type="hidden" name="scan" value="commit";
                        button type="submit" { "Scan the table for this commit" }
                    }
                }
                Some(events) => {
                    ul.found {
                        @for event in events {
                            li {
                                a href=(format!("{}?at={}#v{}", aggregate_link(&event.aggregate_type, event.aggregate_id.as_str()), event.version, event.version)) {
                                    (event.aggregate_type) " " (event.aggregate_id) " v" (event.version)
                                }
                                " " (event.event_type) " at " (time(event.timestamp))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A command record and the events it appended.
pub(crate) fn command_record(command: &StoredCommand) -> Markup {
    html! {
        div.command {
            p {
                "Command " strong { (command.command_id) } " (" (command.aggregate_type) "), recorded "
                (time(command.recorded_at)) ", commit " code { (command.commit_id) }
                @if let Some(expires) = command.expires_at { ", expires " (time(expires)) }
            }
            ul {
                @for effect in &command.effects {
                    li {
                        a href=(format!("{}?at={}", aggregate_link(&command.aggregate_type, effect.aggregate_id.as_str()), effect.last_version)) {
                            (effect.aggregate_id)
                        }
                        " versions " (effect.first_version) "–" (effect.last_version)
                    }
                }
            }
        }
    }
}
