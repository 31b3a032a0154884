//! `/api/v1/app/{app_id}/endpoint`: endpoints, their secrets and headers.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::ids::{self, Kind};
use hookd_core::model::{Application, Endpoint, OldSecret};
use hookd_core::secret::Secret;
use hookd_core::store::Order;
use hookd_core::time::Timestamp;
use hookd_core::validate::{Checker, Loc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::delivery::OperationalEvent;

use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{JsonBody, Path, Query, RawQuery};
use super::state::{AppState, Principal};
use super::types::{
    EndpointHeadersIn, EndpointHeadersOut, EndpointHeadersPatchIn, EndpointIn, EndpointOut,
    EndpointPatch, EndpointSecretOut, EndpointSecretRotateIn, FilterTestIn, FilterTestOut,
    FilterTestResult, ListResponse,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(
            get_endpoint,
            update_endpoint,
            patch_endpoint,
            delete_endpoint
        ))
        .routes(routes!(test_filter))
        .routes(routes!(get_endpoint_secret))
        .routes(routes!(rotate_endpoint_secret))
        .routes(routes!(
            get_endpoint_headers,
            update_endpoint_headers,
            patch_endpoint_headers
        ))
}

/// Headers whose values are never shown back (Svix's list).
const SENSITIVE_HEADERS: &[&str] = hookd_core::model::SENSITIVE_HEADERS;

/// Headers hookd sets itself on deliveries; endpoint headers may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "connection",
    "transfer-encoding",
];

const MAX_HEADERS: usize = 64;

struct EndpointFields {
    url: String,
    description: String,
    uid: Option<String>,
    disabled: bool,
    channels: Option<Vec<String>>,
    filter_types: Option<Vec<String>>,
    /// hookd extensions: `None` when the request left them out, which a
    /// PUT takes as "keep" (the Svix SDKs never send them).
    filter: Option<Option<String>>,
    fifo: Option<bool>,
    secret: Option<String>,
    metadata: BTreeMap<String, String>,
    headers: Option<BTreeMap<String, String>>,
    rate_limit: Option<u16>,
    version: i32,
}

fn check_headers(c: &mut Checker, loc: &Loc, headers: &BTreeMap<String, String>) {
    if headers.len() > MAX_HEADERS {
        c.error(
            loc,
            "value_error",
            format!("at most {MAX_HEADERS} headers are allowed"),
        );
    }
    for (name, value) in headers {
        let l = loc.field(name);
        let valid_name = !name.is_empty()
            && name.len() <= 256
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            c.error(&l, "value_error.header", "invalid header name");
        } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            c.error(
                &l,
                "value_error.header",
                format!("header '{name}' is set by hookd and cannot be overridden"),
            );
        } else if value.len() > 4096 || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            c.error(&l, "value_error.header", "invalid header value");
        }
    }
}

/// A payload filter must parse; the error names its position.
pub fn check_filter(c: &mut Checker, loc: &Loc, filter: Option<String>) -> Option<String> {
    let f = filter.filter(|f| !f.trim().is_empty())?;
    if let Err(e) = hookd_core::filter::Filter::parse(&f) {
        c.error(loc, "value_error.filter", format!("invalid filter {e}"));
    }
    Some(f)
}

fn validate_in(e: EndpointIn) -> ApiResult<EndpointFields> {
    let mut c = Checker::new();
    let b = Loc::body();
    c.endpoint_url(&b.field("url"), &e.url);
    let description = e.description.unwrap_or_default();
    c.text(&b.field("description"), &description, 0);
    if let Some(uid) = &e.uid {
        c.uid(&b.field("uid"), uid, Kind::Endpoint.prefix());
    }
    let channels = c.channels(&b.field("channels"), e.channels);
    let (types_field, types) = match (e.filter_types, e.event_types) {
        (Some(t), _) => ("filterTypes", Some(t)),
        (None, t) => ("eventTypes", t),
    };
    let filter_types = c.filter_types(&b.field(types_field), types);
    let filter = e
        .filter
        .map(|f| check_filter(&mut c, &b.field("filter"), Some(f)));
    if let Some(s) = &e.secret {
        c.secret(&b.field("secret"), s);
    }
    let metadata = e.metadata.unwrap_or_default();
    c.metadata(&b.field("metadata"), &metadata);
    if let Some(h) = &e.headers {
        check_headers(&mut c, &b.field("headers"), h);
    }
    let rate_limit = c.rate_limit(&b.field("throttleRate"), e.throttle_rate.or(e.rate_limit));
    let version = e.version.unwrap_or(1);
    if !(1..=i64::from(i32::MAX)).contains(&version) {
        c.error(
            &b.field("version"),
            "value_error.number",
            "version must be at least 1",
        );
    }
    Ok(c.finish(EndpointFields {
        url: e.url,
        description,
        uid: e.uid,
        disabled: e.disabled.unwrap_or(false),
        channels,
        filter_types,
        filter,
        fifo: e.fifo,
        secret: e.secret,
        metadata,
        headers: e.headers,
        rate_limit,
        version: version as i32,
    })?)
}

