//! Benchmark: the MagFlock gateway against a minimal wasmtime-wasi-http
//! server and a native axum handler, serving the `hello` extension; and the
//! cost of one fresh instance.
//!
//!     cargo bench -p magflock-tests --bench gateway
//!
//! Each server runs in its own child process (this binary re-executed as
//! `gateway serve gateway|raw|native`), so the load generator here does not
//! share its CPU accounting. Rounds alternate between the servers, so noise
//! on the machine falls on all three alike. Per round and server: requests
//! per second, and the server's CPU time per request from `/proc/<pid>/stat`.
//! Then, in this process: `Runtime::instantiate` of the host against
//! `ProxyPre::instantiate_async` on a default engine.
//!
//! Settings (environment): `MAGFLOCK_BENCH_ROUNDS` (5),
//! `MAGFLOCK_BENCH_SECONDS` per round and server (4), `MAGFLOCK_BENCH_WARMUP`
//! seconds per server (2), `MAGFLOCK_BENCH_CONNECTIONS` (16),
//! `MAGFLOCK_BENCH_INSTANTIATIONS` (20000, after 1000 warm-up),
//! `MAGFLOCK_BENCH_SKIP=load|instantiation`, `MAGFLOCK_BENCH_LOGGING=0` (the
//! gateway child without the log subscriber `magflock serve` installs),
//! `MAGFLOCK_BENCH_POOL_INSTANCES` (the host's pool slots; a small pool lets
//! the instantiation part run under valgrind).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod load;
mod servers;

use std::process::Child;
use std::time::{Duration, Instant};

use load::{Counts, Target};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return servers::serve(args.get(2).map(String::as_str).unwrap_or(""));
    }
    let settings = Settings::from_env();
    let machine = machine();
    println!("machine: {machine}");
    println!(
        "settings: {} rounds x {} s per server (after {} s warm-up), {} connections; {} instantiations",
        settings.rounds,
        settings.seconds.as_secs_f64(),
        settings.warmup.as_secs_f64(),
        settings.connections,
        settings.instantiations
    );
    let load = if settings.skip.as_deref() == Some("load") { None } else { Some(load_phase(&settings)?) };
    let inst = if settings.skip.as_deref() == Some("instantiation") {
        None
    } else {
        Some(instantiation_phase(&settings)?)
    };
    report(&machine, &settings, load.as_ref(), inst.as_ref());
    Ok(())
}

struct Settings {
    rounds: usize,
    seconds: Duration,
    warmup: Duration,
    connections: usize,
    instantiations: usize,
    skip: Option<String>,
}

impl Settings {
    fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
        }
        Self {
            rounds: var("MAGFLOCK_BENCH_ROUNDS", 5usize).max(1),
            seconds: Duration::from_secs_f64(var("MAGFLOCK_BENCH_SECONDS", 4.0)),
            warmup: Duration::from_secs_f64(var("MAGFLOCK_BENCH_WARMUP", 2.0)),
            connections: var("MAGFLOCK_BENCH_CONNECTIONS", 16usize).max(1),
            instantiations: var("MAGFLOCK_BENCH_INSTANTIATIONS", 20_000usize).max(1),
            skip: std::env::var("MAGFLOCK_BENCH_SKIP").ok(),
        }
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

// ---------------------------------------------------------------- load

const KINDS: [&str; 3] = ["gateway", "raw", "native"];

/// A server child process.
struct Server {
    kind: &'static str,
    child: Child,
    target: Target,
}

impl Server {
    fn spawn(kind: &'static str) -> anyhow::Result<Self> {
        let (child, info) = load::spawn_child(&[kind])?;
        let url = info.get("url").ok_or_else(|| anyhow::anyhow!("the {kind} server did not start"))?;
        let target = match kind {
            "gateway" => {
                let key = info.get("key").ok_or_else(|| anyhow::anyhow!("the gateway printed no API key"))?;
                let path = format!("/x/{}/{}/", servers::PROJECT, servers::EXTENSION);
                Target::new(url, &path, Some(key), servers::BODY)?
            }
            _ => Target::new(url, "/", None, servers::BODY)?,
        };
        Ok(Self { kind, child, target })
    }

    fn cpu_ticks(&self) -> u64 {
        load::cpu_ticks(self.child.id()).expect("reading the server's CPU time")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        load::stop_child(&mut self.child);
    }
}

