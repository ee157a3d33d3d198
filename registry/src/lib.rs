//! MagFlock package format: manifest, package file, DSSE signatures, keys.
//!
//! - [`manifest`]: `extension.toml`, strict TOML (unknown fields refused) that
//!   names the extension, its version, the host API range it supports, the
//!   capabilities it asks for, its resource limits and its HTTP endpoints.
//! - [`package`]: the `.mfpkg` file, an uncompressed ustar archive with exactly
//!   `extension.toml`, `component.wasm` (a WebAssembly *component*) and optionally
//!   `signature.json`, in that order and in one canonical byte form.
//! - [`signing`]: `signature.json` is a DSSE envelope whose payload is a statement
//!   naming the extension, its version and the sha256 of the manifest and of the
//!   component; ed25519 over the DSSE PAE, verified with `verify_strict`.
//! - [`keys`]: publisher key files and the [`TrustStore`] a verifier consults.
//!
//! Everything read here is treated as hostile: each input has a named size cap,
//! checked before it is parsed, and every error has a stable machine code.

pub mod keys;
pub mod manifest;
pub mod package;
pub mod signing;

pub use keys::{KeyError, PublicKey, SecretKey, SigningKeyPair, TrustStore};
pub use manifest::{
    Capability, Conflict, DatabaseAccess, DatabaseGrant, DatabaseTables, Dependency, Endpoint, EventsGrant,
    ExtensionName, MAX_TOPIC_LEN, MAX_TOPICS, Manifest, ManifestError, Method, Resources, is_valid_topic,
};
pub use package::{Package, PackageError};
pub use signing::{
    Envelope, EnvelopeSignature, SignatureError, VerifiedStatement, sign_package, verify_package,
};
