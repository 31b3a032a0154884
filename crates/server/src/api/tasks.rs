//! Background tasks (Svix `background-task`): listing and reading them, and
//! the long operations that run as one — recovering failed deliveries,
//! replaying missed or chosen messages, expunging an application's payloads
//! (and, synchronously, the bulk expunge of named messages).
//!
//! The task row is written before the request is answered; the work runs in
//! a spawned tokio task that records its progress after each batch and ends
//! the row `finished` or `failed`. A node that stops mid-task leaves it to
//! the store's sweeps (`fail_node_tasks` at start, `fail_dead_tasks`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::ids::{self, Kind};
use hookd_core::model::DeliveryStatus;
use hookd_core::model::{BackgroundTask, Endpoint, Scope, TaskKind, TaskStatus};
use hookd_core::store::{Order, ReplayFilter, Store, TaskFilter, failed_data};
use hookd_core::time::Timestamp;
use hookd_core::validate::{Checker, Loc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{JsonBody, Path, Query, RawQuery, parse_datetime};
use super::state::{AppState, Principal};
use super::types::ListResponse;
use crate::delivery::Engine;

/// Messages (or deliveries) handled per step of a task; progress is written
/// after each, which also shows the task alive.
const BATCH: usize = 500;

/// Svix's progress and result key of the replaying tasks.
const MESSAGES_SENT: &str = "messagesSent";
/// ... and of `application.purge_content`.
const MESSAGES_PURGED: &str = "messagesPurged";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_background_tasks))
        .routes(routes!(get_background_task))
        .routes(routes!(recover_endpoint))
        .routes(routes!(replay_missing))
        .routes(routes!(bulk_replay))
        .routes(routes!(bulk_expunge))
        .routes(routes!(expunge_all_contents))
}

/// Svix `BackgroundTaskStatus`.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum BackgroundTaskStatus {
    Running,
    Finished,
    Failed,
}

impl From<TaskStatus> for BackgroundTaskStatus {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Running => BackgroundTaskStatus::Running,
            TaskStatus::Finished => BackgroundTaskStatus::Finished,
            TaskStatus::Failed => BackgroundTaskStatus::Failed,
        }
    }
}

/// Svix `BackgroundTaskType`.
#[derive(Serialize, ToSchema, Clone, Copy)]
pub enum BackgroundTaskType {
    #[serde(rename = "endpoint.replay")]
    EndpointReplay,
    #[serde(rename = "endpoint.recover")]
    EndpointRecover,
    #[serde(rename = "application.stats")]
    ApplicationStats,
    #[serde(rename = "message.broadcast")]
    MessageBroadcast,
    #[serde(rename = "sdk.generate")]
    SdkGenerate,
    #[serde(rename = "event-type.aggregate")]
    EventTypeAggregate,
    #[serde(rename = "application.purge_content")]
    ApplicationPurgeContent,
    #[serde(rename = "endpoint.bulk-replay")]
    EndpointBulkReplay,
}

