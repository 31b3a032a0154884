//! The store conformance suite: every behaviour of the `Store` trait, written
//! once and run against SQLite (always, each test on its own file) and
//! PostgreSQL (when `HOOKD_TEST_DATABASE_URL` names a server the suite may
//! create databases on; each test on its own database). A test named
//! `module::behaviour::sqlite` has a twin `module::behaviour::postgres`, so
//! the two stores cannot drift apart silently.
//!
//! Without `HOOKD_TEST_DATABASE_URL` the PostgreSQL twins pass without
//! running and say so once on stderr; with `HOOKD_REQUIRE_POSTGRES=1` (CI)
//! they fail instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The modules live in conformance/ beside this file.
#[macro_use]
#[path = "conformance/support.rs"]
mod support;

#[path = "conformance/apps.rs"]
mod apps;
#[path = "conformance/attempts.rs"]
mod attempts;
#[path = "conformance/deliveries.rs"]
mod deliveries;
#[path = "conformance/endpoints.rs"]
mod endpoints;
#[path = "conformance/event_types.rs"]
mod event_types;
#[path = "conformance/idempotency.rs"]
mod idempotency;
#[path = "conformance/keys.rs"]
mod keys;
#[path = "conformance/messages.rs"]
mod messages;
#[path = "conformance/postgres_only.rs"]
mod postgres_only;
#[path = "conformance/retention.rs"]
mod retention;
#[path = "conformance/sealing.rs"]
mod sealing;
#[path = "conformance/tasks.rs"]
mod tasks;
