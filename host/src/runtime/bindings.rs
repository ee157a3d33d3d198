//! Host bindings for the `magflock:ext/extension` world, generated once from
//! the root `wit/`. Standard WASI interfaces map onto wasmtime-wasi's and
//! wasmtime-wasi-http's implementations; only our own interfaces and the
//! draft WASI ones we implement (logging, config) are generated here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "magflock:ext/extension",
    imports: {
        // Key-value calls reach the control-plane store: async. A `trappable`
        // import returns `wasmtime::Result<..>`: `Err` ends the instance
        // (host failure or guest abuse), `Ok(Err(..))` is an error the guest
        // sees and may handle.
        "magflock:ext/kv": async | trappable,
        // Database calls wait on the project database: async.
        "magflock:ext/database": async | trappable,
        // Publishing writes the event to the control-plane store: async.
        "magflock:ext/events": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use exports::magflock::ext::event_handler;
pub use exports::magflock::ext::lifecycle;
pub use exports::magflock::ext::upgrade;
pub use magflock::ext::database;
pub use magflock::ext::events;
pub use magflock::ext::kv;
pub use wasi::config::store as config;
pub use wasi::logging::logging;
