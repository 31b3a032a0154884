//! [`MessageStore`] on PostgreSQL.

use async_trait::async_trait;
use const_format::concatcp;
use deadpool_postgres::GenericClient;
use hookd_core::ids::{self, Kind};
use hookd_core::model::{Delivery, Endpoint, Message};
use hookd_core::store::{
    AppUsage, AttemptFilter, Change, Conflict, ListQuery, MessageFilter, MessageStore, NewMessage,
    Page, StoreResult, first_delivery, first_due,
};
use hookd_core::time::Timestamp;

use super::PostgresStore;
use super::changes::notify;
use super::conn::{Mode, execute, execute_unique, params, query, query_opt, query_sql};
use super::rows::all;
use crate::listings;
use crate::records::{self, EP_WIDTH, MSG_COLS, MSG_WIDTH, ROUTE_COLS, message_args};
use crate::sql::Dialect;
use crate::sql::PENDING;

async fn find_message(
    c: &impl GenericClient,
    app_id: &str,
    key: &str,
) -> StoreResult<Option<Message>> {
    let sql = if ids::is_id(Kind::Message, key) {
        concatcp!(
            "SELECT ",
            MSG_COLS,
            " FROM messages m WHERE m.app_id = $1 AND m.id = $2"
        )
    } else {
        concatcp!(
            "SELECT ",
            MSG_COLS,
            " FROM messages m WHERE m.app_id = $1 AND m.event_id = $2"
        )
    };
    query_opt(c, sql, &[&app_id, &key])
        .await?
        .map(|r| records::message(&r))
        .transpose()
}

#[async_trait]
impl MessageStore for PostgresStore {
    async fn create_message(
        &self,
        app_id: &str,
        msg: NewMessage,
    ) -> StoreResult<(Message, Vec<Delivery>)> {
        let unclaimed = msg.owner.is_none();
        let (m, deliveries, fifo_unheld) = self
            .transaction("create_message", Mode::Write, async |t| {
                let endpoints = query(
                    t,
                    concatcp!(
                        "SELECT ",
                        ROUTE_COLS,
                        " FROM endpoints e WHERE e.app_id = $1 AND NOT e.disabled ORDER BY e.id"
                    ),
                    &[&app_id],
                )
                .await?;
                let mut targets = Vec::new();
                // An ordered endpoint's deliveries are held by no node: only
                // its lane's owner claims them, in order (see `claim_due`),
                // even when this node is the owner, so that a message sent
                // through another node a moment earlier still goes first.
                let mut ordered = Vec::new();
                let parsed = std::cell::OnceCell::new();
                for r in &endpoints {
                    let ep = records::route(r)?;
                    if msg.routes_to(&ep, &parsed) {
                        if ep.fifo && !unclaimed {
                            ordered.push(ep.id);
                        } else {
                            targets.push(ep.id);
                        }
                    }
                }
                let (owner, expires_at) = (msg.owner.clone(), msg.expires_at);
                let m = msg.accept(app_id, ids::new_id(Kind::Message), Timestamp::now());
                execute_unique(
                    t,
                    "INSERT INTO messages (id, app_id, event_type, event_id, payload, channels, \
                     tags, created_at, deliver_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &params(&message_args(&m, expires_at)),
                    Conflict::EventId,
                )
                .await?;
                // One statement for the whole fan-out, in endpoint id order
                // (the order `delete_app` locks endpoints in).
                for (eps, owner) in [(&targets, &owner), (&ordered, &None)] {
                    if eps.is_empty() {
                        continue;
                    }
                    execute(
                        t,
                        concatcp!(
                            "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, \
                             attempts, next_attempt_at, lease_owner, created_at, updated_at) \
                             SELECT $1, ep, $2, ",
                            PENDING,
                            ", 0, $6, $5, $3, $3 FROM unnest($4::text[]) AS ep"
                        ),
                        &[
                            &m.id,
                            &m.app_id,
                            &m.timestamp.0,
                            eps,
                            owner,
                            &first_due(&m).0,
                        ],
                    )
                    .await?;
                }
                let fifo_unheld = !ordered.is_empty();
                if (unclaimed && !targets.is_empty()) || fifo_unheld {
                    notify(t, &self.origin, &Change::Deliveries).await?;
                }
                let deliveries: Vec<Delivery> = targets
                    .into_iter()
                    .map(|ep| first_delivery(&m, ep))
                    .collect();
                Ok((m, deliveries, fifo_unheld))
            })
            .await?;
        if (unclaimed && !deliveries.is_empty()) || fifo_unheld {
            self.emit(Change::Deliveries);
        }
        Ok((m, deliveries))
    }

    async fn get_message(
        &self,
        app_id: &str,
        id_or_event_id: &str,
    ) -> StoreResult<Option<Message>> {
        self.single("get_message", async |c| {
            find_message(c, app_id, id_or_event_id).await
        })
        .await
    }

    async fn get_message_by_id(&self, msg_id: &str) -> StoreResult<Option<Message>> {
        self.single("get_message_by_id", async |c| {
            query_opt(
                c,
                concatcp!("SELECT ", MSG_COLS, " FROM messages m WHERE m.id = $1"),
                &[&msg_id],
            )
            .await?
            .map(|r| records::message(&r))
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
        let sql = listings::messages(Dialect::Postgres, app_id, q, f);
        let found = self
            .single("list_messages", async |c| query_sql(c, &sql).await)
            .await?;
        Ok(Page::from_rows(all(&found, records::message)?, q, |m| {
            m.id.clone()
        }))
    }

    async fn list_destinations(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
    ) -> StoreResult<Page<(Endpoint, Delivery)>> {
        let sql = listings::destinations(Dialect::Postgres, app_id, msg_id, q);
        let found = self
            .single("list_destinations", async |c| query_sql(c, &sql).await)
            .await?;
        let rows = all(&found, |r| {
            Ok((
                records::endpoint_at(r, 0, &self.hub.sealer)?,
                records::delivery_at(r, EP_WIDTH)?,
            ))
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
        let sql = listings::endpoint_messages(Dialect::Postgres, app_id, endpoint_id, q, f);
        let found = self
            .single("list_endpoint_messages", async |c| query_sql(c, &sql).await)
            .await?;
        let rows = all(&found, |r| {
            Ok((
                records::message_at(r, 0)?,
                records::delivery_at(r, MSG_WIDTH)?,
            ))
        })?;
        Ok(Page::from_rows(rows, q, |(m, _)| m.id.clone()))
    }

    async fn app_usage(
        &self,
        app_ids: &[String],
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<AppUsage>> {
        if app_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = listings::app_usage(Dialect::Postgres, app_ids, since, until);
        let rows = self
            .single("app_usage", async |c| query_sql(c, &sql).await)
            .await?;
        all(&rows, |r| {
            Ok(AppUsage {
                app_id: r.text(0)?,
                messages: r.int(1)?,
                destinations: r.int(2)?,
            })
        })
    }
}
