//! Projections: their shards and leases, lag live, parked events with a
//! replay action, and their views.

use chrono::{DateTime, Utc};
use dynago_projections::{LeaseStatus, ParkedEvent};
use maud::{html, Markup};

use super::{aggregate_link, chart, encode, json, link, optional_time, raw, time};
use crate::history::Sample;
use crate::registry::ShownView;

/// What the live part of a projection's section shows.
#[derive(Debug)]
pub(crate) struct Live<'a> {
    pub(crate) name: &'a str,
    pub(crate) aggregate_type: &'a str,
    pub(crate) leases: &'a [LeaseStatus],
    pub(crate) parked: &'a [ParkedEvent],
    pub(crate) history: &'a [Sample],
    pub(crate) now: DateTime<Utc>,
    /// The form token, when this visitor may act.
    pub(crate) form_token: Option<&'a str>,
    /// Whether actions are enabled at all.
    pub(crate) actions: bool,
}

/// How far behind a projection is, as its leases say at `now`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lag {
    /// Every shard still read is held by a worker that renewed its lease
    /// in time and measured its lag: the largest, and the records behind
    /// over them all.
    Known { seconds: f64, behind: u64 },
    /// Why it cannot be told: a shard nobody holds, a holder that stopped
    /// renewing, a lag not measured yet (or no lease at all: a projection
    /// run by a Lambda function, or not run).
    Unknown(String),
}

pub(crate) fn lag_of(leases: &[LeaseStatus], now: DateTime<Utc>) -> Lag {
    let open: Vec<&LeaseStatus> = leases.iter().filter(|l| !l.ended).collect();
    if open.is_empty() {
        return Lag::Unknown("no shard is leased: no worker has read the stream yet".into());
    }
    let (mut seconds, mut behind) = (0f64, 0u64);
    for lease in open {
        if lease.owner.is_none() {
            return Lag::Unknown(format!("shard {} is held by no worker", lease.shard));
        }
        let expires = lease
            .renewed_at
            .zip(lease.lease_duration)
            .map(|(at, duration)| at + chrono::Duration::from_std(duration).unwrap_or_default());
        match (expires, lease.lag, lease.records_behind) {
            (Some(expires), _, _) if expires < now => {
                return Lag::Unknown(format!(
                    "the holder of shard {} has not renewed its lease since {}",
                    lease.shard,
                    optional_time(lease.renewed_at)
                ));
            }
            (Some(_), Some(lag), Some(records)) => {
                seconds = seconds.max(lag.as_secs_f64());
                behind += records;
            }
            _ => return Lag::Unknown(format!("not measured yet on shard {}", lease.shard)),
        }
    }
    Lag::Known { seconds, behind }
}

pub(crate) fn page(sections: &[Markup], flash: Option<&str>) -> Markup {
    html! {
        h1 { "Projections" }
        @if let Some(flash) = flash { p.flash role="status" { (flash) } }
        @if sections.is_empty() { p.message { "No projection is registered with this explorer." } }
        @for section in sections { (section) }
    }
}

