//! The HTTP face: each route reads what its page shows, measures what that
//! cost, and renders it.

use std::collections::BTreeSet;
use std::future::Future;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use dynago::telemetry::Usage;
use dynago_es::{AggregateId, CommandId};
use maud::Markup;
use serde::Deserialize;

use crate::auth::{same_site, Refusal, SESSION_COOKIE};
use crate::catalog::RECENT_MINUTES;
use crate::diff::diff;
use crate::error::{Error, Result};
use crate::explorer::{Explorer, Inner};
use crate::pages::aggregate::{AggregatePage, SnapshotCheck};
use crate::pages::overview::{Found, TypePage, TypeSummary};
use crate::pages::projections::{Live, ViewsPage};
use crate::pages::{self, aggregate_link, Cost};
use crate::registry::ProjectionSource;

type Shared = State<Explorer>;

/// What a page's work gives: its title, its content, and the catalog it
/// showed from the cache, if it did.
struct Rendered {
    title: String,
    content: Markup,
    cached: Option<(DateTime<Utc>, Usage)>,
}

impl Rendered {
    fn new(title: impl Into<String>, content: Markup) -> Self {
        Self {
            title: title.into(),
            content,
            cached: None,
        }
    }
}

/// Runs a page's work, measuring the requests it sends, and frames it.
async fn page(work: impl Future<Output = Result<Rendered>>) -> Response {
    let (rendered, usage) = dynago::telemetry::measure_usage(work).await;
    match rendered {
        Ok(rendered) => {
            let cost = Cost {
                usage,
                cached: rendered.cached,
            };
            Html(pages::layout(&rendered.title, &cost, rendered.content).into_string())
                .into_response()
        }
        Err(error) => error_page(&error, usage),
    }
}

fn error_page(error: &Error, usage: Usage) -> Response {
    let status = match error {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        e if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::warn!(%error, "explorer page failed");
    }
    let cost = Cost {
        usage,
        cached: None,
    };
    let content = pages::message(
        status.canonical_reason().unwrap_or("Error"),
        &error.to_string(),
    );
    (
        status,
        Html(pages::layout("Error", &cost, content).into_string()),
    )
        .into_response()
}

fn refused(refusal: Refusal) -> Response {
    let status = match refusal {
        Refusal::Disabled => StatusCode::NOT_FOUND,
        _ => StatusCode::FORBIDDEN,
    };
    let content = pages::message("Refused", refusal.message());
    (
        status,
        Html(pages::layout("Refused", &Cost::default(), content).into_string()),
    )
        .into_response()
}

/// The explorer's routes.
pub(crate) fn router(explorer: Explorer) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/types/{aggregate_type}", get(type_page))
        .route("/aggregates/{aggregate_type}/{id}", get(aggregate))
        .route("/open", get(open))
        .route("/search", get(search))
        .route("/projections", get(projections))
        .route("/projections/{name}/live", get(projection_live))
        .route("/projections/{name}/views", get(views))
        .route("/projections/{name}/replay", axum::routing::post(replay))
        .route("/login", get(login_form).post(login))
        .route("/assets/{file}", get(asset))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(explorer)
}

/// Headers that keep the pages' content inert whatever it holds: only the
/// explorer's own scripts run, nothing is framed, nothing leaks.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn overview(State(explorer): Shared) -> Response {
    page(async move {
        let inner = &explorer.inner;
        let now_minute = Utc::now().timestamp().div_euclid(60);
        let first_minute = now_minute - RECENT_MINUTES + 1;
        let mut summaries = Vec::new();
        let mut cached = None;
        for source in inner.aggregates.values() {
            let read = inner.catalog(source.as_ref()).await?;
            cached = Some((read.read_at, read.usage));
            let mut per_minute = vec![0u64; usize::try_from(RECENT_MINUTES).unwrap_or(60)];
            for listed in read.listed.iter() {
                for &(minute, count) in &listed.entry.minutes {
                    if let Ok(slot) = usize::try_from(minute - first_minute) {
                        if let Some(slot) = per_minute.get_mut(slot) {
                            *slot += u64::from(count);
                        }
                    }
                }
            }
            summaries.push(TypeSummary {
                aggregate_type: source.aggregate_type(),
                aggregates: read.listed.len(),
                events: read.listed.iter().map(|l| l.version).sum(),
                first_minute,
                per_minute,
            });
        }
        Ok(Rendered {
            cached,
            ..Rendered::new("Overview", pages::overview::overview(&summaries))
        })
    })
    .await
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    page: Option<usize>,
}