fn new_endpoint(app: &Application, f: EndpointFields) -> Endpoint {
    let now = Timestamp::now();
    let secret = f
        .secret
        .as_deref()
        .and_then(hookd_core::secret::normalize)
        .unwrap_or_else(|| Secret::generate().encode());
    Endpoint {
        id: ids::new_id(Kind::Endpoint),
        app_id: app.id.clone(),
        uid: f.uid,
        url: f.url,
        description: f.description,
        version: f.version,
        rate_limit: f.rate_limit,
        disabled: f.disabled,
        filter_types: f.filter_types,
        channels: f.channels,
        filter: f.filter.flatten(),
        fifo: f.fifo.unwrap_or(false),
        metadata: f.metadata,
        created_at: now,
        updated_at: now,
        secret,
        old_secrets: vec![],
        headers: f.headers.unwrap_or_default(),
    }
}

async fn load(
    state: &AppState,
    p: &Principal,
    app_id: &str,
    ep: &str,
) -> ApiResult<(Application, Endpoint)> {
    let app = state.app(p, app_id).await?;
    let ep = state.endpoint(&app, ep).await?;
    Ok((app, ep))
}

async fn modify(
    state: &AppState,
    app: &Application,
    ep_id: &str,
    f: Box<dyn FnOnce(&mut Endpoint) + Send>,
) -> ApiResult<Endpoint> {
    state
        .store
        .modify_endpoint(&app.id, ep_id, f)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint"))
}

/// List an application's endpoints.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"),
        ("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query), ("order" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<EndpointOut>), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let mut q = Query::new(&raw);
    let lq = q.list_query(Some(Kind::Endpoint), Order::Ascending);
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let page = state.store.list_endpoints(&app.id, &lq).await?;
    Ok(Json(ListResponse::from_page(page, EndpointOut::from)))
}

/// Create an endpoint.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid")),
    request_body = EndpointIn,
    responses((status = 201, body = EndpointOut), (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = state.app(&p, &app_id).await?;
    let f = validate_in(body)?;
    let ep = state.store.create_endpoint(new_endpoint(&app, f)).await?;
    notify(&state, &app, &ep, "endpoint.created", false);
    Ok((StatusCode::CREATED, Json(ep.into())))
}

/// Get an endpoint.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 200, body = EndpointOut), (status = 404, body = HttpErrorOut)))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    let (_, ep) = load(&state, &p, &app_id, &ep_id).await?;
    Ok(Json(ep.into()))
}

