//! Operational webhooks, as Svix configures them (`/api/v1/operational-webhook/…`).
//!
//! An operational-webhook endpoint is an ordinary endpoint of the
//! organisation's operational application (uid `operational_app_uid`), which
//! is created the first time an endpoint is added. So the operational events
//! hookd already emits into that application are delivered to these endpoints
//! signed, retried and logged like any message, and the endpoints stay
//! visible under `/api/v1/app/{operational app}/endpoint` too. These routes
//! only translate shapes and delegate to the endpoint handlers, so the
//! validation rules are the same ones.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::model::Application;
use hookd_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::endpoint;
use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{JsonBody, Path, RawBody, RawQuery};
use super::state::{AppState, Principal};
use super::types::{
    ApplicationIn, EndpointHeadersIn, EndpointHeadersOut, EndpointIn, EndpointOut, ListResponse,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            list_operational_webhook_endpoints,
            create_operational_webhook_endpoint
        ))
        .routes(routes!(
            get_operational_webhook_endpoint,
            upsert_operational_webhook_endpoint,
            delete_operational_webhook_endpoint
        ))
        .routes(routes!(get_operational_webhook_endpoint_secret))
        .routes(routes!(rotate_operational_webhook_endpoint_secret))
        .routes(routes!(
            get_operational_webhook_endpoint_headers,
            set_operational_webhook_endpoint_headers
        ))
}

/// Svix's `OperationalWebhookEndpointIn` (and `…UpsertIn`, which lacks
/// `secret` and `headers`). Both spellings of the filter and the rate are
/// accepted, as on ordinary endpoints.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointIn {
    /// Where operational events are POSTed: an absolute http(s) URL.
    pub url: String,
    pub description: Option<String>,
    pub uid: Option<String>,
    pub disabled: Option<bool>,
    /// Only these operational event types are delivered (none = all),
    /// e.g. `["message.attempt.exhausted", "endpoint.disabled"]`.
    pub event_types: Option<Vec<String>>,
    /// Alias of `eventTypes`.
    pub filter_types: Option<Vec<String>>,
    /// Messages per second (at least 1).
    pub throttle_rate: Option<i64>,
    /// Alias of `throttleRate`.
    pub rate_limit: Option<i64>,
    /// `whsec_` + base64 of 24-64 bytes; generated when absent.
    pub secret: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    /// Extra headers sent with every operational event.
    pub headers: Option<BTreeMap<String, String>>,
}

impl From<OperationalWebhookEndpointIn> for EndpointIn {
    fn from(o: OperationalWebhookEndpointIn) -> Self {
        EndpointIn {
            url: o.url,
            description: o.description,
            uid: o.uid,
            disabled: o.disabled,
            channels: None,
            filter_types: o.filter_types,
            event_types: o.event_types,
            filter: None,
            fifo: None,
            secret: o.secret,
            metadata: o.metadata,
            headers: o.headers,
            rate_limit: o.rate_limit,
            throttle_rate: o.throttle_rate,
            version: None,
        }
    }
}

