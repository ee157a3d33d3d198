//! `magflock db migrate | status | rollback`: an owner's schema migrations
//! on a project's database, through the host's control API.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use miette::{IntoDiagnostic, Result, WrapErr, miette};

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Apply a migration (its `up` script, in one transaction) and record it
    /// with its rollback script.
    Migrate(MigrateArgs),
    /// List the project's migrations and their state.
    Status(Target),
    /// Roll back the last applied migration, or `--name`.
    Rollback(RollbackArgs),
}

#[derive(Args, Debug)]
pub struct Target {
    #[arg(long, short)]
    pub project: String,
    /// The host's control URL.
    #[arg(long, env = "MAGFLOCK_CONTROL_URL", default_value = "http://127.0.0.1:8080")]
    pub host: String,
    /// The host's admin token.
    #[arg(long, env = "MAGFLOCK_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The `up` script.
    pub up: PathBuf,
    /// The rollback script.
    #[arg(long)]
    pub down: PathBuf,
    /// Migration name (default: the `up` file's stem, e.g. `0001_todos`).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The migration to roll back (default: the last applied one).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

fn read(path: &PathBuf) -> Result<String> {
    std::fs::read_to_string(path).into_diagnostic().wrap_err_with(|| format!("reading {}", path.display()))
}

async fn call(
    t: &Target,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
    what: &str,
) -> Result<serde_json::Value> {
    let url = format!("{}/v1/projects/{}/{path}", t.host.trim_end_matches('/'), t.project);
    let resp = super::remote::send(method, &url, &t.token, body.as_ref(), what).await?;
    Ok(resp.json().await.unwrap_or_default())
}

pub async fn run(cmd: DbCommand) -> Result<()> {
    match cmd {
        DbCommand::Migrate(args) => {
            let name = match &args.name {
                Some(n) => n.clone(),
                None => args
                    .up
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .map(|s| s.trim_end_matches(".up").to_owned())
                    .ok_or_else(|| miette!("give the migration a --name"))?,
            };
            let body = serde_json::json!({ "name": name, "up": read(&args.up)?, "down": read(&args.down)? });
            let what = format!("applying {name}");
            let m = call(&args.target, reqwest::Method::POST, "migrations", Some(body), &what).await?;
            println!("applied {} (#{}, checksum {})", name, m["seq"], m["checksum"].as_str().unwrap_or(""));
        }
        DbCommand::Status(t) => {
            let list = call(&t, reqwest::Method::GET, "migrations", None, "listing migrations").await?;
            let list = list.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no migrations in project {}", t.project);
            }
            for m in list {
                println!(
                    "{:>4}  {:<40} {:<12} by {}",
                    m["seq"],
                    m["name"].as_str().unwrap_or(""),
                    m["state"].as_str().unwrap_or(""),
                    m["applied_by"].as_str().unwrap_or("")
                );
            }
        }
        DbCommand::Rollback(args) => {
            let body = serde_json::json!({ "name": args.name });
            let m =
                call(&args.target, reqwest::Method::POST, "migrations/rollback", Some(body), "rolling back")
                    .await?;
            println!("rolled back {}", m["name"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}
