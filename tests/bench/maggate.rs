//! Benchmark: one row by primary key through MagGate (the host's gateway,
//! the `database` capability, a fresh instance per call) against a native
//! axum + sqlx handler running the same query on the same SQLite file.
//!
//!     cargo bench -p magflock-tests --bench maggate
//!
//! Both servers run in this process; rounds alternate between them so noise
//! falls on both alike. Settings: `MAGFLOCK_BENCH_ROUNDS` (5),
//! `MAGFLOCK_BENCH_SECONDS` per round and server (3),
//! `MAGFLOCK_BENCH_CONNECTIONS` (16). Goal: MagGate ≥ 0.5× native req/s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)] // The CPU-time readers serve the gateway bench only.
mod load;

use std::time::Duration;

use load::Target;
use magflock_host::config::HostConfig;
use magflock_host::state::AppState;

const PROJECT: &str = "bench";
const ROWS: u32 = 1000;
const ID: u32 = 42;
/// The one body both servers answer, byte for byte.
const EXPECT: &[u8] = br#"[{"id":42,"name":"item 42"}]"#;

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (rounds, seconds, connections) = (
        var("MAGFLOCK_BENCH_ROUNDS", 5),
        var("MAGFLOCK_BENCH_SECONDS", 3),
        var("MAGFLOCK_BENCH_CONNECTIONS", 16) as usize,
    );
    let dir = tempfile::tempdir()?;
    let url = magflock_host::cli::sqlite_url(dir.path());
    let config = HostConfig::new(dir.path().to_path_buf(), url, "bench-admin".to_owned());
    let state = AppState::start(config).await?;

    // The project, its table, MagGate installed with the database grant.
    let publisher = magflock_tests::Publisher::generate();
    let public = publisher.public.clone();
    state.store.add_trusted_key(&public.key_id(), &public.to_string(), Some("bench")).await?;
    state.store.create_project(PROJECT).await?;
    let (_key, secret) = state.store.create_api_key(PROJECT, Some("bench")).await?;
    let dbs =
        state.runtime.project_databases().cloned().ok_or_else(|| anyhow::anyhow!("no project databases"))?;
    dbs.owner_execute(
        PROJECT,
        &format!(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) \
             INSERT INTO items (id, name) SELECT i, 'item ' || i FROM n;"
        ),
    )
    .await?;
    let package = publisher.guest_package("maggate", |m| m);
    let approve = ["database".to_owned(), "events".to_owned()];
    magflock_host::install::install_package(
        &state,
        PROJECT,
        &package,
        magflock_host::install::InstallOptions::new(&approve, "bench"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("installing maggate: {e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway = format!("http://{}", listener.local_addr()?);
    tokio::spawn(magflock_host::server::serve(state.clone(), listener, std::future::pending()));

    // The native handler: the same query on the same file.
    let path = dbs.sqlite_path(PROJECT).ok_or_else(|| anyhow::anyhow!("not a SQLite project"))?;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(8)
        .connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await?;
    let app = axum::Router::new()
        .route(
            "/items/{id}",
            axum::routing::get(
                |axum::extract::State(pool): axum::extract::State<sqlx::SqlitePool>,
                 axum::extract::Path(id): axum::extract::Path<i64>| async move {
                    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM items WHERE id = ?1")
                        .bind(id)
                        .fetch_all(&pool)
                        .await
                        .unwrap_or_default();
                    let body: Vec<serde_json::Value> = rows
                        .into_iter()
                        .map(|(id, name)| serde_json::json!({"id": id, "name": name}))
                        .collect();
                    axum::Json(body)
                },
            ),
        )
        .with_state(pool);
    let native_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let native = format!("http://{}", native_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(native_listener, app).await });

    let targets = [
        (
            "maggate",
            Target::new(
                &gateway,
                &format!("/x/{PROJECT}/maggate/items?id=eq.{ID}&select=id,name"),
                Some(&secret),
                EXPECT,
            )?,
        ),
        ("native", Target::new(&native, &format!("/items/{ID}"), None, EXPECT)?),
    ];
    for (name, t) in &targets {
        let warm = load::run(t, connections, Duration::from_secs(1)).await;
        anyhow::ensure!(warm.ok > 0 && warm.errors == 0, "{name}: warm-up failed ({warm:?})");
    }
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=rounds {
        for (i, (name, t)) in targets.iter().enumerate() {
            let c = load::run(t, connections, Duration::from_secs(seconds)).await;
            anyhow::ensure!(c.errors == 0, "{name}: {} errors in round {round}", c.errors);
            let rate = c.ok as f64 / c.elapsed.as_secs_f64();
            println!("round {round} {name:<8} {rate:>9.0} req/s");
            rates[i].push(rate);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (m, n) = (median(&mut rates[0]), median(&mut rates[1]));
    println!("\nGET one row by primary key, {rounds} rounds x {seconds} s, {connections} connections:");
    println!(
        "| server | req/s (median) |\n| --- | ---: |\n| MagGate (gateway) | {m:.0} |\n| native axum + sqlx | {n:.0} |"
    );
    println!("ratio MagGate / native: {:.2} (goal >= 0.5)", m / n);
    Ok(())
}
