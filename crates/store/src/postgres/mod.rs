//! The PostgreSQL implementation of [`Store`]: the SQLite store's behaviour
//! (same ordering, pagination, conflicts and stored forms) on a database
//! that several hookd processes can share. The conformance suite
//! (`crates/store/tests/conformance.rs`) runs against both to keep them alike.
//!
//! Every method is one statement or one transaction. Where SQLite's single
//! writer makes a read-then-write safe, this store uses a statement that is
//! safe under concurrency instead (`ON CONFLICT … WHERE`, row locks), and
//! transactions that lock several rows lock them in key order, so concurrent
//! writers wait for each other rather than deadlock.
//!
//! Work sharing between nodes (claims, leases, LISTEN/NOTIFY) builds on
//! [`PostgresStore::pool`] and [`PostgresStore::pg_config`]: a LISTEN needs
//! a dedicated connection made from the same configuration, since pooled
//! connections drop notifications.

mod conn;
mod migrations;
mod rows;

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool};
use hookd_core::ids::{self, Kind};
use hookd_core::model::{
    ApiKey, Application, Attempt, Delivery, DeliveryStatus, Endpoint, EventType, Message, Org,
    Scope,
};
use hookd_core::store::{
    AttemptEffects, AttemptFilter, AttemptResult, Change, DisableReason, EndpointStats,
    IdempotencyStart, ListQuery, MessageFilter, Mutation, NewMessage, NextStep, Order, Page,
    QueuedDelivery, Store, StoreError, StoreResult,
};
use hookd_core::time::Timestamp;

pub use conn::{DEFAULT_POOL_SIZE, PgUrl};
use conn::{Mode, Sql, execute, execute_unique, query, query_opt, single, transaction};
use rows::{
    APP_COLS, ATT_COLS, DLV_COLS, EP_COLS, EP_WIDTH, ET_COLS, KEY_COLS, MSG_COLS, MSG_WIDTH, all,
    col,
};

use crate::codec::{
    APP_UID_TAKEN, ENDPOINT_UID_TAKEN, EVENT_ID_TAKEN, EVENT_TYPE_TAKEN, json, json_opt,
};

/// The PostgreSQL store: a connection pool over a migrated database.
pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
}

impl PostgresStore {
    /// Connects, applies pending migrations and returns the store. Fails with
    /// `Unavailable` when the server cannot be reached within the connect
    /// timeout.
    pub async fn connect(url: &PgUrl) -> StoreResult<PostgresStore> {
        let config = url.config()?;
        let pool = conn::pool(config.clone(), url.pool_size)?;
        migrations::apply(&pool).await?;
        Ok(PostgresStore { pool, config })
    }

    /// [`PostgresStore::connect`] for synchronous callers (`hookd_store::open`,
    /// used once at start, is sync like opening the SQLite file).
    ///
    /// The migrations run on a helper thread with its own small runtime and
    /// connection, because blocking on a future inside the caller's runtime
    /// would panic (or, on a single-threaded runtime, deadlock). The pool is
    /// built afterwards: its connections are made lazily on the caller's
    /// runtime, where the store is used.
    pub fn open(url: &PgUrl) -> StoreResult<PostgresStore> {
        let config = url.config()?;
        let migrate_config = config.clone();
        std::thread::Builder::new()
            .name("hookd-pg-migrate".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| StoreError::Backend(format!("cannot start a runtime: {e}")))?;
                rt.block_on(async {
                    let pool = conn::pool(migrate_config, 1)?;
                    migrations::apply(&pool).await
                })
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the migration thread: {e}")))?
            .join()
            .map_err(|_| StoreError::Backend("the migration thread panicked".into()))??;
        let pool = conn::pool(config.clone(), url.pool_size)?;
        Ok(PostgresStore { pool, config })
    }

