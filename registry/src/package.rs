//! The package file (`.mfpkg`): an uncompressed ustar archive holding, in this
//! order, `extension.toml`, `component.wasm` and optionally `signature.json`.
//!
//! A package has exactly one byte form: [`Package::to_bytes`] writes fixed
//! metadata (mtime 0, mode 0644, uid/gid 0, no user or group names), and
//! [`Package::from_bytes`] refuses any archive that does not re-encode to the
//! bytes it was given. Every byte of a package is therefore either content
//! covered by the signature or fixed framing.

use std::borrow::Cow;

use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use crate::manifest::{MAX_MANIFEST_BYTES, Manifest, ManifestError, quote};
use crate::signing::Envelope;

/// Archive entry holding the manifest.
pub const MANIFEST_ENTRY: &str = "extension.toml";
/// Archive entry holding the WebAssembly component.
pub const COMPONENT_ENTRY: &str = "component.wasm";
/// Archive entry holding the DSSE envelope.
pub const SIGNATURE_ENTRY: &str = "signature.json";

/// Largest accepted `component.wasm` (hostile input; checked from the header,
/// before any data is read).
pub const MAX_COMPONENT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest accepted `signature.json` (hostile input; one envelope is < 1 KiB).
pub const MAX_SIGNATURE_BYTES: u64 = 16 * 1024;
/// Largest accepted package file (hostile input; checked before parsing).
pub const MAX_PACKAGE_BYTES: usize = 80 * 1024 * 1024;

/// Component-model binary preamble: magic, then version 0x0d and layer 1.
const COMPONENT_PREAMBLE: [u8; 8] = *b"\0asm\x0d\x00\x01\x00";
/// Core module preamble: magic, then version 1 and layer 0.
const CORE_MODULE_PREAMBLE: [u8; 8] = *b"\0asm\x01\x00\x00\x00";

const BLOCK: usize = 512;
const ENTRY_MODE: u32 = 0o644;

/// Where each entry must appear, with its size cap.
const ENTRIES: [(&str, u64); 3] = [
    (MANIFEST_ENTRY, MAX_MANIFEST_BYTES as u64),
    (COMPONENT_ENTRY, MAX_COMPONENT_BYTES),
    (SIGNATURE_ENTRY, MAX_SIGNATURE_BYTES),
];

/// Why a package file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("package is {len} bytes, above the limit of {MAX_PACKAGE_BYTES} bytes")]
    TooLarge { len: usize },
    #[error("package is not a valid tar archive: {reason}")]
    MalformedArchive { reason: String },
    #[error("package entry {path} has an absolute or parent-relative path")]
    UnsafePath { path: String },
    #[error("package entry {path} is a {kind}, not a regular file")]
    NotRegularFile { path: String, kind: String },
    #[error("package entry {path} is not allowed (only extension.toml, component.wasm, signature.json)")]
    UnknownEntry { path: String },
    #[error("package entry {name} appears more than once")]
    DuplicateEntry { name: &'static str },
    #[error(
        "package entry {name} is at position {position}; the order is extension.toml, component.wasm, signature.json"
    )]
    EntryOrder { name: &'static str, position: usize },
    #[error("package entry {name} declares {size} bytes, above the limit of {max} bytes")]
    EntryTooLarge { name: &'static str, size: u64, max: u64 },
    #[error("package has no {name}")]
    MissingEntry { name: &'static str },
    #[error("package extension.toml is invalid: {0}")]
    Manifest(#[from] ManifestError),
    #[error(
        "component.wasm is a core WebAssembly module, not a component; build for wasm32-wasip2, or link with wasm-component-ld"
    )]
    CoreModule,
    #[error("component.wasm is not a WebAssembly component (bad preamble)")]
    NotComponent,
    #[error("package signature.json is not a valid envelope: {reason}")]
    InvalidSignatureFile { reason: String },
    #[error("package is not in canonical form (metadata, padding or trailing bytes differ)")]
    NonCanonical,
}

impl PackageError {
    /// A stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            PackageError::TooLarge { .. } => "package_too_large",
            PackageError::MalformedArchive { .. } => "malformed_archive",
            PackageError::UnsafePath { .. } => "unsafe_path",
            PackageError::NotRegularFile { .. } => "not_regular_file",
            PackageError::UnknownEntry { .. } => "unknown_entry",
            PackageError::DuplicateEntry { .. } => "duplicate_entry",
            PackageError::EntryOrder { .. } => "entry_order",
            PackageError::EntryTooLarge { .. } => "entry_too_large",
            PackageError::MissingEntry { .. } => "missing_entry",
            PackageError::Manifest(_) => "invalid_manifest",
            PackageError::CoreModule => "core_module",
            PackageError::NotComponent => "not_a_component",
            PackageError::InvalidSignatureFile { .. } => "invalid_signature_file",
            PackageError::NonCanonical => "non_canonical",
        }
    }
}

fn malformed(reason: impl std::fmt::Display) -> PackageError {
    PackageError::MalformedArchive { reason: reason.to_string() }
}

