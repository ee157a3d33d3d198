//! Capability `config`: `wasi:config/store`, the installation's configuration
//! values (the manifest's `[config]` defaults).

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::runtime::bindings::config::{self, Error};
use crate::runtime::limits::Meter;
use crate::runtime::outcome::HostTrap;
use crate::runtime::state::InvocationState;

/// The grant: the values this installation sees.
pub struct ConfigCtx {
    values: Arc<BTreeMap<String, String>>,
}

impl ConfigCtx {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self { values: Arc::new(values) }
    }
}

pub struct ConfigView<'a> {
    ctx: Option<&'a ConfigCtx>,
    meter: &'a Meter,
}

struct HasConfig;
impl HasData for HasConfig {
    type Data<'a> = ConfigView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    config::add_to_linker::<InvocationState, HasConfig>(linker, |s| ConfigView {
        ctx: s.grants.config.as_ref(),
        meter: &s.meter,
    })
}

impl ConfigView<'_> {
    fn ctx(&self) -> wasmtime::Result<&ConfigCtx> {
        self.meter.host_call();
        self.ctx.ok_or_else(|| wasmtime::Error::new(HostTrap::CapabilityDenied("config".into())))
    }
}

impl config::Host for ConfigView<'_> {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, Error>> {
        Ok(Ok(self.ctx()?.values.get(&key).cloned()))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, Error>> {
        let ctx = self.ctx()?;
        Ok(Ok(ctx.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
    }
}