/// Update an endpoint, creating it (with this uid) if it does not exist.
#[utoipa::path(put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = EndpointIn,
    responses((status = 200, body = EndpointOut), (status = 201, body = EndpointOut), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = state.app(&p, &app_id).await?;
    let f = validate_in(body)?;
    if state.store.get_endpoint(&app.id, &ep_id).await?.is_none() {
        if ids::is_id(Kind::Endpoint, &ep_id) {
            return Err(ApiError::not_found("endpoint"));
        }
        let mut c = Checker::new();
        c.uid(
            &Loc::path().field("endpoint_id"),
            &ep_id,
            Kind::Endpoint.prefix(),
        );
        c.finish(())?;
        let ep = state
            .store
            .create_endpoint(new_endpoint(
                &app,
                EndpointFields {
                    uid: Some(ep_id),
                    ..f
                },
            ))
            .await?;
        notify(&state, &app, &ep, "endpoint.created", false);
        return Ok((StatusCode::CREATED, Json(ep.into())));
    }
    let was_disabled = state
        .store
        .get_endpoint(&app.id, &ep_id)
        .await?
        .is_some_and(|e| e.disabled);
    let ep = modify(
        &state,
        &app,
        &ep_id,
        Box::new(move |e| {
            e.url = f.url;
            e.description = f.description;
            e.uid = f.uid.or(e.uid.take());
            e.disabled = f.disabled;
            e.channels = f.channels;
            e.filter_types = f.filter_types;
            if let Some(filter) = f.filter {
                e.filter = filter;
            }
            if let Some(fifo) = f.fifo {
                e.fifo = fifo;
            }
            e.metadata = f.metadata;
            e.rate_limit = f.rate_limit;
            e.version = f.version;
            if let Some(h) = f.headers {
                e.headers = h;
            }
            e.updated_at = Timestamp::now();
        }),
    )
    .await?;
    notify(&state, &app, &ep, "endpoint.updated", !was_disabled);
    Ok((StatusCode::OK, Json(ep.into())))
}

/// Partially update an endpoint: absent fields are kept, `null` clears.
#[utoipa::path(patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = EndpointPatch,
    responses((status = 200, body = EndpointOut), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn patch_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let (app, ep) = load(&state, &p, &app_id, &ep_id).await?;
    let was_disabled = ep.disabled;
    let mut c = Checker::new();
    let b = Loc::body();
    if let Some(url) = &body.url {
        c.endpoint_url(&b.field("url"), url);
    }
    if let Some(d) = &body.description {
        c.text(&b.field("description"), d, 0);
    }
    if let Some(Some(uid)) = &body.uid {
        c.uid(&b.field("uid"), uid, Kind::Endpoint.prefix());
    }
    let channels = body.channels.map(|ch| c.channels(&b.field("channels"), ch));
    let types = match (body.filter_types, body.event_types) {
        (Some(t), _) => Some(("filterTypes", t)),
        (None, Some(t)) => Some(("eventTypes", t)),
        (None, None) => None,
    };
    let filter_types = types.map(|(field, t)| c.filter_types(&b.field(field), t));
    let filter = body
        .filter
        .map(|f| check_filter(&mut c, &b.field("filter"), f));
    if let Some(s) = &body.secret {
        c.secret(&b.field("secret"), s);
    }
    if let Some(m) = &body.metadata {
        c.metadata(&b.field("metadata"), m);
    }
    let rate_limit = match body.throttle_rate.or(body.rate_limit) {
        Some(Some(r)) => Some(c.rate_limit(&b.field("throttleRate"), Some(r))),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(v) = body.version
        && !(1..=i64::from(i32::MAX)).contains(&v)
    {
        c.error(
            &b.field("version"),
            "value_error.number",
            "version must be at least 1",
        );
    }
    c.finish(())?;
    let grace_ms = state.config.secret_rotation_grace_secs.saturating_mul(1000) as i64;
    let ep = modify(
        &state,
        &app,
        &ep.id,
        Box::new(move |e| {
            let now = Timestamp::now();
            if let Some(u) = body.url {
                e.url = u;
            }
            if let Some(d) = body.description {
                e.description = d;
            }
            if let Some(u) = body.uid {
                e.uid = u;
            }
            if let Some(d) = body.disabled {
                e.disabled = d;
            }
            if let Some(ch) = channels {
                e.channels = ch;
            }
            if let Some(t) = filter_types {
                e.filter_types = t;
            }
            if let Some(f) = filter {
                e.filter = f;
            }
            if let Some(fifo) = body.fifo {
                e.fifo = fifo;
            }
            if let Some(s) = body
                .secret
                .as_deref()
                .and_then(hookd_core::secret::normalize)
            {
                rotate(e, s, now, grace_ms);
            }
            if let Some(m) = body.metadata {
                e.metadata = m;
            }
            if let Some(r) = rate_limit {
                e.rate_limit = r;
            }
            if let Some(v) = body.version {
                e.version = v as i32;
            }
            e.updated_at = now;
        }),
    )
    .await?;
    notify(&state, &app, &ep, "endpoint.updated", !was_disabled);
    Ok(Json(ep.into()))
}

/// Tells the operator. `check_disabled`: the endpoint was enabled before this change.
fn notify(
    state: &AppState,
    app: &Application,
    ep: &Endpoint,
    event: &'static str,
    check_disabled: bool,
) {
    state.engine.emit(
        &app.org_id,
        &app.id,
        OperationalEvent::endpoint(event, ep).with_app(app),
    );
    if check_disabled && ep.disabled {
        state.metrics.disabled("manual");
        state.engine.emit(
            &app.org_id,
            &app.id,
            OperationalEvent::endpoint_disabled(ep, None, "manual").with_app(app),
        );
    }
}

/// Makes `new` the signing secret; the current one keeps signing for `grace_ms`.
fn rotate(e: &mut Endpoint, new: String, now: Timestamp, grace_ms: i64) {
    e.old_secrets.retain(|s| s.expires_at > now);
    if grace_ms > 0 {
        e.old_secrets.push(OldSecret {
            key: std::mem::take(&mut e.secret),
            expires_at: Timestamp(now.0 + grace_ms),
        });
    }
    e.secret = new;
}

/// Delete an endpoint.
#[utoipa::path(delete, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (app, ep) = load(&state, &p, &app_id, &ep_id).await?;
    state.store.delete_endpoint(&app.id, &ep.id).await?;
    notify(&state, &app, &ep, "endpoint.deleted", false);
    Ok(StatusCode::NO_CONTENT)
}

