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

use crate::auth::{from_another_site, same_site, Refusal, SESSION_COOKIE};
use crate::catalog::RECENT_MINUTES;
use crate::diff::diff;
use crate::error::{Error, Result};
use crate::explorer::{Explorer, Inner};
use crate::pages::aggregate::{AggregatePage, SnapshotCheck};
use crate::pages::overview::{Found, TypePage, TypeSummary};
use crate::pages::projections::{Live, ViewsPage};
use crate::pages::{self, aggregate_link, Cost};
use crate::registry::{AggregateSource, ProjectionSource, States};

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
async fn page(base: &str, work: impl Future<Output = Result<Rendered>>) -> Response {
    let (rendered, usage) = dynago::telemetry::measure_usage(work).await;
    match rendered {
        Ok(rendered) => {
            let cost = Cost {
                usage,
                cached: rendered.cached,
            };
            Html(pages::layout(base, &rendered.title, &cost, rendered.content).into_string())
                .into_response()
        }
        Err(error) => error_page(base, &error, usage),
    }
}

fn error_page(base: &str, error: &Error, usage: Usage) -> Response {
    let status = match error {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::BadRequest(_) | Error::Store(dynago_es::Error::InvalidAggregateType(_)) => {
            StatusCode::BAD_REQUEST
        }
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
        Html(pages::layout(base, "Error", &cost, content).into_string()),
    )
        .into_response()
}