impl From<TaskKind> for BackgroundTaskType {
    fn from(k: TaskKind) -> Self {
        match k {
            TaskKind::EndpointReplay => BackgroundTaskType::EndpointReplay,
            TaskKind::EndpointRecover => BackgroundTaskType::EndpointRecover,
            TaskKind::EndpointBulkReplay => BackgroundTaskType::EndpointBulkReplay,
            TaskKind::ApplicationStats => BackgroundTaskType::ApplicationStats,
            TaskKind::MessageBroadcast => BackgroundTaskType::MessageBroadcast,
            TaskKind::SdkGenerate => BackgroundTaskType::SdkGenerate,
            TaskKind::EventTypeAggregate => BackgroundTaskType::EventTypeAggregate,
            TaskKind::ApplicationPurgeContent => BackgroundTaskType::ApplicationPurgeContent,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundTaskOut {
    pub id: String,
    pub status: BackgroundTaskStatus,
    pub task: BackgroundTaskType,
    /// Progress while running, the result once finished (`messagesSent`,
    /// `messagesPurged`); a failed task's says why under `error`.
    #[schema(value_type = Object)]
    pub data: Value,
    pub updated_at: Timestamp,
}

impl From<BackgroundTask> for BackgroundTaskOut {
    fn from(t: BackgroundTask) -> Self {
        BackgroundTaskOut {
            id: t.id,
            status: t.status.into(),
            task: t.kind.into(),
            data: t.data,
            updated_at: t.updated_at,
        }
    }
}

/// The answers of the operations that start a task: Svix names each.
macro_rules! task_started {
    ($($name:ident),*) => {$(
        #[derive(Serialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// The task: follow it with `GET /api/v1/background-task/{id}`.
            pub id: String,
            pub status: BackgroundTaskStatus,
            pub task: BackgroundTaskType,
            pub updated_at: Timestamp,
        }

        impl From<&BackgroundTask> for $name {
            fn from(t: &BackgroundTask) -> Self {
                $name {
                    id: t.id.clone(),
                    status: t.status.into(),
                    task: t.kind.into(),
                    updated_at: t.updated_at,
                }
            }
        }
    )*};
}

task_started!(RecoverOut, ReplayOut, ExpungeAllContentsOut);

#[derive(Deserialize, ToSchema)]
pub struct RecoverIn {
    /// Resend failed deliveries of messages created at or after this time.
    #[schema(value_type = String, format = DateTime)]
    pub since: String,
    /// ... and before this time (default: now).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ReplayIn {
    /// Send messages created at or after this time that never went to the endpoint.
    #[schema(value_type = String, format = DateTime)]
    pub since: String,
    /// ... and before this time (default: now).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkReplayIn {
    /// Replay messages created at or after this time ...
    #[schema(value_type = String, format = DateTime)]
    pub since: String,
    /// ... and before this time (default: now).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    /// Only messages of these event types.
    pub event_types: Option<Vec<String>>,
    /// Only messages on this channel.
    pub channel: Option<String>,
    /// Only messages with this tag.
    pub tag: Option<String>,
    /// Only deliveries in this state: 0 success, 1 pending, 2 fail, 3 sending, 4 canceled.
    pub status: Option<i64>,
    /// Only deliveries with an attempt answered in this class: 0 (no answer), 100, 200, 300, 400, 500.
    pub status_code_class: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
pub struct BulkExpungeContentsIn {
    /// Messages (ids or eventIds) whose payloads to expunge.
    #[serde(default)]
    pub ids: Vec<String>,
}

/// Svix `BulkExpungeStatus`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BulkExpungeStatus {
    Expunged,
    NotFound,
}

#[derive(Serialize, ToSchema)]
pub struct BulkExpungeContentsOut {
    /// Each message named, as given: expunged, or not found in the application.
    pub results: BTreeMap<String, BulkExpungeStatus>,
}

/// How many messages one bulk expunge may name.
const MAX_BULK_EXPUNGE: usize = 1000;

/// `[since, until)` from a body's fields, each error naming its field.
fn window(since: &str, until: Option<&str>) -> ApiResult<(Timestamp, Timestamp)> {
    let mut c = Checker::new();
    let since_t = parse_datetime(since);
    if since_t.is_none() {
        c.error(
            &Loc::body().field("since"),
            "type_error.datetime",
            "must be an RFC 3339 date-time",
        );
    }
    let until_t = match until {
        None => Some(Timestamp::now()),
        Some(u) => {
            let t = parse_datetime(u);
            if t.is_none() {
                c.error(
                    &Loc::body().field("until"),
                    "type_error.datetime",
                    "must be an RFC 3339 date-time",
                );
            }
            t
        }
    };
    c.finish(())?;
    let (Some(since), Some(until)) = (since_t, until_t) else {
        return Err(ApiError::BadRequest("invalid time window".into()));
    };
    if since >= until {
        return Err(ApiError::field(
            Loc::body().field("since"),
            "value_error",
            "since must be before until",
        ));
    }
    Ok((since, until))
}

/// An application-scoped key sees its application's tasks only.
fn visible(p: &Principal, t: &BackgroundTask) -> bool {
    t.visible_to(&p.scope)
}

/// List the organisation's background tasks (an application-scoped key: its application's).
#[utoipa::path(get, path = "/api/v1/background-task", tag = "Background Tasks",
    params(
        ("status" = Option<String>, Query, description = "`running`, `finished` or `failed`"),
        ("task" = Option<String>, Query, description = "a task type, e.g. `endpoint.recover`"),
        ("limit" = Option<u32>, Query, description = "1-250, default 50"),
        ("iterator" = Option<String>, Query, description = "`iterator` or `prevIterator` of a previous page"),
        ("order" = Option<String>, Query, description = "`descending` (default, newest first) or `ascending`"),
    ),
    responses((status = 200, body = ListResponse<BackgroundTaskOut>), (status = 401, body = HttpErrorOut),
        (status = 403, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn list_background_tasks(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<ListResponse<BackgroundTaskOut>>> {
    let mut q = Query::new(&raw);
    let lq = q.list_query(Some(Kind::Task), Order::Descending);
    let status = q.str("status").and_then(|s| {
        let st = TaskStatus::parse(s);
        if st.is_none() {
            q.check.error(
                &Loc::query().field("status"),
                "type_error.enum",
                "status must be running, finished or failed",
            );
        }
        st
    });
    let kind = q.str("task").and_then(|s| {
        let k = TaskKind::parse(s);
        if k.is_none() {
            let names: Vec<&str> = TaskKind::ALL.iter().map(|k| k.as_str()).collect();
            q.check.error(
                &Loc::query().field("task"),
                "type_error.enum",
                format!("task must be one of {}", names.join(", ")),
            );
        }
        k
    });
    q.finish()?;
    let f = TaskFilter {
        app_id: match &p.scope {
            Scope::Org => None,
            Scope::App(app) => Some(app.clone()),
        },
        status,
        kind,
    };
    let page = state.store.list_tasks(&p.org_id, &lq, &f).await?;
    Ok(Json(ListResponse::from_page(page, BackgroundTaskOut::from)))
}

/// Get a background task: its status, and its progress or result in `data`.
#[utoipa::path(get, path = "/api/v1/background-task/{task_id}", tag = "Background Tasks",
    params(("task_id" = String, Path, description = "qtask_ id")),
    responses((status = 200, body = BackgroundTaskOut), (status = 401, body = HttpErrorOut),
        (status = 403, body = HttpErrorOut), (status = 404, body = HttpErrorOut)))]
pub async fn get_background_task(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(task_id): Path<String>,
) -> ApiResult<Json<BackgroundTaskOut>> {
    let task = state
        .store
        .get_task(&p.org_id, &task_id)
        .await?
        .filter(|t| visible(&p, t))
        .ok_or_else(|| ApiError::not_found("background task"))?;
    Ok(Json(task.into()))
}

/// A task being run: its row's id and the data written to it.
pub(crate) struct Run {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) id: String,
    pub(crate) data: Map<String, Value>,
}

impl Run {
    /// Writes the progress; an error when the task was ended meanwhile (a
    /// sweep took it for a dead node's), so the work stops.
    pub(crate) async fn report(&self) -> Result<(), String> {
        let data = Value::Object(self.data.clone());
        match self
            .store
            .update_task(&self.id, &data, Timestamp::now())
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err("the task was ended while it ran".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn set(&mut self, key: &str, n: usize) {
        self.data.insert(key.into(), Value::from(n));
    }

    /// Ends the row: finished with the data, or failed with it and the reason.
    pub(crate) async fn finish(self, outcome: Result<(), String>) {
        let data = Value::Object(self.data);
        let (status, data) = match outcome {
            Ok(()) => (TaskStatus::Finished, data),
            Err(reason) => {
                tracing::warn!(task = %self.id, %reason, "background task failed");
                (TaskStatus::Failed, failed_data(data, &reason))
            }
        };
        if let Err(e) = self
            .store
            .finish_task(&self.id, status, &data, Timestamp::now())
            .await
        {
            // The row stays running until a sweep fails it.
            tracing::warn!(task = %self.id, error = %e, "recording a task's end failed");
        }
    }
}

/// Writes a running task's row; the caller spawns its work with the [`Run`].
async fn start(
    state: &AppState,
    p: &Principal,
    app_id: &str,
    kind: TaskKind,
    first: &str,
) -> ApiResult<(BackgroundTask, Run)> {
    let mut task = BackgroundTask::start(
        ids::new_id(Kind::Task),
        &p.org_id,
        Some(app_id),
        kind,
        state.engine.node_id(),
        Timestamp::now(),
    );
    let mut data = Map::new();
    data.insert(first.into(), Value::from(0));
    task.data = Value::Object(data.clone());
    let task = state.store.create_task(task).await?;
    let run = Run {
        store: state.store.clone(),
        id: task.id.clone(),
        data,
    };
    Ok((task, run))
}

/// Resend the failed deliveries to the endpoint of messages created in `[since, until)`, as a background task.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = RecoverIn,
    responses((status = 202, body = RecoverOut, description = "the task runs; its data counts messagesSent"),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut, description = "the endpoint is disabled"),
        (status = 422, body = HttpValidationError)))]
pub async fn recover_endpoint(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RecoverIn>,
) -> ApiResult<(StatusCode, Json<RecoverOut>)> {
    let (since, until) = window(&body.since, body.until.as_deref())?;
    let app = state.app(&p, &app_id).await?;
    let ep = enabled_endpoint(&state, &app, &ep_id).await?;
    let (task, mut run) = start(
        &state,
        &p,
        &app.id,
        TaskKind::EndpointRecover,
        MESSAGES_SENT,
    )
    .await?;
    let (store, engine) = (state.store.clone(), state.engine.clone());
    tokio::spawn(async move {
        let outcome = async {
            let failed = store
                .failed_message_ids(&app.id, &ep.id, since, until)
                .await
                .map_err(|e| e.to_string())?;
            let mut sent = 0;
            for chunk in failed.chunks(BATCH) {
                sent += requeue(&engine, &app.id, &ep.id, chunk).await?;
                run.set(MESSAGES_SENT, sent);
                run.report().await?;
            }
            Ok(())
        }
        .await;
        run.finish(outcome).await;
    });
    Ok((StatusCode::ACCEPTED, Json(RecoverOut::from(&task))))
}

/// Send the endpoint the messages created in `[since, until)` that it never got (nor was sent), as a background task.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = ReplayIn,
    responses((status = 202, body = ReplayOut, description = "the task runs; its data counts messagesSent"),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut, description = "the endpoint is disabled"),
        (status = 422, body = HttpValidationError)))]
