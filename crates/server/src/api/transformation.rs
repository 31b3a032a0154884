//! Endpoint transformations (Svix's `…/transformation` routes): not
//! supported. Running customers' scripts safely needs a sandboxed engine with
//! bounded time and memory; until hookd has one, these routes answer 501 with
//! the reason rather than 404, so SDK users see what is missing.

use axum::Json;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::HttpErrorOut;
use super::extract::Path;
use super::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_transformation, patch_transformation))
        .routes(routes!(simulate_transformation))
}

fn not_implemented() -> (StatusCode, Json<HttpErrorOut>) {
    (
        StatusCode::NOT_IMPLEMENTED,
        Json(HttpErrorOut {
            code: "not_implemented".into(),
            detail: "hookd does not run endpoint transformations: they need a sandboxed script \
                     engine, which hookd does not have yet"
                .into(),
        }),
    )
}

/// Not supported by hookd (501).
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 501, body = HttpErrorOut)))]
pub async fn get_transformation(
    Path(_): Path<(String, String)>,
) -> (StatusCode, Json<HttpErrorOut>) {
    not_implemented()
}

/// Not supported by hookd (501).
#[utoipa::path(patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 501, body = HttpErrorOut)))]
pub async fn patch_transformation(
    Path(_): Path<(String, String)>,
) -> (StatusCode, Json<HttpErrorOut>) {
    not_implemented()
}

/// Not supported by hookd (501).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation/simulate", tag = "Endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 501, body = HttpErrorOut)))]
pub async fn simulate_transformation(
    Path(_): Path<(String, String)>,
) -> (StatusCode, Json<HttpErrorOut>) {
    not_implemented()
}
