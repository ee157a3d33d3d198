//! Publisher keys (ed25519), their text files, and the trust store.
//!
//! Public key file: `magflock-ed25519-pub <base64 of 32 bytes> [label]`, one line.
//! Secret key file: `magflock-ed25519-secret <base64 of the 32-byte seed>`, one line,
//! written with mode 0600. The key id is the hex of the first 16 bytes of
//! sha256(public key bytes).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// First word of a public key file.
pub const PUBLIC_KEY_TAG: &str = "magflock-ed25519-pub";
/// First word of a secret key file.
pub const SECRET_KEY_TAG: &str = "magflock-ed25519-secret";
/// Largest accepted key file (hostile input: a key line is under 300 bytes).
pub const MAX_KEY_FILE_BYTES: usize = 1024;
/// Longest public key label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Length of a key id in hex characters (16 bytes of sha256).
pub const KEY_ID_HEX_LEN: usize = 32;

/// Why a key could not be read, made or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file is {len} bytes, above the limit of {MAX_KEY_FILE_BYTES} bytes")]
    TooLarge { len: usize },
    #[error("not a {expected} line: {reason}")]
    Malformed { expected: &'static str, reason: &'static str },
    #[error("key is not canonical standard base64")]
    BadBase64,
    #[error("key is {len} bytes, expected 32")]
    WrongLength { len: usize },
    #[error("public key is not a valid ed25519 point or is of small order")]
    InvalidPoint,
    #[error("public key label must be 1 to {MAX_LABEL_CHARS} characters without control characters")]
    BadLabel,
    #[error("the operating system random number generator failed: {0}")]
    Random(String),
    #[error("writing the key file failed: {0}")]
    Io(#[from] std::io::Error),
}

impl KeyError {
    /// A stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::TooLarge { .. } => "key_file_too_large",
            KeyError::Malformed { .. } => "malformed_key_file",
            KeyError::BadBase64 => "bad_base64",
            KeyError::WrongLength { .. } => "wrong_key_length",
            KeyError::InvalidPoint => "invalid_public_key",
            KeyError::BadLabel => "bad_key_label",
            KeyError::Random(_) => "random_failed",
            KeyError::Io(_) => "io",
        }
    }
}

/// Decodes standard base64 and refuses every encoding but the canonical one
/// (decode then re-encode must give the input back).
pub(crate) fn decode_canonical_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(text).ok()?;
    (STANDARD.encode(&bytes) == text).then_some(bytes)
}

pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Hex key id of raw public key bytes.
fn key_id_of(public: &[u8; 32]) -> String {
    let digest = Sha256::digest(public);
    hex::encode(&digest[..KEY_ID_HEX_LEN / 2])
}

/// Whether `s` has the shape of a key id (32 lowercase hex characters).
pub fn is_key_id(s: &str) -> bool {
    s.len() == KEY_ID_HEX_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Strips one trailing line ending and refuses anything else multi-line.
fn single_line<'a>(text: &'a str, expected: &'static str) -> Result<&'a str, KeyError> {
    if text.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyError::TooLarge { len: text.len() });
    }
    let line = text.strip_suffix("\r\n").or_else(|| text.strip_suffix('\n')).unwrap_or(text);
    if line.contains(['\n', '\r']) {
        return Err(KeyError::Malformed { expected, reason: "more than one line" });
    }
    Ok(line)
}

fn decode_32(b64: &str) -> Result<[u8; 32], KeyError> {
    let bytes = decode_canonical_base64(b64).ok_or(KeyError::BadBase64)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::WrongLength { len: bytes.len() })
}

/// An ed25519 public key with an optional human label.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    label: Option<String>,
}

