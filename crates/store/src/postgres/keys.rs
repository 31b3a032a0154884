//! [`KeyStore`] on PostgreSQL.

use async_trait::async_trait;
use const_format::concatcp;
use hookd_core::ids::{self, Kind};
use hookd_core::model::{ApiKey, NewToken, Org, Scope};
use hookd_core::store::{KeyStore, StoreError, StoreResult};
use hookd_core::time::Timestamp;

use super::PostgresStore;
use super::conn::{Mode, execute, params, query, query_opt};
use super::rows::{all, col};

use crate::records::{self, KEY_COLS, token_args};

const FROM_KEYS: &str = concatcp!(
    "SELECT ",
    KEY_COLS,
    " FROM api_keys k JOIN orgs o ON o.id = k.org_id"
);

#[async_trait]
impl KeyStore for PostgresStore {
    async fn ensure_org(&self, name: &str) -> StoreResult<Org> {
        self.transaction("ensure_org", Mode::Write, async |t| {
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
            .ok_or_else(|| StoreError::backend("the organisation vanished"))?;
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
        self.transaction("create_api_key", Mode::Write, async |t| {
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
            let r = query_opt(t, concatcp!(FROM_KEYS, " WHERE k.id = $1"), &[&id])
                .await?
                .ok_or_else(|| StoreError::backend("the new API key vanished"))?;
            records::api_key(&r)
        })
        .await
    }

    async fn issue_token(&self, token: NewToken) -> StoreResult<ApiKey> {
        self.transaction("issue_token", Mode::Write, async |t| {
            let id = ids::new_id(Kind::Key);
            let args = token_args(&id, &token, Timestamp::now());
            execute(
                t,
                "INSERT INTO api_keys (id, org_id, app_id, name, hash, created_at, kind, \
                 expires_at, capabilities, session_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &params(&args),
            )
            .await?;
            let r = query_opt(t, concatcp!(FROM_KEYS, " WHERE k.id = $1"), &[&id])
                .await?
                .ok_or_else(|| StoreError::backend("the new token vanished"))?;
            records::api_key(&r)
        })
        .await
    }

    async fn expire_portal_tokens(
        &self,
        app_id: &str,
        at: Timestamp,
        session_ids: Option<&[String]>,
    ) -> StoreResult<u64> {
        self.single("expire_portal_tokens", async |c| {
            let sessions: Option<Vec<&str>> =
                session_ids.map(|ids| ids.iter().map(String::as_str).collect());
            execute(
                c,
                "UPDATE api_keys SET expires_at = $2 WHERE app_id = $1 AND kind = 'portal' \
                 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) \
                 AND ($3::text[] IS NULL OR session_id = ANY($3))",
                &[&app_id, &at.0, &sessions],
            )
            .await
        })
        .await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.single("list_api_keys", async |c| {
            let found = query(
                c,
                concatcp!(FROM_KEYS, " WHERE k.kind = 'api' ORDER BY k.id"),
                &[],
            )
            .await?;
            all(&found, records::api_key)
        })
        .await
    }

    async fn revoke_api_key(&self, id: &str) -> StoreResult<bool> {
        self.single("revoke_api_key", async |c| {
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

    async fn find_api_key(&self, hash: [u8; 32], now: Timestamp) -> StoreResult<Option<ApiKey>> {
        self.single("find_api_key", async |c| {
            query_opt(
                c,
                concatcp!(
                    FROM_KEYS,
                    " WHERE k.hash = $1 AND k.revoked_at IS NULL \
                     AND (k.expires_at IS NULL OR k.expires_at > $2)"
                ),
                &[&&hash[..], &now.0],
            )
            .await?
            .map(|r| records::api_key(&r))
            .transpose()
        })
        .await
    }
}
