//! The API's error type: each variant is one status code and one Svix error
//! body. Every error response is JSON, because the SDKs parse every body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookd_core::store::StoreError;
use hookd_core::validate::{FieldError, Loc};
use serde::Serialize;

#[derive(Debug)]
pub enum ApiError {
    /// 400 `generic_error`: a request that is wrong as a whole.
    BadRequest(String),
    /// 401 `authentication_failed`.
    Unauthorized(String),
    /// 403 `forbidden`: the key is valid but may not do this.
    Forbidden(String),
    /// 404 `not_found`.
    NotFound(String),
    /// 405 `method_not_allowed`.
    MethodNotAllowed,
    /// 408 `request_timeout`: the request body did not arrive in time
    /// (`http_body_timeout_secs`); the connection is closed after it.
    RequestTimeout(String),
    /// 409 `conflict`: a uniqueness rule (uid, eventId, name, idempotency key in use).
    Conflict(String),
    /// 413 `payload_too_large`.
    PayloadTooLarge(String),
    /// 422: each invalid field with its location.
    Validation(Vec<FieldError>),
    /// 503 `unavailable`: the store cannot be reached; retrying may work.
    Unavailable(String),
    /// 500 `server_error`: logged with its cause, shown opaque.
    Internal(String),
    /// 504 `timeout`: work the request started did not finish in time (it goes on).
    Timeout(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HttpErrorOut {
    /// Machine-readable error code.
    pub code: String,
    /// Human-readable description.
    pub detail: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HttpValidationError {
    /// Always `validation`.
    pub code: String,
    pub detail: Vec<FieldError>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found(what: &str) -> ApiError {
        ApiError::NotFound(format!("{what} not found"))
    }

    /// A single invalid field.
    pub fn field(loc: Loc, kind: &str, msg: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError {
            loc: loc.into_vec(),
            msg: msg.into(),
            kind: kind.into(),
        }])
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Conflict(c) => ApiError::Conflict(c.to_string()),
            // The cause chain is logged; clients see an opaque message.
            e @ StoreError::Unavailable { .. } => ApiError::Unavailable(e.chain()),
            e @ StoreError::Backend { .. } => ApiError::Internal(e.chain()),
        }
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(e: Vec<FieldError>) -> ApiError {
        ApiError::Validation(e)
    }
}

fn body(status: StatusCode, code: &str, detail: String) -> Response {
    (
        status,
        Json(HttpErrorOut {
            code: code.into(),
            detail,
        }),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(d) => body(StatusCode::BAD_REQUEST, "generic_error", d),
            ApiError::Unauthorized(d) => body(StatusCode::UNAUTHORIZED, "authentication_failed", d),
            ApiError::Forbidden(d) => body(StatusCode::FORBIDDEN, "forbidden", d),
            ApiError::NotFound(d) => body(StatusCode::NOT_FOUND, "not_found", d),
            ApiError::MethodNotAllowed => body(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed on this path".into(),
            ),
            ApiError::RequestTimeout(d) => {
                let mut resp = body(StatusCode::REQUEST_TIMEOUT, "request_timeout", d);
                // The rest of the body may still come: the connection
                // cannot carry another request.
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
                resp
            }
            ApiError::Conflict(d) => body(StatusCode::CONFLICT, "conflict", d),
            ApiError::PayloadTooLarge(d) => {
                body(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", d)
            }
            ApiError::Validation(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(HttpValidationError {
                    code: "validation".into(),
                    detail,
                }),
            )
                .into_response(),
            ApiError::Unavailable(d) => {
                tracing::warn!(cause = %d, "store unavailable");
                body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the store is unavailable; retry later".into(),
                )
            }
            ApiError::Timeout(d) => body(StatusCode::GATEWAY_TIMEOUT, "timeout", d),
            ApiError::Internal(d) => {
                tracing::error!(cause = %d, "internal error");
                body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal server error".into(),
                )
            }
        }
    }
}
