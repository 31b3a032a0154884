//! hookd's delivery-engine integration tests, compiled into one binary
//! separate from the API tests. Each test starts its own hookd (in-process,
//! or the real binary for the crash test) over its own SQLite file, points
//! endpoints at real recording HTTP receivers on 127.0.0.1, and asserts what
//! users see: the requests receivers get, and the attempt and destination
//! listings of the API. Timing uses short retry schedules and bounded polls
//! (`helpers::wait_until`), never sleep-and-hope.
//!
//! Signatures are also checked by an independent implementation, the Python
//! `standardwebhooks` package (see `python`); those checks print
//! `SKIPPED: …` and pass when Python is unavailable, unless
//! `HOOKD_REQUIRE_SDK_TESTS` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actions;
mod attempt_headers;
mod crash;
mod events;
mod failures;
mod fifo;
mod filters;
mod helpers;
mod limits;
mod operational;
#[path = "../support/pyenv.rs"]
mod pyenv;
mod python;
mod receiver;
mod retries;
mod routing;
mod scheduled;
mod secrets;
mod signatures;
mod ssrf;
#[path = "../support/mod.rs"]
mod support;
mod test_attempt;
mod throttling;
