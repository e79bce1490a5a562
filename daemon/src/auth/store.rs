//! Where credentials live: the [`CredentialStore`] trait and its three stores — the OS keyring
//! ([`KeyringStore`]), a 0600 file written atomically ([`FileStore`]), and memory for tests
//! ([`MemoryStore`]) — plus [`open`], which applies `credentials_store = auto | keyring | file`
//! (auto: keyring when it answers, else the file, and says so).
//!
//! Store calls block (file I/O, D-Bus); the actor runs them on `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::CredentialsStore as Mode;
use crate::secret::Secret;

/// Schema version of [`StoredCredentials`].
pub const SCHEMA_VERSION: u32 = 1;
/// Keyring service name.
pub const KEYRING_SERVICE: &str = "codexd";

/// One ChatGPT sign-in as stored. `Debug` prints no token (they are [`Secret`]s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCredentials {
    /// [`SCHEMA_VERSION`] when written; newer versions are refused rather than misread.
    pub version: u32,
    /// OpenID id token (email, plan, account id).
    pub id_token: Secret,
    /// Bearer token for the backend.
    pub access_token: Secret,
    /// Rotating, single-use refresh token.
    pub refresh_token: Secret,
    /// ChatGPT account id (`ChatGPT-Account-ID`).
    pub account_id: String,
    /// Unix seconds of the sign-in or the last successful refresh.
    pub last_refresh: u64,
    /// Set when a refresh failed permanently: why the user must sign in again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_again: Option<String>,
}

/// A store failure, for a person (never contains a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Which kind of store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// OS keyring.
    Keyring,
    /// The 0600 file.
    File,
    /// In memory (tests).
    Memory,
}

/// A place that holds at most one sign-in. Calls may block.
pub trait CredentialStore: Send + Sync + 'static {
    /// Which kind.
    fn kind(&self) -> StoreKind;
    /// Where, for a person ("keyring (Secret Service)", "file /path (mode 0600)").
    fn describe(&self) -> String;
    /// The stored sign-in, if any.
    fn load(&self) -> Result<Option<StoredCredentials>, StoreError>;
    /// Replace the stored sign-in durably.
    fn save(&self, creds: &StoredCredentials) -> Result<(), StoreError>;
    /// Delete it; true when something was there.
    fn delete(&self) -> Result<bool, StoreError>;
}

fn decode(bytes: &[u8], what: &str) -> Result<StoredCredentials, StoreError> {
    let creds: StoredCredentials = serde_json::from_slice(bytes).map_err(|e| {
        StoreError(format!(
            "the credentials in {what} are damaged (line {} column {}); run `codexctl logout --local-only` and sign in again",
            e.line(),
            e.column()
        ))
    })?;
    if creds.version > SCHEMA_VERSION {
        return Err(StoreError(format!(
            "the credentials in {what} were written by a newer codexd (schema {}); upgrade codexd",
            creds.version
        )));
    }
    Ok(creds)
}

fn encode(creds: &StoredCredentials) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(creds).map_err(|_| StoreError("cannot encode the credentials".into()))
}

/// The 0600 file (atomic replace: temp file, fsync, rename).
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CredentialStore for FileStore {
    fn kind(&self) -> StoreKind {
        StoreKind::File
    }

    fn describe(&self) -> String {
        format!("file {} (mode 0600)", self.path.display())
    }

    fn load(&self) -> Result<Option<StoredCredentials>, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => decode(&bytes, &self.path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError(format!(
                "cannot read {}: {e}; check its owner and permissions",
                self.path.display()
            ))),
        }
    }

    fn save(&self, creds: &StoredCredentials) -> Result<(), StoreError> {
        if let Some(dir) = self.path.parent() {
            crate::fsutil::create_private_dir(dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        crate::fsutil::write_atomic(&self.path, &encode(creds)?, 0o600).map_err(|e| {
            StoreError(format!(
                "cannot write {}: {e}; check free space and permissions",
                self.path.display()
            ))
        })
    }

    fn delete(&self) -> Result<bool, StoreError> {
        // A save interrupted by a crash leaves a temp copy that may hold a live refresh
        // token: it goes too.
        let temps = match self.path.parent() {
            Some(dir) => crate::fsutil::remove_stale_temps(dir, false).map_err(|e| {
                StoreError(format!(
                    "cannot delete leftover credential copies in {}: {e}",
                    dir.display()
                ))
            })?,
            None => 0,
        };
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                if let Some(dir) = self.path.parent() {
                    let _ = crate::fsutil::sync_dir(dir);
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(temps > 0),
            Err(e) => Err(StoreError(format!(
                "cannot delete {}: {e}",
                self.path.display()
            ))),
        }
    }
}

/// The OS keyring entry `codexd` / `chatgpt|<hash of the data dir>`.
pub struct KeyringStore {
    account: String,
}

/// Keyring account name for a data dir, so two HOMEs (or test runs) never share an entry.
pub fn keyring_account(data_dir: &Path) -> String {
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("chatgpt|{hex}")
}

fn keyring_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "keyring (macOS Keychain)"
    } else if cfg!(windows) {
        "keyring (Windows Credential Manager)"
    } else {
        "keyring (Secret Service)"
    }
}

