//! `POST /api/v1/app/{app_id}/msg/search` (Svix `message.search`): the
//! message list with its filters in a JSON body, plus a `tag` filter.

use axum::extract::State;
use axum::{Extension, Json};
use hookd_core::ids::{self, Kind};
use hookd_core::store::{Cursor, ListQuery, MessageFilter, Order};
use hookd_core::time::Timestamp;
use hookd_core::validate::{Checker, Loc};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{DEFAULT_LIMIT, JsonBody, MAX_LIMIT, Path, parse_datetime};
use super::state::{AppState, Principal};
use super::types::{ListResponse, MessageOut};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_messages))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct MessageSearchIn {
    /// 1-250, default 50.
    pub limit: Option<i64>,
    /// The `iterator` (or `prevIterator`) of a previous page.
    pub iterator: Option<String>,
    pub channel: Option<String>,
    /// Only messages created before this time (RFC 3339).
    pub before: Option<String>,
    /// Only messages created after this time (RFC 3339).
    pub after: Option<String>,
    /// Include the payloads (default `false`).
    pub with_content: bool,
    /// Only messages with this tag.
    pub tag: Option<String>,
    pub event_types: Option<Vec<String>>,
}

/// Messages matching the criteria, newest first. With `tag`, a page can
/// hold fewer than `limit` messages and still not be the last: follow
/// `iterator` until `done`. Unlike Svix, the search is not limited to 90
/// days unless `before`/`after` say so: hookd looks at every stored message.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/search", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid")),
    request_body = MessageSearchIn,
    responses((status = 200, body = ListResponse<MessageOut>), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn search_messages(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<MessageSearchIn>,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    let mut c = Checker::new();
    let b = Loc::body();
    let limit = match body.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
        Some(_) => {
            c.error(
                &b.field("limit"),
                "value_error.number",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            );
            DEFAULT_LIMIT
        }
    };
    let cursor = body
        .iterator
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(Cursor::parse);
    if cursor
        .as_ref()
        .is_some_and(|c| !ids::is_id(Kind::Message, &c.key))
    {
        c.error(
            &b.field("iterator"),
            "value_error.iterator",
            "invalid iterator: use the iterator or prevIterator of a previous page",
        );
    }
    let mut time = |name: &str, v: &Option<String>| -> Option<Timestamp> {
        let v = v.as_deref()?;
        let t = parse_datetime(v);
        if t.is_none() {
            c.error(
                &b.field(name),
                "type_error.datetime",
                "must be an RFC 3339 date-time, e.g. 2024-01-01T00:00:00Z",
            );
        }
        t
    };
    let before = time("before", &body.before);
    let after = time("after", &body.after);
    if let Some(ch) = &body.channel {
        c.channels(&b.field("channel"), Some(vec![ch.clone()]));
    }
    if let Some(types) = &body.event_types {
        for (i, t) in types.iter().enumerate() {
            c.event_type_name(&b.field("event_types").index(i), t);
        }
    }
    if let Some(tag) = &body.tag {
        c.event_id(&b.field("tag"), tag);
    }
    c.finish(())?;
    let app = state.app(&p, &app_id).await?;
    let lq = ListQuery {
        limit,
        cursor,
        order: Order::Descending,
    };
    let f = MessageFilter {
        event_types: body.event_types,
        channel: body.channel,
        before,
        after,
    };
    let mut page = state.store.list_messages(&app.id, &lq, &f).await?;
    if let Some(tag) = &body.tag {
        page.data
            .retain(|m| m.tags.as_ref().is_some_and(|t| t.contains(tag)));
    }
    let with_content = body.with_content;
    Ok(Json(ListResponse::from_page(page, |m| {
        MessageOut::new(m, with_content)
    })))
}
