//! `/api/v1/event-type`: the organisation's catalogue of event types.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::catalog;
use hookd_core::model::TaskKind;
use hookd_core::model::{EventType, Scope};
use hookd_core::store::{Cursor, ListQuery, Order, plan_import};
use hookd_core::time::Timestamp;
use hookd_core::validate::{Checker, Loc, MAX_TEXT_LEN};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{JsonBody, Path, Query, RawQuery};
use super::state::{AppState, Principal};
use super::tasks::BackgroundTaskOut;
use super::types::{
    EventTypeFromOpenApi, EventTypeImportOpenApiIn, EventTypeImportOpenApiOut,
    EventTypeImportOpenApiOutData, EventTypeIn, EventTypeOut, EventTypePatch, EventTypeUpdate,
    ListResponse, RetryScheduleInOut,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_event_types, create_event_type))
        .routes(routes!(
            get_event_type,
            update_event_type,
            patch_event_type,
            delete_event_type
        ))
        .routes(routes!(get_retry_schedule, set_retry_schedule))
        .routes(routes!(import_openapi))
        .routes(routes!(export_openapi))
}

const MAX_SCHEMAS_BYTES: usize = 256 * 1024;

fn check_common(
    c: &mut Checker,
    description: Option<&str>,
    schemas: Option<&serde_json::Value>,
    group_name: Option<&str>,
    flags: Option<&Vec<String>>,
) {
    let b = Loc::body();
    if let Some(d) = description {
        c.text(&b.field("description"), d, 0);
    }
    if let Some(s) = schemas {
        if !s.is_object() {
            c.error(
                &b.field("schemas"),
                "type_error.dict",
                "schemas must be an object keyed by version",
            );
        } else if s.to_string().len() > MAX_SCHEMAS_BYTES {
            c.error(&b.field("schemas"), "value_error", "schemas are too large");
        }
    }
    if let Some(g) = group_name {
        c.event_type_name(&b.field("groupName"), g);
    }
    for (i, f) in flags.into_iter().flatten().enumerate() {
        c.event_type_name(&b.field("featureFlags").index(i), f);
    }
}

fn flags(list: Option<Vec<String>>, single: Option<String>) -> Option<Vec<String>> {
    list.or(single.map(|s| vec![s])).filter(|v| !v.is_empty())
}

/// List event types.
#[utoipa::path(get, path = "/api/v1/event-type", tag = "Event Type",
    params(("limit" = Option<u32>, Query), ("iterator" = Option<String>, Query), ("order" = Option<String>, Query),
        ("include_archived" = Option<bool>, Query), ("with_content" = Option<bool>, Query, description = "include schemas (default true)")),
    responses((status = 200, body = ListResponse<EventTypeOut>), (status = 422, body = HttpValidationError)))]
pub async fn list_event_types(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<EventTypeOut>>> {
    let mut q = Query::new(&raw);
    let lq = q.list_query(None, Order::Ascending);
    let include_archived = q.bool("include_archived", false);
    let with_content = q.bool("with_content", true);
    q.finish()?;
    let page = state
        .store
        .list_event_types(&p.org_id, &lq, include_archived)
        .await?;
    Ok(Json(ListResponse::from_page(page, |e| {
        EventTypeOut::new(e, with_content)
    })))
}

/// Create an event type (or un-archive an archived one of the same name).
#[utoipa::path(post, path = "/api/v1/event-type", tag = "Event Type",
    request_body = EventTypeIn,
    responses((status = 201, body = EventTypeOut), (status = 409, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn create_event_type(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    JsonBody(body): JsonBody<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    p.require_org_scope()?;
    let mut c = Checker::new();
    c.event_type_name(&Loc::body().field("name"), &body.name);
    check_common(
        &mut c,
        Some(&body.description),
        body.schemas.as_ref(),
        body.group_name.as_deref(),
        body.feature_flags.as_ref(),
    );
    c.finish(())?;
    let now = Timestamp::now();
    let et = state
        .store
        .create_event_type(EventType {
            name: body.name,
            org_id: p.org_id.clone(),
            description: body.description,
            archived: body.archived.unwrap_or(false),
            deprecated: body.deprecated.unwrap_or(false),
            schemas: body.schemas,
            feature_flags: flags(body.feature_flags, body.feature_flag),
            group_name: body.group_name,
            retry_schedule: None,
            created_at: now,
            updated_at: now,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(EventTypeOut::new(et, true))))
}

/// Get an event type.
#[utoipa::path(get, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path)),
    responses((status = 200, body = EventTypeOut), (status = 404, body = HttpErrorOut)))]
pub async fn get_event_type(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    let et = state
        .store
        .get_event_type(&p.org_id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))?;
    Ok(Json(EventTypeOut::new(et, true)))
}

/// Update an event type, creating it if it does not exist.
#[utoipa::path(put, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path)),
    request_body = EventTypeUpdate,
    responses((status = 200, body = EventTypeOut), (status = 201, body = EventTypeOut), (status = 422, body = HttpValidationError)))]
