//! MagGate on PostgreSQL: every behaviour test of `common::suite`, each on a
//! throwaway database of the server `MAGFLOCK_TEST_PG_URL` names. Without it
//! they fail rather than skip, as the host's tests do: `scripts/test.sh`
//! starts PostgreSQL and sets it.

mod common;

all_suite_tests!(common::PgDb::seeded());
