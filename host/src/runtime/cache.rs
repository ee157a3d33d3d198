//! The host's authenticated cache of compiled components.
//!
//! Compiling a component with Cranelift takes far longer than loading its
//! compiled form, and a host start would otherwise compile every installed
//! extension again. So the compiled artifact of every component is kept in
//! `<data-dir>/compiled/`, one file per (component, engine configuration).
//!
//! `Component::deserialize` trusts its input completely: the bytes become
//! executable code, with no validation. A file changed on disk must therefore
//! never reach it. Every entry carries an HMAC-SHA256 under a key only this
//! host holds (`<data-dir>/cache.key`, mode 0600), over the component's
//! sha256, the engine's compatibility hash and the artifact; the MAC is
//! checked on the bytes in memory and only those checked bytes are
//! deserialized. Anything that fails (missing, changed, written under another
//! key, truncated, refused by the engine) is deleted and compiled again from
//! the component bytes, which the caller has just verified against the
//! package signature. See `docs/decisions/006-authenticated-artifact-cache.md`.
//!
//! Entry file format (`<component-sha256>-<compat>.cwasm`):
//!
//! ```text
//! offset  size  field
//!      0     8  magic   "MFCWASM\0"
//!      8     4  format version, u32 little-endian (1)
//!     12    32  HMAC-SHA256(key, magic || version || component sha256
//!                                || engine compatibility hash || artifact)
//!     44     …  artifact: the output of `Component::serialize`
//! ```

use std::hash::{Hash as _, Hasher};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use wasmtime::Engine;
use wasmtime::component::Component;

/// First bytes of every entry.
pub const MAGIC: [u8; 8] = *b"MFCWASM\0";
/// Format version this host writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the artifact: magic, version, MAC.
pub const HEADER_LEN: usize = MAGIC.len() + 4 + MAC_LEN;
/// Largest entry file read or written, header included. A bigger file on
/// disk is not read into memory; it is rejected and compiled again.
pub const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;
/// Length of the host's cache key.
pub const KEY_LEN: usize = 32;
const MAC_LEN: usize = 32;
/// HMAC block size of SHA-256 (RFC 2104).
const HMAC_BLOCK: usize = 64;
const METRIC: &str = "magflock_artifact_cache_total";

/// Why the cache could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("compiled-artifact cache key {}: {source}", path.display())]
    KeyIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "compiled-artifact cache key {} holds {len} bytes, expected {KEY_LEN}; \
         delete it to have a new key generated (every cached artifact is then compiled again)",
        path.display()
    )]
    KeyLength { path: PathBuf, len: usize },
    #[error("compiled-artifact cache key: the operating system random number generator failed: {0}")]
    Random(String),
    #[error("compiled-artifact cache directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why a cache entry was refused. It is deleted and compiled again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unreadable: {0}")]
    Unreadable(String),
    #[error("larger than {MAX_ENTRY_BYTES} bytes")]
    TooLarge,
    #[error("shorter than its {HEADER_LEN}-byte header")]
    Truncated,
    #[error("not a compiled-artifact entry (wrong magic)")]
    Magic,
    #[error("format version {0}, this host reads version {FORMAT_VERSION}")]
    Version(u32),
    #[error("authentication failed: changed on disk, moved from another entry, or written under another key")]
    Mac,
    #[error("authenticated, but the engine refused it: {0}")]
    Deserialize(String),
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A valid entry was loaded; nothing was compiled.
    Hit,
    /// No entry for this component and engine; compiled and stored.
    Miss,
    /// An entry was refused (and deleted); compiled and stored again.
    Rejected(Rejection),
}

impl Lookup {
    fn label(&self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Rejected(_) => "rejected",
        }
    }
}

/// Compiled components on disk, authenticated with a per-host key.
pub struct ArtifactCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for ArtifactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ArtifactCache").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Bytes of an entry whose MAC was checked against this host's key. Only
/// [`ArtifactCache::read_verified`] makes one; only these reach
/// `Component::deserialize`.
struct Verified(Vec<u8>);

impl Verified {
    fn artifact(&self) -> &[u8] {
        self.0.get(HEADER_LEN..).unwrap_or_default()
    }
}

