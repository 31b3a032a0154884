//! The `hookd` binary: configuration errors name the setting at fault, a
//! config file is read, and `serve` answers HTTP and stops cleanly on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{hookd_command, run_hookd, spawn_hookd};

/// What a stand-in OTLP collector received: (content type, body) per POST.
type Exported = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

fn temp_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("hookd.db").display());
    (dir, url)
}

#[tokio::test]
async fn an_invalid_listen_address_from_the_environment_is_named() {
    let (dir, db) = temp_db();
    let out = run_hookd(
        dir.path(),
        &["--database-url", &db, "serve"],
        &[("HOOKD_LISTEN", "garbage")],
        b"",
    )
    .await;
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("listen"), "{out:?}");
    assert!(out.stderr.contains("garbage"), "{out:?}");
}

#[tokio::test]
async fn invalid_flags_and_variables_are_named() {
    let (dir, db) = temp_db();
    let out = run_hookd(
        dir.path(),
        &["--database-url", &db, "serve", "--listen", "nope"],
        &[],
        b"",
    )
    .await;
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("listen") && out.stderr.contains("nope"),
        "{out:?}"
    );

    let out = run_hookd(
        dir.path(),
        &["--database-url", &db, "serve"],
        &[("HOOKD_MAX_PAYLOAD_BYTES", "lots")],
        b"",
    )
    .await;
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("HOOKD_MAX_PAYLOAD_BYTES"), "{out:?}");

    let out = run_hookd(
        dir.path(),
        &["--database-url", "mysql://db/hookd", "serve"],
        &[],
        b"",
    )
    .await;
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("database_url"), "{out:?}");
}

#[tokio::test]
async fn an_unknown_key_in_the_config_file_is_named() {
    let (dir, db) = temp_db();
    let file = dir.path().join("hookd.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\nlisten_adress = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let out = run_hookd(
        dir.path(),
        &["--config", &file, "--database-url", &db, "serve"],
        &[],
        b"",
    )
    .await;
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("listen_adress"), "{out:?}");

    std::fs::write(dir.path().join("broken.toml"), "listen = ").unwrap();
    let broken = dir.path().join("broken.toml").display().to_string();
    let out = run_hookd(dir.path(), &["--config", &broken, "serve"], &[], b"").await;
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("broken.toml"), "{out:?}");
}

