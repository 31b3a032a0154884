//! TLS to PostgreSQL, end to end: hookd's store against PostgreSQL servers
//! this file starts itself (`initdb` + `postgres`, on 127.0.0.1 and a free
//! port), one with `ssl=on` and a certificate for `localhost` issued by a CA
//! made here with rcgen, one without TLS. Each `sslmode` is checked by what
//! the server reports (`pg_stat_ssl`) for the pool's connections and the
//! LISTEN connection, and by what the user sees when it must fail.
//!
//! The servers are found in `HOOKD_TEST_PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin`, else `PATH`. Without them every test prints
//! `SKIPPED: …` and passes, unless `HOOKD_REQUIRE_POSTGRES=1` (CI). As root
//! (initdb refuses root) the servers run as the `postgres` user.
//!
//! A server lives as long as the test process: a shell beside it waits for
//! its stdin to close (this process exiting, however it exits), then stops
//! the server and removes its directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hookd_core::ids::{self, Kind};
use hookd_core::model::Application;
use hookd_core::store::{AppStore, Change, KeyStore, Store, StoreError};
use hookd_core::time::Timestamp;
use hookd_store::PgUrl;
use hookd_store::postgres::PostgresStore;
use hookd_store::seal::Sealer;

/// Where to find `initdb` and `postgres`, when not in the usual places.
const BIN_VAR: &str = "HOOKD_TEST_PG_BIN";
/// When `1`, missing PostgreSQL binaries fail the tests instead of skipping them.
const REQUIRE_VAR: &str = "HOOKD_REQUIRE_POSTGRES";

/// A server started for this process.
struct Server {
    port: u16,
    /// Holds the CA files (the server's own files are its business).
    dir: PathBuf,
    /// Never written: closing it (at exit) stops the server.
    _stop: ChildStdin,
    _shell: Child,
}

impl Server {
    fn url(&self, host: &str, params: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{params}", self.port)
    }

    /// The CA that issued the server's certificate.
    fn ca(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }

    /// A CA that did not.
    fn other_ca(&self) -> String {
        self.dir.join("other-ca.pem").display().to_string()
    }
}

static TLS_SERVER: OnceLock<Option<Server>> = OnceLock::new();
static PLAIN_SERVER: OnceLock<Option<Server>> = OnceLock::new();

/// The server with `ssl=on`, or `None` (said on stderr) when the binaries are missing.
fn tls_server() -> Option<&'static Server> {
    TLS_SERVER.get_or_init(|| start("tls", true)).as_ref()
}

/// The server with `ssl=off`.
fn plain_server() -> Option<&'static Server> {
    PLAIN_SERVER.get_or_init(|| start("plain", false)).as_ref()
}

