//! How an invocation ended, and which violations it produced. Keeps "error
//! returned to the guest" (never here: the guest handles those) apart from
//! "the instance was stopped" (everything here).

use std::fmt;

/// Errors the host raises *as traps*, ending the guest's instance.
#[derive(Debug, thiserror::Error)]
pub enum HostTrap {
    /// The invocation's wall-clock deadline passed (epoch callback or the
    /// outer timeout around blocked host calls).
    #[error("deadline exceeded")]
    Deadline,
    /// A capability was used that this installation was not granted.
    #[error("capability `{0}` was not granted")]
    CapabilityDenied(String),
}

/// The outcome written to the usage record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    FuelExhausted,
    DeadlineExceeded,
    MemoryLimit,
    StackOverflow,
    Trap,
    CapabilityDenied,
    ConcurrencyLimit,
    ResponseTooLarge,
    /// The guest returned without producing a response.
    NoResponse,
    /// A hook or an event handler returned an error of its own (the guest
    /// ran to completion; not a violation).
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::FuelExhausted => "fuel_exhausted",
            Outcome::DeadlineExceeded => "deadline_exceeded",
            Outcome::MemoryLimit => "memory_limit",
            Outcome::StackOverflow => "stack_overflow",
            Outcome::Trap => "trap",
            Outcome::CapabilityDenied => "capability_denied",
            Outcome::ConcurrencyLimit => "concurrency_limit",
            Outcome::ResponseTooLarge => "response_too_large",
            Outcome::NoResponse => "no_response",
            Outcome::Refused => "refused",
        }
    }

    /// The HTTP status an app sees for this outcome.
    pub fn status(self) -> u16 {
        match self {
            Outcome::Ok => 200,
            Outcome::ConcurrencyLimit => 503,
            Outcome::DeadlineExceeded => 504,
            Outcome::ResponseTooLarge | Outcome::NoResponse => 502,
            _ => 500,
        }
    }

    /// Whether the usage record's outcome is also a violation.
    pub fn is_violation(self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::NoResponse | Outcome::Refused)
    }

    /// A sentence for the app, free of internals.
    pub fn message(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::FuelExhausted => "the extension used up its fuel budget for this call",
            Outcome::DeadlineExceeded => "the extension did not finish before its deadline",
            Outcome::MemoryLimit => "the extension reached its memory limit",
            Outcome::StackOverflow => "the extension overflowed its stack",
            Outcome::Trap => "the extension failed (trapped) while handling the request",
            Outcome::CapabilityDenied => "the extension used a capability it was not granted",
            Outcome::ConcurrencyLimit => "the extension is at its concurrency limit; retry shortly",
            Outcome::ResponseTooLarge => "the extension's response exceeded the size limit",
            Outcome::NoResponse => "the extension returned without a response",
            Outcome::Refused => "the extension returned an error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies the error that ended a guest call. `memory_refused` says
/// whether the limiter refused a growth during the call: a Rust guest whose
/// allocation fails aborts with a plain `unreachable`, which is the memory
/// limit's doing, not a bug of its own.
pub fn classify(err: &wasmtime::Error, memory_refused: bool) -> Outcome {
    if let Some(t) = err.downcast_ref::<HostTrap>() {
        return match t {
            HostTrap::Deadline => Outcome::DeadlineExceeded,
            HostTrap::CapabilityDenied(_) => Outcome::CapabilityDenied,
        };
    }
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => Outcome::FuelExhausted,
        Some(wasmtime::Trap::StackOverflow) => Outcome::StackOverflow,
        Some(wasmtime::Trap::Interrupt) => Outcome::DeadlineExceeded,
        _ if memory_refused => Outcome::MemoryLimit,
        _ => Outcome::Trap,
    }
}