/// A projection's section; it reloads itself every two seconds.
pub(crate) fn live(live: &Live<'_>) -> Markup {
    let lag = lag_of(live.leases, live.now);
    let id = format!("projection-{}", live.name);
    let x: Vec<i64> = live.history.iter().map(|s| s.at.timestamp()).collect();
    let y: Vec<Option<f64>> = live.history.iter().map(|s| s.lag_seconds).collect();
    html! {
        section.projection id=(id) aria-labelledby=(format!("{id}-title"))
            hx-get=(format!("projections/{}/live", encode(live.name))) hx-trigger="every 2s" hx-swap="outerHTML" {
            h2 id=(format!("{id}-title")) { (live.name) }
            p {
                "Events of " (live.aggregate_type) ". "
                a href=(format!("projections/{}/views", encode(live.name))) { "Its views" }
            }
            dl.figures {
                @match &lag {
                    Lag::Known { seconds, behind } => {
                        dt { "Lag" } dd data-figure="lag" { (format!("{seconds:.1} s")) }
                        dt { "Records behind" } dd data-figure="behind" { (behind) }
                    }
                    Lag::Unknown(why) => {
                        dt { "Lag" } dd data-figure="lag" { "unknown: " (why) }
                        dt { "Records behind" } dd data-figure="behind" { "unknown" }
                    }
                }
                dt { "Parked events" } dd data-figure="parked" { (live.parked.len()) }
                dt { "Shards" } dd { (live.leases.len()) }
            }
            (chart(&format!("Lag of {} (seconds), last hour", live.name), "line", &x, &y))
            div.scroll {
                table.leases {
                    caption { "Shards and their leases (renewed by the holder's clock)" }
                    thead { tr {
                        th scope="col" { "Shard" } th scope="col" { "Owner" } th scope="col" { "Checkpoint" }
                        th scope="col" { "Renewed" } th scope="col" { "Expires unless renewed" } th scope="col" { "Lag" } th scope="col" { "Behind" }
                    } }
                    tbody {
                        @for lease in live.leases {
                            tr data-shard=(lease.shard) {
                                td { code { (lease.shard) } @if lease.ended { " (read to its end)" } }
                                td { @match &lease.owner { Some(owner) => (owner), None => "none" } }
                                td { @match &lease.checkpoint { Some(c) => code.checkpoint { (c) }, None => (raw("&mdash;")) } }
                                td { (optional_time(lease.renewed_at)) }
                                td {
                                    @match (lease.renewed_at, lease.lease_duration) {
                                        (Some(at), Some(duration)) => {
                                            @let expires = at + chrono::Duration::from_std(duration).unwrap_or_default();
                                            (time(expires))
                                            @if expires < live.now && lease.owner.is_some() { " " strong.flag { "(overdue)" } }
                                        }
                                        _ => (raw("&mdash;")),
                                    }
                                }
                                td { @match lease.lag { Some(lag) => (format!("{:.1} s", lag.as_secs_f64())), None => (raw("&mdash;")) } }
                                td { @match lease.records_behind { Some(n) => (n), None => (raw("&mdash;")) } }
                            }
                        }
                    }
                }
            }
            h3 { "Parked events" }
            @if live.parked.is_empty() {
                p data-parked="none" { "None." }
            } @else {
                div.scroll {
                    table.parked {
                        thead { tr { th scope="col" { "Aggregate" } th scope="col" { "Version" } th scope="col" { "Type" } th scope="col" { "Error" } th scope="col" { "Attempts" } th scope="col" { "Parked" } th scope="col" { "Replay" } } }
                        tbody {
                            @for parked in live.parked {
                                tr.parked-event data-aggregate=(parked.aggregate_id) {
                                    td { a href=(format!("{}?at={}#v{}", aggregate_link(live.aggregate_type, parked.aggregate_id.as_str()), parked.version, parked.version)) { (parked.aggregate_id) } }
                                    td { (parked.version) }
                                    td { (parked.event_type) }
                                    td.error { (parked.error) }
                                    td { (parked.attempts) }
                                    td { (time(parked.parked_at)) }
                                    td {
                                        @match live.form_token {
                                            Some(token) => {
                                                form method="post" action=(format!("projections/{}/replay", encode(live.name))) {
                                                    input type="hidden" name="aggregate_id" value=(parked.aggregate_id);
                                                    input type="hidden" name="form_token" value=(token);
                                                    button.replay type="submit" { "Replay" }
                                                }
                                            }
                                            None if live.actions => { a href="login" { "Log in to replay" } }
                                            None => { "read-only" }
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
}

/// A projection's views: one by key, or a page of them.
#[derive(Debug)]
pub(crate) struct ViewsPage<'a> {
    pub(crate) name: &'a str,
    pub(crate) keyed: bool,
    pub(crate) key: Option<&'a str>,
    pub(crate) views: &'a [ShownView],
    pub(crate) next: Option<&'a str>,
}

pub(crate) fn views(page: &ViewsPage<'_>) -> Markup {
    let base = format!("projections/{}/views", encode(page.name));
    html! {
        h1 { "Views of " (page.name) }
        form.view-key action=(base) method="get" {
            label for="key" { @if page.keyed { "View key" } @else { "Aggregate id" } }
            input #key name="key" value=(page.key.unwrap_or_default());
            button type="submit" { "Show" }
        }
        @if let Some(key) = page.key {
            @if page.views.is_empty() { p.message { "No view under " q { (key) } "." } }
        }
        @for view in page.views {
            section.view data-key=(view.key) {
                h2 { (view.key) }
                p { "Version " span data-view-version=(view.version) { (view.version) } ", updated " (optional_time(view.updated_at)) }
                pre.json { (json(&view.view)) }
            }
        }
        @if let Some(next) = page.next {
            nav.pager aria-label="Views" { a rel="next" href=(link(&base, &[("cursor", next)])) { "More →" } }
        }
    }
}

/// The form that exchanges the token for a session.
pub(crate) fn login(refused: bool) -> Markup {
    html! {
        h1 { "Log in to act" }
        @if refused { p.flag role="alert" { "That is not the explorer's token." } }
        form method="post" action="login" {
            label for="token" { "Token" }
            input #token type="password" name="token" autocomplete="off" required;
            button type="submit" { "Log in" }
        }
    }
}
