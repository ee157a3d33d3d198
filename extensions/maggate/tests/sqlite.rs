//! MagGate on SQLite: every behaviour test of `common::suite`.

mod common;

all_suite_tests!(Some(common::SqliteDb::seeded()));
