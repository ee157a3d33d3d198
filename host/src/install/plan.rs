//! Whole-graph changes to a project: the resolver's plan over what is
//! installed, what is asked for and what the registry publishes, and its
//! atomic application.
//!
//! Applying a plan has three phases so that it is all or nothing:
//! 1. prepare — download, verify, compile and link every new version, and
//!    run the new extensions' `on-install` hooks in dependency order (a
//!    failure clears what those hooks wrote; nothing else has changed);
//! 2. commit — one store transaction removes and inserts every installation
//!    row and its dependency/conflict edges;
//! 3. switch — the runtime serves the new set; removed versions get their
//!    `on-stop`/`on-uninstall` hooks, best effort.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use magflock_registry::{Manifest, Package};
use magflock_resolver::{
    Candidate, Conflict, Dependency, Failure, MemoryIndex, Plan, Project, Request, Step,
};
use magflock_store::{
    ConflictEdge, DependencyEdge, Installation, InstallationState, NewInstallation, PlanWrite, PlannedInstall,
};

use super::{InstallError, Recorder, caps_to_strings, parse_caps, store_package, verify_and_link};
use crate::config::HOST_API_VERSION;
use crate::registry_client::{RegistryClient, RegistryClientError, VersionInfo};
use crate::runtime::Loaded;
use crate::runtime::invoke::Hook;
use crate::state::AppState;

/// Most extensions the registry is asked about for one plan (hostile
/// graphs: a dependency chain cannot make the host crawl the registry).
const MAX_INDEX_EXTENSIONS: usize = 512;

/// The resolver's view of a manifest.
pub fn candidate(m: &Manifest, yanked: bool) -> Candidate {
    Candidate {
        name: m.name().to_string(),
        version: m.version().clone(),
        host: m.host().clone(),
        dependencies: m
            .dependencies()
            .iter()
            .map(|d| Dependency { name: d.name().to_string(), req: d.req().clone(), optional: d.optional() })
            .collect(),
        conflicts: m
            .conflicts()
            .iter()
            .map(|c| Conflict {
                name: c.name().to_string(),
                req: c.req().cloned(),
                reason: c.reason().to_owned(),
            })
            .collect(),
        capabilities: m.capabilities().iter().map(|c| c.as_str().to_owned()).collect(),
        yanked,
    }
}

/// The resolver's view of a version the registry lists; `None` when the
/// listing is not readable (the version is then unavailable).
fn candidate_from_listing(name: &str, v: &VersionInfo) -> Option<Candidate> {
    let parse = |r: &str| r.parse::<semver::VersionReq>().ok();
    let mut dependencies = Vec::new();
    for (dep, req) in &v.dependencies {
        dependencies.push(Dependency { name: dep.clone(), req: parse(req)?, optional: false });
    }
    for (dep, req) in &v.optional_dependencies {
        dependencies.push(Dependency { name: dep.clone(), req: parse(req)?, optional: true });
    }
    let mut conflicts = Vec::new();
    for (other, c) in &v.conflicts {
        let req = match &c.version {
            Some(r) => Some(parse(r)?),
            None => None,
        };
        conflicts.push(Conflict { name: other.clone(), req, reason: c.reason.clone() });
    }
    Some(Candidate {
        name: name.to_owned(),
        version: v.version.parse().ok()?,
        host: parse(&v.host)?,
        dependencies,
        conflicts,
        capabilities: v.capabilities.clone(),
        yanked: v.yanked || v.revoked,
    })
}

/// The project's serving installations, by name.
async fn serving(state: &AppState, project: &str) -> Result<BTreeMap<String, Installation>, InstallError> {
    let mut out = BTreeMap::new();
    for inst in state.store.list_installations(project).await? {
        if matches!(inst.state, InstallationState::Active | InstallationState::Suspended) {
            out.insert(inst.extension.clone(), inst);
        }
    }
    Ok(out)
}

fn installed_candidates(serving: &BTreeMap<String, Installation>) -> Vec<Candidate> {
    serving
        .values()
        .filter_map(|inst| match Manifest::from_toml_str(&inst.manifest) {
            Ok(m) => Some(candidate(&m, false)),
            Err(e) => {
                tracing::error!(installation = %inst.id, error = %e, "stored manifest unreadable");
                None
            }
        })
        .collect()
}

