use crate::harness::TestDb;
use crate::prelude::*;
use sqlx::Row;

#[tokio::test]
async fn sqlite_store_reports_its_kind_and_answers_ping() {
    let db = TestDb::sqlite().await;
    assert_eq!(db.store.kind(), DbKind::Sqlite);
    db.store.ping().await.expect("ping");
}

#[tokio::test]
async fn postgres_store_reports_its_kind_and_answers_ping() {
    let db = TestDb::postgres().await;
    assert_eq!(db.store.kind(), DbKind::Postgres);
    db.store.ping().await.expect("ping");
}

#[tokio::test]
async fn unknown_url_scheme_is_invalid() {
    let err = Store::connect("mysql://localhost/db").await.expect_err("mysql is not supported");
    assert_eq!(err.code(), "invalid");
    assert_eq!(DbKind::from_url("postgresql://h/db").ok(), Some(DbKind::Postgres));
    assert_eq!(DbKind::from_url("sqlite::memory:").ok(), Some(DbKind::Sqlite));
}

#[tokio::test]
async fn sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout() {
    let db = TestDb::sqlite().await;
    let pool = db.store.pool();
    let mut conn = pool.acquire().await.expect("acquire");
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .expect("journal_mode");
    let fk: i64 = sqlx::query("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .expect("foreign_keys");
    let busy: i64 = sqlx::query("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .expect("busy_timeout");
    assert_eq!(mode.to_ascii_lowercase(), "wal");
    assert_eq!(fk, 1);
    assert_eq!(busy, 5000);
}

#[tokio::test]
async fn sqlite_file_is_created_and_data_survives_reconnect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fresh.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("first connect");
    assert!(path.exists(), "connect creates the database file");
    store.create_project("demo").await.expect("create project");
    store.close().await;

    // Migrations are already applied; connecting again must not fail.
    let store = Store::connect(&url).await.expect("second connect");
    assert!(store.get_project("demo").await.expect("get").is_some());
    store.close().await;
}

#[tokio::test]
async fn in_memory_sqlite_keeps_data_across_calls() {
    let store = Store::connect("sqlite::memory:").await.expect("connect");
    store.create_project("demo").await.expect("create");
    assert_eq!(store.list_projects().await.expect("list").len(), 1);
}

/// `$N` placeholders bind by number on both engines, out of order and repeated.
async fn dollar_placeholders_bind_by_number(store: &Store) -> Result<(), StoreError> {
    store.create_project("a").await?;
    store.create_project("b").await?;
    let rows = sqlx::query("SELECT id FROM projects WHERE id = $2 OR (id = $1 AND $1 <> $2) ORDER BY id")
        .bind("a")
        .bind("b")
        .fetch_all(store.pool())
        .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
    assert_eq!(ids, ["a", "b"]);
    Ok(())
}
both_engines!(dollar_placeholders_bind_by_number);

/// A failing statement surfaces as `database_unavailable` without SQL text.
async fn database_errors_hide_sql_text(store: &Store) -> Result<(), StoreError> {
    sqlx::query("DROP TABLE audit_log").execute(store.pool()).await?;
    let err = store.list_audit(None, 10).await.expect_err("table is gone");
    assert_eq!(err.code(), "database_unavailable");
    let shown = err.to_string();
    assert!(!shown.contains("SELECT"), "message leaks SQL: {shown}");
    assert!(!shown.contains("ORDER BY"), "message leaks SQL: {shown}");
    Ok(())
}
both_engines!(database_errors_hide_sql_text);

/// After `close`, calls fail with `database_unavailable`.
async fn closed_store_is_unavailable(store: &Store) -> Result<(), StoreError> {
    store.close().await;
    let err = store.ping().await.expect_err("pool is closed");
    assert_eq!(err.code(), "database_unavailable");
    Ok(())
}
both_engines!(closed_store_is_unavailable);
