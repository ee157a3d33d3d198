//! `magflock up`: the embedded default. SQLite control plane and packages in
//! a data directory, a registry beside the host (its own SQLite store and
//! blob directory), a dev publisher key registered there and trusted by the
//! host, the first-party extensions signed with it, published, and installed
//! from the registry into a `demo` project; prints the URLs and a demo API key
//! and writes them to `<data-dir>/up.json` for scripts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use miette::{IntoDiagnostic, Result, WrapErr, miette};

use crate::config::{HostConfig, RegistryLink};
use crate::state::AppState;

/// First-party extensions `up` installs into the demo project.
const FIRST_PARTY: &[&str] = &["hello", "maggate"];
const DEMO_PROJECT: &str = "demo";
/// The publisher the dev key belongs to in the local registry.
const DEV_PUBLISHER: &str = "magflock";
/// This host's name in the local registry.
const LOCAL_HOST: &str = "local";

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where the database, packages, keys and up.json live.
    #[arg(long, default_value = ".magflock")]
    pub data_dir: PathBuf,
    /// Port on 127.0.0.1 for the control API and the app gateway.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Port on 127.0.0.1 for the registry (default: the next one).
    #[arg(long)]
    pub registry_port: Option<u16>,
    /// Built first-party components (`scripts/build-wasm.sh` output).
    #[arg(long, default_value = "build/wasm")]
    pub wasm_dir: PathBuf,
    /// Use this database instead of the embedded SQLite one.
    #[arg(long)]
    pub database_url: Option<String>,
}

fn read_or_create(path: &Path, make: impl FnOnce() -> String) -> Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        let s = s.trim().to_owned();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let value = make();
    write_private(path, &value)?;
    Ok(value)
}

fn write_private(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, format!("{value}\n"))
        .into_diagnostic()
        .wrap_err_with(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).into_diagnostic()?;
    }
    Ok(())
}

fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    format!("mfadmin_{}", hex::encode(b))
}

/// The sample migration of the demo project: a `todos` table with a few
/// rows, so MagGate answers at once. Applied once, recorded like an owner's.
const TODOS_MIGRATION: &str = "0001_todos";

async fn demo_todos(state: &AppState) -> Result<()> {
    let _lock = state.store.lock_project_migrations(DEMO_PROJECT).await.map_err(|e| miette!("{e}"))?;
    let applied = state.store.list_project_migrations(DEMO_PROJECT).await.map_err(|e| miette!("{e}"))?;
    if applied.iter().any(|m| m.name == TODOS_MIGRATION && m.state == "applied") {
        return Ok(());
    }
    let Some(dbs) = state.runtime.project_databases() else { return Ok(()) };
    let id = match dbs.dialect() {
        crate::runtime::bindings::database::SqlDialect::Sqlite => "id INTEGER PRIMARY KEY",
        crate::runtime::bindings::database::SqlDialect::Postgres => "id BIGSERIAL PRIMARY KEY",
    };
    let up = format!(
        "CREATE TABLE todos ({id}, title TEXT NOT NULL, done BOOLEAN NOT NULL DEFAULT FALSE);\n\
         INSERT INTO todos (title, done) VALUES ('Run magflock up', TRUE), ('Read the docs', FALSE), \
         ('Call MagGate', FALSE);"
    );
    let down = "DROP TABLE todos;";
    dbs.owner_execute(DEMO_PROJECT, &up).await.map_err(|e| miette!("creating the demo todos table: {e}"))?;
    let checksum = crate::api::migrations::checksum(&up, down);
    state
        .store
        .record_project_migration(DEMO_PROJECT, TODOS_MIGRATION, &checksum, &up, down, "up")
        .await
        .map_err(|e| miette!("recording the demo migration: {e}"))?;
    println!("created the demo project's todos table");
    Ok(())
}

fn spinner(msg: String) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(Duration::from_millis(120));
    pb.set_message(msg);
    pb
}