impl PublicKey {
    /// A key from its 32 raw bytes; refuses invalid and small-order points.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPoint);
        }
        Ok(PublicKey { key, label: None })
    }

    /// The same key with a label (shown after the key in the file).
    pub fn with_label(mut self, label: &str) -> Result<PublicKey, KeyError> {
        if label.is_empty()
            || label.chars().count() > MAX_LABEL_CHARS
            || label.chars().any(char::is_control)
            || label.trim() != label
        {
            return Err(KeyError::BadLabel);
        }
        self.label = Some(label.to_owned());
        Ok(self)
    }

    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Hex of the first 16 bytes of sha256 of the key bytes.
    pub fn key_id(&self) -> String {
        key_id_of(self.key.as_bytes())
    }

    /// Strict ed25519 verification (no small-order points, no malleable signatures).
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.key.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey").field("key_id", &self.key_id()).field("label", &self.label).finish()
    }
}

impl fmt::Display for PublicKey {
    /// The public key file line, without a line ending.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_TAG} {}", encode_base64(self.key.as_bytes()))?;
        if let Some(label) = &self.label {
            write!(f, " {label}")?;
        }
        Ok(())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let line = single_line(text, PUBLIC_KEY_TAG)?;
        let mut parts = line.splitn(3, ' ');
        if parts.next() != Some(PUBLIC_KEY_TAG) {
            return Err(KeyError::Malformed {
                expected: PUBLIC_KEY_TAG,
                reason: "does not start with the tag",
            });
        }
        let b64 = parts
            .next()
            .ok_or(KeyError::Malformed { expected: PUBLIC_KEY_TAG, reason: "no key after the tag" })?;
        let key = PublicKey::from_bytes(&decode_32(b64)?)?;
        match parts.next() {
            None => Ok(key),
            Some(label) => key.with_label(label),
        }
    }
}

/// An ed25519 signing key (the secret seed and its public half).
pub struct SigningKeyPair {
    secret: SigningKey,
    public: PublicKey,
}

/// The contents of a secret key file.
pub type SecretKey = SigningKeyPair;

impl SigningKeyPair {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<SigningKeyPair, KeyError> {
        use rand::TryRngCore as _;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.try_fill_bytes(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        let pair = Self::from_seed(&seed);
        seed.fill(0);
        pair
    }

    /// The key derived from a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<SigningKeyPair, KeyError> {
        let secret = SigningKey::from_bytes(seed);
        let public = PublicKey::from_bytes(secret.verifying_key().as_bytes())?;
        Ok(SigningKeyPair { secret, public })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn key_id(&self) -> String {
        self.public.key_id()
    }

    /// Signs `message` (ed25519, deterministic).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.secret.sign(message).to_bytes()
    }

    /// The secret key file line, with a line ending. Handle as a secret.
    pub fn to_secret_file_string(&self) -> String {
        format!("{SECRET_KEY_TAG} {}\n", encode_base64(&self.secret.to_bytes()))
    }

    /// Writes the secret key file, refusing to overwrite an existing file;
    /// on unix the file is created with mode 0600.
    pub fn write_secret_file(&self, path: &Path) -> Result<(), KeyError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        file.write_all(self.to_secret_file_string().as_bytes())?;
        file.sync_all()?;
        Ok(())
    }
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair").field("key_id", &self.key_id()).finish_non_exhaustive()
    }
}

impl FromStr for SigningKeyPair {
    type Err = KeyError;

    /// Parses a secret key file.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let line = single_line(text, SECRET_KEY_TAG)?;
        let Some((tag, b64)) = line.split_once(' ') else {
            return Err(KeyError::Malformed { expected: SECRET_KEY_TAG, reason: "no key after the tag" });
        };
        if tag != SECRET_KEY_TAG {
            return Err(KeyError::Malformed {
                expected: SECRET_KEY_TAG,
                reason: "does not start with the tag",
            });
        }
        let mut seed = decode_32(b64)?;
        let pair = SigningKeyPair::from_seed(&seed);
        seed.fill(0);
        pair
    }
}

/// The publisher keys a verifier trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    keys: BTreeMap<String, PublicKey>,
}

impl TrustStore {
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    pub fn from_keys(keys: impl IntoIterator<Item = PublicKey>) -> TrustStore {
        let mut store = TrustStore::new();
        for k in keys {
            store.insert(k);
        }
        store
    }

