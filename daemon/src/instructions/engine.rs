//! The instructions engine: in-memory copies, TTL and stale-while-revalidate, single-flight
//! refreshes, rate-limit and outage handling (logged once per episode), overrides and the
//! model catalog. The actor in `mod.rs` is a thin shell around it; tests drive it directly
//! with fake endpoints and an injected clock.
//!
//! Rules: a caller never waits on disk or network when a copy is in memory (revalidation runs
//! in a spawned task); concurrent callers share one refresh per file; while GitHub's rate
//! limit is in force no call is made at all; a failed check is retried after a short backoff,
//! not on every request.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use codexd_proto::instructions::{
    InstructionSource, InstructionsInfo, InstructionsRequest, ModelCatalog,
};
use codexd_proto::{ErrorCode, WireError};
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use super::cache::{CatalogMeta, DiskCache, FileMeta, ReleaseMeta, sha256_hex};
use super::catalog::{self, CatalogError, CatalogModel};
use super::families::{Families, safe_name};
use super::github::{Fetched, GitHub, GitHubError};
use super::{ResolvedInstructions, fallback};
use crate::auth::Access;
use crate::config::{Config, InstructionsSource};
use crate::paths::Paths;

/// Current time, unix seconds (injected so tests control the TTL).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;
/// Gets a bearer token for the catalog (the AuthActor in the daemon).
pub type AccessFn = Arc<dyn Fn() -> BoxFuture<'static, Result<Access, WireError>> + Send + Sync>;

