//! The installation's configuration values (`wasi:config/store`, capability
//! `config`).

use crate::__bindings::wasi::config::store as wit;

/// Why configuration could not be read.
pub use wit::Error;

/// The value of configuration key `key`, if set.
pub fn get(key: &str) -> Result<Option<String>, Error> {
    wit::get(key)
}

/// Every configuration key and its value.
pub fn get_all() -> Result<Vec<(String, String)>, Error> {
    wit::get_all()
}
