//! hookd's API integration tests, compiled into one binary (one link, one
//! process; the modules share the harness in `support`, through `helpers`).
//! Each test starts its own server over its own database and speaks HTTP to it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod applications;
mod auth;
mod config_cli;
mod connections;
mod dispatch;
mod endpoints;
mod errors;
mod event_types;
mod helpers;
mod idempotency;
mod messages;
mod metrics;
mod openapi;
mod operational;
mod portal;
#[path = "../support/pyenv.rs"]
mod pyenv;
mod retention;
mod schemathesis;
mod sdk;
#[path = "../support/mod.rs"]
mod support;
mod tasks;
