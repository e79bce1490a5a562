//! The TCP listener's key: 32 random bytes in a 0600 file, created exclusively (never over a
//! file someone else put there), compared in constant time, rotated by writing a new file
//! and renaming it over the old one.

use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// Prefix of every key, so a leaked one is recognisable in a scan.
const PREFIX: &str = "codexd-gw-";

/// The key file and its current value.
pub struct GatewayKey {
    path: PathBuf,
    current: RwLock<Secret>,
}

/// Why the key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("cannot use the gateway key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file holds something else.
    #[error(
        "the gateway key file {0} does not hold a codexd key; run `codexctl gateway key --rotate` to write a new one"
    )]
    Invalid(PathBuf),
    /// The file is readable by others.
    #[error(
        "the gateway key file {0} is readable by other users; run `codexctl gateway key --rotate` to replace it"
    )]
    Exposed(PathBuf),
}

fn new_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

impl GatewayKey {
    /// Load the key at `path`, creating it (exclusively, 0600) when there is none.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let io_err = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            crate::fsutil::create_private_dir(dir).map_err(io_err)?;
        }
        let key = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => {
                let key = new_key();
                f.write_all(key.as_bytes()).map_err(io_err)?;
                f.sync_all().map_err(io_err)?;
                key
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let meta = std::fs::metadata(path).map_err(io_err)?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(KeyError::Exposed(path.to_path_buf()));
                }
                let text = std::fs::read_to_string(path).map_err(io_err)?;
                let text = text.trim().to_owned();
                if !text.starts_with(PREFIX) || text.len() < PREFIX.len() + 43 {
                    return Err(KeyError::Invalid(path.to_path_buf()));
                }
                text
            }
            Err(e) => return Err(io_err(e)),
        };
        Ok(Self {
            path: path.to_path_buf(),
            current: RwLock::new(Secret::new(key)),
        })
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current key.
    pub fn current(&self) -> Secret {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether `candidate` is the key (constant time in the key's content).
    pub fn verify(&self, candidate: &str) -> bool {
        let current = self.current();
        let a = current.expose().as_bytes();
        let b = candidate.as_bytes();
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    /// Replace the key; the old one stops working at once.
    pub fn rotate(&self) -> Result<Secret, KeyError> {
        let key = new_key();
        crate::fsutil::write_atomic(&self.path, key.as_bytes(), 0o600).map_err(|source| {
            KeyError::Io {
                path: self.path.clone(),
                source,
            }
        })?;
        let secret = Secret::new(key);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = secret.clone();
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_then_reloaded_and_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw/gateway.key");
        let k = GatewayKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = k.current().expose().to_owned();
        assert!(k.verify(&first));
        assert!(!k.verify("codexd-gw-wrong"));
        assert!(!k.verify(""));
        let again = GatewayKey::load_or_create(&path).unwrap();
        assert!(again.verify(&first));
        let new = k.rotate().unwrap();
        assert!(!k.verify(&first));
        assert!(k.verify(new.expose()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), new.expose());
    }

    #[test]
    fn refuses_exposed_or_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.key");
        std::fs::write(&path, "hello").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            GatewayKey::load_or_create(&path),
            Err(KeyError::Exposed(_))
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            GatewayKey::load_or_create(&path),
            Err(KeyError::Invalid(_))
        ));
    }
}
