//! Write MagFlock extensions in Rust.
//!
//! An extension is a struct, an [`Extension`] impl and one [`export!`] call:
//!
//! ```ignore
//! use magflock_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl Extension for Hello {
//!     fn handle(req: Request) -> Response {
//!         Response::text(200, format!("hello from {}", req.path()))
//!     }
//! }
//!
//! magflock_sdk::export!(Hello);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-unknown-unknown`, linked by
//! `wasm-component-ld` (the linker rustc ships for `wasm32-wasip2`), which
//! turns the module into a component targeting the world
//! `magflock:ext/extension`. In the extension's `.cargo/config.toml`:
//!
//! ```toml
//! [target.wasm32-unknown-unknown]
//! linker = "wasm-component-ld"
//! ```
//!
//! then `cargo build --release --target wasm32-unknown-unknown`. Add
//! `rustflags = ["-C", "link-arg=--initial-memory=2097152"]` there too: the
//! SDK's allocator (feature `allocator`, on by default) then serves a
//! request's allocations from the instance's initial memory, and a typical
//! call never grows its memory (see [`alloc`](crate#the-allocator)). Without
//! WASI's libc the component imports only what its code calls, which makes
//! every instance cheaper to create (decision 015). Code that needs WASI
//! (`std::time`, `std::env`, files) builds with `--target wasm32-wasip2`
//! instead; the host links the base WASI interfaces for it.
//!
//! A component imports only the interfaces its code calls: an extension that
//! never calls [`kv`] does not import `magflock:ext/kv`, so its manifest need
//! not declare the `kv` capability. The same holds for [`config`], [`database`],
//! [`events`] and [`log`].

//! # The allocator
//!
//! Every call gets a fresh instance, so the first allocation of every call
//! used to grow linear memory, and the host had to change page protections
//! twice per call (shrink the pooled slot back at instantiation, grow it
//! again). For `wasm32-unknown-unknown` builds the SDK installs `dlmalloc`
//! as the global allocator, which takes the free part of the initial memory
//! (from `__heap_base` to `__heap_end`) as its first segment and grows
//! memory only once that is used up. Rust's own allocator for this target
//! ignores that space. `wasm32-wasip2` builds keep WASI libc's allocator,
//! which already uses it.

// The bindings are generated into this crate and the export macro expands in
// the extension's crate; both name this crate by its absolute path.
extern crate self as magflock_sdk;

pub mod config;
pub mod database;
pub mod events;
mod http;
pub mod kv;
pub mod log;

pub use http::{MAX_REQUEST_BODY_BYTES, Request, Response};

#[cfg(all(feature = "allocator", target_arch = "wasm32", target_os = "unknown"))]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Everything an extension usually needs: `use magflock_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{Extension, Request, Response, config, database, events, kv, log};
}

/// Bindings for the world `magflock:ext/extension`, generated from `wit/`.
/// Not a stable API: use the wrappers in this crate.
#[doc(hidden)]
#[allow(unsafe_code, clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "magflock:ext/extension",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_extension_world",
        default_bindings_module: "::magflock_sdk::__bindings",
        runtime_path: "::magflock_sdk::__private::wit_bindgen::rt",
    });
}

/// An extension: the host calls [`Extension::handle`] for every HTTP request
/// routed to the installation, and the lifecycle hooks around its life.
///
/// Every call runs in a fresh instance, so state kept in memory does not
/// outlive the call; keep it in [`kv`]. A hook that returns `Err` reports the
/// message to the host (for `on_install` it aborts the install).
pub trait Extension {
    /// Answer one HTTP request.
    fn handle(req: Request) -> Response;

    /// Runs once when the extension is installed into a project, before it
    /// serves any request.
    fn on_install() -> Result<(), String> {
        Ok(())
    }

    /// Runs once when the extension is being uninstalled, before its data is
    /// removed.
    fn on_uninstall() -> Result<(), String> {
        Ok(())
    }

    /// Runs each time a host starts serving the installation.
    fn on_start() -> Result<(), String> {
        Ok(())
    }

    /// Runs when a host stops serving the installation (best effort).
    fn on_stop() -> Result<(), String> {
        Ok(())
    }

    /// Called on a new version before it replaces `from_version` (the one
    /// installed). An error aborts the upgrade; the installed version keeps
    /// serving.
    fn on_upgrade(from_version: &str) -> Result<(), String> {
        let _ = from_version;
        Ok(())
    }

    /// Handles one event of a topic the manifest subscribes to. `Ok`
    /// acknowledges it; an error makes the host deliver it again later (up
    /// to its retry limit). Delivery is at least once: key side effects on
    /// [`events::Event::id`].
    fn on_event(event: events::Event) -> Result<(), String> {
        let _ = event;
        Ok(())
    }
}

/// Export a type implementing [`Extension`] as the component's
/// `wasi:http/incoming-handler`, `magflock:ext/lifecycle`, `upgrade` and
/// `event-handler`. Use it once, at the crate root of a `cdylib`.
#[macro_export]
macro_rules! export {
    ($ty:ty) => {
        const _: () = {
            type __MagflockExtension = $crate::__private::Adapter<$ty>;
            $crate::__bindings::__export_extension_world!(
                __MagflockExtension with_types_in $crate::__bindings
            );
        };
    };
}

/// Glue used by [`export!`]. Not a stable API.
#[doc(hidden)]
pub mod __private {
    use core::marker::PhantomData;

    use crate::__bindings::exports::magflock::ext::{event_handler, lifecycle, upgrade};
    use crate::__bindings::exports::wasi::http::incoming_handler;
    use crate::__bindings::wasi::http::types::{IncomingRequest, ResponseOutparam};
    use crate::Extension;

    pub use wit_bindgen;

    /// Implements the generated export traits for any [`Extension`].
    pub struct Adapter<T>(PhantomData<T>);

    impl<T: Extension> incoming_handler::Guest for Adapter<T> {
        fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
            crate::http::serve(request, response_out, T::handle);
        }
    }

    impl<T: Extension> lifecycle::Guest for Adapter<T> {
        fn on_install() -> Result<(), String> {
            T::on_install()
        }

        fn on_uninstall() -> Result<(), String> {
            T::on_uninstall()
        }

        fn on_start() -> Result<(), String> {
            T::on_start()
        }

        fn on_stop() -> Result<(), String> {
            T::on_stop()
        }
    }

    impl<T: Extension> upgrade::Guest for Adapter<T> {
        fn on_upgrade(from_version: String) -> Result<(), String> {
            T::on_upgrade(&from_version)
        }
    }

    impl<T: Extension> event_handler::Guest for Adapter<T> {
        fn on_event(event: event_handler::Event) -> Result<(), String> {
            T::on_event(event)
        }
    }
}
