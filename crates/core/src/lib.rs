//! hookd's domain: identifiers, validation, records and the `Store` trait.
//! Nothing in this crate performs I/O.

pub mod auth;
pub mod ids;
pub mod model;
pub mod random;
pub mod retry;
pub mod secret;
pub mod store;
pub mod time;
pub mod validate;
