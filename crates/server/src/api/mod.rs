//! The HTTP API: routing, middleware (path normalisation, auth, idempotency,
//! panics as JSON 500s) and the OpenAPI document built from the same routes.

pub(crate) mod actions;
pub(crate) mod admission;
pub(crate) mod application;
pub(crate) mod attempt;
mod attempt_content;
mod attempt_stats;
pub mod auth;
mod broadcast;
pub(crate) mod endpoint;
pub mod error;
pub(crate) mod event_type;
mod events;
pub mod extract;
mod health;
mod idempotency;
pub(crate) mod message;
mod operational;
pub mod portal;
mod responses;
mod search;
pub mod state;
mod stats;
pub(crate) mod tasks;
mod test_attempt;
mod throttle;
mod transformation;
pub mod types;

use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use tower::Layer as _;
use tower::util::{MapRequest, MapRequestLayer};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use error::ApiError;
use state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "hookd", description = "Webhook delivery service; Svix v1 compatible API."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(error::HttpErrorOut, error::HttpValidationError))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The authenticated part of the API and its OpenAPI description.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(application::router())
        .merge(endpoint::router())
        .merge(event_type::router())
        .merge(events::router())
        .merge(message::router())
        .merge(attempt::router())
        .merge(attempt_content::router())
        .merge(attempt_stats::router())
        .merge(actions::router())
        .merge(portal::router())
        .merge(tasks::router())
        .merge(stats::router())
        .merge(throttle::router())
        .merge(test_attempt::router())
        .merge(broadcast::router())
        .merge(search::router())
        .merge(transformation::router())
        .merge(operational::router())
}

/// The OpenAPI document of every route the server answers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_routes().split_for_parts();
    responses::add_common(&mut doc);
    let (_, health_doc) = health::router().split_for_parts();
    doc.merge(health_doc);
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The router behind path normalisation.
pub type Service = MapRequest<Router, fn(Request) -> Request>;

/// The complete HTTP service.
pub fn app(state: AppState) -> Service {
    let doc = openapi();
    let (authed, _) = api_routes().split_for_parts();
    let authed = authed
        .layer(from_fn_with_state(state.clone(), idempotency::idempotency))
        .layer(from_fn_with_state(state.clone(), auth::authenticate));
    let (health_routes, _) = health::router().split_for_parts();
    // A worker node delivers only: it answers health and metrics, nothing else.
    let router = if state.config.role == "worker" {
        Router::new()
    } else {
        Router::new().merge(authed).merge(crate::ui::router())
    };
    let router = router
        .merge(health_routes)
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || async move { axum::Json(doc) }),
        )
        .route("/api/v1/health/live", axum::routing::get(health::live))
        .route("/api/v1/health/ready", axum::routing::get(health::health));
    let router = if state.config.metrics_listen.is_empty() {
        router.route("/metrics", axum::routing::get(render_metrics))
    } else {
        router
    };
    let router = router
        .fallback(|| async { ApiError::NotFound("no such route".into()).into_response() })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .layer(axum::middleware::from_fn(trace_request))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".into()).into_response()
        }))
        .with_state(state);
    MapRequestLayer::new(normalize_path as fn(Request) -> Request).layer(router)
}

/// The service of a separate `metrics_listen` address: `/metrics` only.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(render_metrics))
        .fallback(|| async { ApiError::NotFound("no such route".into()).into_response() })
        .with_state(state)
}

async fn render_metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(
            &state.engine.stats().queue(),
            state.store.count_disabled_endpoints().await.ok(),
            state
                .store
                .count_scheduled(hookd_core::time::Timestamp::now())
                .await
                .ok(),
        ),
    )
}

/// One span per request, named by its route template (not the concrete
/// path), so traces group by endpoint of the API without unbounded names.
async fn trace_request(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let span = tracing::debug_span!(
        "http_request",
        method = %req.method(),
        route = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    // Only spent when a trace exporter wants the span.
    if !span.is_disabled()
        && let Some(route) = req.extensions().get::<axum::extract::MatchedPath>()
    {
        span.record("route", route.as_str());
    }
    let resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    span.record("status", resp.status().as_u16());
    resp
}

/// Every path answers with and without a trailing slash, and a doubled slash
/// (`//api/v1/app`, from a server URL ending in `/`) is collapsed.
fn normalize_path(mut req: Request) -> Request {
    let path = req.uri().path();
    let needs = path.contains("//") || (path.len() > 1 && path.ends_with('/'));
    if !needs {
        return req;
    }
    let mut clean = String::with_capacity(path.len());
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        clean.push('/');
        clean.push_str(seg);
    }
    if clean.is_empty() {
        clean.push('/');
    }
    if let Some(q) = req.uri().query() {
        clean.push('?');
        clean.push_str(q);
    }
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = clean.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}
