//! `/api/v1/app/{app_id}/endpoint/{endpoint_id}/rate-limit-status`: whether
//! the endpoint's rate limit (its own `throttleRate`, else its
//! application's) is holding deliveries back right now.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, HttpErrorOut};
use super::extract::Path;
use super::state::{AppState, Principal};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_throttling_status))
}

#[derive(Serialize, ToSchema, Debug, PartialEq, Eq)]
pub enum EndpointRateLimitStatus {
    Ok,
    RateLimited,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointThrottleRateStatusOut {
    pub status: EndpointRateLimitStatus,
    /// When the rate limit started holding deliveries back, while it does.
    pub throttled_since: Option<hookd_core::time::Timestamp>,
}

/// `RateLimited` while due deliveries to the endpoint wait for its rate
/// limit, `Ok` otherwise. Each node knows its own deliveries: with several
/// worker nodes, ask one that delivers to the endpoint.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/rate-limit-status", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 200, body = EndpointThrottleRateStatusOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut)))]
pub async fn get_throttling_status(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointThrottleRateStatusOut>> {
    let app = state.app(&p, &app_id).await?;
    let ep = state.endpoint(&app, &ep_id).await?;
    let limited = ep.rate_limit.or(app.rate_limit).is_some();
    let since = state
        .engine
        .throttled_since(&ep.id)
        .filter(|_| limited && !ep.disabled);
    Ok(Json(EndpointThrottleRateStatusOut {
        status: if since.is_some() {
            EndpointRateLimitStatus::RateLimited
        } else {
            EndpointRateLimitStatus::Ok
        },
        throttled_since: since,
    }))
}