impl ArtifactCache {
    /// Opens the cache in `dir`, with the key in `key_path`; the key is
    /// generated (32 random bytes, mode 0600) when the file does not exist.
    /// Blocking file I/O.
    pub fn open(dir: &Path, key_path: &Path) -> Result<Self, CacheError> {
        std::fs::create_dir_all(dir).map_err(|source| CacheError::Dir { path: dir.to_owned(), source })?;
        let key = load_or_create_key(key_path)?;
        Ok(Self { dir: dir.to_owned(), key })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry of `component` compiled by `engine` lives.
    pub fn entry_path(&self, engine: &Engine, component: &[u8]) -> PathBuf {
        self.path_for(&Sha256::digest(component).into(), &compat_hash(engine))
    }

    fn path_for(&self, component_sha: &[u8; 32], compat: &[u8; 32]) -> PathBuf {
        // The compatibility part of the name only keeps entries of different
        // engine configurations apart; the MAC binds the whole hash.
        let compat_prefix = compat.get(..8).unwrap_or_default();
        self.dir.join(format!("{}-{}.cwasm", hex::encode(component_sha), hex::encode(compat_prefix)))
    }

    /// The compiled form of `component` for `engine`: loaded from a valid
    /// entry, or compiled and stored. The caller must have verified
    /// `component` (the package signature) — this is what gets compiled when
    /// the entry is missing or refused. Only a compile error is returned;
    /// cache trouble is logged and never fails a load. Blocking.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        component: &[u8],
    ) -> wasmtime::Result<(Component, Lookup)> {
        let component_sha: [u8; 32] = Sha256::digest(component).into();
        let compat = compat_hash(engine);
        let path = self.path_for(&component_sha, &compat);
        let lookup = match self.read_verified(&path, &component_sha, &compat) {
            Ok(Some(verified)) => match deserialize_verified(engine, &verified) {
                Ok(compiled) => {
                    metrics::counter!(METRIC, "result" => Lookup::Hit.label()).increment(1);
                    return Ok((compiled, Lookup::Hit));
                }
                Err(e) => Lookup::Rejected(Rejection::Deserialize(format!("{e:#}"))),
            },
            Ok(None) => Lookup::Miss,
            Err(reason) => Lookup::Rejected(reason),
        };
        metrics::counter!(METRIC, "result" => lookup.label()).increment(1);
        if let Lookup::Rejected(reason) = &lookup {
            tracing::warn!(entry = %path.display(), %reason, "compiled artifact refused; compiling again");
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(entry = %path.display(), error = %e, "refused artifact not deleted");
            }
        }
        let compiled = Component::new(engine, component)?;
        match compiled.serialize() {
            Ok(artifact) => {
                if let Err(e) = self.write_entry(&path, &component_sha, &compat, &artifact) {
                    tracing::warn!(entry = %path.display(), error = %e, "compiled artifact not stored");
                }
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "compiled artifact not serialized"),
        }
        Ok((compiled, lookup))
    }

    fn mac(&self, component_sha: &[u8; 32], compat: &[u8; 32], artifact: &[u8]) -> [u8; MAC_LEN] {
        hmac_sha256(&self.key, &[&MAGIC, &FORMAT_VERSION.to_le_bytes(), component_sha, compat, artifact])
    }

    /// Reads an entry and checks it: `Ok(None)` when there is none. The MAC
    /// is checked on the bytes read into memory, so a file changed after the
    /// check cannot change what is deserialized.
    fn read_verified(
        &self,
        path: &Path,
        component_sha: &[u8; 32],
        compat: &[u8; 32],
    ) -> Result<Option<Verified>, Rejection> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Rejection::Unreadable(e.to_string())),
        };
        let len = file.metadata().map_err(|e| Rejection::Unreadable(e.to_string()))?.len();
        if len > MAX_ENTRY_BYTES {
            return Err(Rejection::TooLarge);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        // The file may grow after the size check: read one byte past the cap
        // at most, which tells "too large" from "exactly at the cap".
        file.take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Rejection::Unreadable(e.to_string()))?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return Err(Rejection::TooLarge);
        }
        let (Some(magic), Some(version), Some(mac), Some(artifact)) = (
            bytes.get(..MAGIC.len()),
            bytes.get(MAGIC.len()..MAGIC.len() + 4),
            bytes.get(MAGIC.len() + 4..HEADER_LEN),
            bytes.get(HEADER_LEN..),
        ) else {
            return Err(Rejection::Truncated);
        };
        if magic != MAGIC {
            return Err(Rejection::Magic);
        }
        let version = u32::from_le_bytes(version.try_into().map_err(|_| Rejection::Truncated)?);
        if version != FORMAT_VERSION {
            return Err(Rejection::Version(version));
        }
        let expected = self.mac(component_sha, compat, artifact);
        if !bool::from(expected.ct_eq(mac)) {
            return Err(Rejection::Mac);
        }
        Ok(Some(Verified(bytes)))
    }

    /// Writes an entry under a temporary name and renames it into place, so
    /// a reader sees the old entry, the new one, or none. (A torn file after
    /// a crash fails its MAC and is compiled again.)
    fn write_entry(
        &self,
        path: &Path,
        component_sha: &[u8; 32],
        compat: &[u8; 32],
        artifact: &[u8],
    ) -> std::io::Result<()> {
        let total = HEADER_LEN as u64 + artifact.len() as u64;
        if total > MAX_ENTRY_BYTES {
            return Err(std::io::Error::other(format!(
                "artifact of {total} bytes is larger than the cache's {MAX_ENTRY_BYTES}-byte cap"
            )));
        }
        let mac = self.mac(component_sha, compat, artifact);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = self.dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let written = (|| {
            let mut file = private_file().open(&tmp)?;
            file.write_all(&MAGIC)?;
            file.write_all(&FORMAT_VERSION.to_le_bytes())?;
            file.write_all(&mac)?;
            file.write_all(artifact)?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// Deserializes an entry whose MAC was checked.
#[allow(unsafe_code)]
fn deserialize_verified(engine: &Engine, verified: &Verified) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires that the bytes given to `deserialize` were
    // produced by `Component::serialize` (or `Engine::precompile_component`)
    // of an engine compatible with `engine`, because it maps them as
    // executable code without validating them. These bytes are exactly such
    // an artifact: `Verified` exists only after the HMAC over (component
    // sha256, this engine's compatibility hash, artifact) matched under the
    // key only this host holds (mode 0600), and this host MACs only
    // artifacts its own engine serialized (`load_or_compile`). The bytes are
    // an in-memory copy, so the file cannot change under us after the check.
    unsafe { Component::deserialize(engine, verified.artifact()) }
}

/// SHA-256 of the engine's compilation settings (target, Cranelift flags,
/// tunables, wasm features, wasmtime's own version): an artifact is loaded
/// only by an engine with the same hash, so a changed setting or upgrade
/// never loads a stale one.
fn compat_hash(engine: &Engine) -> [u8; 32] {
    struct Sha256Hasher(Sha256);
    impl Hasher for Sha256Hasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            let d = self.0.clone().finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
            u64::from_le_bytes(first)
        }
    }
    let mut h = Sha256Hasher(Sha256::new());
    h.0.update(b"magflock-engine-compat\0");
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.finalize().into()
}