    /// The connection pool (for features built on this store, such as claims).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The driver configuration the pool connects with, for dedicated
    /// connections (a LISTEN must own its connection to see notifications).
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

/// Appends keyset pagination on `key_col` (a `COLLATE "C"` column, so the
/// order is bytewise like SQLite's) and fetches `limit + 1` rows in the
/// direction the cursor points.
fn paginate(sql: &mut Sql, key_col: &str, q: &ListQuery) {
    let backwards = q.cursor.as_ref().is_some_and(|c| c.backwards);
    let desc = (q.order == Order::Descending) != backwards;
    if let Some(c) = &q.cursor {
        let p = sql.arg(c.key.clone());
        sql.push(&format!(
            " AND {key_col} {} {p}",
            if desc { "<" } else { ">" }
        ));
    }
    let p = sql.arg(q.limit as i64 + 1);
    sql.push(&format!(
        " ORDER BY {key_col} {} LIMIT {p}",
        if desc { "DESC" } else { "ASC" }
    ));
}

/// The message-level filters shared by message, endpoint-message and attempt
/// listings (`m` is the messages table).
fn message_filters(
    sql: &mut Sql,
    event_types: &Option<Vec<String>>,
    channel: &Option<String>,
    before: Option<Timestamp>,
    after: Option<Timestamp>,
    time_col: &str,
) {
    if let Some(types) = event_types
        && !types.is_empty()
    {
        let p = sql.arg(types.clone());
        sql.push(&format!(" AND m.event_type = ANY({p})"));
    }
    if let Some(ch) = channel {
        // `?` on a jsonb array: is this string one of its elements (what
        // SQLite's json_each does). NULL channels match nothing.
        let p = sql.arg(ch.clone());
        sql.push(&format!(" AND (m.channels::jsonb) ? {p}"));
    }
    if let Some(b) = before {
        let p = sql.arg(b.0);
        sql.push(&format!(" AND {time_col} < {p}"));
    }
    if let Some(a) = after {
        let p = sql.arg(a.0);
        sql.push(&format!(" AND {time_col} > {p}"));
    }
}

fn attempt_filters(sql: &mut Sql, f: &AttemptFilter) {
    if let Some(s) = f.status {
        let p = sql.arg(s as i16);
        sql.push(&format!(" AND a.status = {p}"));
    }
    if let Some(class) = f.status_code_class {
        if class == 0 {
            sql.push(" AND a.response_status = 0");
        } else {
            let lo = sql.arg(class);
            let hi = sql.arg(class.saturating_add(100));
            sql.push(&format!(
                " AND a.response_status >= {lo} AND a.response_status < {hi}"
            ));
        }
    }
    if let Some(ep) = &f.endpoint_id {
        let p = sql.arg(ep.clone());
        sql.push(&format!(" AND a.endpoint_id = {p}"));
    }
    message_filters(
        sql,
        &f.event_types,
        &f.channel,
        f.before,
        f.after,
        "a.created_at",
    );
}

// ----- helpers used inside transactions -----

/// Locks a row about to be read, changed and written back. NO KEY UPDATE is
/// the lock the UPDATE itself takes (the id does not change), so messages
/// being inserted may still reference the row meanwhile.
const LOCK_FOR_UPDATE: &str = " FOR NO KEY UPDATE";

async fn find_app(
    c: &impl GenericClient,
    org_id: &str,
    key: &str,
    lock: bool,
) -> StoreResult<Option<Application>> {
    let col = if ids::is_id(Kind::App, key) {
        "id"
    } else {
        "uid"
    };
    let lock = if lock { LOCK_FOR_UPDATE } else { "" };
    let sql = format!("SELECT {APP_COLS} FROM applications WHERE org_id = $1 AND {col} = $2{lock}");
    query_opt(c, &sql, &[&org_id, &key])
        .await?
        .map(|r| rows::app(&r))
        .transpose()
}

async fn find_endpoint(
    c: &impl GenericClient,
    app_id: &str,
    key: &str,
    lock: bool,
) -> StoreResult<Option<Endpoint>> {
    let col = if ids::is_id(Kind::Endpoint, key) {
        "id"
    } else {
        "uid"
    };
    let lock = if lock { LOCK_FOR_UPDATE } else { "" };
    let sql =
        format!("SELECT {EP_COLS} FROM endpoints e WHERE e.app_id = $1 AND e.{col} = $2{lock}");
    query_opt(c, &sql, &[&app_id, &key])
        .await?
        .map(|r| rows::endpoint(&r))
        .transpose()
}

async fn find_event_type(
    c: &impl GenericClient,
    org_id: &str,
    name: &str,
    lock: bool,
) -> StoreResult<Option<EventType>> {
    let lock = if lock { LOCK_FOR_UPDATE } else { "" };
    let sql = format!("SELECT {ET_COLS} FROM event_types WHERE org_id = $1 AND name = $2{lock}");
    query_opt(c, &sql, &[&org_id, &name])
        .await?
        .map(|r| rows::event_type(&r))
        .transpose()
}

async fn update_app_row(c: &impl GenericClient, a: &Application) -> StoreResult<()> {
    execute_unique(
        c,
        "UPDATE applications SET org_id = $2, uid = $3, name = $4, rate_limit = $5, \
         metadata = $6, created_at = $7, updated_at = $8, retention_days = $9 WHERE id = $1",
        &[
            &a.id,
            &a.org_id,
            &a.uid,
            &a.name,
            &a.rate_limit.map(i32::from),
            &json(&a.metadata),
            &a.created_at.0,
            &a.updated_at.0,
            &a.retention_days.map(|d| d.min(i32::MAX as u32) as i32),
        ],
        APP_UID_TAKEN,
    )
    .await?;
    Ok(())
}

async fn upsert_endpoint_row(
    c: &impl GenericClient,
    e: &Endpoint,
    insert: bool,
) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO endpoints (id, app_id, uid, url, description, version, rate_limit, disabled, \
         filter_types, channels, metadata, secret, old_secrets, headers, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    } else {
        "UPDATE endpoints SET app_id = $2, uid = $3, url = $4, description = $5, version = $6, \
         rate_limit = $7, disabled = $8, filter_types = $9, channels = $10, metadata = $11, \
         secret = $12, old_secrets = $13, headers = $14, created_at = $15, updated_at = $16 \
         WHERE id = $1"
    };
    execute_unique(
        c,
        sql,
        &[
            &e.id,
            &e.app_id,
            &e.uid,
            &e.url,
            &e.description,
            &e.version,
            &e.rate_limit.map(i32::from),
            &e.disabled,
            &json_opt(&e.filter_types),
            &json_opt(&e.channels),
            &json(&e.metadata),
            &e.secret,
            &json(&e.old_secrets),
            &json(&e.headers),
            &e.created_at.0,
            &e.updated_at.0,
        ],
        ENDPOINT_UID_TAKEN,
    )
    .await?;
    Ok(())
}

/// Inserts the event type, or replaces the stored one of the same name when
/// `replace_if` holds for it (SQL over the stored row `event_types`). The
/// stored creation time is kept. Returns the resulting `created_at`, or
/// `None` when a row exists and `replace_if` was false for it.
async fn upsert_event_type_row(
    c: &impl GenericClient,
    et: &EventType,
    replace_if: &str,
) -> StoreResult<Option<Timestamp>> {
    let sql = format!(
        "INSERT INTO event_types (org_id, name, description, archived, deprecated, schemas, \
         feature_flags, group_name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (org_id, name) DO UPDATE SET description = EXCLUDED.description, \
         archived = EXCLUDED.archived, deprecated = EXCLUDED.deprecated, \
         schemas = EXCLUDED.schemas, feature_flags = EXCLUDED.feature_flags, \
         group_name = EXCLUDED.group_name, updated_at = EXCLUDED.updated_at \
         WHERE {replace_if} RETURNING created_at"
    );
    let row = query_opt(
        c,
        &sql,
        &[
            &et.org_id,
            &et.name,
            &et.description,
            &et.archived,
            &et.deprecated,
            &json_opt(&et.schemas),
            &json_opt(&et.feature_flags),
            &et.group_name,
            &et.created_at.0,
            &et.updated_at.0,
        ],
    )
    .await?;
    row.map(|r| Ok(Timestamp(col(&r, 0)?))).transpose()
}

async fn attach_messages(c: &impl GenericClient, attempts: &mut [Attempt]) -> StoreResult<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = attempts.iter().map(|a| a.msg_id.as_str()).collect();
    let found = query(
        c,
        &format!("SELECT {MSG_COLS} FROM messages m WHERE m.id = ANY($1)"),
        &[&ids],
    )
    .await?;
    let mut by_id = std::collections::HashMap::new();
    for r in &found {
        let m = rows::message(r)?;
        by_id.insert(m.id.clone(), m);
    }
    for a in attempts.iter_mut() {
        a.msg = by_id.get(&a.msg_id).cloned();
    }
    Ok(())
}

/// Records one attempt inside the caller's transaction (see `Store::record_attempt`).
/// The caller has locked the endpoint row.
async fn record_one(c: &impl GenericClient, r: &AttemptResult) -> StoreResult<AttemptEffects> {
    let a = &r.attempt;
    let now = a.timestamp;
    let (status, next_at) = match &r.next {
        NextStep::Success => (DeliveryStatus::Success, None),
        NextStep::Retry(t) => (DeliveryStatus::Pending, Some(t.0)),
        NextStep::Fail | NextStep::FailAndDisable => (DeliveryStatus::Fail, None),
    };
    let updated = query_opt(
        c,
        "UPDATE deliveries SET status = $3, attempts = attempts + 1, next_attempt_at = $4, \
         manual = false, updated_at = $5 WHERE msg_id = $1 AND endpoint_id = $2 \
         RETURNING attempts",
        &[
            &a.msg_id,
            &a.endpoint_id,
            &(status as i16),
            &next_at,
            &now.0,
        ],
    )
    .await?;
    let Some(updated) = updated else {
        return Ok(AttemptEffects {
            gone: true,
            ..Default::default()
        });
    };
    execute(
        c,
        "INSERT INTO attempts (id, msg_id, endpoint_id, app_id, url, status, response_status, \
         response, duration_ms, trigger_type, error_class, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &a.id,
            &a.msg_id,
            &a.endpoint_id,
            &r.app_id,
            &a.url,
            &(a.status as i16),
            &a.response_status_code,
            &a.response.as_bytes(),
            &a.response_duration_ms,
            &(a.trigger_type as i16),
            &a.error_class,
            &now.0,
        ],
    )
    .await?;
    let effects = AttemptEffects {
        attempts: col(&updated, 0)?,
        ..Default::default()
    };
    if r.next == NextStep::Success {
        execute(
            c,
            "UPDATE endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
            &[&a.endpoint_id],
        )
        .await?;
        return Ok(effects);
    }
    failure_effects(c, r, effects).await
}

