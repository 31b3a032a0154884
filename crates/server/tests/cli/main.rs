//! The `hookd` binary's client commands, end to end: each test starts its
//! own hookd in-process on 127.0.0.1:0 (its own SQLite file) and runs the
//! real binary against it as a child process, asserting what it prints and
//! how it exits. `listen` receives real deliveries from that hookd.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config;
mod errors;
mod helpers;
mod listen;
mod receiver;
mod resources;
mod sending;
#[path = "../support/mod.rs"]
mod support;
mod verify;
