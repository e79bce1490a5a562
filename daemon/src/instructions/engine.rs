//! The instructions engine: which model a turn uses and with which base instructions. It
//! keeps in-memory copies of the GitHub files (the release's model catalog `models.json` and
//! the legacy prompt files) and of the account's live catalog, with TTL and
//! stale-while-revalidate, single-flight refreshes, rate-limit and outage handling (logged
//! once per episode), and the user's override files. The actor in `mod.rs` is a thin shell
//! around it; tests drive it directly with fake endpoints and an injected clock.
//!
//! Rules: a caller never waits on disk or network when a copy is in memory (revalidation runs
//! in a spawned task); with no copy at all it waits a few seconds, once — while a check is
//! known to be failing or slow, it serves what there is at once; concurrent callers share one
//! refresh per file; while GitHub's rate limit is in force no call is made at all; a failed
//! check is retried after a short backoff, not on every request.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use codexd_proto::instructions::{
    InstructionSource, InstructionsInfo, InstructionsRequest, ModelCatalog, ModelSource,
};
use codexd_proto::{ErrorCode, WireError};
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use super::cache::{CatalogMeta, DiskCache, FileMeta, ReleaseMeta, sha256_hex};
use super::catalog::{self, CatalogError, CatalogModel};
use super::families::{Families, safe_name};
use super::github::{Fetched, GitHub, GitHubError};
use super::merge::{Merged, MergedModel};
use super::{ResolvedInstructions, fallback};
use crate::auth::Access;
use crate::backend::Backend;
use crate::backend::compat::Compat;
use crate::config::{Config, InstructionsSource};
use crate::paths::Paths;

/// Current time, unix seconds (injected so tests control the TTL).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;
/// A bearer token source for tests (see [`crate::backend::Tokens`]).
pub type AccessFn = Arc<dyn Fn() -> BoxFuture<'static, Result<Access, WireError>> + Send + Sync>;

/// A first request with no copy at all waits this long for GitHub (and the live catalog)
/// before using what there is.
const COLD_WAIT: Duration = Duration::from_secs(5);
/// The cache key of the release's model catalog among the GitHub files.
pub const CATALOG_FILE: &str = "models.json";
/// Most override files read (`<slug>.md` / `<family>.md`).
const MAX_OVERRIDES: usize = 256;
/// `--refresh` waits this long for the revalidation.
const REFRESH_WAIT: Duration = Duration::from_secs(20);
/// After a failed check, wait at most this long (and at most the TTL) before the next one.
const MAX_RETRY_BACKOFF: u64 = 60;
/// Override files larger than this are ignored (a mistake, not instructions).
const MAX_OVERRIDE_BYTES: u64 = 1024 * 1024;

/// What the engine needs.
#[derive(Clone)]
pub struct EngineDeps {
    /// Settings.
    pub config: Arc<Config>,
    /// Where files live.
    pub paths: Paths,
    /// Shared HTTP client (no redirect following).
    pub http: reqwest::Client,
    /// The clock.
    pub clock: Clock,
    /// The backend client, for the account's live catalog; `None` disables it.
    pub backend: Option<Backend>,
    /// The compatibility version (learns the release tag from here).
    pub compat: Compat,
}

/// Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    deps: EngineDeps,
    families: Families,
    github: GitHub,
    cache: DiskCache,
    override_dir: PathBuf,
    state: Mutex<State>,
    /// Flips to true once the disk state is loaded.
    loaded: tokio::sync::watch::Sender<bool>,
}

type Flight = Shared<BoxFuture<'static, ()>>;

#[derive(Default)]
struct State {
    prompts: HashMap<String, Prompt>,
    overrides: HashMap<String, Override>,
    release: Option<ReleaseMeta>,
    catalog: Option<Catalog>,
    /// Running refreshes by key (`prompt:<file>`, `catalog`): the single flight.
    inflight: HashMap<String, Flight>,
    /// GitHub rate limit: no call before this time.
    blocked_until: Option<u64>,
    /// After a failure: no automatic retry of this key before the time.
    retry_at: HashMap<String, u64>,
    /// The current GitHub problem (shown as a note, logged once per episode).
    problem: Option<Problem>,
    /// The current catalog problem.
    catalog_problem: Option<String>,
    /// Files whose next fetch must not send an ETag (their cache file went missing).
    force_full: HashSet<String>,
    /// Model names already warned about.
    warned_unknown: HashSet<String>,
    /// The release's catalog file, parsed (rebuilt when its text changes).
    file_catalog: Option<FileCatalog>,
    /// The running release lookup (shared by every file's revalidation).
    release_flight: Option<Shared<BoxFuture<'static, Result<String, GitHubError>>>>,
    /// Keys whose first cold wait ran out while their check still runs: later callers do not
    /// wait for it again (a GitHub that hangs must not stall every request).
    slow: HashSet<String>,
}

#[derive(Clone)]
struct FileCatalog {
    sha256: String,
    models: Arc<Vec<CatalogModel>>,
}

#[derive(Clone)]
struct Prompt {
    text: Arc<str>,
    meta: FileMeta,
}

#[derive(Clone)]
struct Override {
    text: Arc<str>,
    path: PathBuf,
    sha256: String,
}

#[derive(Clone)]
struct Catalog {
    models: Vec<CatalogModel>,
    meta: CatalogMeta,
}

