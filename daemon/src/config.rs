//! Settings: `config.toml` in the config dir, then environment variables on top. Every setting
//! has a default, so no file is needed; every URL codexd calls is here and overridable.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use codexd_proto::conversation::{Effort, Verbosity};
use serde::{Deserialize, Serialize};

/// The public Codex OAuth client every ChatGPT sign-in uses.
pub const DEFAULT_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
/// Real OAuth issuer.
pub const DEFAULT_ISSUER: &str = "https://auth.openai.com";
/// Real ChatGPT backend base.
pub const DEFAULT_BACKEND_URL: &str = "https://chatgpt.com/backend-api";
/// Real GitHub API base.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
/// Real GitHub web base.
pub const DEFAULT_GITHUB_URL: &str = "https://github.com";
/// Real raw-file base.
pub const DEFAULT_GITHUB_RAW_URL: &str = "https://raw.githubusercontent.com";
/// How codexd identifies itself: the `originator` header on every backend and token call.
pub const ORIGINATOR: &str = "codexd";
/// The authorize URL's `originator`: the sign-in server accepts only allow-listed values for
/// the public Codex client id and dead-ends on its consent page otherwise (upstream.md §1).
pub const DEFAULT_AUTHORIZE_ORIGINATOR: &str = "codex_cli_rs";
/// The compatibility version claimed before the release tag is known (a cold cache): the
/// Codex CLI release this build was checked against. The backend hides models that need more.
pub const CLIENT_VERSION_FLOOR: &str = "0.171.0";

/// All settings.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Sign-in.
    pub auth: AuthConfig,
    /// Codex backend.
    pub backend: BackendConfig,
    /// GitHub (instructions source).
    pub github: GitHubConfig,
    /// Instructions cache.
    pub instructions: InstructionsConfig,
    /// Conversations.
    pub sessions: SessionsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Socket server.
    pub server: ServerConfig,
    /// The OpenAI-compatible gateway for other tools.
    pub gateway: GatewayConfig,
}

/// Where credentials are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CredentialsStore {
    /// OS keyring when available, else the 0600 file (and say so).
    #[default]
    Auto,
    /// OS keyring only; fail when unavailable.
    Keyring,
    /// The 0600 file only.
    File,
}

/// How the revoke request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RevokeEncoding {
    /// JSON (what the real server takes).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` (RFC 7009).
    Form,
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// OAuth issuer base URL; authorize, token, revoke and device endpoints hang off it.
    pub issuer: String,
    /// OAuth client id.
    pub client_id: String,
    /// Loopback callback ports, tried in order.
    pub callback_ports: Vec<u16>,
    /// Where credentials are stored.
    pub credentials_store: CredentialsStore,
    /// Revoke body encoding.
    pub revoke_encoding: RevokeEncoding,
    /// Give up on a browser or paste login after this long.
    pub login_timeout_secs: u64,
    /// Refresh when the access token expires within this many seconds.
    pub refresh_margin_secs: u64,
    /// The authorize URL's `originator` (must be on the sign-in server's allow-list).
    pub authorize_originator: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: DEFAULT_ISSUER.into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            callback_ports: vec![1455, 1457],
            credentials_store: CredentialsStore::Auto,
            revoke_encoding: RevokeEncoding::Json,
            login_timeout_secs: 600,
            refresh_margin_secs: 300,
            authorize_originator: DEFAULT_AUTHORIZE_ORIGINATOR.into(),
        }
    }
}

/// `[backend]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    /// ChatGPT backend base; `/codex/responses`, `/codex/models`, `/wham/usage` hang off it.
    pub url: String,
    /// Default model; unset = the catalog's listed model with the lowest priority.
    pub model: Option<String>,
    /// Default reasoning effort (any the model lists in the catalog; clamped to them).
    pub effort: Option<Effort>,
    /// Default verbosity (`low`, `medium`, `high`); unset = the model's catalog default.
    pub verbosity: Option<Verbosity>,
    /// Reasoning summaries (`auto`, `concise`, `detailed`); unset = only when the model's
    /// catalog default is not `none` or the client asks for them.
    pub reasoning_summary: Option<SummaryMode>,
    /// The compatibility version claimed to the backend (`client_version`, `version`);
    /// unset = derived from the latest openai/codex release tag.
    pub client_version: Option<String>,
    /// Give up on a stream after this long without an event.
    pub idle_timeout_secs: u64,
    /// Connect timeout for backend requests.
    pub connect_timeout_secs: u64,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_BACKEND_URL.into(),
            model: None,
            effort: None,
            verbosity: None,
            reasoning_summary: None,
            client_version: None,
            idle_timeout_secs: 300,
            connect_timeout_secs: 15,
        }
    }
}

/// `reasoning.summary` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryMode {
    /// Let the backend choose.
    Auto,
    /// Short summaries.
    Concise,
    /// Long summaries.
    Detailed,
    /// None, even when a client asks.
    None,
}