/// A parsed package. The manifest always matches `manifest_bytes`, and the
/// component always has the component-model preamble. The signature is
/// untrusted until [`crate::verify_package`] accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    manifest_bytes: Vec<u8>,
    manifest: Manifest,
    component: Vec<u8>,
    signature: Option<Envelope>,
}

impl Package {
    /// An unsigned package from manifest bytes and a component.
    pub fn new(manifest_bytes: Vec<u8>, component: Vec<u8>) -> Result<Package, PackageError> {
        check_size(MANIFEST_ENTRY, manifest_bytes.len() as u64, MAX_MANIFEST_BYTES as u64)?;
        check_size(COMPONENT_ENTRY, component.len() as u64, MAX_COMPONENT_BYTES)?;
        let manifest = Manifest::from_toml_bytes(&manifest_bytes)?;
        check_component(&component)?;
        Ok(Package { manifest_bytes, manifest, component, signature: None })
    }

    /// Parses a package file. The total size is checked first and each entry's
    /// declared size against its cap and against the input before it is copied,
    /// so a hostile archive cannot make this allocate more than a small multiple
    /// of its own (capped) length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Package, PackageError> {
        if bytes.len() > MAX_PACKAGE_BYTES {
            return Err(PackageError::TooLarge { len: bytes.len() });
        }
        let [manifest_bytes, component, signature] = read_entries(bytes)?;
        let manifest_bytes = manifest_bytes.ok_or(PackageError::MissingEntry { name: MANIFEST_ENTRY })?;
        let component = component.ok_or(PackageError::MissingEntry { name: COMPONENT_ENTRY })?;
        let mut package = Package::new(manifest_bytes, component)?;
        if let Some(json) = signature {
            let envelope = Envelope::from_json(&json)
                .map_err(|e| PackageError::InvalidSignatureFile { reason: e.to_string() })?;
            package.signature = Some(envelope);
        }
        if package.to_bytes() != bytes {
            return Err(PackageError::NonCanonical);
        }
        Ok(package)
    }

    /// The package file, deterministic: the same contents give the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.archive(true)
    }

    fn archive(&self, with_signature: bool) -> Vec<u8> {
        let signature = match (&self.signature, with_signature) {
            (Some(envelope), true) => Some(envelope.to_json()),
            _ => None,
        };
        let mut entries: Vec<(&str, &[u8])> =
            vec![(MANIFEST_ENTRY, &self.manifest_bytes), (COMPONENT_ENTRY, &self.component)];
        if let Some(json) = &signature {
            entries.push((SIGNATURE_ENTRY, json));
        }
        let total: usize =
            entries.iter().map(|(_, data)| BLOCK + data.len().div_ceil(BLOCK) * BLOCK).sum::<usize>()
                + 2 * BLOCK;
        let mut out = Vec::with_capacity(total);
        for (name, data) in entries {
            out.extend_from_slice(entry_header(name, data.len() as u64).as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        // End of archive: two zero blocks.
        out.resize(out.len() + 2 * BLOCK, 0);
        out
    }

    /// The package id: sha256 hex of the canonical *unsigned* package bytes, so
    /// signing (or re-signing) does not change it.
    pub fn package_id(&self) -> String {
        hex::encode(Sha256::digest(self.archive(false)))
    }

    /// sha256 hex of `extension.toml` as stored.
    pub fn manifest_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.manifest_bytes))
    }

    /// sha256 hex of `component.wasm`.
    pub fn component_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.component))
    }

    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn component(&self) -> &[u8] {
        &self.component
    }

    pub fn signature(&self) -> Option<&Envelope> {
        self.signature.as_ref()
    }

    /// Replaces the signature envelope (see [`crate::sign_package`]).
    pub fn set_signature(&mut self, signature: Option<Envelope>) {
        self.signature = signature;
    }
}

fn check_size(name: &'static str, size: u64, max: u64) -> Result<(), PackageError> {
    if size > max {
        return Err(PackageError::EntryTooLarge { name, size, max });
    }
    Ok(())
}

fn check_component(component: &[u8]) -> Result<(), PackageError> {
    match component.get(..8) {
        Some(p) if p == COMPONENT_PREAMBLE => Ok(()),
        Some(p) if p == CORE_MODULE_PREAMBLE => Err(PackageError::CoreModule),
        _ => Err(PackageError::NotComponent),
    }
}

/// A ustar header with the fixed metadata of a package entry.
fn entry_header(name: &str, size: u64) -> Header {
    let mut header = Header::new_ustar();
    let field = &mut header.as_old_mut().name;
    // Entry names are the three constants above, all far shorter than the field.
    let n = name.len().min(field.len());
    field[..n].copy_from_slice(&name.as_bytes()[..n]);
    header.set_entry_type(EntryType::Regular);
    header.set_mode(ENTRY_MODE);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header.set_cksum();
    header
}

/// Hostile entry path for an error message.
fn show_path(path: &[u8]) -> String {
    quote(&String::from_utf8_lossy(path))
}

