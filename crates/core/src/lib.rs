//! hookd's domain: identifiers, validation, records, the rules of delivery
//! and the `Store` traits. Nothing in this crate performs I/O.
//!
//! | module | owns |
//! | --- | --- |
//! | [`ids`] | prefixed, time-sortable ids (`app_…`, `msg_…`) |
//! | [`validate`] | request checks that name the field (Svix `loc`) |
//! | [`model`] | records as stored: applications, endpoints, messages, attempts |
//! | [`filter`] | endpoints' payload filters: parse, cache, match |
//! | [`store`] | the store traits by aggregate, and the rules both backends share |
//! | [`retry`] | the retry schedule and the decision after an attempt |
//! | [`adaptive`] | each endpoint's concurrency window (AIMD) |
//! | [`catalog`] | event types as an OpenAPI document's webhooks (import, export) |
//! | [`secret`], [`auth`] | signing secrets, API key hashing |
//! | [`time`], [`random`] | timestamps, randomness |
//!
//! Flow: the API validates a request ([`validate`]), builds a record
//! ([`model`]) and calls the [`store`]; the delivery engine reads the
//! queue from the store, attempts, asks [`retry`] what comes next and
//! records the outcome through the store, whose rules decide the
//! delivery's state and the endpoint's.

pub mod adaptive;
pub mod auth;
pub mod catalog;
pub mod filter;
pub mod ids;
pub mod model;
pub mod random;
pub mod retry;
pub mod secret;
pub mod store;
pub mod time;
pub mod validate;