/// One server's measurement in one round.
#[derive(Debug, Clone, Copy)]
struct Sample {
    counts: Counts,
    /// The server process's CPU time during the round.
    cpu: Duration,
    /// This process's (the load generator's) CPU time during the round.
    client_cpu: Duration,
}

impl Sample {
    fn rps(&self) -> f64 {
        self.counts.ok as f64 / self.counts.elapsed.as_secs_f64()
    }
    fn cpu_per_request_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.counts.ok.max(1) as f64
    }
    fn cores(&self) -> f64 {
        self.cpu.as_secs_f64() / self.counts.elapsed.as_secs_f64()
    }
    fn client_cores(&self) -> f64 {
        self.client_cpu.as_secs_f64() / self.counts.elapsed.as_secs_f64()
    }
}

struct LoadResults {
    /// Per server (in [`KINDS`] order), one sample per round.
    samples: Vec<Vec<Sample>>,
}

fn load_phase(s: &Settings) -> anyhow::Result<LoadResults> {
    let hz = load::clock_ticks_per_second();
    let servers: Vec<Server> = KINDS.iter().map(|k| Server::spawn(k)).collect::<anyhow::Result<_>>()?;
    // One thread drives all connections: the load generator can use at most
    // one core, so it never takes a whole machine from a server.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    for srv in &servers {
        let c = rt.block_on(load::run(&srv.target, s.connections, s.warmup));
        println!(
            "warm-up {:<8} {:>9.0} req/s ({} errors; server pid {})",
            srv.kind,
            c.ok as f64 / c.elapsed.as_secs_f64(),
            c.errors,
            srv.child.id()
        );
        anyhow::ensure!(c.ok > 0, "the {} server answered nothing correctly", srv.kind);
    }
    let mut samples = vec![Vec::new(); servers.len()];
    for round in 0..s.rounds {
        // Rotate the order so no server always runs first or last.
        for i in 0..servers.len() {
            let idx = (i + round) % servers.len();
            let srv = &servers[idx];
            let me = std::process::id();
            let (before, client_before) = (srv.cpu_ticks(), load::cpu_ticks(me)?);
            let counts = rt.block_on(load::run(&srv.target, s.connections, s.seconds));
            let (after, client_after) = (srv.cpu_ticks(), load::cpu_ticks(me)?);
            let ticks = |n: u64| Duration::from_secs_f64(n as f64 / hz as f64);
            let sample = Sample {
                counts,
                cpu: ticks(after - before),
                client_cpu: ticks(client_after - client_before),
            };
            println!(
                "round {} {:<8} {:>9.0} req/s {:>8.1} µs CPU/req  server {:>4.2} cores  load generator {:>4.2} cores {:>6} errors",
                round + 1,
                srv.kind,
                sample.rps(),
                sample.cpu_per_request_us(),
                sample.cores(),
                sample.client_cores(),
                counts.errors
            );
            samples[idx].push(sample);
        }
    }
    Ok(LoadResults { samples })
}

// ------------------------------------------------------- instantiation

struct Percentiles {
    median: f64,
    p90: f64,
    p99: f64,
}

fn percentiles(mut us: Vec<f64>) -> Percentiles {
    us.sort_by(f64::total_cmp);
    let at = |q: f64| us[((us.len() as f64 * q) as usize).min(us.len() - 1)];
    Percentiles { median: at(0.5), p90: at(0.9), p99: at(0.99) }
}

struct InstResults {
    /// Store set-up, instantiation from `InstancePre`, teardown, and the sum.
    host: [Percentiles; 4],
    raw: [Percentiles; 4],
}

const INST_WARMUP: usize = 1_000;

fn phases_to_percentiles(samples: Vec<[f64; 3]>) -> [Percentiles; 4] {
    let col = |i: usize| samples.iter().map(|s| s[i]).collect::<Vec<_>>();
    let total = samples.iter().map(|s| s[0] + s[1] + s[2]).collect::<Vec<_>>();
    [percentiles(col(0)), percentiles(col(1)), percentiles(col(2)), percentiles(total)]
}