async fn type_page(
    State(explorer): Shared,
    Path(aggregate_type): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    page(async move {
        let inner = &explorer.inner;
        let source = inner
            .aggregates
            .get(aggregate_type.as_str())
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "the aggregate type `{aggregate_type}` is not registered with this explorer"
                ))
            })?;
        let read = inner.catalog(source.as_ref()).await?;
        let size = inner.options.page_size as usize;
        let pages = read.listed.len().div_ceil(size).max(1);
        let number = query.page.unwrap_or(1);
        if number == 0 || number > pages {
            return Err(Error::BadRequest(format!(
                "page {number} of {pages}: pages are numbered from 1"
            )));
        }
        let start = (number - 1) * size;
        let rows = &read.listed[start..(start + size).min(read.listed.len())];
        let content = pages::overview::type_page(&TypePage {
            aggregate_type: source.aggregate_type(),
            total: read.listed.len(),
            page: number,
            pages,
            rows,
        });
        Ok(Rendered {
            cached: Some((read.read_at, read.usage)),
            ..Rendered::new(format!("{aggregate_type} aggregates"), content)
        })
    })
    .await
}

#[derive(Debug, Deserialize)]
struct AggregateQuery {
    from: Option<u64>,
    at: Option<u64>,
}

async fn aggregate(
    State(explorer): Shared,
    Path((aggregate_type, id)): Path<(String, String)>,
    Query(query): Query<AggregateQuery>,
) -> Response {
    page(async move { aggregate_page(&explorer.inner, &aggregate_type, &id, &query).await }).await
}

async fn aggregate_page(
    inner: &Inner,
    aggregate_type: &str,
    id: &str,
    query: &AggregateQuery,
) -> Result<Rendered> {
    let aggregate_id = AggregateId::new(id);
    let inspector = &inner.inspector;
    let last = inspector
        .last_version(aggregate_type, &aggregate_id)
        .await?;
    if last == 0 {
        return Err(Error::NotFound(format!(
            "no event of the aggregate {aggregate_type} {id}"
        )));
    }
    let size = u64::from(inner.options.page_size);
    if let Some(at) = query.at.filter(|&at| at > last) {
        return Err(Error::BadRequest(format!(
            "version {at} asked, the aggregate's last is {last}"
        )));
    }
    let from = match (query.from, query.at) {
        (Some(from), _) => from.clamp(1, last),
        (None, Some(at)) => (at.max(1) - 1) / size * size + 1,
        (None, None) => last.saturating_sub(size - 1).max(1),
    };
    let to = from.saturating_add(size - 1).min(last);
    let events = inspector
        .events(aggregate_type, &aggregate_id, from..=to)
        .await?;
    let source = inner.aggregates.get(aggregate_type);
    let (mut changes, mut at) = (None, None);
    if let Some(source) = source {
        let states = source.states(aggregate_id.clone(), from, to).await?;
        let mut before = &states.before.1;
        let mut changed = Vec::with_capacity(events.len());
        for event in &events {
            match states
                .after
                .iter()
                .find(|(version, _)| *version == event.version)
            {
                Some((_, after)) => {
                    changed.push(diff(before, after));
                    before = after;
                }
                None => changed.push(Vec::new()),
            }
        }
        changes = Some(changed);
        let wanted = query.at.unwrap_or(to);
        at = Some(if wanted == states.before.0 {
            states.before.clone()
        } else if let Some(found) = states.after.iter().find(|(v, _)| *v == wanted) {
            found.clone()
        } else {
            source
                .states(aggregate_id.clone(), wanted.saturating_add(1), wanted)
                .await?
                .before
        });
    }
    let snapshot = match inspector.snapshot(aggregate_type, &aggregate_id).await? {
        Some(stored) => {
            let replayed = match source {
                Some(source) => Some(
                    source
                        .replayed(aggregate_id.clone(), stored.version)
                        .await?
                        .1,
                ),
                None => None,
            };
            Some(SnapshotCheck { stored, replayed })
        }
        None => None,
    };
    let command_ids: BTreeSet<&str> = events
        .iter()
        .filter_map(|event| event.metadata.command_id.as_deref())
        .collect();
    let mut commands = Vec::new();
    for command_id in command_ids {
        if let Some(record) = inspector
            .command(aggregate_type, &CommandId::new(command_id))
            .await?
        {
            commands.push(record);
        }
    }
    let content = pages::aggregate::aggregate(&AggregatePage {
        aggregate_type,
        id,
        registered: source.is_some(),
        last_version: last,
        from,
        to,
        page_size: size,
        events: &events,
        changes,
        at,
        snapshot,
        commands: &commands,
    });
    Ok(Rendered::new(format!("{aggregate_type} {id}"), content))
}

