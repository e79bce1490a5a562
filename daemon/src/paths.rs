//! Where codexd keeps its files (crate `directories`, `ProjectDirs::from("", "", "codexd")`):
//! config (`config.toml`, instruction overrides), data (sessions, credential file fallback),
//! cache (instructions, models), state (logs, the lock file). Linux follows the XDG variables,
//! so tests isolate themselves by pointing `HOME`/`XDG_*` at temp dirs.

use std::path::PathBuf;

/// Resolved directories.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `~/.config/codexd`
    pub config_dir: PathBuf,
    /// `~/.local/share/codexd`
    pub data_dir: PathBuf,
    /// `~/.cache/codexd`
    pub cache_dir: PathBuf,
    /// `~/.local/state/codexd` (macOS: `~/Library/Logs/codexd`'s parent has no state dir, so
    /// the data dir is used).
    pub state_dir: PathBuf,
    /// `~/Library/Logs/codexd` on macOS, else `<state>/logs`.
    pub log_dir: PathBuf,
}

impl Paths {
    /// Resolve from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "codexd").ok_or_else(|| {
            anyhow::anyhow!("cannot find your home directory; set HOME and start codexd again")
        })?;
        let state_dir = dirs
            .state_dir()
            .map(PathBuf::from)
            .unwrap_or_else(|| dirs.data_dir().join("state"));
        let log_dir = if cfg!(target_os = "macos") {
            directories::BaseDirs::new()
                .map(|b| b.home_dir().join("Library/Logs/codexd"))
                .unwrap_or_else(|| state_dir.join("logs"))
        } else {
            state_dir.join("logs")
        };
        Ok(Self {
            config_dir: dirs.config_dir().to_path_buf(),
            data_dir: dirs.data_dir().to_path_buf(),
            cache_dir: dirs.cache_dir().to_path_buf(),
            state_dir,
            log_dir,
        })
    }

    /// All paths below one root (tests).
    pub fn under(root: &std::path::Path) -> Self {
        Self {
            config_dir: root.join("config"),
            data_dir: root.join("data"),
            cache_dir: root.join("cache"),
            state_dir: root.join("state"),
            log_dir: root.join("state/logs"),
        }
    }

    /// The config file.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// The daemon's lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir.join("codexd.lock")
    }

    /// Conversation histories.
    pub fn sessions_dir(&self) -> PathBuf {
        self.data_dir.join("sessions")
    }

    /// Credential file (used when no keyring is available or `credentials_store = "file"`).
    pub fn credentials_file(&self) -> PathBuf {
        self.data_dir.join("credentials.json")
    }

    /// Instruction cache.
    pub fn instructions_cache_dir(&self) -> PathBuf {
        self.cache_dir.join("instructions")
    }

    /// User overrides of instructions, one `<family>.md` per model family.
    pub fn instructions_override_dir(&self) -> PathBuf {
        self.config_dir.join("instructions")
    }

    /// Opt-in request logs.
    pub fn request_log_dir(&self) -> PathBuf {
        self.log_dir.join("requests")
    }
}
