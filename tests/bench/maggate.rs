//! Benchmark: one row by primary key through MagGate (the host's gateway,
//! the `database` capability, a fresh instance per call) against a native
//! axum + sqlx handler running the same query on the same SQLite file.
//!
//!     cargo bench -p magflock-tests --bench maggate
//!
//! Each server runs in its own child process (this binary re-executed as
//! `maggate serve maggate|native ...`), on the multi-threaded runtime
//! `magflock serve` uses; the load generator here runs on one thread and
//! drives both with the same connection count. Rounds alternate between the
//! servers (the order rotates), so noise on the machine falls on both alike.
//! Per round and server: requests per second and the server's CPU time per
//! request (`/proc/<pid>/stat`).
//!
//! Settings (environment): `MAGFLOCK_BENCH_ROUNDS` (5),
//! `MAGFLOCK_BENCH_SECONDS` per round and server (3),
//! `MAGFLOCK_BENCH_WARMUP` seconds per server (1),
//! `MAGFLOCK_BENCH_CONNECTIONS` (16), `MAGFLOCK_BENCH_LOGGING=0` (the
//! gateway child without the log subscriber `magflock serve` installs),
//! `MAGFLOCK_BENCH_POOL_INSTANCES` (the gateway's pool slots; a small pool
//! lets `serve maggate <dir>` run under valgrind, as
//! `scripts/bench-instructions.sh` does), `MAGFLOCK_BENCH_HTTP_WORKERS` and
//! `MAGFLOCK_BENCH_GUEST_WORKERS` (the MagGate child's HTTP and guest
//! runtime threads; default one each per core).
//! Goal: MagGate ≥ 0.5× native req/s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)] // Parts of the load generator serve the gateway bench only.
mod load;

use std::collections::HashMap;
use std::process::Child;
use std::time::Duration;

use load::Target;
use magflock_host::config::HostConfig;
use magflock_host::state::AppState;

/// The allocator `magflock` runs with (decision 019), for both servers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROJECT: &str = "bench";
const ROWS: u32 = 1000;
const ID: u32 = 42;
/// The one body both servers answer, byte for byte.
const EXPECT: &[u8] = br#"[{"id":42,"name":"item 42"}]"#;

fn var(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve(&args[2..]);
    }
    let rounds = var("MAGFLOCK_BENCH_ROUNDS", 5.0).max(1.0) as usize;
    let seconds = Duration::from_secs_f64(var("MAGFLOCK_BENCH_SECONDS", 3.0));
    let warmup = Duration::from_secs_f64(var("MAGFLOCK_BENCH_WARMUP", 1.0));
    let connections = var("MAGFLOCK_BENCH_CONNECTIONS", 16.0).max(1.0) as usize;

    let dir = tempfile::tempdir()?;
    let data = dir.path().to_str().ok_or_else(|| anyhow::anyhow!("temporary path is not UTF-8"))?;
    // The gateway creates the project database; the native server then
    // opens the same file.
    let gateway = Server::spawn("maggate", &["maggate", data])?;
    let db = gateway.info.get("db").ok_or_else(|| anyhow::anyhow!("the gateway printed no database"))?;
    let native = Server::spawn("native", &["native", db])?;
    let key = gateway.info.get("key").ok_or_else(|| anyhow::anyhow!("the gateway printed no API key"))?;
    let targets = [
        Target::new(
            &gateway.info["url"],
            &format!("/x/{PROJECT}/maggate/items?id=eq.{ID}&select=id,name"),
            Some(key),
            EXPECT,
        )?,
        Target::new(&native.info["url"], &format!("/items/{ID}"), None, EXPECT)?,
    ];
    let servers = [&gateway, &native];

    // One thread drives all connections: the load generator takes at most
    // one core, the same for both servers.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    for (srv, t) in servers.iter().zip(&targets) {
        let warm = rt.block_on(load::run(t, connections, warmup));
        anyhow::ensure!(warm.ok > 0 && warm.errors == 0, "{}: warm-up failed ({warm:?})", srv.name);
    }
    let hz = load::clock_ticks_per_second() as f64;
    let mut samples: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for i in 0..2 {
            let idx = (i + round) % 2;
            let (srv, t) = (servers[idx], &targets[idx]);
            let before = load::cpu_ticks(srv.child.id())?;
            let c = rt.block_on(load::run(t, connections, seconds));
            let cpu = (load::cpu_ticks(srv.child.id())? - before) as f64 / hz;
            anyhow::ensure!(c.errors == 0, "{}: {} errors in round {}", srv.name, c.errors, round + 1);
            let rate = c.ok as f64 / c.elapsed.as_secs_f64();
            let us = cpu * 1e6 / c.ok.max(1) as f64;
            println!(
                "round {} {:<8} {rate:>9.0} req/s {us:>8.1} µs CPU/req  server {:>4.2} cores",
                round + 1,
                srv.name,
                cpu / c.elapsed.as_secs_f64()
            );
            samples[idx].push((rate, us));
        }
    }
    let median = |v: Vec<f64>| {
        let mut v = v;
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let stats = |s: &[(f64, f64)]| {
        let rates: Vec<f64> = s.iter().map(|x| x.0).collect();
        let (lo, hi) =
            (rates.iter().copied().fold(f64::MAX, f64::min), rates.iter().copied().fold(0.0, f64::max));
        (median(rates), lo, hi, median(s.iter().map(|x| x.1).collect()))
    };
    let (m, n) = (stats(&samples[0]), stats(&samples[1]));
    println!(
        "\nGET one row by primary key, {rounds} rounds x {} s, {connections} connections:",
        seconds.as_secs_f64()
    );
    println!("| server | req/s (median) | req/s (min–max) | server CPU µs/request (median) |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| MagGate (gateway) | {:.0} | {:.0}–{:.0} | {:.1} |", m.0, m.1, m.2, m.3);
    println!("| native axum + sqlx | {:.0} | {:.0}–{:.0} | {:.1} |", n.0, n.1, n.2, n.3);
    println!(
        "ratio MagGate / native: {:.2} req/s (goal >= 0.5), {:.1}x CPU per request",
        m.0 / n.0,
        m.3 / n.3
    );
    // Each round runs the two servers back to back: their ratio within a
    // round cancels the machine's slower drifts, which the medians above
    // do not.
    let per_round: Vec<f64> = samples[0].iter().zip(&samples[1]).map(|(g, n)| g.0 / n.0).collect();
    let (lo, hi) = per_round.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!("ratio within each round: median {:.2} (min {lo:.2}, max {hi:.2})", median(per_round));
    Ok(())
}

