//! The load generator (keep-alive HTTP/1.1 connections, each looping GET)
//! and the CPU time of a child process, read from `/proc`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What one request looks like.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: String,
    pub authorization: Option<String>,
    /// The body every response must carry to count as a success.
    pub expect: &'static [u8],
}

impl Target {
    /// `url` is `http://host:port`.
    pub fn new(url: &str, path: &str, bearer: Option<&str>, expect: &'static [u8]) -> anyhow::Result<Self> {
        let hostport =
            url.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("not an http URL: {url}"))?;
        Ok(Self {
            addr: hostport.parse()?,
            path: path.to_owned(),
            authorization: bearer.map(|k| format!("Bearer {k}")),
            expect,
        })
    }
}

/// Requests completed in a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// 200 with the expected body.
    pub ok: u64,
    /// Anything else: another status, another body, a connection error.
    pub errors: u64,
    /// From the start until the last connection finished its last request.
    pub elapsed: Duration,
}

/// Runs `connections` keep-alive connections against `target`, each sending
/// one GET at a time until `duration` has passed.
pub async fn run(target: &Target, connections: usize, duration: Duration) -> Counts {
    let target = Arc::new(target.clone());
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> =
        (0..connections).map(|_| tokio::spawn(connection(target.clone(), deadline))).collect();
    let mut counts = Counts::default();
    for t in tasks {
        match t.await {
            Ok((ok, errors)) => {
                counts.ok += ok;
                counts.errors += errors;
            }
            Err(_) => counts.errors += 1,
        }
    }
    counts.elapsed = started.elapsed();
    counts
}

/// One client connection's loop; reconnects after a connection error.
async fn connection(target: Arc<Target>, deadline: Instant) -> (u64, u64) {
    let (mut ok, mut errors) = (0u64, 0u64);
    let host = target.addr.to_string();
    while Instant::now() < deadline {
        let Ok(stream) = TcpStream::connect(target.addr).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await
        else {
            errors += 1;
            continue;
        };
        let driver = tokio::spawn(conn);
        while Instant::now() < deadline {
            if sender.ready().await.is_err() {
                errors += 1;
                break;
            }
            let mut req =
                hyper::Request::get(target.path.as_str()).header(hyper::header::HOST, host.as_str());
            if let Some(a) = &target.authorization {
                req = req.header(hyper::header::AUTHORIZATION, a.as_str());
            }
            let Ok(req) = req.body(Empty::<Bytes>::new()) else {
                errors += 1;
                break;
            };
            match sender.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.into_body().collect().await {
                        Ok(body) => {
                            if status == hyper::StatusCode::OK && body.to_bytes() == target.expect {
                                ok += 1;
                            } else {
                                errors += 1;
                            }
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
        drop(sender);
        driver.abort();
    }
    (ok, errors)
}

/// User plus system CPU time of process `pid` (all its threads), in clock
/// ticks: fields 14 and 15 of `/proc/<pid>/stat`.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Field 2 (the command name) is in parentheses and may hold spaces; the
    // fields after the last ')' start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow::anyhow!("unreadable stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        Ok(fields.get(n - 3).ok_or_else(|| anyhow::anyhow!("stat has no field {n}"))?.parse()?)
    };
    Ok(field(14)? + field(15)?)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Engine settings of a host under benchmark, from the environment:
/// `MAGFLOCK_BENCH_POOL_INSTANCES` (a smaller pool lets the host run under
/// an instruction profiler, whose address space cannot hold the default
/// pool's reservation).
pub fn engine_settings(config: &mut magflock_host::config::HostConfig) {
    if let Some(n) = std::env::var("MAGFLOCK_BENCH_POOL_INSTANCES").ok().and_then(|v| v.parse().ok()) {
        config.engine.pool_instances = n;
    }
    if let Some(n) = std::env::var("MAGFLOCK_BENCH_GUEST_WORKERS").ok().and_then(|v| v.parse().ok()) {
        config.engine.guest_workers = n;
    }
}

/// In a benchmark's child server: exits the process when the parent closes
/// the child's stdin (or dies).
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        use std::io::BufRead as _;
        let mut line = String::new();
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        while matches!(lock.read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
        std::process::exit(0);
    });
}

/// In the parent: asks a child server to exit by closing its stdin, and
/// kills it if it has not within 5 s.
pub fn stop_child(child: &mut std::process::Child) {
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// In the parent: starts this benchmark binary again as `serve <args>` and
/// reads what the child announces (`url ...`, `key ...`) until it prints
/// `ready`.
pub fn spawn_child(
    args: &[&str],
) -> anyhow::Result<(std::process::Child, std::collections::HashMap<String, String>)> {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut info = std::collections::HashMap::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        if line == "ready" {
            break;
        }
        if let Some((k, v)) = line.split_once(' ') {
            info.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok((child, info))
}
