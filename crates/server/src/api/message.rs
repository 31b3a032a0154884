//! `/api/v1/app/{app_id}/msg`: sending and listing messages, and where each went.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::ids::{self, Kind};
use hookd_core::model::DeliveryStatus;
use hookd_core::store::{AttemptFilter, MessageFilter, NewMessage, Order};
use hookd_core::time::Timestamp;
use hookd_core::validate::{Checker, Loc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admission::AcceptTurn;
use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{JsonBody, Path, Query, RawQuery};
use super::state::{AppState, Principal};
use super::types::{EndpointMessageOut, ListResponse, MessageEndpointOut, MessageIn, MessageOut};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_messages, create_message))
        .routes(routes!(get_message))
        .routes(routes!(expunge_message_content))
        .routes(routes!(list_message_destinations))
        .routes(routes!(list_endpoint_messages))
        .routes(routes!(precheck_active))
        .routes(routes!(app_events))
        .routes(routes!(get_raw_payload))
}

const MAX_TAGS: usize = 5;

/// The message's own retention, when it asks for one (hours win over days).
fn message_retention(c: &mut Checker, body: &MessageIn) -> Option<i64> {
    let b = Loc::body();
    if let Some(h) = body.payload_retention_hours {
        if (1..=87_600).contains(&h) {
            return Some(h * 3_600_000);
        }
        c.error(
            &b.field("payloadRetentionHours"),
            "value_error.number",
            "payloadRetentionHours must be between 1 and 87600",
        );
        return None;
    }
    let d = body.payload_retention_period?;
    if super::application::RETENTION_DAYS.contains(&d) {
        Some(d * 86_400_000)
    } else {
        c.error(
            &b.field("payloadRetentionPeriod"),
            "value_error.number",
            "payloadRetentionPeriod must be between 1 and 3650 days",
        );
        None
    }
}

/// Validates the body; the returned message's `expires_at` holds the
/// message's own retention (ms, 0 for none) until the application is known.
pub(crate) fn validate(state: &AppState, body: &mut MessageIn) -> ApiResult<NewMessage> {
    let mut c = Checker::new();
    let b = Loc::body();
    c.event_type_name(&b.field("eventType"), &body.event_type);
    if let Some(id) = &body.event_id {
        c.event_id(&b.field("eventId"), id);
    }
    let payload = body.payload.take().or(body.data.take());
    match &payload {
        None => c.error(&b.field("payload"), "value_error.missing", "field required"),
        Some(p) if !p.get().trim_start().starts_with('{') => c.error(
            &b.field("payload"),
            "type_error.dict",
            "payload must be a JSON object",
        ),
        Some(p) if p.get().len() as u64 > state.config.max_payload_bytes => {
            return Err(ApiError::PayloadTooLarge(format!(
                "payload is {} bytes; the limit is {} bytes (max_payload_bytes)",
                p.get().len(),
                state.config.max_payload_bytes
            )));
        }
        Some(_) => {}
    }
    let channels = c.channels(&b.field("channels"), body.channels.take());
    let tags = body.tags.take().filter(|t| !t.is_empty());
    if let Some(tags) = &tags {
        if tags.len() > MAX_TAGS {
            c.error(
                &b.field("tags"),
                "value_error.list.max_items",
                format!("at most {MAX_TAGS} tags are allowed"),
            );
        }
        for (i, t) in tags.iter().enumerate() {
            c.event_id(&b.field("tags").index(i), t);
        }
    }
    let own_retention = message_retention(&mut c, body);
    let deliver_at = body.deliver_at.as_deref().and_then(|s| {
        let loc = b.field("deliverAt");
        match Timestamp::parse(s) {
            None => {
                c.error(
                    &loc,
                    "type_error.datetime",
                    "deliverAt must be an RFC 3339 date-time",
                );
                None
            }
            Some(t) if t.0 > Timestamp::now().0 + MAX_SCHEDULE_AHEAD_MS => {
                c.error(
                    &loc,
                    "value_error.datetime",
                    "deliverAt must be at most 30 days ahead",
                );
                None
            }
            // A time that has passed: deliver at once, as if unscheduled.
            Some(t) => (t.0 > Timestamp::now().0).then_some(t),
        }
    });
    c.finish(())?;
    let payload = payload.ok_or_else(|| {
        ApiError::field(b.field("payload"), "value_error.missing", "field required")
    })?;
    Ok(NewMessage {
        event_type: body.event_type.clone(),
        event_id: body.event_id.clone(),
        payload,
        channels,
        tags,
        only_endpoint: None,
        owner: None,
        expires_at: Timestamp(own_retention.unwrap_or(0)),
        deliver_at,
    })
}

/// How far ahead a message may be scheduled (`deliverAt`).
pub const MAX_SCHEDULE_AHEAD_MS: i64 = 30 * 86_400_000;

