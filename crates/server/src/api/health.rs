//! `/api/v1/health`: whether this node can serve (no authentication).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;
use super::types::HealthOut;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// Liveness: the process is up and serving HTTP (no dependencies checked).
pub async fn live() -> (StatusCode, Json<serde_json::Value>) {
    (StatusCode::OK, Json(serde_json::json!({"status": "ok"})))
}

/// Health: 200 when the store answers and the delivery scheduler makes
/// progress; 503 naming the failing component otherwise.
#[utoipa::path(get, path = "/api/v1/health", tag = "Health", security(()),
    responses((status = 200, body = HealthOut), (status = 503, body = HealthOut)))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthOut>) {
    let mut checks = BTreeMap::new();
    let store_ok = match state.store.ping().await {
        Ok(()) => {
            checks.insert("store".to_string(), "ok".to_string());
            true
        }
        Err(e) => {
            checks.insert("store".to_string(), e.to_string());
            false
        }
    };
    let stats = state.engine.stats();
    let scheduler_ok = match stats.problem() {
        None => {
            checks.insert(
                "scheduler".to_string(),
                format!(
                    "ok: {} in flight, {} due, {} waiting for retry, oldest due {} ms",
                    stats.in_flight,
                    stats.ready,
                    stats.waiting,
                    stats.oldest_due.as_millis()
                ),
            );
            true
        }
        Some(problem) => {
            checks.insert("scheduler".to_string(), problem);
            false
        }
    };
    let healthy = store_ok && scheduler_ok;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(HealthOut {
            status: if healthy { "ok" } else { "unavailable" }.into(),
            checks,
            version: env!("CARGO_PKG_VERSION").into(),
        }),
    )
}
