//! MagFlock host: runs signed WebAssembly extensions for many projects under
//! fuel, deadline, memory, concurrency and capability limits, and serves the
//! control API and the app gateway.
//!
//! Where things live: [`engine`] (wasmtime settings), [`runtime`] (loading
//! and invoking components), [`capabilities`] (one module per capability),
//! [`install`] (the install pipeline), [`events`] (subscriptions and
//! event delivery), [`ids`] (request and event ids), [`usage`] (usage and violation
//! records), [`api`] (HTTP surfaces), [`cli`] (the `magflock` commands).

pub mod api;
pub mod capabilities;
pub mod cli;
pub mod component_check;
pub mod config;
pub mod engine;
pub mod events;
pub mod ids;
pub mod install;
pub mod registry_client;
pub mod runtime;
pub mod server;
pub mod state;
pub mod usage;

pub use magflock_store::now_ms;
