//! The base WASI interfaces every component gets, and the import check that
//! refuses a component importing anything else it was not granted.

use std::collections::BTreeSet;

use magflock_registry::Capability;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings as p2;
use wasmtime_wasi::random::WasiRandom;

use crate::runtime::state::InvocationState;

/// Interfaces a language runtime needs and that reach nothing of the host:
/// clocks, randomness, empty stdio and environment, a filesystem with no
/// preopened directory, and the `wasi:http` types the handler is built on.
/// Sockets are deliberately absent.
pub const BASE_INTERFACES: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:http/types",
];

struct HasIo;
impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds the [`BASE_INTERFACES`] to `linker`.
pub fn add_base_to_linker(l: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    type T = InvocationState;
    p2::io::error::add_to_linker::<T, HasIo>(l, |t| &mut t.table)?;
    p2::io::poll::add_to_linker::<T, HasIo>(l, |t| &mut t.table)?;
    p2::io::streams::add_to_linker::<T, HasIo>(l, |t| &mut t.table)?;
    p2::clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    p2::clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    p2::random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    p2::random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    p2::random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    p2::cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    p2::filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    let options = wasmtime_wasi_http::p2::bindings::LinkOptions::default();
    wasmtime_wasi_http::p2::bindings::http::types::add_to_linker::<T, wasmtime_wasi_http::WasiHttp>(
        l,
        &options.into(),
        wasmtime_wasi_http::WasiHttpView::http,
    )?;
    Ok(())
}

/// Why a component's imports are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("imports `{import}`, but its manifest does not declare capability `{capability}`")]
    Undeclared { import: String, capability: &'static str },
    #[error("imports `{import}`, which MagFlock does not provide to extensions")]
    Unknown { import: String },
}

/// The capability whose interface this is, if any.
pub fn capability_of(interface: &str) -> Option<Capability> {
    Capability::ALL.into_iter().find(|c| c.wit_interface() == interface)
}

/// Drops the `@version` of an import name: `wasi:io/poll@0.2.6` → `wasi:io/poll`.
fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// Checks every import of `component` against the base interfaces and the
/// capabilities the manifest declares. Returns the capabilities the
/// component actually imports (a subset of the declared ones).
pub fn check_imports(
    engine: &wasmtime::Engine,
    component: &Component,
    declared: &BTreeSet<Capability>,
) -> Result<BTreeSet<Capability>, ImportError> {
    let mut used = BTreeSet::new();
    for (name, _) in component.component_type().imports(engine) {
        let iface = unversioned(name);
        if BASE_INTERFACES.contains(&iface) {
            continue;
        }
        match capability_of(iface) {
            Some(cap) if declared.contains(&cap) => {
                used.insert(cap);
            }
            Some(cap) => {
                return Err(ImportError::Undeclared { import: name.to_owned(), capability: cap.as_str() });
            }
            None => return Err(ImportError::Unknown { import: name.to_owned() }),
        }
    }
    Ok(used)
}
