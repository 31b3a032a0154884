//! Credentials at rest: with `encryption_key`, endpoint signing secrets and
//! custom headers appear in no file of the data directory, deliveries are
//! still signed and sent with them, plaintext from before the key is sealed
//! at the next start, keys rotate, and a missing or wrong key stops the start.

use std::path::Path;
use std::time::Duration;

use hookd_webhooks::Verifier;
use serde_json::json;

use crate::helpers::{
    ADMIN_TOKEN, TestApp, client, free_port, id, spawn_app, spawn_app_with, spawn_hookd,
};
use crate::receiver::Receiver;

const KEY_A: &str = "8f2e4c6a1b3d5f7092e4c6a8b0d2f4e6a8c0e2f4b6d8fa1c3e5a7c9eb1d3f5a7";
const KEY_B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tok-secret-8d41f0";

/// The files of `dir` (the data directory) containing `needle`.
fn files_with(dir: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("data directory")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The base64 part of a `whsec_` secret, which is what a file would hold.
fn key_material(secret: &str) -> String {
    secret.trim_start_matches("whsec_").to_string()
}

/// Creates an endpoint with an auth header; returns (app id, endpoint id, secret).
async fn endpoint(app: &TestApp, receiver: &Receiver) -> (String, String, String) {
    let app_id = id(&app.create_app("sealed").await);
    let body =
        json!({"url": receiver.url, "headers": {"authorization": format!("Bearer {TOKEN}")}});
    let ep = id(&app.create_endpoint(&app_id, body).await);
    let secret = app.endpoint_secret(&app_id, &ep).await;
    (app_id, ep, secret)
}

/// Sends one message and checks the receiver got it signed with `secret`
/// and carrying the auth header.
async fn delivered_with(app: &TestApp, receiver: &Receiver, app_id: &str, secret: &str, n: usize) {
    app.send_event(app_id, "sealed.check").await;
    let reqs = receiver.wait_for(n, Duration::from_secs(10)).await;
    let r = &reqs[n - 1];
    Verifier::new(secret)
        .expect("verifier")
        .verify(
            r.header("webhook-id"),
            r.header("webhook-timestamp"),
            r.header("webhook-signature"),
            &r.body,
        )
        .expect("the delivery is signed with the endpoint's secret");
    assert_eq!(r.header("authorization"), format!("Bearer {TOKEN}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_secrets_sign_deliveries_and_stay_off_the_disk() {
    let receiver = Receiver::start().await;
    let mut app = spawn_app_with(&[("encryption_key", KEY_A)]).await;
    let (app_id, _, secret) = endpoint(&app, &receiver).await;
    delivered_with(&app, &receiver, &app_id, &secret, 1).await;
    app.shutdown().await;
    assert_eq!(
        files_with(app.dir(), &key_material(&secret)),
        Vec::<String>::new()
    );
    assert_eq!(files_with(app.dir(), TOKEN), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_secrets_are_sealed_at_the_next_start() {
    let receiver = Receiver::start().await;
    let mut plain = spawn_app().await;
    let (app_id, ep, secret) = endpoint(&plain, &receiver).await;
    plain.shutdown().await;
    // Without a key the secret is on disk: the check below can see it.
    assert!(!files_with(plain.dir(), &key_material(&secret)).is_empty());

    let mut sealed = plain
        .try_restart_with(&[("encryption_key", KEY_A)])
        .await
        .expect("restart with a key");
    assert_eq!(sealed.endpoint_secret(&app_id, &ep).await, secret);
    delivered_with(&sealed, &receiver, &app_id, &secret, 1).await;
    sealed.shutdown().await;
    assert_eq!(
        files_with(sealed.dir(), &key_material(&secret)),
        Vec::<String>::new()
    );
    assert_eq!(files_with(sealed.dir(), TOKEN), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_key_stops_the_start() {
    let receiver = Receiver::start().await;
    let mut app = spawn_app_with(&[("encryption_key", KEY_A)]).await;
    endpoint(&app, &receiver).await;
    app.shutdown().await;
    let wrong = app
        .try_restart_with(&[("encryption_key", KEY_B)])
        .await
        .err()
        .expect("a wrong key must not start");
    assert!(wrong.contains("encryption_key"), "{wrong}");
    let missing = app
        .try_restart_with(&[("encryption_key", "")])
        .await
        .err()
        .expect("no key must not start on sealed secrets");
    assert!(missing.contains("encryption_key"), "{missing}");
    let bad = app
        .try_restart_with(&[("encryption_key", "abc")])
        .await
        .err()
        .expect("a malformed key is refused");
    assert!(bad.contains("invalid setting encryption_key"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate() {
    let receiver = Receiver::start().await;
    let mut a = spawn_app_with(&[("encryption_key", KEY_A)]).await;
    let (app_id, ep, secret) = endpoint(&a, &receiver).await;
    a.shutdown().await;
    let rotate = [
        ("encryption_key", KEY_B),
        ("encryption_previous_key", KEY_A),
    ];
    let mut rotating = a.try_restart_with(&rotate).await.expect("rotation start");
    assert_eq!(rotating.endpoint_secret(&app_id, &ep).await, secret);
    rotating.shutdown().await;
    // Every credential is sealed with B now: A is no longer needed…
    let mut b = a
        .try_restart_with(&[("encryption_key", KEY_B), ("encryption_previous_key", "")])
        .await
        .expect("start with the new key alone");
    delivered_with(&b, &receiver, &app_id, &secret, 1).await;
    b.shutdown().await;
    // …and no longer enough.
    let old = a
        .try_restart_with(&[("encryption_previous_key", "")])
        .await
        .err()
        .expect("the old key alone opens nothing now");
    assert!(old.contains("encryption_key"), "{old}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_shows_a_credential_even_at_trace() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let listen = format!("127.0.0.1:{}", free_port());
    let db = format!("sqlite:{}", dir.path().join("hookd.db").display());
    let server = spawn_hookd(
        dir.path(),
        &["serve"],
        &[
            ("HOOKD_LISTEN", listen.as_str()),
            ("HOOKD_DATABASE_URL", db.as_str()),
            ("HOOKD_ADMIN_TOKEN", ADMIN_TOKEN),
            ("HOOKD_ALLOWED_SUBNETS", "127.0.0.0/8"),
            ("HOOKD_ENCRYPTION_KEY", KEY_A),
            ("HOOKD_LOG", "trace"),
        ],
    );
    server
        .stderr_line("hookd listening", Duration::from_secs(30))
        .await;
    let (base, http) = (format!("http://{listen}"), client());
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    post("/api/v1/app", json!({"name": "logs", "uid": "logs"}))
        .await
        .expect("create app");
    let ep = json!({"url": receiver.url, "secret": secret,
        "headers": {"authorization": format!("Bearer {TOKEN}")}});
    post("/api/v1/app/logs/endpoint", ep)
        .await
        .expect("create endpoint");
    post(
        "/api/v1/app/logs/msg",
        json!({"eventType": "a", "payload": {}}),
    )
    .await
    .expect("send");
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let out = server.terminate().await;
    assert!(
        out.stderr.lines().count() > 3,
        "trace logging is on: {}",
        out.stderr
    );
    for needle in [key_material(secret).as_str(), TOKEN, KEY_A] {
        assert!(
            !out.stderr.contains(needle),
            "{needle} logged:\n{}",
            out.stderr
        );
        assert!(!out.stdout.contains(needle), "{needle} printed");
    }
    assert_eq!(
        files_with(dir.path(), &key_material(secret)),
        Vec::<String>::new()
    );
}
