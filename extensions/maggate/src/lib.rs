//! MagGate: REST over a project's tables in PostgREST's URL dialect, so
//! PostgREST clients (`@supabase/postgrest-js`, ...) work unchanged.
//!
//! The logic is pure: it talks to the project database and the event bus
//! through the [`Database`] and [`Events`] traits, which mirror the host's
//! `database` and `events` capabilities, and answers plain
//! [`HttpRequest`]s with plain [`HttpResponse`]s.
//!
//! - [`request`] / `grammar`: the query string, `Prefer`, `Range`, `Accept`
//!   → a typed request, every input bounded.
//! - [`sql`]: that request and the described schema → one statement with
//!   bound parameters, identifiers checked then quoted.
//! - [`response`]: rows → typed JSON, `Content-Range`, status codes.
//! - [`openapi`]: the Swagger 2.0 description of the tables.
//! - [`handler`]: [`handle`] ties them together and publishes one change
//!   event per written row on [`CHANGES_TOPIC`].
//!
//! The dialect, the subset and the error codes are explained in
//! `docs/decisions/010-postgrest-dialect.md`.
//!
//! # The component
//! For wasm32 the crate is also the MagGate component (`component.rs`): a
//! [`Database`] over the host's `database` import (binding contract in
//! [`db`]), an [`Events`] over the host's `events` import (one
//! `publish-batch` per write), and the SDK's `wasi:http` handler, which sees the path below
//! the mount point with the query string raw and calls [`handle_with`].

pub mod db;
pub mod error;
mod grammar;
pub mod handler;
pub mod openapi;
pub mod request;
pub mod response;
pub mod sql;

#[cfg(target_arch = "wasm32")]
mod component;

pub use db::{Column, Database, DbError, Dialect, Events, Rows, Table, Value};
pub use error::ApiError;
pub use handler::{CHANGES_TOPIC, DEFAULT_MAX_ROWS, Options, handle, handle_with};
pub use request::HttpRequest;
pub use response::HttpResponse;
