//! Hostile package files: each is refused with the right code, before any
//! large allocation.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use magflock_registry::package::{MAX_COMPONENT_BYTES, MAX_PACKAGE_BYTES};
use magflock_registry::{Package, PackageError, sign_package};
use tar::{EntryType, Header};

/// One hand-made archive entry: raw name bytes, type, data, and the size the
/// header declares (which may differ from the data actually present).
struct Raw<'a> {
    name: &'a [u8],
    kind: EntryType,
    data: &'a [u8],
    declared: Option<u64>,
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw { name: name.as_bytes(), kind: EntryType::Regular, data, declared: None }
}

/// Writes a ustar archive with the same fixed metadata as `Package::to_bytes`.
fn raw_tar(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = Header::new_ustar();
        h.as_old_mut().name[..e.name.len()].copy_from_slice(e.name);
        h.set_entry_type(e.kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(e.declared.unwrap_or(e.data.len() as u64));
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn manifest() -> Vec<u8> {
    manifest_text("hello", "1.0.0", "Says hello").into_bytes()
}

fn refused(bytes: &[u8]) -> PackageError {
    Package::from_bytes(bytes).unwrap_err()
}

#[test]
fn hand_made_archive_equal_to_to_bytes_is_accepted() {
    let (m, c) = (manifest(), component(b"body"));
    let bytes = raw_tar(&[file("extension.toml", &m), file("component.wasm", &c)]);
    assert_eq!(bytes, Package::new(m, c).unwrap().to_bytes());
    assert!(Package::from_bytes(&bytes).is_ok());
}

#[test]
fn extra_entry_is_refused_as_unknown() {
    let (m, c) = (manifest(), component(b""));
    let bytes = raw_tar(&[file("extension.toml", &m), file("component.wasm", &c), file("README.md", b"hi")]);
    let err = refused(&bytes);
    assert_eq!(err.code(), "unknown_entry");
    assert!(err.to_string().contains("README.md"));
}

#[test]
fn symlink_directory_and_pax_entries_are_refused_as_not_regular() {
    let m = manifest();
    for kind in [
        EntryType::Symlink,
        EntryType::Link,
        EntryType::Directory,
        EntryType::XHeader,
        EntryType::GNULongName,
    ] {
        let bytes = raw_tar(&[
            file("extension.toml", &m),
            Raw { name: b"component.wasm", kind, data: b"", declared: None },
        ]);
        assert_eq!(refused(&bytes).code(), "not_regular_file", "{kind:?}");
    }
}

#[test]
fn parent_and_absolute_paths_are_refused_as_unsafe() {
    let m = manifest();
    for name in [&b"../extension.toml"[..], b"/extension.toml", b"a/../../x", b"..\\x"] {
        let bytes = raw_tar(&[Raw { name, kind: EntryType::Regular, data: &m, declared: None }]);
        assert_eq!(refused(&bytes).code(), "unsafe_path", "{name:?}");
    }
    // A symlink pointing out is refused by its path before its type is looked at.
    let bytes = raw_tar(&[Raw { name: b"../x", kind: EntryType::Symlink, data: b"", declared: None }]);
    assert_eq!(refused(&bytes).code(), "unsafe_path");
}

#[test]
fn oversized_declared_entry_is_refused_from_the_header_alone() {
    let m = manifest();
    // Declares a terabyte, carries nothing: refused before any read or allocation.
    let bytes = raw_tar(&[
        file("extension.toml", &m),
        Raw { name: b"component.wasm", kind: EntryType::Regular, data: b"", declared: Some(1 << 40) },
    ]);
    let err = refused(&bytes);
    assert_eq!(err.code(), "entry_too_large");
    assert!(matches!(err, PackageError::EntryTooLarge { size, .. } if size == 1 << 40));

    let bytes = raw_tar(&[Raw {
        name: b"extension.toml",
        kind: EntryType::Regular,
        data: b"",
        declared: Some(64 * 1024 + 1),
    }]);
    assert_eq!(refused(&bytes).code(), "entry_too_large");

    let bytes = raw_tar(&[
        file("extension.toml", &m),
        file("component.wasm", &component(b"")),
        Raw { name: b"signature.json", kind: EntryType::Regular, data: b"", declared: Some(16 * 1024 + 1) },
    ]);
    assert_eq!(refused(&bytes).code(), "entry_too_large");
}

#[test]
fn declared_size_within_cap_but_past_the_end_is_malformed() {
    let m = manifest();
    let bytes = raw_tar(&[
        file("extension.toml", &m),
        Raw {
            name: b"component.wasm",
            kind: EntryType::Regular,
            data: b"",
            declared: Some(MAX_COMPONENT_BYTES),
        },
    ]);
    assert_eq!(refused(&bytes).code(), "malformed_archive");
}

#[test]
fn package_over_the_total_cap_is_refused_before_parsing() {
    let bytes = vec![0u8; MAX_PACKAGE_BYTES + 1];
    assert_eq!(refused(&bytes).code(), "package_too_large");
}

#[test]
fn duplicate_misordered_and_missing_entries_are_refused() {
    let (m, c) = (manifest(), component(b""));
    let dup = raw_tar(&[file("extension.toml", &m), file("component.wasm", &c), file("extension.toml", &m)]);
    assert_eq!(refused(&dup).code(), "duplicate_entry");
    let order = raw_tar(&[file("component.wasm", &c), file("extension.toml", &m)]);
    assert_eq!(refused(&order).code(), "entry_order");
    let sig_early = raw_tar(&[file("extension.toml", &m), file("signature.json", b"{}")]);
    assert_eq!(refused(&sig_early).code(), "entry_order");
    let missing = raw_tar(&[file("extension.toml", &m)]);
    assert_eq!(refused(&missing).code(), "missing_entry");
    assert_eq!(refused(&raw_tar(&[])).code(), "missing_entry");
}

#[test]
fn bad_contents_are_refused_with_their_codes() {
    let (m, c) = (manifest(), component(b""));
    let core = b"\0asm\x01\x00\x00\x00".to_vec();
    let err = refused(&raw_tar(&[file("extension.toml", &m), file("component.wasm", &core)]));
    assert_eq!(err.code(), "core_module");
    assert_eq!(
        err.to_string(),
        "component.wasm is a core WebAssembly module, not a component; build for wasm32-wasip2, or link with wasm-component-ld"
    );
    let bad_manifest = raw_tar(&[file("extension.toml", b"name = 1"), file("component.wasm", &c)]);
    assert_eq!(refused(&bad_manifest).code(), "invalid_manifest");
    let not_utf8 = raw_tar(&[file("extension.toml", b"\xff"), file("component.wasm", &c)]);
    assert_eq!(refused(&not_utf8).code(), "invalid_manifest");
    let bad_sig = raw_tar(&[
        file("extension.toml", &m),
        file("component.wasm", &c),
        file("signature.json", br#"{"payloadType":"x"}"#),
    ]);
    assert_eq!(refused(&bad_sig).code(), "invalid_signature_file");
}

#[test]
fn broken_header_checksum_is_malformed() {
    let mut bytes = package("1.0.0", b"").to_bytes();
    bytes[0] ^= 0x01; // first byte of the first entry's name
    assert_eq!(refused(&bytes).code(), "malformed_archive");
}

#[test]
fn valid_but_non_canonical_archives_are_refused() {
    let p = package("1.0.0", b"");
    let canonical = p.to_bytes();

    // Different metadata with a correct checksum.
    let mut bytes = canonical.clone();
    let header = Header::from_byte_slice(&bytes[..512]);
    let mut h = header.clone();
    h.set_mtime(1);
    h.set_cksum();
    bytes[..512].copy_from_slice(h.as_bytes());
    assert_eq!(refused(&bytes).code(), "non_canonical");

    // Junk in the padding after the manifest data.
    let mut bytes = canonical.clone();
    bytes[512 + p.manifest_bytes().len()] = b'x';
    assert_eq!(refused(&bytes).code(), "non_canonical");

    // A missing end-of-archive block.
    let bytes = &canonical[..canonical.len() - 512];
    assert_eq!(refused(bytes).code(), "non_canonical");
}

#[test]
fn signed_package_survives_the_file_and_the_id_ignores_the_signature() {
    let mut p = package("1.0.0", b"body");
    let id = p.package_id();
    sign_package(&mut p, &key(1));
    let back = Package::from_bytes(&p.to_bytes()).unwrap();
    assert_eq!(back.package_id(), id);
    assert_eq!(back.signature(), p.signature());
    assert_eq!(id.len(), 64);
}
