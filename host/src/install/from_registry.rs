//! Installing by name from the registry: choose the version, download it,
//! check the digest, then the same pipeline as an uploaded package — the
//! signature is verified against this host's trust store, not the registry's.

use magflock_registry::ExtensionName;

use super::{InstallError, InstallOptions, InstallReport, Recorder, install_package};
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
    let rec = Recorder { version: version.to_string(), ..rec };
    let limit = state.config.max_upload_bytes;
    let bytes = client.download(name.as_str(), &info.version, &info.sha256, limit).await;
    let bytes = rec.step("registry_download", bytes).await?;
    install_package(state, project, &bytes, options).await
}
