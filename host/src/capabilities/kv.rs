//! Capability `kv`: `magflock:ext/kv`, a key-value store scoped to one
//! installation (its project and extension name), kept in the control-plane
//! store so it survives restarts and is shared by every host.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::runtime::bindings::kv::{self, Error};
use crate::runtime::limits::Meter;
use crate::runtime::outcome::HostTrap;
use crate::runtime::state::InvocationState;

// Keys and values come from the guest: every size is capped.
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Keys one installation may hold.
pub const MAX_KEYS: u64 = 10_000;
/// Bytes of values one installation may hold.
pub const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Keys returned by one `list-keys`.
pub const MAX_LIST: u32 = 1000;

/// The grant: which project and extension this store is scoped to.
pub struct KvCtx {
    pub store: Arc<magflock_store::Store>,
    pub project: String,
    pub extension: String,
}

/// The view the generated `Host` trait is implemented on.
pub struct KvView<'a> {
    ctx: Option<&'a KvCtx>,
    meter: &'a Meter,
}

struct HasKv;
impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    kv::add_to_linker::<InvocationState, HasKv>(linker, |s| KvView {
        ctx: s.grants.kv.as_ref(),
        meter: &s.meter,
    })
}

impl KvView<'_> {
    /// Second check of the grant, on every call: linking is the first.
    fn ctx(&self) -> wasmtime::Result<&KvCtx> {
        self.meter.host_call();
        self.ctx.ok_or_else(|| wasmtime::Error::new(HostTrap::CapabilityDenied("kv".into())))
    }
}

fn check_key(key: &str) -> Result<(), Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::TooLarge(format!("key is {} bytes; the limit is {MAX_KEY_BYTES}", key.len())));
    }
    Ok(())
}

fn unavailable(e: magflock_store::StoreError) -> Error {
    tracing::warn!(error = %e, "kv store call failed");
    Error::Unavailable("the key-value store is unavailable; retry later".into())
}

impl kv::Host for KvView<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let ctx = self.ctx()?;
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(ctx.store.kv_get(&ctx.project, &ctx.extension, &key).await.map_err(unavailable))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        let ctx = self.ctx()?;
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(Error::TooLarge(format!(
                "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
                value.len()
            ))));
        }
        let (keys, bytes) = match ctx.store.kv_usage(&ctx.project, &ctx.extension).await {
            Ok(u) => u,
            Err(e) => return Ok(Err(unavailable(e))),
        };
        if keys >= MAX_KEYS || bytes.saturating_add(value.len() as u64) > MAX_TOTAL_BYTES {
            return Ok(Err(Error::QuotaExceeded(format!(
                "installation holds {keys} keys and {bytes} bytes; limits are {MAX_KEYS} keys and {MAX_TOTAL_BYTES} bytes"
            ))));
        }
        Ok(ctx.store.kv_set(&ctx.project, &ctx.extension, &key, &value).await.map_err(unavailable))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, Error>> {
        let ctx = self.ctx()?;
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(ctx.store.kv_delete(&ctx.project, &ctx.extension, &key).await.map_err(unavailable))
    }

    async fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let ctx = self.ctx()?;
        if let Err(e) = check_key(&prefix) {
            return Ok(Err(e));
        }
        Ok(ctx.store.kv_list_keys(&ctx.project, &ctx.extension, &prefix, MAX_LIST).await.map_err(unavailable))
    }
}