pub async fn replay_missing(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ReplayIn>,
) -> ApiResult<(StatusCode, Json<ReplayOut>)> {
    let (since, until) = window(&body.since, body.until.as_deref())?;
    let app = state.app(&p, &app_id).await?;
    let ep = enabled_endpoint(&state, &app, &ep_id).await?;
    let (task, mut run) =
        start(&state, &p, &app.id, TaskKind::EndpointReplay, MESSAGES_SENT).await?;
    let (store, engine) = (state.store.clone(), state.engine.clone());
    tokio::spawn(async move {
        let route = ep.route();
        let outcome = async {
            let (mut after, mut sent) = (None::<String>, 0);
            loop {
                let batch = store
                    .unrouted_messages(&app.id, &ep.id, since, until, after.as_deref(), BATCH)
                    .await
                    .map_err(|e| e.to_string())?;
                let Some(last) = batch.last() else { break };
                after = Some(last.id.clone());
                // Only what the endpoint's filters would have taken is missing.
                let mut ids: Vec<String> = batch
                    .iter()
                    .filter(|m| route.accepts(&m.event_type, m.channels.as_deref()))
                    .map(|m| m.id.clone())
                    .collect();
                if route.filter.is_some() {
                    // The payload filter needs the payloads: read only these.
                    let mut kept = Vec::with_capacity(ids.len());
                    for id in ids {
                        let m = store
                            .get_message_by_id(&id)
                            .await
                            .map_err(|e| e.to_string())?;
                        if m.is_some_and(|m| route.matches_payload(&m.payload, &Default::default()))
                        {
                            kept.push(id);
                        }
                    }
                    ids = kept;
                }
                sent += requeue(&engine, &app.id, &ep.id, &ids).await?;
                run.set(MESSAGES_SENT, sent);
                run.report().await?;
                if batch.len() < BATCH {
                    break;
                }
            }
            Ok(())
        }
        .await;
        run.finish(outcome).await;
    });
    Ok((StatusCode::ACCEPTED, Json(ReplayOut::from(&task))))
}

