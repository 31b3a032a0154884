//! PostgreSQL connections: the database URL, the pool, error mapping and the
//! helpers every store operation runs through. TLS is `tls`'s.
//!
//! Invariants:
//! - no operation waits unboundedly: getting a connection (pool wait and
//!   connect) is capped by [`POOL_TIMEOUT`], each statement by the server's
//!   `statement_timeout`, and a whole operation by [`OP_TIMEOUT`] on the
//!   client, which also covers a server that stopped answering mid-query;
//! - an unreachable or overloaded server is [`StoreError::Unavailable`] (the
//!   API's quick 503), never a `Backend` error;
//! - a write runs in one transaction that commits or rolls back as a whole;
//! - a connection whose operation timed out is thrown away, not pooled, since
//!   its state (a half-read result, an open transaction) is unknown.

use std::time::Duration;

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
    Transaction,
};
use hookd_core::store::{Conflict, StoreError, StoreResult};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{IsolationLevel, Row};

use super::tls::{self, Connector, TlsSettings};
use crate::sql::{Arg, Sql};

/// Connections in the pool when the URL does not say (`?pool_size=N`).
pub const DEFAULT_POOL_SIZE: usize = 16;
const MAX_POOL_SIZE: usize = 1024;

/// Longest wait for a pooled connection, and for a new one to connect.
pub(crate) const POOL_TIMEOUT: Duration = Duration::from_secs(5);
/// Server-side cap on one statement (sent as `statement_timeout`); a URL's
/// own `options=-c statement_timeout=…` wins.
const STATEMENT_TIMEOUT_MS: u64 = 15_000;
/// A transaction left idle this long (a client that vanished) is ended by the
/// server so its locks are released.
const IDLE_IN_TRANSACTION_MS: u64 = 60_000;
/// Client-side cap on one whole operation, beyond the statement timeout so
/// the server's clearer error normally wins.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(20);

/// A parsed `postgres://` / `postgresql://` database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    /// The URL as given, less hookd's own query parameters and the TLS ones
    /// (libpq syntax, understood by tokio-postgres).
    pub url: String,
    /// Size of the connection pool.
    pub pool_size: usize,
    /// `sslmode` and `sslrootcert`, checked, with the roots they name loaded.
    pub tls: TlsSettings,
}