fn check_path(path: &[u8]) -> Result<(), PackageError> {
    let unsafe_path = path.is_empty()
        || path.starts_with(b"/")
        || path.contains(&b'\\')
        || path.contains(&0)
        || path.split(|b| *b == b'/').any(|c| c == b"..");
    if unsafe_path {
        return Err(PackageError::UnsafePath { path: show_path(path) });
    }
    Ok(())
}

fn kind_name(kind: EntryType) -> String {
    match kind {
        EntryType::Symlink => "symbolic link".to_owned(),
        EntryType::Link => "hard link".to_owned(),
        EntryType::Directory => "directory".to_owned(),
        EntryType::Char | EntryType::Block => "device".to_owned(),
        EntryType::Fifo => "fifo".to_owned(),
        EntryType::XHeader | EntryType::XGlobalHeader => "pax extension header".to_owned(),
        EntryType::GNULongName | EntryType::GNULongLink => "GNU long-name header".to_owned(),
        other => format!("special entry (type {:?})", char::from(other.as_byte())),
    }
}

/// Walks the archive headers and copies out the three known entries, refusing
/// anything else. Headers are read raw: pax and GNU extension headers are
/// refused as non-regular entries, never interpreted.
fn read_entries(bytes: &[u8]) -> Result<[Option<Vec<u8>>; 3], PackageError> {
    let mut found: [Option<Vec<u8>>; 3] = [None, None, None];
    let mut archive = tar::Archive::new(bytes);
    let entries = archive.entries().map_err(malformed)?.raw(true);
    for (position, entry) in entries.enumerate() {
        let entry = entry.map_err(malformed)?;
        let header = entry.header();
        let path: Cow<'_, [u8]> = header.path_bytes();
        check_path(&path)?;
        let kind = header.entry_type();
        if kind != EntryType::Regular {
            return Err(PackageError::NotRegularFile { path: show_path(&path), kind: kind_name(kind) });
        }
        let Some(slot) = ENTRIES.iter().position(|(n, _)| n.as_bytes() == &*path) else {
            return Err(PackageError::UnknownEntry { path: show_path(&path) });
        };
        let (name, max) = ENTRIES[slot];
        if found[slot].is_some() {
            return Err(PackageError::DuplicateEntry { name });
        }
        if slot != position {
            return Err(PackageError::EntryOrder { name, position: position + 1 });
        }
        let size = header.entry_size().map_err(malformed)?;
        check_size(name, size, max)?;
        // The declared size is within its cap; it must also lie within the input.
        let start = usize::try_from(entry.raw_file_position()).map_err(malformed)?;
        let len = usize::try_from(size).map_err(malformed)?;
        let data = start
            .checked_add(len)
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| malformed(format!("{name} extends past the end of the package")))?;
        found[slot] = Some(data.to_vec());
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MANIFEST: &str = "name = \"hello\"\nversion = \"1.0.0\"\ndescription = \"Says hello\"\nhost = \">=0.1, <0.2\"\n\n[[endpoints]]\npath = \"/\"\n";

    fn component() -> Vec<u8> {
        let mut c = COMPONENT_PREAMBLE.to_vec();
        c.extend_from_slice(b"rest of the component");
        c
    }

    #[test]
    fn to_bytes_is_deterministic_and_block_aligned() {
        let p = Package::new(MANIFEST.as_bytes().to_vec(), component()).unwrap();
        let a = p.to_bytes();
        assert_eq!(a, p.clone().to_bytes());
        assert_eq!(a.len() % BLOCK, 0);
        assert_eq!(Package::from_bytes(&a).unwrap(), p);
    }

    #[test]
    fn core_modules_and_non_wasm_are_refused_with_clear_codes() {
        let m = MANIFEST.as_bytes().to_vec();
        let core = CORE_MODULE_PREAMBLE.to_vec();
        let err = Package::new(m.clone(), core).unwrap_err();
        assert_eq!(err.code(), "core_module");
        assert!(err.to_string().contains("wasm32-wasip2"));
        assert_eq!(Package::new(m.clone(), b"\0asm".to_vec()).unwrap_err().code(), "not_a_component");
        assert_eq!(Package::new(m, b"hello world!".to_vec()).unwrap_err().code(), "not_a_component");
    }

    #[test]
    fn trailing_bytes_after_the_archive_are_refused() {
        let p = Package::new(MANIFEST.as_bytes().to_vec(), component()).unwrap();
        let mut bytes = p.to_bytes();
        bytes.extend_from_slice(&[0u8; BLOCK]);
        assert_eq!(Package::from_bytes(&bytes).unwrap_err().code(), "non_canonical");
    }

    #[test]
    fn unsafe_paths_are_recognised() {
        for bad in [&b"/etc/passwd"[..], b"../x", b"a/../../b", b"a\\b", b"", b".."] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        for ok in [&b"extension.toml"[..], b"a/b", b"a..b"] {
            assert!(check_path(ok).is_ok(), "{ok:?}");
        }
    }
}