/// Svix's `OperationalWebhookEndpointOut`, with hookd's usual second
/// spellings (`filterTypes`, `rateLimit`) for older SDKs.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointOut {
    /// `ep_…`
    pub id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub disabled: bool,
    pub event_types: Option<Vec<String>>,
    pub filter_types: Option<Vec<String>>,
    pub throttle_rate: Option<u16>,
    pub rate_limit: Option<u16>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<EndpointOut> for OperationalWebhookEndpointOut {
    fn from(e: EndpointOut) -> Self {
        OperationalWebhookEndpointOut {
            id: e.id,
            uid: e.uid,
            url: e.url,
            description: e.description,
            disabled: e.disabled,
            event_types: e.event_types,
            filter_types: e.filter_types,
            throttle_rate: e.throttle_rate,
            rate_limit: e.rate_limit,
            metadata: e.metadata,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// Svix's `OperationalWebhookEndpointSecretOut`.
#[derive(Serialize, ToSchema)]
pub struct OperationalWebhookEndpointSecretOut {
    /// `whsec_…`
    pub key: String,
}

/// The organisation's operational application; with `create`, made on
/// first use. `None`: it does not exist yet, so it has no endpoints.
async fn operational_app(
    state: &AppState,
    p: &Principal,
    create: bool,
) -> ApiResult<Option<Application>> {
    // Operational webhooks are the organisation's, not one application's.
    p.require_org_scope()?;
    let uid = &state.config.operational_app_uid;
    if uid.is_empty() {
        return Err(ApiError::NotFound(
            "operational webhooks are turned off (operational_app_uid is empty)".into(),
        ));
    }
    if let Some(app) = state.store.get_app(&p.org_id, uid).await? {
        return Ok(Some(app));
    }
    if !create {
        return Ok(None);
    }
    let input = ApplicationIn {
        name: "Operational webhooks".into(),
        uid: Some(uid.clone()),
        rate_limit: None,
        throttle_rate: None,
        metadata: None,
        payload_retention_period: None,
    };
    let (_, app) = super::application::create_or_get(state, p, input, true).await?;
    Ok(Some(app))
}

async fn existing_app(state: &AppState, p: &Principal) -> ApiResult<Application> {
    operational_app(state, p, false)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint"))
}

/// List the operational-webhook endpoints.
#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint", tag = "Webhook Endpoint",
    params(("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query), ("order" = Option<String>, Query, description = "ascending or descending")),
    responses((status = 200, body = ListResponse<OperationalWebhookEndpointOut>),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 404, body = HttpErrorOut, description = "operational webhooks are turned off"),
        (status = 422, body = HttpValidationError)))]
pub async fn list_operational_webhook_endpoints(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<OperationalWebhookEndpointOut>>> {
    let Some(app) = operational_app(&state, &p, false).await? else {
        // Still check the query, so a bad one is a 422 before anything exists.
        let mut q = super::extract::Query::new(&raw);
        q.list_query(
            Some(hookd_core::ids::Kind::Endpoint),
            hookd_core::store::Order::Ascending,
        );
        q.finish()?;
        return Ok(Json(ListResponse {
            data: vec![],
            iterator: None,
            prev_iterator: None,
            done: true,
        }));
    };
    let Json(page) =
        endpoint::list_endpoints(State(state), Extension(p), Path(app.id), raw).await?;
    Ok(Json(ListResponse {
        data: page.data.into_iter().map(Into::into).collect(),
        iterator: page.iterator,
        prev_iterator: page.prev_iterator,
        done: page.done,
    }))
}

/// Create an operational-webhook endpoint.
#[utoipa::path(post, path = "/api/v1/operational-webhook/endpoint", tag = "Webhook Endpoint",
    params(("idempotency-key" = Option<String>, Header)),
    request_body = OperationalWebhookEndpointIn,
    responses((status = 201, body = OperationalWebhookEndpointOut),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 404, body = HttpErrorOut, description = "operational webhooks are turned off"),
        (status = 409, body = HttpErrorOut, description = "the uid is taken"),
        (status = 422, body = HttpValidationError)))]
pub async fn create_operational_webhook_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    JsonBody(body): JsonBody<OperationalWebhookEndpointIn>,
) -> ApiResult<(StatusCode, Json<OperationalWebhookEndpointOut>)> {
    let app = operational_app(&state, &p, true)
        .await?
        .ok_or_else(|| ApiError::Internal("operational application missing".into()))?;
    let (status, Json(ep)) = endpoint::create_endpoint(
        State(state),
        Extension(p),
        Path(app.id),
        JsonBody(body.into()),
    )
    .await?;
    Ok((status, Json(ep.into())))
}

/// Get an operational-webhook endpoint.
#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 200, body = OperationalWebhookEndpointOut),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 404, body = HttpErrorOut)))]
pub async fn get_operational_webhook_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(ep_id): Path<String>,
) -> ApiResult<Json<OperationalWebhookEndpointOut>> {
    let app = existing_app(&state, &p).await?;
    let Json(ep) =
        endpoint::get_endpoint(State(state), Extension(p), Path((app.id, ep_id))).await?;
    Ok(Json(ep.into()))
}