/// Send a message: it is stored with one delivery per matching endpoint
/// before this returns, then delivered.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid (with `application` in the body, created if missing)"),
        ("with_content" = Option<bool>, Query, description = "include the payload in the response (default true)")),
    request_body = MessageIn,
    responses((status = 202, body = MessageOut), (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut, description = "duplicate eventId"),
        (status = 413, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn create_message(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    raw: RawQuery,
    _turn: AcceptTurn,
    JsonBody(mut body): JsonBody<MessageIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    let mut q = Query::new(&raw);
    let with_content = q.bool("with_content", true);
    q.finish()?;
    let msg = validate(&state, &mut body)?;
    let app = match state.app(&p, &app_id).await {
        Ok(app) => app,
        Err(ApiError::NotFound(m)) => match body.application.take() {
            // Only a uid can name an application that does not exist yet.
            Some(_) if ids::is_id(Kind::App, &app_id) => return Err(ApiError::NotFound(m)),
            Some(mut a) => {
                let mut c = Checker::new();
                c.uid(&Loc::path().field("app_id"), &app_id, Kind::App.prefix());
                if a.uid.as_deref().is_some_and(|u| u != app_id) {
                    c.error(
                        &Loc::body().field("application").field("uid"),
                        "value_error",
                        "application.uid must match the application in the path",
                    );
                }
                c.finish(())?;
                a.uid = Some(app_id);
                super::application::create_or_get(&state, &p, a, true)
                    .await
                    .map_err(|e| match e {
                        ApiError::Validation(errs) => ApiError::Validation(
                            errs.into_iter()
                                .map(|mut f| {
                                    f.loc.insert(1, "application".into());
                                    f
                                })
                                .collect(),
                        ),
                        other => other,
                    })?
                    .1
            }
            None => return Err(ApiError::NotFound(m)),
        },
        Err(e) => return Err(e),
    };
    let mut msg = msg;
    msg.expires_at = state.expiry(&app, Some(msg.expires_at.0).filter(|&ms| ms > 0));
    // Retention runs from delivery: a scheduled payload must outlive its wait.
    if let Some(at) = msg.deliver_at {
        msg.expires_at.0 = msg.expires_at.0.saturating_add(at.0 - Timestamp::now().0);
    }
    let m = state.engine.accept(&app.id, msg).await?;
    state.metrics.messages_accepted.inc();
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageOut::new((*m).clone(), with_content)),
    ))
}

/// List messages, newest first.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid"),
        ("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query),
        ("event_types" = Option<String>, Query, description = "comma-separated"),
        ("channel" = Option<String>, Query), ("before" = Option<String>, Query), ("after" = Option<String>, Query),
        ("with_content" = Option<bool>, Query)),
    responses((status = 200, body = ListResponse<MessageOut>), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn list_messages(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    let mut q = Query::new(&raw);
    let lq = q.list_query(Some(Kind::Message), Order::Descending);
    let filter = message_filter(&mut q);
    let with_content = q.bool("with_content", true);
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let page = state.store.list_messages(&app.id, &lq, &filter).await?;
    Ok(Json(ListResponse::from_page(page, |m| {
        MessageOut::new(m, with_content)
    })))
}

/// Get a message by id or `eventId`.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid"), ("msg_id" = String, Path, description = "id or eventId"),
        ("with_content" = Option<bool>, Query)),
    responses((status = 200, body = MessageOut), (status = 404, body = HttpErrorOut)))]
pub async fn get_message(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, msg_id)): Path<(String, String)>,
    raw: RawQuery,
) -> ApiResult<Json<MessageOut>> {
    let mut q = Query::new(&raw);
    let with_content = q.bool("with_content", true);
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let m = state.message(&app, &msg_id).await?;
    Ok(Json(MessageOut::new(m, with_content)))
}