/// A server child process; `info` holds what it announced (`url`, ...).
struct Server {
    name: &'static str,
    child: Child,
    info: HashMap<String, String>,
}

impl Server {
    fn spawn(name: &'static str, args: &[&str]) -> anyhow::Result<Self> {
        let (child, info) = load::spawn_child(args)?;
        anyhow::ensure!(info.contains_key("url"), "the {name} server did not start");
        Ok(Self { name, child, info })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        load::stop_child(&mut self.child);
    }
}

/// The child side: `serve maggate <data-dir>` or `serve native <db-file>`.
fn serve(args: &[String]) -> anyhow::Result<()> {
    load::exit_when_stdin_closes();
    let (kind, path) = match args {
        [k, p] => (k.as_str(), std::path::PathBuf::from(p)),
        _ => anyhow::bail!("usage: serve maggate <data-dir> | serve native <db-file>"),
    };
    // The runtime `magflock serve` runs on (`#[tokio::main]`: one worker per core).
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if kind == "maggate"
        && let Some(n) = std::env::var("MAGFLOCK_BENCH_HTTP_WORKERS").ok().and_then(|v| v.parse().ok())
    {
        builder.worker_threads(n);
    }
    let rt = builder.enable_all().build()?;
    rt.block_on(async {
        match kind {
            "maggate" => serve_maggate(path).await,
            "native" => serve_native(path).await,
            other => anyhow::bail!("unknown server `{other}`"),
        }
    })
}

/// The full host with MagGate installed (database grant approved) in
/// project `bench`, whose `items` table holds [`ROWS`] rows; logging as
/// `magflock serve` does unless `MAGFLOCK_BENCH_LOGGING=0`.
async fn serve_maggate(data_dir: std::path::PathBuf) -> anyhow::Result<()> {
    if std::env::var("MAGFLOCK_BENCH_LOGGING").as_deref() != Ok("0") {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let url = magflock_host::cli::sqlite_url(&data_dir);
    let mut config = HostConfig::new(data_dir, url, "bench-admin".to_owned());
    load::engine_settings(&mut config);
    let state = AppState::start(config).await?;

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
    let db = dbs.sqlite_path(PROJECT).ok_or_else(|| anyhow::anyhow!("not a SQLite project"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("url http://{}", listener.local_addr()?);
    println!("key {secret}");
    println!("db {}", db.display());
    println!("ready");
    magflock_host::server::serve(state, listener, std::future::pending()).await?;
    Ok(())
}

/// The native handler: the same query on the same file, read-only.
async fn serve_native(db: std::path::PathBuf) -> anyhow::Result<()> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(8)
        .connect(&format!("sqlite://{}?mode=ro", db.display()))
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("url http://{}", listener.local_addr()?);
    println!("ready");
    axum::serve(listener, app).await?;
    Ok(())
}
