//! MagGate on PostgreSQL: every behaviour test of `common::suite`, each on a
//! throwaway database of the server `MAGFLOCK_TEST_PG_URL` names (skipped,
//! with a message, when it is not set).

mod common;

all_suite_tests!(common::PgDb::seeded());