fn micros(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn instantiation_phase(s: &Settings) -> anyhow::Result<InstResults> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let host = rt.block_on(async {
        let (state, _key, _dir) = servers::start_host().await?;
        let loaded = state
            .runtime
            .get(servers::PROJECT, servers::EXTENSION)
            .ok_or_else(|| anyhow::anyhow!("hello is not active"))?;
        for _ in 0..INST_WARMUP {
            state.runtime.instantiate_phases(&loaded).await.map_err(|e| anyhow::anyhow!("{e:#}"))?;
        }
        let mut samples = Vec::with_capacity(s.instantiations);
        for _ in 0..s.instantiations {
            let p = state.runtime.instantiate_phases(&loaded).await.map_err(|e| anyhow::anyhow!("{e:#}"))?;
            samples.push([micros(p[0]), micros(p[1]), micros(p[2])]);
        }
        anyhow::Ok(phases_to_percentiles(samples))
    })?;
    let raw = rt.block_on(async {
        let pre = servers::raw_pre()?;
        let once = || async {
            let t0 = Instant::now();
            let mut store = wasmtime::Store::new(pre.engine(), servers::RawState::new());
            let t1 = Instant::now();
            pre.instantiate_async(&mut store).await.map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let t2 = Instant::now();
            drop(store);
            let t3 = Instant::now();
            anyhow::Ok([micros(t1 - t0), micros(t2 - t1), micros(t3 - t2)])
        };
        for _ in 0..INST_WARMUP {
            once().await?;
        }
        let mut samples = Vec::with_capacity(s.instantiations);
        for _ in 0..s.instantiations {
            samples.push(once().await?);
        }
        anyhow::Ok(phases_to_percentiles(samples))
    })?;
    Ok(InstResults { host, raw })
}

// -------------------------------------------------------------- report

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn report(machine: &str, s: &Settings, load: Option<&LoadResults>, inst: Option<&InstResults>) {
    println!();
    println!("== results ({machine}) ==");
    if let Some(l) = load {
        println!(
            "load: {} rounds x {} s, {} keep-alive connections, medians over rounds",
            s.rounds,
            s.seconds.as_secs_f64(),
            s.connections
        );
        println!(
            "| server | req/s (median) | req/s (min–max) | server CPU µs/req (median) | server cores busy | load generator cores busy | errors |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        let mut rps = Vec::new();
        let mut cpu = Vec::new();
        for (kind, samples) in KINDS.iter().zip(&l.samples) {
            let r: Vec<f64> = samples.iter().map(Sample::rps).collect();
            let min = r.iter().copied().fold(f64::INFINITY, f64::min);
            let max = r.iter().copied().fold(0.0, f64::max);
            let m = median(r);
            let c = median(samples.iter().map(Sample::cpu_per_request_us).collect());
            let cores = median(samples.iter().map(Sample::cores).collect());
            let client = median(samples.iter().map(Sample::client_cores).collect());
            let errors: u64 = samples.iter().map(|x| x.counts.errors).sum();
            println!(
                "| {kind} | {m:.0} | {min:.0}–{max:.0} | {c:.1} | {cores:.2} | {client:.2} | {errors} |"
            );
            rps.push(m);
            cpu.push(c);
        }
        println!();
        println!("gateway/raw:    req/s {:.2}x   CPU per request {:.2}x", rps[0] / rps[1], cpu[0] / cpu[1]);
        println!("gateway/native: req/s {:.2}x   CPU per request {:.2}x", rps[0] / rps[2], cpu[0] / cpu[2]);
        println!("targets: gateway req/s >= 1.0x raw (goal 1.5x)");
    }
    if let Some(i) = inst {
        println!();
        println!("instantiation, {} after {} warm-up, µs:", s.instantiations, INST_WARMUP);
        println!("| path | median | p90 | p99 |");
        println!("| --- | ---: | ---: | ---: |");
        let row = |name: &str, p: &Percentiles| {
            println!("| {name} | {:.1} | {:.1} | {:.1} |", p.median, p.p90, p.p99);
        };
        let names = ["store set-up", "instantiate from InstancePre", "teardown (drop, slot reset)", "total"];
        for (n, p) in names.iter().zip(&i.host) {
            row(&format!("host (pooling, fuel, epoch, limiter): {n}"), p);
        }
        for (n, p) in names.iter().zip(&i.raw) {
            row(&format!("raw (default engine): {n}"), p);
        }
        println!("target: instantiation from InstancePre, host median <= 10 µs");
    }
}
