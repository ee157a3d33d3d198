//! Installing a package into a project: parse, check the host API range,
//! verify the signature against the host's trust store, compile, check the
//! imports against the declared capabilities, link with the approved ones,
//! run `on-install`, activate. Every step is written to
//! `installation_validations`; a refused install stores nothing else.

use std::collections::BTreeSet;
use std::sync::Arc;

use magflock_registry::{Capability, Package, TrustStore};
use magflock_store::{Installation, InstallationState, NewInstallation, NewValidation};

mod from_registry;
pub mod plan;

pub use from_registry::install_from_registry;

use crate::config::HOST_API_VERSION;
use crate::runtime::Loaded;
use crate::runtime::invoke::{Hook, HookError};
use crate::state::AppState;

/// Why an install (or an approval, or a reload) failed. `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("package is not valid: {0}")]
    Package(#[from] magflock_registry::PackageError),
    #[error("extension {name}@{version} needs host API {range}, this host implements {host}")]
    HostApi { name: String, version: String, range: String, host: semver::Version },
    #[error("extension {name}@{version}: signature refused: {source}")]
    Signature {
        name: String,
        version: String,
        #[source]
        source: magflock_registry::SignatureError,
    },
    #[error("extension {name}@{version}: {source}")]
    Load {
        name: String,
        version: String,
        #[source]
        source: crate::runtime::LoadError,
    },
    #[error("extension {name} {version} is already installed in project {project}")]
    AlreadyInstalled { name: String, project: String, version: String },
    #[error(
        "extension {name} {installed} is installed in project {project}; {requested} is older. \
         A downgrade must be asked for explicitly (allow_downgrade)"
    )]
    Downgrade { name: String, project: String, installed: String, requested: String },
    #[error(
        "extension {name} {version} is waiting for approval in project {project}; approve it or \
         uninstall it before installing another version"
    )]
    PendingExists { name: String, project: String, version: String },
    #[error("extension {name}@{version}: on-upgrade from {from} failed; {from} keeps serving: {source}")]
    UpgradeHook {
        name: String,
        version: String,
        from: String,
        #[source]
        source: HookError,
    },
    #[error("extension {name}@{version}: on-install failed: {source}")]
    Hook {
        name: String,
        version: String,
        #[source]
        source: HookError,
    },
    #[error(
        "extension {name} does not request capability `{capability}`; only requested capabilities can be approved"
    )]
    NotRequested { name: String, capability: String },
    #[error("unknown capability `{0}`")]
    UnknownCapability(String),
    #[error("extension {0}")]
    InvalidName(String),
    #[error("extension {name}@{version}: {what}")]
    HostLimit { name: String, version: String, what: String },
    #[error(
        "the dependency graph reaches more than {limit} extensions; this host resolves at most that many at once"
    )]
    GraphTooLarge { limit: usize },
    #[error("{0}")]
    Resolve(magflock_resolver::Failure),
    #[error("the plan needs these capabilities approved: {}", approval_list(.0))]
    ApprovalRequired(std::collections::BTreeMap<String, Vec<String>>),
    #[error("{0}")]
    Registry(#[from] crate::registry_client::RegistryClientError),
    #[error("storage: {0}")]
    Store(#[from] magflock_store::StoreError),
    #[error("package storage: {0}")]
    Io(#[from] std::io::Error),
}

impl InstallError {
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::Package(e) => e.code(),
            InstallError::HostApi { .. } => "host_api_mismatch",
            InstallError::Signature { source, .. } => source.code(),
            InstallError::Load { source, .. } => source.code(),
            InstallError::AlreadyInstalled { .. } => "already_installed",
            InstallError::Downgrade { .. } => "downgrade_refused",
            InstallError::PendingExists { .. } => "install_pending",
            InstallError::Hook { .. } => "install_hook_failed",
            InstallError::UpgradeHook { .. } => "upgrade_hook_failed",
            InstallError::NotRequested { .. } => "capability_not_requested",
            InstallError::UnknownCapability(_) => "unknown_capability",
            InstallError::InvalidName(_) => "invalid_name",
            InstallError::HostLimit { .. } => "host_limit_exceeded",
            InstallError::GraphTooLarge { .. } => "dependency_graph_too_large",
            InstallError::Resolve(f) => f.code(),
            InstallError::ApprovalRequired(_) => "approval_required",
            InstallError::Registry(e) => e.code(),
            InstallError::Store(e) => e.code(),
            InstallError::Io(_) => "storage_unavailable",
        }
    }
}

