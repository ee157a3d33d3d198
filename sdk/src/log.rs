//! Log messages to the host (`wasi:logging/logging`, capability `logging`).
//!
//! The host tags every message with the installation it came from.

use crate::__bindings::wasi::logging::logging as wit;

/// How severe a message is.
pub use wit::Level;

/// Log `message` at `level`, with `context` grouping related messages.
pub fn log(level: Level, context: &str, message: &str) {
    wit::log(level, context, message);
}

/// Log a message about the flow of control.
pub fn trace(message: &str) {
    log(Level::Trace, "", message);
}

/// Log a message for someone debugging the extension.
pub fn debug(message: &str) {
    log(Level::Debug, "", message);
}

/// Log a message for someone running the extension.
pub fn info(message: &str) {
    log(Level::Info, "", message);
}

/// Log a hazardous situation.
pub fn warn(message: &str) {
    log(Level::Warn, "", message);
}

/// Log an error.
pub fn error(message: &str) {
    log(Level::Error, "", message);
}
