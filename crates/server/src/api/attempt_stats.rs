//! Attempt statistics of one application over a period: Svix's
//! `v1.stats.app-attempts` (counts per time bucket) and
//! `v1.application.stats.attempts` (counts per event type). Without an
//! event-type filter the buckets are one aggregate query; otherwise both walk
//! the application's attempt log endpoint by endpoint, a read per 250
//! attempts. hookd cancels deliveries, never attempts, so canceled counts are 0.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::{Extension, Json};
use hookd_core::model::{Application, Attempt, DeliveryStatus};
use hookd_core::store::{
    AttemptFilter, ListQuery, MessageFilter, Order, aligned_window, fill_buckets,
};
use hookd_core::time::Timestamp;
use hookd_core::validate::Loc;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{Path, Query, RawQuery};
use super::state::{AppState, Principal};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(app_attempt_statistics))
        .routes(routes!(app_attempt_stats))
}

/// The length of one data point of [`AttemptStatisticsResponse`].
#[derive(Serialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatisticsPeriod {
    OneDay,
    OneHour,
    FiveMinutes,
}

impl StatisticsPeriod {
    fn parse(s: &str) -> Option<StatisticsPeriod> {
        Some(match s {
            "OneDay" => StatisticsPeriod::OneDay,
            "OneHour" => StatisticsPeriod::OneHour,
            "FiveMinutes" => StatisticsPeriod::FiveMinutes,
            _ => return None,
        })
    }
    fn width_ms(self) -> i64 {
        match self {
            StatisticsPeriod::OneDay => 86_400_000,
            StatisticsPeriod::OneHour => 3_600_000,
            StatisticsPeriod::FiveMinutes => 300_000,
        }
    }
}

#[derive(Serialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AttemptStatisticsData {
    pub success_count: Option<Vec<i64>>,
    pub failure_count: Option<Vec<i64>>,
    pub canceled_count: Option<Vec<i64>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptStatisticsResponse {
    /// The start of the first data point (`startDate` rounded down to the period).
    pub start_date: Timestamp,
    /// The end of the last data point (`endDate` rounded up to the period).
    pub end_date: Timestamp,
    pub period: StatisticsPeriod,
    /// One count per period from `startDate`, oldest first.
    pub data: AttemptStatisticsData,
}

#[derive(Serialize, ToSchema, Default, Clone, Copy)]
pub struct AppAttemptEventTypeStats {
    pub success: u64,
    pub failure: u64,
    pub canceled: u64,
}

/// Svix names these fields in snake_case.
#[derive(Serialize, ToSchema)]
pub struct AppAttemptStatsOut {
    pub by_event_type: BTreeMap<String, AppAttemptEventTypeStats>,
    pub total_success: u64,
    pub total_failure: u64,
    pub total_canceled: u64,
    pub since: Timestamp,
    pub until: Timestamp,
}

/// How far back statistics go when no start is given.
const DEFAULT_SPAN_MS: i64 = 28 * 86_400_000;

/// Calls `each` with every attempt of the application made in `(since,
/// until)` to a message of one of `types` (any type when `None`).
async fn walk(
    state: &AppState,
    app: &Application,
    since: Timestamp,
    until: Timestamp,
    types: Option<Vec<String>>,
    mut each: impl FnMut(&Attempt),
) -> ApiResult<()> {
    let f = AttemptFilter {
        msg: MessageFilter {
            event_types: types,
            // `after` is exclusive: start one millisecond early.
            after: Some(Timestamp(since.0 - 1)),
            before: Some(until),
            channel: None,
        },
        with_msg: true,
        ..Default::default()
    };
    let mut eq = ListQuery::first(250, Order::Ascending);
    loop {
        let eps = state.store.list_endpoints(&app.id, &eq).await?;
        for ep in &eps.data {
            let mut aq = ListQuery::first(250, Order::Ascending);
            loop {
                let page = state
                    .store
                    .list_attempts_by_endpoint(&app.id, &ep.id, &aq, &f)
                    .await?;
                page.data.iter().for_each(&mut each);
                if !aq.advance(&page) {
                    break;
                }
            }
        }
        if !eq.advance(&eps) {
            return Ok(());
        }
    }
}

