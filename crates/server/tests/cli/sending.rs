//! `hookd send`, `hookd attempts` (also `--follow`), `hookd resend` and
//! `hookd recover`, with real deliveries to a receiver in the test.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, field, spawn_app, wait_until, write};
use crate::receiver::Receiver;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn send_takes_the_payload_from_a_flag_a_file_or_stdin_byte_for_byte() {
    let s = spawn_app().await;
    s.create_app("acme").await;
    let rx = Receiver::start(200).await;
    s.create_endpoint("acme", json!({"url": rx.url})).await;

    // --payload: the table shows the message.
    let out = s
        .cli(&[
            "send",
            "acme",
            "invoice.paid",
            "--payload",
            r#"{"amount": 1.50, "z": 1, "a": 2}"#,
            "--event-id",
            "evt_1",
            "--channel",
            "eu",
            "--tag",
            "t1",
        ])
        .await;
    let text = out.ok();
    let msg = field(text, "id");
    assert!(msg.starts_with("msg_"), "{text}");
    assert_eq!(field(text, "eventId"), "evt_1");
    assert_eq!(field(text, "eventType"), "invoice.paid");
    assert_eq!(field(text, "channels"), "eu");
    assert_eq!(
        field(text, "payload"),
        r#"{"amount": 1.50, "z": 1, "a": 2}"#
    );

    // The receiver gets the payload exactly as typed (key order, 1.50).
    let first = wait_until(WAIT, "the first delivery", || async {
        rx.requests().into_iter().next()
    })
    .await;
    assert_eq!(&first.body[..], br#"{"amount": 1.50, "z": 1, "a": 2}"#);
    assert_eq!(first.header("webhook-id"), msg);

    // --file, with --json: the API's answer.
    let file = write(s.dir(), "payload.json", b"{\n  \"from\": \"file\"\n}\n");
    let out = s
        .cli(&[
            "send",
            "acme",
            "invoice.paid",
            "--file",
            file.to_str().unwrap(),
            "--json",
        ])
        .await;
    let sent = out.json();
    assert_eq!(sent["payload"], json!({"from": "file"}));

    // stdin, when neither is given.
    let out = s
        .cli_with(
            &["send", "acme", "invoice.sent", "--json"],
            &[],
            br#"{"from": "stdin"}"#,
        )
        .await;
    let sent = out.json();
    assert_eq!(sent["eventType"], "invoice.sent");
    assert_eq!(sent["payload"], json!({"from": "stdin"}));
    let stored = s
        .get(&format!(
            "/api/v1/app/acme/msg/{}",
            sent["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(stored["payload"], json!({"from": "stdin"}));

    // Bad payloads are refused before anything is sent (exit 2).
    let err = s
        .cli(&["send", "acme", "x", "--payload", "{not json"])
        .await;
    let msg_text = err.fails(2);
    assert!(msg_text.contains("--payload is not valid JSON"), "{err:?}");
    let err = s.cli(&["send", "acme", "x", "--payload", "[1, 2]"]).await;
    assert!(err.fails(2).contains("must be a JSON object"), "{err:?}");
    let err = s
        .cli(&["send", "acme", "x", "--file", "/nonexistent/payload.json"])
        .await;
    assert!(
        err.fails(2).contains("/nonexistent/payload.json"),
        "{err:?}"
    );

    // A duplicate eventId is the API's 409, shown as such.
    let err = s
        .cli(&[
            "send",
            "acme",
            "invoice.paid",
            "--payload",
            "{}",
            "--event-id",
            "evt_1",
        ])
        .await;
    let text = err.fails(1);
    assert!(text.contains("conflict (409"), "{err:?}");
    assert!(
        text.contains("cannot send to application \"acme\""),
        "{err:?}"
    );
}

/// An application with an endpoint to `rx` and one delivered message.
async fn delivered(s: &TestApp, rx: &Receiver) -> (String, String) {
    s.create_app("acme").await;
    let ep = s
        .create_endpoint("acme", json!({"url": rx.url, "uid": "rx"}))
        .await;
    let msg = s
        .send_message(
            "acme",
            json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
        )
        .await;
    let (ep, msg) = (
        ep["id"].as_str().unwrap().to_string(),
        msg["id"].as_str().unwrap().to_string(),
    );
    wait_until(WAIT, "the first attempt", || async {
        (!s.attempts_by_msg("acme", &msg).await.is_empty()).then_some(())
    })
    .await;
    (ep, msg)
}

#[tokio::test]
async fn attempts_by_endpoint_message_and_application_then_resend() {
    let s = spawn_app().await;
    let rx = Receiver::start(200).await;
    let (ep, msg) = delivered(&s, &rx).await;

    let out = s
        .cli(&["attempts", "--app", "acme", "--endpoint", "rx"])
        .await;
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    for h in [
        "TIMESTAMP",
        "ATTEMPT",
        "MSG",
        "ENDPOINT",
        "STATUS",
        "CODE",
        "TRIGGER",
    ] {
        assert!(lines[0].contains(h), "{lines:?}");
    }
    let row = lines[1];
    assert!(row.contains(&msg) && row.contains(&ep), "{row}");
    assert!(
        row.contains("success") && row.contains(" 200 ") && row.contains("scheduled"),
        "{row}"
    );
    assert!(
        row.contains(r#"{"receiver":"answered","status":200}"#),
        "{row}"
    );

    let by_msg = s.cli(&["attempts", "--app", "acme", "--msg", &msg]).await;
    assert!(by_msg.ok().contains(&ep), "{by_msg:?}");
    let app_wide = s.cli(&["attempts", "--app", "acme"]).await;
    assert!(app_wide.ok().contains(&msg), "{app_wide:?}");
    let none = s
        .cli(&[
            "attempts",
            "--app",
            "acme",
            "--endpoint",
            "rx",
            "--status",
            "fail",
        ])
        .await;
    assert_eq!(none.ok(), "");
    assert!(none.stderr.contains("(no attempts)"), "{none:?}");
    let json = s
        .cli(&["attempts", "--app", "acme", "--msg", &msg, "--json"])
        .await
        .json();
    assert_eq!(json["data"][0]["msgId"], Value::String(msg.clone()));
    assert_eq!(json["data"][0]["responseStatusCode"], 200);
    assert_eq!(json["done"], true, "the API's own page: {json}");

    // resend: a manual attempt, listed oldest first after the scheduled one.
    rx.answer(202);
    let out = s.cli(&["resend", "acme", &msg, "rx"]).await;
    assert_eq!(
        out.ok().trim(),
        format!("queued a new attempt of message {msg} to endpoint rx")
    );
    wait_until(WAIT, "the manual attempt", || async {
        (s.attempts_by_msg("acme", &msg).await.len() == 2).then_some(())
    })
    .await;
    let out = s.cli(&["attempts", "--app", "acme", "--msg", &msg]).await;
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert!(
        lines[1].contains("scheduled") && lines[1].contains(" 200 "),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("manual") && lines[2].contains(" 202 "),
        "{lines:?}"
    );
    assert_eq!(rx.requests().len(), 2);

    let err = s.cli(&["resend", "acme", "msg_nope", "rx"]).await;
    assert!(err.fails(1).contains("404"), "{err:?}");
}

#[tokio::test]
async fn recover_resends_failed_deliveries_since_a_time() {
    let s = spawn_app().await;
    let rx = Receiver::start(500).await;
    let (_, msg) = delivered(&s, &rx).await;
    // 500, then one retry after 100 ms: then the delivery has failed for good.
    wait_until(WAIT, "the delivery to fail", || async {
        (s.destinations("acme", &msg).await[0]["status"] == 2).then_some(())
    })
    .await;

    rx.answer(200);
    let out = s
        .cli(&["recover", "acme", "rx", "--since", "1h", "--until", "now"])
        .await;
    let text = out.ok();
    assert!(
        text.starts_with("queued 1 failed deliveries to endpoint rx again"),
        "{out:?}"
    );
    wait_until(WAIT, "the recovered delivery", || async {
        (s.destinations("acme", &msg).await[0]["status"] == 0).then_some(())
    })
    .await;
    let out = s
        .cli(&[
            "attempts",
            "--app",
            "acme",
            "--endpoint",
            "rx",
            "--status",
            "fail",
        ])
        .await;
    assert_eq!(out.ok().lines().count(), 3, "two failed attempts: {out:?}");

    // Nothing left to recover; --json is the API's answer.
    let out = s
        .cli(&[
            "recover",
            "acme",
            "rx",
            "--since",
            "2026-01-01T00:00:00Z",
            "--json",
        ])
        .await;
    let task = out.json();
    assert_eq!(task["status"], "finished", "{task}");
    assert_eq!(task["data"]["messagesSent"], 0, "{task}");

    let err = s
        .cli(&["recover", "acme", "rx", "--since", "last tuesday"])
        .await;
    assert!(err.fails(2).contains("--since \"last tuesday\""), "{err:?}");
    // The server's own validation: since after until.
    let err = s
        .cli(&["recover", "acme", "rx", "--since", "now", "--until", "1h"])
        .await;
    let text = err.fails(1);
    assert!(
        text.contains("422") && text.contains("body.since"),
        "{err:?}"
    );
}

#[tokio::test]
async fn attempts_follow_prints_new_attempts_until_stopped() {
    let s = spawn_app().await;
    let rx = Receiver::start(200).await;
    let (_, first) = delivered(&s, &rx).await;

    let follow = s.spawn_cli(
        &[
            "attempts",
            "--app",
            "acme",
            "--endpoint",
            "rx",
            "--follow",
            "--interval",
            "0.1",
        ],
        &[],
    );
    follow.stdout_line("TIMESTAMP", WAIT).await;
    follow.stdout_line(&first, WAIT).await;
    let json_follow = s.spawn_cli(
        &[
            "attempts",
            "--app",
            "acme",
            "--follow",
            "--interval",
            "0.1",
            "--json",
        ],
        &[],
    );
    json_follow.stdout_line(&first, WAIT).await;

    rx.answer(503);
    let second = s
        .send_message(
            "acme",
            json!({"eventType": "invoice.paid", "payload": {"n": 2}}),
        )
        .await;
    let second = second["id"].as_str().unwrap().to_string();
    let line = follow.stdout_line(&second, WAIT).await;
    assert!(line.contains("fail") && line.contains(" 503 "), "{line}");
    let line = json_follow.stdout_line(&second, WAIT).await;
    let attempt: Value = serde_json::from_str(&line).expect("one JSON object per line");
    assert_eq!(attempt["responseStatusCode"], 503);

    let out = follow.terminate().await;
    assert!(out.status.success(), "{out:?}");
    // Each attempt is printed once, in the order they were made.
    let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert!(rows.len() >= 2, "{out:?}");
    assert!(rows[0].contains(&first), "{out:?}");
    let mut ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.split_whitespace().nth(1))
        .collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "an attempt was printed twice: {out:?}");
    assert!(json_follow.terminate().await.status.success());
}