impl PgUrl {
    /// Parses a PostgreSQL URL. hookd's own parameter `pool_size` and the
    /// TLS ones (`sslmode`, `sslrootcert`: hookd sets up TLS itself) are
    /// taken out; the others (`connect_timeout`, `options`,
    /// `application_name`, …) go to the driver. All are checked here, the
    /// root certificates loaded too, so a bad URL fails at configuration
    /// time rather than at first use.
    pub fn parse(url: &str) -> Result<PgUrl, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("a PostgreSQL URL starts with postgres:// or postgresql://".into());
        }
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let mut pool_size = DEFAULT_POOL_SIZE;
        let mut sslmode = None;
        let mut sslrootcert = None;
        let mut rest = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => sslmode = Some(decode("sslmode", v)?),
                Some(("sslrootcert", v)) => sslrootcert = Some(decode("sslrootcert", v)?),
                Some((key @ ("sslcert" | "sslkey" | "sslpassword"), _)) => {
                    return Err(format!(
                        "{key} is not supported: hookd does not present client certificates \
                         to PostgreSQL (authenticate with a password)"
                    ));
                }
                Some(("pool_size", v)) => {
                    pool_size = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_POOL_SIZE).contains(n))
                        .ok_or_else(|| {
                            format!(
                                "pool_size must be a number from 1 to {MAX_POOL_SIZE}, not '{v}'"
                            )
                        })?;
                }
                _ if pair.is_empty() => {}
                _ => rest.push(pair),
            }
        }
        let url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        url.parse::<tokio_postgres::Config>().map_err(|e| {
            // The driver's message names the bad part, never the password.
            match std::error::Error::source(&e) {
                Some(cause) => format!("invalid PostgreSQL URL: {e}: {cause}"),
                None => format!("invalid PostgreSQL URL: {e}"),
            }
        })?;
        let tls = TlsSettings::from_params(sslmode.as_deref(), sslrootcert.as_deref())?;
        Ok(PgUrl {
            url,
            pool_size,
            tls,
        })
    }

    /// The driver configuration, with hookd's defaults for what the URL leaves out.
    pub fn config(&self) -> Result<tokio_postgres::Config, StoreError> {
        let mut config = self
            .url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| StoreError::backend_from("invalid PostgreSQL URL", e))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            // Unacknowledged writes to a vanished server fail instead of
            // waiting for the kernel's default of many minutes.
            config.tcp_user_timeout(OP_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("hookd");
        }
        if config.get_hosts().is_empty() {
            // The driver names the TLS server after `host` alone and refuses
            // a handshake without one, so a URL with only `hostaddr` would
            // fail against any server offering TLS; the address is the only
            // name such a server can be checked against (an IP SAN).
            for addr in config.get_hostaddrs().to_vec() {
                config.host(addr.to_string());
            }
        }
        config.ssl_mode(tls::driver_mode(self.tls.mode(), &config));
        // hookd's settings first, so the same setting in the URL's own
        // `options` (applied later by the server) overrides them.
        let ours = format!(
            "-c statement_timeout={STATEMENT_TIMEOUT_MS} \
             -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
        );
        let options = match config.get_options() {
            Some(theirs) if !theirs.trim().is_empty() => format!("{ours} {theirs}"),
            _ => ours,
        };
        config.options(options);
        Ok(config)
    }
}

/// A query parameter's value, percent-decoded as the driver decodes its own.
fn decode(key: &str, value: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| format!("{key} is not valid UTF-8 once percent-decoded"))
}

/// Builds the pool, connecting through `connector`; no connection is made
/// until one is needed.
pub(crate) fn pool(
    config: tokio_postgres::Config,
    size: usize,
    connector: Connector,
) -> StoreResult<Pool> {
    let manager = Manager::from_connect(
        config,
        connector,
        ManagerConfig {
            // A connection the server closed is detected by `is_closed`; a
            // test query on every checkout would double the round trips.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(|e| StoreError::backend_from("cannot build the PostgreSQL pool", e))
}

/// SQLSTATEs that mean "the server cannot serve this now; try again".
fn transient(code: &SqlState) -> bool {
    let c = code.code();
    c.starts_with("08") // connection exception
        || c.starts_with("53") // insufficient resources (too many connections, disk full)
        || c.starts_with("57P") // admin shutdown, crash shutdown, cannot connect now
        || *code == SqlState::QUERY_CANCELED // statement_timeout
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION // a replica after failover
}

/// Maps a driver error: lost connections and transient server states are
/// `Unavailable`, everything else `Backend` with the server's message.
pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let transient = transient(db.code());
        return if transient {
            StoreError::unavailable_from("PostgreSQL cannot serve the request now", e)
        } else {
            StoreError::backend_from("PostgreSQL", e)
        };
    }
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io {
        return StoreError::unavailable_from("PostgreSQL connection lost", e);
    }
    StoreError::backend_from("PostgreSQL", e)
}

/// Unique violations become the `Conflict` given.
pub(crate) fn conflict_or(e: tokio_postgres::Error, what: Conflict) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return what.into();
    }
    pg_err(e)
}

/// Not getting a connection always means the store is unavailable: the
/// server is down, refuses connections, or every connection is busy.
fn pool_err(e: PoolError) -> StoreError {
    match e {
        PoolError::Timeout(_) => {
            StoreError::unavailable("timed out waiting for a PostgreSQL connection")
        }
        PoolError::Backend(e) if tls::is_handshake_failure(&e) => StoreError::unavailable_from(
            "cannot connect to PostgreSQL: the TLS handshake failed (see sslmode and \
             sslrootcert in the database URL)",
            e,
        ),
        PoolError::Backend(e) => StoreError::unavailable_from("cannot connect to PostgreSQL", e),
        other => StoreError::unavailable_from("PostgreSQL pool", other),
    }
}

