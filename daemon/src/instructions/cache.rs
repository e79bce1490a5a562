//! The disk cache below `paths.instructions_cache_dir()`: each prompt file with its metadata
//! `{etag, tag, url, last_checked, fetched_at, sha256}`, the release lookup, and the model
//! catalog. Every write is atomic (`fsutil::write_atomic`); a file whose SHA-256 does not match
//! its metadata counts as missing, so a corrupted or half-deleted cache leads to a refetch.
//! These functions do blocking disk I/O: call them from `spawn_blocking`.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil::write_atomic;

/// Cache files are not secret, but there is no reason for others to read them either.
const MODE: u32 = 0o600;

/// Metadata of one cached prompt file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The raw server's ETag, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// Release tag the file was fetched at.
    pub tag: String,
    /// Where it was fetched from.
    pub url: String,
    /// Last time GitHub confirmed it (200 or 304), unix seconds.
    pub last_checked: u64,
    /// When the text was downloaded, unix seconds.
    pub fetched_at: u64,
    /// SHA-256 of the text, hex.
    pub sha256: String,
}

/// The latest release as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseMeta {
    /// `tag_name`.
    pub tag: String,
    /// The API's ETag for `releases/latest` (none when found through the web redirect).
    pub etag: Option<String>,
    /// Last confirmation, unix seconds.
    pub last_checked: u64,
}

/// Metadata of the cached model catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogMeta {
    /// The backend's ETag.
    pub etag: Option<String>,
    /// When the body was downloaded.
    pub fetched_at: u64,
    /// Last confirmation (200 or 304).
    pub last_checked: u64,
    /// SHA-256 of the body.
    pub sha256: String,
    /// The compatibility version it was asked for with (the backend filters by it).
    #[serde(default)]
    pub client_version: Option<String>,
}