/// Keyring errors for a person. Never `{:?}`: some variants carry the stored bytes.
fn keyring_error(e: &keyring::Error) -> String {
    match e {
        keyring::Error::PlatformFailure(inner) => format!("the keyring failed: {inner}"),
        keyring::Error::NoStorageAccess(inner) => {
            format!("the keyring is not accessible (locked or missing): {inner}")
        }
        keyring::Error::NoEntry => "no keyring entry".into(),
        keyring::Error::BadEncoding(_) => "the keyring entry is not UTF-8".into(),
        keyring::Error::TooLong(name, max) => format!("keyring {name} longer than {max}"),
        keyring::Error::Invalid(name, why) => format!("keyring {name} invalid: {why}"),
        keyring::Error::Ambiguous(_) => "several keyring entries match".into(),
        _ => "unknown keyring error".into(),
    }
}

impl KeyringStore {
    /// The entry for this data dir.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            account: keyring_account(data_dir),
        }
    }

    fn entry(&self) -> Result<keyring::Entry, StoreError> {
        keyring::Entry::new(KEYRING_SERVICE, &self.account)
            .map_err(|e| StoreError(keyring_error(&e)))
    }

    /// Whether the keyring answers at all (Err: why not).
    pub fn probe(&self) -> Result<(), String> {
        let entry = self.entry().map_err(|e| e.0)?;
        match entry.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(&e)),
        }
    }
}

impl CredentialStore for KeyringStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Keyring
    }

    fn describe(&self) -> String {
        format!(
            "{} entry {KEYRING_SERVICE}/{}",
            keyring_name(),
            self.account
        )
    }

    fn load(&self) -> Result<Option<StoredCredentials>, StoreError> {
        match self.entry()?.get_password() {
            Ok(s) => decode(s.as_bytes(), "the keyring").map(Some),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(StoreError(format!(
                "cannot read the credentials: {}; unlock the keyring or set credentials_store = \"file\"",
                keyring_error(&e)
            ))),
        }
    }

    fn save(&self, creds: &StoredCredentials) -> Result<(), StoreError> {
        let text = String::from_utf8(encode(creds)?)
            .map_err(|_| StoreError("cannot encode the credentials".into()))?;
        self.entry()?.set_password(&text).map_err(|e| {
            StoreError(format!(
                "cannot save the credentials: {}; unlock the keyring or set credentials_store = \"file\"",
                keyring_error(&e)
            ))
        })
    }

    fn delete(&self) -> Result<bool, StoreError> {
        match self.entry()?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(StoreError(format!(
                "cannot delete the keyring entry: {}",
                keyring_error(&e)
            ))),
        }
    }
}

/// In-memory store for tests.
#[derive(Default)]
pub struct MemoryStore {
    slot: Mutex<Option<StoredCredentials>>,
    /// When set, every save fails with this text (fault injection).
    pub fail_saves: Mutex<Option<String>>,
}

impl CredentialStore for MemoryStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Memory
    }
    fn describe(&self) -> String {
        "memory".into()
    }
    fn load(&self) -> Result<Option<StoredCredentials>, StoreError> {
        Ok(self.slot.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
    fn save(&self, creds: &StoredCredentials) -> Result<(), StoreError> {
        if let Some(why) = self
            .fail_saves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(StoreError(why));
        }
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(creds.clone());
        Ok(())
    }
    fn delete(&self) -> Result<bool, StoreError> {
        Ok(self
            .slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some())
    }
}

/// The stores in use: one primary, plus places an older copy may linger (deleted on logout).
#[derive(Clone)]
pub struct Stores {
    /// Where credentials are read and written.
    pub primary: Arc<dyn CredentialStore>,
    /// Other local copies to delete on logout (the file when the keyring is primary).
    pub others: Vec<Arc<dyn CredentialStore>>,
    /// Why the preferred store is not used, if so (shown in status, logged once).
    pub note: Option<String>,
}

impl Stores {
    /// One store, nothing else (tests).
    pub fn single(store: Arc<dyn CredentialStore>) -> Self {
        Self {
            primary: store,
            others: Vec::new(),
            note: None,
        }
    }

