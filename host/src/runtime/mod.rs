//! The data plane: compiled extensions ready to run, and the invocation of
//! one of them under its limits.
//!
//! One [`wasmtime::Engine`] per host; one [`Loaded`] (an `InstancePre` linked
//! with exactly the granted capabilities) per active installation; a fresh
//! `Store` and instance for every call, so no state survives a call and a
//! trap poisons nothing.

pub mod bindings;
pub mod cache;
pub mod invoke;
pub mod limits;
pub mod outcome;
pub mod probation;
pub mod state;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use magflock_registry::{Capability, Manifest};
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::capabilities::{self, Grants};
use crate::engine::{EngineLimits, EpochTicker, build_engine};
use crate::events::EventBus;
use crate::usage::UsageSink;
use cache::ArtifactCache;
use state::InvocationState;

/// Limits of one installation, resolved from its manifest.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub fuel: u64,
    pub memory_bytes: u64,
    pub timeout: Duration,
    pub concurrency: u32,
}

impl Limits {
    pub fn from_manifest(m: &Manifest) -> Self {
        let r = m.resources();
        Self { fuel: r.fuel, memory_bytes: r.memory_bytes, timeout: r.timeout, concurrency: r.concurrency }
    }
}

/// An installation compiled, linked and ready to serve.
pub struct Loaded {
    pub project: String,
    pub manifest: Arc<Manifest>,
    pub limits: Limits,
    pub grants: Arc<Grants>,
    pub(crate) proxy: ProxyPre<InvocationState>,
    pub(crate) lifecycle: Option<bindings::lifecycle::GuestIndices>,
    pub(crate) upgrade: Option<bindings::upgrade::GuestIndices>,
    pub(crate) event_handler: Option<bindings::event_handler::GuestIndices>,
    /// Set when this version replaced another by an upgrade and has not yet
    /// proven itself ([`probation`]).
    pub(crate) probation: std::sync::OnceLock<Arc<probation::Probation>>,
    pub(crate) in_flight: Arc<Semaphore>,
    /// Metric handles registered once, so the hot path does not build label
    /// sets on every call.
    pub(crate) metrics: LoadedMetrics,
}

pub(crate) struct LoadedMetrics {
    pub ok: metrics::Counter,
    pub fuel: metrics::Counter,
    pub seconds: metrics::Histogram,
}

impl LoadedMetrics {
    fn new(project: &str, extension: &str) -> Self {
        let (p, e) = (project.to_owned(), extension.to_owned());
        Self {
            ok: metrics::counter!("magflock_invocations_total", "project" => p.clone(),
                "extension" => e.clone(), "outcome" => "ok"),
            fuel: metrics::counter!("magflock_fuel_consumed_total", "project" => p.clone(),
                "extension" => e.clone()),
            seconds: metrics::histogram!("magflock_invocation_seconds", "project" => p, "extension" => e),
        }
    }
}

impl Loaded {
    pub fn name(&self) -> &str {
        self.manifest.name().as_str()
    }
    pub fn version(&self) -> String {
        self.manifest.version().to_string()
    }

    /// The topics this installation receives: its manifest's `subscribe`
    /// list when capability `events` is granted, none otherwise.
    pub fn subscriptions(&self) -> &[String] {
        match self.manifest.events() {
            Some(g) if self.grants.granted.contains(&Capability::Events) => &g.subscribe,
            _ => &[],
        }
    }

    /// Whether this installation receives `topic` (see [`Loaded::subscriptions`]).
    pub fn subscribes(&self, topic: &str) -> bool {
        receives(&self.manifest, self.grants.granted.contains(&Capability::Events), topic)
    }
}

/// Whether an installation of `manifest` receives `topic`: its manifest
/// subscribes to it and capability `events` is granted.
pub fn receives(manifest: &Manifest, events_granted: bool, topic: &str) -> bool {
    events_granted && manifest.events().is_some_and(|g| g.subscribes(topic))
}

