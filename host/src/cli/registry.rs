//! `magflock registry ...`: the registry service and its component-check worker.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::component_check::WorkerChecker;

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Run the registry service: publishers and keys, publishing, search,
    /// downloads, yanks, ratings and statistics.
    Serve(RegistryServeArgs),
    /// Issue a host token (printed once): a host reports its installations
    /// and its projects' ratings with it.
    HostToken(HostTokenArgs),
    /// Check one package's component with the host's linker check: reads the
    /// package on stdin, answers JSON on stdout. Started by the registry as
    /// its bounded worker; not meant to be run by hand.
    #[command(hide = true)]
    CheckComponent(CheckComponentArgs),
}

#[derive(clap::Args, Debug)]
pub struct RegistryServeArgs {
    /// Where the blobs and the embedded database live.
    #[arg(long, env = "MAGFLOCK_REGISTRY_DATA_DIR", default_value = ".magflock-registry")]
    pub data_dir: PathBuf,
    /// Registry database: `sqlite://PATH` or `postgres://...` (default:
    /// SQLite in the data directory).
    #[arg(long, env = "MAGFLOCK_REGISTRY_DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long, env = "MAGFLOCK_REGISTRY_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Admin token (publishers, keys, publishing, yanks, host tokens).
    #[arg(long, env = "MAGFLOCK_REGISTRY_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// Largest package accepted, in bytes.
    #[arg(long, default_value_t = magflock_registry_server::DEFAULT_MAX_PACKAGE_BYTES)]
    pub max_package_bytes: usize,
    /// Wall-clock budget of one component check, in seconds.
    #[arg(long, default_value_t = crate::component_check::DEFAULT_CHECK_TIMEOUT.as_secs())]
    pub check_timeout_secs: u64,
    /// Address-space cap of the component-check worker, in bytes.
    #[arg(long, default_value_t = crate::component_check::DEFAULT_CHECK_MEMORY_BYTES)]
    pub check_memory_bytes: u64,
}

#[derive(clap::Args, Debug)]
pub struct HostTokenArgs {
    /// The host's name in the registry.
    pub name: String,
    #[arg(long, env = "MAGFLOCK_REGISTRY_DATA_DIR", default_value = ".magflock-registry")]
    pub data_dir: PathBuf,
    #[arg(long, env = "MAGFLOCK_REGISTRY_DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long, env = "MAGFLOCK_REGISTRY_TOKEN", hide_env_values = true)]
    pub admin_token: String,
}

#[derive(clap::Args, Debug)]
pub struct CheckComponentArgs {
    /// Address-space cap of this process, in bytes.
    #[arg(long)]
    pub memory_bytes: u64,
    /// CPU-time cap of this process, in seconds.
    #[arg(long)]
    pub cpu_seconds: u64,
}

/// Opens the registry with this binary as its component-check worker.
pub async fn open(
    config: magflock_registry_server::RegistryConfig,
    check_timeout: Duration,
    check_memory_bytes: u64,
) -> miette::Result<magflock_registry_server::Registry> {
    let mut checker =
        WorkerChecker::current_exe().into_diagnostic().wrap_err("locating the magflock binary")?;
    checker.timeout = check_timeout;
    checker.memory_bytes = check_memory_bytes;
    let registry = magflock_registry_server::Registry::open(config, Arc::new(checker))
        .await
        .map_err(|e| miette!("opening the registry: {e}"))?;
    // The registry's own bound is the safety net behind the worker's
    // deadline: it must never cut a longer configured check short.
    let outer = registry.check_timeout().max(check_timeout + CHECK_OUTER_MARGIN);
    Ok(registry.with_check_timeout(outer))
}

/// How much longer than the worker's deadline the registry waits for a
/// check: time to kill the worker and read its answer.
const CHECK_OUTER_MARGIN: Duration = Duration::from_secs(30);

pub(super) fn registry_config(
    data_dir: PathBuf,
    database_url: Option<String>,
    admin_token: String,
) -> magflock_registry_server::RegistryConfig {
    magflock_registry_server::RegistryConfig::new(
        data_dir,
        database_url.unwrap_or_default(),
        admin_token,
        crate::config::HOST_API_VERSION,
    )
}

pub async fn run(cmd: RegistryCommand) -> miette::Result<()> {
    match cmd {
        RegistryCommand::Serve(args) => {
            let mut config = registry_config(args.data_dir, args.database_url, args.admin_token);
            config.max_package_bytes = args.max_package_bytes;
            let timeout = Duration::from_secs(args.check_timeout_secs);
            let registry = open(config, timeout, args.check_memory_bytes).await?;
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot listen on {}", args.listen))?;
            tracing::info!(listen = %args.listen, "registry serving");
            axum::serve(listener, magflock_registry_server::app(registry))
                .with_graceful_shutdown(crate::server::shutdown_signal())
                .await
                .into_diagnostic()
        }
        RegistryCommand::HostToken(args) => {
            let config = registry_config(args.data_dir, args.database_url, args.admin_token);
            let registry = open(
                config,
                crate::component_check::DEFAULT_CHECK_TIMEOUT,
                crate::component_check::DEFAULT_CHECK_MEMORY_BYTES,
            )
            .await?;
            let token = registry
                .create_host_token(&args.name)
                .await
                .map_err(|e| miette!("issuing a token for host {}: {e}", args.name))?;
            println!("{token}");
            Ok(())
        }
        RegistryCommand::CheckComponent(args) => {
            // On this thread: a worker process checks one package and exits,
            // and a new thread may not fit under its memory cap.
            let limits = crate::engine::EngineLimits::default();
            crate::component_check::run_worker(&limits, args.memory_bytes, args.cpu_seconds)
                .map_err(|e| miette::miette!("component check worker: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_long_check_deadline_raises_the_registry_bound() {
        let dir = tempfile::tempdir().unwrap();
        let config = || registry_config(dir.path().to_path_buf(), None, "admin".to_owned());
        let short = open(config(), Duration::from_secs(60), 1 << 30).await.unwrap();
        assert_eq!(short.check_timeout(), magflock_registry_server::publish::CHECK_OUTER_TIMEOUT);
        let long = open(config(), Duration::from_secs(600), 1 << 30).await.unwrap();
        assert_eq!(long.check_timeout(), Duration::from_secs(600) + CHECK_OUTER_MARGIN);
    }
}