fn bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = std::env::var_os(BIN_VAR) {
        return Some(PathBuf::from(dir)).filter(|d| has_both(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, d)| has_both(d))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| has_both(d))
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program` with `args`, as the `postgres` user when this process is root.
fn command(program: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program).args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    }
}

fn write_file(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// A CA (certificate and key) named `name`.
fn make_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// Writes the CAs and, for a TLS server, its certificate (for `localhost`
/// only, so that 127.0.0.1 is a name it does not match) and key.
fn write_pki(dir: &Path) {
    let ca = make_ca("hookd test CA");
    write_file(&dir.join("ca.pem"), &ca.pem());
    write_file(&dir.join("other-ca.pem"), &make_ca("some other CA").pem());
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca).unwrap();
    write_file(&dir.join("server.crt"), &cert.pem());
    let key_path = dir.join("server.key");
    write_file(&key_path, &key.serialize_pem());
    // PostgreSQL refuses a key others can read.
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(name: &str, ssl: bool) -> Option<Server> {
    let Some(bin) = bin_dir() else {
        let why = format!(
            "no initdb and postgres binaries in ${BIN_VAR}, /usr/lib/postgresql/*/bin or PATH"
        );
        if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") {
            panic!("{REQUIRE_VAR}=1 but {why}");
        }
        eprintln!("SKIPPED: postgres TLS tests: {why}");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("hookd-pg-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_pki(&dir);
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "chown of {} to postgres failed",
            dir.display()
        );
    }
    let data = dir.join("data");
    let data_arg = data.display().to_string();
    let out = command(
        &bin.join("initdb"),
        &[
            "-D",
            &data_arg,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    let log = dir.join("server.log");
    let setting = |k: &str, v: &str| format!("{k}={v}");
    let dir_s = dir.display().to_string();
    let mut settings = vec![
        setting("listen_addresses", "127.0.0.1"),
        setting("port", &port.to_string()),
        setting("unix_socket_directories", &dir_s),
        setting("fsync", "off"),
        setting("max_connections", "60"),
        setting("ssl", if ssl { "on" } else { "off" }),
    ];
    if ssl {
        settings.push(setting("ssl_cert_file", &format!("{dir_s}/server.crt")));
        settings.push(setting("ssl_key_file", &format!("{dir_s}/server.key")));
    }
    let postgres = bin.join("postgres").display().to_string();
    let mut args = vec![
        "-c".to_string(),
        // Runs the server in the background, waits for stdin to close, then
        // stops it (immediate shutdown: nothing in it is worth keeping).
        "log=$1; dir=$2; shift 2; \"$@\" >\"$log\" 2>&1 & pid=$!; \
         while read -r _; do :; done; kill -QUIT \"$pid\" 2>/dev/null; wait \"$pid\"; \
         rm -rf \"$dir\""
            .to_string(),
        "sh".to_string(),
        log.display().to_string(),
        dir_s.clone(),
        postgres,
        "-D".to_string(),
        data_arg,
    ];
    for s in settings {
        args.push("-c".to_string());
        args.push(s);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut shell = command(Path::new("sh"), &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stop = shell.stdin.take().unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = bin.join("pg_isready");
    loop {
        let ok = Command::new(&ready)
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            break;
        }
        if Instant::now() > deadline || shell.try_wait().unwrap().is_some() {
            panic!(
                "the {name} PostgreSQL server did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Server {
        port,
        dir,
        _stop: stop,
        _shell: shell,
    })
}

/// What the store logs, for the tests that look at the `prefer` warning.
/// Installed per test (thread-local), so a test on the current-thread
/// runtime sees its own store's lines only.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
    let url = PgUrl::parse(url).map_err(StoreError::backend)?;
    PostgresStore::connect(&url, Sealer::default()).await
}

fn app(org_id: &str) -> Application {
    let now = Timestamp::now();
    Application {
        id: ids::new_id(Kind::App),
        org_id: org_id.to_string(),
        uid: None,
        name: "over tls".into(),
        rate_limit: None,
        metadata: Default::default(),
        retention_days: None,
        created_at: now,
        updated_at: now,
    }
}

/// Whether the server sees a pool connection of `store` as encrypted.
async fn pool_is_encrypted(store: &PostgresStore) -> bool {
    let client = store.pool().get().await.unwrap();
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Starts `store`'s LISTEN connection and returns whether the server sees it
/// as encrypted; it is told apart by the URL's `application_name`.
async fn listen_is_encrypted(store: &PostgresStore, application_name: &str) -> bool {
    store.watch_changes(Box::new(|_| {}));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let client = store.pool().get().await.unwrap();
        let row = client
            .query_opt(
                "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                 WHERE a.application_name = $1 AND a.query ILIKE 'LISTEN%'",
                &[&application_name],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(Instant::now() < deadline, "no LISTEN connection appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn verify_full_with_the_right_ca_encrypts_the_pool_and_listen() {
    let Some(srv) = tls_server() else { return };
    let url = srv.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}&application_name=verify_full_ok",
            srv.ca()
        ),
    );
    let store = connect(&url).await.unwrap();
    let org = store.ensure_org("tls").await.unwrap();
    let a = store.create_app(app(&org.id)).await.unwrap();
    assert_eq!(
        store.get_app(&org.id, &a.id).await.unwrap(),
        Some(a.clone())
    );
    assert!(pool_is_encrypted(&store).await);
    assert!(listen_is_encrypted(&store, "verify_full_ok").await);

    // A change made through another store reaches this one over its
    // encrypted LISTEN connection.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    store.watch_changes(Box::new(move |c| {
        let _ = tx.send(c);
    }));
    let other = connect(&url).await.unwrap();
    let renamed = other
        .modify_app(&org.id, &a.id, Box::new(|a| a.name = "renamed".into()))
        .await
        .unwrap();
    assert!(renamed.is_some());
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Some(Change::App(id)) if id == a.id => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    })
    .await;
    assert_eq!(got, Ok(true), "the change did not arrive over LISTEN");
}

#[tokio::test]
async fn verify_full_with_another_ca_is_refused() {
    let Some(srv) = tls_server() else { return };
    let url = srv.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", srv.other_ca()),
    );
    let err = connect(&url)
        .await
        .err()
        .expect("connected with the wrong CA");
    let chain = err.chain();
    assert!(err.is_unavailable(), "{chain}");
    assert!(chain.contains("TLS handshake failed"), "{chain}");
    assert!(chain.contains("sslrootcert"), "{chain}");
    assert!(chain.contains("UnknownIssuer"), "{chain}");
}

#[tokio::test]
async fn verify_full_with_a_host_name_the_certificate_lacks_is_refused() {
    let Some(srv) = tls_server() else { return };
    // The certificate is for localhost only.
    let url = srv.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", srv.ca()),
    );
    let err = connect(&url)
        .await
        .err()
        .expect("connected despite the name");
    let chain = err.chain();
    assert!(chain.contains("TLS handshake failed"), "{chain}");
    assert!(chain.contains("not valid for name"), "{chain}");
    assert!(chain.contains("127.0.0.1"), "{chain}");

    // verify-ca checks the chain only, so the same URL connects.
    let url = srv.url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", srv.ca()),
    );
    let store = connect(&url).await.unwrap();
    assert!(pool_is_encrypted(&store).await);
    let err = connect(&srv.url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", srv.other_ca()),
    ))
    .await
    .err()
    .expect("verify-ca connected with the wrong CA");
    assert!(err.chain().contains("UnknownIssuer"), "{}", err.chain());
}

#[tokio::test]
async fn require_encrypts_and_refuses_a_server_without_tls() {
    let Some(srv) = tls_server() else { return };
    let store = connect(&srv.url("127.0.0.1", "sslmode=require&application_name=require_ok"))
        .await
        .unwrap();
    let org = store.ensure_org("tls").await.unwrap();
    assert_eq!(store.ensure_org("tls").await.unwrap().id, org.id);
    assert!(pool_is_encrypted(&store).await);
    assert!(listen_is_encrypted(&store, "require_ok").await);

    let Some(plain) = plain_server() else { return };
    let err = connect(&plain.url("127.0.0.1", "sslmode=require"))
        .await
        .err()
        .expect("require connected without TLS");
    assert!(err.is_unavailable(), "{}", err.chain());
    assert!(
        err.chain().contains("server does not support TLS"),
        "{}",
        err.chain()
    );
}

#[tokio::test]
async fn prefer_falls_back_to_plaintext_with_a_warning() {
    let Some(plain) = plain_server() else { return };
    let (logs, _guard) = capture_logs();
    let store = connect(&plain.url("127.0.0.1", "sslmode=prefer&application_name=prefer_plain"))
        .await
        .unwrap();
    let org = store.ensure_org("plain").await.unwrap();
    assert_eq!(store.ensure_org("plain").await.unwrap().id, org.id);
    assert!(!pool_is_encrypted(&store).await);
    assert!(!listen_is_encrypted(&store, "prefer_plain").await);
    let text = logs.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WITHOUT encryption"))
        .collect();
    // Once per store, however many connections it makes.
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(warnings[0].contains("WARN"), "{text}");
    assert!(
        warnings[0].contains(&format!("127.0.0.1:{}", plain.port)),
        "{text}"
    );
    assert!(warnings[0].contains("sslmode=require"), "{text}");
}

#[tokio::test]
async fn prefer_is_the_default_and_uses_tls_when_offered() {
    let Some(srv) = tls_server() else { return };
    let (logs, _guard) = capture_logs();
    let store = connect(&srv.url("127.0.0.1", "application_name=prefer_tls"))
        .await
        .unwrap();
    assert!(pool_is_encrypted(&store).await);
    assert!(listen_is_encrypted(&store, "prefer_tls").await);
    assert!(
        !logs.text().contains("WITHOUT encryption"),
        "{}",
        logs.text()
    );

    // The default warns too when it ends up in plaintext, and says it was the default.
    let Some(plain) = plain_server() else { return };
    let store = connect(&plain.url("127.0.0.1", "application_name=prefer_default"))
        .await
        .unwrap();
    assert!(!pool_is_encrypted(&store).await);
    let text = logs.text();
    assert!(text.contains("WITHOUT encryption"), "{text}");
    assert!(text.contains("prefer (the default)"), "{text}");
}

#[tokio::test]
async fn disable_connects_in_plaintext_without_a_warning() {
    let Some(srv) = tls_server() else { return };
    let (logs, _guard) = capture_logs();
    let store = connect(&srv.url(
        "127.0.0.1",
        "sslmode=disable&application_name=disable_tls_server",
    ))
    .await
    .unwrap();
    let org = store.ensure_org("plain").await.unwrap();
    let a = store.create_app(app(&org.id)).await.unwrap();
    assert_eq!(store.get_app_by_id(&a.id).await.unwrap(), Some(a));
    // The server offers TLS; disable does not take it.
    assert!(!pool_is_encrypted(&store).await);
    assert!(!listen_is_encrypted(&store, "disable_tls_server").await);

    let Some(plain) = plain_server() else { return };
    let store = connect(&plain.url("127.0.0.1", "sslmode=disable"))
        .await
        .unwrap();
    assert!(!pool_is_encrypted(&store).await);
    assert_eq!(logs.text(), "");
}

#[tokio::test]
async fn bad_tls_parameters_fail_at_start_naming_the_parameter() {
    // No server is needed: these fail before any connection is made.
    let url = "postgres://postgres@127.0.0.1:1/postgres";
    let err = hookd_store::open(&format!("{url}?sslmode=bogus"))
        .err()
        .unwrap()
        .chain();
    assert!(err.contains("sslmode") && err.contains("'bogus'"), "{err}");
    assert!(err.contains("verify-full"), "{err}");

    let err = hookd_store::open(&format!(
        "{url}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"
    ))
    .err()
    .unwrap()
    .chain();
    assert!(
        err.contains("sslrootcert") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let err = hookd_store::open(&format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        not_pem.display()
    ))
    .err()
    .unwrap()
    .chain();
    assert!(
        err.contains("sslrootcert") && err.contains("no certificate"),
        "{err}"
    );
}
