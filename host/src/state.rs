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
        let runtime =
            Arc::new(Runtime::new(&config.engine, store.clone(), usage)?.with_artifact_cache(cache));
        let state = Arc::new(Self {
            config,
            store,
            runtime,
            keys: KeyCache::default(),
            metrics: crate::api::metrics::handle(),
        });
        let n = crate::install::reload_active(&state).await.context("loading installations")?;
        tracing::info!(installations = n, "installations loaded");
        Ok(state)
    }
}