fn approval_list(m: &std::collections::BTreeMap<String, Vec<String>>) -> String {
    m.iter().map(|(k, v)| format!("{k}: {}", v.join(", "))).collect::<Vec<_>>().join("; ")
}

/// The result of an install request.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct InstallReport {
    pub installation: serde_json::Value,
    /// Capabilities the owner still has to approve before the extension
    /// serves (empty when it is active).
    pub capabilities_to_approve: Vec<String>,
}

fn caps_to_strings(c: &BTreeSet<Capability>) -> Vec<String> {
    c.iter().map(|c| c.as_str().to_owned()).collect()
}

pub fn parse_caps(list: &[String]) -> Result<BTreeSet<Capability>, InstallError> {
    list.iter()
        .map(|s| s.parse::<Capability>().map_err(|_| InstallError::UnknownCapability(s.clone())))
        .collect()
}

pub(crate) struct Recorder<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) project: &'a str,
    pub(crate) extension: String,
    pub(crate) version: String,
    pub(crate) installation: Option<String>,
}

impl Recorder<'_> {
    pub(crate) async fn step<T, E: std::fmt::Display>(&self, step: &str, r: Result<T, E>) -> Result<T, E> {
        let (ok, detail) = match &r {
            Ok(_) => (true, "ok".to_owned()),
            Err(e) => (false, e.to_string()),
        };
        let v = NewValidation {
            installation_id: self.installation.clone(),
            project_id: self.project.to_owned(),
            extension: self.extension.clone(),
            version: self.version.clone(),
            step: step.to_owned(),
            ok,
            detail,
        };
        if let Err(e) = self.state.store.add_validation(&v).await {
            tracing::warn!(error = %e, "validation record not written");
        }
        r
    }
}

pub async fn trust_store(state: &AppState) -> Result<TrustStore, InstallError> {
    let mut ts = TrustStore::default();
    for k in state.store.list_trusted_keys().await? {
        if k.revoked_at.is_some() {
            continue;
        }
        match k.public_key.parse::<magflock_registry::PublicKey>() {
            Ok(pk) => {
                ts.insert(pk);
            }
            Err(e) => tracing::warn!(key_id = %k.key_id, error = %e, "trusted key unreadable; skipped"),
        }
    }
    Ok(ts)
}

/// Verifies and loads a package's component for `project`, linked with
/// `granted`. Shared by install, approval and the reload at start-up: the
/// signature is checked every time, never trusted from an earlier check.
async fn verify_and_link(
    state: &AppState,
    rec: &Recorder<'_>,
    pkg: &Package,
    granted: BTreeSet<Capability>,
) -> Result<Arc<Loaded>, InstallError> {
    let m = pkg.manifest();
    let (name, version) = (m.name().as_str().to_owned(), m.version().to_string());
    let host_ok = if m.host().matches(&HOST_API_VERSION) {
        Ok(())
    } else {
        Err(InstallError::HostApi {
            name: name.clone(),
            version: version.clone(),
            range: m.host().to_string(),
            host: HOST_API_VERSION,
        })
    };
    rec.step("host_api", host_ok).await?;
    // The pool's slot bounds any one memory: a manifest asking for more
    // would install and then be refused growth below its own limit.
    let max = state.config.engine.max_memory_bytes;
    let fits = if m.resources().memory_bytes <= max {
        Ok(())
    } else {
        Err(InstallError::HostLimit {
            name: name.clone(),
            version: version.clone(),
            what: format!(
                "resources.memory is {} bytes; this host allows at most {max} bytes per extension",
                m.resources().memory_bytes
            ),
        })
    };
    rec.step("host_limits", fits).await?;
    let ts = trust_store(state).await?;
    let verified = magflock_registry::verify_package(pkg, &ts).map_err(|source| InstallError::Signature {
        name: name.clone(),
        version: version.clone(),
        source,
    });
    rec.step("signature", verified).await?;
    let load = |source| InstallError::Load { name: name.clone(), version: version.clone(), source };
    // Only now, with the signature verified, may a cached compiled form of
    // these component bytes be looked up (`runtime/cache.rs`).
    let component =
        rec.step("compile", state.runtime.compile(pkg.component().to_vec()).await.map_err(load)).await?;
    let declared = m.capabilities();
    rec.step("imports", state.runtime.check_imports(&component, &declared).map_err(load)).await?;
    let loaded = state.runtime.link(rec.project, Arc::new(m.clone()), &component, granted).map_err(load);
    rec.step("link", loaded).await
}

