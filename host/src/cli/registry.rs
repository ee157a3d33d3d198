//! `magflock registry ...`: the registry service and its component-check worker.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Check one package's component with the host's linker check: reads the
    /// package on stdin, answers JSON on stdout. Started by the registry as
    /// its bounded worker; not meant to be run by hand.
    #[command(hide = true)]
    CheckComponent(CheckComponentArgs),
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

pub async fn run(cmd: RegistryCommand) -> miette::Result<()> {
    match cmd {
        RegistryCommand::CheckComponent(args) => {
            let limits = crate::engine::EngineLimits::default();
            tokio::task::spawn_blocking(move || {
                crate::component_check::run_worker(&limits, args.memory_bytes, args.cpu_seconds)
            })
            .await
            .map_err(|e| miette::miette!("component check worker: {e}"))?
            .map_err(|e| miette::miette!("component check worker: {e}"))
        }
    }
}
