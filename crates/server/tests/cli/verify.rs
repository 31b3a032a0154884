//! `hookd verify` on good and tampered webhooks: exit 0 and `valid`, or
//! exit 1 naming exactly what is wrong; a secret that is not a key is a
//! usage error (2).

use std::path::Path;

use hookd_webhooks::Key;

use crate::helpers::{Output, run_hookd, write};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"test": 2432232314}"#;

fn signature(body: &[u8]) -> String {
    Key::parse(SECRET).unwrap().sign(ID, TS, body)
}

/// `hookd verify` with the three `webhook-*` headers and the body on stdin.
async fn verify(home: &Path, extra: &[&str], id: &str, ts: &str, sig: &str, body: &[u8]) -> Output {
    let (h1, h2, h3) = (
        format!("webhook-id: {id}"),
        format!("webhook-timestamp: {ts}"),
        format!("webhook-signature: {sig}"),
    );
    let mut args = vec!["verify", "--header", &h1, "--header", &h2, "--header", &h3];
    args.extend_from_slice(extra);
    run_hookd(home, &args, &[], body).await
}

#[tokio::test]
async fn valid_webhooks_from_a_file_or_stdin_with_either_header_names() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let sig = signature(BODY);
    let now = TS.to_string();

    let out = verify(
        h,
        &["--secret", SECRET, "--now", &now],
        ID,
        &now,
        &sig,
        BODY,
    )
    .await;
    assert_eq!(out.ok(), "valid\n");
    assert_eq!(out.stderr, "");

    let file = write(h, "body.json", BODY);
    let (h1, h2, h3) = (
        format!("Svix-Id: {ID}"),
        format!("svix-timestamp: {TS}"),
        format!("svix-signature: {sig}"),
    );
    let out = run_hookd(
        h,
        &[
            "verify",
            "--secret",
            SECRET,
            "-H",
            &h1,
            "-H",
            &h2,
            "-H",
            &h3,
            "--body-file",
            file.to_str().unwrap(),
            "--now",
            &now,
        ],
        &[],
        b"",
    )
    .await;
    assert_eq!(out.ok(), "valid\n");

    // Several signatures (a rotation): any match is enough.
    let rotated = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {sig}");
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &now],
        ID,
        &now,
        &rotated,
        BODY,
    )
    .await;
    assert_eq!(out.ok(), "valid\n");

    // ed25519: the public key verifies a v1a signature.
    let ed = Key::ed25519_from_seed([4; 32]);
    let v1a = ed.sign(ID, TS, BODY);
    let out = verify(
        h,
        &["--secret", &ed.public(), "--now", &now],
        ID,
        &now,
        &v1a,
        BODY,
    )
    .await;
    assert_eq!(out.ok(), "valid\n");
}

#[tokio::test]
async fn each_failure_says_why() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let sig = signature(BODY);
    let ts = TS.to_string();
    let at = |secs: i64| (TS + secs).to_string();

    // A changed body.
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &ts],
        ID,
        &ts,
        &sig,
        br#"{"test": 1}"#,
    )
    .await;
    assert!(out.stdout.is_empty());
    assert!(
        out.fails(1)
            .contains("invalid: bad signature: no signature in the header matches this secret"),
        "{out:?}"
    );

    // A changed id is a bad signature too.
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &ts],
        "msg_other",
        &ts,
        &sig,
        BODY,
    )
    .await;
    assert!(out.fails(1).contains("bad signature"), "{out:?}");

    // Another secret.
    let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let out = verify(h, &["--secret", other, "--now", &ts], ID, &ts, &sig, BODY).await;
    assert!(out.fails(1).contains("bad signature"), "{out:?}");

    // Too old, by how much; --tolerance widens the window.
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &at(400)],
        ID,
        &ts,
        &sig,
        BODY,
    )
    .await;
    let err = out.fails(1);
    assert!(
        err.contains("timestamp outside the tolerance: signed 400 s (6 min 40 s) ago, 1 min 40 s beyond the 300 s allowed"),
        "{out:?}"
    );
    assert!(
        err.contains("signed at 2023-11-14T22:13:20+00:00"),
        "{out:?}"
    );
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &at(400), "--tolerance", "500"],
        ID,
        &ts,
        &sig,
        BODY,
    )
    .await;
    assert_eq!(out.ok(), "valid\n");
    // Too new.
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &at(-3600)],
        ID,
        &ts,
        &sig,
        BODY,
    )
    .await;
    assert!(
        out.fails(1)
            .contains("3600 s (1 h 0 min) in the future, 55 min 0 s beyond the 300 s allowed"),
        "{out:?}"
    );

    // Malformed headers.
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &ts],
        ID,
        "yesterday",
        &sig,
        BODY,
    )
    .await;
    assert!(
        out.fails(1)
            .contains("malformed header: the timestamp \"yesterday\" is not Unix seconds"),
        "{out:?}"
    );
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &ts],
        ID,
        &ts,
        "garbage",
        BODY,
    )
    .await;
    assert!(
        out.fails(1).contains(
            "malformed signature header: \"garbage\" is not of the form v1,<base64> or v1a,<base64>"
        ),
        "{out:?}"
    );
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &ts],
        ID,
        &ts,
        "v1,not base64!",
        BODY,
    )
    .await;
    assert!(
        out.fails(1).contains("v1 signature is not valid base64"),
        "{out:?}"
    );

    // An ed25519 signature checked with an HMAC secret.
    let ed = Key::ed25519_from_seed([4; 32]).sign(ID, TS, BODY);
    let out = verify(h, &["--secret", SECRET, "--now", &ts], ID, &ts, &ed, BODY).await;
    assert!(
        out.fails(1)
            .contains("only v1a signatures, but the key checks v1 signatures"),
        "{out:?}"
    );

    // A missing header.
    let (h1, h2) = (
        format!("webhook-id: {ID}"),
        format!("webhook-timestamp: {ts}"),
    );
    let out = run_hookd(
        h,
        &[
            "verify", "--secret", SECRET, "--header", &h1, "--header", &h2,
        ],
        &[],
        BODY,
    )
    .await;
    assert!(
        out.fails(1).contains("invalid: missing header webhook-signature (give it with --header 'webhook-signature: …')"),
        "{out:?}"
    );

    // A final newline the sender never signed is pointed out.
    let mut with_newline = BODY.to_vec();
    with_newline.push(b'\n');
    let out = verify(
        h,
        &["--secret", SECRET, "--now", &ts],
        ID,
        &ts,
        &sig,
        &with_newline,
    )
    .await;
    assert!(
        out.fails(1)
            .contains("WOULD match without its final newline"),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_secret_that_is_not_a_key_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let sig = signature(BODY);
    let ts = TS.to_string();
    for (secret, why) in [
        ("sk_live_123", "key must start with whsec_, whpk_ or whsk_"),
        ("whsec_***", "whsec_ key is not valid base64"),
        ("whpk_AAAA", "whpk_ key must encode 32 bytes"),
    ] {
        let out = verify(h, &["--secret", secret, "--now", &ts], ID, &ts, &sig, BODY).await;
        let err = out.fails(2);
        assert!(
            err.contains("wrong secret format") && err.contains(why),
            "{secret}: {out:?}"
        );
    }
    let out = run_hookd(
        h,
        &["verify", "--secret", SECRET, "--header", "no colon"],
        &[],
        BODY,
    )
    .await;
    assert!(out.fails(2).contains("expected \"name: value\""), "{out:?}");
}