/// After a failed attempt: starts the endpoint's run of failures, or
/// disables it (410, or failing for too long).
async fn failure_effects(
    c: &impl GenericClient,
    r: &AttemptResult,
    mut effects: AttemptEffects,
) -> StoreResult<AttemptEffects> {
    let a = &r.attempt;
    let now = a.timestamp;
    let row = query_opt(
        c,
        "SELECT failing_since, disabled FROM endpoints WHERE id = $1",
        &[&a.endpoint_id],
    )
    .await?;
    let Some(row) = row else {
        return Ok(effects);
    };
    let failing_since: Option<i64> = col(&row, 0)?;
    let disabled: bool = col(&row, 1)?;
    let since = failing_since.unwrap_or(now.0);
    effects.failing_since = Some(Timestamp(since));
    if failing_since.is_none() {
        execute(
            c,
            "UPDATE endpoints SET failing_since = $2 WHERE id = $1",
            &[&a.endpoint_id, &since],
        )
        .await?;
    }
    let reason = if r.next == NextStep::FailAndDisable {
        Some(DisableReason::Gone)
    } else if now.0 - since >= r.disable_after_ms {
        Some(DisableReason::Failing)
    } else {
        None
    };
    if let Some(reason) = reason
        && !disabled
    {
        execute(
            c,
            "UPDATE endpoints SET disabled = true, updated_at = $2 WHERE id = $1",
            &[&a.endpoint_id, &now.0],
        )
        .await?;
        notify(c, &format!("endpoint:{}", a.endpoint_id)).await?;
        effects.disabled = Some(reason);
    }
    Ok(effects)
}

/// [`record_one`] for a batch of distinct deliveries, in a few statements:
/// one update of the deliveries, one insert of the attempts, one reset of
/// the succeeding endpoints' failure runs; failures are then handled row by
/// row (they are the rare case, and their order within the batch matters).
async fn record_batch(
    c: &impl GenericClient,
    batch: &[AttemptResult],
) -> StoreResult<Vec<AttemptEffects>> {
    let n = batch.len();
    let mut msg_ids = Vec::with_capacity(n);
    let mut ep_ids = Vec::with_capacity(n);
    let mut statuses: Vec<i16> = Vec::with_capacity(n);
    let mut nexts: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut nows: Vec<i64> = Vec::with_capacity(n);
    for r in batch {
        let (status, next_at) = match &r.next {
            NextStep::Success => (DeliveryStatus::Success, None),
            NextStep::Retry(t) => (DeliveryStatus::Pending, Some(t.0)),
            NextStep::Fail | NextStep::FailAndDisable => (DeliveryStatus::Fail, None),
        };
        msg_ids.push(r.attempt.msg_id.as_str());
        ep_ids.push(r.attempt.endpoint_id.as_str());
        statuses.push(status as i16);
        nexts.push(next_at);
        nows.push(r.attempt.timestamp.0);
    }
    let updated = query(
        c,
        "UPDATE deliveries d SET status = u.status, attempts = d.attempts + 1, \
         next_attempt_at = u.next, manual = false, updated_at = u.now \
         FROM unnest($1::text[], $2::text[], $3::smallint[], $4::bigint[], $5::bigint[]) \
           AS u(msg_id, endpoint_id, status, next, now) \
         WHERE d.msg_id = u.msg_id AND d.endpoint_id = u.endpoint_id \
         RETURNING d.msg_id, d.endpoint_id, d.attempts",
        &[&msg_ids, &ep_ids, &statuses, &nexts, &nows],
    )
    .await?;
    let mut attempts: HashMap<(String, String), i64> = HashMap::with_capacity(updated.len());
    for row in &updated {
        attempts.insert((col(row, 0)?, col(row, 1)?), col(row, 2)?);
    }
    let present: Vec<&AttemptResult> = batch
        .iter()
        .filter(|r| {
            attempts.contains_key(&(r.attempt.msg_id.clone(), r.attempt.endpoint_id.clone()))
        })
        .collect();
    if !present.is_empty() {
        let col_of = |f: &dyn Fn(&AttemptResult) -> String| -> Vec<String> {
            present.iter().map(|r| f(r)).collect()
        };
        let ids = col_of(&|r| r.attempt.id.clone());
        let msgs = col_of(&|r| r.attempt.msg_id.clone());
        let eps = col_of(&|r| r.attempt.endpoint_id.clone());
        let apps = col_of(&|r| r.app_id.clone());
        let urls = col_of(&|r| r.attempt.url.clone());
        let statuses: Vec<i16> = present.iter().map(|r| r.attempt.status as i16).collect();
        let codes: Vec<i32> = present
            .iter()
            .map(|r| r.attempt.response_status_code)
            .collect();
        let bodies: Vec<&[u8]> = present
            .iter()
            .map(|r| r.attempt.response.as_bytes())
            .collect();
        let durations: Vec<i64> = present
            .iter()
            .map(|r| r.attempt.response_duration_ms)
            .collect();
        let triggers: Vec<i16> = present
            .iter()
            .map(|r| r.attempt.trigger_type as i16)
            .collect();
        let classes: Vec<Option<String>> = present
            .iter()
            .map(|r| r.attempt.error_class.clone())
            .collect();
        let times: Vec<i64> = present.iter().map(|r| r.attempt.timestamp.0).collect();
        execute(
            c,
            "INSERT INTO attempts (id, msg_id, endpoint_id, app_id, url, status, response_status, \
             response, duration_ms, trigger_type, error_class, created_at) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
               $6::smallint[], $7::int[], $8::bytea[], $9::bigint[], $10::smallint[], \
               $11::text[], $12::bigint[])",
            &[
                &ids, &msgs, &eps, &apps, &urls, &statuses, &codes, &bodies, &durations, &triggers,
                &classes, &times,
            ],
        )
        .await?;
        let mut succeeded: Vec<&str> = present
            .iter()
            .filter(|r| r.next == NextStep::Success)
            .map(|r| r.attempt.endpoint_id.as_str())
            .collect();
        succeeded.sort_unstable();
        succeeded.dedup();
        if !succeeded.is_empty() {
            execute(
                c,
                "UPDATE endpoints SET failing_since = NULL \
                 WHERE id = ANY($1) AND failing_since IS NOT NULL",
                &[&succeeded],
            )
            .await?;
        }
    }
    let mut out = Vec::with_capacity(n);
    for r in batch {
        let key = (r.attempt.msg_id.clone(), r.attempt.endpoint_id.clone());
        let Some(&count) = attempts.get(&key) else {
            out.push(AttemptEffects {
                gone: true,
                ..Default::default()
            });
            continue;
        };
        let effects = AttemptEffects {
            attempts: count,
            ..Default::default()
        };
        if r.next == NextStep::Success {
            out.push(effects);
        } else {
            out.push(failure_effects(c, r, effects).await?);
        }
    }
    Ok(out)
}