/// Why a component could not be prepared to run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("component does not compile: {0}")]
    Compile(String),
    #[error("component {0}")]
    Imports(#[from] capabilities::wasi::ImportError),
    #[error("component cannot be linked: {0}")]
    Link(String),
    #[error("component does not export `wasi:http/incoming-handler`: {0}")]
    NoHandler(String),
    #[error("the manifest subscribes to {0} but the component does not export `magflock:ext/event-handler`")]
    NoEventHandler(String),
}

impl LoadError {
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Compile(_) => "component_invalid",
            LoadError::Imports(capabilities::wasi::ImportError::Undeclared { .. }) => "undeclared_import",
            LoadError::Imports(capabilities::wasi::ImportError::Unknown { .. }) => "unsupported_import",
            LoadError::Link(_) => "link_failed",
            LoadError::NoHandler(_) => "no_http_handler",
            LoadError::NoEventHandler(_) => "no_event_handler",
        }
    }
}

/// A component linked with a set of capabilities, its required exports found.
pub(crate) struct Linked {
    pub instance_pre: wasmtime::component::InstancePre<InvocationState>,
    pub proxy: ProxyPre<InvocationState>,
    pub event_handler: Option<bindings::event_handler::GuestIndices>,
}

/// Links `component` with exactly `caps` and checks the exports its
/// manifest needs: `wasi:http/incoming-handler` always, `event-handler` when
/// it subscribes to a topic. The one link check, used at install and by the
/// registry's component check, so that what the registry accepts links on a host.
pub(crate) fn link_component(
    engine: &Engine,
    manifest: &Manifest,
    component: &Component,
    caps: &BTreeSet<Capability>,
) -> Result<Linked, LoadError> {
    let linker = capabilities::linker_for(engine, caps).map_err(|e| LoadError::Link(format!("{e:#}")))?;
    let instance_pre = linker.instantiate_pre(component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
    let proxy = ProxyPre::new(instance_pre.clone()).map_err(|e| LoadError::NoHandler(format!("{e:#}")))?;
    let event_handler = bindings::event_handler::GuestIndices::new(&instance_pre).ok();
    if let Some(g) = manifest.events().filter(|g| !g.subscribe.is_empty())
        && event_handler.is_none()
    {
        return Err(LoadError::NoEventHandler(g.subscribe.join(", ")));
    }
    Ok(Linked { instance_pre, proxy, event_handler })
}

/// The host's engine and its active installations.
pub struct Runtime {
    engine: Engine,
    /// Where guests run (see [`crate::engine::build_guest_runtime`]); taken
    /// out and shut down in the background on drop, which is allowed from
    /// async code.
    guests: Option<tokio::runtime::Runtime>,
    ticker: EpochTicker,
    store: Arc<magflock_store::Store>,
    /// Compiled components on disk; without it every load compiles.
    cache: Option<Arc<ArtifactCache>>,
    pub usage: UsageSink,
    /// The projects' own databases, behind capability `database`.
    databases: Option<Arc<capabilities::database::ProjectDatabases>>,
    /// Subscriptions of the serving installations, and where events go.
    events: Arc<EventBus>,
    active: RwLock<HashMap<(String, String), Arc<Loaded>>>,
}

impl Runtime {
    pub fn new(
        limits: &EngineLimits,
        store: Arc<magflock_store::Store>,
        usage: UsageSink,
    ) -> anyhow::Result<Self> {
        let engine = build_engine(limits).map_err(|e| anyhow::anyhow!("engine: {e}"))?;
        let ticker = EpochTicker::start(&engine)?;
        let workers = limits.guest_workers;
        let guests = Some(crate::engine::build_guest_runtime(workers)?);
        Ok(Self {
            engine,
            guests,
            ticker,
            store: store.clone(),
            cache: None,
            usage,
            databases: None,
            events: Arc::new(EventBus::new(store.clone())),
            active: RwLock::new(HashMap::new()),
        })
    }

    /// Loads and stores compiled components through `cache`.
    pub fn with_artifact_cache(mut self, cache: ArtifactCache) -> Self {
        self.cache = Some(Arc::new(cache));
        self
    }

    /// Serves capability `database` from `databases`.
    pub fn with_project_databases(
        mut self,
        databases: Arc<capabilities::database::ProjectDatabases>,
    ) -> Self {
        self.databases = Some(databases);
        self
    }

    pub fn project_databases(&self) -> Option<&Arc<capabilities::database::ProjectDatabases>> {
        self.databases.as_ref()
    }

    /// The event bus: subscriptions and publishing ([`crate::events`]).
    pub fn events(&self) -> &Arc<EventBus> {
        &self.events
    }

    pub fn artifact_cache(&self) -> Option<&ArtifactCache> {
        self.cache.as_deref()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs `fut` (a guest call) on the guest runtime.
    pub(crate) fn spawn_guest<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.guests {
            Some(rt) => rt.spawn(fut),
            None => tokio::spawn(fut),
        }
    }

    pub fn store(&self) -> &Arc<magflock_store::Store> {
        &self.store
    }

    /// Compiles a component, or loads its compiled form from the artifact
    /// cache when there is a valid entry. `bytes` must have been verified
    /// against the package signature: they are what is compiled when the
    /// entry is missing or refused. CPU-heavy: runs on the blocking pool.
    pub async fn compile(&self, bytes: Vec<u8>) -> Result<Component, LoadError> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || match cache {
            Some(cache) => cache.load_or_compile(&engine, &bytes).map(|(component, _)| component),
            None => Component::new(&engine, &bytes),
        })
        .await
        .map_err(|e| LoadError::Compile(e.to_string()))?
        .map_err(|e| LoadError::Compile(format!("{e:#}")))
    }

    /// Checks imports against what the manifest declares; returns the
    /// capabilities the component uses.
    pub fn check_imports(
        &self,
        component: &Component,
        declared: &BTreeSet<Capability>,
    ) -> Result<BTreeSet<Capability>, LoadError> {
        Ok(capabilities::wasi::check_imports(&self.engine, component, declared)?)
    }

    /// Links a compiled component with exactly the `granted` capabilities.
    pub fn link(
        &self,
        project: &str,
        manifest: Arc<Manifest>,
        component: &Component,
        granted: BTreeSet<Capability>,
    ) -> Result<Arc<Loaded>, LoadError> {
        let Linked { instance_pre, proxy, event_handler } =
            link_component(&self.engine, &manifest, component, &granted)?;
        let lifecycle = bindings::lifecycle::GuestIndices::new(&instance_pre).ok();
        let upgrade = bindings::upgrade::GuestIndices::new(&instance_pre).ok();
        let grants = Arc::new(capabilities::grants(
            &self.store,
            self.databases.as_ref(),
            &self.events,
            project,
            &manifest,
            granted,
        ));
        let limits = Limits::from_manifest(&manifest);
        Ok(Arc::new(Loaded {
            metrics: LoadedMetrics::new(project, manifest.name().as_str()),
            project: project.to_owned(),
            in_flight: Arc::new(Semaphore::new(limits.concurrency as usize)),
            manifest,
            limits,
            grants,
            proxy,
            lifecycle,
            upgrade,
            event_handler,
            probation: std::sync::OnceLock::new(),
        }))
    }

    /// Makes `loaded` the serving version for its project and extension,
    /// atomically replacing any previous one (in-flight calls keep theirs).
    pub fn activate(&self, loaded: Arc<Loaded>) {
        let key = (loaded.project.clone(), loaded.name().to_owned());
        if let Ok(mut map) = self.active.write() {
            self.events.set_subscriptions(&loaded.project, loaded.name(), loaded.subscriptions());
            map.insert(key, loaded);
        }
    }

    /// Makes `replacement` serve instead of `current`, only if `current` is
    /// still the serving version (a later upgrade or uninstall wins).
    pub fn activate_if_current(&self, current: &Arc<Loaded>, replacement: Arc<Loaded>) -> bool {
        let key = (current.project.clone(), current.name().to_owned());
        let Ok(mut map) = self.active.write() else { return false };
        match map.get(&key) {
            Some(serving) if Arc::ptr_eq(serving, current) => {
                self.events.set_subscriptions(
                    &replacement.project,
                    replacement.name(),
                    replacement.subscriptions(),
                );
                map.insert(key, replacement);
                true
            }
            _ => false,
        }
    }

    /// Puts `new` on probation: `previous` stays loaded beside it until `new`
    /// has served [`probation::PROBATION_CALLS`] calls, and comes back if `new`
    /// fails [`probation::ROLLBACK_FAILURES`] of them first.
    pub fn start_probation(
        &self,
        new: &Arc<Loaded>,
        previous: Arc<Loaded>,
        previous_installation: &str,
        new_installation: &str,
    ) {
        let p = probation::Probation::new(
            previous,
            previous_installation.to_owned(),
            new_installation.to_owned(),
        );
        let _ = new.probation.set(Arc::new(p));
    }

    /// Counts a call of a version on probation; rolls it back when it fails
    /// too often. Called after every invocation (one atomic load when there
    /// is no probation).
    pub(crate) fn observe_probation(&self, loaded: &Arc<Loaded>, outcome: outcome::Outcome) {
        let Some(p) = loaded.probation.get() else { return };
        match p.observe(outcome) {
            probation::Verdict::Undecided => {}
            probation::Verdict::Passed => drop(p.take_previous()),
            probation::Verdict::RollBack { failures, calls } => {
                let Some(previous) = p.take_previous() else { return };
                if !self.activate_if_current(loaded, previous.clone()) {
                    return;
                }
                let why = format!(
                    "{}@{} failed {failures} of its first {calls} calls after the upgrade (last: {}); \
                     rolled back to {}",
                    loaded.name(),
                    loaded.version(),
                    outcome.as_str(),
                    previous.version()
                );
                tracing::warn!(project = %loaded.project, extension = loaded.name(), %why, "upgrade rolled back");
                let store = self.store.clone();
                let (project, extension) = (loaded.project.clone(), loaded.name().to_owned());
                let (restore, remove, version) =
                    (p.previous_installation.clone(), p.new_installation.clone(), loaded.version());
                tokio::spawn(async move {
                    if let Err(e) = store.rollback_installation(&restore, &remove).await {
                        tracing::error!(%project, %extension, error = %e, "rollback not recorded in the store");
                        return;
                    }
                    let v = magflock_store::NewValidation {
                        installation_id: Some(remove),
                        project_id: project.clone(),
                        extension: extension.clone(),
                        version,
                        step: "rollback".to_owned(),
                        ok: false,
                        detail: why.clone(),
                    };
                    let _ = store.add_validation(&v).await;
                    let detail = serde_json::json!({ "reason": why, "restored": restore });
                    let _ = store
                        .audit("host", "extension.rollback", Some(&project), Some(&extension), detail)
                        .await;
                });
            }
        }
    }

    pub fn deactivate(&self, project: &str, extension: &str) -> Option<Arc<Loaded>> {
        let mut map = self.active.write().ok()?;
        self.events.set_subscriptions(project, extension, &[]);
        map.remove(&(project.to_owned(), extension.to_owned()))
    }

    pub fn get(&self, project: &str, extension: &str) -> Option<Arc<Loaded>> {
        self.active.read().ok()?.get(&(project.to_owned(), extension.to_owned())).cloned()
    }

    pub fn all_active(&self) -> Vec<Arc<Loaded>> {
        self.active.read().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    pub fn active_count(&self) -> usize {
        self.active.read().map(|m| m.len()).unwrap_or(0)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.guests.take() {
            rt.shutdown_background();
        }
    }
}