/// Get the endpoint's current signing secret.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 200, body = EndpointSecretOut), (status = 404, body = HttpErrorOut)))]
pub async fn get_endpoint_secret(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (_, ep) = load(&state, &p, &app_id, &ep_id).await?;
    Ok(Json(EndpointSecretOut {
        key: hookd_core::secret::public_form(&ep.secret),
    }))
}

/// Rotate the signing secret. The previous secret keeps signing for a grace
/// period (`gracePeriodSeconds`, default the server's `secret_rotation_grace_secs`).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = EndpointSecretRotateIn,
    responses((status = 200, body = EndpointSecretOut, description = "the new secret"), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn rotate_endpoint_secret(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    super::extract::RawBody(body): super::extract::RawBody,
) -> ApiResult<Json<EndpointSecretOut>> {
    // The SDKs send `{}`, but hand-written calls often send no body at all.
    let body: EndpointSecretRotateIn = if body.iter().all(|b| b.is_ascii_whitespace()) {
        EndpointSecretRotateIn::default()
    } else {
        super::extract::parse_json(&body)?
    };
    let (app, ep) = load(&state, &p, &app_id, &ep_id).await?;
    let mut c = Checker::new();
    if let Some(k) = &body.key {
        c.secret(&Loc::body().field("key"), k);
    }
    let grace_secs = match body.grace_period_seconds {
        None => state.config.secret_rotation_grace_secs as i64,
        Some(g) if (0..=7 * 86_400).contains(&g) => g,
        Some(_) => {
            c.error(
                &Loc::body().field("gracePeriodSeconds"),
                "value_error.number",
                "gracePeriodSeconds must be between 0 and 604800",
            );
            0
        }
    };
    c.finish(())?;
    let new = body
        .key
        .as_deref()
        .and_then(hookd_core::secret::normalize)
        .unwrap_or_else(|| Secret::generate().encode());
    let key = hookd_core::secret::public_form(&new);
    modify(
        &state,
        &app,
        &ep.id,
        Box::new(move |e| {
            let now = Timestamp::now();
            rotate(e, new, now, grace_secs * 1000);
            e.updated_at = now;
        }),
    )
    .await?;
    Ok(Json(EndpointSecretOut { key }))
}

fn headers_out(headers: &BTreeMap<String, String>) -> EndpointHeadersOut {
    let mut out = EndpointHeadersOut {
        headers: BTreeMap::new(),
        sensitive: vec![],
    };
    for (k, v) in headers {
        if SENSITIVE_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
            out.sensitive.push(k.clone());
        } else {
            out.headers.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Get the endpoint's custom headers (values of sensitive ones hidden).
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    responses((status = 200, body = EndpointHeadersOut), (status = 404, body = HttpErrorOut)))]
pub async fn get_endpoint_headers(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let (_, ep) = load(&state, &p, &app_id, &ep_id).await?;
    Ok(Json(headers_out(&ep.headers)))
}

/// Replace the endpoint's custom headers.
#[utoipa::path(put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = EndpointHeadersIn,
    responses((status = 204), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn update_endpoint_headers(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    let (app, ep) = load(&state, &p, &app_id, &ep_id).await?;
    let mut c = Checker::new();
    check_headers(&mut c, &Loc::body().field("headers"), &body.headers);
    c.finish(())?;
    modify(
        &state,
        &app,
        &ep.id,
        Box::new(move |e| {
            e.headers = body.headers;
            e.updated_at = Timestamp::now();
        }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set or remove some of the endpoint's custom headers.
#[utoipa::path(patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = EndpointHeadersPatchIn,
    responses((status = 204), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn patch_endpoint_headers(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<EndpointHeadersPatchIn>,
) -> ApiResult<StatusCode> {
    let (app, ep) = load(&state, &p, &app_id, &ep_id).await?;
    let mut merged = ep.headers.clone();
    for (k, v) in &body.headers {
        match v {
            Some(v) => {
                merged.insert(k.clone(), v.clone());
            }
            None => {
                merged.remove(k);
            }
        }
    }
    for k in body.delete_headers.iter().flatten() {
        merged.remove(k);
    }
    let set: BTreeMap<String, String> = body
        .headers
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    let mut c = Checker::new();
    check_headers(&mut c, &Loc::body().field("headers"), &set);
    if merged.len() > MAX_HEADERS {
        c.error(
            &Loc::body().field("headers"),
            "value_error",
            format!("at most {MAX_HEADERS} headers are allowed"),
        );
    }
    c.finish(())?;
    modify(
        &state,
        &app,
        &ep.id,
        Box::new(move |e| {
            for (k, v) in body.headers {
                match v {
                    Some(v) => {
                        e.headers.insert(k, v);
                    }
                    None => {
                        e.headers.remove(&k);
                    }
                }
            }
            for k in body.delete_headers.into_iter().flatten() {
                e.headers.remove(&k);
            }
            e.updated_at = Timestamp::now();
        }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// hookd extension: try a payload filter against the application's recent
/// messages (a dry run: nothing is stored or sent).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/filter/test", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid")),
    request_body = FilterTestIn,
    responses((status = 200, body = FilterTestOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn test_filter(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<FilterTestIn>,
) -> ApiResult<Json<FilterTestOut>> {
    let mut c = Checker::new();
    let b = Loc::body();
    let parsed = hookd_core::filter::Filter::parse(&body.filter);
    if let Err(e) = &parsed {
        c.error(
            &b.field("filter"),
            "value_error.filter",
            format!("invalid filter {e}"),
        );
    }
    let limit = body.limit.unwrap_or(50);
    if !(1..=250).contains(&limit) {
        c.error(
            &b.field("limit"),
            "value_error.number",
            "limit must be between 1 and 250",
        );
    }
    let event_types = c.filter_types(&b.field("eventTypes"), body.event_types);
    c.finish(())?;
    let Ok(filter) = parsed else {
        return Err(ApiError::BadRequest("invalid filter".into()));
    };
    let app = state.app(&p, &app_id).await?;
    let q =
        hookd_core::store::ListQuery::first(limit as usize, hookd_core::store::Order::Descending);
    let f = hookd_core::store::MessageFilter {
        event_types,
        ..Default::default()
    };
    let page = state.store.list_messages(&app.id, &q, &f).await?;
    let data: Vec<FilterTestResult> = page
        .data
        .into_iter()
        .map(|m| FilterTestResult {
            matched: serde_json::from_str(m.payload.get()).is_ok_and(|v| filter.matches(&v)),
            id: m.id,
            event_type: m.event_type,
            timestamp: m.timestamp,
        })
        .collect();
    Ok(Json(FilterTestOut {
        tested: data.len(),
        matched: data.iter().filter(|r| r.matched).count(),
        data,
    }))
}