/// Send again the endpoint's deliveries of messages created in `[since, until)` that match the filters (whatever their state unless `status` says), as a background task.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay", tag = "Endpoint",
    params(("app_id" = String, Path, description = "id or uid"), ("endpoint_id" = String, Path, description = "id or uid")),
    request_body = BulkReplayIn,
    responses((status = 202, body = ReplayOut, description = "the task runs; its data counts messagesSent"),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 409, body = HttpErrorOut, description = "the endpoint is disabled"),
        (status = 422, body = HttpValidationError)))]
pub async fn bulk_replay(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<BulkReplayIn>,
) -> ApiResult<(StatusCode, Json<ReplayOut>)> {
    let b = Loc::body();
    let mut c = Checker::new();
    for (i, t) in body.event_types.iter().flatten().enumerate() {
        c.event_type_name(&b.field("eventTypes").index(i), t);
    }
    let channel = c
        .channels(&b.field("channel"), body.channel.clone().map(|ch| vec![ch]))
        .and_then(|mut v| v.pop());
    if let Some(tag) = &body.tag {
        c.event_id(&b.field("tag"), tag);
    }
    let status = body.status.and_then(|v| {
        let s = DeliveryStatus::from_i64(v);
        if s.is_none() {
            c.error(
                &b.field("status"),
                "type_error.enum",
                "status must be 0, 1, 2, 3 or 4",
            );
        }
        s
    });
    let class = body.status_code_class.and_then(|v| {
        if [0, 100, 200, 300, 400, 500].contains(&v) {
            Some(v as i32)
        } else {
            c.error(
                &b.field("statusCodeClass"),
                "type_error.enum",
                "statusCodeClass must be 0, 100, 200, 300, 400 or 500",
            );
            None
        }
    });
    c.finish(())?;
    let (since, until) = window(&body.since, body.until.as_deref())?;
    let filter = ReplayFilter {
        since,
        until,
        event_types: body.event_types,
        channel,
        tag: body.tag,
        status,
        status_code_class: class,
    };
    let app = state.app(&p, &app_id).await?;
    let ep = enabled_endpoint(&state, &app, &ep_id).await?;
    let (task, mut run) = start(
        &state,
        &p,
        &app.id,
        TaskKind::EndpointBulkReplay,
        MESSAGES_SENT,
    )
    .await?;
    let (store, engine) = (state.store.clone(), state.engine.clone());
    tokio::spawn(async move {
        let outcome = async {
            let (mut after, mut sent) = (None::<String>, 0);
            loop {
                let ids = store
                    .replayable_message_ids(&app.id, &ep.id, &filter, after.as_deref(), BATCH)
                    .await
                    .map_err(|e| e.to_string())?;
                let Some(last) = ids.last() else { break };
                after = Some(last.clone());
                let full = ids.len() == BATCH;
                // An attempt under way keeps its own schedule (as a resend does).
                let ids: Vec<String> = ids
                    .into_iter()
                    .filter(|m| !engine.is_sending(m, &ep.id))
                    .collect();
                sent += requeue(&engine, &app.id, &ep.id, &ids).await?;
                run.set(MESSAGES_SENT, sent);
                run.report().await?;
                if !full {
                    break;
                }
            }
            Ok(())
        }
        .await;
        run.finish(outcome).await;
    });
    Ok((StatusCode::ACCEPTED, Json(ReplayOut::from(&task))))
}

