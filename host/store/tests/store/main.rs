//! Store tests. Every test body wrapped in `both_engines!` runs on SQLite and on PostgreSQL.

mod harness;

mod audit;
mod connect;
mod events;
mod installations;
mod keys;
mod kv;
mod migrations;
mod plans;
mod usage;

/// What every test module needs.
mod prelude {
    pub(crate) use crate::harness::both_engines;
    pub use magflock_store::*;
}
