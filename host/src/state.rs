//! What every request handler shares.

use std::sync::Arc;

use crate::api::auth::KeyCache;
use crate::config::HostConfig;
use crate::runtime::Runtime;
use crate::runtime::cache::ArtifactCache;

pub struct AppState {
    pub config: HostConfig,
    pub store: Arc<magflock_store::Store>,
    pub runtime: Arc<Runtime>,
    pub keys: KeyCache,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The registry, when the host is configured with one.
    pub registry: Option<crate::registry_client::RegistryClient>,
    /// The event dispatcher, while it runs ([`crate::events::dispatch`]).
    dispatcher: std::sync::Mutex<Option<(tokio::task::JoinHandle<()>, Arc<tokio::sync::Notify>)>>,
}

impl AppState {
    /// Connects the store, opens the compiled-artifact cache, starts the
    /// engine and the usage writer, and loads every active installation
    /// (verifying each package again before its compiled form is looked up).
    pub async fn start(config: HostConfig) -> anyhow::Result<Arc<Self>> {
        use anyhow::Context as _;
        tokio::fs::create_dir_all(&config.data_dir)
            .await
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let store = Arc::new(
            magflock_store::Store::connect(&config.database_url)
                .await
                .context("connecting the control-plane database")?,
        );
        let usage = crate::usage::UsageSink::start(store.clone(), config.usage_flush);
        let (dir, key) = (config.compiled_dir(), config.cache_key_path());
        let cache = tokio::task::spawn_blocking(move || ArtifactCache::open(&dir, &key))
            .await
            .context("opening the compiled-artifact cache")??;
        let databases = Arc::new(
            crate::capabilities::database::ProjectDatabases::for_control_plane(
                &config.database_url,
                &config.data_dir,
            )
            .context("project databases")?,
        );
        databases.load_policies(&store).await.context("loading the projects' query policies")?;
        let runtime = Arc::new(
            Runtime::new(&config.engine, store.clone(), usage)?
                .with_artifact_cache(cache)
                .with_project_databases(databases),
        );
        let registry = match &config.registry {
            Some(link) => Some(
                crate::registry_client::RegistryClient::new(&link.url, link.host_token.clone())
                    .context("registry client")?,
            ),
            None => None,
        };
        let state = Arc::new(Self {
            registry,
            config,
            store,
            runtime,
            keys: KeyCache::default(),
            metrics: crate::api::metrics::handle(),
            dispatcher: std::sync::Mutex::new(None),
        });
        let n = crate::install::reload_active(&state).await.context("loading installations")?;
        tracing::info!(installations = n, "installations loaded");
        if state.config.deliver_events {
            // After the reload: deliveries find their subscribers serving.
            let stop = Arc::new(tokio::sync::Notify::new());
            let task = tokio::spawn(crate::events::dispatch(
                Arc::downgrade(&state.runtime),
                state.runtime.events().clone(),
                state.config.event_retry,
                stop.clone(),
            ));
            if let Ok(mut d) = state.dispatcher.lock() {
                *d = Some((task, stop));
            }
        }
        Ok(state)
    }

    /// Stops delivering events and waits for the deliveries in flight.
    pub async fn stop_dispatcher(&self) {
        let Some((task, stop)) = self.dispatcher.lock().ok().and_then(|mut d| d.take()) else { return };
        stop.notify_one();
        let _ = task.await;
    }
}

impl AppState {
    /// Tells the registry, in the background and best effort, that a
    /// project's installation of an extension started or stopped serving.
    /// A registry that is down costs a log line, never an install.
    pub fn report_installation(&self, project: &str, extension: &str, version: &str, active: bool) {
        let Some(client) = self.registry.clone() else { return };
        let (project, extension, version) = (project.to_owned(), extension.to_owned(), version.to_owned());
        tokio::spawn(async move {
            if let Err(e) = client.report_installation(&project, &extension, &version, active).await {
                tracing::warn!(%project, %extension, code = e.code(), error = %e,
                    "installation not reported to the registry");
            }
        });
    }
}