impl SummaryMode {
    /// The backend's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryMode::Auto => "auto",
            SummaryMode::Concise => "concise",
            SummaryMode::Detailed => "detailed",
            SummaryMode::None => "none",
        }
    }
}

/// `[github]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitHubConfig {
    /// API base (`/repos/{repo}/releases/latest`).
    pub api_url: String,
    /// Web base (`/{repo}/releases/latest` redirect fallback).
    pub web_url: String,
    /// Raw file base (`/{repo}/{tag}/{path}`).
    pub raw_url: String,
    /// Repository holding the catalog and the prompts.
    pub repo: String,
    /// The model catalog's path in the repository.
    pub catalog_path: String,
}

impl Default for GitHubConfig {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_GITHUB_API_URL.into(),
            web_url: DEFAULT_GITHUB_URL.into(),
            raw_url: DEFAULT_GITHUB_RAW_URL.into(),
            repo: "openai/codex".into(),
            catalog_path: "codex-rs/models-manager/models.json".into(),
        }
    }
}

/// Where instructions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InstructionsSource {
    /// Fetch from the openai/codex GitHub release.
    #[default]
    Github,
    /// Never contact GitHub; use overrides or the fallback.
    Off,
}

/// One model family: models whose slug starts with `prefix` use `file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyRule {
    /// Model slug prefix.
    pub prefix: String,
    /// Family name (also the override file's stem).
    pub family: String,
    /// Prompt file in `codex-rs/core/`.
    pub file: String,
}

/// `[instructions]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstructionsConfig {
    /// `github` or `off`.
    pub source: InstructionsSource,
    /// Seconds within which a cached copy is used without any network.
    pub ttl_secs: u64,
    /// Family table override (most specific prefix first); empty = built-in table.
    pub families: Vec<FamilyRule>,
}

impl Default for InstructionsConfig {
    fn default() -> Self {
        Self {
            source: InstructionsSource::Github,
            ttl_secs: 900,
            families: Vec::new(),
        }
    }
}

/// `[sessions]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Stop a session actor after this many idle seconds (it reloads from disk when addressed).
    pub idle_stop_secs: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            idle_stop_secs: 600,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `codexd=debug`.
    pub filter: String,
    /// Daily log files kept.
    pub max_files: usize,
    /// Write one file per request stage with bodies (prompts and answers!) to disk.
    pub request_logging: bool,
    /// Cap on the request log directory.
    pub request_log_max_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            max_files: 7,
            request_logging: false,
            request_log_max_bytes: 100 * 1024 * 1024,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Most connections served at once outside long-running requests; more are told
    /// "codexd is busy" and closed.
    pub max_connections: usize,
    /// Most long-running requests (asks, `logs -f`, sign-ins) at once, counted apart from
    /// `max_connections` so neither kind can crowd out the other.
    pub max_streams: usize,
    /// A connection is closed between requests once it has spent this many seconds outside
    /// long-running requests, whatever it sends (pings included).
    pub idle_connection_secs: u64,
    /// A client must finish the handshake within this many milliseconds.
    pub handshake_timeout_ms: u64,
    /// On shutdown, wait this long for running requests.
    pub shutdown_grace_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_streams: 256,
            idle_connection_secs: 300,
            handshake_timeout_ms: 3000,
            shutdown_grace_ms: 5000,
        }
    }
}

/// Default loopback port of the gateway's TCP listener: clear of ChatMock (8000),
/// openai-oauth (10531), LiteLLM (4000), Ollama (11434) and the Codex login (1455/1457).
pub const DEFAULT_GATEWAY_PORT: u16 = 8139;

/// `[gateway]`: the OpenAI-compatible endpoint (`daemon/src/gateway/`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Serve on `gateway.sock` next to the control socket (no key; this user only).
    pub unix_socket: bool,
    /// Serve on loopback TCP (`127.0.0.1` and `[::1]`, key required). Off by default;
    /// `codexctl gateway on|off` overrides this.
    pub tcp: bool,
    /// The TCP port (both addresses).
    pub port: u16,
    /// Origins allowed to call the gateway from a browser (default: none).
    pub allowed_origins: Vec<String>,
    /// `originator` values treated as Codex clients (body passed through unchanged), besides
    /// `codex_*` and `Codex Desktop`.
    pub passthrough_originators: Vec<String>,
    /// Responses kept for `previous_response_id`.
    pub store_responses: usize,
    /// Items kept over all stored responses.
    pub store_items: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            unix_socket: true,
            tcp: false,
            port: DEFAULT_GATEWAY_PORT,
            allowed_origins: Vec::new(),
            passthrough_originators: Vec::new(),
            store_responses: 256,
            store_items: 2000,
        }
    }
}