#[derive(Debug, Deserialize)]
struct OpenQuery {
    #[serde(rename = "type")]
    aggregate_type: String,
    id: String,
}

async fn open(Query(query): Query<OpenQuery>) -> Redirect {
    Redirect::to(&aggregate_link(
        query.aggregate_type.trim(),
        query.id.trim(),
    ))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    scan: Option<String>,
}

async fn search(State(explorer): Shared, Query(query): Query<SearchQuery>) -> Response {
    page(async move {
        let inner = &explorer.inner;
        let text = query.q.trim();
        if text.is_empty() {
            return Err(Error::BadRequest(
                "nothing to find: give an aggregate id, a command id or a commit id".into(),
            ));
        }
        let mut found = Found::default();
        for source in inner.aggregates.values() {
            let aggregate_type = source.aggregate_type();
            let id = AggregateId::new(text);
            let last = inner.inspector.last_version(aggregate_type, &id).await?;
            if last > 0 {
                found
                    .aggregates
                    .push((aggregate_type, text.to_owned(), last));
            }
            if let Some(record) = inner
                .inspector
                .command(aggregate_type, &CommandId::new(text))
                .await?
            {
                found.commands.push(record);
            }
        }
        found.commit_id = uuid::Uuid::parse_str(text).ok();
        if let (Some(commit), Some("commit")) = (found.commit_id, query.scan.as_deref()) {
            found.commit_events = Some(inner.inspector.find_commit(commit).await?);
        }
        Ok(Rendered::new(
            format!("Find {text}"),
            pages::overview::search(text, &found),
        ))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct FlashQuery {
    flash: Option<String>,
}

async fn live_section(
    inner: &Inner,
    projection: &dyn ProjectionSource,
    headers: &HeaderMap,
) -> Result<Markup> {
    let leases = projection.leases().await?;
    let parked = projection.parked().await?;
    inner.record_lag(projection.name(), &leases);
    let history = inner.history.of(projection.name());
    let form_token = inner
        .secret
        .as_ref()
        .filter(|secret| secret.has_session(headers))
        .map(crate::auth::Secret::form_token);
    Ok(pages::projections::live(&Live {
        name: projection.name(),
        aggregate_type: projection.aggregate_type(),
        leases: &leases,
        parked: &parked,
        history: &history,
        now: Utc::now(),
        form_token: form_token.as_deref(),
        actions: inner.secret.is_some(),
    }))
}

async fn projections(
    State(explorer): Shared,
    headers: HeaderMap,
    Query(query): Query<FlashQuery>,
) -> Response {
    page(async move {
        let inner = &explorer.inner;
        let mut sections = Vec::new();
        for projection in inner.projections.values() {
            sections.push(live_section(inner, projection.as_ref(), &headers).await?);
        }
        Ok(Rendered::new(
            "Projections",
            pages::projections::page(&sections, query.flash.as_deref()),
        ))
    })
    .await
}

fn projection<'a>(inner: &'a Inner, name: &str) -> Result<&'a dyn ProjectionSource> {
    inner
        .projections
        .get(name)
        .map(AsRef::as_ref)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "the projection `{name}` is not registered with this explorer"
            ))
        })
}

