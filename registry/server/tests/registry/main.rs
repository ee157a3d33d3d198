//! Registry service tests. Every test body wrapped in `both_engines!` runs on
//! SQLite and on PostgreSQL, driving the HTTP app in-process.

mod harness;

mod auth;
mod browse;
mod community;
mod openapi;
mod publish;
mod race;
mod refusals;
mod trust;

/// What every test module needs.
mod prelude {
    pub(crate) use crate::harness::both_engines;
    pub use crate::harness::*;
    pub use axum::http::{Method, StatusCode};
    pub use serde_json::{Value, json};
}