#[derive(Clone, PartialEq, Eq)]
struct Problem {
    kind: ProblemKind,
    message: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ProblemKind {
    RateLimited,
    Unreachable,
    Failing,
}

/// Disk state read at start.
#[derive(Default)]
struct Loaded {
    prompts: HashMap<String, Prompt>,
    overrides: HashMap<String, Override>,
    release: Option<ReleaseMeta>,
    catalog: Option<Catalog>,
    file_catalog: Option<FileCatalog>,
}

/// Parse the release's catalog file (its models carry the tag they were fetched at).
fn parse_file_catalog(p: &Prompt) -> Option<FileCatalog> {
    match catalog::parse(&p.text, &ModelSource::CatalogFile(p.meta.tag.clone())) {
        Ok(models) => Some(FileCatalog {
            sha256: p.meta.sha256.clone(),
            models: Arc::new(models),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "the cached release model catalog cannot be read; it will be fetched again");
            None
        }
    }
}

/// The base instructions a catalog entry carries, with where they came from (the live
/// catalog, or the release's catalog file at its tag); `None` when it carries none.
fn catalog_instructions(e: &MergedModel) -> Option<(Arc<str>, InstructionSource)> {
    let text = e.model.base_instructions.clone()?;
    let source = match &e.model.info.source {
        ModelSource::Live => InstructionSource::LiveCatalog,
        ModelSource::CatalogFile(tag) => InstructionSource::CatalogFile { tag: tag.clone() },
    };
    Some((text, source))
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    /// Build; call [`Engine::load`] (inside a tokio runtime) to read the disk state.
    pub fn new(deps: EngineDeps) -> Self {
        let families = Families::from_rules(deps.config.instructions.families.clone());
        let github = GitHub::new(deps.http.clone(), deps.config.github.clone());
        let cache = DiskCache::new(deps.paths.instructions_cache_dir());
        let override_dir = deps.paths.instructions_override_dir();
        Self {
            inner: Arc::new(Inner {
                deps,
                families,
                github,
                cache,
                override_dir,
                state: Mutex::new(State::default()),
                loaded: tokio::sync::watch::channel(false).0,
            }),
        }
    }

    /// The override directory (`<config>/instructions`).
    pub fn override_dir(&self) -> &std::path::Path {
        &self.inner.override_dir
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &std::path::Path {
        self.inner.cache.dir()
    }

    fn now(&self) -> u64 {
        (self.inner.deps.clock)()
    }

    fn ttl(&self) -> u64 {
        self.inner.deps.config.instructions.ttl_secs
    }

    fn github_on(&self) -> bool {
        self.inner.deps.config.instructions.source == InstructionsSource::Github
    }

    /// Where a GitHub file lives in the repository: the release catalog, or a prompt file.
    fn repo_path(&self, file: &str) -> String {
        if file == CATALOG_FILE {
            self.inner.deps.config.github.catalog_path.clone()
        } else {
            format!("codex-rs/core/{file}")
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Read the cache and the overrides from disk in a blocking task, then mark the engine
    /// ready. Requests arriving before then wait for it (once).
    pub async fn load(&self) {
        let me = self.clone();
        let loaded = tokio::task::spawn_blocking(move || me.read_disk())
            .await
            .unwrap_or_default();
        if let Some(r) = &loaded.release {
            self.inner.deps.compat.set_release_tag(&r.tag);
        }
        {
            let mut st = self.state();
            st.prompts = loaded.prompts;
            st.overrides = loaded.overrides;
            st.release = loaded.release;
            st.catalog = loaded.catalog;
            st.file_catalog = loaded.file_catalog;
        }
        self.inner.loaded.send_replace(true);
    }

    async fn ready(&self) {
        let mut rx = self.inner.loaded.subscribe();
        let _ = rx.wait_for(|l| *l).await;
    }

    fn read_disk(&self) -> Loaded {
        let cache = &self.inner.cache;
        let mut prompts = HashMap::new();
        let mut files = self.inner.families.files();
        files.push(CATALOG_FILE.to_string());
        for file in files {
            if !safe_name(&file) {
                continue;
            }
            match cache.load_prompt(&file) {
                Ok(Some((text, meta))) => {
                    prompts.insert(
                        file,
                        Prompt {
                            text: text.into(),
                            meta,
                        },
                    );
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "instructions cache damaged; deleting it and fetching again");
                    cache.remove_prompt(&file);
                }
            }
        }
        let catalog = match cache.load_catalog() {
            Ok(Some((body, meta))) => catalog::parse(&body, &ModelSource::Live)
                .ok()
                .map(|models| Catalog { models, meta }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "model catalog cache damaged; it will be fetched again");
                None
            }
        };
        let file_catalog = prompts
            .get(CATALOG_FILE)
            .and_then(|p: &Prompt| parse_file_catalog(p));
        Loaded {
            file_catalog,
            prompts,
            overrides: self.read_overrides(),
            release: cache.load_release(),
            catalog,
        }
    }

    /// Every `<name>.md` in the override directory: `name` is a model slug or a family.
    fn read_overrides(&self) -> HashMap<String, Override> {
        let mut out = HashMap::new();
        let names: Vec<String> = std::fs::read_dir(&self.inner.override_dir)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let stem = name.strip_suffix(".md")?;
                        safe_name(stem).then(|| stem.to_string())
                    })
                    .take(MAX_OVERRIDES)
                    .collect()
            })
            .unwrap_or_default();
        for family in names {
            let path = self.inner.override_dir.join(format!("{family}.md"));
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            if meta.len() > MAX_OVERRIDE_BYTES {
                tracing::warn!(path = %path.display(), "override file is larger than 1 MiB; ignoring it");
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => {
                    let sha256 = sha256_hex(text.as_bytes());
                    out.insert(
                        family,
                        Override {
                            text: text.into(),
                            path,
                            sha256,
                        },
                    );
                }
                Ok(_) => {
                    tracing::warn!(path = %path.display(), "override file is empty; ignoring it")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read the override file (it must be UTF-8 text); ignoring it")
                }
            }
        }
        out
    }

    /// Re-read the override files (the watcher calls this).
    pub async fn reload_overrides(&self) {
        self.ready().await;
        let me = self.clone();
        let Ok(fresh) = tokio::task::spawn_blocking(move || me.read_overrides()).await else {
            return;
        };
        let mut st = self.state();
        let old: HashMap<&String, &String> =
            st.overrides.iter().map(|(k, v)| (k, &v.sha256)).collect();
        let new: HashMap<&String, &String> = fresh.iter().map(|(k, v)| (k, &v.sha256)).collect();
        if old != new {
            tracing::info!(families = ?fresh.keys().collect::<Vec<_>>(), "instruction overrides reloaded");
        }
        st.overrides = fresh;
    }

    /// Check the cache files against memory (the watcher calls this): a missing or damaged
    /// file is fetched again in full; the in-memory copy keeps serving meanwhile.
    pub async fn check_cache(&self) {
        self.ready().await;
        let expected: Vec<(String, String)> = {
            let st = self.state();
            st.prompts
                .iter()
                .filter(|(file, _)| !st.inflight.contains_key(&prompt_key(file)))
                .map(|(file, p)| (file.clone(), p.meta.sha256.clone()))
                .collect()
        };
        let cache = self.inner.cache.clone();
        let Ok(damaged) = tokio::task::spawn_blocking(move || {
            expected
                .into_iter()
                .filter(|(file, sha)| !cache.prompt_intact(file, sha))
                .map(|(file, _)| file)
                .collect::<Vec<_>>()
        })
        .await
        else {
            return;
        };
        for file in damaged {
            tracing::warn!(file = %file, "the cached instructions file is gone or changed; fetching it again");
            self.state().force_full.insert(file.clone());
            if self.github_on() {
                drop(self.revalidate(&file, true));
            }
        }
    }

    /// The model a turn uses (`wanted`, else `backend.model`, else the catalog's default) and
    /// its base instructions: the user's override file (`<slug>.md`, then `<family>.md`),
    /// else the merged catalog's, else the legacy prompt file, else codexd's fallback. From
    /// memory when a copy exists (a stale one is revalidated in the background); with no copy
    /// the first caller waits a few seconds. Fails only when no model can be chosen at all.
    pub async fn resolve(&self, wanted: Option<&str>) -> Result<ResolvedInstructions, WireError> {
        self.resolve_with(wanted, true).await
    }

    /// [`Engine::resolve`]; with `wait` false a cold cache is not waited for.
    async fn resolve_with(
        &self,
        wanted: Option<&str>,
        wait: bool,
    ) -> Result<ResolvedInstructions, WireError> {
        self.ready().await;
        self.maybe_refresh_catalog();
        if self.github_on() && self.state().prompts.contains_key(CATALOG_FILE) {
            self.maybe_revalidate(CATALOG_FILE);
        }
        let configured = self.inner.deps.config.backend.model.clone();
        if wait && !self.knows_model(wanted, configured.as_deref()) {
            self.cold_wait_catalogs().await;
        }
        let merged = self.merged();
        let client_version = self.inner.deps.compat.current();
        let (model, default_model) = match (wanted, configured) {
            (Some(m), _) => (m.to_string(), false),
            (None, Some(m)) => (m, true),
            (None, None) => match merged.default_slug() {
                Some(m) => (m.to_string(), true),
                None => return Err(self.no_default_model()),
            },
        };
        let entry = merged.get(&model).cloned();
        let resolved = self.inner.families.resolve(&model);
        let (family, file) = (resolved.rule.family.clone(), resolved.rule.file.clone());
        if entry.is_none() && self.state().warned_unknown.insert(model.clone()) {
            tracing::warn!(model, family = %family, "no model catalog lists this model; using its family's prompt file");
        }
        let base = ResolvedInstructions {
            model: model.clone(),
            default_model,
            text: Arc::from(fallback::TEXT),
            family: family.clone(),
            source: InstructionSource::Fallback,
            offered: entry.as_ref().is_some_and(|e| e.offered),
            info: entry.as_ref().map(|e| e.model.info.clone()),
            client_version,
        };
        if let Some(o) = self.override_for(&model, &family) {
            return Ok(ResolvedInstructions {
                text: o.text,
                source: InstructionSource::Override {
                    path: o.path.display().to_string(),
                },
                ..base
            });
        }
        if let Some((text, source)) = entry.as_ref().and_then(catalog_instructions) {
            return Ok(ResolvedInstructions {
                text,
                source,
                ..base
            });
        }
        self.fetch_prompt_file(&file, wait).await;
        Ok(self.with_prompt_file(&file, base))
    }

    /// Whether a catalog already lists the model a resolve is for (the one wanted, else the
    /// configured one, else any default): if not, a cold start waits for the catalogs.
    fn knows_model(&self, wanted: Option<&str>, configured: Option<&str>) -> bool {
        let merged = self.merged();
        match wanted.or(configured) {
            Some(slug) => merged.get(slug).is_some(),
            None => merged.default_slug().is_some(),
        }
    }

    /// The user's override for `model`, else for its `family`.
    fn override_for(&self, model: &str, family: &str) -> Option<Override> {
        let st = self.state();
        st.overrides
            .get(model)
            .or_else(|| st.overrides.get(family))
            .cloned()
    }

    /// Get the family prompt `file` from GitHub as the call allows: a held copy is
    /// revalidated in the background; with none, a waiting call waits a few seconds for it
    /// (once per cold start) and a non-waiting one starts the fetch when GitHub may be called.
    async fn fetch_prompt_file(&self, file: &str, wait: bool) {
        if !self.github_on() {
            return;
        }
        let have_copy = self.state().prompts.contains_key(file);
        if have_copy {
            self.maybe_revalidate(file);
        } else if !wait {
            if self.may_call_github(file, self.now()) {
                drop(self.revalidate(file, false));
            }
        } else if self.may_cold_wait(&prompt_key(file), file) {
            let flight = self.revalidate(file, false);
            self.wait_or_mark_slow(flight, &[prompt_key(file)]).await;
        }
    }

    /// `base` with the text of the family prompt `file` when a copy is held (GitHub when
    /// fresh, stale otherwise); `base` (the fallback) as is when none is.
    fn with_prompt_file(&self, file: &str, base: ResolvedInstructions) -> ResolvedInstructions {
        let now = self.now();
        let st = self.state();
        match st.prompts.get(file) {
            Some(p) => ResolvedInstructions {
                text: p.text.clone(),
                source: if self.is_fresh(&p.meta, now) {
                    InstructionSource::GitHub
                } else {
                    InstructionSource::Stale
                },
                ..base
            },
            None => base,
        }
    }

    /// The merged view of both catalogs.
    pub fn merged(&self) -> Merged {
        let st = self.state();
        Merged::new(
            st.catalog.as_ref().map(|c| c.models.as_slice()),
            st.file_catalog.as_ref().map(|c| c.models.as_slice()),
            &self.inner.deps.compat.current().version,
        )
    }

    fn no_default_model(&self) -> WireError {
        let st = self.state();
        let why = st
            .catalog_problem
            .clone()
            .or_else(|| st.problem.as_ref().map(|p| p.message.clone()))
            .unwrap_or_else(|| "neither GitHub nor the backend has answered yet".into());
        WireError::new(
            ErrorCode::Network,
            format!(
                "No model catalog is available yet to pick a default model ({why}). Pass --model, or set backend.model in config.toml; `codexctl models --refresh` tries again."
            ),
        )
    }

    /// With no copy of a catalog, start fetching both and wait (bounded) — unless a check is
    /// known to be failing or slow, in which case the caller goes on at once.
    async fn cold_wait_catalogs(&self) {
        let mut flights = Vec::new();
        let mut keys = Vec::new();
        if self.github_on()
            && !self.state().prompts.contains_key(CATALOG_FILE)
            && self.may_cold_wait(&prompt_key(CATALOG_FILE), CATALOG_FILE)
        {
            flights.push(self.revalidate(CATALOG_FILE, false));
            keys.push(prompt_key(CATALOG_FILE));
        }
        if self.inner.deps.backend.is_some()
            && self.state().catalog.is_none()
            && self.may_cold_wait(CATALOG_KEY, "")
        {
            flights.push(self.refresh_catalog(false));
            keys.push(CATALOG_KEY.to_string());
        }
        if !flights.is_empty() {
            self.wait_or_mark_slow(futures_util::future::join_all(flights), &keys)
                .await;
        }
    }

    /// Whether a caller with no copy may wait for `key`'s check: not while it is in its
    /// retry backoff, rate-limited, or known to be slow.
    fn may_cold_wait(&self, key: &str, file: &str) -> bool {
        let now = self.now();
        let st = self.state();
        let allowed = if key == CATALOG_KEY {
            st.retry_at.get(CATALOG_KEY).is_none_or(|t| now >= *t)
        } else {
            st.blocked_until.is_none_or(|t| now >= t)
                && st.retry_at.get(&prompt_key(file)).is_none_or(|t| now >= *t)
        };
        allowed && !st.slow.contains(key)
    }

    async fn wait_or_mark_slow<F: std::future::Future>(&self, flight: F, keys: &[String]) {
        if tokio::time::timeout(COLD_WAIT, flight).await.is_err() {
            let mut st = self.state();
            for k in keys {
                if st.inflight.contains_key(k) {
                    tracing::warn!(check = %k, wait_secs = COLD_WAIT.as_secs(), "a check is slow; serving what there is until it ends");
                    st.slow.insert(k.clone());
                }
            }
        }
    }

    fn is_fresh(&self, meta: &FileMeta, now: u64) -> bool {
        now < meta.last_checked.saturating_add(self.ttl())
    }

    /// Whether an automatic (not forced) check of `file` may call GitHub now.
    fn may_call_github(&self, file: &str, now: u64) -> bool {
        let st = self.state();
        st.blocked_until.is_none_or(|t| now >= t)
            && st.retry_at.get(&prompt_key(file)).is_none_or(|t| now >= *t)
    }

    /// Start a background revalidation of `file` if its copy is past the TTL (or its cache
    /// file went missing) and GitHub may be called; never waits.
    fn maybe_revalidate(&self, file: &str) {
        let now = self.now();
        let due = {
            let st = self.state();
            st.force_full.contains(file)
                || st
                    .prompts
                    .get(file)
                    .is_none_or(|p| !self.is_fresh(&p.meta, now))
        };
        if due && self.may_call_github(file, now) {
            drop(self.revalidate(file, false));
        }
    }

    /// The single flight for `file`: joins a running refresh or starts one (in a spawned task,
    /// so it completes even if every waiter gives up).
    fn revalidate(&self, file: &str, force: bool) -> Flight {
        let key = prompt_key(file);
        let mut st = self.state();
        if let Some(f) = st.inflight.get(&key) {
            return f.clone();
        }
        let me = self.clone();
        let (file, k) = (file.to_string(), key.clone());
        let flight = async move {
            me.revalidate_now(&file, force).await;
            let mut st = me.state();
            st.inflight.remove(&k);
            st.slow.remove(&k);
        }
        .boxed()
        .shared();
        st.inflight.insert(key, flight.clone());
        drop(st);
        tokio::spawn(flight.clone());
        flight
    }

    /// Revalidate `file` with GitHub now (unless GitHub is blocked, or the copy is fresh and
    /// `force` is off): resolve the release tag, fetch conditionally, and keep what came back.
    async fn revalidate_now(&self, file: &str, force: bool) {
        let now = self.now();
        if !self.needs_revalidation(file, force, now) {
            return;
        }
        let tag = match self.resolve_tag(force, now).await {
            Ok(tag) => tag,
            Err(e) => return self.failed(file, e, now),
        };
        let (etag, had_copy) = self.cached_etag(file, &tag);
        let path = self.repo_path(file);
        match self
            .fetch_checked(file, &tag, &path, etag.as_deref(), now)
            .await
        {
            Ok(Fetched::NotModified) if had_copy => self.keep_not_modified(file, now).await,
            Ok(Fetched::NotModified) => self.failed(
                file,
                GitHubError::Invalid {
                    what: file.into(),
                    detail: "304 without a cached copy".into(),
                },
                now,
            ),
            Ok(Fetched::Fresh { value, etag }) => {
                self.keep_fresh(file, &tag, &path, value, etag, now).await;
            }
            Err(e) => self.failed(file, e, now),
        }
    }

    /// Whether a revalidation of `file` should go to GitHub: not while GitHub is blocked
    /// (rate limit), and for a fresh copy only when forced or a full fetch is owed.
    fn needs_revalidation(&self, file: &str, force: bool, now: u64) -> bool {
        let st = self.state();
        if st.blocked_until.is_some_and(|t| now < t) {
            return false;
        }
        let fresh = st
            .prompts
            .get(file)
            .is_some_and(|p| self.is_fresh(&p.meta, now));
        force || !fresh || st.force_full.contains(file)
    }

    /// The ETag to send for `file` at `tag`, and whether a copy exists: a copy of another tag
    /// (or one owed a full fetch) sends none, so the file is fetched anew.
    fn cached_etag(&self, file: &str, tag: &str) -> (Option<String>, bool) {
        let st = self.state();
        match st.prompts.get(file) {
            Some(p) if p.meta.tag == tag && !st.force_full.contains(file) => {
                (p.meta.etag.clone(), true)
            }
            Some(_) => (None, true),
            None => (None, false),
        }
    }

    /// Fetch `file` (at `path` in the release `tag`) conditionally; the catalog file must
    /// parse before it may replace a copy that does, so one that does not is an error.
    async fn fetch_checked(
        &self,
        file: &str,
        tag: &str,
        path: &str,
        etag: Option<&str>,
        now: u64,
    ) -> Result<Fetched<String>, GitHubError> {
        match self.inner.github.file(tag, path, etag, now).await {
            Ok(Fetched::Fresh { value, .. })
                if file == CATALOG_FILE && catalog::parse(&value, &ModelSource::Live).is_err() =>
            {
                Err(GitHubError::Invalid {
                    what: path.to_string(),
                    detail: "not a model catalog".into(),
                })
            }
            other => other,
        }
    }

    /// A 304 for a copy we hold: it is checked now (the TTL restarts) and saved so.
    async fn keep_not_modified(&self, file: &str, now: u64) {
        let meta = {
            let mut st = self.state();
            st.prompts.get_mut(file).map(|p| {
                // The peer's bug was not doing this: a 304 restarts the TTL.
                p.meta.last_checked = now;
                p.meta.clone()
            })
        };
        if let Some(meta) = meta {
            self.persist(file, None, meta).await;
        }
        self.recovered(file);
    }

    /// A fresh copy of `file`: it replaces the one in memory (and, for the catalog file, the
    /// release catalog when its content changed), is saved, and clears any owed full fetch.
    async fn keep_fresh(
        &self,
        file: &str,
        tag: &str,
        path: &str,
        value: String,
        etag: Option<String>,
        now: u64,
    ) {
        let meta = FileMeta {
            etag,
            tag: tag.to_string(),
            url: self.inner.github.file_url(tag, path),
            last_checked: now,
            fetched_at: now,
            sha256: sha256_hex(value.as_bytes()),
        };
        let text: Arc<str> = value.into();
        {
            let mut st = self.state();
            let changed = st
                .prompts
                .get(file)
                .is_none_or(|p| p.meta.sha256 != meta.sha256);
            if changed {
                tracing::info!(file, tag = %tag, "instructions fetched from GitHub");
            }
            let prompt = Prompt {
                text: text.clone(),
                meta: meta.clone(),
            };
            if file == CATALOG_FILE
                && st
                    .file_catalog
                    .as_ref()
                    .is_none_or(|c| c.sha256 != meta.sha256)
            {
                st.file_catalog = parse_file_catalog(&prompt);
                if let Some(c) = &st.file_catalog {
                    tracing::info!(models = c.models.len(), tag = %tag, "release model catalog loaded");
                }
            }
            st.prompts.insert(file.to_string(), prompt);
        }
        self.persist(file, Some(text), meta).await;
        self.state().force_full.remove(file);
        self.recovered(file);
    }

    /// The latest release tag: from memory within the TTL, else a conditional API call, else
    /// the web redirect.
    async fn resolve_tag(&self, force: bool, now: u64) -> Result<String, GitHubError> {
        let flight = {
            let mut st = self.state();
            if let Some(r) = &st.release
                && !force
                && now < r.last_checked.saturating_add(self.ttl())
            {
                return Ok(r.tag.clone());
            }
            // One release lookup at a time: the catalog file and a prompt file expire together.
            match &st.release_flight {
                Some(f) => f.clone(),
                None => {
                    let me = self.clone();
                    let f = async move {
                        let r = me.lookup_tag(now).await;
                        me.state().release_flight = None;
                        r
                    }
                    .boxed()
                    .shared();
                    st.release_flight = Some(f.clone());
                    f
                }
            }
        };
        flight.await
    }

    async fn lookup_tag(&self, now: u64) -> Result<String, GitHubError> {
        let release = self.state().release.clone();
        let gh = &self.inner.github;
        let etag = release.as_ref().and_then(|r| r.etag.clone());
        let fresh = match gh.latest_tag(etag.as_deref(), now).await {
            Ok(Fetched::NotModified) => match release.clone() {
                Some(r) => ReleaseMeta {
                    last_checked: now,
                    ..r
                },
                None => self.release_by_redirect(now).await?,
            },
            Ok(Fetched::Fresh { value, etag }) => ReleaseMeta {
                tag: value,
                etag,
                last_checked: now,
            },
            Err(e @ GitHubError::RateLimited { .. }) => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "release API failed; trying the release page redirect");
                self.release_by_redirect(now).await.map_err(|_| e)?
            }
        };
        if release.as_ref().is_some_and(|r| r.tag != fresh.tag) {
            tracing::info!(old = %release.as_ref().map(|r| r.tag.as_str()).unwrap_or(""), new = %fresh.tag, "new openai/codex release");
        }
        self.inner.deps.compat.set_release_tag(&fresh.tag);
        self.state().release = Some(fresh.clone());
        let cache = self.inner.cache.clone();
        let to_store = fresh.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = cache.store_release(&to_store) {
                tracing::warn!(error = %e, "cannot write the release cache");
            }
        })
        .await;
        Ok(fresh.tag)
    }

    async fn release_by_redirect(&self, now: u64) -> Result<ReleaseMeta, GitHubError> {
        let tag = self.inner.github.latest_tag_by_redirect(now).await?;
        Ok(ReleaseMeta {
            tag,
            etag: None,
            last_checked: now,
        })
    }

    async fn persist(&self, file: &str, text: Option<Arc<str>>, meta: FileMeta) {
        let cache = self.inner.cache.clone();
        let file = file.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            let result = match &text {
                Some(t) => cache.store_prompt(&file, t, &meta),
                None => cache.store_prompt_meta(&file, &meta),
            };
            if let Err(e) = result {
                tracing::warn!(file = %file, error = %e, "cannot write the instructions cache; the copy in memory is used");
            }
        })
        .await;
    }

    /// Record a failed check; log only when the kind of problem changes.
    fn failed(&self, file: &str, err: GitHubError, now: u64) {
        let (kind, message) = match &err {
            GitHubError::RateLimited { until } => (
                ProblemKind::RateLimited,
                format!(
                    "GitHub rate limit reached; no GitHub calls for {} s (until unix time {until})",
                    until.saturating_sub(now)
                ),
            ),
            GitHubError::Unreachable(_) => (
                ProblemKind::Unreachable,
                format!("{err}; using the cached copy or the fallback"),
            ),
            _ => (
                ProblemKind::Failing,
                format!("{err}; using the cached copy or the fallback"),
            ),
        };
        let mut st = self.state();
        if let GitHubError::RateLimited { until } = err {
            st.blocked_until = Some(until);
        }
        let backoff = self.ttl().clamp(1, MAX_RETRY_BACKOFF);
        st.retry_at.insert(prompt_key(file), now + backoff);
        st.slow.remove(&prompt_key(file));
        if st.problem.as_ref().is_none_or(|p| p.kind != kind) {
            tracing::warn!(problem = %message, "instructions: GitHub check failed");
        }
        st.problem = Some(Problem { kind, message });
    }

    fn recovered(&self, file: &str) {
        let mut st = self.state();
        st.retry_at.remove(&prompt_key(file));
        st.blocked_until = None;
        if st.problem.take().is_some() {
            tracing::info!("instructions: GitHub answers again");
        }
    }

    // ----- catalog -----------------------------------------------------------------------

    fn catalog_due(&self, now: u64) -> bool {
        let version = self.inner.deps.compat.current().version;
        let st = self.state();
        let stale = st.catalog.as_ref().is_none_or(|c| {
            now >= c.meta.last_checked.saturating_add(self.ttl())
                // Asked at another compatibility level: the backend may offer other models.
                || c.meta.client_version.as_deref() != Some(version.as_str())
        });
        stale && st.retry_at.get(CATALOG_KEY).is_none_or(|t| now >= *t)
    }

    fn maybe_refresh_catalog(&self) {
        if self.inner.deps.backend.is_some() && self.catalog_due(self.now()) {
            drop(self.refresh_catalog(false));
        }
    }

    fn refresh_catalog(&self, force: bool) -> Flight {
        let mut st = self.state();
        if let Some(f) = st.inflight.get(CATALOG_KEY) {
            return f.clone();
        }
        let me = self.clone();
        let flight = async move {
            me.refresh_catalog_now(force).await;
            let mut st = me.state();
            st.inflight.remove(CATALOG_KEY);
            st.slow.remove(CATALOG_KEY);
        }
        .boxed()
        .shared();
        st.inflight.insert(CATALOG_KEY.into(), flight.clone());
        drop(st);
        tokio::spawn(flight.clone());
        flight
    }

    async fn refresh_catalog_now(&self, force: bool) {
        let Some(backend) = self.inner.deps.backend.clone() else {
            return;
        };
        let now = self.now();
        if !force && !self.catalog_due(now) {
            return;
        }
        let backoff = self.ttl().clamp(1, MAX_RETRY_BACKOFF);
        let version = self.inner.deps.compat.current().version;
        let etag = {
            let st = self.state();
            // A catalog asked for at another compatibility level is fetched anew.
            st.catalog
                .as_ref()
                .filter(|c| c.meta.client_version.as_deref() == Some(version.as_str()))
                .and_then(|c| c.meta.etag.clone())
        };
        let result = backend.fetch_models(etag.as_deref()).await;
        let store: Option<(Option<String>, CatalogMeta)> = match result {
            Ok(Fetched::NotModified) => {
                let mut st = self.state();
                st.catalog.as_mut().map(|c| {
                    c.meta.last_checked = now;
                    (None, c.meta.clone())
                })
            }
            Ok(Fetched::Fresh { value, etag }) => {
                match catalog::parse(&value, &ModelSource::Live) {
                    Ok(models) => {
                        let meta = CatalogMeta {
                            etag,
                            fetched_at: now,
                            last_checked: now,
                            sha256: sha256_hex(value.as_bytes()),
                            client_version: Some(version),
                        };
                        tracing::info!(models = models.len(), "the account's model catalog loaded");
                        self.state().catalog = Some(Catalog {
                            models,
                            meta: meta.clone(),
                        });
                        Some((Some(value), meta))
                    }
                    Err(e) => {
                        self.catalog_failed(e, now, backoff);
                        None
                    }
                }
            }
            Err(CatalogError::NotSignedIn(_)) => {
                let mut st = self.state();
                st.retry_at.insert(CATALOG_KEY.into(), now + backoff);
                st.catalog_problem = Some(
                    "not signed in: the release catalog is used; run `codexctl login` to load your account's"
                        .into(),
                );
                None
            }
            Err(e) => {
                self.catalog_failed(e, now, backoff);
                None
            }
        };
        if let Some((body, meta)) = store {
            {
                let mut st = self.state();
                st.retry_at.remove(CATALOG_KEY);
                st.catalog_problem = None;
            }
            let cache = self.inner.cache.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let r = match &body {
                    Some(b) => cache.store_catalog(b, &meta),
                    None => cache.store_catalog_meta(&meta),
                };
                if let Err(e) = r {
                    tracing::warn!(error = %e, "cannot write the model catalog cache");
                }
            })
            .await;
        }
    }

    fn catalog_failed(&self, err: CatalogError, now: u64, backoff: u64) {
        let mut st = self.state();
        st.retry_at.insert(CATALOG_KEY.into(), now + backoff);
        let message = err.to_string();
        if st.catalog_problem.as_deref() != Some(message.as_str()) {
            tracing::warn!(problem = %message, "model catalog check failed");
        }
        st.catalog_problem = Some(message);
    }

    /// `codexctl models`: the merged catalog by priority, the default model and the
    /// compatibility version. With `refresh`, both catalogs are revalidated first.
    pub async fn models(&self, refresh: bool) -> ModelCatalog {
        self.ready().await;
        if refresh {
            let mut flights = Vec::new();
            if self.inner.deps.backend.is_some() {
                self.state().retry_at.remove(CATALOG_KEY);
                flights.push(self.refresh_catalog(true));
            }
            if self.github_on() {
                self.state().retry_at.remove(&prompt_key(CATALOG_FILE));
                flights.push(self.revalidate(CATALOG_FILE, true));
            }
            let _ =
                tokio::time::timeout(REFRESH_WAIT, futures_util::future::join_all(flights)).await;
        } else {
            self.maybe_refresh_catalog();
            if self.github_on() && self.state().prompts.contains_key(CATALOG_FILE) {
                self.maybe_revalidate(CATALOG_FILE);
            } else {
                self.cold_wait_catalogs().await;
            }
        }
        let merged = self.merged();
        let default_model = self
            .inner
            .deps
            .config
            .backend
            .model
            .clone()
            .or_else(|| merged.default_slug().map(str::to_owned));
        let st = self.state();
        let live = st.catalog.as_ref();
        let file_tag = st
            .prompts
            .get(CATALOG_FILE)
            .filter(|_| st.file_catalog.is_some())
            .map(|p| p.meta.tag.clone());
        let source = match (live.is_some(), &file_tag) {
            (true, Some(tag)) => {
                format!("your account's live catalog, with the release catalog at {tag}")
            }
            (true, None) => "your account's live catalog".into(),
            (false, Some(tag)) => {
                format!("the release catalog at {tag} (sign in for your account's)")
            }
            (false, None) => "none".into(),
        };
        let note = st.catalog_problem.clone().or_else(|| {
            merged.is_empty().then(|| {
                st.problem
                    .as_ref()
                    .map(|p| p.message.clone())
                    .unwrap_or_else(|| {
                        "no model catalog has been loaded yet; try `codexctl models --refresh`"
                            .into()
                    })
            })
        });
        ModelCatalog {
            models: merged
                .models
                .iter()
                .map(|m| {
                    let mut info = m.model.info.clone();
                    // Hidden, or not offered to this account: shown only with --all.
                    info.visible = info.visible && m.offered;
                    info
                })
                .collect(),
            default_model,
            client_version: self.inner.deps.compat.current(),
            source,
            fetched_at: live.map(|c| c.meta.fetched_at),
            note,
        }
    }

    // ----- describe / purge --------------------------------------------------------------

    /// `codexctl instructions` and the status line: which model, which instructions, from
    /// where. With `wait` it resolves like a turn does (a cold cache is waited for, a few
    /// seconds); without (the status line) it answers from memory at once. With `refresh` the
    /// catalogs and the model's prompt file are revalidated first.
    pub async fn describe(
        &self,
        req: InstructionsRequest,
        wait: bool,
    ) -> Result<InstructionsInfo, WireError> {
        self.ready().await;
        if req.refresh {
            let _ = self.models(true).await;
        }
        let resolved = self.resolve_with(req.model.as_deref(), wait).await?;
        let file = self.inner.families.resolve(&resolved.model).rule.file;
        if req.refresh
            && self.github_on()
            && matches!(
                resolved.source,
                InstructionSource::GitHub | InstructionSource::Stale | InstructionSource::Fallback
            )
        {
            self.state().retry_at.remove(&prompt_key(&file));
            let _ = tokio::time::timeout(REFRESH_WAIT, self.revalidate(&file, true)).await;
        }
        let resolved = if req.refresh {
            self.resolve_with(req.model.as_deref(), false).await?
        } else {
            resolved
        };
        let st = self.state();
        let github_note = if !self.github_on() {
            Some("GitHub lookups are off (instructions.source = \"off\")".to_string())
        } else {
            st.problem.as_ref().map(|p| p.message.clone())
        };
        let text = &resolved.text;
        let mut info = InstructionsInfo {
            model: resolved.model.clone(),
            family: resolved.family.clone(),
            file: file.clone(),
            source: resolved.source.clone(),
            tag: None,
            etag: None,
            fetched_at: None,
            last_checked: None,
            sha256: sha256_hex(text.as_bytes()),
            bytes: text.len() as u64,
            text: req.show.then(|| text.to_string()),
            note: None,
            client_version: resolved.client_version.clone(),
            default_model: resolved.default_model,
        };
        let from_file = |info: &mut InstructionsInfo, meta: &FileMeta| {
            info.tag = Some(meta.tag.clone());
            info.etag = meta.etag.clone();
            info.fetched_at = Some(meta.fetched_at);
            info.last_checked = Some(meta.last_checked);
        };
        match &resolved.source {
            InstructionSource::Override { .. } => {}
            InstructionSource::LiveCatalog => {
                if let Some(c) = &st.catalog {
                    info.etag = c.meta.etag.clone();
                    info.fetched_at = Some(c.meta.fetched_at);
                    info.last_checked = Some(c.meta.last_checked);
                }
                info.note = st.catalog_problem.clone();
            }
            InstructionSource::CatalogFile { .. } => {
                if let Some(p) = st.prompts.get(CATALOG_FILE) {
                    from_file(&mut info, &p.meta);
                }
                info.file = CATALOG_FILE.into();
                info.note = github_note;
            }
            InstructionSource::GitHub | InstructionSource::Stale => {
                if let Some(p) = st.prompts.get(&file) {
                    from_file(&mut info, &p.meta);
                }
                info.note = github_note;
            }
            InstructionSource::Fallback => {
                info.note = github_note.or_else(|| Some("not fetched from GitHub yet".into()));
            }
        }
        Ok(info)
    }

    /// Delete the cache files and the in-memory copies (overrides stay: they are config).
    pub async fn purge(&self) -> Result<(), WireError> {
        self.ready().await;
        {
            let mut st = self.state();
            st.prompts.clear();
            st.release = None;
            st.catalog = None;
            st.retry_at.clear();
            st.force_full.clear();
        }
        let cache = self.inner.cache.clone();
        let dir = cache.dir().display().to_string();
        tokio::task::spawn_blocking(move || cache.purge())
            .await
            .map_err(|_| {
                WireError::new(
                    ErrorCode::Internal,
                    "purging the cache failed unexpectedly; try again",
                )
            })?
            .map_err(|e| {
                WireError::new(
                    ErrorCode::Storage,
                    format!("cannot delete the instructions cache {dir}: {e}; delete it by hand"),
                )
            })
    }

    /// Requests made to GitHub are in flight (tests).
    pub fn refreshing(&self) -> bool {
        !self.state().inflight.is_empty()
    }
}

const CATALOG_KEY: &str = "catalog";

fn prompt_key(file: &str) -> String {
    format!("prompt:{file}")
}