/// Expunge the payloads of the messages named (ids or eventIds), now.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/bulk-expunge", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid")),
    request_body = BulkExpungeContentsIn,
    responses((status = 200, body = BulkExpungeContentsOut),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn bulk_expunge(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<BulkExpungeContentsIn>,
) -> ApiResult<Json<BulkExpungeContentsOut>> {
    let loc = Loc::body().field("ids");
    let mut c = Checker::new();
    if body.ids.len() > MAX_BULK_EXPUNGE {
        c.error(
            &loc,
            "value_error.list.max_items",
            format!("at most {MAX_BULK_EXPUNGE} ids per request"),
        );
    }
    for (i, id) in body.ids.iter().enumerate() {
        c.event_id(&loc.index(i), id);
    }
    c.finish(())?;
    let app = state.app(&p, &app_id).await?;
    let mut ids = body.ids;
    ids.sort();
    ids.dedup();
    let found = state.store.expunge_messages(&app.id, &ids).await?;
    let results = ids
        .into_iter()
        .zip(found)
        .map(|(id, ok)| {
            let st = if ok {
                BulkExpungeStatus::Expunged
            } else {
                BulkExpungeStatus::NotFound
            };
            (id, st)
        })
        .collect();
    Ok(Json(BulkExpungeContentsOut { results }))
}

/// Expunge the payload of every message of the application (and its attempts' response bodies), as a background task.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/expunge-all-contents", tag = "Message",
    params(("app_id" = String, Path, description = "id or uid")),
    responses((status = 202, body = ExpungeAllContentsOut, description = "the task runs; its data counts messagesPurged"),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut)))]
