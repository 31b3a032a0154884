//! `/api/v1/app/{app_id}/attempt/…`: the delivery attempt log.

use axum::extract::State;
use axum::{Extension, Json};
use hookd_core::ids::Kind;
use hookd_core::store::{AttemptFilter, Order};
use hookd_core::validate::Loc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{Path, Query, RawQuery};
use super::message::{message_filter, status_filter};
use super::state::{AppState, Principal};
use super::types::{ListResponse, MessageAttemptOut};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_attempts_by_endpoint))
        .routes(routes!(list_attempts_by_msg))
        .routes(routes!(get_attempt))
        .routes(routes!(count_attempts_by_endpoint))
}

/// Most attempts counted; beyond it `approximated` is true (Svix's rule too).
const COUNT_CEILING: usize = 10_000;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CountOut {
    /// Attempts matching the query, at most 10,000.
    pub count: u64,
    /// There are more than `count`.
    pub approximated: bool,
}

/// How many attempts to the endpoint match the filters (as the attempt list takes them).
#[utoipa::path(get, path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}/count", tag = "Message Attempt",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid"),
        ("status" = Option<i64>, Query), ("status_code_class" = Option<i64>, Query), ("event_types" = Option<String>, Query),
        ("channel" = Option<String>, Query), ("before" = Option<String>, Query), ("after" = Option<String>, Query)),
    responses((status = 200, body = CountOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn count_attempts_by_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    raw: RawQuery,
) -> ApiResult<Json<CountOut>> {
    let mut q = Query::new(&raw);
    let f = filter(&mut q, false);
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let ep = state.endpoint(&app, &ep_id).await?;
    let mut lq = hookd_core::store::ListQuery::first(250, Order::Descending);
    let mut count = 0usize;
    loop {
        let page = state
            .store
            .list_attempts_by_endpoint(&app.id, &ep.id, &lq, &f)
            .await?;
        count += page.data.len();
        if count > COUNT_CEILING {
            return Ok(Json(CountOut {
                count: COUNT_CEILING as u64,
                approximated: true,
            }));
        }
        if !lq.advance(&page) {
            return Ok(Json(CountOut {
                count: count as u64,
                approximated: false,
            }));
        }
    }
}

fn filter(q: &mut Query, with_msg: bool) -> AttemptFilter {
    let status_code_class = q.int("status_code_class").and_then(|c| {
        if [0, 100, 200, 300, 400, 500].contains(&c) {
            Some(c as i32)
        } else {
            q.check.error(
                &Loc::query().field("status_code_class"),
                "type_error.enum",
                "status_code_class must be 0, 100, 200, 300, 400 or 500",
            );
            None
        }
    });
    AttemptFilter {
        status: status_filter(q),
        status_code_class,
        msg: message_filter(q),
        endpoint_id: None,
        with_msg,
    }
}

/// Attempts made to one endpoint, newest first.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", tag = "Message Attempt",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid"),
        ("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query), ("status" = Option<i64>, Query),
        ("status_code_class" = Option<i64>, Query), ("event_types" = Option<String>, Query), ("channel" = Option<String>, Query),
        ("before" = Option<String>, Query), ("after" = Option<String>, Query),
        ("with_content" = Option<bool>, Query), ("with_msg" = Option<bool>, Query)),
    responses((status = 200, body = ListResponse<MessageAttemptOut>), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn list_attempts_by_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let mut q = Query::new(&raw);
    let lq = q.list_query(Some(Kind::Attempt), Order::Descending);
    let with_msg = q.bool("with_msg", false);
    let f = filter(&mut q, with_msg);
    let with_content = q.bool("with_content", true);
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let ep = state.endpoint(&app, &ep_id).await?;
    let page = state
        .store
        .list_attempts_by_endpoint(&app.id, &ep.id, &lq, &f)
        .await?;
    Ok(Json(ListResponse::from_page(page, |a| {
        MessageAttemptOut::new(a, with_content)
    })))
}

/// Attempts made for one message, newest first.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/attempt/msg/{msg_id}", tag = "Message Attempt",
    params(("app_id" = String, Path, description = "id or uid"), ("msg_id" = String, Path, description = "id or eventId"),
        ("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query), ("status" = Option<i64>, Query),
        ("status_code_class" = Option<i64>, Query), ("endpoint_id" = Option<String>, Query),
        ("event_types" = Option<String>, Query), ("channel" = Option<String>, Query),
        ("before" = Option<String>, Query), ("after" = Option<String>, Query), ("with_content" = Option<bool>, Query)),
    responses((status = 200, body = ListResponse<MessageAttemptOut>), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn list_attempts_by_msg(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, msg_id)): Path<(String, String)>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let mut q = Query::new(&raw);
    let lq = q.list_query(Some(Kind::Attempt), Order::Descending);
    let mut f = filter(&mut q, false);
    let endpoint = q.str("endpoint_id").map(String::from);
    let with_content = q.bool("with_content", true);
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let m = state.message(&app, &msg_id).await?;
    if let Some(ep) = endpoint {
        // An endpoint filter naming no endpoint of this application matches nothing.
        f.endpoint_id = Some(
            state
                .store
                .get_endpoint(&app.id, &ep)
                .await?
                .map(|e| e.id)
                .unwrap_or(ep),
        );
    }
    let page = state
        .store
        .list_attempts_by_message(&app.id, &m.id, &lq, &f)
        .await?;
    Ok(Json(ListResponse::from_page(page, |a| {
        MessageAttemptOut::new(a, with_content)
    })))
}

/// Get one attempt.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", tag = "Message Attempt",
    params(("app_id" = String, Path, description = "id or uid"), ("msg_id" = String, Path, description = "id or eventId"),
        ("attempt_id" = String, Path)),
    responses((status = 200, body = MessageAttemptOut), (status = 404, body = HttpErrorOut)))]
pub async fn get_attempt(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptOut>> {
    let app = state.app(&p, &app_id).await?;
    let m = state.message(&app, &msg_id).await?;
    let a = state
        .store
        .get_attempt(&app.id, &m.id, &attempt_id)
        .await?
        .ok_or_else(|| ApiError::not_found("attempt"))?;
    Ok(Json(MessageAttemptOut::new(a, true)))
}