/// How an install request may proceed.
#[derive(Debug, Clone, Copy)]
pub struct InstallOptions<'a> {
    /// Capabilities the owner approves with the request.
    pub approve: &'a [String],
    /// Who asks (for the audit log).
    pub actor: &'a str,
    /// Replacing the installed version with a lower one is refused unless
    /// this is set.
    pub allow_downgrade: bool,
}

impl<'a> InstallOptions<'a> {
    pub fn new(approve: &'a [String], actor: &'a str) -> Self {
        Self { approve, actor, allow_downgrade: false }
    }
}

/// Installs a package into `project`, or upgrades the installed version to
/// it. An upgrade whose new capabilities are not all approved waits for the
/// owner while the installed version keeps serving; a lower version than
/// the installed one is refused unless `allow_downgrade`.
pub async fn install_package(
    state: &AppState,
    project: &str,
    bytes: &[u8],
    options: InstallOptions<'_>,
) -> Result<InstallReport, InstallError> {
    let mut rec =
        Recorder { state, project, extension: String::new(), version: String::new(), installation: None };
    let parsed = Package::from_bytes(bytes);
    if let Ok(pkg) = &parsed {
        rec.extension = pkg.manifest().name().as_str().to_owned();
        rec.version = pkg.manifest().version().to_string();
    }
    let pkg = rec.step("package", parsed).await?;
    if let Some(pending) = state.store.get_pending_installation(project, &rec.extension).await? {
        return Err(InstallError::PendingExists {
            name: pending.extension,
            project: project.to_owned(),
            version: pending.version,
        });
    }
    let serving = state.store.get_installation(project, &rec.extension).await?;
    if let Some(old) = &serving {
        rec.step("version_order", version_order(project, old, pkg.manifest().version(), options)).await?;
    }
    let graph = plan::check_against_installed(state, project, pkg.manifest(), options.allow_downgrade).await;
    rec.step("dependencies", graph).await?;
    let mut approved = parse_caps(options.approve)?;
    let requested = pkg.manifest().capabilities();
    if let Some(old) = &serving {
        // An upgrade keeps what the owner approved for the installed version.
        approved.extend(parse_caps(&old.approved_capabilities)?);
    }
    let approved: BTreeSet<_> = requested.intersection(&approved).cloned().collect();
    let missing: BTreeSet<_> = requested.difference(&approved).cloned().collect();
    // Verify and link with the requested capabilities first: a package that
    // would not load is refused now, not after the owner approved it.
    let loaded = verify_and_link(state, &rec, &pkg, requested.clone()).await?;

    let package_id = pkg.package_id();
    store_package(state, &package_id, bytes).await?;
    // The row is created as pending (it reserves the project's pending slot
    // for this extension) and serves only after its hooks ran.
    let new = NewInstallation {
        project_id: project.to_owned(),
        extension: rec.extension.clone(),
        version: rec.version.clone(),
        state: InstallationState::PendingApproval,
        manifest: String::from_utf8_lossy(pkg.manifest_bytes()).into_owned(),
        package_id,
        component_sha256: pkg.component_sha256(),
        signer_key_id: pkg
            .signature()
            .and_then(|s| s.signatures.first())
            .map(|s| s.keyid.clone())
            .unwrap_or_default(),
        requested_capabilities: caps_to_strings(&requested),
        approved_capabilities: caps_to_strings(&approved),
    };
    let inst = state.store.create_installation(&new).await.map_err(|e| match e {
        magflock_store::StoreError::Conflict(_) => InstallError::PendingExists {
            name: new.extension.clone(),
            project: project.to_owned(),
            version: new.version.clone(),
        },
        e => InstallError::Store(e),
    })?;
    let id = inst.id.clone();
    rec.installation = Some(id.clone());
    let (deps, conflicts) = plan::edges(pkg.manifest());
    state.store.set_installation_edges(&inst, &deps, &conflicts).await?;
    let action = match &serving {
        None => "extension.install",
        Some(old) if version_of(old) > Some(pkg.manifest().version().clone()) => "extension.downgrade",
        Some(_) => "extension.upgrade",
    };
    state
        .store
        .audit(
            options.actor,
            action,
            Some(project),
            Some(&format!("{}@{}", new.extension, new.version)),
            serde_json::json!({
                "installation": id,
                "replaces": serving.as_ref().map(|o| &o.version),
                "pending": caps_to_strings(&missing),
            }),
        )
        .await?;
    if !missing.is_empty() {
        return Ok(InstallReport {
            installation: to_json(&inst),
            capabilities_to_approve: caps_to_strings(&missing),
        });
    }
    let inst = activate(state, &rec, inst, serving, loaded).await?;
    Ok(InstallReport { installation: to_json(&inst), capabilities_to_approve: vec![] })
}

