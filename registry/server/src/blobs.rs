//! Package blobs, content-addressed by sha256 behind the [`BlobStore`] trait
//! (a disk directory today; object storage can implement the same trait).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use sha2::{Digest as _, Sha256};

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} is not stored")]
    NotFound(String),
    /// What was read back does not hash to its name: the store is damaged.
    #[error("blob {digest} is corrupt (its content hashes to {actual})")]
    Corrupt { digest: String, actual: String },
    #[error("`{0}` is not a sha256 hex digest")]
    BadDigest(String),
    #[error("blob storage failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Content-addressed storage: a blob's name is the sha256 hex of its bytes.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` (idempotent) and returns their sha256 hex.
    fn put(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<String, BlobError>>;
    /// The bytes named `digest`, verified against it.
    fn get<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Vec<u8>, BlobError>>;
    fn exists<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<bool, BlobError>>;
    /// Removes a blob (no error if it is absent). Used only to clean up after
    /// a publish that lost its race; see [`crate::publish`].
    fn delete<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<(), BlobError>>;
}

/// sha256 hex of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn check_digest(digest: &str) -> Result<(), BlobError> {
    if digest.len() == 64 && digest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(BlobError::BadDigest(digest.chars().take(80).collect()))
    }
}

/// Blobs in a directory: `<dir>/sha256/<first two hex>/<hex>`. Writes go to a
/// temporary file in the same directory, are fsynced, then renamed into place
/// (and the directory fsynced), so a blob is either whole or absent.
#[derive(Debug, Clone)]
pub struct DiskBlobStore {
    root: PathBuf,
}

impl DiskBlobStore {
    /// A store under `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<DiskBlobStore, BlobError> {
        let root = dir.join("sha256");
        std::fs::create_dir_all(&root)?;
        Ok(DiskBlobStore { root })
    }

    /// Where the blob `digest` lives (digest already checked).
    pub fn path_of(&self, digest: &str) -> PathBuf {
        self.root.join(&digest[..2]).join(digest)
    }

    /// Every stored digest (for tests and maintenance).
    pub fn list(&self) -> Result<Vec<String>, BlobError> {
        let mut out = Vec::new();
        for shard in std::fs::read_dir(&self.root)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(shard.path())? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if check_digest(&name).is_ok() {
                    out.push(name);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn put_blocking(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let digest = sha256_hex(bytes);
        let path = self.path_of(&digest);
        if path.exists() {
            return Ok(digest);
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let result = (|| {
            let mut file = std::fs::File::create_new(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&dir)?.sync_all()
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        Ok(digest)
    }

    fn get_blocking(&self, digest: &str) -> Result<Vec<u8>, BlobError> {
        check_digest(digest)?;
        let bytes = match std::fs::read(self.path_of(digest)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(digest.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let actual = sha256_hex(&bytes);
        if actual != digest {
            return Err(BlobError::Corrupt { digest: digest.to_owned(), actual });
        }
        Ok(bytes)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?
}

impl BlobStore for DiskBlobStore {
    fn put(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<String, BlobError>> {
        let this = self.clone();
        Box::pin(blocking(move || this.put_blocking(&bytes)))
    }

    fn get<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Vec<u8>, BlobError>> {
        let (this, digest) = (self.clone(), digest.to_owned());
        Box::pin(blocking(move || this.get_blocking(&digest)))
    }

    fn exists<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<bool, BlobError>> {
        Box::pin(async move {
            check_digest(digest)?;
            Ok(tokio::fs::try_exists(self.path_of(digest)).await?)
        })
    }

    fn delete<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<(), BlobError>> {
        Box::pin(async move {
            check_digest(digest)?;
            match tokio::fs::remove_file(self.path_of(digest)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_is_content_addressed_idempotent_and_verified_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskBlobStore::open(dir.path()).unwrap();
        let digest = store.put(b"hello".to_vec()).await.unwrap();
        assert_eq!(digest, sha256_hex(b"hello"));
        assert_eq!(store.put(b"hello".to_vec()).await.unwrap(), digest);
        assert!(store.path_of(&digest).ends_with(format!("sha256/{}/{digest}", &digest[..2])));
        assert_eq!(store.get(&digest).await.unwrap(), b"hello");
        assert_eq!(store.list().unwrap(), vec![digest.clone()]);

        std::fs::write(store.path_of(&digest), b"tampered").unwrap();
        assert!(matches!(store.get(&digest).await, Err(BlobError::Corrupt { .. })));

        store.delete(&digest).await.unwrap();
        assert!(!store.exists(&digest).await.unwrap());
        assert!(matches!(store.get(&digest).await, Err(BlobError::NotFound(_))));
        assert!(matches!(store.get("../etc/passwd").await, Err(BlobError::BadDigest(_))));
    }
}
