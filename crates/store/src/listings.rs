//! The listing queries, written once and built for either dialect: each
//! returns the query that fetches one page (see [`Sql::paginate`]), whose
//! rows decode with the `crate::records` function named in its doc.

use hookd_core::ids::{self, Kind};
use hookd_core::store::{AttemptFilter, ListQuery, MessageFilter, ReplayFilter, TaskFilter};
use hookd_core::time::Timestamp;

use crate::records::{
    APP_COLS, ATT_COLS, DLV_COLS, EP_COLS, ET_COLS, MSG_COLS, MSG_ROUTE_COLS, TASK_COLS,
};
use crate::sql::{Arg, Dialect, SUCCESS, Sql};

/// An organisation's applications (`records::app`).
pub(crate) fn apps(d: Dialect, org_id: &str, q: &ListQuery) -> Sql {
    let mut sql = Sql::new(
        d,
        format!("SELECT {APP_COLS} FROM applications WHERE org_id ="),
    );
    sql.bind(org_id);
    sql.paginate("id", q);
    sql
}

/// An application's endpoints (`records::endpoint`).
pub(crate) fn endpoints(d: Dialect, app_id: &str, q: &ListQuery) -> Sql {
    let mut sql = Sql::new(
        d,
        format!("SELECT {EP_COLS} FROM endpoints e WHERE e.app_id ="),
    );
    sql.bind(app_id);
    sql.paginate("e.id", q);
    sql
}

/// An organisation's event types (`records::event_type`).
pub(crate) fn event_types(d: Dialect, org_id: &str, q: &ListQuery, archived: bool) -> Sql {
    let mut sql = Sql::new(
        d,
        format!("SELECT {ET_COLS} FROM event_types WHERE org_id ="),
    );
    sql.bind(org_id);
    if !archived {
        sql.push(" AND NOT archived");
    }
    sql.paginate("name", q);
    sql
}

/// An application's messages (`records::message`).
pub(crate) fn messages(d: Dialect, app_id: &str, q: &ListQuery, f: &MessageFilter) -> Sql {
    let mut sql = Sql::new(
        d,
        format!("SELECT {MSG_COLS} FROM messages m WHERE m.app_id ="),
    );
    sql.bind(app_id);
    sql.message_filters(f, "m.created_at");
    sql.paginate("m.id", q);
    sql
}

/// Where a message went: endpoint then delivery (`records::endpoint_at`, `delivery_at`).
pub(crate) fn destinations(d: Dialect, app_id: &str, msg_id: &str, q: &ListQuery) -> Sql {
    let mut sql = Sql::new(
        d,
        format!(
            "SELECT {EP_COLS}, {DLV_COLS} FROM deliveries d \
             JOIN endpoints e ON e.id = d.endpoint_id WHERE d.app_id ="
        ),
    );
    sql.bind(app_id);
    sql.push(" AND d.msg_id =");
    sql.bind(msg_id);
    sql.paginate("d.endpoint_id", q);
    sql
}

/// What went to an endpoint: message then delivery (`records::message_at`, `delivery_at`).
pub(crate) fn endpoint_messages(
    d: Dialect,
    app_id: &str,
    endpoint_id: &str,
    q: &ListQuery,
    f: &AttemptFilter,
) -> Sql {
    let mut sql = Sql::new(
        d,
        format!(
            "SELECT {MSG_COLS}, {DLV_COLS} FROM deliveries d \
             JOIN messages m ON m.id = d.msg_id WHERE d.app_id ="
        ),
    );
    sql.bind(app_id);
    sql.push(" AND d.endpoint_id =");
    sql.bind(endpoint_id);
    if let Some(s) = f.status {
        sql.push(" AND d.status =");
        sql.bind(s as i64);
    }
    sql.message_filters(&f.msg, "m.created_at");
    sql.paginate("d.msg_id", q);
    sql
}

