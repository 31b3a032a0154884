//! `hookd listen`: a real delivery from hookd to a registered listener,
//! verified and forwarded; direct requests with good and bad signatures;
//! the SSRF hint when the server refuses 127.0.0.1.

use std::time::Duration;

use hookd_webhooks::Key;
use serde_json::{Value, json};

use crate::helpers::{
    Spawned, data, free_port, run_hookd, spawn_app, spawn_app_with, spawn_hookd, wait_until, write,
};
use crate::receiver::Receiver;

const WAIT: Duration = Duration::from_secs(15);

/// The `http://127.0.0.1:PORT/` a listener printed.
async fn listening_url(l: &Spawned) -> String {
    let line = l.stderr_line("listening on ", WAIT).await;
    line.split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string()
}

#[tokio::test]
async fn a_real_delivery_is_printed_verified_and_forwarded_and_the_endpoint_removed() {
    let s = spawn_app().await;
    s.create_app("acme").await;
    let target = Receiver::start(201).await;

    let listen = s.spawn_cli(
        &[
            "listen",
            "--port",
            "0",
            "--register",
            "acme",
            "--forward-to",
            &target.url,
        ],
        &[],
    );
    let url = listening_url(&listen).await;
    let line = listen
        .stderr_line("registered the temporary endpoint ep_", WAIT)
        .await;
    let ep = line
        .split_whitespace()
        .find(|w| w.starts_with("ep_"))
        .unwrap()
        .to_string();
    listen
        .stderr_line("verifying signatures with the endpoint's secret", WAIT)
        .await;
    let eps = data(&s.get("/api/v1/app/acme/endpoint").await.expect(200));
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0]["id"], Value::String(ep.clone()));
    assert_eq!(eps[0]["url"], Value::String(url.clone()));

    let payload = r#"{"invoice": "in_42", "amount": 1000, "lines": [{"sku": "a"}]}"#;
    // Sent as text, so hookd delivers these exact bytes.
    let msg = s
        .post_raw(
            "/api/v1/app/acme/msg",
            format!(r#"{{"eventType": "invoice.paid", "payload": {payload}}}"#),
        )
        .await
        .expect(202);
    let msg_id = msg["id"].as_str().unwrap().to_string();

    listen.stdout_line("signature: VALID", WAIT).await;
    listen
        .stdout_line(&format!("forwarded to {}: 201 Created", target.url), WAIT)
        .await;
    listen.stdout_line(r#""receiver": "answered""#, WAIT).await;
    let printed = listen.stdout();
    assert!(printed.contains("--- #1 POST / "), "{printed}");
    assert!(
        printed.contains(&format!("webhook-id: {msg_id}")),
        "{printed}"
    );
    assert!(printed.contains("webhook-signature: v1,"), "{printed}");
    // The body, pretty-printed in the sender's key order.
    assert!(
        printed.contains("{\n  \"invoice\": \"in_42\",\n  \"amount\": 1000,\n  \"lines\": [\n    {\n      \"sku\": \"a\"\n    }\n  ]\n}"),
        "{printed}"
    );

    // The forward target got the same body and signature headers.
    let fwd = wait_until(WAIT, "the forwarded request", || async {
        target.requests().into_iter().next()
    })
    .await;
    assert_eq!(fwd.method, "POST");
    assert_eq!(fwd.path, "/hook", "forwarded to the URL as given");
    assert_eq!(fwd.header("webhook-id"), msg_id);
    assert!(fwd.header("webhook-signature").starts_with("v1,"));
    let body = String::from_utf8(fwd.body.to_vec()).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::from_str::<Value>(payload).unwrap()
    );

    // hookd recorded the forward target's answer as the attempt's.
    let attempt = wait_until(WAIT, "the attempt record", || async {
        s.attempts_by_msg("acme", &msg_id).await.into_iter().next()
    })
    .await;
    assert_eq!(attempt["responseStatusCode"], 201, "{attempt}");
    assert!(
        attempt["response"].as_str().unwrap().contains("answered"),
        "{attempt}"
    );

    // The captured request verifies with `hookd verify` too.
    let secret = s.endpoint_secret("acme", &ep).await;
    let body_file = write(s.dir(), "captured.json", &fwd.body);
    let headers: Vec<String> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .iter()
        .map(|h| format!("{h}: {}", fwd.header(h)))
        .collect();
    let out = run_hookd(
        s.dir(),
        &[
            "verify",
            "--secret",
            &secret,
            "--header",
            &headers[0],
            "--header",
            &headers[1],
            "--header",
            &headers[2],
            "--body-file",
            body_file.to_str().unwrap(),
        ],
        &[],
        b"",
    )
    .await;
    assert_eq!(out.ok(), "valid\n");

    // SIGTERM: the temporary endpoint is deleted and the exit is clean.
    let out = listen.terminate().await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "deleted the temporary endpoint {ep} from application acme"
        )),
        "{out:?}"
    );
    assert!(out.stderr.contains("stopped after 1 webhook(s)"), "{out:?}");
    assert_eq!(
        data(&s.get("/api/v1/app/acme/endpoint").await.expect(200)),
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn direct_requests_are_verified_and_answered_by_the_verdict() {
    let home = tempfile::tempdir().unwrap();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let listen = spawn_hookd(
        home.path(),
        &["listen", "--port", "0", "--secret", secret],
        &[],
    );
    let url = listening_url(&listen).await;
    listen
        .stderr_line("verifying signatures with --secret", WAIT)
        .await;

    let http = reqwest::Client::new();
    let now = chrono::Utc::now().timestamp();
    let body = br#"{"hello": "world"}"#;
    let sig = Key::parse(secret).unwrap().sign("msg_direct", now, body);
    let resp = http
        .post(format!("{url}webhooks?x=1"))
        .header("svix-id", "msg_direct")
        .header("svix-timestamp", now.to_string())
        .header("svix-signature", &sig)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    listen.stdout_line("--- #1 POST /webhooks?x=1 ", WAIT).await;
    listen.stdout_line("signature: VALID", WAIT).await;

    let resp = http
        .post(format!("{url}webhooks"))
        .header("webhook-id", "msg_direct")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", &sig)
        .body(&br#"{"hello": "tampered"}"#[..])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let text = resp.text().await.unwrap();
    assert!(text.contains("invalid signature"), "{text}");
    listen
        .stdout_line(
            "signature: INVALID: no signature matches: wrong secret, or the body was changed",
            WAIT,
        )
        .await;

    let resp = http
        .post(format!("{url}x"))
        .body("not json at all")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    listen.stdout_line("not json at all", WAIT).await;
    listen
        .stdout_line("signature: INVALID: missing header webhook-id", WAIT)
        .await;
    let out = listen.terminate().await;
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test]
async fn a_forward_target_that_is_down_is_a_502_and_no_secret_means_not_checked() {
    let s = spawn_app().await;
    let down = format!("http://127.0.0.1:{}/webhooks", free_port());
    let listen = s.spawn_cli(&["listen", "--port", "0", "--forward-to", &down], &[]);
    let url = listening_url(&listen).await;
    listen.stderr_line("signatures are not checked", WAIT).await;
    let resp = reqwest::Client::new()
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 502);
    listen
        .stdout_line(
            "signature: not checked (give --secret KEY, or use --register)",
            WAIT,
        )
        .await;
    let line = listen
        .stdout_line(&format!("forward to {down} FAILED"), WAIT)
        .await;
    assert!(line.to_lowercase().contains("refused"), "{line}");
    assert!(listen.terminate().await.status.success());
}

#[tokio::test]
async fn registering_against_a_server_that_blocks_loopback_prints_a_hint() {
    // The SSRF policy's default: 127.0.0.1 is refused.
    let s = spawn_app_with(&[("allowed_subnets", "")]).await;
    s.create_app("acme").await;
    // --secret with --register: the endpoint is created with that secret.
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let listen = s.spawn_cli(
        &[
            "listen",
            "--port",
            "0",
            "--register",
            "acme",
            "--secret",
            secret,
        ],
        &[],
    );
    listen
        .stderr_line("registered the temporary endpoint", WAIT)
        .await;
    let ep = data(&s.get("/api/v1/app/acme/endpoint").await.expect(200))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = s
        .get(&format!("/api/v1/app/acme/endpoint/{ep}/secret"))
        .await
        .expect(200);
    assert_eq!(key["key"], secret);
    s.send_message("acme", json!({"eventType": "invoice.paid", "payload": {}}))
        .await;
    let hint = listen
        .stderr_line("hint: hookd did not deliver to this listener", WAIT)
        .await;
    assert!(hint.contains("SSRF policy refused 127.0.0.1"), "{hint}");
    listen
        .stderr_line("HOOKD_ALLOWED_SUBNETS=127.0.0.0/8", WAIT)
        .await;
    let out = listen.terminate().await;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "nothing was delivered: {out:?}");
    assert!(
        out.stderr.contains("deleted the temporary endpoint"),
        "{out:?}"
    );
    assert_eq!(
        data(&s.get("/api/v1/app/acme/endpoint").await.expect(200)),
        Vec::<Value>::new()
    );

    // Registering in an application that does not exist fails at once.
    let out = s
        .cli(&["listen", "--port", "0", "--register", "nope"])
        .await;
    let err = out.fails(1);
    assert!(
        err.contains("cannot register a temporary endpoint in application \"nope\"")
            && err.contains("404"),
        "{out:?}"
    );
}
