//! `POST /api/v1/msg/broadcast` (Svix `message.broadcast`): one message to
//! every application of the organisation, as a `message.broadcast`
//! background task (the machinery of `tasks`). The message is validated
//! before the task starts; the task then walks the applications a page at a
//! time, records each `{appId, msgId}` under `messagesCreated`, and skips an
//! application that already has a message with the `eventId`. The
//! operational application is left out: its messages are hookd's own events.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hookd_core::ids::{self, Kind};
use hookd_core::model::{BackgroundTask, TaskKind};
use hookd_core::store::{ListQuery, Order, StoreError};
use hookd_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::JsonBody;
use super::state::{AppState, Principal};
use super::tasks::{BackgroundTaskStatus, BackgroundTaskType, Run};
use super::types::MessageIn;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_broadcast))
}

/// The task's result key: one `{appId, msgId}` per message created.
const MESSAGES_CREATED: &str = "messagesCreated";

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageBroadcastIn {
    pub event_type: String,
    /// Your id of the event; an application that already has it is skipped.
    pub event_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Option<Box<RawValue>>,
    pub channels: Option<Vec<String>>,
    /// Days each message's payload is kept (1-3650).
    pub payload_retention_period: Option<i64>,
    /// Hours each message's payload is kept (1-87600); wins over the days.
    pub payload_retention_hours: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageBroadcastOut {
    /// The task: follow it with `GET /api/v1/background-task/{id}`.
    pub id: String,
    pub status: BackgroundTaskStatus,
    pub task: BackgroundTaskType,
    pub updated_at: Timestamp,
}

/// Send one message to every application of the organisation, as a background task.
#[utoipa::path(post, path = "/api/v1/msg/broadcast", tag = "Broadcast",
    request_body = MessageBroadcastIn,
    responses((status = 202, body = MessageBroadcastOut, description = "the task runs; its data lists messagesCreated"),
        (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut, description = "an application-scoped key"),
        (status = 413, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn create_broadcast(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    JsonBody(body): JsonBody<MessageBroadcastIn>,
) -> ApiResult<(StatusCode, Json<MessageBroadcastOut>)> {
    p.require_org_scope()?;
    let mut as_msg = MessageIn {
        event_type: body.event_type,
        event_id: body.event_id,
        payload: body.payload,
        data: None,
        channels: body.channels,
        tags: None,
        application: None,
        payload_retention_period: body.payload_retention_period,
        payload_retention_hours: body.payload_retention_hours,
        deliver_at: None,
    };
    let msg = super::message::validate(&state, &mut as_msg)?;
    let own_retention = Some(msg.expires_at.0).filter(|&ms| ms > 0);

    let mut task = BackgroundTask::start(
        ids::new_id(Kind::Task),
        &p.org_id,
        None,
        TaskKind::MessageBroadcast,
        state.engine.node_id(),
        Timestamp::now(),
    );
    let mut data = Map::new();
    data.insert(MESSAGES_CREATED.into(), json!([]));
    task.data = Value::Object(data.clone());
    let task = state.store.create_task(task).await?;
    let mut run = Run {
        store: state.store.clone(),
        id: task.id.clone(),
        data,
    };
    let org_id = p.org_id.clone();
    let st = state.clone();
    tokio::spawn(async move {
        let outcome = async {
            let mut created = Vec::new();
            let mut q = ListQuery::first(250, Order::Ascending);
            loop {
                let apps = st
                    .store
                    .list_apps(&org_id, &q)
                    .await
                    .map_err(|e| e.to_string())?;
                for app in &apps.data {
                    if app.uid.as_deref() == Some(st.config.operational_app_uid.as_str()) {
                        continue;
                    }
                    let mut m = msg.clone();
                    m.expires_at = st.expiry(app, own_retention);
                    match st.engine.accept(&app.id, m).await {
                        Ok(m) => {
                            st.metrics.messages_accepted.inc();
                            created.push(json!({"appId": app.id, "msgId": m.id}));
                        }
                        // The application already has this eventId.
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                run.data
                    .insert(MESSAGES_CREATED.into(), Value::Array(created.clone()));
                run.report().await?;
                if !q.advance(&apps) {
                    return Ok(());
                }
            }
        }
        .await;
        run.finish(outcome).await;
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageBroadcastOut {
            id: task.id.clone(),
            status: task.status.into(),
            task: task.kind.into(),
            updated_at: task.updated_at,
        }),
    ))
}
