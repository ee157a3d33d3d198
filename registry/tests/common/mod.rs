//! Helpers shared by the integration tests.
#![allow(dead_code)]

use magflock_registry::{Package, SigningKeyPair, TrustStore, sign_package};

/// The component-model preamble; only it matters to the package format.
pub const PREAMBLE: &[u8; 8] = b"\0asm\x0d\x00\x01\x00";

pub fn manifest_text(name: &str, version: &str, description: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"{version}\"\ndescription = \"{description}\"\n\
         host = \">=0.1, <0.2\"\n\n[capabilities]\nkv = true\n\n[[endpoints]]\npath = \"/*\"\n"
    )
}

pub fn component(body: &[u8]) -> Vec<u8> {
    let mut c = PREAMBLE.to_vec();
    c.extend_from_slice(body);
    c
}

pub fn package(version: &str, body: &[u8]) -> Package {
    Package::new(manifest_text("hello", version, "Says hello").into_bytes(), component(body)).unwrap()
}

pub fn key(seed: u8) -> SigningKeyPair {
    SigningKeyPair::from_seed(&[seed; 32]).unwrap()
}

pub fn trust(keys: &[&SigningKeyPair]) -> TrustStore {
    TrustStore::from_keys(keys.iter().map(|k| k.public_key().clone()))
}

pub fn signed(version: &str, body: &[u8], key: &SigningKeyPair) -> Package {
    let mut p = package(version, body);
    sign_package(&mut p, key);
    p
}
