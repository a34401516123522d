//! The endpoints under `/api/v1` and `/healthz`: each reads the store through
//! its existing queries and answers with a type that the OpenAPI document
//! describes.

use axum::Json;
use axum::extract::{Path, Query, State};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::{Admin, Viewer};
use super::error::{ApiError, ErrorBody};
use crate::observation::SeriesKey;
use crate::status::{self, AlertView, Refusal, ServiceView, StatusView, WindowRequest, WindowView};
use crate::store::{self, AckError, Incident};

/// The longest range one request may ask for.
const MAX_RANGE: SignedDuration = SignedDuration::from_hours(24 * 400);
/// The most points one history answer may hold.
const MAX_POINTS: i64 = 5000;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(status_view))
        .routes(routes!(services))
        .routes(routes!(service))
        .routes(routes!(series))
        .routes(routes!(history))
        .routes(routes!(incidents))
        .routes(routes!(alerts))
        .routes(routes!(acknowledge))
        .routes(routes!(maintenance_list, maintenance_start))
        .routes(routes!(maintenance_end))
}

fn time(at: Timestamp) -> String {
    at.to_string()
}

/// Whether keepwatch answers at all.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `true` when there is an answer.
    pub ok: bool,
}

/// Answers without a token, for load balancers and uptime checks.
#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { ok: true })
}

/// How far back the services' last problems are looked for.
const LAST_PROBLEM_WITHIN: SignedDuration = SignedDuration::from_hours(24 * 30);

/// Everything at a glance: the status model `keepwatch status` shows, read on the API's connection.
#[utoipa::path(get, path = "/api/v1/status", responses(
    (status = 200, body = StatusView),
    (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn status_view(
    State(state): State<ApiState>,
    _: Viewer,
) -> Result<Json<StatusView>, ApiError> {
    let now = state.clock.now();
    let shared = state.clone();
    let status = state
        .read(move |store| {
            let mut status = StatusView::read(store, shared.sources(), now)?;
            status::add_ping_urls(
                &mut status.services,
                store,
                &shared.services,
                &shared.config,
                &shared.host,
            )?;
            Ok(status)
        })
        .await?;
    Ok(Json(status))
}

/// Every configured service with its current state.
#[utoipa::path(get, path = "/api/v1/services", responses(
    (status = 200, body = Vec<ServiceView>),
    (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn services(
    State(state): State<ApiState>,
    _: Viewer,
) -> Result<Json<Vec<ServiceView>>, ApiError> {
    let now = state.clock.now();
    let since = now.saturating_sub(LAST_PROBLEM_WITHIN).unwrap_or(now);
    let shared = state.clone();
    let views = state
        .read(move |store| {
            let statuses = store.service_statuses()?;
            let incidents = store.incidents(since, now)?;
            let mut views = status::service_views(&shared.services, &statuses, &incidents);
            status::add_ping_urls(
                &mut views,
                store,
                &shared.services,
                &shared.config,
                &shared.host,
            )?;
            Ok(views)
        })
        .await?;
    Ok(Json(views))
}

/// A time range; `to` defaults to now and `from` to a day before `to`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// Start, RFC 3339 (e.g. `2026-11-01T00:00:00Z`).
    pub from: Option<String>,
    /// End, RFC 3339.
    pub to: Option<String>,
}

impl Range {
    fn resolve(&self, now: Timestamp) -> Result<(Timestamp, Timestamp), ApiError> {
        let parse = |field: &str, text: &Option<String>| -> Result<Option<Timestamp>, ApiError> {
            text.as_deref()
                .map(|t| {
                    t.parse::<Timestamp>().map_err(|_| {
                        ApiError::bad_request(
                            format!("`{field}` = {t:?} is not a time"),
                            "write an RFC 3339 time with its offset, e.g. 2026-11-01T00:00:00Z",
                        )
                    })
                })
                .transpose()
        };
        let to = parse("to", &self.to)?.unwrap_or(now);
        let from = parse("from", &self.from)?.unwrap_or_else(|| {
            to.saturating_sub(SignedDuration::from_hours(24))
                .unwrap_or(to)
        });
        if from > to {
            return Err(ApiError::bad_request(
                "`from` is after `to`",
                "swap them, or leave `from` out for the last day",
            ));
        }
        if to.duration_since(from) > MAX_RANGE {
            return Err(ApiError::bad_request(
                "the range is longer than 400 days",
                "ask for a shorter range, in several requests if need be",
            ));
        }
        Ok((from, to))
    }
}

/// One service, with its state changes over a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceDetail {
    /// Its current state.
    #[serde(flatten)]
    pub current: ServiceView,
    /// The incidents (problem start to recovery) that overlap the range.
    pub flips: Vec<IncidentView>,
}

