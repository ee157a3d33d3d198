//! The host's own linker check, for components nobody has vouched for yet
//! (a package offered to the registry), run in a bounded worker process.
//!
//! The check is the install pipeline's, minus the signature: compile with
//! the host's engine settings, refuse imports the manifest does not declare,
//! link with exactly the declared capabilities, and require the
//! `wasi:http/incoming-handler` export (and `event-handler` when the
//! manifest subscribes to a topic), through the same
//! `runtime::link_component` as installs. A component accepted here links on
//! every host of this version.
//!
//! Compiling is the expensive and the dangerous part: a pathological
//! component can make Cranelift run for minutes or allocate gigabytes. So
//! the registry never compiles in its own process. [`WorkerChecker`] starts
//! `magflock registry check-component` as a child with the package on stdin;
//! the child lowers its own address-space and CPU-time limits before reading
//! anything ([`run_worker`]), and the parent kills it at a wall-clock
//! deadline. Whatever the component does, the registry loses at most one
//! worker, within bounded time and memory.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use magflock_registry::{Capability, Manifest, Package};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::capabilities;
use crate::engine::EngineLimits;
use crate::runtime::LoadError;

/// The worker's default wall-clock budget for one check.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// The worker's default address-space cap. Cranelift compiles functions in
/// parallel, each thread with its own stack reservation; 2 GiB leaves room
/// for that and for the package, and bounds what one component can take.
pub const DEFAULT_CHECK_MEMORY_BYTES: u64 = 2 << 30;
/// Largest package the worker reads from stdin (hostile input: the parent
/// enforces its own cap first; this one guards the worker on its own).
const MAX_WORKER_INPUT_BYTES: u64 = 256 << 20;
/// Largest answer the parent reads from a worker.
const MAX_WORKER_OUTPUT_BYTES: u64 = 64 << 10;

/// Runs the host's linker check on `component` against `manifest`'s declared
/// capabilities. Returns the capabilities the component actually imports.
pub fn check_component(
    engine: &Engine,
    manifest: &Manifest,
    component: &[u8],
) -> Result<BTreeSet<Capability>, LoadError> {
    let compiled = Component::new(engine, component).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
    let declared = manifest.capabilities();
    let used = capabilities::wasi::check_imports(engine, &compiled, &declared)?;
    crate::runtime::link_component(engine, manifest, &compiled, &declared)?;
    Ok(used)
}

/// What a worker answers on stdout, as one JSON object.
#[derive(Debug, Serialize, Deserialize)]
struct WorkerAnswer {
    ok: bool,
    /// The refusal's stable code (`component_invalid`, `undeclared_import`, ...).
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Why a worker refused a component or could not tell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailure {
    /// The component fails the linker check; `code` is the install
    /// pipeline's code for the same failure.
    #[error("{message}")]
    Rejected { code: String, message: String },
    #[error("the component check did not finish within {0:?}")]
    Timeout(Duration),
    /// The worker ran out of its memory or CPU-time budget.
    #[error("the component check exceeded its resource limits ({0})")]
    ResourceLimit(String),
    /// The worker could not be started or answered nonsense.
    #[error("the component check could not run: {0}")]
    Unavailable(String),
}

/// Runs [`check_component`] in a child process of `program` (the `magflock`
/// binary) under time and memory caps.
#[derive(Debug, Clone)]
pub struct WorkerChecker {
    pub program: PathBuf,
    pub timeout: Duration,
    pub memory_bytes: u64,
}

impl WorkerChecker {
    /// A checker running the current executable, which must be `magflock`.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self::new(std::env::current_exe()?))
    }

    pub fn new(program: PathBuf) -> Self {
        Self { program, timeout: DEFAULT_CHECK_TIMEOUT, memory_bytes: DEFAULT_CHECK_MEMORY_BYTES }
    }

