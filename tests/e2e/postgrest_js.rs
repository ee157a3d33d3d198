//! The real `@supabase/postgrest-js` client, run by Node, against MagGate
//! installed in a host and reached through the app gateway with the
//! project's API key, on both databases: filters, order, limit and count,
//! inserts returning rows, updates, deletes, upserts and PostgREST's errors
//! (`extensions/maggate/compat/postgrest-js.mjs`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use magflock_tests::{Db, TestHost, on_both_databases};

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../extensions/maggate/compat")
}

on_both_databases!(postgrest_js_works_against_maggate_through_the_gateway, |host: TestHost| async move {
    let compat = compat_dir();
    assert!(
        compat.join("node_modules/@supabase/postgrest-js").exists(),
        "run `npm ci` in extensions/maggate/compat first (scripts/test.sh does)"
    );
    let key = host.project("demo").await;
    let schema = match host.db {
        Db::Sqlite => "schema-sqlite.sql",
        Db::Postgres => "schema-postgres.sql",
    };
    for file in [schema, "seed.sql"] {
        let sql = std::fs::read_to_string(compat.join(file)).unwrap();
        let r = host
            .admin(reqwest::Method::POST, "/v1/projects/demo/database/sql")
            .json(&serde_json::json!({ "sql": sql }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{file}: {}", r.text().await.unwrap());
    }
    let pkg = host.publisher.guest_package("maggate", |m| m);
    let (status, body) = host.install("demo", pkg, "database,events").await;
    assert_eq!(status, 201, "{body}");

    let base = format!("{}/x/demo/maggate", host.url);
    let out = tokio::process::Command::new("node")
        .arg(compat.join("postgrest-js.mjs"))
        .arg(&base)
        .env("MAGFLOCK_API_KEY", &key)
        .current_dir(&compat)
        .output()
        .await
        .expect("node is needed for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "postgrest-js through the gateway:\n{stdout}\n{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // Every call was a metered invocation.
    let usage = host.usage("demo", "maggate").await;
    assert!(usage.len() >= 30, "{} usage records", usage.len());
});