/// One service's state and its incidents over the range.
#[utoipa::path(get, path = "/api/v1/services/{name}", params(("name" = String, Path), Range), responses(
    (status = 200, body = ServiceDetail),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn service(
    State(state): State<ApiState>,
    _: Viewer,
    Path(name): Path<String>,
    Query(range): Query<Range>,
) -> Result<Json<ServiceDetail>, ApiError> {
    if !state.services.iter().any(|s| s.common.name == name) {
        return Err(ApiError::not_found(
            "no service by that name",
            "GET /api/v1/services lists the services",
        ));
    }
    let (from, to) = range.resolve(state.clock.now())?;
    let shared = state.clone();
    let (current, incidents) = {
        let name = name.clone();
        state
            .read(move |store| {
                let statuses = store.service_statuses()?;
                let incidents = store.incidents(from, to)?;
                let mut current = [ServiceView::new(
                    &name,
                    statuses.iter().find(|s| s.name == name),
                    &incidents,
                )];
                status::add_ping_urls(
                    &mut current,
                    store,
                    &shared.services,
                    &shared.config,
                    &shared.host,
                )?;
                let [current] = current;
                Ok((current, incidents))
            })
            .await?
    };
    Ok(Json(ServiceDetail {
        current,
        flips: incidents
            .into_iter()
            .filter(|i| i.service == name)
            .map(IncidentView::from)
            .collect(),
    }))
}

/// One stored series.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesView {
    /// The host it was measured on.
    pub host: String,
    /// What it measures, e.g. `cpu.usage`.
    pub metric: String,
    /// Which one (a disk, a core, a service); may be empty.
    pub instance: String,
}

/// Every series the store holds, for `/api/v1/history`.
#[utoipa::path(get, path = "/api/v1/series", responses(
    (status = 200, body = Vec<SeriesView>),
    (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn series(
    State(state): State<ApiState>,
    _: Viewer,
) -> Result<Json<Vec<SeriesView>>, ApiError> {
    let keys = state.read(|store| store.series()).await?;
    Ok(Json(
        keys.into_iter()
            .map(|k| SeriesView {
                host: k.host,
                metric: k.metric,
                instance: k.instance,
            })
            .collect(),
    ))
}

/// How the values inside each step become one point.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// The mean.
    #[default]
    Avg,
    /// The lowest.
    Min,
    /// The highest.
    Max,
    /// The latest.
    Last,
    /// The 95th percentile.
    P95,
}

/// Which zone the points' times are written in.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    /// UTC.
    #[default]
    Utc,
    /// The business's time zone (`[business] timezone`).
    Business,
}

/// Which series, over which range, in steps of what.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The metric, e.g. `cpu.usage` (`/api/v1/series` lists them).
    pub metric: String,
    /// The instance; default none.
    #[serde(default)]
    pub instance: String,
    /// The host; default this computer.
    pub host: Option<String>,
    /// Start, RFC 3339; default a day before `to`.
    pub from: Option<String>,
    /// End, RFC 3339; default now.
    pub to: Option<String>,
    /// Step, e.g. `5m` or `1h` (whole seconds); default: the range divided
    /// into 300 points, rounded up to a second.
    pub step: Option<String>,
    /// How values inside a step are combined.
    #[serde(default)]
    pub aggregation: Aggregation,
    /// `utc` or `business`.
    #[serde(default)]
    pub zone: Zone,
}

/// One point of history.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct Point {
    /// Start of the step (RFC 3339, in the zone asked for).
    pub at: String,
    /// The aggregated value.
    pub value: f64,
}

/// A series over a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// The step between points, in seconds.
    pub step_seconds: i64,
    /// One point per step that has values.
    pub points: Vec<Point>,
}

impl From<Aggregation> for store::Aggregation {
    fn from(how: Aggregation) -> Self {
        match how {
            Aggregation::Avg => store::Aggregation::Avg,
            Aggregation::Min => store::Aggregation::Min,
            Aggregation::Max => store::Aggregation::Max,
            Aggregation::Last => store::Aggregation::Last,
            Aggregation::P95 => store::Aggregation::P95,
        }
    }
}