/// The checks a new version passes before it replaces `from`: a real
/// instance is created (under the installation's limits, then dropped),
/// then `on-upgrade(from)` runs. Both are recorded.
pub(crate) async fn upgrade_checks(
    rec: &Recorder<'_>,
    loaded: &Arc<Loaded>,
    name: &str,
    from: &str,
) -> Result<(), InstallError> {
    let failed = |source| InstallError::UpgradeHook {
        name: name.to_owned(),
        version: loaded.version(),
        from: from.to_owned(),
        source,
    };
    let instance = rec.state.runtime.instantiate(loaded).await;
    let instance = instance
        .map_err(|e| failed(HookError::Setup(format!("the new version does not instantiate: {e:#}"))));
    rec.step("instantiate", instance).await?;
    let hook = rec.state.runtime.run_upgrade_hook(loaded, from).await.map(|_| ()).map_err(failed);
    rec.step("on_upgrade", hook).await
}

fn version_of(inst: &Installation) -> Option<semver::Version> {
    inst.version.parse().ok()
}

/// Whether `requested` may replace the `installed` version: higher is an
/// upgrade, equal is already installed, lower only when asked for.
fn version_order(
    project: &str,
    installed: &Installation,
    requested: &semver::Version,
    options: InstallOptions<'_>,
) -> Result<(), InstallError> {
    let Some(current) = version_of(installed) else { return Ok(()) };
    match requested.cmp(&current) {
        std::cmp::Ordering::Greater => Ok(()),
        std::cmp::Ordering::Less if options.allow_downgrade => Ok(()),
        std::cmp::Ordering::Equal => Err(InstallError::AlreadyInstalled {
            name: installed.extension.clone(),
            project: project.to_owned(),
            version: installed.version.clone(),
        }),
        std::cmp::Ordering::Less => Err(InstallError::Downgrade {
            name: installed.extension.clone(),
            project: project.to_owned(),
            installed: installed.version.clone(),
            requested: requested.to_string(),
        }),
    }
}

/// Makes a pending installation serve. A first install runs `on-install`
/// (a failure removes it again, so nothing half-installed remains); an
/// upgrade replaces the serving version in one transaction and one atomic
/// swap, and calls already running finish on the old version.
async fn activate(
    state: &AppState,
    rec: &Recorder<'_>,
    inst: Installation,
    replaces: Option<Installation>,
    loaded: Arc<Loaded>,
) -> Result<Installation, InstallError> {
    match &replaces {
        None => {
            let hook = state.runtime.run_hook(&loaded, Hook::OnInstall).await.map_err(|source| {
                InstallError::Hook { name: inst.extension.clone(), version: inst.version.clone(), source }
            });
            if let Err(e) = rec.step("on_install", hook).await {
                state.store.mark_removed(&inst.id).await?;
                state.store.kv_clear(&inst.project_id, &inst.extension).await?;
                return Err(e);
            }
        }
        Some(old) => {
            if let Err(e) = upgrade_checks(rec, &loaded, &inst.extension, &old.version).await {
                state.store.mark_removed(&inst.id).await?;
                return Err(e);
            }
        }
    }
    if let Err(e) = state.runtime.run_hook(&loaded, Hook::OnStart).await {
        tracing::warn!(extension = %inst.extension, error = %e, "on-start failed; serving anyway");
    }
    let approved = loaded.grants.granted.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>();
    let promoted = state
        .store
        .promote_installation(&inst.id, replaces.as_ref().map(|o| o.id.as_str()), &approved)
        .await?;
    if !promoted {
        // Uninstalled (or replaced) meanwhile: this version must not serve.
        state.store.mark_removed(&inst.id).await?;
        return Err(InstallError::Store(magflock_store::StoreError::Conflict(format!(
            "extension {} changed in project {} while this version was being activated",
            inst.extension, inst.project_id
        ))));
    }
    let old = state.runtime.get(&inst.project_id, &inst.extension);
    if let (Some(old), Some(replaced)) = (&old, &replaces) {
        state.runtime.start_probation(&loaded, old.clone(), &replaced.id, &inst.id);
    }
    state.runtime.activate(loaded);
    state.report_installation(&inst.project_id, &inst.extension, &inst.version, true);
    if let (Some(old), Some(_)) = (old, &replaces)
        && let Err(e) = state.runtime.run_hook(&old, Hook::OnStop).await
    {
        tracing::warn!(extension = %inst.extension, error = %e, "on-stop of the replaced version failed");
    }
    let inst = state.store.get_installation_by_id(&inst.id).await?.unwrap_or(inst);
    Ok(inst)
}

