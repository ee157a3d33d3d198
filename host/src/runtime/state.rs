//! The data of one invocation's `Store`: WASI contexts, the resource table,
//! the memory limiter, the meter and the capabilities this installation was
//! granted. A new one is built for every call and dropped after it.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::limits::{AggregateLimiter, Meter};
use crate::capabilities::Grants;

/// Header fields a guest may create per invocation, in bytes of wasmtime's
/// in-memory representation. Guest-supplied: capped like any other input.
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Store data for one invocation.
pub struct InvocationState {
    /// Built on the guest's first WASI call: a component that imports no
    /// WASI interface (first-party extensions, decision 015) never pays for
    /// one (its clocks, stdio and a random generator seeded from the OS).
    wasi: Option<WasiCtx>,
    http: WasiHttpCtx,
    hooks: DenyOutbound,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: AggregateLimiter,
    pub(crate) meter: Arc<Meter>,
    pub(crate) grants: Arc<Grants>,
    /// Log lines the guest may still emit in this invocation.
    pub(crate) log_budget: u32,
    /// When the invocation's wall-clock deadline passes: host calls that
    /// wait (database statements) are cut by then.
    pub(crate) deadline: Instant,
    /// The hop and request id of the events this invocation publishes.
    pub(crate) events: crate::capabilities::events::EventsState,
    /// Keeps the epoch advancing while this store lives.
    _ticking: crate::engine::Ticking,
}

impl InvocationState {
    pub fn new(
        grants: Arc<Grants>,
        memory_limit: u64,
        meter: Arc<Meter>,
        deadline: Instant,
        ticking: crate::engine::Ticking,
    ) -> Self {
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELD_BYTES);
        Self {
            wasi: None,
            http,
            hooks: DenyOutbound,
            table: ResourceTable::new(),
            limiter: AggregateLimiter::new(memory_limit, meter.clone()),
            meter,
            grants,
            log_budget: crate::capabilities::logging::MAX_LINES_PER_INVOCATION,
            deadline,
            events: Default::default(),
            _ticking: ticking,
        }
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // No preopened directories, no environment, no arguments, no network:
        // the base WASI context gives a language runtime clocks, randomness
        // and empty stdio, nothing that reaches the host.
        let ctx = self.wasi.get_or_insert_with(|| WasiCtx::builder().build());
        WasiCtxView { ctx, table: &mut self.table }
    }
}

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// Outbound HTTP is not a capability yet: `wasi:http/outgoing-handler` is
/// never linked, and should a request reach this hook anyway it is denied.
struct DenyOutbound;

impl WasiHttpHooks for DenyOutbound {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
