//! The events streams: messages read oldest first with an iterator, for
//! consumers that poll instead of receiving webhooks. `GET
//! /api/v1/app/{app}/events` (in `message`) reads one application's
//! messages; `GET /api/v1/events` reads the organisation's operational
//! events, which are the messages of its operational application.

use axum::extract::State;
use axum::{Extension, Json};
use hookd_core::ids::{self, Kind};
use hookd_core::model::Application;
use hookd_core::store::{Cursor, ListQuery, MessageFilter, Order};
use hookd_core::time::Timestamp;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{Query, RawQuery};
use super::state::{AppState, Principal};
use super::types::MessageOut;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream_events))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MessageEventsOut {
    pub data: Vec<MessageOut>,
    /// Pass it to the next call to read on from here (also when `done`).
    pub iterator: String,
    /// Nothing newer yet: poll again later with `iterator`.
    pub done: bool,
}

/// How long a message must be accepted before the events stream shows it.
/// Ids are ordered by creation, but concurrent messages commit in any order
/// within a few milliseconds: reading behind by this much means a reader
/// that has moved past an id never misses one committed later.
const EVENTS_SETTLE_MS: i64 = 1_000;

/// The query of an events stream: `limit`, `iterator`, `event_types`,
/// `channels`, `after`.
pub struct EventsQuery {
    lq: ListQuery,
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
}

impl EventsQuery {
    pub fn parse(raw: &RawQuery) -> ApiResult<EventsQuery> {
        let mut q = Query::new(raw);
        let mut lq = q.list_query(Some(Kind::Message), Order::Ascending);
        lq.order = Order::Ascending;
        let event_types = q.list("event_types");
        let channels = q.list("channels");
        let after = q.datetime("after");
        q.finish()?;
        if lq.cursor.is_none() {
            let start = after.map_or(0, |t| t.0);
            lq.cursor = Some(Cursor::parse(&ids::floor_for_millis(Kind::Message, start)));
        }
        Ok(EventsQuery {
            lq,
            event_types,
            channels,
        })
    }
}

/// One read of the stream of `app`'s messages; without an application, an
/// empty stream that stays where the reader is.
pub async fn read(
    state: &AppState,
    app: Option<&Application>,
    q: EventsQuery,
) -> ApiResult<Json<MessageEventsOut>> {
    let EventsQuery {
        lq,
        event_types,
        channels,
    } = q;
    let here = lq
        .cursor
        .as_ref()
        .map(|c| c.key.clone())
        .unwrap_or_default();
    let Some(app) = app else {
        return Ok(Json(MessageEventsOut {
            data: vec![],
            iterator: here,
            done: true,
        }));
    };
    let f = MessageFilter {
        event_types,
        // One channel is filtered by the store; several, here.
        channel: channels
            .as_ref()
            .filter(|c| c.len() == 1)
            .map(|c| c[0].clone()),
        before: Some(Timestamp(Timestamp::now().0 - EVENTS_SETTLE_MS)),
        after: None,
    };
    let page = state.store.list_messages(&app.id, &lq, &f).await?;
    let iterator = page.iterator.clone().unwrap_or(here);
    let data = page
        .data
        .into_iter()
        .filter(|m| match &channels {
            Some(want) if want.len() > 1 => m
                .channels
                .as_ref()
                .is_some_and(|have| have.iter().any(|c| want.contains(c))),
            _ => true,
        })
        .map(|m| MessageOut::new(m, true))
        .collect();
    Ok(Json(MessageEventsOut {
        data,
        iterator,
        done: page.done,
    }))
}

/// The organisation's operational events (`endpoint.disabled`,
/// `message.attempt.exhausted`, …) as a stream, oldest first: the messages
/// of its operational application (`operational_app_uid`). Empty while that
/// application does not exist.
#[utoipa::path(get, path = "/api/v1/events", tag = "Events",
    params(("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query),
        ("event_types" = Option<String>, Query, description = "comma-separated"),
        ("channels" = Option<String>, Query, description = "comma-separated: messages on any of them"),
        ("after" = Option<String>, Query, description = "start here when there is no iterator")),
    responses((status = 200, body = MessageEventsOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 422, body = HttpValidationError)))]
pub async fn stream_events(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<MessageEventsOut>> {
    p.require_org_scope()?;
    let q = EventsQuery::parse(&raw)?;
    let uid = &state.config.operational_app_uid;
    let app = if uid.is_empty() {
        None
    } else {
        state.store.get_app(&p.org_id, uid).await?
    };
    read(&state, app.as_ref(), q).await
}
