//! Arbitrary bytes as a package file: parsing never panics, and whatever
//! parses re-encodes to the same package, verifies or fails cleanly against a
//! fixed trust store, and holds a manifest whose canonical TOML round-trips.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use magflock_registry::{Manifest, Package, SigningKeyPair, TrustStore, verify_package};

/// One trusted key, the one that signed the seed packages in `corpus/package`.
fn trust() -> &'static TrustStore {
    static TRUST: OnceLock<TrustStore> = OnceLock::new();
    TRUST.get_or_init(|| {
        let key = SigningKeyPair::from_seed(&[7u8; 32]).expect("fixed seed is a valid key");
        TrustStore::from_keys([key.public_key().clone()])
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(pkg) = Package::from_bytes(data) else {
        return;
    };

    // A parsed package is canonical: it re-encodes to the input, and parses back.
    let bytes = pkg.to_bytes();
    assert_eq!(bytes, data, "parsed package does not re-encode to its input");
    assert_eq!(Package::from_bytes(&bytes).as_ref(), Ok(&pkg));
    let _ = pkg.package_id();

    if let Ok(statement) = verify_package(&pkg, trust()) {
        assert_eq!(statement.name, pkg.manifest().name().to_string());
        assert_eq!(&statement.version, pkg.manifest().version());
        assert_eq!(statement.manifest_sha256, pkg.manifest_sha256());
        assert_eq!(statement.component_sha256, pkg.component_sha256());
    }

    let manifest = Manifest::from_toml_bytes(pkg.manifest_bytes())
        .expect("the manifest of a parsed package parses on its own");
    assert_eq!(&manifest, pkg.manifest());
    let canonical = manifest.to_canonical_toml();
    let again = Manifest::from_toml_str(&canonical);
    assert_eq!(again.as_ref(), Ok(&manifest), "canonical TOML does not round-trip:\n{canonical}");
});
