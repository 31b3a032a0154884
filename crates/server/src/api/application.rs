//! `/api/v1/app`: applications, addressable by id or uid.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::ids::{self, Kind};
use hookd_core::model::{Application, Scope};
use hookd_core::store::Order;
use hookd_core::time::Timestamp;
use hookd_core::validate::{Checker, Loc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{JsonBody, Path, Query, RawQuery};
use super::state::{AppState, Principal};
use super::types::{ApplicationIn, ApplicationOut, ApplicationPatch, ListResponse};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_applications, create_application))
        .routes(routes!(
            get_application,
            update_application,
            patch_application,
            delete_application
        ))
}

/// The validated fields of an `ApplicationIn`.
struct AppFields {
    name: String,
    uid: Option<String>,
    rate_limit: Option<u16>,
    metadata: BTreeMap<String, String>,
    retention_days: Option<u32>,
}

/// Days of payload retention a user may ask for.
pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;

fn retention(c: &mut Checker, days: Option<i64>) -> Option<u32> {
    let d = days?;
    if RETENTION_DAYS.contains(&d) {
        Some(d as u32)
    } else {
        c.error(
            &Loc::body().field("payloadRetentionPeriod"),
            "value_error.number",
            "payloadRetentionPeriod must be between 1 and 3650 days",
        );
        None
    }
}

fn validate_in(a: ApplicationIn) -> ApiResult<AppFields> {
    let mut c = Checker::new();
    let body = Loc::body();
    c.text(&body.field("name"), &a.name, 1);
    if let Some(uid) = &a.uid {
        c.uid(&body.field("uid"), uid, Kind::App.prefix());
    }
    let rate_limit = c.rate_limit(
        &body.field("throttleRate"),
        a.throttle_rate.or(a.rate_limit),
    );
    let metadata = a.metadata.unwrap_or_default();
    c.metadata(&body.field("metadata"), &metadata);
    let retention_days = retention(&mut c, a.payload_retention_period);
    Ok(c.finish(AppFields {
        name: a.name,
        uid: a.uid,
        rate_limit,
        metadata,
        retention_days,
    })?)
}

fn new_app(org_id: &str, f: AppFields) -> Application {
    let now = Timestamp::now();
    Application {
        id: ids::new_id(Kind::App),
        org_id: org_id.to_string(),
        uid: f.uid,
        name: f.name,
        rate_limit: f.rate_limit,
        metadata: f.metadata,
        retention_days: f.retention_days,
        created_at: now,
        updated_at: now,
    }
}

