//! Byte flips on a valid signed package: the input is a list of mutations, each
//! three bytes (a little-endian u16 offset, taken modulo the package length,
//! then a byte XORed in there; a trailing partial mutation is ignored). A
//! package whose bytes changed must fail to parse or fail to verify; one whose
//! bytes did not change (no mutations, zero XORs, or flips that cancel out)
//! must still verify.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use magflock_registry::{Package, SigningKeyPair, TrustStore, sign_package, verify_package};

const MANIFEST: &str = r#"name = "todo-list"
version = "2.3.4-beta.1+build.7"
description = "A small to-do list with a key-value store"
host = ">=0.1, <0.3"
authors = ["Ada Lovelace <ada@example.org>"]
license = "Apache-2.0 OR MIT"
keywords = ["demo", "kv"]

[capabilities]
logging = true
kv = true

[resources]
fuel = 50_000_000
memory = "512KiB"

[config]
greeting = "hello"

[[endpoints]]
path = "/todos/*"
methods = ["GET", "POST"]

[[endpoints]]
path = "/*"
"#;

struct Fixture {
    bytes: Vec<u8>,
    trust: TrustStore,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = SigningKeyPair::from_seed(&[7u8; 32]).expect("fixed seed is a valid key");
        let mut component = b"\0asm\x0d\x00\x01\x00".to_vec();
        component.extend_from_slice(b"\x01\x04demo\x00\x00\x00\x00 a small component body");
        let mut pkg =
            Package::new(MANIFEST.as_bytes().to_vec(), component).expect("fixture package is valid");
        sign_package(&mut pkg, &key);
        let trust = TrustStore::from_keys([key.public_key().clone()]);
        let bytes = pkg.to_bytes();
        let parsed = Package::from_bytes(&bytes).expect("fixture package parses");
        verify_package(&parsed, &trust).expect("fixture package verifies");
        Fixture { bytes, trust }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let mut bytes = fixture.bytes.clone();
    for m in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([m[0], m[1]])) % bytes.len();
        bytes[at] ^= m[2];
    }

    let verified = Package::from_bytes(&bytes).map(|p| verify_package(&p, &fixture.trust));
    if bytes == fixture.bytes {
        assert!(
            matches!(verified, Ok(Ok(_))),
            "the unchanged signed package no longer verifies: {verified:?}"
        );
    } else if let Ok(Ok(statement)) = verified {
        let changed: Vec<(usize, u8, u8)> = (0..bytes.len())
            .filter(|&i| bytes[i] != fixture.bytes[i])
            .map(|i| (i, fixture.bytes[i], bytes[i]))
            .collect();
        panic!("a changed package verified: {statement:?}; changed bytes (offset, was, now): {changed:?}");
    }
});