/// A first request with no copy at all waits this long for GitHub before using the fallback.
const COLD_WAIT: Duration = Duration::from_secs(10);
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
    /// Token source for the catalog; `None` disables the catalog.
    pub access: Option<AccessFn>,
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
        {
            let mut st = self.state();
            st.prompts = loaded.prompts;
            st.overrides = loaded.overrides;
            st.release = loaded.release;
            st.catalog = loaded.catalog;
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
        for file in self.inner.families.files() {
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
            Ok(Some((body, meta))) => catalog::parse(&body)
                .ok()
                .map(|models| Catalog { models, meta }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "model catalog cache damaged; it will be fetched again");
                None
            }
        };
        Loaded {
            prompts,
            overrides: self.read_overrides(),
            release: cache.load_release(),
            catalog,
        }
    }

    fn read_overrides(&self) -> HashMap<String, Override> {
        let mut out = HashMap::new();
        for family in self.inner.families.family_names() {
            if !safe_name(&family) {
                continue;
            }
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

    /// Instructions for `model`: from memory when a copy exists (a stale copy triggers a
    /// background revalidation); the first request without any copy waits (bounded) for
    /// GitHub; the fallback when nothing else is available. Never fails.
    pub async fn get(&self, model: &str) -> ResolvedInstructions {
        self.ready().await;
        let resolved = self.inner.families.resolve(model);
        let (family, file) = (resolved.rule.family.clone(), resolved.rule.file.clone());
        self.maybe_refresh_catalog();
        let catalog_entry = self.catalog_entry(model);
        if resolved.unknown
            && catalog_entry.is_none()
            && self.state().warned_unknown.insert(model.to_string())
        {
            tracing::warn!(model, family = %family, "unknown model; using the default family's instructions");
        }
        let info = catalog_entry.as_ref().map(|c| c.info.clone());
        if let Some(o) = self.state().overrides.get(&family).cloned() {
            return ResolvedInstructions {
                text: o.text,
                family,
                source: InstructionSource::Override {
                    path: o.path.display().to_string(),
                },
                model: info,
            };
        }
        if let Some(text) = catalog_entry.and_then(|c| c.base_instructions) {
            return ResolvedInstructions {
                text,
                family,
                source: InstructionSource::Catalog,
                model: info,
            };
        }
        let have_copy = self.state().prompts.contains_key(&file);
        if self.github_on() {
            if have_copy {
                self.maybe_revalidate(&file);
            } else if self.may_call_github(&file, self.now()) {
                let flight = self.revalidate(&file, false);
                let _ = tokio::time::timeout(COLD_WAIT, flight).await;
            }
        }
        let now = self.now();
        let st = self.state();
        match st.prompts.get(&file) {
            Some(p) => ResolvedInstructions {
                text: p.text.clone(),
                family,
                source: if self.is_fresh(&p.meta, now) {
                    InstructionSource::GitHub
                } else {
                    InstructionSource::Stale
                },
                model: info,
            },
            None => ResolvedInstructions {
                text: fallback::TEXT.into(),
                family,
                source: InstructionSource::Fallback,
                model: info,
            },
        }
    }

    fn is_fresh(&self, meta: &FileMeta, now: u64) -> bool {
        now < meta.last_checked.saturating_add(self.ttl())
    }

    fn catalog_entry(&self, model: &str) -> Option<CatalogModel> {
        self.state()
            .catalog
            .as_ref()
            .and_then(|c| c.models.iter().find(|m| m.info.slug == model).cloned())
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
            me.state().inflight.remove(&k);
        }
        .boxed()
        .shared();
        st.inflight.insert(key, flight.clone());
        drop(st);
        tokio::spawn(flight.clone());
        flight
    }

    async fn revalidate_now(&self, file: &str, force: bool) {
        let now = self.now();
        {
            let st = self.state();
            if st.blocked_until.is_some_and(|t| now < t) {
                return;
            }
            let fresh = st
                .prompts
                .get(file)
                .is_some_and(|p| self.is_fresh(&p.meta, now));
            if !force && fresh && !st.force_full.contains(file) {
                return;
            }
        }
        let tag = match self.resolve_tag(force, now).await {
            Ok(tag) => tag,
            Err(e) => return self.failed(file, e, now),
        };
        let (etag, had_copy) = {
            let st = self.state();
            match st.prompts.get(file) {
                // A new tag drops the old ETag: the file is fetched anew.
                Some(p) if p.meta.tag == tag && !st.force_full.contains(file) => {
                    (p.meta.etag.clone(), true)
                }
                Some(_) => (None, true),
                None => (None, false),
            }
        };
        let result = self
            .inner
            .github
            .file(&tag, file, etag.as_deref(), now)
            .await;
        match result {
            Ok(Fetched::NotModified) if had_copy => {
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
            Ok(Fetched::NotModified) => self.failed(
                file,
                GitHubError::Invalid {
                    what: file.into(),
                    detail: "304 without a cached copy".into(),
                },
                now,
            ),
            Ok(Fetched::Fresh { value, etag }) => {
                let meta = FileMeta {
                    etag,
                    tag: tag.clone(),
                    url: self.inner.github.file_url(&tag, file),
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
                    st.prompts.insert(
                        file.to_string(),
                        Prompt {
                            text: text.clone(),
                            meta: meta.clone(),
                        },
                    );
                }
                self.persist(file, Some(text), meta).await;
                self.state().force_full.remove(file);
                self.recovered(file);
            }
            Err(e) => self.failed(file, e, now),
        }
    }

    /// The latest release tag: from memory within the TTL, else a conditional API call, else
    /// the web redirect.
    async fn resolve_tag(&self, force: bool, now: u64) -> Result<String, GitHubError> {
        let release = self.state().release.clone();
        if let Some(r) = &release
            && !force
            && now < r.last_checked.saturating_add(self.ttl())
        {
            return Ok(r.tag.clone());
        }
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
        let st = self.state();
        let stale = st
            .catalog
            .as_ref()
            .is_none_or(|c| now >= c.meta.last_checked.saturating_add(self.ttl()));
        stale && st.retry_at.get(CATALOG_KEY).is_none_or(|t| now >= *t)
    }

    fn maybe_refresh_catalog(&self) {
        if self.inner.deps.access.is_some() && self.catalog_due(self.now()) {
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
            me.state().inflight.remove(CATALOG_KEY);
        }
        .boxed()
        .shared();
        st.inflight.insert(CATALOG_KEY.into(), flight.clone());
        drop(st);
        tokio::spawn(flight.clone());
        flight
    }

    async fn refresh_catalog_now(&self, force: bool) {
        let Some(access_fn) = self.inner.deps.access.clone() else {
            return;
        };
        let now = self.now();
        if !force && !self.catalog_due(now) {
            return;
        }
        let backoff = self.ttl().clamp(1, MAX_RETRY_BACKOFF);
        let access = match access_fn().await {
            Ok(a) => a,
            Err(e) => {
                let mut st = self.state();
                st.retry_at.insert(CATALOG_KEY.into(), now + backoff);
                st.catalog_problem = Some(if e.code == ErrorCode::NotSignedIn {
                    "not signed in: run `codexctl login` to load the model catalog".into()
                } else {
                    format!("cannot get a token for the model catalog: {}", e.message)
                });
                return;
            }
        };
        let etag = self
            .state()
            .catalog
            .as_ref()
            .and_then(|c| c.meta.etag.clone());
        let result = catalog::fetch(
            &self.inner.deps.http,
            &self.inner.deps.config.backend.url,
            &access,
            etag.as_deref(),
        )
        .await;
        let store: Option<(Option<String>, CatalogMeta)> = match result {
            Ok(Fetched::NotModified) => {
                let mut st = self.state();
                st.catalog.as_mut().map(|c| {
                    c.meta.last_checked = now;
                    (None, c.meta.clone())
                })
            }
            Ok(Fetched::Fresh { value, etag }) => match catalog::parse(&value) {
                Ok(models) => {
                    let meta = CatalogMeta {
                        etag,
                        fetched_at: now,
                        last_checked: now,
                        sha256: sha256_hex(value.as_bytes()),
                    };
                    tracing::info!(models = models.len(), "model catalog loaded");
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
            },
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

    /// `codexctl models`.
    pub async fn models(&self, refresh: bool) -> ModelCatalog {
        self.ready().await;
        if refresh && self.inner.deps.access.is_some() {
            self.state().retry_at.remove(CATALOG_KEY);
            let _ = tokio::time::timeout(REFRESH_WAIT, self.refresh_catalog(true)).await;
        } else {
            self.maybe_refresh_catalog();
        }
        let st = self.state();
        match &st.catalog {
            Some(c) => ModelCatalog {
                models: c.models.iter().map(|m| m.info.clone()).collect(),
                source: "backend".into(),
                fetched_at: Some(c.meta.fetched_at),
                note: st.catalog_problem.clone(),
            },
            None => ModelCatalog {
                models: Vec::new(),
                source: "none".into(),
                fetched_at: None,
                note: Some(st.catalog_problem.clone().unwrap_or_else(|| {
                    "the model catalog has not been loaded yet; try `codexctl models --refresh`"
                        .into()
                })),
            },
        }
    }

    // ----- describe / purge --------------------------------------------------------------

    /// `codexctl instructions` and the status line. Without `refresh` it answers from memory
    /// (a due revalidation starts in the background); with it, it waits for a revalidation.
    pub async fn describe(&self, req: InstructionsRequest) -> InstructionsInfo {
        self.ready().await;
        let model = req
            .model
            .clone()
            .unwrap_or_else(|| self.inner.deps.config.backend.model.clone());
        let resolved = self.inner.families.resolve(&model);
        let (family, file) = (resolved.rule.family, resolved.rule.file);
        if req.refresh {
            if self.github_on() {
                self.state().retry_at.remove(&prompt_key(&file));
                let _ = tokio::time::timeout(REFRESH_WAIT, self.revalidate(&file, true)).await;
            }
            if self.inner.deps.access.is_some() {
                self.state().retry_at.remove(CATALOG_KEY);
                let _ = tokio::time::timeout(REFRESH_WAIT, self.refresh_catalog(true)).await;
            }
        }
        let catalog_entry = self.catalog_entry(&model);
        let needs_file = !self.state().overrides.contains_key(&family)
            && catalog_entry
                .as_ref()
                .is_none_or(|c| c.base_instructions.is_none());
        if !req.refresh && needs_file && self.github_on() {
            self.maybe_revalidate(&file);
        }
        let now = self.now();
        let st = self.state();
        let github_note = if !self.github_on() {
            Some("GitHub lookups are off (instructions.source = \"off\")".to_string())
        } else {
            st.problem.as_ref().map(|p| p.message.clone())
        };
        let base = InstructionsInfo {
            model,
            family,
            file: file.clone(),
            source: InstructionSource::Fallback,
            tag: None,
            etag: None,
            fetched_at: None,
            last_checked: None,
            sha256: String::new(),
            bytes: 0,
            text: None,
            note: None,
        };
        let with_text = |mut info: InstructionsInfo, text: &Arc<str>| {
            info.sha256 = sha256_hex(text.as_bytes());
            info.bytes = text.len() as u64;
            info.text = req.show.then(|| text.to_string());
            info
        };
        if let Some(o) = st.overrides.get(&base.family) {
            let info = InstructionsInfo {
                source: InstructionSource::Override {
                    path: o.path.display().to_string(),
                },
                ..base
            };
            return with_text(info, &o.text);
        }
        if let Some(text) = catalog_entry
            .as_ref()
            .and_then(|c| c.base_instructions.clone())
        {
            let meta = st.catalog.as_ref().map(|c| c.meta.clone());
            let info = InstructionsInfo {
                source: InstructionSource::Catalog,
                etag: meta.as_ref().and_then(|m| m.etag.clone()),
                fetched_at: meta.as_ref().map(|m| m.fetched_at),
                last_checked: meta.as_ref().map(|m| m.last_checked),
                note: st.catalog_problem.clone(),
                ..base
            };
            return with_text(info, &text);
        }
        match st.prompts.get(&file) {
            Some(p) => {
                let info = InstructionsInfo {
                    source: if self.is_fresh(&p.meta, now) {
                        InstructionSource::GitHub
                    } else {
                        InstructionSource::Stale
                    },
                    tag: Some(p.meta.tag.clone()),
                    etag: p.meta.etag.clone(),
                    fetched_at: Some(p.meta.fetched_at),
                    last_checked: Some(p.meta.last_checked),
                    note: github_note,
                    ..base
                };
                with_text(info, &p.text)
            }
            None => {
                let info = InstructionsInfo {
                    note: github_note.or_else(|| Some("not fetched from GitHub yet".into())),
                    ..base
                };
                with_text(info, &Arc::from(fallback::TEXT))
            }
        }
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
