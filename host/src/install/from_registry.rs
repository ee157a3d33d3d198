//! Installing by name from the registry: resolve the request over the
//! project's whole graph, download, check the digest, then the same pipeline
//! as an uploaded package — the signature is verified against this host's
//! trust store, not the registry's. When dependencies change too, the whole
//! plan is applied at once (`plan.rs`).

use std::collections::BTreeMap;

use magflock_registry::ExtensionName;
use magflock_resolver::Request;

use super::{InstallError, InstallOptions, InstallReport, Recorder, install_package, plan};
use crate::config::HOST_API_VERSION;
use crate::registry_client::{RegistryClientError, choose_version};
use crate::state::AppState;

/// Installs (or upgrades to) the highest version of `name` matching `req`
/// that is neither yanked nor revoked and supports this host's API.
pub async fn install_from_registry(
    state: &AppState,
    project: &str,
    name: &str,
    req: &semver::VersionReq,
    options: InstallOptions<'_>,
) -> Result<InstallReport, InstallError> {
    let rec =
        Recorder { state, project, extension: name.to_owned(), version: req.to_string(), installation: None };
    let name: ExtensionName = rec
        .step(
            "registry_resolve",
            name.parse()
                .map_err(|e: magflock_registry::ManifestError| InstallError::InvalidName(e.to_string())),
        )
        .await?;
    let client = state.registry.as_ref().ok_or(RegistryClientError::NotConfigured);
    let client = rec.step("registry_resolve", client).await?;
    let chosen = async {
        let info = client.extension(name.as_str()).await?;
        choose_version(&info, req, &HOST_API_VERSION)
    }
    .await;
    let (version, info) = rec.step("registry_resolve", chosen).await?;

    // The whole graph: the dependencies it needs, what is installed.
    let request = Request::Install {
        name: name.to_string(),
        req: req.clone(),
        allow_downgrade: options.allow_downgrade,
    };
    let planned = plan::make_plan(state, project, &[request], true).await;
    // A refusal is recorded by `make_plan` itself.
    let planned = planned?;
    rec.step("resolve", Ok::<_, InstallError>(())).await?;
    let plan = &planned.plan;
    if plan.is_empty() {
        let installed = plan.final_set.get(name.as_str()).map(ToString::to_string).unwrap_or_default();
        return Err(InstallError::AlreadyInstalled {
            name: name.to_string(),
            project: project.to_owned(),
            version: installed,
        });
    }
    if plan.steps.iter().any(|s| s.name() != name.as_str()) {
        // More than this extension changes: the plan is applied as a whole,
        // with the capabilities approved here applying to `name`.
        let approvals = BTreeMap::from([(name.to_string(), options.approve.to_vec())]);
        let created = plan::apply(state, project, planned, &approvals, options.actor).await?;
        let inst = created.iter().find(|i| i.extension == name.as_str()).cloned();
        return Ok(InstallReport {
            installation: inst.as_ref().map(super::to_json).unwrap_or_default(),
            capabilities_to_approve: vec![],
        });
    }
    // Only this extension changes: the single-package path, where an
    // upgrade needing new capabilities may wait for approval.
    let chosen = plan.final_set.get(name.as_str()).cloned().unwrap_or(version);
    let info = match planned.listed(name.as_str(), &chosen) {
        Some(listed) => listed.clone(),
        None => info,
    };
    let rec = Recorder { version: chosen.to_string(), ..rec };
    let limit = state.config.max_upload_bytes;
    let bytes = client.download(name.as_str(), &info.version, &info.sha256, limit).await;
    let bytes = rec.step("registry_download", bytes).await?;
    install_package(state, project, &bytes, options).await
}