/// Creates an application, or with `get_if_exists` returns the one with the same uid.
pub async fn create_or_get(
    state: &AppState,
    p: &Principal,
    a: ApplicationIn,
    get_if_exists: bool,
) -> ApiResult<(StatusCode, Application)> {
    p.require_org_scope()?;
    let f = validate_in(a)?;
    if get_if_exists
        && let Some(uid) = &f.uid
        && let Some(existing) = state.store.get_app(&p.org_id, uid).await?
    {
        return Ok((StatusCode::OK, existing));
    }
    let uid = f.uid.clone();
    match state.store.create_app(new_app(&p.org_id, f)).await {
        Ok(app) => Ok((StatusCode::CREATED, app)),
        Err(hookd_core::store::StoreError::Conflict(m)) => {
            // Lost a race with a concurrent create of the same uid.
            if get_if_exists
                && let Some(uid) = uid
                && let Some(existing) = state.store.get_app(&p.org_id, &uid).await?
            {
                return Ok((StatusCode::OK, existing));
            }
            Err(ApiError::Conflict(m.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// List applications.
#[utoipa::path(get, path = "/api/v1/app", tag = "Application",
    params(
        ("limit" = Option<u32>, Query, description = "1-250, default 50"),
        ("iterator" = Option<String>, Query, description = "`iterator` or `prevIterator` of a previous page"),
        ("order" = Option<String>, Query, description = "`ascending` (default) or `descending`"),
    ),
    responses((status = 200, body = ListResponse<ApplicationOut>), (status = 422, body = HttpValidationError)))]
pub async fn list_applications(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<ApplicationOut>>> {
    let mut q = Query::new(&raw);
    let lq = q.list_query(Some(Kind::App), Order::Ascending);
    q.finish()?;
    if let Scope::App(only) = &p.scope {
        let app = state.app(&p, only).await?;
        return Ok(Json(ListResponse {
            data: vec![app.into()],
            iterator: None,
            prev_iterator: None,
            done: true,
        }));
    }
    let page = state.store.list_apps(&p.org_id, &lq).await?;
    Ok(Json(ListResponse::from_page(page, ApplicationOut::from)))
}

/// Create an application.
#[utoipa::path(post, path = "/api/v1/app", tag = "Application",
    params(("get_if_exists" = Option<bool>, Query, description = "Return the existing application with the same uid instead of a 409")),
    request_body = ApplicationIn,
    responses((status = 201, body = ApplicationOut), (status = 200, body = ApplicationOut, description = "existing (get_if_exists)"),
        (status = 409, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn create_application(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    raw: RawQuery,
    JsonBody(body): JsonBody<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let mut q = Query::new(&raw);
    let get_if_exists = q.bool("get_if_exists", false);
    q.finish()?;
    let (status, app) = create_or_get(&state, &p, body, get_if_exists).await?;
    Ok((status, Json(app.into())))
}

/// Get an application.
#[utoipa::path(get, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path, description = "id or uid")),
    responses((status = 200, body = ApplicationOut), (status = 404, body = HttpErrorOut)))]
pub async fn get_application(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(state.app(&p, &app_id).await?.into()))
}

/// Update an application, creating it (with this uid) if it does not exist.
#[utoipa::path(put, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path, description = "id or uid")),
    request_body = ApplicationIn,
    responses((status = 200, body = ApplicationOut), (status = 201, body = ApplicationOut),
        (status = 409, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn update_application(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    p.require_org_scope()?;
    let f = validate_in(body)?;
    match state.app(&p, &app_id).await {
        Ok(existing) => {
            let app = state
                .store
                .modify_app(
                    &p.org_id,
                    &existing.id,
                    Box::new(move |a| {
                        a.name = f.name;
                        a.uid = f.uid;
                        a.rate_limit = f.rate_limit;
                        a.metadata = f.metadata;
                        a.retention_days = f.retention_days;
                        a.updated_at = Timestamp::now();
                    }),
                )
                .await?
                .ok_or_else(|| ApiError::not_found("application"))?;
            Ok((StatusCode::OK, Json(app.into())))
        }
        Err(ApiError::NotFound(m)) => {
            p.require_org_scope()?;
            if ids::is_id(Kind::App, &app_id) {
                return Err(ApiError::NotFound(m));
            }
            let mut c = Checker::new();
            c.uid(&Loc::path().field("app_id"), &app_id, Kind::App.prefix());
            c.finish(())?;
            if f.uid.as_deref().is_some_and(|u| u != app_id) {
                return Err(ApiError::field(
                    Loc::body().field("uid"),
                    "value_error",
                    "uid must match the uid in the path when creating",
                ));
            }
            let app = state
                .store
                .create_app(new_app(
                    &p.org_id,
                    AppFields {
                        uid: Some(app_id),
                        ..f
                    },
                ))
                .await?;
            Ok((StatusCode::CREATED, Json(app.into())))
        }
        Err(e) => Err(e),
    }
}

/// Partially update an application: absent fields are kept, `null` clears.
#[utoipa::path(patch, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path, description = "id or uid")),
    request_body = ApplicationPatch,
    responses((status = 200, body = ApplicationOut), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn patch_application(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<ApplicationPatch>,
) -> ApiResult<Json<ApplicationOut>> {
    p.require_org_scope()?;
    let existing = state.app(&p, &app_id).await?;
    let mut c = Checker::new();
    let loc = Loc::body();
    if let Some(name) = &body.name {
        c.text(&loc.field("name"), name, 1);
    }
    if let Some(Some(uid)) = &body.uid {
        c.uid(&loc.field("uid"), uid, Kind::App.prefix());
    }
    let rate = body.throttle_rate.or(body.rate_limit);
    let rate_limit = match rate {
        Some(Some(r)) => Some(c.rate_limit(&loc.field("throttleRate"), Some(r))),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(m) = &body.metadata {
        c.metadata(&loc.field("metadata"), m);
    }
    let retention_days = match body.payload_retention_period {
        Some(Some(d)) => Some(retention(&mut c, Some(d))),
        Some(None) => Some(None),
        None => None,
    };
    c.finish(())?;
    let app = state
        .store
        .modify_app(
            &p.org_id,
            &existing.id,
            Box::new(move |a| {
                if let Some(n) = body.name {
                    a.name = n;
                }
                if let Some(u) = body.uid {
                    a.uid = u;
                }
                if let Some(r) = rate_limit {
                    a.rate_limit = r;
                }
                if let Some(r) = retention_days {
                    a.retention_days = r;
                }
                if let Some(m) = body.metadata {
                    a.metadata = m;
                }
                a.updated_at = Timestamp::now();
            }),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("application"))?;
    Ok(Json(app.into()))
}

/// Delete an application with its endpoints, messages and attempts.
#[utoipa::path(delete, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path, description = "id or uid")),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub async fn delete_application(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    p.require_org_scope()?;
    let app = state.app(&p, &app_id).await?;
    state.store.delete_app(&p.org_id, &app.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