/// The owner approves capabilities of a pending installation. Approvals
/// accumulate; once every requested capability is approved the installation
/// is verified again, linked with exactly the approved set and activated.
pub async fn approve(
    state: &AppState,
    project: &str,
    extension: &str,
    approve: &[String],
    actor: &str,
) -> Result<Option<InstallReport>, InstallError> {
    let pending = state.store.get_pending_installation(project, extension).await?;
    let serving = state
        .store
        .get_installation(project, extension)
        .await?
        .filter(|i| pending.is_none() || i.state != InstallationState::PendingApproval);
    let Some(inst) = pending.or(serving.clone()) else { return Ok(None) };
    let replaces = serving.filter(|s| s.id != inst.id);
    let mut approved = parse_caps(&inst.approved_capabilities)?;
    let newly = parse_caps(approve)?;
    let requested = parse_caps(&inst.requested_capabilities)?;
    if let Some(extra) = newly.difference(&requested).next() {
        return Err(InstallError::NotRequested {
            name: inst.extension.clone(),
            capability: extra.as_str().to_owned(),
        });
    }
    approved.extend(newly);
    state
        .store
        .audit(
            actor,
            "extension.approve",
            Some(project),
            Some(extension),
            serde_json::json!({"capabilities": caps_to_strings(&approved)}),
        )
        .await?;
    if inst.state == InstallationState::Active {
        return Ok(Some(InstallReport { installation: to_json(&inst), capabilities_to_approve: vec![] }));
    }
    let missing: Vec<String> = caps_to_strings(&requested.difference(&approved).cloned().collect());
    if !missing.is_empty() {
        state
            .store
            .set_installation_state(
                &inst.id,
                InstallationState::PendingApproval,
                Some(&caps_to_strings(&approved)),
            )
            .await?;
        let inst = state.store.get_installation_by_id(&inst.id).await?.unwrap_or(inst);
        return Ok(Some(InstallReport { installation: to_json(&inst), capabilities_to_approve: missing }));
    }
    let rec = Recorder {
        state,
        project,
        extension: inst.extension.clone(),
        version: inst.version.clone(),
        installation: Some(inst.id.clone()),
    };
    let bytes = load_package(state, &inst.package_id).await?;
    let pkg = rec.step("package", Package::from_bytes(&bytes)).await?;
    let loaded = verify_and_link(state, &rec, &pkg, approved).await?;
    let inst = activate(state, &rec, inst, replaces, loaded).await?;
    Ok(Some(InstallReport { installation: to_json(&inst), capabilities_to_approve: vec![] }))
}