pub async fn run(args: UpArgs) -> Result<()> {
    let data_dir = &args.data_dir;
    std::fs::create_dir_all(data_dir.join("keys"))
        .into_diagnostic()
        .wrap_err_with(|| format!("creating {}", data_dir.display()))?;
    let admin_token = read_or_create(&data_dir.join("admin-token"), random_token)?;
    let dev_key_prefix = data_dir.join("keys").join("dev-publisher");
    let dev_key = if dev_key_prefix.with_extension("key").exists() {
        super::package::read_secret_key(&dev_key_prefix.with_extension("key"))?
    } else {
        super::package::generate_keys(&dev_key_prefix, Some("dev"), false)?
    };

    // The registry: its own store and blobs under the data directory.
    let registry_port = args.registry_port.unwrap_or_else(|| args.port.saturating_add(1));
    let registry_dir = data_dir.join("registry");
    let registry = super::registry::open(
        super::registry::registry_config(registry_dir.clone(), None, admin_token.clone()),
        crate::component_check::DEFAULT_CHECK_TIMEOUT,
        crate::component_check::DEFAULT_CHECK_MEMORY_BYTES,
    )
    .await?;
    registry
        .register_publisher_key(DEV_PUBLISHER, dev_key.public_key())
        .await
        .map_err(|e| miette!("registering the dev key in the registry: {e}"))?;
    let host_token = match std::fs::read_to_string(registry_dir.join("host-token")) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
        _ => {
            // Replaces the token of an earlier run whose file was lost.
            let token = registry
                .reset_host_token(LOCAL_HOST)
                .await
                .map_err(|e| miette!("registry host token: {e}"))?;
            write_private(&registry_dir.join("host-token"), &token)?;
            token
        }
    };
    let registry_listener =
        tokio::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], registry_port)))
            .await
            .into_diagnostic()
            .wrap_err_with(|| format!("port {registry_port} is busy; pass --registry-port to use another"))?;
    let registry_url = format!("http://127.0.0.1:{registry_port}");
    let registry_app = magflock_registry_server::app(registry.clone());
    let registry_server = tokio::spawn(async move {
        axum::serve(registry_listener, registry_app)
            .with_graceful_shutdown(crate::server::shutdown_signal())
            .await
    });

    let url = args.database_url.clone().unwrap_or_else(|| super::sqlite_url(data_dir));
    let mut config = HostConfig::new(data_dir.clone(), url, admin_token.clone());
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    config.registry = Some(RegistryLink { url: registry_url.clone(), host_token: Some(host_token) });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .into_diagnostic()
        .wrap_err_with(|| format!("port {} is busy; pass --port to use another", args.port))?;
    let state = AppState::start(config).await.map_err(|e| miette!("{e:#}"))?;

    // Trust the dev publisher key.
    let public = dev_key.public_key();
    let trusted = state.store.list_trusted_keys().await.map_err(|e| miette!("{e}"))?;
    if !trusted.iter().any(|k| k.key_id == public.key_id() && k.revoked_at.is_none()) {
        state
            .store
            .add_trusted_key(&public.key_id(), &public.to_string(), Some("dev publisher (magflock up)"))
            .await
            .map_err(|e| miette!("trusting the dev key: {e}"))?;
    }

    // The demo project and its API key.
    if state.store.get_project(DEMO_PROJECT).await.map_err(|e| miette!("{e}"))?.is_none() {
        state.store.create_project(DEMO_PROJECT).await.map_err(|e| miette!("{e}"))?;
    }
    let key_path = data_dir.join("demo-api-key");
    let existing = std::fs::read_to_string(&key_path).ok().map(|s| s.trim().to_owned());
    let api_key = match existing {
        Some(k) if state.store.authenticate_api_key(&k).await.ok().flatten().is_some() => k,
        _ => {
            let (_, secret) = state
                .store
                .create_api_key(DEMO_PROJECT, Some("demo (magflock up)"))
                .await
                .map_err(|e| miette!("{e}"))?;
            write_private(&key_path, &secret)?;
            secret
        }
    };

    // The demo project's sample table, as an owner's migration.
    demo_todos(&state).await?;

    // First-party extensions: signed with the dev key, published to the
    // registry, installed from it like anyone else's.
    for name in FIRST_PARTY {
        let dir = args.wasm_dir.join(name);
        let mut pkg = super::package::pack_files(&dir.join("extension.toml"), &dir.join("component.wasm"))
            .wrap_err_with(|| {
                format!("first-party extension `{name}` is not built; run scripts/build-wasm.sh")
            })?;
        magflock_registry::sign_package(&mut pkg, &dev_key);
        let version = pkg.manifest().version().clone();
        match registry.publish(&pkg.to_bytes()).await {
            Ok(p) if p.created => println!("published {name}@{version} to the registry"),
            Ok(_) => {}
            // A rebuilt component under an unchanged version: the registry
            // keeps the bytes it has (versions are immutable).
            Err(e) if e.code() == "version_exists" => {
                eprintln!(
                    "note: {name}@{version} was rebuilt; the registry keeps the published bytes (bump the version to publish)"
                )
            }
            Err(e) => return Err(miette!("publishing {name}@{version} [{}]: {e}", e.code())),
        }
        let caps: Vec<String> = pkg.manifest().capabilities().iter().map(|c| c.as_str().to_owned()).collect();
        let range = crate::install::plan::exactly(&version);
        let pb = spinner(format!("installing {name} (downloading, verifying, compiling, linking)"));
        let r = crate::install::install_from_registry(
            &state,
            DEMO_PROJECT,
            name,
            &range,
            crate::install::InstallOptions::new(&caps, "up"),
        )
        .await;
        pb.finish_and_clear();
        match r {
            Ok(_) => println!("installed {name}@{version}"),
            Err(e) if matches!(e.code(), "already_installed" | "downgrade_refused") => {}
            Err(e) => return Err(miette!("installing {name} [{}]: {e}", e.code())),
        }
    }

    let base = format!("http://127.0.0.1:{}", args.port);
    let info = serde_json::json!({
        "gateway_url": base,
        "control_url": base,
        "project": DEMO_PROJECT,
        "api_key": api_key,
        "admin_token": admin_token,
        "registry_url": registry_url,
    });
    let up_json = data_dir.join("up.json");
    write_private(&up_json, &serde_json::to_string_pretty(&info).into_diagnostic()?)?;
    println!();
    println!("MagFlock is up.");
    println!("  gateway   {base}/x/{DEMO_PROJECT}/<extension>/...");
    println!("  control   {base}/v1   (OpenAPI: {base}/openapi.json)");
    println!("  registry  {registry_url}/v1/extensions   (admin token below)");
    println!("  project   {DEMO_PROJECT}");
    println!("  api key   {api_key}");
    println!("  admin     {admin_token}");
    println!("  written   {}", up_json.display());
    println!();
    println!("  try: curl -H 'Authorization: Bearer {api_key}' {base}/x/{DEMO_PROJECT}/hello/");
    let served = crate::server::serve(state, listener, crate::server::shutdown_signal()).await;
    // The registry stops on the same signal.
    match registry_server.await {
        Ok(r) => r.into_diagnostic().wrap_err("registry server")?,
        Err(e) => return Err(miette!("registry server: {e}")),
    }
    served.into_diagnostic()
}