fn queued(r: &tokio_postgres::Row, now: Timestamp) -> StoreResult<QueuedDelivery> {
    Ok(QueuedDelivery {
        msg_id: col(r, 0)?,
        endpoint_id: col(r, 1)?,
        app_id: col(r, 2)?,
        attempts: col(r, 3)?,
        due: Timestamp(col::<Option<i64>>(r, 4)?.unwrap_or(now.0)),
        manual: col(r, 5)?,
    })
}

/// The channel other nodes LISTEN on for [`Change`]s.
const CHANGES_CHANNEL: &str = "hookd_changes";

/// Announces a change to the other nodes, inside the caller's transaction so
/// it is delivered only if the change commits.
async fn notify(c: &impl GenericClient, payload: &str) -> StoreResult<()> {
    query(c, "SELECT pg_notify($1, $2)", &[&CHANGES_CHANNEL, &payload]).await?;
    Ok(())
}

fn parse_change(payload: &str) -> Option<Change> {
    match payload.split_once(':') {
        Some(("endpoint", id)) => Some(Change::Endpoint(id.to_string())),
        Some(("app", id)) => Some(Change::App(id.to_string())),
        _ if payload == "deliveries" => Some(Change::Deliveries),
        _ => None,
    }
}

/// Keeps a dedicated connection LISTENing (pooled connections would lose
/// notifications between checkouts) and calls `f` for each change,
/// reconnecting after failures. Notifications missed while disconnected are
/// covered by the caches' TTLs and the claimer's polling.
async fn listen_changes(config: tokio_postgres::Config, f: Box<dyn Fn(Change) + Send + Sync>) {
    loop {
        match config.connect(tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(m) = futures_util::StreamExt::next(&mut messages).await {
                        match m {
                            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                if tx.send(n.payload().to_string()).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
                    .await
                    .is_ok()
                {
                    // After (re)connecting, anything may have changed meanwhile.
                    f(Change::Deliveries);
                    while let Some(payload) = rx.recv().await {
                        if let Some(change) = parse_change(&payload) {
                            f(change);
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::debug!(error = %e, "cannot connect to LISTEN for changes"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ensure_org(&self, name: &str) -> StoreResult<Org> {
        transaction(&self.pool, Mode::Write, async |t| {
            let org = Org {
                id: ids::new_id(Kind::Org),
                name: name.to_string(),
                created_at: Timestamp::now(),
            };
            // Two nodes starting at once: the loser's insert does nothing and
            // it reads the winner's row.
            execute(
                t,
                "INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
                &[&org.id, &org.name, &org.created_at.0],
            )
            .await?;
            let r = query_opt(
                t,
                "SELECT id, name, created_at FROM orgs WHERE name = $1",
                &[&name],
            )
            .await?
            .ok_or_else(|| StoreError::Backend("the organisation vanished".into()))?;
            Ok(Org {
                id: col(&r, 0)?,
                name: col(&r, 1)?,
                created_at: Timestamp(col(&r, 2)?),
            })
        })
        .await
    }

    async fn create_api_key(
        &self,
        org_id: &str,
        scope: Scope,
        name: Option<String>,
        hash: [u8; 32],
    ) -> StoreResult<ApiKey> {
        transaction(&self.pool, Mode::Write, async |t| {
            let id = ids::new_id(Kind::Key);
            let app_id = match &scope {
                Scope::App(a) => Some(a.clone()),
                Scope::Org => None,
            };
            execute(
                t,
                "INSERT INTO api_keys (id, org_id, app_id, name, hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &id,
                    &org_id,
                    &app_id,
                    &name,
                    &&hash[..],
                    &Timestamp::now().0,
                ],
            )
            .await?;
            let r = query_opt(
                t,
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys k JOIN orgs o ON o.id = k.org_id \
                     WHERE k.id = $1"
                ),
                &[&id],
            )
            .await?
            .ok_or_else(|| StoreError::Backend("the new API key vanished".into()))?;
            rows::api_key(&r)
        })
        .await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        single(&self.pool, async |c| {
            let found = query(
                c,
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys k JOIN orgs o ON o.id = k.org_id \
                     ORDER BY k.id"
                ),
                &[],
            )
            .await?;
            all(&found, rows::api_key)
        })
        .await
    }

    async fn revoke_api_key(&self, id: &str) -> StoreResult<bool> {
        single(&self.pool, async |c| {
            let n = execute(
                c,
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &Timestamp::now().0],
            )
            .await?;
            Ok(n > 0)
        })
        .await
    }

    async fn find_api_key(&self, hash: [u8; 32]) -> StoreResult<Option<ApiKey>> {
        single(&self.pool, async |c| {
            query_opt(
                c,
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys k JOIN orgs o ON o.id = k.org_id \
                     WHERE k.hash = $1 AND k.revoked_at IS NULL"
                ),
                &[&&hash[..]],
            )
            .await?
            .map(|r| rows::api_key(&r))
            .transpose()
        })
        .await
    }

    async fn create_app(&self, app: Application) -> StoreResult<Application> {
        single(&self.pool, async |c| {
            execute_unique(
                c,
                "INSERT INTO applications (id, org_id, uid, name, rate_limit, metadata, \
                 created_at, updated_at, retention_days) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &app.id,
                    &app.org_id,
                    &app.uid,
                    &app.name,
                    &app.rate_limit.map(i32::from),
                    &json(&app.metadata),
                    &app.created_at.0,
                    &app.updated_at.0,
                    &app.retention_days.map(|d| d.min(i32::MAX as u32) as i32),
                ],
                APP_UID_TAKEN,
            )
            .await
        })
        .await?;
        Ok(app)
    }

    async fn get_app(&self, org_id: &str, id_or_uid: &str) -> StoreResult<Option<Application>> {
        single(&self.pool, async |c| {
            find_app(c, org_id, id_or_uid, false).await
        })
        .await
    }

    async fn list_apps(&self, org_id: &str, q: &ListQuery) -> StoreResult<Page<Application>> {
        let mut sql = Sql::new(format!(
            "SELECT {APP_COLS} FROM applications WHERE org_id = $1"
        ));
        sql.arg(org_id.to_string());
        paginate(&mut sql, "id", q);
        let found = single(&self.pool, async |c| {
            query(c, &sql.text, &sql.params()).await
        })
        .await?;
        Ok(Page::from_rows(all(&found, rows::app)?, q, |a| {
            a.id.clone()
        }))
    }

    async fn modify_app(
        &self,
        org_id: &str,
        id_or_uid: &str,
        f: Mutation<Application>,
    ) -> StoreResult<Option<Application>> {
        transaction(&self.pool, Mode::Write, async |t| {
            let Some(mut app) = find_app(t, org_id, id_or_uid, true).await? else {
                return Ok(None);
            };
            f(&mut app);
            update_app_row(t, &app).await?;
            notify(t, &format!("app:{}", app.id)).await?;
            Ok(Some(app))
        })
        .await
    }

    async fn delete_app(&self, org_id: &str, app_id: &str) -> StoreResult<bool> {
        transaction(&self.pool, Mode::Write, async |t| {
            // Lock the application, then its endpoints in id order: the order
            // in which writers reach these rows (a message insert holds the
            // application, an attempt record the endpoint), so the cascade
            // below waits for them instead of deadlocking with them.
            let found = execute(
                t,
                "SELECT 1 FROM applications WHERE org_id = $1 AND id = $2 FOR UPDATE",
                &[&org_id, &app_id],
            )
            .await?;
            if found > 0 {
                execute(
                    t,
                    "SELECT 1 FROM endpoints WHERE app_id = $1 ORDER BY id FOR UPDATE",
                    &[&app_id],
                )
                .await?;
            }
            let n = execute(
                t,
                "DELETE FROM applications WHERE org_id = $1 AND id = $2",
                &[&org_id, &app_id],
            )
            .await?;
            execute(t, "DELETE FROM api_keys WHERE app_id = $1", &[&app_id]).await?;
            if n > 0 {
                notify(t, &format!("app:{app_id}")).await?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn create_endpoint(&self, ep: Endpoint) -> StoreResult<Endpoint> {
        single(&self.pool, async |c| {
            upsert_endpoint_row(c, &ep, true).await
        })
        .await?;
        Ok(ep)
    }

    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> StoreResult<Option<Endpoint>> {
        single(&self.pool, async |c| {
            find_endpoint(c, app_id, id_or_uid, false).await
        })
        .await
    }

    async fn list_endpoints(&self, app_id: &str, q: &ListQuery) -> StoreResult<Page<Endpoint>> {
        let mut sql = Sql::new(format!(
            "SELECT {EP_COLS} FROM endpoints e WHERE e.app_id = $1"
        ));
        sql.arg(app_id.to_string());
        paginate(&mut sql, "e.id", q);
        let found = single(&self.pool, async |c| {
            query(c, &sql.text, &sql.params()).await
        })
        .await?;
        Ok(Page::from_rows(all(&found, rows::endpoint)?, q, |e| {
            e.id.clone()
        }))
    }

    async fn modify_endpoint(
        &self,
        app_id: &str,
        id_or_uid: &str,
        f: Mutation<Endpoint>,
    ) -> StoreResult<Option<Endpoint>> {
        transaction(&self.pool, Mode::Write, async |t| {
            let Some(mut ep) = find_endpoint(t, app_id, id_or_uid, true).await? else {
                return Ok(None);
            };
            f(&mut ep);
            upsert_endpoint_row(t, &ep, false).await?;
            notify(t, &format!("endpoint:{}", ep.id)).await?;
            Ok(Some(ep))
        })
        .await
    }

    async fn delete_endpoint(&self, app_id: &str, endpoint_id: &str) -> StoreResult<bool> {
        transaction(&self.pool, Mode::Write, async |t| {
            let n = execute(
                t,
                "DELETE FROM endpoints WHERE app_id = $1 AND id = $2",
                &[&app_id, &endpoint_id],
            )
            .await?;
            if n > 0 {
                notify(t, &format!("endpoint:{endpoint_id}")).await?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn create_event_type(&self, et: EventType) -> StoreResult<EventType> {
        // One statement decides: insert, or replace an archived type (keeping
        // its creation time); an active one is left alone and is a conflict.
        // Concurrent creates of one name thus see exactly one winner.
        let created = single(&self.pool, async |c| {
            upsert_event_type_row(c, &et, "event_types.archived").await
        })
        .await?;
        match created {
            Some(created_at) => Ok(EventType { created_at, ..et }),
            None => Err(StoreError::Conflict(EVENT_TYPE_TAKEN.into())),
        }
    }

    async fn get_event_type(&self, org_id: &str, name: &str) -> StoreResult<Option<EventType>> {
        single(&self.pool, async |c| {
            find_event_type(c, org_id, name, false).await
        })
        .await
    }

    async fn list_event_types(
        &self,
        org_id: &str,
        q: &ListQuery,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>> {
        let mut sql = Sql::new(format!(
            "SELECT {ET_COLS} FROM event_types WHERE org_id = $1"
        ));
        sql.arg(org_id.to_string());
        if !include_archived {
            sql.push(" AND NOT archived");
        }
        paginate(&mut sql, "name", q);
        let found = single(&self.pool, async |c| {
            query(c, &sql.text, &sql.params()).await
        })
        .await?;
        Ok(Page::from_rows(all(&found, rows::event_type)?, q, |e| {
            e.name.clone()
        }))
    }

    async fn modify_event_type(
        &self,
        org_id: &str,
        name: &str,
        f: Mutation<EventType>,
    ) -> StoreResult<Option<EventType>> {
        transaction(&self.pool, Mode::Write, async |t| {
            let Some(mut et) = find_event_type(t, org_id, name, true).await? else {
                return Ok(None);
            };
            f(&mut et);
            upsert_event_type_row(t, &et, "true").await?;
            Ok(Some(et))
        })
        .await
    }

    async fn delete_event_type(&self, org_id: &str, name: &str) -> StoreResult<bool> {
        single(&self.pool, async |c| {
            let n = execute(
                c,
                "DELETE FROM event_types WHERE org_id = $1 AND name = $2",
                &[&org_id, &name],
            )
            .await?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_message(
        &self,
        app_id: &str,
        msg: NewMessage,
    ) -> StoreResult<(Message, Vec<Delivery>)> {
        transaction(&self.pool, Mode::Write, async |t| {
            let now = Timestamp::now();
            let only = msg.only_endpoint;
            let owner = msg.owner;
            let expires_at = msg.expires_at;
            let m = Message {
                id: ids::new_id(Kind::Message),
                app_id: app_id.to_string(),
                event_id: msg.event_id,
                event_type: msg.event_type,
                payload: msg.payload,
                channels: msg.channels,
                tags: msg.tags,
                timestamp: now,
            };
            execute_unique(
                t,
                "INSERT INTO messages (id, app_id, event_type, event_id, payload, channels, \
                 tags, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &m.id,
                    &m.app_id,
                    &m.event_type,
                    &m.event_id,
                    &m.payload.get(),
                    &json_opt(&m.channels),
                    &json_opt(&m.tags),
                    &now.0,
                    &expires_at.0,
                ],
                EVENT_ID_TAKEN,
            )
            .await?;
            let endpoints = query(
                t,
                &format!(
                    "SELECT {EP_COLS} FROM endpoints e WHERE e.app_id = $1 AND NOT e.disabled \
                     ORDER BY e.id"
                ),
                &[&m.app_id],
            )
            .await?;
            let mut targets = Vec::new();
            for r in &endpoints {
                let ep = rows::endpoint(r)?;
                let accepted = match &only {
                    Some(id) => &ep.id == id,
                    None => ep.accepts(&m.event_type, m.channels.as_deref()),
                };
                if accepted {
                    targets.push(ep.id);
                }
            }
            if !targets.is_empty() {
                // One statement for the whole fan-out, in endpoint id order
                // (the order `delete_app` locks endpoints in).
                execute(
                    t,
                    "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, \
                     next_attempt_at, lease_owner, created_at, updated_at) \
                     SELECT $1, ep, $2, 1, 0, $3, $5, $3, $3 FROM unnest($4::text[]) AS ep",
                    &[&m.id, &m.app_id, &now.0, &targets, &owner],
                )
                .await?;
                if owner.is_none() {
                    notify(t, "deliveries").await?;
                }
            }
            let deliveries = targets
                .into_iter()
                .map(|endpoint_id| Delivery {
                    msg_id: m.id.clone(),
                    endpoint_id,
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_attempt_at: Some(now),
                })
                .collect();
            Ok((m, deliveries))
        })
        .await
    }

    async fn get_message(
        &self,
        app_id: &str,
        id_or_event_id: &str,
    ) -> StoreResult<Option<Message>> {
        let col = if ids::is_id(Kind::Message, id_or_event_id) {
            "id"
        } else {
            "event_id"
        };
        let sql = format!("SELECT {MSG_COLS} FROM messages m WHERE m.app_id = $1 AND m.{col} = $2");
        single(&self.pool, async |c| {
            query_opt(c, &sql, &[&app_id, &id_or_event_id])
                .await?
                .map(|r| rows::message(&r))
                .transpose()
        })
        .await
    }

    async fn list_messages(
        &self,
        app_id: &str,
        q: &ListQuery,
        f: &MessageFilter,
    ) -> StoreResult<Page<Message>> {
        let mut sql = Sql::new(format!(
            "SELECT {MSG_COLS} FROM messages m WHERE m.app_id = $1"
        ));
        sql.arg(app_id.to_string());
        message_filters(
            &mut sql,
            &f.event_types,
            &f.channel,
            f.before,
            f.after,
            "m.created_at",
        );
        paginate(&mut sql, "m.id", q);
        let found = single(&self.pool, async |c| {
            query(c, &sql.text, &sql.params()).await
        })
        .await?;
        Ok(Page::from_rows(all(&found, rows::message)?, q, |m| {
            m.id.clone()
        }))
    }

    async fn list_destinations(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
    ) -> StoreResult<Page<(Endpoint, Delivery)>> {
        let mut sql = Sql::new(format!(
            "SELECT {EP_COLS}, {DLV_COLS} FROM deliveries d \
             JOIN endpoints e ON e.id = d.endpoint_id \
             WHERE d.app_id = $1 AND d.msg_id = $2"
        ));
        sql.arg(app_id.to_string());
        sql.arg(msg_id.to_string());
        paginate(&mut sql, "d.endpoint_id", q);
        let found = single(&self.pool, async |c| {
            query(c, &sql.text, &sql.params()).await
        })
        .await?;
        let rows = all(&found, |r| {
            Ok((rows::endpoint_at(r, 0)?, rows::delivery_at(r, EP_WIDTH)?))
        })?;
        Ok(Page::from_rows(rows, q, |(e, _)| e.id.clone()))
    }

    async fn list_endpoint_messages(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<(Message, Delivery)>> {
        let mut sql = Sql::new(format!(
            "SELECT {MSG_COLS}, {DLV_COLS} FROM deliveries d \
             JOIN messages m ON m.id = d.msg_id \
             WHERE d.app_id = $1 AND d.endpoint_id = $2"
        ));
        sql.arg(app_id.to_string());
        sql.arg(endpoint_id.to_string());
        if let Some(s) = f.status {
            let p = sql.arg(s as i16);
            sql.push(&format!(" AND d.status = {p}"));
        }
        message_filters(
            &mut sql,
            &f.event_types,
            &f.channel,
            f.before,
            f.after,
            "m.created_at",
        );
        paginate(&mut sql, "d.msg_id", q);
        let found = single(&self.pool, async |c| {
            query(c, &sql.text, &sql.params()).await
        })
        .await?;
        let rows = all(&found, |r| {
            Ok((rows::message_at(r, 0)?, rows::delivery_at(r, MSG_WIDTH)?))
        })?;
        Ok(Page::from_rows(rows, q, |(m, _)| m.id.clone()))
    }

    async fn list_attempts_by_endpoint(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        let mut sql = Sql::new(format!(
            "SELECT {ATT_COLS} FROM attempts a JOIN messages m ON m.id = a.msg_id \
             WHERE a.app_id = $1 AND a.endpoint_id = $2"
        ));
        sql.arg(app_id.to_string());
        sql.arg(endpoint_id.to_string());
        self.list_attempts(sql, q, f).await
    }

    async fn list_attempts_by_message(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        let mut sql = Sql::new(format!(
            "SELECT {ATT_COLS} FROM attempts a JOIN messages m ON m.id = a.msg_id \
             WHERE a.app_id = $1 AND a.msg_id = $2"
        ));
        sql.arg(app_id.to_string());
        sql.arg(msg_id.to_string());
        self.list_attempts(sql, q, f).await
    }

    async fn get_attempt(
        &self,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<Option<Attempt>> {
        single(&self.pool, async |c| {
            query_opt(
                c,
                &format!(
                    "SELECT {ATT_COLS} FROM attempts a \
                     WHERE a.app_id = $1 AND a.msg_id = $2 AND a.id = $3"
                ),
                &[&app_id, &msg_id, &attempt_id],
            )
            .await?
            .map(|r| rows::attempt(&r))
            .transpose()
        })
        .await
    }

    async fn idempotency_start(
        &self,
        org_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> StoreResult<IdempotencyStart> {
        transaction(&self.pool, Mode::Write, async |t| {
            // Expired entries are removed lazily, a bounded batch per call;
            // rows another node is already removing are skipped, not waited on.
            execute(
                t,
                "DELETE FROM idempotency_keys WHERE (org_id, key) IN \
                 (SELECT org_id, key FROM idempotency_keys WHERE expires_at < $1 \
                  LIMIT 100 FOR UPDATE SKIP LOCKED)",
                &[&now.0],
            )
            .await?;
            // Claim the key: insert it, or take over an entry that has
            // expired (and survived the sweep). A live entry is left alone,
            // and concurrent starts of one key see exactly one `Started`.
            let claimed = execute(
                t,
                "INSERT INTO idempotency_keys (org_id, key, fingerprint, status, body, expires_at) \
                 VALUES ($1, $2, $3, NULL, NULL, $4) \
                 ON CONFLICT (org_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
                 status = NULL, body = NULL, expires_at = EXCLUDED.expires_at \
                 WHERE idempotency_keys.expires_at < $5",
                &[&org_id, &key, &fingerprint, &(now.0 + lease_ms), &now.0],
            )
            .await?;
            if claimed > 0 {
                return Ok(IdempotencyStart::Started);
            }
            let existing = query_opt(
                t,
                "SELECT fingerprint, status, body FROM idempotency_keys \
                 WHERE org_id = $1 AND key = $2",
                &[&org_id, &key],
            )
            .await?;
            match existing {
                Some(r) => match col::<Option<i32>>(&r, 1)? {
                    Some(status) => Ok(IdempotencyStart::Done {
                        fingerprint: col(&r, 0)?,
                        status: status as u16,
                        body: col::<Option<Vec<u8>>>(&r, 2)?.unwrap_or_default(),
                    }),
                    None => Ok(IdempotencyStart::InProgress),
                },
                // Aborted by its owner between our two statements: that
                // request is still being answered as far as we know.
                None => Ok(IdempotencyStart::InProgress),
            }
        })
        .await
    }

    async fn idempotency_complete(
        &self,
        org_id: &str,
        key: &str,
        status: u16,
        body: Vec<u8>,
        expires_at: i64,
    ) -> StoreResult<()> {
        single(&self.pool, async |c| {
            execute(
                c,
                "UPDATE idempotency_keys SET status = $3, body = $4, expires_at = $5 \
                 WHERE org_id = $1 AND key = $2",
                &[&org_id, &key, &i32::from(status), &body, &expires_at],
            )
            .await
        })
        .await?;
        Ok(())
    }

    async fn idempotency_abort(&self, org_id: &str, key: &str) -> StoreResult<()> {
        single(&self.pool, async |c| {
            execute(
                c,
                "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND status IS NULL",
                &[&org_id, &key],
            )
            .await
        })
        .await?;
        Ok(())
    }

    async fn queued_deliveries(&self, now: Timestamp) -> StoreResult<Vec<QueuedDelivery>> {
        transaction(&self.pool, Mode::Write, async |t| {
            // A delivery left `sending` was in flight when hookd stopped:
            // its outcome is unknown, so it is due again at once.
            execute(
                t,
                "UPDATE deliveries SET status = 1, next_attempt_at = $1 WHERE status = 3",
                &[&now.0],
            )
            .await?;
            // NULLS FIRST: SQLite's order for NULL; ties broken by key so
            // the order is stable.
            let found = query(
                t,
                "SELECT msg_id, endpoint_id, app_id, attempts, next_attempt_at, manual \
                 FROM deliveries WHERE status = 1 \
                 ORDER BY next_attempt_at NULLS FIRST, msg_id, endpoint_id",
                &[],
            )
            .await?;
            all(&found, |r| queued(r, now))
        })
        .await
    }

    async fn get_endpoint_by_id(&self, endpoint_id: &str) -> StoreResult<Option<Endpoint>> {
        single(&self.pool, async |c| {
            query_opt(
                c,
                &format!("SELECT {EP_COLS} FROM endpoints e WHERE e.id = $1"),
                &[&endpoint_id],
            )
            .await?
            .map(|r| rows::endpoint(&r))
            .transpose()
        })
        .await
    }

    async fn get_message_by_id(&self, msg_id: &str) -> StoreResult<Option<Message>> {
        single(&self.pool, async |c| {
            query_opt(
                c,
                &format!("SELECT {MSG_COLS} FROM messages m WHERE m.id = $1"),
                &[&msg_id],
            )
            .await?
            .map(|r| rows::message(&r))
            .transpose()
        })
        .await
    }

    async fn get_app_by_id(&self, app_id: &str) -> StoreResult<Option<Application>> {
        single(&self.pool, async |c| {
            query_opt(
                c,
                &format!("SELECT {APP_COLS} FROM applications WHERE id = $1"),
                &[&app_id],
            )
            .await?
            .map(|r| rows::app(&r))
            .transpose()
        })
        .await
    }

    async fn record_attempts(&self, batch: Vec<AttemptResult>) -> StoreResult<Vec<AttemptEffects>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        transaction(&self.pool, Mode::Write, async |t| {
            // Lock the batch's endpoints, then its deliveries, in key order
            // before touching any: concurrent batches (other nodes) sharing
            // rows then queue behind each other instead of deadlocking.
            // NO KEY UPDATE still lets message inserts reference the rows.
            let mut endpoints: Vec<&str> = batch
                .iter()
                .map(|r| r.attempt.endpoint_id.as_str())
                .collect();
            endpoints.sort_unstable();
            endpoints.dedup();
            execute(
                t,
                "SELECT 1 FROM endpoints WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
                &[&endpoints],
            )
            .await?;
            let msgs: Vec<&str> = batch.iter().map(|r| r.attempt.msg_id.as_str()).collect();
            let eps: Vec<&str> = batch
                .iter()
                .map(|r| r.attempt.endpoint_id.as_str())
                .collect();
            execute(
                t,
                "SELECT 1 FROM deliveries d JOIN unnest($1::text[], $2::text[]) AS k(m, e) \
                 ON d.msg_id = k.m AND d.endpoint_id = k.e \
                 ORDER BY d.msg_id, d.endpoint_id FOR NO KEY UPDATE OF d",
                &[&msgs, &eps],
            )
            .await?;
            let mut keys: Vec<(&str, &str)> =
                msgs.iter().copied().zip(eps.iter().copied()).collect();
            keys.sort_unstable();
            keys.dedup();
            if keys.len() < batch.len() {
                // Two attempts of one delivery in a batch: their order
                // matters, so record them one by one.
                let mut out = Vec::with_capacity(batch.len());
                for r in &batch {
                    out.push(record_one(t, r).await?);
                }
                return Ok(out);
            }
            record_batch(t, &batch).await
        })
        .await
    }

    async fn fail_delivery(&self, msg_id: &str, endpoint_id: &str) -> StoreResult<()> {
        single(&self.pool, async |c| {
            execute(
                c,
                "UPDATE deliveries SET status = 2, next_attempt_at = NULL, updated_at = $3 \
                 WHERE msg_id = $1 AND endpoint_id = $2 AND status IN (1, 3)",
                &[&msg_id, &endpoint_id, &Timestamp::now().0],
            )
            .await
        })
        .await?;
        Ok(())
    }

    async fn requeue(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msg_ids: &[String],
        now: Timestamp,
        owner: Option<&str>,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        transaction(&self.pool, Mode::Write, async |t| {
            let mut out = Vec::with_capacity(msg_ids.len());
            for id in msg_ids {
                // Creates the delivery, or resets one that is not in flight.
                let n = execute(
                    t,
                    "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, \
                     next_attempt_at, manual, lease_owner, created_at, updated_at) \
                     SELECT m.id, $2::text, m.app_id, 1, 0, $4::bigint, true, $5::text, \
                     $4::bigint, $4::bigint FROM messages m WHERE m.id = $1 AND m.app_id = $3 \
                     ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = 1, attempts = 0, \
                     next_attempt_at = $4::bigint, manual = true, lease_owner = $5::text, \
                     updated_at = $4::bigint WHERE deliveries.status <> 3",
                    &[id, &endpoint_id, &app_id, &now.0, &owner],
                )
                .await?;
                if n > 0 && owner.is_none() {
                    notify(t, "deliveries").await?;
                }
                if n > 0 {
                    out.push(QueuedDelivery {
                        msg_id: id.clone(),
                        endpoint_id: endpoint_id.to_string(),
                        app_id: app_id.to_string(),
                        attempts: 0,
                        due: now,
                        manual: true,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn failed_message_ids(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<String>> {
        single(&self.pool, async |c| {
            let found = query(
                c,
                "SELECT d.msg_id FROM deliveries d JOIN messages m ON m.id = d.msg_id \
                 WHERE d.app_id = $1 AND d.endpoint_id = $2 AND d.status = 2 \
                 AND m.created_at >= $3 AND m.created_at < $4 ORDER BY d.msg_id",
                &[&app_id, &endpoint_id, &since.0, &until.0],
            )
            .await?;
            all(&found, |r| col(r, 0))
        })
        .await
    }

    async fn endpoint_stats(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> StoreResult<EndpointStats> {
        let mut sql = Sql::new(
            "SELECT d.status, COUNT(*) FROM deliveries d WHERE d.app_id = $1 AND d.endpoint_id = $2",
        );
        sql.arg(app_id.to_string());
        sql.arg(endpoint_id.to_string());
        if let Some(s) = since {
            let p = sql.arg(s.0);
            sql.push(&format!(" AND d.created_at >= {p}"));
        }
        if let Some(u) = until {
            let p = sql.arg(u.0);
            sql.push(&format!(" AND d.created_at < {p}"));
        }
        sql.push(" GROUP BY d.status");
        let found = single(&self.pool, async |c| {
            query(c, &sql.text, &sql.params()).await
        })
        .await?;
        let mut stats = EndpointStats::default();
        for r in &found {
            let n: i64 = col(r, 1)?;
            match DeliveryStatus::from_i64(i64::from(col::<i16>(r, 0)?)) {
                Some(DeliveryStatus::Success) => stats.success = n,
                Some(DeliveryStatus::Pending) => stats.pending = n,
                Some(DeliveryStatus::Sending) => stats.sending = n,
                Some(DeliveryStatus::Fail) => stats.fail = n,
                None => {}
            }
        }
        Ok(stats)
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        dead_after_ms: i64,
        limit: usize,
        reclaim_own: bool,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        transaction(&self.pool, Mode::Write, async |t| {
            // Holders that stopped heartbeating are dead: their deliveries
            // are anyone's. Each holder's due deliveries come off the
            // owner-and-due index; SKIP LOCKED keeps concurrent claimers
            // from waiting on, or taking, each other's rows.
            let cutoff = now.0 - dead_after_ms;
            let dead = query(
                t,
                "SELECT id FROM nodes WHERE heartbeat_at < $1 AND id <> $2",
                &[&cutoff, &owner],
            )
            .await?;
            let mut holders: Vec<Option<String>> = vec![None];
            for r in &dead {
                holders.push(Some(col(r, 0)?));
            }
            if reclaim_own {
                holders.push(Some(owner.to_string()));
            }
            let mut out = Vec::new();
            for holder in holders {
                if out.len() >= limit {
                    break;
                }
                let room = (limit - out.len()) as i64;
                let rows = query(
                    t,
                    "UPDATE deliveries d SET lease_owner = $1 FROM ( \
                       SELECT msg_id, endpoint_id FROM deliveries \
                       WHERE status = 1 AND lease_owner IS NOT DISTINCT FROM $2 \
                       AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4 \
                       FOR UPDATE SKIP LOCKED) c \
                     WHERE d.msg_id = c.msg_id AND d.endpoint_id = c.endpoint_id \
                     RETURNING d.msg_id, d.endpoint_id, d.app_id, d.attempts, \
                       d.next_attempt_at, d.manual",
                    &[&owner, &holder, &now.0, &room],
                )
                .await?;
                out.extend(all(&rows, |r| queued(r, now))?);
            }
            out.sort_by(|a, b| {
                (a.due, &a.msg_id, &a.endpoint_id).cmp(&(b.due, &b.msg_id, &b.endpoint_id))
            });
            Ok(out)
        })
        .await
    }

    async fn heartbeat(&self, node: &str, now: Timestamp, window_ms: i64) -> StoreResult<usize> {
        transaction(&self.pool, Mode::Write, async |t| {
            execute(
                t,
                "INSERT INTO nodes (id, heartbeat_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                &[&node, &now.0],
            )
            .await?;
            // Nodes silent for a day, holding nothing, are forgotten.
            execute(
                t,
                "DELETE FROM nodes WHERE heartbeat_at < $1 AND NOT EXISTS \
                 (SELECT 1 FROM deliveries d WHERE d.lease_owner = nodes.id AND d.status = 1)",
                &[&(now.0 - 86_400_000)],
            )
            .await?;
            let alive = query(
                t,
                "SELECT COUNT(*) FROM nodes WHERE heartbeat_at >= $1",
                &[&(now.0 - window_ms)],
            )
            .await?;
            let n: i64 = match alive.first() {
                Some(r) => col(r, 0)?,
                None => 1,
            };
            Ok(n.max(1) as usize)
        })
        .await
    }

    async fn expunge_expired(&self, now: Timestamp, limit: usize) -> StoreResult<usize> {
        transaction(&self.pool, Mode::Write, async |t| {
            // SKIP LOCKED: nodes running retention at once share the work.
            let rows = query(
                t,
                "UPDATE messages m SET payload = '{}', expunged = true FROM ( \
                   SELECT id FROM messages WHERE NOT expunged AND expires_at <= $1 \
                   ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) x \
                 WHERE m.id = x.id RETURNING m.id",
                &[&now.0, &(limit as i64)],
            )
            .await?;
            let ids: Vec<String> = all(&rows, |r| col(r, 0))?;
            if !ids.is_empty() {
                execute(
                    t,
                    "UPDATE attempts SET response = ''::bytea WHERE msg_id = ANY($1)",
                    &[&ids],
                )
                .await?;
            }
            Ok(ids.len())
        })
        .await
    }

    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<bool> {
        transaction(&self.pool, Mode::Write, async |t| {
            let n = execute(
                t,
                "UPDATE messages SET payload = '{}', expunged = true WHERE app_id = $1 AND id = $2",
                &[&app_id, &msg_id],
            )
            .await?;
            if n > 0 {
                execute(
                    t,
                    "UPDATE attempts SET response = ''::bytea WHERE msg_id = $1",
                    &[&msg_id],
                )
                .await?;
            }
            Ok(n > 0)
        })
        .await
    }

    fn watch_changes(&self, f: Box<dyn Fn(Change) + Send + Sync>) {
        tokio::spawn(listen_changes(self.config.clone(), f));
    }

    async fn count_disabled_endpoints(&self) -> StoreResult<u64> {
        single(&self.pool, async |c| {
            let rows = query(c, "SELECT COUNT(*) FROM endpoints WHERE disabled", &[]).await?;
            let n: i64 = match rows.first() {
                Some(r) => col(r, 0)?,
                None => 0,
            };
            Ok(n.max(0) as u64)
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        single(&self.pool, async |c| {
            query(c, "SELECT 1", &[]).await?;
            Ok(())
        })
        .await
    }
}

impl PostgresStore {
    /// Attempt listings: filters, pagination, and the messages when asked,
    /// all read from one snapshot.
    async fn list_attempts(
        &self,
        mut sql: Sql,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        attempt_filters(&mut sql, f);
        paginate(&mut sql, "a.id", q);
        let rows = if f.with_msg {
            transaction(&self.pool, Mode::Snapshot, async |t| {
                let found = query(t, &sql.text, &sql.params()).await?;
                let mut rows = all(&found, rows::attempt)?;
                attach_messages(t, &mut rows).await?;
                Ok(rows)
            })
            .await?
        } else {
            // One statement: as consistent as a transaction, and cheaper.
            single(&self.pool, async |c| {
                let found = query(c, &sql.text, &sql.params()).await?;
                all(&found, rows::attempt)
            })
            .await?
        };
        Ok(Page::from_rows(rows, q, |a| a.id.clone()))
    }
}