/// A stored series over a range, aggregated per step.
#[utoipa::path(get, path = "/api/v1/history", params(HistoryQuery), responses(
    (status = 200, body = History),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn history(
    State(state): State<ApiState>,
    _: Viewer,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let range = Range {
        from: query.from.clone(),
        to: query.to.clone(),
    };
    let (from, to) = range.resolve(state.clock.now())?;
    let span_ms = to.as_millisecond() - from.as_millisecond();
    let step_ms = match &query.step {
        Some(text) => {
            let step: crate::units::Duration = text.parse().map_err(|err| {
                ApiError::bad_request(
                    format!("`step` = {text:?}: {err}"),
                    "write a step like \"5m\" or \"1h\"",
                )
            })?;
            i64::try_from(step.std().as_millis()).unwrap_or(i64::MAX)
        }
        // Whole seconds, as `step_seconds` says, and at most 300 points.
        None => ((span_ms / 300 + 999) / 1000 * 1000).max(1000),
    };
    if step_ms < 1000 || step_ms % 1000 != 0 {
        return Err(ApiError::bad_request(
            "`step` is not a whole number of seconds (at least one)",
            "write a step like \"5m\" or \"1h\"",
        ));
    }
    if span_ms / step_ms > MAX_POINTS {
        return Err(ApiError::bad_request(
            format!("this would be more than {MAX_POINTS} points"),
            "ask for a longer `step` or a shorter range",
        ));
    }
    let key = SeriesKey::new(
        query.host.clone().unwrap_or_else(|| state.host.clone()),
        query.metric.clone(),
        query.instance.clone(),
    );
    let how: store::Aggregation = query.aggregation.into();
    let steps = state
        .read(move |store| store.history(&key, from, to, step_ms, how))
        .await?;
    let zone = match query.zone {
        Zone::Utc => TimeZone::UTC,
        Zone::Business => state.calendar.time_zone().clone(),
    };
    let points = steps
        .into_iter()
        .filter_map(|(at_ms, value)| {
            let at = Timestamp::from_millisecond(at_ms).ok()?;
            Some(Point {
                at: at
                    .to_zoned_datetime(zone.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string(),
                value,
            })
        })
        .collect();
    Ok(Json(History {
        step_seconds: step_ms / 1000,
        points,
    }))
}

/// One incident: a problem of one service from its start to its recovery.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    /// Its number.
    pub id: i64,
    /// The service.
    pub service: String,
    /// When the problem was confirmed (RFC 3339).
    pub started: String,
    /// When it was confirmed over; absent while it lasts.
    pub ended: Option<String>,
    /// The worst state: `degraded` or `down`.
    pub state: String,
    /// The failure behind it.
    pub failure: Option<String>,
    /// Its explanation.
    pub cause: String,
}

impl From<Incident> for IncidentView {
    fn from(i: Incident) -> Self {
        IncidentView {
            id: i.id,
            service: i.service,
            started: time(i.started),
            ended: i.ended.map(time),
            state: i.state.as_str().to_owned(),
            failure: i.kind.map(|k| k.as_str().to_owned()),
            cause: i.cause,
        }
    }
}