fn refused(base: &str, refusal: Refusal) -> Response {
    let status = match refusal {
        Refusal::Disabled => StatusCode::NOT_FOUND,
        _ => StatusCode::FORBIDDEN,
    };
    let content = pages::message("Refused", refusal.message());
    (
        status,
        Html(pages::layout(base, "Refused", &Cost::default(), content).into_string()),
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
        .layer(axum::middleware::from_fn_with_state(
            explorer.clone(),
            known_host,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(explorer)
}

/// Answers only requests addressed to this explorer's hosts: a page of
/// another site whose name was pointed at this machine gets nothing.
async fn known_host(
    State(explorer): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // One Host, and one of this explorer's: two would let the check read
    // one and a proxy or a handler the other.
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().unwrap_or_default(),
        _ => "",
    };
    if explorer.inner.options.answers(host) {
        return next.run(request).await;
    }
    let content = pages::message(
        "Unknown host",
        "this explorer answers requests addressed to localhost and the hosts it was told to allow (ExplorerOptions::allow_host)",
    );
    (
        StatusCode::MISDIRECTED_REQUEST,
        Html(
            pages::layout(
                &explorer.inner.options.base_path,
                "Unknown host",
                &Cost::default(),
                content,
            )
            .into_string(),
        ),
    )
        .into_response()
}

/// Headers that keep the pages' content inert whatever it holds: only the
/// explorer's own scripts run, nothing is framed, nothing leaks.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'",
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
    let base = explorer.inner.options.base_path.clone();
    page(&base, async move {
        let inner = &explorer.inner;
        let now_minute = Utc::now().timestamp().div_euclid(60);
        let first_minute = now_minute - RECENT_MINUTES + 1;
        let mut summaries = Vec::new();
        // The oldest of the catalogs shown, and what reading them all cost.
        let mut cached: Option<(DateTime<Utc>, Usage)> = None;
        for source in inner.aggregates.values() {
            let read = inner.catalog(source.as_ref()).await?;
            cached = Some(match cached {
                None => (read.read_at, read.usage),
                Some((at, mut usage)) => {
                    usage += read.usage;
                    (at.min(read.read_at), usage)
                }
            });
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
    let base = explorer.inner.options.base_path.clone();
    page(&base, async move {
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
    let base = explorer.inner.options.base_path.clone();
    page(&base, async move {
        aggregate_page(&explorer.inner, &aggregate_type, &id, &query).await
    })
    .await
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
    let (mut changes, mut at, mut unfolded) = (None, None, None);
    let mut snapshot = inspector
        .snapshot(aggregate_type, &aggregate_id)
        .await?
        .map(|stored| SnapshotCheck {
            stored,
            replayed: None,
        });
    if let Some(source) = source {
        let wanted = query.at.unwrap_or(to);
        let folded = fold(source.as_ref(), &aggregate_id, from, to, wanted, &events).await;
        // The snapshot is held against the events' state at its version:
        // the page's own when the page holds it, else replayed.
        let checked = match (&mut snapshot, &folded) {
            (Some(check), Ok((_, _, states))) => {
                state_at(source.as_ref(), &aggregate_id, states, check.stored.version)
                    .await
                    .map(|replayed| check.replayed = Some(replayed))
            }
            (Some(check), Err(_)) => source
                .replayed(aggregate_id.clone(), check.stored.version)
                .await
                .map(|replayed| check.replayed = Some(replayed)),
            (None, _) => Ok(()),
        };
        match folded.and_then(|folded| checked.map(|()| folded)) {
            Ok((changed, state, _)) => {
                changes = Some(changed);
                at = Some(state);
            }
            Err(error) if error.is_unfoldable() => unfolded = Some(error.to_string()),
            Err(error) => return Err(error),
        }
    }
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
        unfolded,
    });
    Ok(Rendered::new(format!("{aggregate_type} {id}"), content))
}

/// The state at `version`, from `states` when it is among them, else
/// replayed from the events (which must reach it).
async fn state_at(
    source: &dyn AggregateSource,
    id: &AggregateId,
    states: &States,
    version: u64,
) -> Result<(u64, serde_json::Value)> {
    if let Some(found) = states.at(version) {
        return Ok(found.clone());
    }
    source.replayed(id.clone(), version).await
}

/// What each event of the page changed, the state at `wanted`, and the
/// states of the page, all folded from the events alone.
async fn fold(
    source: &dyn AggregateSource,
    id: &AggregateId,
    from: u64,
    to: u64,
    wanted: u64,
    events: &[dynago_es::StoredEvent],
) -> Result<(
    Vec<Vec<crate::diff::Change>>,
    (u64, serde_json::Value),
    States,
)> {
    let states = source.states(id.clone(), from, to).await?;
    let mut before = &states.before.1;
    let mut changed = Vec::with_capacity(events.len());
    for event in events {
        let (_, after) = states
            .after
            .iter()
            .find(|(version, _)| *version == event.version)
            .ok_or_else(|| Error::Unfoldable(format!("version {} did not fold", event.version)))?;
        changed.push(diff(before, after));
        before = after;
    }
    let state = state_at(source, id, &states, wanted).await?;
    if state.0 != wanted {
        return Err(Error::Unfoldable(format!(
            "the events stop at version {} before version {wanted}",
            state.0
        )));
    }
    Ok((changed, state, states))
}

#[derive(Debug, Deserialize)]
struct OpenQuery {
    #[serde(rename = "type")]
    aggregate_type: String,
    id: String,
}

async fn open(State(explorer): Shared, Query(query): Query<OpenQuery>) -> Redirect {
    // Exactly as given: an id may begin or end with a space.
    let base = &explorer.inner.options.base_path;
    Redirect::to(&format!(
        "{base}/{}",
        aggregate_link(&query.aggregate_type, &query.id)
    ))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    scan: Option<String>,
}

async fn search(
    State(explorer): Shared,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    let base = explorer.inner.options.base_path.clone();
    page(&base, async move {
        let inner = &explorer.inner;
        // Exactly as given: an id may begin or end with a space.
        let text = query.q.as_str();
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
        // A scan reads the whole table: only when asked from these pages (or
        // by a client that is not a browser), never for another site's link.
        if let (Some(commit), Some("commit")) = (found.commit_id, query.scan.as_deref()) {
            if from_another_site(&headers) {
                return Err(Error::BadRequest(
                    "a scan for a commit is run from the explorer's own search page, not from another site's link".into(),
                ));
            }
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
    signature: Option<String>,
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
    let base = explorer.inner.options.base_path.clone();
    page(&base, async move {
        let inner = &explorer.inner;
        let mut sections = Vec::new();
        for projection in inner.projections.values() {
            sections.push(live_section(inner, projection.as_ref(), &headers).await?);
        }
        // Shown only as the explorer's own report of a replay.
        let flash = match (&inner.secret, &query.flash, &query.signature) {
            (Some(secret), Some(flash), Some(signature)) if secret.signed(flash, signature) => {
                Some(flash.as_str())
            }
            _ => None,
        };
        Ok(Rendered::new(
            "Projections",
            pages::projections::page(&sections, flash),
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
        Err(error) => error_page(&inner.options.base_path, &error, Usage::default()),
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
    let base = explorer.inner.options.base_path.clone();
    page(&base, async move {
        let inner = &explorer.inner;
        let source = projection(inner, &name)?;
        // Exactly as given: a key may begin or end with a space.
        let key = query.key.as_deref().filter(|k| !k.is_empty());
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
        return refused(&explorer.inner.options.base_path, Refusal::Disabled);
    };
    if let Err(refusal) = secret.authorize(&headers, &form.form_token) {
        return refused(&inner.options.base_path, refusal);
    }
    let source = match projection(inner, &name) {
        Ok(source) => source,
        Err(error) => return error_page(&inner.options.base_path, &error, Usage::default()),
    };
    let id = form.aggregate_id.as_str();
    tracing::info!(projection = %name, aggregate = id, "replaying parked events from the explorer");
    match source.replay(AggregateId::new(id)).await {
        Ok(outcome) => {
            let flash = format!("Replayed {id} in {name}: {outcome}");
            let signature = secret.sign(&flash);
            Redirect::to(&format!(
                "{}#projection-{}",
                pages::link(
                    &format!("{}/projections", inner.options.base_path),
                    &[("flash", &flash), ("signature", &signature)]
                ),
                pages::encode(&name)
            ))
            .into_response()
        }
        Err(error) => error_page(&inner.options.base_path, &error, Usage::default()),
    }
}

async fn login_form(State(explorer): Shared) -> Response {
    if explorer.inner.secret.is_none() {
        return refused(&explorer.inner.options.base_path, Refusal::Disabled);
    }
    let base = &explorer.inner.options.base_path;
    Html(
        pages::layout(
            base,
            "Log in",
            &Cost::default(),
            pages::projections::login(false),
        )
        .into_string(),
    )
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
        return refused(&explorer.inner.options.base_path, Refusal::Disabled);
    };
    if !same_site(&headers) {
        return refused(&explorer.inner.options.base_path, Refusal::CrossSite);
    }
    if !secret.is_token(&form.token) {
        let base = &explorer.inner.options.base_path;
        let page = pages::layout(
            base,
            "Log in",
            &Cost::default(),
            pages::projections::login(true),
        );
        return (StatusCode::UNAUTHORIZED, Html(page.into_string())).into_response();
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path={}/; Max-Age=43200",
        secret.session(),
        explorer.inner.options.base_path
    );
    let base = &explorer.inner.options.base_path;
    let mut response = Redirect::to(&format!("{base}/projections")).into_response();
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