pub async fn update_event_type(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<EventTypeUpdate>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    p.require_org_scope()?;
    let mut c = Checker::new();
    c.event_type_name(&Loc::path().field("event_type_name"), &name);
    check_common(
        &mut c,
        Some(&body.description),
        body.schemas.as_ref(),
        body.group_name.as_deref(),
        body.feature_flags.as_ref(),
    );
    c.finish(())?;
    let feature_flags = flags(body.feature_flags, body.feature_flag);
    let (description, archived, deprecated, schemas, group_name) = (
        body.description,
        body.archived.unwrap_or(false),
        body.deprecated.unwrap_or(false),
        body.schemas,
        body.group_name,
    );
    let (d2, s2, g2, f2) = (
        description.clone(),
        schemas.clone(),
        group_name.clone(),
        feature_flags.clone(),
    );
    let updated = state
        .store
        .modify_event_type(
            &p.org_id,
            &name,
            Box::new(move |e| {
                e.description = d2;
                e.archived = archived;
                e.deprecated = deprecated;
                e.schemas = s2;
                e.group_name = g2;
                e.feature_flags = f2;
                e.updated_at = Timestamp::now();
            }),
        )
        .await?;
    if let Some(et) = updated {
        return Ok((StatusCode::OK, Json(EventTypeOut::new(et, true))));
    }
    let now = Timestamp::now();
    let et = state
        .store
        .create_event_type(EventType {
            name,
            org_id: p.org_id.clone(),
            description,
            archived,
            deprecated,
            schemas,
            feature_flags,
            group_name,
            retry_schedule: None,
            created_at: now,
            updated_at: now,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(EventTypeOut::new(et, true))))
}

/// Partially update an event type.
#[utoipa::path(patch, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path)),
    request_body = EventTypePatch,
    responses((status = 200, body = EventTypeOut), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn patch_event_type(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<EventTypePatch>,
) -> ApiResult<Json<EventTypeOut>> {
    p.require_org_scope()?;
    let mut c = Checker::new();
    check_common(
        &mut c,
        body.description.as_deref(),
        body.schemas.as_ref().and_then(|s| s.as_ref()),
        body.group_name.as_ref().and_then(|g| g.as_deref()),
        body.feature_flags.as_ref().and_then(|f| f.as_ref()),
    );
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_TEXT_LEN)
    {
        c.error(
            &Loc::body().field("description"),
            "value_error",
            "description is too long",
        );
    }
    c.finish(())?;
    let et = state
        .store
        .modify_event_type(
            &p.org_id,
            &name,
            Box::new(move |e| {
                if let Some(d) = body.description {
                    e.description = d;
                }
                if let Some(a) = body.archived {
                    e.archived = a;
                }
                if let Some(d) = body.deprecated {
                    e.deprecated = d;
                }
                if let Some(s) = body.schemas {
                    e.schemas = s;
                }
                if let Some(g) = body.group_name {
                    e.group_name = g;
                }
                match (body.feature_flags, body.feature_flag) {
                    (Some(f), _) => e.feature_flags = f.filter(|v| !v.is_empty()),
                    (None, Some(f)) => e.feature_flags = f.map(|s| vec![s]),
                    (None, None) => {}
                }
                e.updated_at = Timestamp::now();
            }),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))?;
    Ok(Json(EventTypeOut::new(et, true)))
}

/// Archive an event type (or remove it for good with `expunge=true`).
#[utoipa::path(delete, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path), ("expunge" = Option<bool>, Query)),
    responses((status = 204), (status = 404, body = HttpErrorOut)))]
pub async fn delete_event_type(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    raw: RawQuery,
) -> ApiResult<StatusCode> {
    if matches!(p.scope, Scope::App(_)) {
        return Err(ApiError::Forbidden(
            "this key is limited to one application".into(),
        ));
    }
    let mut q = Query::new(&raw);
    let expunge = q.bool("expunge", false);
    q.finish()?;
    let found = if expunge {
        state.store.delete_event_type(&p.org_id, &name).await?
    } else {
        state
            .store
            .modify_event_type(
                &p.org_id,
                &name,
                Box::new(|e| {
                    e.archived = true;
                    e.updated_at = Timestamp::now();
                }),
            )
            .await?
            .is_some()
    };
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("event type"))
    }
}

/// Get an event type's retry schedule (`null`: the server's).
#[utoipa::path(get, path = "/api/v1/event-type/{event_type_name}/retry-schedule", tag = "Event Type",
    params(("event_type_name" = String, Path)),
    responses((status = 200, body = RetryScheduleInOut), (status = 404, body = HttpErrorOut)))]
pub async fn get_retry_schedule(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<Json<RetryScheduleInOut>> {
    let et = state
        .store
        .get_event_type(&p.org_id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))?;
    Ok(Json(RetryScheduleInOut::from_secs(et.retry_schedule)))
}

