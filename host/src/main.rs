use clap::Parser;
use magflock_host::cli::{self, Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

/// Every request allocates a few hundred times on the host side (wasmtime's
/// per-instance bookkeeping, HTTP, usage records): mimalloc's thread-local
/// free lists cost a fraction of glibc's arenas there (decision 019).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(format: LogFormat) {
    // The resolver library logs every decision of a solve at `info`: that is
    // debugging detail, not an operator's log line.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,pubgrub=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
        LogFormat::Pretty => builder.init(),
    }
}

#[tokio::main]
async fn main() -> miette::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Up(args) => cli::up::run(args).await,
        Command::Serve(args) => cli::serve(args).await,
        Command::Keys(cmd) => cli::package::keys(cmd),
        Command::Pack(args) => cli::package::pack(args),
        Command::Sign(args) => cli::package::sign(args),
        Command::Verify(args) => cli::package::verify(args),
        Command::Publish(args) => cli::remote::publish(args).await,
        Command::Install(args) => cli::remote::install(args).await,
        Command::Registry(cmd) => cli::registry::run(cmd).await,
        Command::Db(cmd) => cli::db::run(cmd).await,
        Command::Openapi => {
            let doc = magflock_host::api::openapi();
            println!("{}", serde_json::to_string_pretty(&doc).map_err(|e| miette::miette!("{e}"))?);
            Ok(())
        }
    }
}