/// Attempts of the application per period: successes, failures, cancellations.
#[utoipa::path(get, path = "/api/v1/stats/app/{app_id}/attempt", tag = "Statistics",
    params(("app_id" = String, Path, description = "id or uid"),
        ("startDate" = Option<String>, Query, description = "RFC 3339; default 28 days before endDate"),
        ("endDate" = Option<String>, Query, description = "RFC 3339; default now"),
        ("period" = Option<StatisticsPeriod>, Query, description = "default OneDay; at most 2,000 periods"),
        ("event_types" = Option<String>, Query, description = "comma-separated")),
    responses((status = 200, body = AttemptStatisticsResponse), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn app_attempt_statistics(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<AttemptStatisticsResponse>> {
    let mut q = Query::new(&raw);
    let end = q.datetime("endDate").unwrap_or_else(Timestamp::now);
    let start = q
        .datetime("startDate")
        .unwrap_or(Timestamp(end.0 - DEFAULT_SPAN_MS));
    let period = match q.str("period") {
        None => StatisticsPeriod::OneDay,
        Some(s) => StatisticsPeriod::parse(s).unwrap_or_else(|| {
            q.check.error(
                &Loc::query().field("period"),
                "type_error.enum",
                "period must be OneDay, OneHour or FiveMinutes",
            );
            StatisticsPeriod::OneDay
        }),
    };
    let types = q.list("event_types");
    let width = period.width_ms();
    let window = aligned_window(start, end, width);
    if window.is_none() {
        q.check.error(
            &Loc::query().field("startDate"),
            "value_error",
            "startDate must be before endDate, and the range at most 2000 periods",
        );
    }
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    // `finish` refused a missing window above.
    let (since, until) = window.unwrap_or((start, end));
    let buckets = match types {
        None => {
            state
                .store
                .attempt_buckets(&app.id, None, since, until, width)
                .await?
        }
        Some(types) => {
            let mut rows = Vec::new();
            walk(&state, &app, since, until, Some(types), |a| {
                let ok = i64::from(a.status == DeliveryStatus::Success);
                rows.push(((a.timestamp.0 - since.0) / width, ok, 1 - ok));
            })
            .await?;
            fill_buckets(since, until, width, &rows)
        }
    };
    Ok(Json(AttemptStatisticsResponse {
        start_date: since,
        end_date: until,
        period,
        data: AttemptStatisticsData {
            success_count: Some(buckets.iter().map(|b| b.succeeded).collect()),
            failure_count: Some(buckets.iter().map(|b| b.failed).collect()),
            canceled_count: Some(vec![0; buckets.len()]),
        },
    }))
}

/// A date-time query parameter that must be there.
fn required(q: &mut Query, name: &str) -> Option<Timestamp> {
    let t = q.datetime(name);
    if q.str(name).is_none() {
        q.check.error(
            &Loc::query().field(name),
            "value_error.missing",
            "field required",
        );
    }
    t
}

/// Attempts of the application in `[since, until)`, per event type.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/stats/attempts", tag = "Application",
    params(("app_id" = String, Path, description = "id or uid"),
        ("since" = String, Query, description = "RFC 3339"), ("until" = String, Query, description = "RFC 3339"),
        ("event_types" = Option<String>, Query, description = "comma-separated")),
    responses((status = 200, body = AppAttemptStatsOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn app_attempt_stats(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<AppAttemptStatsOut>> {
    let mut q = Query::new(&raw);
    let since = required(&mut q, "since");
    let until = required(&mut q, "until");
    if let (Some(s), Some(u)) = (since, until)
        && s.0 > u.0
    {
        q.check.error(
            &Loc::query().field("until"),
            "value_error",
            "until must not be before since",
        );
    }
    let types = q.list("event_types");
    q.finish()?;
    let app = state.app(&p, &app_id).await?;
    let (since, until) = (since.unwrap_or_default(), until.unwrap_or_default());
    let mut out = AppAttemptStatsOut {
        by_event_type: BTreeMap::new(),
        total_success: 0,
        total_failure: 0,
        total_canceled: 0,
        since,
        until,
    };
    walk(&state, &app, since, until, types, |a| {
        let ty = a.msg.as_ref().map_or("", |m| m.event_type.as_str());
        let e = out.by_event_type.entry(ty.to_string()).or_default();
        if a.status == DeliveryStatus::Success {
            e.success += 1;
            out.total_success += 1;
        } else {
            e.failure += 1;
            out.total_failure += 1;
        }
    })
    .await?;
    Ok(Json(out))
}
