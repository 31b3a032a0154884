//! `/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/{headers,content}`:
//! what one attempt sent and received, and removing what it received.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::model::{Application, Attempt, is_sensitive_header};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, HttpErrorOut};
use super::extract::Path;
use super::state::{AppState, Principal};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_attempt_headers))
        .routes(routes!(expunge_attempt_content))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptHeadersOut {
    /// The request headers hookd sent, by lower-case name; sensitive ones
    /// (named in `sensitive`) are left out. Empty for attempts recorded
    /// before hookd kept headers.
    pub sent_headers: BTreeMap<String, String>,
    /// The response's headers as `[name, value]` pairs in the order received
    /// (the first 8 KiB of them); `null` when there was no response.
    #[schema(value_type = Option<Vec<Vec<String>>>)]
    pub response_headers: Option<Vec<[String; 2]>>,
    /// Headers that were sent but whose values are never shown (credentials).
    pub sensitive: Vec<String>,
}

impl MessageAttemptHeadersOut {
    fn new(a: Attempt) -> MessageAttemptHeadersOut {
        let mut sent_headers = BTreeMap::new();
        let mut sensitive = Vec::new();
        for (k, v) in a.sent_headers.unwrap_or_default() {
            if is_sensitive_header(&k) {
                sensitive.push(k);
            } else {
                sent_headers.insert(k, v);
            }
        }
        MessageAttemptHeadersOut {
            sent_headers,
            response_headers: a
                .response_headers
                .map(|h| h.into_iter().map(|(k, v)| [k, v]).collect()),
            sensitive,
        }
    }
}

async fn load(
    state: &AppState,
    p: &Principal,
    app_id: &str,
    msg_id: &str,
    attempt_id: &str,
) -> ApiResult<(Application, Attempt)> {
    let app = state.app(p, app_id).await?;
    let m = state.message(&app, msg_id).await?;
    let a = state
        .store
        .get_attempt(&app.id, &m.id, attempt_id)
        .await?
        .ok_or_else(|| ApiError::not_found("attempt"))?;
    Ok((app, a))
}

/// The headers an attempt sent and the headers of the response it got.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/headers", tag = "Message Attempt",
    params(("app_id" = String, Path, description = "id or uid"), ("msg_id" = String, Path, description = "id or eventId"),
        ("attempt_id" = String, Path)),
    responses((status = 200, body = MessageAttemptHeadersOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut)))]
pub async fn get_attempt_headers(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptHeadersOut>> {
    let (_, a) = load(&state, &p, &app_id, &msg_id, &attempt_id).await?;
    Ok(Json(MessageAttemptHeadersOut::new(a)))
}

/// Delete an attempt's response body (for a receiver that answered with
/// something sensitive); the attempt and the message stay.
#[utoipa::path(delete, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", tag = "Message Attempt",
    params(("app_id" = String, Path, description = "id or uid"), ("msg_id" = String, Path, description = "id or eventId"),
        ("attempt_id" = String, Path)),
    responses((status = 204), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut)))]
pub async fn expunge_attempt_content(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (app, a) = load(&state, &p, &app_id, &msg_id, &attempt_id).await?;
    if !state
        .store
        .expunge_attempt_content(&app.id, &a.msg_id, &a.id)
        .await?
    {
        return Err(ApiError::not_found("attempt"));
    }
    Ok(StatusCode::NO_CONTENT)
}
