//! Owners' schema migrations on their project databases: applied in one
//! transaction and recorded, listed, rolled back (last or named), refused
//! when they fail — leaving nothing half-applied — on both databases.
#![allow(clippy::unwrap_used)]

use magflock_tests::{TestHost, magflock_bin, on_both_databases};
use serde_json::{Value, json};

async fn post(host: &TestHost, path: &str, body: Value) -> (u16, Value) {
    let r = host.admin(reqwest::Method::POST, path).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The statuses of requests sent all at once, in ascending order.
async fn sorted_statuses(requests: impl Iterator<Item = impl Future<Output = (u16, Value)>>) -> Vec<u16> {
    let mut statuses: Vec<u16> =
        futures::future::join_all(requests).await.into_iter().map(|(s, _)| s).collect();
    statuses.sort_unstable();
    statuses
}

/// Whether owner SQL touching `todos` works (the table exists).
async fn todos_exists(host: &TestHost) -> bool {
    let (status, body) =
        post(host, "/v1/projects/demo/database/sql", json!({"sql": "SELECT count(*) FROM todos"})).await;
    match status {
        204 => true,
        400 => false,
        other => panic!("owner SQL answered {other}: {body}"),
    }
}

on_both_databases!(migrations_apply_list_and_roll_back, |host: TestHost| async move {
    host.project("demo").await;
    let m1 = json!({
        "name": "0001_todos",
        "up": "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT NOT NULL, done BOOLEAN NOT NULL DEFAULT FALSE);",
        "down": "DROP TABLE todos;",
    });
    let (status, body) = post(&host, "/v1/projects/demo/migrations", m1.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["seq"].as_i64(), body["state"].as_str()), (Some(1), Some("applied")));
    assert_eq!(body["checksum"].as_str().unwrap().len(), 64);
    assert!(todos_exists(&host).await);
    // The same name again is refused.
    let (status, body) = post(&host, "/v1/projects/demo/migrations", m1.clone()).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("migration_applied")), "{body}");

    let m2 = json!({
        "name": "0002_tags",
        "up": "CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        "down": "DROP TABLE tags;",
    });
    assert_eq!(post(&host, "/v1/projects/demo/migrations", m2).await.0, 201);
    let list = host.get_json("/v1/projects/demo/migrations").await;
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["0001_todos", "0002_tags"]);

    // A named rollback behind a later migration is refused, naming it.
    let (status, body) =
        post(&host, "/v1/projects/demo/migrations/rollback", json!({"name": "0001_todos"})).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("later_migrations_applied")), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("0002_tags"), "{body}");
    // The last one, then the named one.
    let (status, body) = post(&host, "/v1/projects/demo/migrations/rollback", json!({})).await;
    assert_eq!(
        (status, body["name"].as_str(), body["state"].as_str()),
        (200, Some("0002_tags"), Some("rolled_back"))
    );
    let (status, _) =
        post(&host, "/v1/projects/demo/migrations/rollback", json!({"name": "0001_todos"})).await;
    assert_eq!(status, 200);
    assert!(!todos_exists(&host).await, "rolled back: the table is gone");
    // Applied again after its rollback: recorded as the latest.
    let (status, body) = post(&host, "/v1/projects/demo/migrations", m1).await;
    assert_eq!((status, body["seq"].as_i64()), (201, Some(3)), "{body}");
    let audit = host.get_json("/v1/audit?project=demo").await.to_string();
    assert!(audit.contains("migration.apply") && audit.contains("migration.rollback"), "{audit}");
});

on_both_databases!(a_failing_migration_leaves_nothing_applied, |host: TestHost| async move {
    host.project("demo").await;
    let bad = json!({
        "name": "0001_half",
        "up": "CREATE TABLE todos (id INTEGER PRIMARY KEY); CREATE TABLE broken (id NOT_A_TYPE_OR_SYNTAX ((;",
        "down": "DROP TABLE todos;",
    });
    let (status, body) = post(&host, "/v1/projects/demo/migrations", bad).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("migration_failed")), "{body}");
    assert!(!todos_exists(&host).await, "the first statement was rolled back with the second");
    assert!(host.get_json("/v1/projects/demo/migrations").await.as_array().unwrap().is_empty());
    // Nothing to roll back.
    let (status, body) = post(&host, "/v1/projects/demo/migrations/rollback", json!({})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("migration_not_found")), "{body}");
    // A bad name is refused before anything runs.
    let (status, body) = post(
        &host,
        "/v1/projects/demo/migrations",
        json!({"name": "../x", "up": "CREATE TABLE x (id INTEGER);", "down": "DROP TABLE x;"}),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_migration")), "{body}");
});

on_both_databases!(concurrent_requests_run_each_script_once, |host: TestHost| async move {
    host.project("demo").await;
    let log = json!({
        "name": "0001_log",
        "up": "CREATE TABLE runs (script TEXT NOT NULL);",
        "down": "DROP TABLE runs;",
    });
    assert_eq!(post(&host, "/v1/projects/demo/migrations", log).await.0, 201);
    // Scripts that succeed however often they run, and leave a row each
    // time: only the migration lock keeps a second run out.
    let m2 = json!({
        "name": "0002_notes",
        "up": "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY); INSERT INTO runs (script) VALUES ('up');",
        "down": "DROP TABLE IF EXISTS notes; INSERT INTO runs (script) VALUES ('down');",
    });
    let applies = (0..6).map(|_| post(&host, "/v1/projects/demo/migrations", m2.clone()));
    assert_eq!(sorted_statuses(applies).await, [201, 409, 409, 409, 409, 409]);
    let rollbacks =
        (0..6).map(|_| post(&host, "/v1/projects/demo/migrations/rollback", json!({"name": "0002_notes"})));
    assert_eq!(sorted_statuses(rollbacks).await, [200, 404, 404, 404, 404, 404]);
    // A unique index over the scripts' rows exists only if each ran once.
    let (status, body) = post(
        &host,
        "/v1/projects/demo/database/sql",
        json!({"sql": "CREATE UNIQUE INDEX each_script_once ON runs (script)"}),
    )
    .await;
    assert_eq!(status, 204, "a script ran more than once: {body}");
});

on_both_databases!(the_cli_migrates_shows_status_and_rolls_back, |host: TestHost| async move {
    host.project("demo").await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("0001_todos.up.sql"), "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT);")
        .unwrap();
    std::fs::write(d.join("0001_todos.down.sql"), "DROP TABLE todos;").unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(magflock_bin())
            .args(args)
            .args(["--project", "demo", "--host", &host.url, "--token", &host.admin_token])
            .current_dir(d)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["db", "migrate", "0001_todos.up.sql", "--down", "0001_todos.down.sql"]);
    assert!(ok && out.contains("applied 0001_todos"), "{out}{err}");
    let (ok, out, err) = run(&["db", "status"]);
    assert!(ok && out.contains("0001_todos") && out.contains("applied"), "{out}{err}");
    let (ok, out, err) = run(&["db", "migrate", "0001_todos.up.sql", "--down", "0001_todos.down.sql"]);
    assert!(!ok && err.contains("migration_applied"), "{out}{err}");
    let (ok, out, err) = run(&["db", "rollback"]);
    assert!(ok && out.contains("rolled back 0001_todos"), "{out}{err}");
    assert!(!todos_exists(&host).await);
});
