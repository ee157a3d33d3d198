//! Runs each store test once per engine: SQLite in a temporary file, and
//! PostgreSQL in a fresh database created from `MAGFLOCK_TEST_PG_URL`.

use magflock_store::Store;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The admin URL of the PostgreSQL server the tests create databases on.
pub const PG_URL_VAR: &str = "MAGFLOCK_TEST_PG_URL";

/// A store on a throwaway database, deleted when dropped (best effort).
pub struct TestDb {
    pub store: Store,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, database: String },
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = Store::connect(&url).await.expect("connect to SQLite");
        TestDb { store, cleanup: Cleanup::Sqlite(dir) }
    }

    pub async fn postgres() -> TestDb {
        let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
            panic!(
                "{PG_URL_VAR} is not set: the PostgreSQL half of the store tests must run via \
                 the test script (or start a server with `scripts/pg.sh start` and set \
                 {PG_URL_VAR}=$(scripts/pg.sh url))"
            );
        };
        let database = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect to PostgreSQL as admin");
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .await
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");
        let cleanup = Cleanup::Postgres { admin_url: admin_url.clone(), database: database.clone() };
        let store = Store::connect(&with_database(&admin_url, &database))
            .await
            .expect("connect to the test database");
        TestDb { store, cleanup }
    }
}

impl TestDb {
    /// Another store on the same database, as a second host would have:
    /// its own pool and its own in-process state.
    pub async fn another_store(&self) -> Store {
        let url = match &self.cleanup {
            Cleanup::Postgres { admin_url, database } => with_database(admin_url, database),
            Cleanup::Sqlite(dir) => format!("sqlite://{}", dir.path().join("store.db").display()),
        };
        Store::connect(&url).await.expect("connect a second store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, database } = &self.cleanup else {
            return;
        };
        let (admin_url, database) = (admin_url.clone(), database.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // clean up from a thread with its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
                    let _ = admin.execute(AssertSqlSafe(sql)).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Runs a test body on both engines. Given
/// `async fn name(store: &Store) -> Result<(), StoreError>` in scope,
/// `both_engines!(name)` generates the tests `name::sqlite` and
/// `name::postgres`; an `Err` fails the test with its message.
macro_rules! both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = $crate::harness::TestDb::sqlite().await;
                let result = super::$name(&db.store).await;
                db.store.close().await;
                if let Err(e) = result {
                    panic!("{e} ({e:?})");
                }
            }

            #[tokio::test]
            async fn postgres() {
                let db = $crate::harness::TestDb::postgres().await;
                let result = super::$name(&db.store).await;
                db.store.close().await;
                if let Err(e) = result {
                    panic!("{e} ({e:?})");
                }
            }
        }
    };
}
pub(crate) use both_engines;

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(with_database("postgres://u:p@127.0.0.1:5/admin", "t_1"), "postgres://u:p@127.0.0.1:5/t_1");
    assert_eq!(
        with_database("postgres://u:p@h/admin?sslmode=disable", "t_1"),
        "postgres://u:p@h/t_1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "t_1"), "postgres://h/t_1");
}
