//! Reports through the API, as `keepwatch report` and `keepwatch report
//! test` make them on the command line: `GET /api/v1/report` writes the
//! report of a period in a format, and `POST /api/v1/reports/{name}/send`
//! sends one of the config's `[[report]]`s now.
//!
//! Reading a report is reading, so any token may ask for one (a manager's
//! viewer token is what it is for); sending one (mail goes out) needs an
//! admin token. A report reads weeks of history, so it is bounded: at most
//! [`MAX_DAYS`] days, one report at a time (a second request meanwhile gets
//! 429), made on a blocking thread with a database connection of its own,
//! so neither the agent nor the rest of the API waits for it.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::{Admin, Viewer};
use super::error::{ApiError, ErrorBody};
use crate::report::{self, Audience};
use crate::store::Store;

/// The longest period one report may cover: a quarter. Longer ones are made
/// on the computer itself with `keepwatch report --from --to`.
pub const MAX_DAYS: i64 = 92;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(make_report))
        .routes(routes!(send_report))
}

/// The formats a report comes in.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// One HTML page, charts included.
    #[default]
    Html,
    /// Plain text.
    Text,
    /// PDF, for printing and attaching.
    Pdf,
}

/// Who a report is for.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReportAudience {
    /// Managers: plain words, colours, what the outages cost.
    #[default]
    Executive,
    /// The admin: the same, and the numbers behind it.
    Technical,
}

/// Which period, in which format, for whom.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// A named period: `today`, `yesterday`, `this-week`, `last-week`,
    /// `this-month`, `last-month` or `last-30-days` (in the business time
    /// zone); default `this-week`. Or give `from` and `to` instead.
    pub period: Option<String>,
    /// The first day, e.g. `2026-11-01` (with `to`; both days included).
    pub from: Option<String>,
    /// The last day, e.g. `2026-11-30`.
    pub to: Option<String>,
    /// `html` (default), `text` or `pdf`.
    #[serde(default)]
    pub format: ReportFormat,
    /// `executive` (default) or `technical`.
    #[serde(default)]
    pub audience: ReportAudience,
}

/// One request for a report at a time: the next gets 429 meanwhile.
fn one_at_a_time(state: &ApiState) -> Result<OwnedSemaphorePermit, ApiError> {
    state.reports.clone().try_acquire_owned().map_err(|_| {
        ApiError::too_many(
            "a report is being made already",
            "try again in a few seconds; reports are made one at a time",
        )
    })
}

/// Runs `work` on a blocking thread with a database connection of its own
/// (a report reads for a while; the API's own connection stays free).
async fn with_own_store<T: Send + 'static>(
    state: &ApiState,
    work: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (path, storage) = (state.database.clone(), state.full_config.storage.clone());
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&path, &storage)?;
        work(&store)
    })
    .await
    .map_err(|err| ApiError::internal(format!("making the report failed: {err}")))?
}

/// A period problem in the words of this API's parameters rather than the
/// command line's flags.
fn period_problem(message: String) -> ApiError {
    let message = ["period", "from", "to"].iter().fold(message, |text, name| {
        text.replace(&format!("--{name}"), &format!("`{name}`"))
    });
    ApiError::bad_request(
        message,
        "e.g. ?period=last-month, or ?from=2026-11-01&to=2026-11-30",
    )
}

/// The report of a period (any token: reading a report is reading). Made
/// one at a time; at most 92 days.
#[utoipa::path(get, path = "/api/v1/report", params(ReportQuery), responses(
    (status = 200, description = "The report, as a file in the format asked for", content(
        (String = "text/html; charset=utf-8"),
        (String = "text/plain; charset=utf-8"),
        (String = "application/pdf"),
    )),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