    /// Load from the primary; in auto mode with the keyring primary, a sign-in found only in
    /// the fallback file (from a time without keyring) is moved into the keyring.
    pub fn load(&self) -> Result<Option<StoredCredentials>, StoreError> {
        if let Some(c) = self.primary.load()? {
            return Ok(Some(c));
        }
        for other in &self.others {
            if let Ok(Some(c)) = other.load() {
                self.primary.save(&c)?;
                let _ = other.delete();
                tracing::info!(from = %other.describe(), to = %self.primary.describe(), "moved stored credentials");
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Delete every local copy; returns the descriptions of the stores that held one.
    pub fn delete_all(&self) -> Result<Vec<String>, StoreError> {
        let mut removed = Vec::new();
        let mut first_err = None;
        for s in std::iter::once(&self.primary).chain(&self.others) {
            match s.delete() {
                Ok(true) => removed.push(s.describe()),
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(removed),
        }
    }
}

/// Open the stores for `mode` (blocking: probes the keyring).
pub fn open(mode: Mode, data_dir: &Path, credentials_file: PathBuf) -> Stores {
    let file: Arc<dyn CredentialStore> = Arc::new(FileStore::new(credentials_file.clone()));
    match mode {
        Mode::File => Stores::single(file),
        Mode::Keyring => {
            let keyring = KeyringStore::new(data_dir);
            let note = keyring.probe().err().map(|why| {
                format!("credentials_store = \"keyring\" but the keyring is not usable ({why}); sign-in cannot be stored until it is")
            });
            Stores {
                primary: Arc::new(keyring),
                others: vec![file],
                note,
            }
        }
        Mode::Auto => {
            let keyring = KeyringStore::new(data_dir);
            match keyring.probe() {
                Ok(()) => Stores {
                    primary: Arc::new(keyring),
                    others: vec![file],
                    note: None,
                },
                Err(why) => Stores {
                    primary: file,
                    others: Vec::new(),
                    note: Some(format!(
                        "no OS keyring available ({why}); credentials are kept in {} (mode 0600) instead",
                        credentials_file.display()
                    )),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn creds(rt: &str) -> StoredCredentials {
        StoredCredentials {
            version: SCHEMA_VERSION,
            id_token: Secret::new("id"),
            access_token: Secret::new("acc"),
            refresh_token: Secret::new(rt),
            account_id: "a".into(),
            last_refresh: 1,
            sign_in_again: None,
        }
    }

    #[test]
    fn file_store_round_trip_mode_and_delete() {
        let tmp = tempfile::tempdir().expect("tmp");
        let s = FileStore::new(tmp.path().join("d/credentials.json"));
        assert_eq!(s.load().expect("load"), None);
        s.save(&creds("r1")).expect("save");
        s.save(&creds("r2")).expect("save");
        assert_eq!(s.load().expect("load"), Some(creds("r2")));
        let meta = std::fs::metadata(s.path()).expect("meta");
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert!(s.delete().expect("delete"));
        assert!(!s.delete().expect("delete again"));
    }

    #[test]
    fn damaged_file_is_a_clear_error_without_content() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = tmp.path().join("c.json");
        std::fs::write(&p, "{\"refresh_token\": \"SECRETVALUE\"").expect("write");
        let err = FileStore::new(p).load().expect_err("damaged");
        assert!(err.0.contains("damaged"));
        assert!(!err.0.contains("SECRETVALUE"));
    }

    #[test]
    fn debug_hides_tokens() {
        let text = format!("{:?}", creds("very-secret-refresh"));
        assert!(!text.contains("very-secret-refresh"));
    }

    #[test]
    fn fallback_copy_moves_to_primary_and_delete_all_clears_both() {
        let primary = Arc::new(MemoryStore::default());
        let other = Arc::new(MemoryStore::default());
        other.save(&creds("r")).expect("save");
        let stores = Stores {
            primary: primary.clone(),
            others: vec![other.clone()],
            note: None,
        };
        assert_eq!(stores.load().expect("load"), Some(creds("r")));
        assert_eq!(primary.load().expect("p"), Some(creds("r")));
        assert_eq!(other.load().expect("o"), None);
        other.save(&creds("x")).expect("save");
        assert_eq!(stores.delete_all().expect("delete").len(), 2);
        assert_eq!(primary.load().expect("p"), None);
    }

    #[test]
    fn keyring_accounts_differ_per_data_dir() {
        assert_ne!(
            keyring_account(Path::new("/a")),
            keyring_account(Path::new("/b"))
        );
        assert!(keyring_account(Path::new("/a")).starts_with("chatgpt|"));
    }
}