/// Update an operational-webhook endpoint, creating it (with this uid) if
/// it does not exist. Svix answers 200 in both cases.
#[utoipa::path(put, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path, description = "id or uid")),
    request_body = OperationalWebhookEndpointIn,
    responses((status = 200, body = OperationalWebhookEndpointOut),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 404, body = HttpErrorOut, description = "an `ep_…` id that does not exist"),
        (status = 409, body = HttpErrorOut, description = "the uid is taken"),
        (status = 422, body = HttpValidationError)))]
pub async fn upsert_operational_webhook_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(ep_id): Path<String>,
    JsonBody(body): JsonBody<OperationalWebhookEndpointIn>,
) -> ApiResult<Json<OperationalWebhookEndpointOut>> {
    let app = operational_app(&state, &p, true)
        .await?
        .ok_or_else(|| ApiError::Internal("operational application missing".into()))?;
    let (_, Json(ep)) = endpoint::update_endpoint(
        State(state),
        Extension(p),
        Path((app.id, ep_id)),
        JsonBody(body.into()),
    )
    .await?;
    Ok(Json(ep.into()))
}

/// Delete an operational-webhook endpoint.
#[utoipa::path(delete, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 204),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 404, body = HttpErrorOut)))]
pub async fn delete_operational_webhook_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(ep_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = existing_app(&state, &p).await?;
    endpoint::delete_endpoint(State(state), Extension(p), Path((app.id, ep_id))).await
}

/// Get the signing secret of an operational-webhook endpoint.
#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 200, body = OperationalWebhookEndpointSecretOut),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 404, body = HttpErrorOut)))]
pub async fn get_operational_webhook_endpoint_secret(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(ep_id): Path<String>,
) -> ApiResult<Json<OperationalWebhookEndpointSecretOut>> {
    let app = existing_app(&state, &p).await?;
    let Json(s) =
        endpoint::get_endpoint_secret(State(state), Extension(p), Path((app.id, ep_id))).await?;
    Ok(Json(OperationalWebhookEndpointSecretOut { key: s.key }))
}

/// Rotate the signing secret of an operational-webhook endpoint
/// (`{"key": …, "gracePeriodSeconds": …}`, both optional). Unlike the
/// application endpoint route, Svix answers 204 without the new key.
#[utoipa::path(post, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path, description = "id or uid"), ("idempotency-key" = Option<String>, Header)),
    request_body = super::types::EndpointSecretRotateIn,
    responses((status = 204),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn rotate_operational_webhook_endpoint_secret(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(ep_id): Path<String>,
    body: RawBody,
) -> ApiResult<StatusCode> {
    let app = existing_app(&state, &p).await?;
    let Json(_) =
        endpoint::rotate_endpoint_secret(State(state), Extension(p), Path((app.id, ep_id)), body)
            .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Get the custom headers of an operational-webhook endpoint (values of
/// sensitive ones hidden).
#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 200, body = EndpointHeadersOut),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 404, body = HttpErrorOut)))]
pub async fn get_operational_webhook_endpoint_headers(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(ep_id): Path<String>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let app = existing_app(&state, &p).await?;
    endpoint::get_endpoint_headers(State(state), Extension(p), Path((app.id, ep_id))).await
}

/// Replace the custom headers of an operational-webhook endpoint.
#[utoipa::path(put, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", tag = "Webhook Endpoint",
    params(("endpoint_id" = String, Path, description = "id or uid")),
    request_body = EndpointHeadersIn,
    responses((status = 204),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn set_operational_webhook_endpoint_headers(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(ep_id): Path<String>,
    body: JsonBody<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    let app = existing_app(&state, &p).await?;
    endpoint::update_endpoint_headers(State(state), Extension(p), Path((app.id, ep_id)), body).await
}
