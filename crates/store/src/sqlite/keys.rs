//! [`KeyStore`] on SQLite.

use async_trait::async_trait;
use hookd_core::ids::{self, Kind};
use hookd_core::model::{ApiKey, NewToken, Org, Scope};
use hookd_core::store::{KeyStore, StoreError, StoreResult};
use hookd_core::time::Timestamp;
use rusqlite::params;

use super::SqliteStore;
use super::db::db_err;
use super::rows::{execute, query_one, query_rows, values};
use crate::records::{self, KEY_COLS, token_args};

const KEY_BY_ID: &str = const_format::concatcp!(
    "SELECT ",
    KEY_COLS,
    " FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.id = ?1"
);

#[async_trait]
impl KeyStore for SqliteStore {
    async fn ensure_org(&self, name: &str) -> StoreResult<Org> {
        let name = name.to_string();
        self.db
            .write("ensure_org", move |conn| {
                let found = query_one(
                    conn,
                    "SELECT id, name, created_at FROM orgs WHERE name = ?1",
                    params![name],
                    |r| {
                        Ok(Org {
                            id: r.text(0)?,
                            name: r.text(1)?,
                            created_at: r.time(2)?,
                        })
                    },
                )?;
                if let Some(org) = found {
                    return Ok(org);
                }
                let org = Org {
                    id: ids::new_id(Kind::Org),
                    name,
                    created_at: Timestamp::now(),
                };
                execute(
                    conn,
                    "INSERT INTO orgs (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![org.id, org.name, org.created_at.0],
                )?;
                Ok(org)
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
        let org_id = org_id.to_string();
        self.db
            .write("create_api_key", move |conn| {
                let id = ids::new_id(Kind::Key);
                let app_id = match &scope {
                    Scope::App(a) => Some(a.clone()),
                    Scope::Org => None,
                };
                execute(
                    conn,
                    "INSERT INTO api_keys (id, org_id, app_id, name, hash, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, org_id, app_id, name, &hash[..], Timestamp::now().0],
                )?;
                query_one(conn, KEY_BY_ID, params![id], records::api_key)?
                    .ok_or_else(|| StoreError::backend("the new API key vanished"))
            })
            .await
    }

    async fn issue_token(&self, token: NewToken) -> StoreResult<ApiKey> {
        self.db
            .write("issue_token", move |conn| {
                let id = ids::new_id(Kind::Key);
                execute(
                    conn,
                    "INSERT INTO api_keys (id, org_id, app_id, name, hash, created_at, kind, \
                     expires_at, capabilities, session_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    values(token_args(&id, &token, Timestamp::now())),
                )?;
                query_one(conn, KEY_BY_ID, params![id], records::api_key)?
                    .ok_or_else(|| StoreError::backend("the new token vanished"))
            })
            .await
    }

    async fn expire_portal_tokens(
        &self,
        app_id: &str,
        at: Timestamp,
        session_ids: Option<&[String]>,
    ) -> StoreResult<u64> {
        let app_id = app_id.to_string();
        let sessions = session_ids.map(<[String]>::to_vec);
        self.db
            .write("expire_portal_tokens", move |conn| {
                let mut st = conn
                    .prepare_cached(
                        "UPDATE api_keys SET expires_at = ?2 WHERE app_id = ?1 AND kind = 'portal' \
                         AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2) \
                         AND (?3 IS NULL OR session_id = ?3)",
                    )
                    .map_err(db_err)?;
                let n = match sessions {
                    None => st.execute(params![app_id, at.0, None::<String>]),
                    Some(ids) => ids
                        .iter()
                        .map(|s| st.execute(params![app_id, at.0, s]))
                        .sum(),
                }
                .map_err(db_err)?;
                Ok(n as u64)
            })
            .await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.db
            .read("list_api_keys", |conn| {
                query_rows(
                    conn,
                    const_format::concatcp!(
                        "SELECT ",
                        KEY_COLS,
                        " FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.kind = 'api' \
                         ORDER BY k.id"
                    ),
                    [],
                    records::api_key,
                )
            })
            .await
    }

    async fn revoke_api_key(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.db
            .write("revoke_api_key", move |conn| {
                let n = execute(
                    conn,
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id, Timestamp::now().0],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn find_api_key(&self, hash: [u8; 32], now: Timestamp) -> StoreResult<Option<ApiKey>> {
        self.db
            .read("find_api_key", move |conn| {
                query_one(
                    conn,
                    const_format::concatcp!(
                        "SELECT ",
                        KEY_COLS,
                        " FROM api_keys k JOIN orgs o ON o.id = k.org_id \
                         WHERE k.hash = ?1 AND k.revoked_at IS NULL \
                         AND (k.expires_at IS NULL OR k.expires_at > ?2)"
                    ),
                    params![&hash[..], now.0],
                    records::api_key,
                )
            })
            .await
    }
}