/// Every published version of the extensions the plan can reach from
/// `roots`, plus the installed versions (which may not be published).
async fn registry_index(
    client: Option<&RegistryClient>,
    roots: impl IntoIterator<Item = String>,
    installed: &[Candidate],
) -> Result<(MemoryIndex, HashMap<(String, String), VersionInfo>), InstallError> {
    let mut listed: HashMap<(String, String), VersionInfo> = HashMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = roots.into_iter().collect();
    let mut candidates: BTreeMap<(String, semver::Version), Candidate> = BTreeMap::new();
    if let Some(client) = client {
        while let Some(name) = queue.pop_front() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if seen.len() > MAX_INDEX_EXTENSIONS {
                return Err(InstallError::GraphTooLarge { limit: MAX_INDEX_EXTENSIONS });
            }
            let info = match client.extension(&name).await {
                Ok(info) => info,
                // Not published: the resolver says so in its explanation.
                Err(RegistryClientError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            for v in &info.versions {
                let Some(c) = candidate_from_listing(&name, v) else { continue };
                for d in &c.dependencies {
                    queue.push_back(d.name.clone());
                }
                listed.insert((name.clone(), c.version.to_string()), v.clone());
                candidates.insert((name.clone(), c.version.clone()), c);
            }
        }
    }
    for c in installed {
        candidates.entry((c.name.clone(), c.version.clone())).or_insert_with(|| c.clone());
    }
    Ok((candidates.into_values().collect(), listed))
}

/// A plan, with what applying it needs.
pub struct Planned {
    pub plan: Plan,
    serving: BTreeMap<String, Installation>,
    listed: HashMap<(String, String), VersionInfo>,
}

impl Planned {
    /// The registry's listing of `name` at `version`, if it was fetched.
    pub fn listed(&self, name: &str, version: &semver::Version) -> Option<&VersionInfo> {
        self.listed.get(&(name.to_owned(), version.to_string()))
    }
}

/// Resolves `requests` over the project's whole graph, with the registry's
/// published versions (or, without `with_registry`, only what is installed:
/// enough for uninstalls).
pub async fn make_plan(
    state: &AppState,
    project: &str,
    requests: &[Request],
    with_registry: bool,
) -> Result<Planned, InstallError> {
    let serving = serving(state, project).await?;
    let installed = installed_candidates(&serving);
    let roots = requests
        .iter()
        .filter(|r| !matches!(r, Request::Uninstall { .. }))
        .map(|r| r.name().to_owned())
        .chain(installed.iter().map(|c| c.name.clone()));
    let client = if with_registry { state.registry.as_ref() } else { None };
    let (index, listed) = registry_index(client, roots, &installed).await?;
    let requests_names: Vec<String> = requests.iter().map(|r| r.name().to_owned()).collect();
    let requests = requests.to_vec();
    let installed_for_plan = installed.clone();
    let plan = tokio::task::spawn_blocking(move || {
        let project = Project { installed: &installed_for_plan, host_api: HOST_API_VERSION };
        magflock_resolver::plan(&index, &project, &requests)
    })
    .await
    .map_err(|e| InstallError::Io(std::io::Error::other(e.to_string())))?;
    let plan = match plan {
        Ok(plan) => plan,
        Err(failure) => {
            // The refusal is part of each requested extension's record.
            let names: BTreeSet<&str> = requests_names.iter().map(String::as_str).collect();
            for name in names {
                let rec = Recorder {
                    state,
                    project,
                    extension: name.to_owned(),
                    version: String::new(),
                    installation: None,
                };
                rec.step("resolve", Err::<(), _>(&failure)).await.ok();
            }
            return Err(InstallError::Resolve(failure));
        }
    };
    Ok(Planned { plan, serving, listed })
}

/// Checks one package against the installed graph, for installs that do not
/// go through a plan (uploads): its dependencies must be installed, in
/// range, and no declared conflict may be met.
pub async fn check_against_installed(
    state: &AppState,
    project: &str,
    manifest: &Manifest,
    allow_downgrade: bool,
) -> Result<(), InstallError> {
    let serving = serving(state, project).await?;
    let mut installed = installed_candidates(&serving);
    let new = candidate(manifest, false);
    let mut index: MemoryIndex = installed.iter().cloned().collect();
    index.add(new.clone());
    // The one being replaced is checked as the new version.
    installed.retain(|c| c.name != new.name);
    let req = exactly(&new.version);
    let requests = [Request::Install { name: new.name.clone(), req, allow_downgrade }];
    let project = Project { installed: &installed, host_api: HOST_API_VERSION };
    let plan = magflock_resolver::plan(&index, &project, &requests).map_err(InstallError::Resolve)?;
    match plan.steps.iter().find(|s| s.name() != new.name) {
        None => Ok(()),
        Some(other) => Err(InstallError::Resolve(Failure::InvalidRequest {
            reason: format!(
                "{}@{} also needs: {other}; install it by name so the whole plan is applied",
                new.name, new.version
            ),
        })),
    }
}

/// The range `=version`: that version and no other.
pub fn exactly(version: &semver::Version) -> semver::VersionReq {
    semver::VersionReq {
        comparators: vec![semver::Comparator {
            op: semver::Op::Exact,
            major: version.major,
            minor: Some(version.minor),
            patch: Some(version.patch),
            pre: version.pre.clone(),
        }],
    }
}

/// One prepared install or upgrade.
struct Prepared {
    step: Step,
    package: Package,
    loaded: Arc<Loaded>,
    approved: BTreeSet<magflock_registry::Capability>,
    replaces: Option<Installation>,
}

/// The capabilities a plan still needs approved, per extension.
pub fn missing_approvals(
    planned: &Planned,
    approvals: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut missing = BTreeMap::new();
    for (name, caps) in planned.plan.capabilities_to_approve() {
        let given: BTreeSet<&str> = approvals.get(name).into_iter().flatten().map(String::as_str).collect();
        let lacking: Vec<String> = caps.iter().filter(|c| !given.contains(c.as_str())).cloned().collect();
        if !lacking.is_empty() {
            missing.insert(name.to_owned(), lacking);
        }
    }
    missing
}

/// Applies a plan: all of it or nothing (see the module documentation).
/// Every capability the plan asks for must be in `approvals`.
pub async fn apply(
    state: &AppState,
    project: &str,
    planned: Planned,
    approvals: &BTreeMap<String, Vec<String>>,
    actor: &str,
) -> Result<Vec<Installation>, InstallError> {
    let missing = missing_approvals(&planned, approvals);
    if !missing.is_empty() {
        return Err(InstallError::ApprovalRequired(missing));
    }
    let Planned { plan, serving, listed } = planned;
    let plan_text = plan.to_string();

    // 1. Prepare.
    let mut prepared = Vec::new();
    let mut removes = Vec::new();
    for step in &plan.steps {
        let rec = Recorder {
            state,
            project,
            extension: step.name().to_owned(),
            version: match step {
                Step::Install { version, .. } | Step::Remove { version, .. } => version.to_string(),
                Step::Upgrade { to, .. } => to.to_string(),
            },
            installation: None,
        };
        rec.step("plan", Ok::<_, InstallError>(())).await?;
        let (name, version, replaces) = match step {
            Step::Remove { name, .. } => {
                if let Some(inst) = serving.get(name) {
                    removes.push(inst.clone());
                }
                continue;
            }
            Step::Install { name, version, .. } => (name, version, None),
            Step::Upgrade { name, to, .. } => (name, to, serving.get(name).cloned()),
        };
        let info = listed.get(&(name.clone(), version.to_string())).ok_or_else(|| {
            InstallError::Registry(RegistryClientError::NoMatchingVersion(format!(
                "{name} {version} is not published in the registry"
            )))
        })?;
        let client = state.registry.as_ref().ok_or(RegistryClientError::NotConfigured)?;
        let bytes = client.download(name, &info.version, &info.sha256, state.config.max_upload_bytes).await;
        let bytes = rec.step("registry_download", bytes).await?;
        let package = rec.step("package", Package::from_bytes(&bytes)).await?;
        let mut approved = parse_caps(approvals.get(name.as_str()).map(Vec::as_slice).unwrap_or_default())?;
        if let Some(old) = &replaces {
            approved.extend(parse_caps(&old.approved_capabilities)?);
        }
        let requested = package.manifest().capabilities();
        let approved: BTreeSet<_> = requested.intersection(&approved).cloned().collect();
        let loaded = verify_and_link(state, &rec, &package, approved.clone()).await?;
        store_package(state, &package.package_id(), &bytes).await?;
        prepared.push(Prepared { step: step.clone(), package, loaded, approved, replaces });
    }
    // New extensions' on-install hooks, dependencies first.
    let mut hooked: Vec<&Prepared> = Vec::new();
    for p in prepared.iter().filter(|p| p.replaces.is_none()) {
        let rec = Recorder {
            state,
            project,
            extension: p.step.name().to_owned(),
            version: p.package.manifest().version().to_string(),
            installation: None,
        };
        let hook =
            state.runtime.run_hook(&p.loaded, Hook::OnInstall).await.map_err(|source| InstallError::Hook {
                name: p.step.name().to_owned(),
                version: p.package.manifest().version().to_string(),
                source,
            });
        if let Err(e) = rec.step("on_install", hook).await {
            for done in hooked.iter().chain(std::iter::once(&p)) {
                clear_unless_live(state, project, done.step.name()).await?;
            }
            return Err(e);
        }
        hooked.push(p);
    }
    // Upgraded extensions' on-upgrade hooks, in the same order.
    for p in prepared.iter() {
        let Some(old) = &p.replaces else { continue };
        let rec = Recorder {
            state,
            project,
            extension: p.step.name().to_owned(),
            version: p.package.manifest().version().to_string(),
            installation: None,
        };
        if let Err(e) = super::upgrade_checks(&rec, &p.loaded, p.step.name(), &old.version).await {
            for done in &hooked {
                clear_unless_live(state, project, done.step.name()).await?;
            }
            return Err(e);
        }
    }

    // 2. Commit.
    let write = PlanWrite {
        removes: removes
            .iter()
            .map(|i| i.id.clone())
            .chain(prepared.iter().filter_map(|p| p.replaces.as_ref().map(|o| o.id.clone())))
            .collect(),
        installs: prepared
            .iter()
            .map(|p| {
                let (dependencies, conflicts) = edges(p.package.manifest());
                PlannedInstall {
                    installation: new_installation(project, &p.package, &p.approved),
                    dependencies,
                    conflicts,
                }
            })
            .collect(),
    };
    let created = match state.store.apply_plan(&write).await {
        Ok(created) => created,
        Err(e) => {
            for p in &hooked {
                clear_unless_live(state, project, p.step.name()).await?;
            }
            return Err(e.into());
        }
    };
    state
        .store
        .audit(actor, "extension.plan_apply", Some(project), None, serde_json::json!({ "plan": plan_text }))
        .await?;

    // 3. Switch.
    for inst in &removes {
        if let Some(loaded) = state.runtime.deactivate(project, &inst.extension) {
            for hook in [Hook::OnStop, Hook::OnUninstall] {
                if let Err(e) = state.runtime.run_hook(&loaded, hook).await {
                    tracing::warn!(extension = %inst.extension, hook = hook.as_str(), error = %e, "hook failed");
                }
            }
        }
        super::release_installation_data(state, project, &inst.extension).await?;
        state.report_installation(project, &inst.extension, &inst.version, false);
    }
    for (p, inst) in prepared.into_iter().zip(&created) {
        if let Err(e) = state.runtime.run_hook(&p.loaded, Hook::OnStart).await {
            tracing::warn!(extension = %inst.extension, error = %e, "on-start failed; serving anyway");
        }
        let old = state.runtime.get(project, &inst.extension);
        if let (Some(old), Some(replaced)) = (&old, &p.replaces) {
            state.runtime.start_probation(&p.loaded, old.clone(), &replaced.id, &inst.id);
        }
        state.runtime.activate(p.loaded);
        if let (Some(old), Some(_)) = (old, &p.replaces)
            && let Err(e) = state.runtime.run_hook(&old, Hook::OnStop).await
        {
            tracing::warn!(extension = %inst.extension, error = %e, "on-stop of the replaced version failed");
        }
        state.report_installation(project, &inst.extension, &inst.version, true);
    }
    Ok(created)
}

/// Undoes what a new extension's `on-install` wrote when its plan fails —
/// unless the extension is live after all (a concurrent request installed
/// it): its data is then that installation's.
async fn clear_unless_live(state: &AppState, project: &str, extension: &str) -> Result<(), InstallError> {
    let live = state.store.get_installation(project, extension).await?;
    if live.is_none_or(|i| i.state == InstallationState::PendingApproval) {
        state.store.kv_clear(project, extension).await?;
    }
    Ok(())
}

fn conflict_edges(m: &Manifest) -> Vec<ConflictEdge> {
    m.conflicts()
        .iter()
        .map(|c| ConflictEdge {
            conflicts_with: c.name().to_string(),
            version_range: c.req().map(|r| r.to_string()),
            reason: c.reason().to_owned(),
        })
        .collect()
}

/// The edges an installation's manifest declares.
pub fn edges(m: &Manifest) -> (Vec<DependencyEdge>, Vec<ConflictEdge>) {
    let deps = m
        .dependencies()
        .iter()
        .map(|d| DependencyEdge {
            depends_on: d.name().to_string(),
            version_range: d.req().to_string(),
            optional: d.optional(),
        })
        .collect();
    (deps, conflict_edges(m))
}

fn new_installation(
    project: &str,
    pkg: &Package,
    approved: &BTreeSet<magflock_registry::Capability>,
) -> NewInstallation {
    NewInstallation {
        project_id: project.to_owned(),
        extension: pkg.manifest().name().to_string(),
        version: pkg.manifest().version().to_string(),
        state: InstallationState::Active,
        manifest: String::from_utf8_lossy(pkg.manifest_bytes()).into_owned(),
        package_id: pkg.package_id(),
        component_sha256: pkg.component_sha256(),
        signer_key_id: pkg
            .signature()
            .and_then(|s| s.signatures.first())
            .map(|s| s.keyid.clone())
            .unwrap_or_default(),
        requested_capabilities: caps_to_strings(&pkg.manifest().capabilities()),
        approved_capabilities: caps_to_strings(approved),
    }
}

/// The plan as JSON for the API: ordered steps, the final set and the
/// capabilities to approve.
pub fn plan_json(plan: &Plan) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = plan
        .steps
        .iter()
        .map(|s| {
            let (action, from, to) = match s {
                Step::Install { version, .. } => ("install", None, Some(version.to_string())),
                Step::Upgrade { from, to, .. } if to < from => {
                    ("downgrade", Some(from.to_string()), Some(to.to_string()))
                }
                Step::Upgrade { from, to, .. } => ("upgrade", Some(from.to_string()), Some(to.to_string())),
                Step::Remove { version, .. } => ("remove", Some(version.to_string()), None),
            };
            serde_json::json!({
                "action": action,
                "name": s.name(),
                "from": from,
                "to": to,
                "capabilities_to_approve": s.capabilities_to_approve(),
                "description": s.to_string(),
            })
        })
        .collect();
    let approve: BTreeMap<&str, &[String]> = plan.capabilities_to_approve().into_iter().collect();
    serde_json::json!({
        "steps": steps,
        "final": plan.final_set.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<BTreeMap<_, _>>(),
        "capabilities_to_approve": approve,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn exactly_matches_one_version() {
        let v: semver::Version = "1.2.3-rc.1".parse().unwrap_or_else(|_| semver::Version::new(0, 0, 0));
        let req = super::exactly(&v);
        assert_eq!(req.to_string(), "=1.2.3-rc.1");
        assert!(req.matches(&v));
        assert!(!req.matches(&semver::Version::new(1, 2, 3)));
    }
}