/// A projection's section alone, for the page to swap in every two
/// seconds.
async fn projection_live(
    State(explorer): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let inner = &explorer.inner;
    let work = async {
        let source = projection(inner, &name)?;
        live_section(inner, source, &headers).await
    };
    match work.await {
        Ok(section) => Html(section.into_string()).into_response(),
        Err(error) => error_page(&error, Usage::default()),
    }
}

#[derive(Debug, Deserialize)]
struct ViewsQuery {
    key: Option<String>,
    cursor: Option<String>,
}

async fn views(
    State(explorer): Shared,
    Path(name): Path<String>,
    Query(query): Query<ViewsQuery>,
) -> Response {
    page(async move {
        let inner = &explorer.inner;
        let source = projection(inner, &name)?;
        let key = query
            .key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let (views, next) = match key {
            Some(key) => (
                source.view(key.to_owned()).await?.into_iter().collect(),
                None,
            ),
            None => {
                source
                    .views(query.cursor.clone(), inner.options.page_size)
                    .await?
            }
        };
        let content = pages::projections::views(&ViewsPage {
            name: source.name(),
            keyed: source.keyed(),
            key,
            views: &views,
            next: next.as_deref(),
        });
        Ok(Rendered::new(format!("Views of {name}"), content))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct ReplayForm {
    aggregate_id: String,
    #[serde(default)]
    form_token: String,
}

async fn replay(
    State(explorer): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ReplayForm>,
) -> Response {
    let inner = &explorer.inner;
    let Some(secret) = &inner.secret else {
        return refused(Refusal::Disabled);
    };
    if let Err(refusal) = secret.authorize(&headers, &form.form_token) {
        return refused(refusal);
    }
    let source = match projection(inner, &name) {
        Ok(source) => source,
        Err(error) => return error_page(&error, Usage::default()),
    };
    let id = form.aggregate_id.trim();
    tracing::info!(projection = %name, aggregate = id, "replaying parked events from the explorer");
    match source.replay(AggregateId::new(id)).await {
        Ok(outcome) => {
            let flash = format!("Replayed {id} in {name}: {outcome}");
            Redirect::to(&format!(
                "{}#projection-{}",
                pages::link("/projections", &[("flash", &flash)]),
                pages::encode(&name)
            ))
            .into_response()
        }
        Err(error) => error_page(&error, Usage::default()),
    }
}

async fn login_form(State(explorer): Shared) -> Response {
    if explorer.inner.secret.is_none() {
        return refused(Refusal::Disabled);
    }
    Html(pages::layout("Log in", &Cost::default(), pages::projections::login(false)).into_string())
        .into_response()
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(explorer): Shared,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(secret) = &explorer.inner.secret else {
        return refused(Refusal::Disabled);
    };
    if !same_site(&headers) {
        return refused(Refusal::CrossSite);
    }
    if !secret.is_token(&form.token) {
        let page = pages::layout("Log in", &Cost::default(), pages::projections::login(true));
        return (StatusCode::UNAUTHORIZED, Html(page.into_string())).into_response();
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        secret.session()
    );
    let mut response = Redirect::to("/projections").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The vendored scripts and styles, served from the binary: nothing is
/// fetched from elsewhere.
async fn asset(Path(file): Path<String>) -> Response {
    let (kind, body): (&str, &'static [u8]) = match file.as_str() {
        "htmx.min.js" => ("text/javascript", include_bytes!("../assets/htmx.min.js")),
        "uPlot.iife.min.js" => (
            "text/javascript",
            include_bytes!("../assets/uPlot.iife.min.js"),
        ),
        "uPlot.min.css" => ("text/css", include_bytes!("../assets/uPlot.min.css")),
        "explorer.js" => ("text/javascript", include_bytes!("../assets/explorer.js")),
        "explorer.css" => ("text/css", include_bytes!("../assets/explorer.css")),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
