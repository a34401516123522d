//! The heartbeat ping URLs, in the grammar people know from Healthchecks:
//! `/ping/<key>` (success), `/ping/<key>/start`, `/ping/<key>/fail` and
//! `/ping/<key>/<exit code>`, by GET, HEAD or POST (HEAD is GET without the
//! answer's body, which axum serves on every GET route; the document lists
//! GET and POST). They need no token: the
//! key is the secret, so a cron line stays a plain `curl`. A body is kept
//! as the job's log, up to [`LOG_LIMIT`] bytes (beyond: 413). Each key may
//! ping [`PINGS_PER_MINUTE`] times a minute (beyond: 429); an unknown key
//! gets 404. The ping is written on the API's own connection and the agent
//! is woken to judge it at once.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::error::{ApiError, ErrorBody};
use crate::checks::heartbeat::Signal;
use crate::checks::pings::{self, LOG_LIMIT};

/// Pings a minute one key may send: a job pings two or three times a run,
/// and even one that runs every minute stays far below.
const PINGS_PER_MINUTE: u32 = 30;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(ping))
        .routes(routes!(ping_signal))
}

/// What keepwatch recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct PingAnswer {
    /// The heartbeat service the key belongs to.
    pub service: String,
    /// `success`, `start` or `failure`.
    pub recorded: String,
    /// The exit code, for a failure that gave one.
    pub exit_code: Option<i32>,
}

/// A job reports success. A body (the job's output) is kept as its log.
#[utoipa::path(
    method(get, post),
    path = "/ping/{key}",
    security(()),
    params(("key" = String, Path, description = "The heartbeat's ping key, as `keepwatch status` shows it in its ping URL.")),
    request_body(content = String, content_type = "text/plain", description = "Optional: the job's output, kept as its log (at most 10000 bytes)."),
    responses(
        (status = 200, body = PingAnswer),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
)]
async fn ping(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PingAnswer>, ApiError> {
    take(state, key, None, headers, body).await
}

/// A job reports its start (`start`), a failure (`fail`) or its exit code
/// (`0` is success, 1–255 a failure).
#[utoipa::path(
    method(get, post),
    path = "/ping/{key}/{signal}",
    security(()),
    params(
        ("key" = String, Path, description = "The heartbeat's ping key."),
        ("signal" = String, Path, description = "`start`, `fail`, or an exit code 0–255."),
    ),
    request_body(content = String, content_type = "text/plain", description = "Optional: the job's output, kept as its log (at most 10000 bytes)."),
    responses(
        (status = 200, body = PingAnswer),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
)]
async fn ping_signal(
    State(state): State<ApiState>,
    Path((key, signal)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PingAnswer>, ApiError> {
    take(state, key, Some(signal), headers, body).await
}

fn unknown() -> ApiError {
    ApiError::not_found(
        "there is no heartbeat with this ping URL",
        "copy the ping URL from `keepwatch status`; it is made when keepwatch first runs with the heartbeat in its config",
    )
}

async fn take(
    state: ApiState,
    key: String,
    signal: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PingAnswer>, ApiError> {
    let signal = Signal::parse(signal.as_deref()).ok_or_else(|| {
        ApiError::not_found(
            "this is not a ping URL",
            "after the key comes nothing (success), /start, /fail or an exit code from 0 to 255",
        )
    })?;
    if !pings::looks_like_key(&key) {
        return Err(unknown());
    }
    let found = {
        let key = key.clone();
        state
            .read(move |store| store.heartbeat_of_key(&key))
            .await?
    };
    let heartbeat = found.ok_or_else(unknown)?;
    if !state.rates.admit(&format!("ping:{key}"), PINGS_PER_MINUTE) {
        return Err(ApiError::too_many(
            format!(
                "more than {PINGS_PER_MINUTE} pings in a minute for {}",
                heartbeat.service
            ),
            "a job pings when it starts and when it ends; wait a minute before the next",
        ));
    }
    let too_large = || {
        ApiError::too_large(
            format!("the body is larger than {LOG_LIMIT} bytes"),
            "send only the end of the job's output, e.g. `tail -c 10000 backup.log | curl --data-binary @- ...`",
        )
    };
    // Refused before reading when the length is announced, so a client
    // waiting for `100 Continue` gets its answer at once.
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|length| length > LOG_LIMIT) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, LOG_LIMIT)
        .await
        .map_err(|_| too_large())?;
    let log = (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
    let now = state.clock.now();
    let service = heartbeat.service.clone();
    state
        .read(move |store| pings::record(store, &service, signal, now, log.as_deref(), "ping URL"))
        .await?;
    state.pings.notify_one();
    let (recorded, exit_code) = match signal {
        Signal::Success => ("success", None),
        Signal::Start => ("start", None),
        Signal::Failure(code) => ("failure", code),
    };
    Ok(Json(PingAnswer {
        service: heartbeat.service,
        recorded: recorded.to_owned(),
        exit_code,
    }))
}