pub async fn expunge_all_contents(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
) -> ApiResult<(StatusCode, Json<ExpungeAllContentsOut>)> {
    let app = state.app(&p, &app_id).await?;
    let (task, mut run) = start(
        &state,
        &p,
        &app.id,
        TaskKind::ApplicationPurgeContent,
        MESSAGES_PURGED,
    )
    .await?;
    let store = state.store.clone();
    // Messages accepted after the request keep their payloads.
    let before = Timestamp(Timestamp::now().0.saturating_add(1));
    tokio::spawn(async move {
        let outcome = async {
            let (mut after, mut purged) = (None::<String>, 0);
            loop {
                let b = store
                    .expunge_app_messages(&app.id, before, after.as_deref(), BATCH)
                    .await
                    .map_err(|e| e.to_string())?;
                purged += b.expunged;
                run.set(MESSAGES_PURGED, purged);
                run.report().await?;
                match b.last {
                    Some(last) => after = Some(last),
                    None => break,
                }
            }
            Ok(())
        }
        .await;
        run.finish(outcome).await;
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(ExpungeAllContentsOut::from(&task)),
    ))
}

async fn enabled_endpoint(
    state: &AppState,
    app: &hookd_core::model::Application,
    ep_id: &str,
) -> ApiResult<Endpoint> {
    let ep = state.endpoint(app, ep_id).await?;
    if ep.disabled {
        return Err(ApiError::Conflict(
            "the endpoint is disabled; enable it first".into(),
        ));
    }
    Ok(ep)
}

async fn requeue(
    engine: &Engine,
    app_id: &str,
    ep_id: &str,
    msg_ids: &[String],
) -> Result<usize, String> {
    if msg_ids.is_empty() {
        return Ok(0);
    }
    engine
        .requeue(app_id, ep_id, msg_ids)
        .await
        .map_err(|e| e.to_string())
}

/// Records a task whose work is already done (`data` is its result), for
/// operations Svix answers with a task but hookd completes at once.
pub(crate) async fn finished_task(
    state: &AppState,
    p: &Principal,
    kind: TaskKind,
    data: Value,
) -> ApiResult<BackgroundTask> {
    let mut task = BackgroundTask::start(
        ids::new_id(Kind::Task),
        &p.org_id,
        None,
        kind,
        state.engine.node_id(),
        Timestamp::now(),
    );
    task.status = TaskStatus::Finished;
    task.node = None;
    task.data = data;
    Ok(state.store.create_task(task).await?)
}