/// How an operation uses its connection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// A read-write transaction (READ COMMITTED).
    Write,
    /// A read-only transaction on one snapshot, for reads of several statements.
    Snapshot,
}

/// Gets a connection, mapping pool failures.
pub(crate) async fn checkout(pool: &Pool) -> StoreResult<Object> {
    pool.get().await.map_err(pool_err)
}

/// Runs one statement on a pooled connection, outside an explicit
/// transaction: a single statement is atomic on its own, so the round trips
/// of BEGIN and COMMIT are saved.
pub(crate) async fn single<T>(
    pool: &Pool,
    f: impl AsyncFnOnce(&Object) -> StoreResult<T>,
) -> StoreResult<T> {
    let client = checkout(pool).await?;
    match tokio::time::timeout(OP_TIMEOUT, f(&client)).await {
        Ok(r) => r,
        Err(_) => {
            let _ = Object::take(client);
            Err(timed_out())
        }
    }
}

/// Runs `f` in one transaction: committed when it returns `Ok`, rolled back
/// when it returns `Err` or runs out of time.
pub(crate) async fn transaction<T>(
    pool: &Pool,
    mode: Mode,
    f: impl AsyncFnOnce(&Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let mut client = checkout(pool).await?;
    let work = async {
        let builder = client.build_transaction();
        let builder = match mode {
            Mode::Write => builder,
            Mode::Snapshot => builder
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true),
        };
        let tx = builder.start().await.map_err(pg_err)?;
        match f(&tx).await {
            Ok(v) => {
                tx.commit().await.map_err(pg_err)?;
                Ok(v)
            }
            Err(e) => {
                // An explicit rollback keeps the pooled connection clean; if
                // it fails, the connection is broken and the pool drops it.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    };
    match tokio::time::timeout(OP_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => {
            let _ = Object::take(client);
            Err(timed_out())
        }
    }
}

fn timed_out() -> StoreError {
    StoreError::unavailable(format!(
        "PostgreSQL did not answer within {} s",
        OP_TIMEOUT.as_secs()
    ))
}

/// A statement's parameters.
pub(crate) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Runs a (cached, prepared) query.
pub(crate) async fn query(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> StoreResult<Vec<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.query(&st, params).await.map_err(pg_err)
}

/// Runs a query returning at most one row.
pub(crate) async fn query_opt(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> StoreResult<Option<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.query_opt(&st, params).await.map_err(pg_err)
}

/// Runs a statement; the number of rows it touched.
pub(crate) async fn execute(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> StoreResult<u64> {
    let st = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.execute(&st, params).await.map_err(pg_err)
}

/// [`execute`] where a unique violation is the `Conflict` given.
pub(crate) async fn execute_unique(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
    what: Conflict,
) -> StoreResult<u64> {
    let st = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.execute(&st, params)
        .await
        .map_err(|e| conflict_or(e, what))
}

/// Binds a run-time query's [`Arg`]s, converting integers to the width
/// the server inferred for each placeholder (`smallint` status codes,
/// `int` response codes, `bigint` times), as typed parameters would.
impl ToSql for Arg {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Bool(v) => v.to_sql(ty, out),
            Arg::Int(v) if *ty == Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
            Arg::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Arg::Int(v) => v.to_sql(ty, out),
            Arg::Text(v) => v.to_sql(ty, out),
            Arg::Bytes(v) => v.to_sql(ty, out),
            Arg::Texts(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`; a mismatch there is an error.
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Parameters as the driver takes them.
pub(crate) fn params(args: &[Arg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// Runs a query built at run time.
pub(crate) async fn query_sql(c: &impl GenericClient, sql: &Sql) -> StoreResult<Vec<Row>> {
    query(c, &sql.text, &params(&sql.args)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_is_taken_out_of_the_url() {
        let u =
            PgUrl::parse("postgres://u@127.0.0.1:5432/db?pool_size=4&application_name=x").unwrap();
        assert_eq!(u.pool_size, 4);
        assert_eq!(u.url, "postgres://u@127.0.0.1:5432/db?application_name=x");
        let u = PgUrl::parse("postgresql://u@h/db?pool_size=2").unwrap();
        assert_eq!(u.url, "postgresql://u@h/db");
        assert_eq!(PgUrl::parse("postgres://h/db").unwrap().pool_size, 16);
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(PgUrl::parse("postgres://h/db?pool_size=0").is_err());
        assert!(PgUrl::parse("postgres://h/db?pool_size=x").is_err());
        assert!(PgUrl::parse("postgres://h/db?no_such_option=1").is_err());
        assert!(PgUrl::parse("mysql://h/db").is_err());
    }

    #[test]
    fn tls_parameters_are_taken_out_and_checked() {
        use crate::postgres::SslMode;
        let u = PgUrl::parse("postgres://u@h/db?sslmode=require&application_name=x").unwrap();
        assert_eq!(u.url, "postgres://u@h/db?application_name=x");
        assert_eq!(u.tls.mode(), SslMode::Require);
        let c = u.config().unwrap();
        assert_eq!(c.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        let c = PgUrl::parse("postgres://h/db").unwrap().config().unwrap();
        assert_eq!(c.get_ssl_mode(), tokio_postgres::config::SslMode::Prefer);
        let c = PgUrl::parse("postgres://h/db?sslmode=disable")
            .unwrap()
            .config()
            .unwrap();
        assert_eq!(c.get_ssl_mode(), tokio_postgres::config::SslMode::Disable);

        let e = PgUrl::parse("postgres://h/db?sslmode=verify_full").unwrap_err();
        assert!(e.contains("sslmode") && e.contains("verify_full"), "{e}");
        let e = PgUrl::parse("postgres://h/db?sslmode=require&sslrootcert=%2Fno%2Fsuch.pem")
            .unwrap_err();
        assert!(
            e.contains("sslrootcert") && e.contains("/no/such.pem"),
            "{e}"
        );
        let e = PgUrl::parse("postgres://h/db?sslcert=c.pem&sslkey=k.pem").unwrap_err();
        assert!(e.contains("sslcert"), "{e}");
        let e = PgUrl::parse("postgres://h/db?sslrootcert=%FF").unwrap_err();
        assert!(e.contains("sslrootcert"), "{e}");
    }

    #[test]
    fn a_hostaddr_alone_names_the_tls_server() {
        use tokio_postgres::config::Host;
        let c = PgUrl::parse("postgres://u@/db?hostaddr=10.0.0.7&sslmode=require")
            .unwrap()
            .config()
            .unwrap();
        assert_eq!(c.get_hosts(), [Host::Tcp("10.0.0.7".into())]);
        assert_eq!(c.get_hostaddrs().len(), 1);
        let c = PgUrl::parse("postgres://u@db.internal/db?hostaddr=10.0.0.7")
            .unwrap()
            .config()
            .unwrap();
        assert_eq!(c.get_hosts(), [Host::Tcp("db.internal".into())]);
    }

    #[test]
    fn statement_timeout_is_set_and_overridable() {
        let c = PgUrl::parse("postgres://h/db").unwrap().config().unwrap();
        assert!(c.get_options().unwrap().contains("statement_timeout=15000"));
        let c = PgUrl::parse("postgres://h/db?options=-c%20statement_timeout%3D1000")
            .unwrap()
            .config()
            .unwrap();
        let opts = c.get_options().unwrap();
        assert!(opts.ends_with("-c statement_timeout=1000"), "{opts}");
        assert_eq!(c.get_connect_timeout(), Some(&POOL_TIMEOUT));
    }
}
