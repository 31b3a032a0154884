//! `POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/msg/test-attempt`
//! (Svix `message.test-attempt`): a message for one endpoint only, sent now,
//! answered with its first attempt. The message goes through the ordinary
//! path (stored with its delivery, signed, SSRF-checked, recorded, retried on
//! failure) so a test sees exactly what a real message would.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::store::{AttemptFilter, ListQuery, Order};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{JsonBody, Path};
use super::state::{AppState, Principal};
use super::types::{MessageAttemptOut, MessageIn};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_test_attempt))
}

/// How long after the request timeout the answer waits for the attempt to
/// be recorded (recording is batched; a rate limit may hold it a moment).
const RECORD_GRACE: Duration = Duration::from_secs(10);

/// Send a message to this endpoint only, now, and answer with the attempt.
/// `deliverAt` is ignored: a test is sent at once. A failed attempt is
/// retried on the usual schedule, like any message.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg/test-attempt", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = MessageIn,
    responses((status = 201, body = MessageAttemptOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut, description = "duplicate eventId, or the endpoint is disabled"),
        (status = 413, body = HttpErrorOut), (status = 422, body = HttpValidationError),
        (status = 504, body = HttpErrorOut, description = "the attempt did not finish in time (the message was sent; see its attempts)")))]
pub async fn create_test_attempt(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(mut body): JsonBody<MessageIn>,
) -> ApiResult<(StatusCode, Json<MessageAttemptOut>)> {
    let mut msg = super::message::validate(&state, &mut body)?;
    let app = state.app(&p, &app_id).await?;
    let ep = state.endpoint(&app, &ep_id).await?;
    if ep.disabled {
        return Err(ApiError::Conflict(format!(
            "endpoint {} is disabled: enable it to send it a test",
            ep.id
        )));
    }
    msg.only_endpoint = Some(ep.id.clone());
    msg.deliver_at = None;
    msg.expires_at = state.expiry(&app, Some(msg.expires_at.0).filter(|&ms| ms > 0));
    let m = state.engine.accept(&app.id, msg).await?;
    state.metrics.messages_accepted.inc();

    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(state.config.request_timeout_secs)
        + RECORD_GRACE;
    let f = AttemptFilter {
        endpoint_id: Some(ep.id.clone()),
        ..Default::default()
    };
    let mut wait = Duration::from_millis(10);
    loop {
        let page = state
            .store
            .list_attempts_by_message(&app.id, &m.id, &ListQuery::first(1, Order::Ascending), &f)
            .await?;
        if let Some(a) = page.data.into_iter().next() {
            return Ok((StatusCode::CREATED, Json(MessageAttemptOut::new(a, true))));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Timeout(format!(
                "message {} was sent to {} but its attempt did not finish in time; list its attempts",
                m.id, ep.id
            )));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(200));
    }
}