    /// Checks a package's component against its own manifest.
    pub async fn check(&self, package: &Package) -> Result<(), CheckFailure> {
        let bytes = package.to_bytes();
        let cpu_seconds = self.timeout.as_secs().saturating_add(1);
        let mut child = tokio::process::Command::new(&self.program)
            .args(["--log-format", "pretty", "registry", "check-component"])
            .arg("--memory-bytes")
            .arg(self.memory_bytes.to_string())
            .arg("--cpu-seconds")
            .arg(cpu_seconds.to_string())
            // The worker's allocator (mimalloc, decision 019) would reserve
            // address space a gibibyte at a time, and the worker's cap counts
            // address space: reserving in small steps keeps the cap a
            // measure of what the check uses.
            .env("MIMALLOC_ARENA_RESERVE", "16MiB")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| CheckFailure::Unavailable(format!("starting {}: {e}", self.program.display())))?;
        let mut stdin = child.stdin.take().ok_or_else(|| CheckFailure::Unavailable("no stdin".into()))?;
        let mut stdout = child.stdout.take().ok_or_else(|| CheckFailure::Unavailable("no stdout".into()))?;
        let run = async {
            // A worker that dies early closes its stdin; its exit status
            // below says why, so a write error here is not the answer.
            let _ = stdin.write_all(&bytes).await;
            drop(stdin);
            let mut out = Vec::new();
            (&mut stdout).take(MAX_WORKER_OUTPUT_BYTES).read_to_end(&mut out).await?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, out))
        };
        let (status, out) = match tokio::time::timeout(self.timeout, run).await {
            Err(_) => return Err(CheckFailure::Timeout(self.timeout)),
            Ok(Err(e)) => return Err(CheckFailure::Unavailable(e.to_string())),
            Ok(Ok(v)) => v,
        };
        if let Ok(answer) = serde_json::from_slice::<WorkerAnswer>(&out) {
            return if answer.ok {
                Ok(())
            } else if answer.code == "check_resource_limit" {
                Err(CheckFailure::ResourceLimit(answer.message))
            } else {
                Err(CheckFailure::Rejected { code: answer.code, message: answer.message })
            };
        }
        // No answer: the worker was stopped by a limit (SIGKILL or SIGXCPU
        // for CPU time, an abort on a refused allocation) or crashed.
        use std::os::unix::process::ExitStatusExt;
        match status.signal() {
            Some(sig) => Err(CheckFailure::ResourceLimit(format!("worker stopped by signal {sig}"))),
            None => Err(CheckFailure::Unavailable(format!("worker exited with {status} and no answer"))),
        }
    }
}

/// The worker side: caps its own resources, reads a package from stdin,
/// checks it and writes one [`WorkerAnswer`] to stdout. Once the limits are
/// set, every outcome is an answer, running out of memory included.
pub fn run_worker(limits: &EngineLimits, memory_bytes: u64, cpu_seconds: u64) -> std::io::Result<()> {
    // Limits first, before a single byte of the untrusted package is read.
    rlimit::setrlimit(rlimit::Resource::AS, memory_bytes, memory_bytes)?;
    rlimit::setrlimit(rlimit::Resource::CPU, cpu_seconds, cpu_seconds.saturating_add(1))?;
    let mut input = Vec::new();
    let read = std::io::stdin().take(MAX_WORKER_INPUT_BYTES).read_to_end(&mut input);
    let result = match read {
        Ok(_) => check_package_bytes(limits, &input),
        Err(e) => Err(("check_failed".to_owned(), format!("reading the package: {e}"))),
    };
    let answer = match result {
        Ok(()) => WorkerAnswer { ok: true, code: String::new(), message: String::new() },
        Err((_, message)) if is_out_of_memory(&message) => {
            WorkerAnswer { ok: false, code: "check_resource_limit".to_owned(), message }
        }
        Err((code, message)) => WorkerAnswer { ok: false, code, message },
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &answer).map_err(std::io::Error::other)?;
    stdout.flush()
}

/// Whether a failure is the worker's address-space cap, not the component:
/// under the cap, wasmtime's and the system's allocations fail with ENOMEM.
fn is_out_of_memory(message: &str) -> bool {
    message.contains("os error 12")
        || message.contains("Cannot allocate memory")
        || message.contains("out of memory")
}

fn check_package_bytes(limits: &EngineLimits, input: &[u8]) -> Result<(), (String, String)> {
    let package = Package::from_bytes(input).map_err(|e| (e.code().to_owned(), e.to_string()))?;
    let engine = crate::engine::build_check_engine(limits).map_err(|e| {
        // Building an engine only fails for want of memory here.
        ("check_resource_limit".to_owned(), format!("{e:#}"))
    })?;
    check_component(&engine, package.manifest(), package.component())
        .map(|_| ())
        .map_err(|e| (e.code().to_owned(), e.to_string()))
}

/// The registry's publish pipeline runs this host's check through the worker.
impl magflock_registry_server::ComponentChecker for WorkerChecker {
    fn check(
        &self,
        package: std::sync::Arc<Package>,
    ) -> futures::future::BoxFuture<'static, Result<(), magflock_registry_server::CheckError>> {
        use magflock_registry_server::CheckError;
        let checker = self.clone();
        Box::pin(async move {
            checker.check(&package).await.map_err(|e| match e {
                CheckFailure::Rejected { code, message } => {
                    CheckError::Rejected(format!("{message} [{code}]"))
                }
                CheckFailure::Timeout(_) => CheckError::Timeout,
                CheckFailure::ResourceLimit(_) => CheckError::ResourceLimit,
                CheckFailure::Unavailable(why) => CheckError::Unavailable(why),
            })
        })
    }
}
