//! The project-migration lock across hosts (PostgreSQL: several hosts share
//! one control plane; on SQLite there is one host, and its in-process lock).

use std::time::Duration;

use crate::harness::TestDb;

#[tokio::test]
async fn a_second_host_waits_for_the_migration_lock_until_the_first_lets_go() {
    let db = TestDb::postgres().await;
    db.store.create_project("demo").await.expect("project");
    let other_host = db.another_store().await;

    let held = db.store.lock_project_migrations("demo").await.expect("first lock");
    let waiting =
        tokio::time::timeout(Duration::from_millis(300), other_host.lock_project_migrations("demo"));
    assert!(waiting.await.is_err(), "the second host took the lock while the first held it");
    // Another project's migrations are not held up.
    let other_project =
        tokio::time::timeout(Duration::from_secs(5), other_host.lock_project_migrations("else"));
    drop(other_project.await.expect("another project's lock is free").expect("lock"));

    drop(held);
    let taken =
        tokio::time::timeout(Duration::from_secs(5), other_host.lock_project_migrations("demo")).await;
    drop(taken.expect("released when the first host let go").expect("lock"));
    other_host.close().await;
    db.store.close().await;
}