/// Uninstalls: `on-stop` and `on-uninstall` (best effort), stop serving,
/// mark removed, delete the installation's key-value data. Refused while
/// other installed extensions depend on it (naming them), unless `cascade`,
/// which removes them too, dependents first, in one transaction.
pub async fn uninstall(
    state: &AppState,
    project: &str,
    extension: &str,
    actor: &str,
    cascade: bool,
) -> Result<bool, InstallError> {
    let request = [magflock_resolver::Request::Uninstall { name: extension.to_owned(), cascade }];
    match plan::make_plan(state, project, &request, false).await {
        // Not serving: a version pending approval may still be removed below.
        Err(InstallError::Resolve(magflock_resolver::Failure::NotInstalled { .. })) => {}
        Err(e) => return Err(e),
        Ok(planned) if planned.plan.steps.len() > 1 => {
            if let Some(pending) = state.store.get_pending_installation(project, extension).await? {
                state.store.mark_removed(&pending.id).await?;
            }
            plan::apply(state, project, planned, &std::collections::BTreeMap::new(), actor).await?;
            return Ok(true);
        }
        Ok(_) => {}
    }
    // A version waiting for approval goes with it.
    let mut removed_pending = false;
    if let Some(pending) = state.store.get_pending_installation(project, extension).await? {
        removed_pending = state.store.mark_removed(&pending.id).await?;
    }
    let Some(inst) = state.store.get_installation(project, extension).await? else {
        return Ok(removed_pending);
    };
    if let Some(loaded) = state.runtime.deactivate(project, extension) {
        for hook in [Hook::OnStop, Hook::OnUninstall] {
            if let Err(e) = state.runtime.run_hook(&loaded, hook).await {
                tracing::warn!(extension, hook = hook.as_str(), error = %e, "hook failed during uninstall");
            }
        }
    }
    state.store.mark_removed(&inst.id).await?;
    release_installation_data(state, project, extension).await?;
    state.report_installation(project, extension, &inst.version, false);
    state
        .store
        .audit(
            actor,
            "extension.uninstall",
            Some(project),
            Some(&format!("{}@{}", inst.extension, inst.version)),
            serde_json::json!({"installation": inst.id}),
        )
        .await?;
    Ok(true)
}

/// What an uninstalled extension leaves behind goes: its key-value data and
/// its database login (the PostgreSQL role of the installation; the
/// project's tables and rows are the owner's and stay). The role is dropped
/// best effort: a failure is logged, and the next install of the extension
/// replaces its grants anyway.
pub(crate) async fn release_installation_data(
    state: &AppState,
    project: &str,
    extension: &str,
) -> Result<(), InstallError> {
    state.store.kv_clear(project, extension).await?;
    if let Some(dbs) = state.runtime.project_databases()
        && let Err(e) = dbs.drop_installation(project, extension).await
    {
        tracing::warn!(%project, %extension, error = %e, "database role of the uninstalled extension not dropped");
    }
    Ok(())
}

/// Loads every active installation at start-up: packages are read from disk
/// and verified again before anything is compiled.
pub async fn reload_active(state: &AppState) -> Result<usize, InstallError> {
    let mut n = 0;
    for inst in state.store.list_serving_installations().await? {
        let rec = Recorder {
            state,
            project: &inst.project_id,
            extension: inst.extension.clone(),
            version: inst.version.clone(),
            installation: Some(inst.id.clone()),
        };
        let result = async {
            let bytes = load_package(state, &inst.package_id).await?;
            let pkg = Package::from_bytes(&bytes)?;
            let granted = parse_caps(&inst.approved_capabilities)?;
            let loaded = verify_and_link(state, &rec, &pkg, granted).await?;
            if let Err(e) = state.runtime.run_hook(&loaded, Hook::OnStart).await {
                tracing::warn!(extension = %inst.extension, error = %e, "on-start failed; serving anyway");
            }
            state.runtime.activate(loaded);
            Ok::<_, InstallError>(())
        }
        .await;
        match result {
            Ok(()) => n += 1,
            Err(e) => tracing::error!(project = %inst.project_id, extension = %inst.extension,
                code = e.code(), error = %e, "installation not loaded"),
        }
    }
    Ok(n)
}

fn package_path(state: &AppState, package_id: &str) -> std::path::PathBuf {
    state.config.packages_dir().join(format!("{package_id}.mfpkg"))
}

async fn store_package(state: &AppState, package_id: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = state.config.packages_dir();
    tokio::fs::create_dir_all(&dir).await?;
    let path = package_path(state, package_id);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    // Write to a temporary name and rename: a crash never leaves a torn file
    // under the content address.
    let tmp = dir.join(format!(".{package_id}.{}.tmp", uuid::Uuid::new_v4()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, &path).await
}

async fn load_package(state: &AppState, package_id: &str) -> std::io::Result<Vec<u8>> {
    tokio::fs::read(package_path(state, package_id)).await
}

pub fn to_json(inst: &Installation) -> serde_json::Value {
    serde_json::to_value(inst).unwrap_or(serde_json::Value::Null)
}
