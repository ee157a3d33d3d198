//! Capabilities: what an extension may reach beyond its own sandbox. Deny by
//! default. Each capability has the same shape: a context built from the
//! manifest grant and the project's approval, a view implementing the
//! generated `Host` trait, and an `add_to_linker` that is called only when the
//! capability is granted. Calls are checked again at run time where a grant
//! has a finer grain than "linked or not".

pub mod config;
pub mod database;
pub mod events;
pub mod kv;
pub mod logging;
pub mod wasi;

use std::collections::BTreeSet;
use std::sync::Arc;

use magflock_registry::Capability;
use wasmtime::component::Linker;

use crate::runtime::state::InvocationState;

/// What one installation may use, shared by all its invocations.
pub struct Grants {
    pub project: String,
    pub extension: String,
    pub version: String,
    pub granted: BTreeSet<Capability>,
    pub kv: Option<kv::KvCtx>,
    pub config: Option<config::ConfigCtx>,
    pub database: Option<database::DbCtx>,
    pub events: Option<events::EventsCtx>,
}

/// Builds the linker for one installation: the base WASI interfaces every
/// component gets, plus exactly the granted capabilities.
pub fn linker_for(
    engine: &wasmtime::Engine,
    granted: &BTreeSet<Capability>,
) -> wasmtime::Result<Linker<InvocationState>> {
    let mut linker = Linker::new(engine);
    wasi::add_base_to_linker(&mut linker)?;
    for cap in granted {
        match cap {
            Capability::Logging => logging::add_to_linker(&mut linker)?,
            Capability::Config => config::add_to_linker(&mut linker)?,
            Capability::Kv => kv::add_to_linker(&mut linker)?,
            Capability::Database => database::add_to_linker(&mut linker)?,
            Capability::Events => events::add_to_linker(&mut linker)?,
        }
    }
    Ok(linker)
}

/// The grants of an installation, ready for its invocations. Without
/// `databases` (a host with no project databases) a database grant links
/// but every call traps as `capability_denied`.
pub fn grants(
    store: &Arc<magflock_store::Store>,
    databases: Option<&Arc<database::ProjectDatabases>>,
    bus: &Arc<crate::events::EventBus>,
    project: &str,
    manifest: &magflock_registry::Manifest,
    granted: BTreeSet<Capability>,
) -> Grants {
    let kv = granted.contains(&Capability::Kv).then(|| kv::KvCtx {
        store: store.clone(),
        project: project.to_owned(),
        extension: manifest.name().as_str().to_owned(),
    });
    let config =
        granted.contains(&Capability::Config).then(|| config::ConfigCtx::new(manifest.config().clone()));
    let database = match (granted.contains(&Capability::Database), manifest.database(), databases) {
        (true, Some(grant), Some(dbs)) => {
            Some(database::DbCtx::new(dbs.clone(), project, manifest.name().as_str(), grant.clone()))
        }
        _ => None,
    };
    let events = match (granted.contains(&Capability::Events), manifest.events()) {
        (true, Some(grant)) => Some(events::EventsCtx {
            bus: bus.clone(),
            project: project.to_owned(),
            extension: manifest.name().as_str().to_owned(),
            version: manifest.version().to_string(),
            grant: grant.clone(),
        }),
        _ => None,
    };
    Grants {
        project: project.to_owned(),
        extension: manifest.name().as_str().to_owned(),
        version: manifest.version().to_string(),
        granted,
        kv,
        config,
        database,
        events,
    }
}
