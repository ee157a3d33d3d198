//! The `magflock` command line: one binary for everyone (operators, authors,
//! admins), like `cargo` or `spin`.

pub mod db;
pub mod package;
pub mod registry;
pub mod remote;
pub mod up;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "magflock",
    version,
    about = "MagFlock: run signed WebAssembly extensions for many projects"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "json", env = "MAGFLOCK_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start everything on the embedded default: SQLite control plane, a dev
    /// publisher key, the first-party extensions installed into `demo`.
    Up(up::UpArgs),
    /// Run the host (control API + app gateway) against a database.
    Serve(ServeArgs),
    /// Publisher keys.
    #[command(subcommand)]
    Keys(package::KeysCommand),
    /// Pack an `extension.toml` and a component into a package file.
    Pack(package::PackArgs),
    /// Sign a package with a publisher's secret key.
    Sign(package::SignArgs),
    /// Verify a package's signature against trusted public keys.
    Verify(package::VerifyArgs),
    /// Publish a signed package to a registry (admin token).
    Publish(remote::PublishArgs),
    /// Install (or upgrade) an extension from the registry into a project.
    Install(remote::InstallArgs),
    /// The extension registry (marketplace).
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// A project database's schema migrations (apply, status, roll back).
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Print the control API's OpenAPI document.
    Openapi,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Data directory (packages, embedded database).
    #[arg(long, env = "MAGFLOCK_DATA_DIR", default_value = ".magflock")]
    pub data_dir: PathBuf,
    /// Control-plane database: `sqlite://PATH` or `postgres://...`
    /// (default: SQLite in the data directory).
    #[arg(long, env = "MAGFLOCK_DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long, env = "MAGFLOCK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Admin token for the control API.
    #[arg(long, env = "MAGFLOCK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// Instances alive at once across the host.
    #[arg(long, env = "MAGFLOCK_POOL_INSTANCES", default_value_t = 256)]
    pub pool_instances: u32,
    /// The registry extensions are installed from by name.
    #[arg(long, env = "MAGFLOCK_REGISTRY_URL")]
    pub registry_url: Option<String>,
    /// This host's token at the registry (`magflock registry host-token`).
    #[arg(long, env = "MAGFLOCK_REGISTRY_HOST_TOKEN", hide_env_values = true, requires = "registry_url")]
    pub registry_host_token: Option<String>,
    /// Do not deliver events on this host (they are still published and
    /// stored; another host on the same control plane delivers them).
    #[arg(long, env = "MAGFLOCK_NO_EVENT_DELIVERY")]
    pub no_event_delivery: bool,
}

pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("control.db").display())
}

pub async fn serve(args: ServeArgs) -> miette::Result<()> {
    use miette::{IntoDiagnostic, WrapErr};
    let url = args.database_url.clone().unwrap_or_else(|| sqlite_url(&args.data_dir));
    let mut config = crate::config::HostConfig::new(args.data_dir, url, args.admin_token);
    config.listen = args.listen;
    config.engine.pool_instances = args.pool_instances;
    config.deliver_events = !args.no_event_delivery;
    config.registry = args
        .registry_url
        .map(|url| crate::config::RegistryLink { url, host_token: args.registry_host_token });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot listen on {}", args.listen))?;
    let state = crate::state::AppState::start(config).await.map_err(|e| miette::miette!("{e:#}"))?;
    tracing::info!(listen = %args.listen, "serving");
    crate::server::serve(state, listener, crate::server::shutdown_signal()).await.into_diagnostic()
}
