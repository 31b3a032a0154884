//! The dashboard and the customer portal in a real browser: Debian's
//! `chromium`, driven through `chromedriver` (WebDriver) by fantoccini,
//! against a real hookd and real receivers on 127.0.0.1.
//!
//! Without `/usr/bin/chromium` and `chromedriver` every test prints
//! `SKIPPED: …` and passes, unless `HOOKD_REQUIRE_BROWSER=1` (CI), when it
//! fails. Screenshots go to `target/screenshots/`; with
//! `HOOKD_UPDATE_SCREENSHOTS=1` also to `docs/screenshots/` (the README's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod dashboard;
mod helpers;
mod portal;
// Shared with the delivery suite, which uses all of it.
#[allow(dead_code)]
#[path = "../delivery/receiver.rs"]
mod receiver;
#[path = "../support/mod.rs"]
mod support;
