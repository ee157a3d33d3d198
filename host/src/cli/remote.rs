//! Commands that talk to a running service: `publish` (to a registry) and
//! `install` (into a project on a host). Errors print the service's stable
//! code and its explanation, which say what to do.

use std::path::PathBuf;

use clap::Args;
use miette::{IntoDiagnostic, Result, WrapErr, miette};

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// The signed package file.
    pub package: PathBuf,
    /// The registry's URL.
    #[arg(long, env = "MAGFLOCK_REGISTRY_URL", default_value = "http://127.0.0.1:8081")]
    pub registry: String,
    /// The registry's admin token.
    #[arg(long, env = "MAGFLOCK_REGISTRY_TOKEN", hide_env_values = true)]
    pub token: String,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Extension name in the registry.
    pub name: String,
    /// Semver range of the version to install (`^1`, `~1.2`, `=1.0.3`).
    #[arg(long, default_value = "*")]
    pub version: String,
    /// The project to install into.
    #[arg(long, short)]
    pub project: String,
    /// Capabilities to approve with the install (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub approve: Vec<String>,
    /// Allow replacing the installed version with a lower one.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Show the plan (every extension that would be installed, upgraded or
    /// removed, in order, and the capabilities to approve) without applying it.
    #[arg(long)]
    pub dry_run: bool,
    /// The host's control URL.
    #[arg(long, env = "MAGFLOCK_CONTROL_URL", default_value = "http://127.0.0.1:8080")]
    pub host: String,
    /// The host's admin token.
    #[arg(long, env = "MAGFLOCK_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// The bytes sent per progress update.
const UPLOAD_CHUNK: usize = 64 * 1024;

/// A service's problem+json answer, as a message a person can act on.
async fn problem(what: &str, resp: reqwest::Response) -> miette::Report {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let text = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let (code, detail) = (text("code"), text("detail"));
    if code.is_empty() {
        miette!("{what}: the service answered {status}")
    } else {
        miette!("{what}: {detail} [{code}]")
    }
}

/// Sends a request with `token` (and `body` as JSON) to a host or registry.
/// An answer that is not a success becomes the service's problem, prefixed
/// with `what` (the person's intent: "installing hello ^1").
pub(super) async fn send(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&serde_json::Value>,
    what: &str,
) -> Result<reqwest::Response> {
    let mut req = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req.send().await.map_err(|e| miette!("{what}: cannot reach {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(problem(what, resp).await);
    }
    Ok(resp)
}

pub async fn publish(args: PublishArgs) -> Result<()> {
    let bytes = std::fs::read(&args.package)
        .into_diagnostic()
        .wrap_err_with(|| format!("reading {}", args.package.display()))?;
    // Checked here too, so a damaged file is named before it is uploaded.
    let package = magflock_registry::Package::from_bytes(&bytes)
        .map_err(|e| miette!("{} is not a valid package [{}]: {e}", args.package.display(), e.code()))?;
    let m = package.manifest();
    let label = format!("{}@{}", m.name(), m.version());
    let total = bytes.len() as u64;
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template("uploading {msg} {bar:30} {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.set_message(label.clone());
    let chunks: Vec<bytes::Bytes> = bytes.chunks(UPLOAD_CHUNK).map(bytes::Bytes::copy_from_slice).collect();
    let progress = pb.clone();
    let stream = futures::stream::iter(chunks.into_iter().map(move |c| {
        progress.inc(c.len() as u64);
        Ok::<_, std::io::Error>(c)
    }));
    let url = format!("{}/v1/packages", args.registry.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.token)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(reqwest::header::CONTENT_LENGTH, total)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .map_err(|e| miette!("cannot reach the registry at {}: {e}", args.registry))?;
    pb.finish_and_clear();
    if !resp.status().is_success() {
        return Err(problem(&format!("publishing {label}"), resp).await);
    }
    let already = resp.status() == reqwest::StatusCode::OK;
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let sha = body.get("sha256").and_then(|v| v.as_str()).unwrap_or_default();
    if already {
        println!("{label} was already published with these exact bytes (sha256 {sha})");
    } else {
        println!("published {label} (sha256 {sha})");
    }
    Ok(())
}

/// Prints what installing would do (`extensions:plan`).
async fn plan(args: &InstallArgs) -> Result<()> {
    let url = format!("{}/v1/projects/{}/extensions:plan", args.host.trim_end_matches('/'), args.project);
    let body = serde_json::json!({
        "install": [{ "name": args.name, "version": args.version, "allow_downgrade": args.allow_downgrade }],
        "approve": { args.name.clone(): args.approve },
    });
    let what = format!("planning {} {}", args.name, args.version);
    let resp = send(reqwest::Method::POST, &url, &args.token, Some(&body), &what).await?;
    let plan: serde_json::Value = resp.json().await.into_diagnostic()?;
    let steps = plan["steps"].as_array().cloned().unwrap_or_default();
    if steps.is_empty() {
        println!("nothing to do: {} is installed in a version within {}", args.name, args.version);
    }
    for (i, step) in steps.iter().enumerate() {
        println!("{}. {}", i + 1, step["description"].as_str().unwrap_or_default());
    }
    if let Some(missing) = plan["missing_approvals"].as_object().filter(|m| !m.is_empty()) {
        println!("capabilities still to approve:");
        for (name, caps) in missing {
            let caps: Vec<&str> = caps.as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
            println!("  {name}: {}", caps.join(", "));
        }
    }
    Ok(())
}

pub async fn install(args: InstallArgs) -> Result<()> {
    if args.dry_run {
        return plan(&args).await;
    }
    let url = format!("{}/v1/projects/{}/extensions", args.host.trim_end_matches('/'), args.project);
    let body = serde_json::json!({
        "name": args.name,
        "version": args.version,
        "approve": args.approve,
        "allow_downgrade": args.allow_downgrade,
    });
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb.set_message(format!(
        "installing {} {} (resolving, downloading, verifying, compiling)",
        args.name, args.version
    ));
    let what = format!("installing {} {}", args.name, args.version);
    let resp = send(reqwest::Method::POST, &url, &args.token, Some(&body), &what).await;
    pb.finish_and_clear();
    let resp = resp?;
    let status = resp.status();
    let report: serde_json::Value = resp.json().await.into_diagnostic()?;
    let inst = &report["installation"];
    let version = inst["version"].as_str().unwrap_or("?");
    if status == reqwest::StatusCode::ACCEPTED {
        let missing = report["capabilities_to_approve"].as_array().cloned().unwrap_or_default();
        let missing: Vec<&str> = missing.iter().filter_map(|v| v.as_str()).collect();
        println!(
            "{}@{version} is waiting for approval of: {} (approve with --approve {})",
            args.name,
            missing.join(", "),
            missing.join(",")
        );
    } else {
        println!("installed {}@{version} in project {}", args.name, args.project);
    }
    Ok(())
}
