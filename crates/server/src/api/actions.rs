//! Manual delivery actions: resend, cancel, endpoint stats, example events
//! (recovering runs as a background task: `tasks`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::store::NewMessage;
use hookd_core::time::Timestamp;
use hookd_core::validate::{Checker, Loc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{JsonBody, Path, Query, RawQuery, parse_json};
use super::state::{AppState, Principal};
use super::types::MessageOut;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(resend_message))
        .routes(routes!(cancel_messages))
        .routes(routes!(get_endpoint_stats))
        .routes(routes!(send_example))
}

#[derive(Serialize, ToSchema)]
pub struct EmptyResponse {}

#[derive(Serialize, ToSchema)]
pub struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub sending: i64,
    pub fail: i64,
    /// Canceled with `cancel-msgs` before they were delivered.
    pub canceled: i64,
    /// hookd extension, on ordered (FIFO) endpoints only: the lane's head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fifo: Option<FifoLaneOut>,
}

/// The front of an ordered endpoint's lane (a hookd extension).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FifoLaneOut {
    /// The oldest message not yet delivered or given up; null when the
    /// lane is empty.
    pub head_msg_id: Option<String>,
    /// Attempts of the head so far.
    pub head_attempts: i64,
    /// When the head is tried next.
    pub head_next_attempt: Option<Timestamp>,
    /// The head failed and everything behind it waits for its retry.
    pub blocked: bool,
    /// The node delivering the lane, when nodes share a PostgreSQL store.
    pub owner: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventExampleIn {
    pub event_type: String,
    /// Which example of the event type's schema to send (default 0).
    pub example_index: Option<i64>,
    /// Send this payload instead of a schema example.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Box<RawValue>>,
}

/// Resend a message to an endpoint now (a manual attempt, then the usual retries).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", tag = "Message Attempt",
    params(("app_id" = String, Path, description = "id or uid"), ("msg_id" = String, Path, description = "id or eventId"),
        ("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 202, body = EmptyResponse), (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut)))]
pub async fn resend_message(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, msg_id, ep_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<EmptyResponse>)> {
    let app = state.app(&p, &app_id).await?;
    let m = state.message(&app, &msg_id).await?;
    let ep = state.endpoint(&app, &ep_id).await?;
    if ep.disabled {
        return Err(ApiError::Conflict(
            "the endpoint is disabled; enable it first".into(),
        ));
    }
    // A second attempt alongside the one under way would fork the delivery's
    // retry schedule; the caller can resend once this attempt is over.
    if state.engine.is_sending(&m.id, &ep.id) {
        return Err(ApiError::Conflict(
            "an attempt of this message to this endpoint is under way; resend when it is over"
                .into(),
        ));
    }
    let queued = state
        .engine
        .requeue(&app.id, &ep.id, std::slice::from_ref(&m.id))
        .await?;
    if queued == 0 {
        // Deleted since it was looked up.
        return Err(ApiError::not_found("message"));
    }
    Ok((StatusCode::ACCEPTED, Json(EmptyResponse {})))
}

/// Delivery counts of the endpoint by status, optionally for messages created in a window.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid"),
        ("since" = Option<String>, Query), ("until" = Option<String>, Query)),
    responses((status = 200, body = EndpointStats), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn get_endpoint_stats(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    raw: RawQuery,
) -> ApiResult<Json<EndpointStats>> {
    let mut q = Query::new(&raw);
    let since = q.datetime("since");
    let until = q.datetime("until");
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let ep = state.endpoint(&app, &ep_id).await?;
    let s = state
        .store
        .endpoint_stats(&app.id, &ep.id, since, until)
        .await?;
    // Attempts under way are pending in the store; only the engine knows them.
    let sending = (state.engine.sending_to(&ep.id) as i64).min(s.pending);
    let fifo = if ep.fifo {
        let lane = state.store.lane(&ep.id).await?;
        let head = lane.head;
        Some(FifoLaneOut {
            head_attempts: head.as_ref().map_or(0, |h| h.attempts),
            head_next_attempt: head.as_ref().and_then(|h| h.next_attempt_at),
            blocked: head.as_ref().is_some_and(|h| h.attempts > 0),
            owner: lane.owner,
            head_msg_id: head.map(|h| h.msg_id),
        })
    } else {
        None
    };
    Ok(Json(EndpointStats {
        fifo,
        success: s.success,
        pending: s.pending - sending,
        sending,
        fail: s.fail,
        canceled: s.canceled,
    }))
}

/// Send an example event to one endpoint (from the event type's schema examples, or the given payload).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = EventExampleIn,
    responses((status = 202, body = MessageOut), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn send_example(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<EventExampleIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    let mut c = Checker::new();
    c.event_type_name(&Loc::body().field("eventType"), &body.event_type);
    c.finish(())?;
    let app = state.app(&p, &app_id).await?;
    let ep = state.endpoint(&app, &ep_id).await?;
    let payload = match body.payload {
        Some(p) if p.get().trim_start().starts_with('{') => p,
        Some(_) => {
            return Err(ApiError::field(
                Loc::body().field("payload"),
                "type_error.dict",
                "payload must be a JSON object",
            ));
        }
        None => {
            let et = state
                .store
                .get_event_type(&p.org_id, &body.event_type)
                .await?;
            let index = body.example_index.unwrap_or(0).max(0) as usize;
            let example = et
                .and_then(|e| e.schemas)
                .and_then(|s| {
                    s.as_object()
                        .and_then(|versions| versions.values().next_back().cloned())
                })
                .and_then(|schema| schema.get("examples").and_then(|ex| ex.get(index)).cloned())
                .filter(|v| v.is_object())
                .unwrap_or_else(|| serde_json::json!({"type": body.event_type, "example": true}));
            parse_json::<Box<RawValue>>(example.to_string().as_bytes())?
        }
    };
    let m = state
        .engine
        .accept(
            &app.id,
            NewMessage {
                deliver_at: None,
                event_type: body.event_type,
                event_id: None,
                payload,
                channels: None,
                tags: None,
                only_endpoint: Some(ep.id.clone()),
                owner: None,
                expires_at: state.expiry(&app, None),
            },
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageOut::new((*m).clone(), true)),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelMsgsIn {
    /// Pending deliveries of messages created before this time are canceled.
    #[schema(format = DateTime)]
    pub created_before: String,
}

/// Cancel the endpoint's pending deliveries (waiting to be retried, or
/// scheduled with `deliverAt`) of messages created before `createdBefore`.
/// They are never attempted again and show as `canceled`; a resend still
/// works. An attempt already under way finishes.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/cancel-msgs", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = CancelMsgsIn,
    responses((status = 204), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn cancel_messages(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<CancelMsgsIn>,
) -> ApiResult<StatusCode> {
    let before = super::extract::parse_datetime(&body.created_before).ok_or_else(|| {
        ApiError::field(
            Loc::body().field("createdBefore"),
            "type_error.datetime",
            "must be an RFC 3339 date-time",
        )
    })?;
    let app = state.app(&p, &app_id).await?;
    let ep = state.endpoint(&app, &ep_id).await?;
    state
        .store
        .cancel_deliveries(&ep.id, before, Timestamp::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