/// HMAC-SHA256 (RFC 2104) over the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; MAC_LEN] {
    let mut block = [0u8; HMAC_BLOCK];
    if key.len() > HMAC_BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Options creating a new file readable by the host's user only.
fn private_file() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], CacheError> {
    let io = |source| CacheError::KeyIo { path: path.to_owned(), source };
    match read_key(path) {
        Err(CacheError::KeyIo { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut key = [0u8; KEY_LEN];
    {
        use rand::TryRngCore as _;
        rand::rngs::OsRng.try_fill_bytes(&mut key).map_err(|e| CacheError::Random(e.to_string()))?;
    }
    // Written whole under a temporary name, then linked into place: the key
    // file is never seen half-written, and if another process created one
    // meanwhile, that one wins and is used.
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".cache.key.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = private_file().open(&tmp)?;
        file.write_all(&key)?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            tracing::info!(key = %path.display(), "compiled-artifact cache key generated");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(path),
        Err(e) => Err(io(e)),
    }
}

fn read_key(path: &Path) -> Result<[u8; KEY_LEN], CacheError> {
    let io = |source| CacheError::KeyIo { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file.metadata().map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(key = %path.display(), mode = format!("{:o}", mode & 0o777),
                "compiled-artifact cache key is readable by other users; make it 0600");
        }
    }
    let mut bytes = Vec::with_capacity(KEY_LEN);
    file.take(KEY_LEN as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| CacheError::KeyLength { path: path.to_owned(), len: bytes.len() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The smallest valid component: preamble only.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn open(dir: &tempfile::TempDir) -> ArtifactCache {
        ArtifactCache::open(&dir.path().join("compiled"), &dir.path().join("cache.key")).unwrap()
    }

    fn fuel_engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        Engine::new(&config).unwrap()
    }

    #[test]
    fn hmac_matches_rfc_4231_vectors() {
        // Test cases 1, 2 (short keys, the second split over two parts) and
        // 6 (a key longer than the block, hashed first).
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn an_entry_round_trips_as_a_hit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir);
        let engine = Engine::default();
        let (_, first) = cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        assert_eq!(first, Lookup::Miss);
        let path = cache.entry_path(&engine, EMPTY_COMPONENT);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[..8], MAGIC);
        assert_eq!(bytes[8..12], FORMAT_VERSION.to_le_bytes());
        let (_, second) = cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        assert_eq!(second, Lookup::Hit);
        // A hit does not rewrite the entry; a cache opened again (a restart)
        // reads the same key and hits too.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let (_, third) = open(&dir).load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        assert_eq!(third, Lookup::Hit);
    }

    #[test]
    fn a_flipped_byte_anywhere_in_the_entry_is_rejected_then_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir);
        let engine = Engine::default();
        cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        let path = cache.entry_path(&engine, EMPTY_COMPONENT);
        let good = std::fs::read(&path).unwrap();
        let sha: [u8; 32] = Sha256::digest(EMPTY_COMPONENT).into();
        let compat = compat_hash(&engine);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            let refused = cache.read_verified(&path, &sha, &compat);
            assert!(refused.is_err(), "flipped byte {i} of {} was accepted", good.len());
        }
        // Through the public path: refused, compiled again, stored valid.
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        std::fs::write(&path, &bad).unwrap();
        let (_, lookup) = cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        assert_eq!(lookup, Lookup::Rejected(Rejection::Mac));
        assert_ne!(std::fs::read(&path).unwrap(), bad);
        assert_eq!(cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap().1, Lookup::Hit);
    }

    #[test]
    fn an_entry_written_under_another_key_is_rejected() {
        let theirs = tempfile::tempdir().unwrap();
        let ours = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let (their_cache, our_cache) = (open(&theirs), open(&ours));
        assert_ne!(their_cache.key, our_cache.key);
        their_cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        let path = our_cache.entry_path(&engine, EMPTY_COMPONENT);
        std::fs::copy(their_cache.entry_path(&engine, EMPTY_COMPONENT), &path).unwrap();
        let (_, lookup) = our_cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        assert_eq!(lookup, Lookup::Rejected(Rejection::Mac));
        assert_eq!(our_cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap().1, Lookup::Hit);
    }

    #[test]
    fn an_entry_moved_to_another_components_name_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir);
        let engine = Engine::default();
        cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        // Same valid component, one trailing custom section: another sha256.
        let mut other = EMPTY_COMPONENT.to_vec();
        other.extend_from_slice(&[0x00, 0x02, 0x01, b'x']);
        let target = cache.entry_path(&engine, &other);
        std::fs::copy(cache.entry_path(&engine, EMPTY_COMPONENT), &target).unwrap();
        let (_, lookup) = cache.load_or_compile(&engine, &other).unwrap();
        assert_eq!(lookup, Lookup::Rejected(Rejection::Mac));
    }

    #[test]
    fn truncated_entries_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir);
        let engine = Engine::default();
        cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        let path = cache.entry_path(&engine, EMPTY_COMPONENT);
        let good = std::fs::read(&path).unwrap();
        for (len, reason) in [
            (0, Rejection::Truncated),
            (HEADER_LEN - 1, Rejection::Truncated),
            (HEADER_LEN, Rejection::Mac),
            (good.len() - 1, Rejection::Mac),
        ] {
            std::fs::write(&path, &good[..len]).unwrap();
            let (_, lookup) = cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
            assert_eq!(lookup, Lookup::Rejected(reason), "entry cut to {len} bytes");
            assert_eq!(std::fs::read(&path).unwrap(), good, "entry rewritten after the cut to {len}");
        }
    }

    #[test]
    fn an_authenticated_entry_the_engine_refuses_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir);
        let engine = Engine::default();
        let sha: [u8; 32] = Sha256::digest(EMPTY_COMPONENT).into();
        let compat = compat_hash(&engine);
        let path = cache.path_for(&sha, &compat);
        cache.write_entry(&path, &sha, &compat, b"not an artifact").unwrap();
        let (_, lookup) = cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        assert!(matches!(lookup, Lookup::Rejected(Rejection::Deserialize(_))), "{lookup:?}");
        assert_eq!(cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap().1, Lookup::Hit);
    }

    #[test]
    fn another_engine_configuration_misses_and_keeps_its_own_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir);
        let (plain, fuel) = (Engine::default(), fuel_engine());
        assert_ne!(compat_hash(&plain), compat_hash(&fuel));
        assert_eq!(compat_hash(&plain), compat_hash(&Engine::default()));
        assert_eq!(cache.load_or_compile(&plain, EMPTY_COMPONENT).unwrap().1, Lookup::Miss);
        assert_eq!(cache.load_or_compile(&fuel, EMPTY_COMPONENT).unwrap().1, Lookup::Miss);
        assert_ne!(cache.entry_path(&plain, EMPTY_COMPONENT), cache.entry_path(&fuel, EMPTY_COMPONENT));
        assert_eq!(cache.load_or_compile(&plain, EMPTY_COMPONENT).unwrap().1, Lookup::Hit);
        assert_eq!(cache.load_or_compile(&fuel, EMPTY_COMPONENT).unwrap().1, Lookup::Hit);
        // An entry of one configuration put under the other's name fails its
        // MAC (the full compatibility hash is authenticated, not the name).
        std::fs::copy(cache.entry_path(&plain, EMPTY_COMPONENT), cache.entry_path(&fuel, EMPTY_COMPONENT))
            .unwrap();
        let lookup = cache.load_or_compile(&fuel, EMPTY_COMPONENT).unwrap().1;
        assert_eq!(lookup, Lookup::Rejected(Rejection::Mac));
    }

    #[test]
    fn a_component_that_does_not_compile_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir);
        let engine = Engine::default();
        assert!(cache.load_or_compile(&engine, b"\0asm\x0d\0\x01\0\xff").is_err());
        assert_eq!(std::fs::read_dir(cache.dir()).unwrap().count(), 0);
    }

    #[test]
    fn the_key_is_generated_once_with_mode_0600_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("cache.key");
        let first = open(&dir);
        assert_eq!(std::fs::read(&key_path).unwrap(), first.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(open(&dir).key, first.key);
        assert!(!format!("{first:?}").contains("key"), "the key is never printed");
        // Only the key file and the entry directory: no temporary file left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_key_file_of_the_wrong_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 16, KEY_LEN + 1] {
            std::fs::write(dir.path().join("cache.key"), vec![7u8; len]).unwrap();
            let err =
                ArtifactCache::open(&dir.path().join("compiled"), &dir.path().join("cache.key")).unwrap_err();
            assert!(matches!(err, CacheError::KeyLength { len: l, .. } if l == len), "{err}");
            assert!(err.to_string().contains("expected 32"), "{err}");
        }
    }

    #[test]
    fn an_oversized_entry_is_rejected_without_being_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir);
        let engine = Engine::default();
        let path = cache.entry_path(&engine, EMPTY_COMPONENT);
        let file = std::fs::File::create(&path).unwrap();
        // Sparse: no disk space used.
        file.set_len(MAX_ENTRY_BYTES + 1).unwrap();
        let (_, lookup) = cache.load_or_compile(&engine, EMPTY_COMPONENT).unwrap();
        assert_eq!(lookup, Lookup::Rejected(Rejection::TooLarge));
        assert!(std::fs::metadata(&path).unwrap().len() < MAX_ENTRY_BYTES);
    }
}
