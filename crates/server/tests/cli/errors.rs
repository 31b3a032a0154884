//! What the client commands say when things go wrong: an unreachable server
//! (naming the URL), a missing or wrong key (401, saying how to set one),
//! 404, 422 (each field), and bad usage (exit 2).

use crate::helpers::{ADMIN_TOKEN, free_port, run_hookd, spawn_app};

#[tokio::test]
async fn an_unreachable_server_is_named_with_its_url() {
    let home = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = run_hookd(
        home.path(),
        &["apps", "list", "--url", &url, "--token", ADMIN_TOKEN],
        &[],
        b"",
    )
    .await;
    let err = out.fails(1);
    assert!(
        err.contains(&format!(
            "cannot reach the hookd server at {url} (from --url)"
        )),
        "{out:?}"
    );
    assert!(err.to_lowercase().contains("connection refused"), "{out:?}");
    assert!(
        err.contains("HOOKD_URL"),
        "says how to set the URL: {out:?}"
    );
}

#[tokio::test]
async fn a_missing_or_wrong_key_says_how_to_set_one() {
    let s = spawn_app().await;
    let home = s.dir();

    let out = run_hookd(home, &["apps", "list", "--url", &s.base], &[], b"").await;
    let err = out.fails(1);
    assert!(err.contains("refused the API key (401"), "{out:?}");
    assert!(err.contains("No API key was given"), "{out:?}");
    for how in ["--token", "HOOKD_TOKEN", "cli.toml", "hookd token create"] {
        assert!(err.contains(how), "no mention of {how}: {out:?}");
    }

    let out = run_hookd(
        home,
        &["apps", "list"],
        &[("HOOKD_URL", &s.base), ("HOOKD_TOKEN", "hk_wrong")],
        b"",
    )
    .await;
    let err = out.fails(1);
    assert!(
        err.contains("The key (from $HOOKD_TOKEN) is wrong, revoked, or for another server"),
        "{out:?}"
    );
}

#[tokio::test]
async fn not_found_and_validation_errors_show_the_servers_words() {
    let s = spawn_app().await;
    s.create_app("acme").await;

    let out = s.cli(&["endpoints", "get", "acme", "ep_missing"]).await;
    let err = out.fails(1);
    assert!(
        err.contains("cannot get endpoint \"ep_missing\" of application \"acme\": not found (404 not_found): endpoint not found"),
        "{out:?}"
    );

    // 422: every invalid field with its location, one per line.
    let out = s
        .cli(&[
            "endpoints",
            "create",
            "acme",
            "not a url",
            "--secret",
            "whsec_short",
        ])
        .await;
    let err = out.fails(1);
    assert!(
        err.contains("the server rejected the request (422 validation):"),
        "{out:?}"
    );
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with("body.url: ")),
        "{out:?}"
    );
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with("body.secret: ")),
        "{out:?}"
    );
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let s = spawn_app().await;
    let out = s
        .cli_with(&["apps", "list"], &[("HOOKD_URL", "localhost:8071")], b"")
        .await;
    let err = out.fails(2);
    assert!(
        err.contains("invalid hookd URL") && err.contains("HOOKD_URL"),
        "{out:?}"
    );

    let out = s.cli(&["apps", "list", "--limit", "0"]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = s
        .cli(&["endpoints", "update", "a", "e", "--enable", "--disable"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = s
        .cli(&[
            "endpoints",
            "create",
            "a",
            "https://x.example",
            "--header",
            "novalue",
        ])
        .await;
    assert!(out.fails(2).contains("expected KEY:VALUE"), "{out:?}");
}