    /// Adds a key under its key id; returns the key it replaced, if any.
    pub fn insert(&mut self, key: PublicKey) -> Option<PublicKey> {
        self.keys.insert(key.key_id(), key)
    }

    /// Removes (revokes) a key.
    pub fn remove(&mut self, key_id: &str) -> Option<PublicKey> {
        self.keys.remove(key_id)
    }

    pub fn get(&self, key_id: &str) -> Option<&PublicKey> {
        self.keys.get(key_id)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn public_key_file_round_trips_with_and_without_label() {
        let pair = SigningKeyPair::generate().unwrap();
        let plain = pair.public_key().clone();
        let labelled = plain.clone().with_label("release key 2025").unwrap();
        for key in [plain, labelled] {
            let text = format!("{key}\n");
            let back: PublicKey = text.parse().unwrap();
            assert_eq!(back, key);
            assert!(is_key_id(&back.key_id()));
        }
    }

    #[test]
    fn secret_key_file_round_trips_to_the_same_public_key() {
        let pair = SigningKeyPair::generate().unwrap();
        let back: SigningKeyPair = pair.to_secret_file_string().parse().unwrap();
        assert_eq!(back.public_key(), pair.public_key());
        assert!(!format!("{back:?}").contains(&pair.to_secret_file_string()[24..]));
    }

    #[test]
    fn key_id_is_first_16_bytes_of_sha256_hex() {
        let pair = SigningKeyPair::from_seed(&[7u8; 32]).unwrap();
        let bytes = pair.public_key().to_bytes();
        let want = hex::encode(&Sha256::digest(bytes)[..16]);
        assert_eq!(pair.key_id(), want);
    }

    #[test]
    fn malformed_key_files_are_refused_with_codes() {
        let pair = SigningKeyPair::from_seed(&[1u8; 32]).unwrap();
        let good = pair.public_key().to_string();
        let b64 = good.split(' ').nth(1).unwrap().to_owned();
        let cases = [
            (format!("ssh-ed25519 {b64}"), "malformed_key_file"),
            (PUBLIC_KEY_TAG.to_owned(), "malformed_key_file"),
            (format!("{good}\nextra"), "malformed_key_file"),
            (format!("{PUBLIC_KEY_TAG} {}", &b64[..b64.len() - 1]), "bad_base64"),
            (format!("{PUBLIC_KEY_TAG} {b64} "), "bad_key_label"),
            (format!("{PUBLIC_KEY_TAG} AAAA"), "wrong_key_length"),
            (format!("{PUBLIC_KEY_TAG} {}", encode_base64(&[0u8; 32])), "invalid_public_key"),
            ("x".repeat(MAX_KEY_FILE_BYTES + 1), "key_file_too_large"),
        ];
        for (text, code) in cases {
            let err = text.parse::<PublicKey>().unwrap_err();
            assert_eq!(err.code(), code, "{text:?}: {err}");
        }
        assert_eq!(
            "magflock-ed25519-pub AAAA".parse::<SigningKeyPair>().unwrap_err().code(),
            "malformed_key_file"
        );
    }

    #[cfg(unix)]
    #[test]
    fn secret_key_file_is_written_with_mode_0600_and_not_overwritten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        let pair = SigningKeyPair::generate().unwrap();
        pair.write_secret_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(pair.write_secret_file(&path).unwrap_err().code(), "io");
        let back: SigningKeyPair = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        assert_eq!(back.key_id(), pair.key_id());
    }

    #[test]
    fn trust_store_finds_keys_by_id_and_forgets_removed_ones() {
        let a = SigningKeyPair::from_seed(&[2u8; 32]).unwrap();
        let b = SigningKeyPair::from_seed(&[3u8; 32]).unwrap();
        let mut store = TrustStore::from_keys([a.public_key().clone()]);
        assert!(store.get(&a.key_id()).is_some());
        assert!(store.get(&b.key_id()).is_none());
        store.insert(b.public_key().clone());
        assert_eq!(store.len(), 2);
        store.remove(&a.key_id());
        assert!(store.get(&a.key_id()).is_none());
    }
}
