//! Capability `logging`: `wasi:logging/logging`. Guest lines become host log
//! events tagged with project, extension and version, capped in size and
//! count so a guest cannot flood the host's logs.

use wasmtime::component::{HasData, Linker};

use crate::capabilities::Grants;
use crate::runtime::bindings::logging::{self, Level};
use crate::runtime::limits::Meter;
use crate::runtime::state::InvocationState;

/// Log lines one invocation may emit; later ones are dropped and counted.
pub const MAX_LINES_PER_INVOCATION: u32 = 100;
/// Longest message kept, in bytes; longer ones are truncated.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest context kept, in bytes.
pub const MAX_CONTEXT_BYTES: usize = 128;

pub struct LoggingView<'a> {
    grants: &'a Grants,
    meter: &'a Meter,
    budget: &'a mut u32,
}

struct HasLogging;
impl HasData for HasLogging {
    type Data<'a> = LoggingView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    logging::add_to_linker::<InvocationState, HasLogging>(linker, |s| LoggingView {
        grants: &s.grants,
        meter: &s.meter,
        budget: &mut s.log_budget,
    })
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl logging::Host for LoggingView<'_> {
    fn log(&mut self, level: Level, context: String, message: String) -> wasmtime::Result<()> {
        self.meter.host_call();
        if *self.budget == 0 {
            return Ok(());
        }
        *self.budget -= 1;
        let g = self.grants;
        let context = truncate(&context, MAX_CONTEXT_BYTES);
        let message = truncate(&message, MAX_MESSAGE_BYTES);
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(target: "extension", project = %g.project, extension = %g.extension,
                    version = %g.version, context, "{message}")
            };
        }
        match level {
            Level::Trace => emit!(trace),
            Level::Debug => emit!(debug),
            Level::Info => emit!(info),
            Level::Warn => emit!(warn),
            Level::Error | Level::Critical => emit!(error),
        }
        Ok(())
    }
}