impl Config {
    /// Load `path` if it exists, then apply environment overrides.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let mut config = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("{} is not valid; fix or remove it", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        config.apply_env(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))?;
        Ok(config)
    }

    /// Apply environment overrides from `get` (a function so tests need not touch the env).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("CODEXD_AUTH_ISSUER") {
            self.auth.issuer = v;
        }
        if let Some(v) = get("CODEXD_BACKEND_URL") {
            self.backend.url = v;
        }
        if let Some(v) = get("CODEXD_GITHUB_API_URL") {
            self.github.api_url = v;
        }
        if let Some(v) = get("CODEXD_GITHUB_URL") {
            self.github.web_url = v;
        }
        if let Some(v) = get("CODEXD_GITHUB_RAW_URL") {
            self.github.raw_url = v;
        }
        if let Some(v) = get("CODEXD_LOG") {
            self.log.filter = v;
        }
        if let Some(v) = get("CODEXD_CALLBACK_PORTS") {
            self.auth.callback_ports = v
                .split(',')
                .map(|p| p.trim().parse::<u16>())
                .collect::<Result<_, _>>()
                .context("CODEXD_CALLBACK_PORTS must be a comma-separated list of ports")?;
        }
        if let Some(v) = get("CODEXD_MODEL") {
            self.backend.model = Some(v);
        }
        if let Some(v) = get("CODEXD_CLIENT_VERSION") {
            self.backend.client_version = Some(v);
        }
        if let Some(v) = get("CODEXD_CREDENTIALS_STORE") {
            self.auth.credentials_store = match v.as_str() {
                "auto" => CredentialsStore::Auto,
                "keyring" => CredentialsStore::Keyring,
                "file" => CredentialsStore::File,
                _ => anyhow::bail!("CODEXD_CREDENTIALS_STORE must be auto, keyring or file"),
            };
        }
        if let Some(v) = &self.backend.client_version
            && codexd_proto::version::parts(v).is_none()
        {
            anyhow::bail!(
                "backend.client_version {v:?} is not a version; write it like \"0.171.0\" (or remove it to follow the latest Codex release)"
            );
        }
        if self
            .backend
            .model
            .as_deref()
            .is_some_and(|m| m.trim().is_empty())
        {
            self.backend.model = None;
        }
        self.check_endpoints(|k| get(k).is_some())?;
        Ok(())
    }

    /// Every endpoint must be a valid URL, and HTTPS unless it is on this machine.
    fn check_endpoints(&self, from_env: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        use crate::endpoint_policy::{Endpoint, check};
        let e = |setting, env_var, url| Endpoint {
            setting,
            env_var,
            from_env: from_env(env_var),
            url,
        };
        check(&[
            e("auth.issuer", "CODEXD_AUTH_ISSUER", &self.auth.issuer),
            e("backend.url", "CODEXD_BACKEND_URL", &self.backend.url),
            e(
                "github.api_url",
                "CODEXD_GITHUB_API_URL",
                &self.github.api_url,
            ),
            e("github.web_url", "CODEXD_GITHUB_URL", &self.github.web_url),
            e(
                "github.raw_url",
                "CODEXD_GITHUB_RAW_URL",
                &self.github.raw_url,
            ),
        ])?;
        Ok(())
    }

    /// Endpoints that differ from their defaults, for `codexctl status`.
    pub fn endpoint_overrides(&self) -> Vec<(String, String)> {
        [
            ("auth.issuer", &self.auth.issuer, DEFAULT_ISSUER),
            ("backend.url", &self.backend.url, DEFAULT_BACKEND_URL),
            (
                "github.api_url",
                &self.github.api_url,
                DEFAULT_GITHUB_API_URL,
            ),
            ("github.web_url", &self.github.web_url, DEFAULT_GITHUB_URL),
            (
                "github.raw_url",
                &self.github.raw_url,
                DEFAULT_GITHUB_RAW_URL,
            ),
        ]
        .into_iter()
        .filter(|(_, v, d)| v.trim_end_matches('/') != *d)
        .map(|(n, v, _)| (n.to_string(), v.clone()))
        .collect()
    }
}

/// Resolve the config file path: `$CODEXD_CONFIG`, else `<config dir>/config.toml`.
pub fn config_path(paths: &crate::paths::Paths) -> PathBuf {
    std::env::var_os("CODEXD_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths.config_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_real_services() {
        let c = Config::default();
        assert_eq!(c.auth.issuer, DEFAULT_ISSUER);
        assert!(c.endpoint_overrides().is_empty());
    }

    #[test]
    fn env_overrides_file_and_is_listed() {
        let mut c: Config =
            toml::from_str("[backend]\nurl = \"http://127.0.0.1:1/backend-api\"\n").unwrap();
        c.apply_env(|k| (k == "CODEXD_AUTH_ISSUER").then(|| "http://127.0.0.1:2".to_string()))
            .unwrap();
        assert_eq!(c.auth.issuer, "http://127.0.0.1:2");
        assert_eq!(c.endpoint_overrides().len(), 2);
    }

    #[test]
    fn bad_values_are_clear_errors() {
        assert!(toml::from_str::<Config>("[auth]\nnope = 1\n").is_err());
        let mut c = Config::default();
        let err = c
            .apply_env(|k| (k == "CODEXD_BACKEND_URL").then(|| "not a url".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("not a valid URL"));
    }
}