async fn make_report(
    State(state): State<ApiState>,
    _: Viewer,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let tz = state.calendar.time_zone().clone();
    let period = report::period_for(
        query.period.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
        now,
        &tz,
    )
    .map_err(period_problem)?;
    if period.days() > MAX_DAYS {
        return Err(ApiError::bad_request(
            format!(
                "the period is {} days long; the API makes reports of at most {MAX_DAYS} days",
                period.days()
            ),
            "ask for a shorter period, or run `keepwatch report --from ... --to ...` on the computer",
        ));
    }
    let _permit = one_at_a_time(&state)?;
    let (format, content_type, extension) = match query.format {
        ReportFormat::Html => (report::Format::Html, "text/html; charset=utf-8", "html"),
        ReportFormat::Text => (report::Format::Text, "text/plain; charset=utf-8", "txt"),
        ReportFormat::Pdf => (report::Format::Pdf, "application/pdf", "pdf"),
    };
    let audience = match query.audience {
        ReportAudience::Executive => Audience::Executive,
        ReportAudience::Technical => Audience::Technical,
    };
    let file = format!(
        "keepwatch-report-{}-to-{}.{extension}",
        period.first,
        period.end.yesterday().unwrap_or(period.end)
    );
    let shared = state.clone();
    let bytes = with_own_store(&state, move |store| {
        let previous = period.previous(&tz).ok();
        let inputs = report::Inputs {
            store,
            config: &shared.full_config,
            calendar: &shared.calendar,
            period,
            previous,
            now,
            audience,
        };
        let model = report::build(&inputs).map_err(|err| match err {
            report::ReportError::Future { .. } => period_problem(err.to_string()),
            other => ApiError::internal(other.to_string()),
        })?;
        report::render(&model, format).map_err(ApiError::internal)
    })
    .await?;
    Ok((
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_DISPOSITION, format!("inline; filename=\"{file}\"")),
        ],
        bytes,
    )
        .into_response())
}

/// A scheduled report sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentReport {
    /// The report, as keepwatch names it.
    pub report: String,
    /// Its subject line.
    pub subject: String,
    /// Where it went.
    pub to: String,
}

/// Makes one of the config's `[[report]]`s (by its `name`, or its `every`)
/// for the period it would cover now and sends it at once, as `keepwatch
/// report test NAME` does (admin). The answer says whether the channel
/// took it.
#[utoipa::path(post, path = "/api/v1/reports/{name}/send", params(("name" = String, Path)), responses(
    (status = 200, body = SentReport),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody, description = "No `[[report]]` by that name"),
    (status = 409, body = ErrorBody, description = "The report cannot be made with the current config"),
    (status = 429, body = ErrorBody),
    (status = 502, body = ErrorBody, description = "The channel did not take it"),
))]
async fn send_report(
    State(state): State<ApiState>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<Json<SentReport>, ApiError> {
    let config = &state.full_config;
    if !config
        .reports
        .iter()
        .any(|t| t.name == name || t.every.trim() == name.trim())
    {
        let known: Vec<String> = config.reports.iter().map(|t| t.title()).collect();
        return Err(ApiError::not_found(
            format!("no [[report]] is named {name:?}"),
            match known.is_empty() {
                true => "no report is set up: add a [[report]] to the config file".to_owned(),
                false => format!("the reports are: {}", known.join(", ")),
            },
        ));
    }
    let _permit = one_at_a_time(&state)?;
    let now = state.clock.now();
    let shared = state.clone();
    let made = with_own_store(&state, move |store| {
        report::schedule::make_now(
            store,
            &shared.full_config,
            &shared.calendar,
            Some(&name),
            now,
        )
        .map_err(|err| ApiError::conflict(err, "fix the [[report]] in the config file"))
    })
    .await?;
    let Some((table, made)) = made.into_iter().next() else {
        return Err(ApiError::internal("the report was not made"));
    };
    let (channel, message) =
        made.map_err(|err| ApiError::conflict(err, "fix the [[report]] in the config file"))?;
    let to = report::schedule::recipients(&table, &channel);
    let subject = message.subject.clone();
    let sent = crate::notify::send_each(vec![(channel, message)], state.clock.clone()).await;
    match sent.into_iter().next() {
        Some(Ok(())) => Ok(Json(SentReport {
            report: table.title(),
            subject,
            to,
        })),
        Some(Err(err)) => Err(ApiError::bad_gateway(
            format!(
                "{} could not be sent to {to}: {}",
                table.title(),
                err.reason
            ),
            "`keepwatch test` on the computer tries every channel and says what is wrong",
        )),
        None => Err(ApiError::internal("the report was not sent")),
    }
}
