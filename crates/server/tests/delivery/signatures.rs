//! What a delivery looks like on the wire: the Standard Webhooks headers, the
//! body byte for byte, custom endpoint headers, and signatures that verify
//! with hookd's own verifier and with the Python reference library, through
//! secret rotation, ed25519 keys and the `svix-*` header names.

use std::time::Duration;

use hookd_webhooks::Verifier;
use serde_json::{Value, json};

use crate::helpers::{id, spawn_app, spawn_app_with};
use crate::python::{self, Case};
use crate::receiver::{Captured, Receiver, Reply};

const WAIT: Duration = Duration::from_secs(10);

/// A secret nobody signs with (a negative control).
const UNRELATED_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// Verifies a captured `webhook-*` delivery with hookd's verifier.
#[track_caller]
fn rust_verify(key: &str, r: &Captured) -> Result<(), hookd_webhooks::Error> {
    Verifier::new(key).expect("verifier key").verify(
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.header("webhook-signature"),
        &r.body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_carry_standard_headers_and_the_exact_body() {
    // The first attempt fails, so the retry shows the id is stable.
    let receiver = Receiver::scripted(vec![Reply::status(500)], Reply::ok()).await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("signed").await);
    let ep = id(&app
        .create_endpoint(
            &app_id,
            json!({
                "url": receiver.url,
                "headers": {"x-custom-one": "alpha", "X-Tenant": "t-42"},
            }),
        )
        .await);
    let secret = app.endpoint_secret(&app_id, &ep).await;
    assert!(secret.starts_with("whsec_"), "{secret}");

    // Odd whitespace, escapes and non-ASCII text: the receiver must get
    // exactly these bytes, not a re-serialisation.
    let payload = "{ \"b\" :1,\n\t\"a\":[ 1 , 2.50 ],  \"t\":\"h\\u00e9llo w\u{f6}rld \u{2603} \u{1F600}\",\"e\":\"\\\"q\\\" \\/\" , \"n\":{ } }";
    let raw = format!("{{\"eventType\":\"invoice.paid\",  \"payload\" : {payload} }}");
    let msg = id(&app
        .post_raw(&format!("/api/v1/app/{app_id}/msg"), &raw)
        .await
        .expect(202));

    let reqs = receiver.wait_for(2, WAIT).await;
    app.wait_for_status(&app_id, &msg, &ep, 0).await;
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hook");
        assert_eq!(r.header("webhook-id"), msg, "webhook-id is the message id");
        let ts: i64 = r
            .header("webhook-timestamp")
            .parse()
            .unwrap_or_else(|_| panic!("bad webhook-timestamp: {:?}", r.headers));
        assert!(
            (ts - r.unix_secs).abs() <= 5,
            "webhook-timestamp {ts} is not near the arrival time {}",
            r.unix_secs
        );
        let sig = r.header("webhook-signature");
        assert!(
            sig.starts_with("v1,") && !sig.contains(' '),
            "one v1 signature expected: {sig:?}"
        );
        assert_eq!(r.header("content-type"), "application/json");
        assert!(
            r.header("user-agent").starts_with("hookd/"),
            "user-agent: {:?}",
            r.header("user-agent")
        );
        assert_eq!(r.header("x-custom-one"), "alpha");
        assert_eq!(r.header("x-tenant"), "t-42");
        assert_eq!(
            r.text(),
            payload,
            "the body must be the payload byte for byte"
        );
        assert!(
            !r.has_header("svix-id"),
            "svix-* headers are off by default"
        );
        assert_eq!(rust_verify(&secret, r), Ok(()));
        assert_eq!(
            rust_verify(UNRELATED_SECRET, r),
            Err(hookd_webhooks::Error::NoMatchingSignature)
        );
    }
    let first: i64 = reqs[0].header("webhook-timestamp").parse().unwrap();
    let second: i64 = reqs[1].header("webhook-timestamp").parse().unwrap();
    assert!(
        second >= first,
        "the retry is signed with its own, later time"
    );

    let mut tampered = Case::captured("tampered body", &reqs[0], &secret, false);
    tampered.body = payload.replace(":1", ":2").into_bytes();
    python::verify(vec![
        Case::captured("first attempt", &reqs[0], &secret, false),
        Case::captured("retry", &reqs[1], &secret, false),
        tampered.invalid("tampered body"),
        Case::captured("x", &reqs[0], UNRELATED_SECRET, false).invalid("wrong secret"),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_secret_signs_with_old_and_new_keys() {
    let receiver = Receiver::start().await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("rotation").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let old = app.endpoint_secret(&app_id, &ep).await;

    // A delivery before the rotation, so the engine has the endpoint cached.
    let before = app.send_event(&app_id, "user.created").await;
    receiver.wait_for(1, WAIT).await;
    app.wait_for_status(&app_id, &before, &ep, 0).await;

    let rotated = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint/{ep}/secret/rotate"),
            &json!({}),
        )
        .await
        .expect(200);
    let new = rotated["key"].as_str().expect("new key").to_string();
    assert!(new.starts_with("whsec_") && new != old, "{rotated}");
    assert_eq!(app.endpoint_secret(&app_id, &ep).await, new);

    let after = app.send_event(&app_id, "user.created").await;
    receiver.wait_for(2, WAIT).await;
    let r = receiver.requests_for(&after);
    assert_eq!(r.len(), 1, "{:#?}", receiver.requests());
    let r = &r[0];
    let sig = r.header("webhook-signature");
    let entries: Vec<&str> = sig.split(' ').collect();
    assert_eq!(entries.len(), 2, "old and new signatures expected: {sig:?}");
    assert!(entries.iter().all(|e| e.starts_with("v1,")), "{sig:?}");
    assert_eq!(rust_verify(&old, r), Ok(()), "old secret");
    assert_eq!(rust_verify(&new, r), Ok(()), "new secret");
    assert!(rust_verify(UNRELATED_SECRET, r).is_err());

    // The delivery before the rotation carried the old signature only.
    let b = &receiver.requests_for(&before)[0];
    assert!(!b.header("webhook-signature").contains(' '));
    assert!(rust_verify(&new, b).is_err());

    python::verify(vec![
        Case::captured("old secret", r, &old, false),
        Case::captured("new secret", r, &new, false),
        Case::captured("x", r, UNRELATED_SECRET, false).invalid("unrelated secret"),
        Case::captured("x", b, &new, false).invalid("pre-rotation delivery, new secret"),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_endpoints_get_v1a_signatures() {
    // The key pair of the published vectors (also in ../shared/).
    let vectors: Value =
        serde_json::from_str(include_str!("../../../webhooks/tests/vectors.json")).unwrap();
    let sk = vectors["ed25519_key_pair"]["secret_key"].as_str().unwrap();
    let pk = vectors["ed25519_key_pair"]["public_key"].as_str().unwrap();

    let receiver = Receiver::start().await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("ed25519").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url, "secret": sk}))
        .await);
    assert_eq!(
        app.endpoint_secret(&app_id, &ep).await,
        pk,
        "GET secret shows the public key, never the secret one"
    );

    let msg = app.send_event(&app_id, "user.created").await;
    let r = &receiver.wait_for(1, WAIT).await[0];
    assert_eq!(r.header("webhook-id"), msg);
    let sig = r.header("webhook-signature");
    assert!(
        sig.starts_with("v1a,") && !sig.contains(' '),
        "one v1a signature expected: {sig:?}"
    );
    assert_eq!(rust_verify(pk, r), Ok(()));
    let v = Verifier::new(pk).unwrap();
    assert!(
        v.verify(msg.as_str(), r.header("webhook-timestamp"), sig, b"{}")
            .is_err(),
        "a v1a signature must not verify another body"
    );
    // Independently, in Python: standardwebhooks 1.1.0 implements only `v1`,
    // so verify.py checks `v1a` with the `cryptography` package.
    python::verify(vec![
        Case::captured("ed25519 delivery", r, pk, false),
        Case {
            body: b"{}".to_vec(),
            ..Case::captured("ed25519 delivery", r, pk, false).invalid("ed25519, other body")
        },
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svix_header_names_replace_the_webhook_ones() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(&[("signature_headers", "svix")]).await;
    let app_id = id(&app.create_app("svix").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let secret = app.endpoint_secret(&app_id, &ep).await;
    let msg = app.send_event(&app_id, "user.created").await;
    let r = &receiver.wait_for(1, WAIT).await[0];
    assert_eq!(r.header("svix-id"), msg);
    assert!(r.header("svix-timestamp").parse::<i64>().is_ok());
    assert!(r.header("svix-signature").starts_with("v1,"));
    for h in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(!r.has_header(h), "{h} must not be sent with svix names");
    }
    Verifier::new(&secret)
        .unwrap()
        .verify(
            r.header("svix-id"),
            r.header("svix-timestamp"),
            r.header("svix-signature"),
            &r.body,
        )
        .expect("svix-* signature verifies");
    python::verify(vec![Case::captured("svix names", r, &secret, true)]).await;
}