/// Incidents that overlap the range.
#[utoipa::path(get, path = "/api/v1/incidents", params(Range), responses(
    (status = 200, body = Vec<IncidentView>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn incidents(
    State(state): State<ApiState>,
    _: Viewer,
    Query(range): Query<Range>,
) -> Result<Json<Vec<IncidentView>>, ApiError> {
    let (from, to) = range.resolve(state.clock.now())?;
    let found = state.read(move |store| store.incidents(from, to)).await?;
    Ok(Json(found.into_iter().map(IncidentView::from).collect()))
}

/// Alerts that overlap the range.
#[utoipa::path(get, path = "/api/v1/alerts", params(Range), responses(
    (status = 200, body = Vec<AlertView>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn alerts(
    State(state): State<ApiState>,
    _: Viewer,
    Query(range): Query<Range>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let now = state.clock.now();
    let (from, to) = range.resolve(now)?;
    let shared = state.clone();
    let found = state
        .read(move |store| {
            let sources = shared.sources();
            store
                .alerts_between(from, to)?
                .into_iter()
                .map(|alert| AlertView::read(store, alert, &sources, now))
                .collect()
        })
        .await?;
    Ok(Json(found))
}

/// Acknowledges an alert: escalation and reminders stop (admin).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", params(("id" = i64, Path)), responses(
    (status = 200, body = AlertView),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn acknowledge(
    State(state): State<ApiState>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<Json<AlertView>, ApiError> {
    let now = state.clock.now();
    let by = format!("API token {}", admin.name);
    let result = state
        .store
        .with(move |store| store.acknowledge(id, &by, now))
        .await?;
    match result {
        Ok(alert) => Ok(Json(AlertView::from(alert))),
        Err(AckError::Unknown(_)) => Err(ApiError::not_found(
            format!("there is no alert {id}"),
            "GET /api/v1/status lists the open alerts",
        )),
        Err(AckError::Store(err)) => Err(err.into()),
        Err(other) => Err(ApiError::conflict(other.to_string(), "nothing to do")),
    }
}

/// Maintenance windows in force or planned.
#[utoipa::path(get, path = "/api/v1/maintenance", responses(
    (status = 200, body = Vec<WindowView>),
    (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn maintenance_list(
    State(state): State<ApiState>,
    _: Viewer,
) -> Result<Json<Vec<WindowView>>, ApiError> {
    let now = state.clock.now();
    let windows = state
        .read(move |store| store.maintenance_windows(now))
        .await?;
    Ok(Json(windows.into_iter().map(WindowView::from).collect()))
}

/// A maintenance window to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWindow {
    /// How long, e.g. `30m` or `2h`.
    pub duration: String,
    /// When it starts (RFC 3339); default now.
    pub start: Option<String>,
    /// Only these services; default everything.
    #[serde(default)]
    pub services: Vec<String>,
    /// What the work is.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Starts a maintenance window: alerts are held back while it lasts (admin).
#[utoipa::path(post, path = "/api/v1/maintenance", request_body = NewWindow, responses(
    (status = 201, body = WindowView),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
    (status = 415, body = ErrorBody, description = "The body is not sent as `application/json`"),
    (status = 422, body = ErrorBody, description = "The body is JSON, but not a maintenance window"),
    (status = 429, body = ErrorBody),
))]
async fn maintenance_start(
    State(state): State<ApiState>,
    _: Admin,
    Json(window): Json<NewWindow>,
) -> Result<(axum::http::StatusCode, Json<WindowView>), ApiError> {
    let now = state.clock.now();
    let start = match &window.start {
        Some(text) => text.parse::<Timestamp>().map_err(|_| {
            ApiError::bad_request(
                format!("`start` = {text:?} is not a time"),
                "write an RFC 3339 time, e.g. 2026-11-01T22:00:00Z",
            )
        })?,
        None => now,
    };
    let request = WindowRequest {
        length: window.duration,
        start,
        services: window.services,
        reason: window.reason.unwrap_or_else(|| "maintenance".to_owned()),
    };
    let shared = state.clone();
    let started = state
        .read(move |store| Ok(status::start_window(store, &shared.services, request)))
        .await?;
    let refusal = |message: String, hint: &str| Err(ApiError::bad_request(message, hint));
    match started {
        Ok(stored) => Ok((
            axum::http::StatusCode::CREATED,
            Json(WindowView::from(stored)),
        )),
        Err(Refusal::Length(err)) => refusal(
            format!("`duration`: {err}"),
            "write a length like \"30m\" or \"2h\"",
        ),
        Err(Refusal::OutOfRange) => refusal(
            "`duration` must be above zero and at most 400 days".to_owned(),
            "write a length like \"30m\" or \"2h\"",
        ),
        Err(Refusal::UnknownService { name, .. }) => refusal(
            format!("no service is named {name:?}"),
            "GET /api/v1/services lists the services",
        ),
        Err(Refusal::EndsTooLate) => refusal(
            "the window would end after the year 9999".to_owned(),
            "start it earlier",
        ),
        Err(Refusal::Store(err)) => Err(err.into()),
    }
}

/// What ending maintenance did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ended {
    /// How many windows ended.
    pub ended: usize,
}

/// Ends a maintenance window now (admin).
#[utoipa::path(post, path = "/api/v1/maintenance/{id}/end", params(("id" = i64, Path)), responses(
    (status = 200, body = Ended),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn maintenance_end(
    State(state): State<ApiState>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Json<Ended>, ApiError> {
    let now = state.clock.now();
    let ended = state
        .read(move |store| store.end_maintenance(Some(id), now))
        .await?;
    if ended == 0 {
        return Err(ApiError::not_found(
            format!("no maintenance window {id} is in force or planned"),
            "GET /api/v1/maintenance lists them",
        ));
    }
    Ok(Json(Ended { ended }))
}
