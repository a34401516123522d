//! Every refusal of the API as JSON `{"error": ..., "hint": ...}`: what went
//! wrong and what to do about it. Tokens never appear in these texts.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// What to do about it.
    pub hint: String,
}

/// An error with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.into(),
                hint: hint.into(),
            },
        }
    }

    /// 400: the request itself cannot be answered as asked.
    pub fn bad_request(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, hint)
    }

    /// 401: no token, or one keepwatch does not know (wrong or revoked).
    pub fn unauthorized(error: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            error,
            "send a token as `Authorization: Bearer kw_...`; `keepwatch token create NAME --role viewer` makes one",
        )
    }

    /// 403: a viewer token asked to change something.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "this token may only read",
            "changes need an admin token: `keepwatch token create NAME --role admin`",
        )
    }

    /// 403 for another reason than a viewer asking for a change (an agent's
    /// token reading, a reader's token delivering).
    pub fn forbidden_because(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, error, hint)
    }

    /// 503: keepwatch cannot do it now, but may later (its disk is full).
    pub fn unavailable(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error, hint)
    }

    /// 404: nothing by that name or number.
    pub fn not_found(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error, hint)
    }

    /// 409: the request conflicts with what is (e.g. acknowledging a resolved alert).
    pub fn conflict(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error, hint)
    }

    /// 413: the body is larger than this endpoint keeps.
    pub fn too_large(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, error, hint)
    }

    /// 429: too many requests from this token, or too many at once.
    pub fn too_many(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, error, hint)
    }

    /// 502: a server keepwatch passed the request on to (a mail server, a
    /// channel) did not take it.
    pub fn bad_gateway(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, error, hint)
    }

    /// 500: keepwatch's own problem (its database could not be read).
    pub fn internal(error: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            error,
            "look at keepwatch's log; `keepwatch status` on the computer shows the same data",
        )
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        tracing::warn!("API: {err}");
        Self::internal(err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Turns axum's own plain-text refusals (a body too large, a query that does
/// not parse, a wrong method) into the same JSON shape as every other error.
pub(super) async fn as_json(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let hint = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "send a smaller body, or raise `max_body` in [api]",
        StatusCode::METHOD_NOT_ALLOWED => {
            "the methods of each endpoint are in /api/v1/openapi.json"
        }
        _ => "the parameters and bodies each endpoint takes are in /api/v1/openapi.json",
    };
    let error = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text
    };
    ApiError::new(status, error, hint).into_response()
}