/// A cached file whose content does not match its metadata, or unreadable metadata.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The text does not match its recorded SHA-256 (edited, truncated or corrupted).
    #[error("the cached {0} does not match its checksum")]
    Corrupt(String),
    /// Reading failed.
    #[error("cannot read the cached {name}: {source}")]
    Io {
        /// Which file.
        name: String,
        /// Why.
        source: io::Error,
    },
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The cache directory and its layout.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// A cache rooted at `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn prompt_path(&self, file: &str) -> PathBuf {
        self.dir.join("prompts").join(file)
    }

    fn prompt_meta_path(&self, file: &str) -> PathBuf {
        self.dir.join("prompts").join(format!("{file}.meta.json"))
    }

    fn release_path(&self) -> PathBuf {
        self.dir.join("release.json")
    }

    fn catalog_path(&self) -> PathBuf {
        self.dir.join("models.json")
    }

    fn catalog_meta_path(&self) -> PathBuf {
        self.dir.join("models.meta.json")
    }

    /// Load a prompt file and its metadata. `Ok(None)` when not cached; `Err(Corrupt)` when
    /// the text does not match the metadata (the caller deletes it and refetches).
    pub fn load_prompt(&self, file: &str) -> Result<Option<(String, FileMeta)>, CacheError> {
        let Some(meta) = read_json::<FileMeta>(&self.prompt_meta_path(file), file)? else {
            return Ok(None);
        };
        let Some(text) = read_opt(&self.prompt_path(file), file)? else {
            return Ok(None);
        };
        if sha256_hex(text.as_bytes()) != meta.sha256 {
            return Err(CacheError::Corrupt(file.into()));
        }
        Ok(Some((text, meta)))
    }

    /// Whether the cached copy of `file` is present and matches `sha256`.
    pub fn prompt_intact(&self, file: &str, sha256: &str) -> bool {
        std::fs::read(self.prompt_path(file))
            .map(|b| sha256_hex(&b) == sha256)
            .unwrap_or(false)
            && self.prompt_meta_path(file).exists()
    }

    /// Store text then metadata (a crash in between leaves a mismatch, read as "not cached").
    pub fn store_prompt(&self, file: &str, text: &str, meta: &FileMeta) -> io::Result<()> {
        write_atomic(&self.prompt_path(file), text.as_bytes(), MODE)?;
        self.store_prompt_meta(file, meta)
    }

    /// Store only the metadata (after a 304).
    pub fn store_prompt_meta(&self, file: &str, meta: &FileMeta) -> io::Result<()> {
        write_atomic(&self.prompt_meta_path(file), &to_json(meta)?, MODE)
    }

    /// Delete a prompt and its metadata.
    pub fn remove_prompt(&self, file: &str) {
        let _ = std::fs::remove_file(self.prompt_path(file));
        let _ = std::fs::remove_file(self.prompt_meta_path(file));
    }

    /// The last release lookup.
    pub fn load_release(&self) -> Option<ReleaseMeta> {
        read_json(&self.release_path(), "release.json")
            .ok()
            .flatten()
    }

    /// Store the release lookup.
    pub fn store_release(&self, meta: &ReleaseMeta) -> io::Result<()> {
        write_atomic(&self.release_path(), &to_json(meta)?, MODE)
    }

    /// The cached catalog body and metadata (checked like prompts).
    pub fn load_catalog(&self) -> Result<Option<(String, CatalogMeta)>, CacheError> {
        let Some(meta) = read_json::<CatalogMeta>(&self.catalog_meta_path(), "models.json")? else {
            return Ok(None);
        };
        let Some(body) = read_opt(&self.catalog_path(), "models.json")? else {
            return Ok(None);
        };
        if sha256_hex(body.as_bytes()) != meta.sha256 {
            return Err(CacheError::Corrupt("models.json".into()));
        }
        Ok(Some((body, meta)))
    }

    /// Store the catalog body and metadata.
    pub fn store_catalog(&self, body: &str, meta: &CatalogMeta) -> io::Result<()> {
        write_atomic(&self.catalog_path(), body.as_bytes(), MODE)?;
        self.store_catalog_meta(meta)
    }

    /// Store only the catalog metadata (after a 304).
    pub fn store_catalog_meta(&self, meta: &CatalogMeta) -> io::Result<()> {
        write_atomic(&self.catalog_meta_path(), &to_json(meta)?, MODE)
    }

    /// Delete everything below the cache directory.
    pub fn purge(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn to_json<T: Serialize>(v: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(io::Error::other)
}

fn read_opt(path: &Path, name: &str) -> Result<Option<String>, CacheError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| CacheError::Corrupt(name.into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CacheError::Io {
            name: name.into(),
            source,
        }),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(
    path: &Path,
    name: &str,
) -> Result<Option<T>, CacheError> {
    match read_opt(path, name)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| CacheError::Corrupt(name.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(text: &str) -> FileMeta {
        FileMeta {
            etag: Some("\"e1\"".into()),
            tag: "rust-v1".into(),
            url: "http://x/prompt.md".into(),
            last_checked: 10,
            fetched_at: 10,
            sha256: sha256_hex(text.as_bytes()),
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let tmp = tempfile::tempdir().unwrap();
        let c = DiskCache::new(tmp.path().join("instructions"));
        assert!(c.load_prompt("prompt.md").unwrap().is_none());
        c.store_prompt("prompt.md", "hello", &meta("hello"))
            .unwrap();
        let (text, m) = c.load_prompt("prompt.md").unwrap().unwrap();
        assert_eq!(text, "hello");
        assert_eq!(m.tag, "rust-v1");
        assert!(c.prompt_intact("prompt.md", &m.sha256));
        std::fs::write(tmp.path().join("instructions/prompts/prompt.md"), "garbage").unwrap();
        assert!(matches!(
            c.load_prompt("prompt.md"),
            Err(CacheError::Corrupt(_))
        ));
        assert!(!c.prompt_intact("prompt.md", &m.sha256));
        c.purge().unwrap();
        assert!(c.load_prompt("prompt.md").unwrap().is_none());
        c.purge().unwrap();
    }
}