/// Set the schedule this event type's messages retry on, instead of the
/// server's `retry_schedule` (`null` goes back to it).
#[utoipa::path(put, path = "/api/v1/event-type/{event_type_name}/retry-schedule", tag = "Event Type",
    params(("event_type_name" = String, Path)),
    request_body = RetryScheduleInOut,
    responses((status = 200, body = RetryScheduleInOut), (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn set_retry_schedule(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RetryScheduleInOut>,
) -> ApiResult<Json<RetryScheduleInOut>> {
    p.require_org_scope()?;
    let mut c = Checker::new();
    let schedule = body.retry_schedule.map(|delays| {
        let pairs: Vec<(i64, i64)> = delays.iter().map(|d| (d.secs, d.nanos)).collect();
        c.retry_schedule(&Loc::body().field("retrySchedule"), &pairs)
    });
    c.finish(())?;
    let stored = schedule.clone();
    let et = state
        .store
        .modify_event_type(
            &p.org_id,
            &name,
            Box::new(move |e| {
                e.retry_schedule = stored;
                e.updated_at = Timestamp::now();
            }),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))?;
    Ok(Json(RetryScheduleInOut::from_secs(et.retry_schedule)))
}

/// Every event type of the organisation, archived included, in name order.
async fn all_event_types(state: &AppState, org_id: &str) -> ApiResult<Vec<EventType>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = ListQuery {
            limit: 250,
            cursor: cursor.take(),
            order: Order::Ascending,
        };
        let page = state.store.list_event_types(org_id, &q, true).await?;
        out.extend(page.data);
        match page.iterator {
            Some(it) if !page.done => cursor = Some(Cursor::parse(&it)),
            _ => return Ok(out),
        }
    }
}

/// Create or update event types from the webhooks of an OpenAPI document.
#[utoipa::path(post, path = "/api/v1/event-type/import/openapi", tag = "Event Type",
    request_body = EventTypeImportOpenApiIn,
    responses((status = 200, body = EventTypeImportOpenApiOut), (status = 400, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn import_openapi(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    JsonBody(body): JsonBody<EventTypeImportOpenApiIn>,
) -> ApiResult<Json<EventTypeImportOpenApiOut>> {
    p.require_org_scope()?;
    let b = Loc::body();
    let (spec, loc) = match (body.spec, body.spec_raw) {
        (Some(spec), None) => (spec, b.field("spec")),
        (None, Some(raw)) => match serde_json::from_str::<serde_json::Value>(&raw) {
            Ok(spec) => (spec, b.field("specRaw")),
            Err(e) => {
                return Err(ApiError::field(
                    b.field("specRaw"),
                    "value_error.json",
                    format!("specRaw must be a JSON document (hookd does not read YAML): {e}"),
                ));
            }
        },
        _ => {
            return Err(ApiError::BadRequest(
                "give the document as exactly one of spec and specRaw".into(),
            ));
        }
    };
    let mut c = Checker::new();
    let read = catalog::read_spec(&mut c, &loc, &spec);
    c.finish(())?;
    let now = Timestamp::now();
    let imported: Vec<EventType> = read
        .into_iter()
        .map(|e| e.into_event_type(&p.org_id, now))
        .collect();
    let plan = if body.dry_run {
        let existing = all_event_types(&state, &p.org_id).await?;
        plan_import(&existing, imported, body.replace_all, now)
    } else {
        state
            .store
            .import_event_types(&p.org_id, imported, body.replace_all, now)
            .await?
    };
    let to_modify = body.dry_run.then(|| {
        plan.upserts
            .iter()
            .map(|e| EventTypeFromOpenApi {
                name: e.name.clone(),
                description: e.description.clone(),
                schemas: e.schemas.as_ref().and_then(catalog::newest_schema).cloned(),
                deprecated: e.deprecated,
                group_name: e.group_name.clone(),
                feature_flags: e.feature_flags.clone(),
            })
            .collect()
    });
    Ok(Json(EventTypeImportOpenApiOut {
        data: EventTypeImportOpenApiOutData {
            modified: plan.writes().map(|e| e.name.clone()).collect(),
            to_modify,
        },
    }))
}

/// Export the active event types as an OpenAPI document's webhooks. Svix
/// answers with a background task; so does hookd, finished at once, the
/// document under `data.spec` (`GET /api/v1/background-task/{task_id}`).
#[utoipa::path(post, path = "/api/v1/event-type/export/openapi", tag = "Event Type",
    responses((status = 202, body = BackgroundTaskOut)))]
pub async fn export_openapi(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<(StatusCode, Json<BackgroundTaskOut>)> {
    p.require_org_scope()?;
    let active: Vec<EventType> = all_event_types(&state, &p.org_id)
        .await?
        .into_iter()
        .filter(|e| !e.archived)
        .collect();
    let spec = catalog::write_spec(&active, "Webhooks", env!("CARGO_PKG_VERSION"));
    let task =
        super::tasks::finished_task(&state, &p, TaskKind::SdkGenerate, json!({ "spec": spec }))
            .await?;
    Ok((StatusCode::ACCEPTED, Json(task.into())))
}
