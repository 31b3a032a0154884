//! [`EndpointStore`] on PostgreSQL.

use async_trait::async_trait;
use const_format::concatcp;
use deadpool_postgres::{GenericClient, Pool};
use hookd_core::ids::{self, Kind};
use hookd_core::model::Endpoint;
use hookd_core::store::{Change, Conflict, EndpointStore, ListQuery, Mutation, Page, StoreResult};

use super::PostgresStore;
use super::apps::LOCK_FOR_UPDATE;
use super::changes::notify;
use super::conn::{
    Mode, execute, execute_unique, params, query, query_opt, query_sql, transaction,
};
use super::rows::{all, col};
use crate::hub::Hub;
use crate::listings;
use crate::records::{self, EP_COLS, endpoint_args};
use crate::seal::Sealer;
use crate::sql::Dialect;

async fn find_endpoint(
    c: &impl GenericClient,
    sealer: &Sealer,
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
        .map(|r| records::endpoint(&r, sealer))
        .transpose()
}

async fn write_endpoint(
    c: &impl GenericClient,
    sealer: &Sealer,
    e: &Endpoint,
    insert: bool,
) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO endpoints (id, app_id, uid, url, description, version, rate_limit, disabled, \
         filter_types, channels, metadata, secret, old_secrets, headers, created_at, updated_at, \
         filter, fifo) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
         $17, $18)"
    } else {
        "UPDATE endpoints SET app_id = $2, uid = $3, url = $4, description = $5, version = $6, \
         rate_limit = $7, disabled = $8, filter_types = $9, channels = $10, metadata = $11, \
         secret = $12, old_secrets = $13, headers = $14, created_at = $15, updated_at = $16, \
         filter = $17, fifo = $18 WHERE id = $1"
    };
    let args = endpoint_args(e, sealer)?;
    execute_unique(c, sql, &params(&args), Conflict::EndpointUid).await?;
    Ok(())
}

/// Seals credentials stored in plaintext or with a rotated-out key, at
/// start (see `hookd_store::open_with`), locking the rows so nodes starting
/// together do it once.
pub(super) async fn reseal_credentials(pool: &Pool, hub: &Hub) -> StoreResult<()> {
    let changed = transaction(pool, Mode::Write, async |t| {
        let rows = query(
            t,
            "SELECT id, secret, old_secrets, headers FROM endpoints ORDER BY id FOR UPDATE",
            &[],
        )
        .await?;
        let mut changed = 0;
        for r in &rows {
            let id: String = col(r, 0)?;
            let cols = [col(r, 1)?, col(r, 2)?, col(r, 3)?];
            if let Some([secret, old, headers]) = hub.sealer.reseal(&id, cols)? {
                execute(
                    t,
                    "UPDATE endpoints SET secret = $2, old_secrets = $3, headers = $4 WHERE id = $1",
                    &[&id, &secret, &old, &headers],
                )
                .await?;
                changed += 1;
            }
        }
        Ok(changed)
    })
    .await?;
    if changed > 0 {
        tracing::info!(endpoints = changed, "sealed endpoint credentials");
    }
    Ok(())
}

#[async_trait]
impl EndpointStore for PostgresStore {
    async fn create_endpoint(&self, ep: Endpoint) -> StoreResult<Endpoint> {
        self.single("create_endpoint", async |c| {
            write_endpoint(c, &self.hub.sealer, &ep, true).await
        })
        .await?;
        Ok(ep)
    }

    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> StoreResult<Option<Endpoint>> {
        self.single("get_endpoint", async |c| {
            find_endpoint(c, &self.hub.sealer, app_id, id_or_uid, false).await
        })
        .await
    }

    async fn get_endpoint_by_id(&self, endpoint_id: &str) -> StoreResult<Option<Endpoint>> {
        self.single("get_endpoint_by_id", async |c| {
            query_opt(
                c,
                concatcp!("SELECT ", EP_COLS, " FROM endpoints e WHERE e.id = $1"),
                &[&endpoint_id],
            )
            .await?
            .map(|r| records::endpoint(&r, &self.hub.sealer))
            .transpose()
        })
        .await
    }

    async fn list_endpoints(&self, app_id: &str, q: &ListQuery) -> StoreResult<Page<Endpoint>> {
        let sql = listings::endpoints(Dialect::Postgres, app_id, q);
        let found = self
            .single("list_endpoints", async |c| query_sql(c, &sql).await)
            .await?;
        Ok(Page::from_rows(
            all(&found, |r| records::endpoint(r, &self.hub.sealer))?,
            q,
            |e| e.id.clone(),
        ))
    }

    async fn modify_endpoint(
        &self,
        app_id: &str,
        id_or_uid: &str,
        f: Mutation<Endpoint>,
    ) -> StoreResult<Option<Endpoint>> {
        let ep = self
            .transaction("modify_endpoint", Mode::Write, async |t| {
                let Some(mut ep) =
                    find_endpoint(t, &self.hub.sealer, app_id, id_or_uid, true).await?
                else {
                    return Ok(None);
                };
                f(&mut ep);
                write_endpoint(t, &self.hub.sealer, &ep, false).await?;
                notify(t, &self.origin, &Change::Endpoint(ep.id.clone())).await?;
                Ok(Some(ep))
            })
            .await?;
        if let Some(e) = &ep {
            self.emit(Change::Endpoint(e.id.clone()));
        }
        Ok(ep)
    }

    async fn delete_endpoint(&self, app_id: &str, endpoint_id: &str) -> StoreResult<bool> {
        let change = Change::Endpoint(endpoint_id.to_string());
        let deleted = self
            .transaction("delete_endpoint", Mode::Write, async |t| {
                let n = execute(
                    t,
                    "DELETE FROM endpoints WHERE app_id = $1 AND id = $2",
                    &[&app_id, &endpoint_id],
                )
                .await?;
                if n > 0 {
                    notify(t, &self.origin, &change).await?;
                }
                Ok(n > 0)
            })
            .await?;
        if deleted {
            self.emit(change);
        }
        Ok(deleted)
    }

    async fn count_disabled_endpoints(&self) -> StoreResult<u64> {
        self.single("count_disabled_endpoints", async |c| {
            let rows = query(c, "SELECT COUNT(*) FROM endpoints WHERE disabled", &[]).await?;
            let n: i64 = match rows.first() {
                Some(r) => col(r, 0)?,
                None => 0,
            };
            Ok(n.max(0) as u64)
        })
        .await
    }
}
