//! Arbitrary bytes as `extension.toml`: parsing never panics, and every
//! manifest that parses writes canonical TOML that parses back to it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use magflock_registry::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::from_toml_bytes(data) else {
        return;
    };
    let canonical = manifest.to_canonical_toml();
    let again = Manifest::from_toml_str(&canonical);
    assert_eq!(again.as_ref(), Ok(&manifest), "canonical TOML does not round-trip:\n{canonical}");
});