/// Starts `hookd serve` from a config file, uses it over HTTP, and stops it
/// with SIGTERM.
#[cfg(unix)]
#[tokio::test]
async fn serve_reads_the_config_file_answers_and_stops_on_sigterm() {
    let (dir, db) = temp_db();
    // A stand-in OpenTelemetry collector: records what is POSTed to it.
    let traces: Exported = Default::default();
    let seen = traces.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                seen.lock().unwrap().push((ct, body.to_vec()));
                axum::http::StatusCode::OK
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, collector).await;
    });
    let file = dir.path().join("hookd.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\nadmin_token = \"from-the-file\"\n\
             log_format = \"json\"\nlog = \"info\"\notlp_endpoint = \"{otlp}\"\n"
        ),
    )
    .unwrap();
    let file = file.display().to_string();
    let mut child = hookd_command(dir.path(), &["--config", &file, "serve"], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();

    // The JSON log line announcing the bound address (port 0 was asked for).
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                panic!("a log line is not JSON although log_format = json: {line}");
            };
            if v["fields"]["message"] == "hookd listening" {
                return v["fields"]["addr"].as_str().unwrap().to_string();
            }
        }
        panic!("hookd exited before listening");
    })
    .await
    .expect("hookd did not report its address within 30 s");
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let health = client
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let created = client
        .post(format!("{base}/api/v1/app"))
        .bearer_auth("from-the-file")
        .json(&json!({"name": "x", "uid": "via-binary"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let denied = client
        .get(format!("{base}/api/v1/app"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 401);

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("hookd did not stop within 15 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "hookd exited with {status} after SIGTERM");
    drain.await.unwrap();

    // Its spans were exported with OTLP/HTTP (flushed at shutdown at the latest).
    let exported = traces.lock().unwrap().clone();
    assert!(!exported.is_empty(), "no traces reached the collector");
    assert!(
        exported
            .iter()
            .all(|(ct, _)| ct == "application/x-protobuf"),
        "{exported:?}"
    );
    let all: Vec<u8> = exported.into_iter().flat_map(|(_, b)| b).collect();
    let has = |needle: &str| all.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        has("hookd"),
        "the service name is missing from the exported spans"
    );
    assert!(has("http_request"), "the request span is missing");
    assert!(has("/api/v1/app"), "the route is missing");

    // What it wrote is in the database the file named.
    let out = run_hookd(
        dir.path(),
        &[
            "--database-url",
            &db,
            "token",
            "create",
            "--app",
            "via-binary",
        ],
        &[],
        b"",
    )
    .await;
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test]
async fn check_config_validates_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookd.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9\"\nretry_schedule = \"1s,2s\"\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let db = dir.path().join("data").join("hookd.db");
    let db_url = format!("sqlite:{}", db.display());
    let out = run_hookd(
        dir.path(),
        &["check-config", "--config", &path, "--database-url", &db_url],
        &[
            ("HOOKD_ADMIN_TOKEN", "very-secret"),
            ("HOOKD_MAX_PAYLOAD_BYTES", "2048"),
        ],
        b"",
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout.contains("listen = \"127.0.0.1:9\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("max_payload_bytes = 2048"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("retry_schedule = \"1s,2s\""),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("very-secret"),
        "the admin token must be masked"
    );
    // Nothing was started: the database was not even created.
    assert!(!db.exists() && !db.parent().unwrap().exists());

    let out = run_hookd(
        dir.path(),
        &["check-config"],
        &[("HOOKD_RETRY_SCHEDULE", "5x")],
        b"",
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("retry_schedule"), "{}", out.stderr);
}

#[tokio::test]
async fn migrate_creates_the_schema_and_exits() {
    let (dir, db) = temp_db();
    let out = run_hookd(dir.path(), &["migrate", "--database-url", &db], &[], b"").await;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);
    // The schema is there: a token can be created in it without a server.
    let out = run_hookd(
        dir.path(),
        &["--database-url", &db, "token", "create"],
        &[],
        b"",
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.trim().starts_with("hk_"), "{}", out.stdout);
    drop(dir);
}

#[tokio::test]
async fn a_proxy_is_refused_at_start_unless_it_may_bypass_the_ssrf_policy() {
    let (dir, db) = temp_db();
    let args = ["--database-url", &db, "serve", "--listen", "127.0.0.1:0"];
    let proxy = ("HOOKD_PROXY", "http://127.0.0.1:3128");
    let out = run_hookd(dir.path(), &args, &[proxy], b"").await;
    let err = out.fails(2);
    assert!(
        err.contains("invalid setting proxy:") && err.contains("proxy_bypasses_ssrf = true"),
        "{err}"
    );
    assert!(err.contains("SSRF"), "{err}");

    // Allowed explicitly: it starts, says what it gives up, and serves.
    let server = spawn_hookd(
        dir.path(),
        &args,
        &[
            proxy,
            ("HOOKD_PROXY_BYPASSES_SSRF", "true"),
            ("HOOKD_LOG_FORMAT", "json"),
        ],
    );
    let listening = server
        .stderr_line("hookd listening", Duration::from_secs(30))
        .await;
    let warning: Value = serde_json::from_str(
        &server
            .stderr_line("SSRF policy sees only the proxy", Duration::from_secs(1))
            .await,
    )
    .unwrap();
    assert_eq!(warning["level"], "WARN", "{warning}");
    let addr = serde_json::from_str::<Value>(&listening).unwrap()["fields"]["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let health = reqwest::get(format!("http://{addr}/api/v1/health"))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert!(server.terminate().await.status.success());
}

#[tokio::test]
async fn the_health_command_asks_a_running_server() {
    let app = crate::helpers::spawn_app().await;
    let out = run_hookd(app.dir(), &["health", "--url", &app.base], &[], b"").await;
    assert!(out.ok().contains("\"status\":\"ok\""), "{out:?}");

    // Without --url it finds the server through the server's own settings.
    let listen = app.base.trim_start_matches("http://");
    let out = run_hookd(app.dir(), &["health"], &[("HOOKD_LISTEN", listen)], b"").await;
    assert!(out.ok().contains("\"status\":\"ok\""), "{out:?}");

    // Nothing listening: a failure a health check sees.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = run_hookd(app.dir(), &["health", "--url", &url], &[], b"").await;
    assert!(out.fails(1).contains("cannot reach hookd"), "{out:?}");
}