/// Delete a message's payload now (and its attempts' response bodies); the
/// message stays listed, with payload `{}`.
#[utoipa::path(delete, path = "/api/v1/app/{app_id}/msg/{msg_id}/content", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid"), ("msg_id" = String, Path, description = "id or eventId")),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub async fn expunge_message_content(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = state.app(&p, &app_id).await?;
    let m = state.message(&app, &msg_id).await?;
    if !state.store.expunge_message(&app.id, &m.id).await? {
        return Err(ApiError::not_found("message"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoints a message was routed to, with its delivery state at each.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint", tag = "Message Attempt",
    params(("app_id" = String, Path, description = "id or uid"), ("msg_id" = String, Path, description = "id or eventId"),
        ("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<MessageEndpointOut>), (status = 404, body = HttpErrorOut)))]
pub async fn list_message_destinations(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, msg_id)): Path<(String, String)>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<MessageEndpointOut>>> {
    let mut q = Query::new(&raw);
    let lq = q.list_query(Some(Kind::Endpoint), Order::Ascending);
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let m = state.message(&app, &msg_id).await?;
    let page = state.store.list_destinations(&app.id, &m.id, &lq).await?;
    Ok(Json(ListResponse::from_page(page, |(e, d)| {
        MessageEndpointOut::new(e, super::types::overlay(d, &state.engine))
    })))
}

/// Parses the filters on messages: `event_types`, `channel`, `before`, `after`.
pub fn message_filter(q: &mut Query) -> MessageFilter {
    MessageFilter {
        event_types: q.list("event_types"),
        channel: q.str("channel").map(String::from),
        before: q.datetime("before"),
        after: q.datetime("after"),
    }
}

/// Parses the `status` filter (0 success, 1 pending, 2 fail, 3 sending).
pub fn status_filter(q: &mut Query) -> Option<DeliveryStatus> {
    let v = q.int("status")?;
    match DeliveryStatus::from_i64(v) {
        Some(s) => Some(s),
        None => {
            q.check.error(
                &Loc::query().field("status"),
                "type_error.enum",
                "status must be 0 (success), 1 (pending), 2 (fail) or 3 (sending)",
            );
            None
        }
    }
}

/// The messages routed to an endpoint, with their delivery state, newest first.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg", tag = "Message Attempt",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid"),
        ("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query), ("status" = Option<i64>, Query),
        ("event_types" = Option<String>, Query), ("channel" = Option<String>, Query),
        ("before" = Option<String>, Query), ("after" = Option<String>, Query), ("with_content" = Option<bool>, Query)),
    responses((status = 200, body = ListResponse<EndpointMessageOut>), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn list_endpoint_messages(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<EndpointMessageOut>>> {
    let mut q = Query::new(&raw);
    let lq = q.list_query(Some(Kind::Message), Order::Descending);
    let filter = AttemptFilter {
        status: status_filter(&mut q),
        msg: message_filter(&mut q),
        ..Default::default()
    };
    let with_content = q.bool("with_content", true);
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let ep = state.endpoint(&app, &ep_id).await?;
    let page = state
        .store
        .list_endpoint_messages(&app.id, &ep.id, &lq, &filter)
        .await?;
    Ok(Json(ListResponse::from_page(page, |(m, d)| {
        EndpointMessageOut::new(m, super::types::overlay(d, &state.engine), with_content)
    })))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePrecheckIn {
    pub event_type: String,
    pub channels: Option<Vec<String>>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MessagePrecheckOut {
    /// Whether an enabled endpoint takes messages of this event type (and
    /// channels). Payload filters are not considered: there is no payload.
    pub active: bool,
}

/// Whether a message of this event type would be sent anywhere, before you
/// build it.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/precheck/active", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid")),
    request_body = MessagePrecheckIn,
    responses((status = 200, body = MessagePrecheckOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn precheck_active(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<MessagePrecheckIn>,
) -> ApiResult<Json<MessagePrecheckOut>> {
    let mut c = Checker::new();
    let b = Loc::body();
    c.event_type_name(&b.field("eventType"), &body.event_type);
    let channels = c.channels(&b.field("channels"), body.channels);
    c.finish(())?;
    let app = state.app(&p, &app_id).await?;
    let mut q = hookd_core::store::ListQuery::first(250, Order::Ascending);
    loop {
        let page = state.store.list_endpoints(&app.id, &q).await?;
        if page
            .data
            .iter()
            .any(|e| e.accepts(&body.event_type, channels.as_deref()))
        {
            return Ok(Json(MessagePrecheckOut { active: true }));
        }
        if !q.advance(&page) {
            return Ok(Json(MessagePrecheckOut { active: false }));
        }
    }
}

pub use super::events::MessageEventsOut;

/// The application's messages as a stream, oldest first, for consumers that
/// poll instead of receiving webhooks: keep calling with the `iterator`
/// returned. Messages appear about a second after they are accepted.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/events", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid"),
        ("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query),
        ("event_types" = Option<String>, Query, description = "comma-separated"),
        ("channels" = Option<String>, Query, description = "comma-separated: messages on any of them"),
        ("after" = Option<String>, Query, description = "start here when there is no iterator")),
    responses((status = 200, body = MessageEventsOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn app_events(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<MessageEventsOut>> {
    let q = super::events::EventsQuery::parse(&raw)?;
    let app = state.app(&p, &app_id).await?;
    super::events::read(&state, Some(&app), q).await
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MessageRawPayloadOut {
    /// The payload exactly as it was received and is delivered, as a string.
    pub payload: String,
}

/// A message's payload as the exact bytes received (and signed), as a string.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/raw", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid"), ("msg_id" = String, Path, description = "id or eventId")),
    responses((status = 200, body = MessageRawPayloadOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut)))]
pub async fn get_raw_payload(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<Json<MessageRawPayloadOut>> {
    let app = state.app(&p, &app_id).await?;
    let m = state.message(&app, &msg_id).await?;
    Ok(Json(MessageRawPayloadOut {
        payload: m.payload.get().to_string(),
    }))
}