/// Which attempts a listing is of.
pub(crate) enum AttemptsOf<'a> {
    Endpoint(&'a str),
    Message(&'a str),
}

/// Attempts of an endpoint or a message (`records::attempt`).
pub(crate) fn attempts(
    d: Dialect,
    app_id: &str,
    of: AttemptsOf<'_>,
    q: &ListQuery,
    f: &AttemptFilter,
) -> Sql {
    let mut sql = Sql::new(
        d,
        format!(
            "SELECT {ATT_COLS} FROM attempts a JOIN messages m ON m.id = a.msg_id WHERE a.app_id ="
        ),
    );
    sql.bind(app_id);
    match of {
        AttemptsOf::Endpoint(id) => {
            sql.push(" AND a.endpoint_id =");
            sql.bind(id);
        }
        AttemptsOf::Message(id) => {
            sql.push(" AND a.msg_id =");
            sql.bind(id);
        }
    }
    sql.attempt_filters(f);
    sql.paginate("a.id", q);
    sql
}

/// Deliveries to an endpoint by status, as (status, count) rows.
pub(crate) fn endpoint_stats(
    d: Dialect,
    app_id: &str,
    endpoint_id: &str,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Sql {
    let mut sql = Sql::new(
        d,
        "SELECT d.status, COUNT(*) FROM deliveries d WHERE d.app_id =",
    );
    sql.bind(app_id);
    sql.push(" AND d.endpoint_id =");
    sql.bind(endpoint_id);
    sql.window("d.created_at", since.map(|t| t.0), until.map(|t| t.0));
    sql.push(" GROUP BY d.status");
    sql
}

/// An organisation's background tasks (`records::task`).
pub(crate) fn tasks(d: Dialect, org_id: &str, q: &ListQuery, f: &TaskFilter) -> Sql {
    let mut sql = Sql::new(
        d,
        format!("SELECT {TASK_COLS} FROM background_tasks WHERE org_id ="),
    );
    sql.bind(org_id);
    if let Some(app) = &f.app_id {
        sql.push(" AND app_id =");
        sql.bind(app.as_str());
    }
    if let Some(status) = f.status {
        sql.push(" AND status =");
        sql.bind(status.as_str());
    }
    if let Some(kind) = f.kind {
        sql.push(" AND task =");
        sql.bind(kind.as_str());
    }
    sql.paginate("id", q);
    sql
}

/// ` AND m.id > after ORDER BY key LIMIT limit`: one batch of a walk in id order.
fn batch(sql: &mut Sql, key_col: &str, after: Option<&str>, limit: usize) {
    if let Some(after) = after {
        sql.push(&format!(" AND {key_col} >"));
        sql.bind(after);
    }
    sql.push(&format!(" ORDER BY {key_col} LIMIT"));
    sql.bind(limit as i64);
}

/// Messages of an application in a window with no delivery to an endpoint,
/// their payload kept (`records::message_route`).
pub(crate) fn unrouted_messages(
    d: Dialect,
    app_id: &str,
    endpoint_id: &str,
    window: (Timestamp, Timestamp),
    after: Option<&str>,
    limit: usize,
) -> Sql {
    let mut sql = Sql::new(
        d,
        format!("SELECT {MSG_ROUTE_COLS} FROM messages m WHERE m.app_id ="),
    );
    sql.bind(app_id);
    sql.push(" AND m.expunged =");
    sql.bind(Arg::Bool(false));
    sql.window("m.created_at", Some(window.0.0), Some(window.1.0));
    sql.push(
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id =",
    );
    sql.bind(endpoint_id);
    sql.push(")");
    batch(&mut sql, "m.id", after, limit);
    sql
}

/// Ids of messages whose delivery to an endpoint matches a replay's
/// filters, their payload kept (one text column).
pub(crate) fn replayable_message_ids(
    d: Dialect,
    app_id: &str,
    endpoint_id: &str,
    f: &ReplayFilter,
    after: Option<&str>,
    limit: usize,
) -> Sql {
    let mut sql = Sql::new(
        d,
        "SELECT d.msg_id FROM deliveries d JOIN messages m ON m.id = d.msg_id \
         WHERE d.endpoint_id =",
    );
    sql.bind(endpoint_id);
    sql.push(" AND d.app_id =");
    sql.bind(app_id);
    sql.push(" AND m.expunged =");
    sql.bind(Arg::Bool(false));
    sql.window("m.created_at", Some(f.since.0), Some(f.until.0));
    sql.message_filters(
        &MessageFilter {
            event_types: f.types().map(<[String]>::to_vec),
            channel: f.channel.clone(),
            ..Default::default()
        },
        "m.created_at",
    );
    if let Some(tag) = &f.tag {
        sql.json_array_has("m.tags", tag);
    }
    if let Some(status) = f.stored_status() {
        sql.push(" AND d.status =");
        sql.bind(status as i64);
    }
    if let Some((lo, hi)) = f.status_code_range() {
        sql.push(
            " AND EXISTS (SELECT 1 FROM attempts a WHERE a.msg_id = d.msg_id \
             AND a.endpoint_id = d.endpoint_id",
        );
        sql.window("a.response_status", Some(lo.into()), Some(hi.into()));
        sql.push(")");
    }
    batch(&mut sql, "d.msg_id", after, limit);
    sql
}

/// Messages and their deliveries per application in a window, as
/// (app id, messages, deliveries) rows in application order.
pub(crate) fn app_usage(d: Dialect, app_ids: &[String], since: Timestamp, until: Timestamp) -> Sql {
    let mut sql = Sql::new(
        d,
        "SELECT m.app_id, COUNT(DISTINCT m.id), COUNT(d.msg_id) FROM messages m \
         LEFT JOIN deliveries d ON d.msg_id = m.id WHERE m.created_at >=",
    );
    sql.bind(since.0);
    sql.push(" AND m.created_at <");
    sql.bind(until.0);
    sql.one_of("m.app_id", app_ids);
    sql.push(" GROUP BY m.app_id ORDER BY m.app_id");
    sql
}

/// Per endpoint of the application: attempts succeeded and failed since
/// `hour` and since `day`, and the time of the last failure since `day`, as
/// (endpoint id, ok hour, failed hour, ok day, failed day, last failure) rows.
pub(crate) fn endpoint_health(d: Dialect, app_id: &str, hour: Timestamp, day: Timestamp) -> Sql {
    use const_format::concatcp;
    const OK: &str = concatcp!("a.status = ", SUCCESS);
    let mut sql = Sql::new(
        d,
        format!(
            "SELECT a.endpoint_id, \
             COALESCE(SUM(CASE WHEN {OK} AND a.created_at >= {h} THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN NOT ({OK}) AND a.created_at >= {h} THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN {OK} THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN NOT ({OK}) THEN 1 ELSE 0 END), 0), \
             MAX(CASE WHEN NOT ({OK}) THEN a.created_at END) \
             FROM attempts a WHERE a.endpoint_id IN (SELECT id FROM endpoints WHERE app_id =",
            h = hour.0,
        ),
    );
    sql.bind(app_id);
    // The id bound lets the (endpoint_id, id) index skip older attempts.
    sql.push(") AND a.id >=");
    sql.bind(ids::floor_for_millis(Kind::Attempt, day.0));
    // An attempt's id and its timestamp are made together, but an imported or
    // clock-skewed one may differ: the window itself is the timestamp's.
    sql.window("a.created_at", Some(day.0), None);
    sql.push(" GROUP BY a.endpoint_id");
    sql
}

/// Attempts in `[since, until)` by bucket of `width_ms`, as (bucket index,
/// succeeded, failed) rows, of one endpoint or of the whole application.
pub(crate) fn attempt_buckets(
    d: Dialect,
    app_id: &str,
    endpoint_id: Option<&str>,
    since: Timestamp,
    until: Timestamp,
    width_ms: i64,
) -> Sql {
    use const_format::concatcp;
    const OK: &str = concatcp!("a.status = ", SUCCESS);
    let width = width_ms.max(1);
    let mut sql = Sql::new(
        d,
        format!(
            "SELECT (a.created_at - {s}) / {width} AS b, \
             COALESCE(SUM(CASE WHEN {OK} THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN NOT ({OK}) THEN 1 ELSE 0 END), 0) \
             FROM attempts a WHERE",
            s = since.0
        ),
    );
    match endpoint_id {
        Some(ep) => {
            sql.push(" a.app_id =");
            sql.bind(app_id);
            sql.push(" AND a.endpoint_id =");
            sql.bind(ep);
        }
        None => {
            sql.push(" a.endpoint_id IN (SELECT id FROM endpoints WHERE app_id =");
            sql.bind(app_id);
            sql.push(")");
        }
    }
    sql.push(" AND a.id >=");
    sql.bind(ids::floor_for_millis(Kind::Attempt, since.0));
    sql.window("a.created_at", Some(since.0), Some(until.0));
    sql.push(" GROUP BY b");
    sql
}
