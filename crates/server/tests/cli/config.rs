//! Where the client commands find the server: `~/.config/hookd/cli.toml`
//! (or `$XDG_CONFIG_HOME/hookd/cli.toml`, or `$HOOKD_CLI_CONFIG`), overridden
//! by `HOOKD_URL`/`HOOKD_TOKEN`, overridden by `--url`/`--token`.

use crate::helpers::{ADMIN_TOKEN, run_hookd, spawn_app, write};

#[tokio::test]
async fn the_config_file_then_variables_then_flags() {
    let s = spawn_app().await;
    s.create_app("acme").await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".config").join("hookd");
    std::fs::create_dir_all(&dir).unwrap();
    write(
        &dir,
        "cli.toml",
        format!("url = \"{}\"\ntoken = \"{ADMIN_TOKEN}\"\n", s.base).as_bytes(),
    );

    // Only the file.
    let out = run_hookd(home.path(), &["apps", "get", "acme"], &[], b"").await;
    assert!(out.ok().contains("acme"), "{out:?}");

    // A variable beats the file: a wrong key from HOOKD_TOKEN is used (and named).
    let out = run_hookd(
        home.path(),
        &["apps", "get", "acme"],
        &[("HOOKD_TOKEN", "hk_wrong")],
        b"",
    )
    .await;
    assert!(out.fails(1).contains("from $HOOKD_TOKEN"), "{out:?}");

    // A flag beats the variable.
    let out = run_hookd(
        home.path(),
        &["apps", "get", "acme", "--token", ADMIN_TOKEN],
        &[("HOOKD_TOKEN", "hk_wrong")],
        b"",
    )
    .await;
    assert!(out.ok().contains("acme"), "{out:?}");

    // A wrong key in the file is named with the file's path.
    let other = tempfile::tempdir().unwrap();
    let file = write(
        other.path(),
        "elsewhere.toml",
        format!("url = \"{}\"\ntoken = \"hk_from_file\"\n", s.base).as_bytes(),
    );
    let out = run_hookd(
        home.path(),
        &["apps", "list"],
        &[("HOOKD_CLI_CONFIG", file.to_str().unwrap())],
        b"",
    )
    .await;
    let err = out.fails(1);
    assert!(
        err.contains(&format!("The key (from {})", file.display())),
        "{out:?}"
    );

    // XDG_CONFIG_HOME is honoured.
    let xdg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(xdg.path().join("hookd")).unwrap();
    write(
        &xdg.path().join("hookd"),
        "cli.toml",
        format!("url = \"{}\"\ntoken = \"{ADMIN_TOKEN}\"\n", s.base).as_bytes(),
    );
    let out = run_hookd(
        other.path(),
        &["apps", "get", "acme"],
        &[("XDG_CONFIG_HOME", xdg.path().to_str().unwrap())],
        b"",
    )
    .await;
    assert!(out.ok().contains("acme"), "{out:?}");
}

#[tokio::test]
async fn a_broken_config_file_is_named() {
    let home = tempfile::tempdir().unwrap();
    let file = write(
        home.path(),
        "cli.toml",
        b"url = \"http://127.0.0.1:1\"\nkey = \"x\"\n",
    );
    let out = run_hookd(
        home.path(),
        &["apps", "list"],
        &[("HOOKD_CLI_CONFIG", file.to_str().unwrap())],
        b"",
    )
    .await;
    let err = out.fails(2);
    assert!(
        err.contains(file.to_str().unwrap()) && err.contains("key"),
        "{out:?}"
    );

    let out = run_hookd(
        home.path(),
        &["apps", "list"],
        &[("HOOKD_CLI_CONFIG", "/nonexistent/cli.toml")],
        b"",
    )
    .await;
    assert!(out.fails(2).contains("/nonexistent/cli.toml"), "{out:?}");
}
