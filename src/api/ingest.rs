//! `POST /api/v1/ingest`: where a hub takes its agents' batches
//! (`protocol.rs` has the format). The body is read and checked here, off
//! the agent's thread; the batch is stored by the agent's loop (the one
//! writer of alerts), and the agent gets its acknowledgement only once it
//! is. Every refusal says whether the agent should send the batch again.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use tokio::sync::oneshot;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::AgentToken;
use super::error::{ApiError, ErrorBody};
use crate::agent::Delivery;
use crate::protocol::{Ack, Batch, BatchError, MAX_COMPRESSED};

/// How long an agent waits for its batch to be stored before it is told to
/// send it again (the hub's loop is busy or stuck on its disk).
const STORE_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(ingest))
        .layer(DefaultBodyLimit::max(MAX_COMPRESSED))
}

/// Takes a batch of an agent's measurements, incidents and service states
/// (needs that agent's token, from `keepwatch agent add`). The body is JSON,
/// zlib-compressed when sent with `Content-Encoding: deflate`. Stored
/// once however often it arrives; the answer says up to where.
#[utoipa::path(
    post,
    path = "/api/v1/ingest",
    tag = "agents",
    request_body(content = Batch, content_type = "application/json",
        description = "A batch as `keepwatch run` on an agent sends it, zlib-compressed with `Content-Encoding: deflate` or plain."),
    responses(
        (status = 200, description = "Stored (or stored before)", body = Ack),
        (status = 400, description = "Not a batch", body = ErrorBody),
        (status = 401, description = "No token, or not one this hub knows", body = ErrorBody),
        (status = 403, description = "Not an agent's token", body = ErrorBody),
        (status = 409, description = "A protocol this hub does not take", body = ErrorBody),
        (status = 413, description = "Larger than a batch may be", body = ErrorBody),
        (status = 503, description = "The hub cannot store it now; send it again later", body = ErrorBody),
    ),
)]
async fn ingest(
    State(state): State<ApiState>,
    agent: AgentToken,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Ack>, ApiError> {
    let compressed = match headers.get(CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(encoding)) if encoding.eq_ignore_ascii_case("deflate") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "the body's Content-Encoding is not one the hub reads",
                "send the batch as JSON, compressed with zlib (`Content-Encoding: deflate`) or not at all",
            ));
        }
    };
    let batch = tokio::task::spawn_blocking(move || Batch::decode(&body, compressed))
        .await
        .map_err(|err| ApiError::internal(format!("reading a batch failed: {err}")))?
        .map_err(|err| match err {
            BatchError::Incompatible(message) => ApiError::conflict(
                message,
                "run the same keepwatch version (or one apart) on the hub and its agents",
            ),
            BatchError::Malformed(message) => ApiError::bad_request(
                message,
                "batches are sent by `keepwatch run` on an agent; see docs/architecture.md, \"Several servers\"",
            ),
        })?;
    let (reply, answer) = oneshot::channel();
    let busy = || {
        ApiError::unavailable(
            "the hub is not taking batches right now",
            "the agent keeps its data and sends it again",
        )
    };
    state
        .deliveries
        .send_timeout(
            Delivery {
                host: agent.name,
                batch,
                reply,
            },
            STORE_WITHIN,
        )
        .await
        .map_err(|_| busy())?;
    match tokio::time::timeout(STORE_WITHIN, answer).await {
        Ok(Ok(Ok(ack))) => Ok(Json(ack)),
        Ok(Ok(Err(err))) => Err(ApiError::unavailable(
            format!("the hub could not store the batch: {err}"),
            "the agent keeps its data and sends it again; on the hub, `keepwatch doctor` looks at the disk",
        )),
        Ok(Err(_)) | Err(_) => Err(busy()),
    }
}
