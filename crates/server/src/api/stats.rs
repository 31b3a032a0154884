//! Organisation-wide counts (Svix `Statistics` and `count-active`): active
//! and disabled endpoints, applications with an active endpoint. They walk
//! the applications and endpoints page by page, so they cost a read per 250
//! of each; fine for a dashboard, not for a hot path.

use axum::extract::State;
use axum::{Extension, Json};
use hookd_core::model::{Application, Endpoint};
use hookd_core::store::{ListQuery, Order};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{Query, RawQuery};
use super::state::{AppState, Principal};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(endpoint_count))
        .routes(routes!(count_active_apps))
}

#[derive(Serialize, ToSchema)]
pub struct EndpointCountOut {
    pub active: u64,
    pub disabled: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ActiveAppCount {
    pub count: u64,
}

/// Calls `each` with every endpoint of every application of the organisation.
async fn walk(
    state: &AppState,
    p: &Principal,
    mut each: impl FnMut(&Application, &Endpoint),
) -> ApiResult<()> {
    p.require_org_scope()?;
    let mut aq = ListQuery::first(250, Order::Ascending);
    loop {
        let apps = state.store.list_apps(&p.org_id, &aq).await?;
        for app in &apps.data {
            let mut eq = ListQuery::first(250, Order::Ascending);
            loop {
                let eps = state.store.list_endpoints(&app.id, &eq).await?;
                for e in &eps.data {
                    each(app, e);
                }
                if !eq.advance(&eps) {
                    break;
                }
            }
        }
        if !aq.advance(&apps) {
            return Ok(());
        }
    }
}

/// How many endpoints the organisation has, enabled and disabled.
#[utoipa::path(get, path = "/api/v1/stats/endpoint/count", tag = "Statistics",
    params(("exclude_svix_play" = Option<bool>, Query, description = "accepted for compatibility; hookd has no Svix Play endpoints")),
    responses((status = 200, body = EndpointCountOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 422, body = HttpValidationError)))]
pub async fn endpoint_count(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<EndpointCountOut>> {
    let mut q = Query::new(&raw);
    let _ = q.bool("exclude_svix_play", false);
    q.finish()?;
    let mut out = EndpointCountOut {
        active: 0,
        disabled: 0,
    };
    walk(&state, &p, |_, e| {
        if e.disabled {
            out.disabled += 1;
        } else {
            out.active += 1;
        }
    })
    .await?;
    Ok(Json(out))
}

/// How many applications have at least one enabled endpoint.
#[utoipa::path(get, path = "/api/v1/app/stats/count-active", tag = "Application",
    params(("exclude_svix_play" = Option<bool>, Query, description = "accepted for compatibility"),
        ("exclude_disabled" = Option<bool>, Query, description = "accepted for compatibility: disabled endpoints never count")),
    responses((status = 200, body = ActiveAppCount), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 422, body = HttpValidationError)))]
pub async fn count_active_apps(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<ActiveAppCount>> {
    let mut q = Query::new(&raw);
    let _ = q.bool("exclude_svix_play", false);
    let _ = q.bool("exclude_disabled", true);
    q.finish()?;
    let mut active = std::collections::HashSet::new();
    walk(&state, &p, |app, e| {
        if !e.disabled {
            active.insert(app.id.clone());
        }
    })
    .await?;
    Ok(Json(ActiveAppCount {
        count: active.len() as u64,
    }))
}
