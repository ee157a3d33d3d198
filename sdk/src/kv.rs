//! The installation's key-value store (`magflock:ext/kv`, capability `kv`).
//!
//! Keys are scoped to one installation: an extension sees only its own keys.

use crate::__bindings::magflock::ext::kv as wit;

/// Why a key-value call failed; the message is safe to show to users.
pub use wit::Error;

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    wit::get(key)
}

/// Store `value` under `key`, replacing any previous value.
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
    wit::set(key, value.as_ref())
}

/// Remove `key`; returns whether it existed.
pub fn delete(key: &str) -> Result<bool, Error> {
    wit::delete(key)
}

/// Keys starting with `prefix`, in byte order, at most 1000 of them.
pub fn list_keys(prefix: &str) -> Result<Vec<String>, Error> {
    wit::list_keys(prefix)
}
