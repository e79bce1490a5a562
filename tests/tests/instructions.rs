//! Instructions and the model catalog (issue 4): the engine driven directly against the fake
//! GitHub and backend with an injected clock, then the real `codexd`/`codexctl` end to end.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use codexd::backend::Backend;
use codexd::backend::compat::Compat;
use codexd::config::{Config, InstructionsSource};
use codexd::instructions::ResolvedInstructions;
use codexd::instructions::engine::{AccessFn, Clock, Engine, EngineDeps};
use codexd::instructions::fallback;
use codexd::log::RequestLog;
use codexd::paths::Paths;
use codexd::secret::Secret;
use codexd_proto::conversation::Effort;
use codexd_proto::instructions::{InstructionSource, InstructionsRequest};
use codexd_tests::fakes::catalog::{
    self, CATALOG_PATH, CLASSIC_MODEL, DEFAULT_MODEL, FUTURE_MODEL, SMALL_MODEL,
};
use codexd_tests::fakes::github::{DEFAULT_TAG, GhRequest, RateLimitFault, fake_prompt};
use codexd_tests::fakes::{FakeAuth, FakeBackend, FakeGitHub, FakeServer, FakeStack};
use codexd_tests::harness::{Env, wait_until};

/// A legacy model no catalog lists: its instructions come from a prompt file.
const MODEL: &str = "gpt-5.2-codex";
const FILE: &str = "gpt-5.2-codex_prompt.md";
const API: &str = "/repos/openai/codex/releases/latest";
const RAW: &str = "/openai/codex/";
const TTL: u64 = 900;

/// An engine wired to a fake GitHub, with a clock the test moves.
struct Rig {
    gh: FakeGitHub,
    engine: Engine,
    clock: Arc<AtomicU64>,
    root: tempfile::TempDir,
    config: Arc<Config>,
    access: Option<AccessFn>,
}

fn config_for(gh: &FakeGitHub, backend: Option<&FakeBackend>) -> Config {
    let mut config = Config::default();
    config.github.api_url = gh.url();
    config.github.web_url = gh.url();
    config.github.raw_url = gh.url();
    config.instructions.ttl_secs = TTL;
    if let Some(b) = backend {
        config.backend.url = b.base_url();
    }
    config
}

impl Rig {
    async fn new() -> Rig {
        let gh = FakeGitHub::start().await.unwrap();
        let config = Arc::new(config_for(&gh, None));
        Self::with(gh, config, None).await
    }

    async fn with(gh: FakeGitHub, config: Arc<Config>, access: Option<AccessFn>) -> Rig {
        let root = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicU64::new(codexd::now_unix()));
        let engine = build(root.path(), &config, &clock, access.clone()).await;
        Rig {
            gh,
            engine,
            clock,
            root,
            config,
            access,
        }
    }

    /// A new engine on the same disk state, as after an actor restart.
    async fn restart(&mut self) {
        self.engine = build(
            self.root.path(),
            &self.config,
            &self.clock,
            self.access.clone(),
        )
        .await;
    }

    fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    async fn get(&self, model: &str) -> ResolvedInstructions {
        self.engine.resolve(Some(model)).await.unwrap()
    }

    /// GitHub requests other than the release catalog's (these tests are about prompt files).
    fn requests(&self) -> Vec<GhRequest> {
        self.gh
            .requests()
            .into_iter()
            .filter(|r| !r.path.ends_with(CATALOG_PATH))
            .collect()
    }

    fn count(&self, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .count()
    }

    fn advance(&self, secs: u64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    /// Wait for background revalidations to finish.
    async fn settle(&self) {
        for _ in 0..500 {
            if !self.engine.refreshing() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("a revalidation never finished");
    }

    fn cached_file(&self) -> PathBuf {
        Paths::under(self.root.path())
            .instructions_cache_dir()
            .join("prompts")
            .join(FILE)
    }

    fn cached_meta(&self) -> serde_json::Value {
        let p = self
            .cached_file()
            .with_file_name(format!("{FILE}.meta.json"));
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    async fn describe(&self, refresh: bool) -> codexd_proto::instructions::InstructionsInfo {
        self.engine
            .describe(
                InstructionsRequest {
                    model: Some(MODEL.into()),
                    show: true,
                    refresh,
                },
                true,
            )
            .await
            .unwrap()
    }
}

async fn build(
    root: &Path,
    config: &Arc<Config>,
    clock: &Arc<AtomicU64>,
    access: Option<AccessFn>,
) -> Engine {
    let c = clock.clone();
    let clock: Clock = Arc::new(move || c.load(Ordering::SeqCst));
    let http = codexd::http::client(Duration::from_secs(2)).unwrap();
    let compat = Compat::new(config.backend.client_version.clone());
    let backend = access.map(|a| {
        Backend::new(
            http.clone(),
            config.clone(),
            move || a(),
            compat.clone(),
            RequestLog::new(false, root.join("requests"), 0),
        )
    });
    let engine = Engine::new(EngineDeps {
        config: config.clone(),
        paths: Paths::under(root),
        http,
        clock,
        backend,
        compat,
    });
    engine.load().await;
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_fetch_then_no_network_within_ttl_then_one_conditional_check() {
    let rig = Rig::new().await;
    let got = rig.get(MODEL).await;
    assert_eq!(got.source, InstructionSource::GitHub);
    assert_eq!(&*got.text, fake_prompt(DEFAULT_TAG, FILE));
    assert_eq!(got.family, "gpt-5.2-codex");
    assert_eq!((rig.count(API), rig.count(RAW)), (1, 1));
    assert_eq!(
        std::fs::read_to_string(rig.cached_file()).unwrap(),
        *got.text
    );
    assert_eq!(rig.cached_meta()["tag"], DEFAULT_TAG);

    // Within the TTL: 100 asks, zero requests.
    for _ in 0..100 {
        rig.get(MODEL).await;
    }
    rig.advance(TTL - 1);
    rig.get(MODEL).await;
    rig.settle().await;
    assert_eq!(rig.requests().len(), 2);

    // After the TTL: the stale copy is served at once, one conditional check runs behind it.
    rig.gh.reset_requests();
    rig.advance(2);
    let stale = rig.get(MODEL).await;
    assert_eq!(&*stale.text, fake_prompt(DEFAULT_TAG, FILE));
    rig.settle().await;
    let reqs = rig.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(
        reqs.iter()
            .all(|r| r.status == 304 && r.if_none_match.is_some()),
        "{reqs:?}"
    );
    let info = rig.describe(false).await;
    assert_eq!(info.source, InstructionSource::GitHub);
    assert_eq!(
        info.last_checked,
        Some(rig.now()),
        "a 304 advances last_checked"
    );
    assert_eq!(rig.cached_meta()["last_checked"], rig.now());

    // And no further request within the next TTL.
    for _ in 0..100 {
        rig.get(MODEL).await;
    }
    rig.advance(TTL - 1);
    rig.get(MODEL).await;
    rig.settle().await;
    assert_eq!(rig.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_change_replaces_file_and_tag_change_drops_old_etag() {
    let rig = Rig::new().await;
    rig.get(MODEL).await;
    let old_etag = rig.cached_meta()["etag"].as_str().unwrap().to_string();

    rig.gh.set_file(DEFAULT_TAG, FILE, "CHANGED fake text\n");
    rig.advance(TTL);
    rig.get(MODEL).await;
    rig.settle().await;
    let got = rig.get(MODEL).await;
    assert_eq!(&*got.text, "CHANGED fake text\n");
    assert_eq!(
        std::fs::read_to_string(rig.cached_file()).unwrap(),
        "CHANGED fake text\n"
    );
    assert_ne!(rig.cached_meta()["etag"].as_str().unwrap(), old_etag);

    rig.gh.reset_requests();
    rig.gh.set_tag("rust-v0.172.0");
    rig.advance(TTL);
    rig.get(MODEL).await;
    rig.settle().await;
    let raw: Vec<_> = rig
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(RAW))
        .collect();
    assert_eq!(raw.len(), 1, "{raw:?}");
    assert!(raw[0].path.contains("rust-v0.172.0"));
    assert_eq!(
        raw[0].if_none_match, None,
        "a new tag must not send the old ETag"
    );
    let got = rig.get(MODEL).await;
    assert_eq!(&*got.text, fake_prompt("rust-v0.172.0", FILE));
    assert_eq!(rig.cached_meta()["tag"], "rust-v0.172.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_honoured_until_reset() {
    let rig = Rig::new().await;
    rig.get(MODEL).await;
    let reset_at = rig.now() + TTL + 600;
    rig.gh.set_rate_limited(Some(RateLimitFault::Forbidden {
        reset_at: reset_at as i64,
    }));
    rig.gh.reset_requests();
    rig.advance(TTL);
    let got = rig.get(MODEL).await;
    assert_eq!(
        &*got.text,
        fake_prompt(DEFAULT_TAG, FILE),
        "stale copy served"
    );
    rig.settle().await;
    assert_eq!(rig.requests().len(), 1, "one call discovers the limit");

    // Until the reset: no calls at all, not even for an explicit refresh.
    rig.gh.reset_requests();
    for _ in 0..5 {
        rig.advance(100);
        for _ in 0..20 {
            assert_eq!(rig.get(MODEL).await.source, InstructionSource::Stale);
        }
        rig.settle().await;
    }
    let info = rig.describe(true).await;
    assert_eq!(info.source, InstructionSource::Stale);
    assert!(info.note.unwrap().contains("rate limit"));
    assert_eq!(rig.requests().len(), 0);

    // After the reset, checks resume and the copy is fresh again.
    rig.gh.clear_faults();
    rig.clock.store(reset_at + 1, Ordering::SeqCst);
    rig.get(MODEL).await;
    rig.settle().await;
    assert!(rig.requests().len() >= 2);
    let info = rig.describe(false).await;
    assert_eq!(info.source, InstructionSource::GitHub);
    assert_eq!(info.note, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_429_and_server_errors_serve_stale_without_hammering() {
    let rig = Rig::new().await;
    rig.get(MODEL).await;
    rig.gh
        .set_rate_limited(Some(RateLimitFault::TooMany { retry_after: 120 }));
    rig.gh.reset_requests();
    rig.advance(TTL);
    rig.get(MODEL).await;
    rig.settle().await;
    assert_eq!(rig.requests().len(), 1);
    rig.advance(119);
    rig.get(MODEL).await;
    rig.settle().await;
    assert_eq!(rig.requests().len(), 1, "Retry-After honoured");

    // 500s: stale copy, a note, and no retry on every request.
    rig.gh.set_rate_limited(None);
    rig.gh.set_failing(true);
    rig.gh.reset_requests();
    rig.advance(2);
    rig.get(MODEL).await;
    rig.settle().await;
    let after_first = rig.requests().len();
    assert!(after_first >= 1);
    for _ in 0..50 {
        assert_eq!(rig.get(MODEL).await.source, InstructionSource::Stale);
    }
    rig.settle().await;
    assert_eq!(rig.requests().len(), after_first);
    assert!(rig.describe(false).await.note.unwrap().contains("500"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_first_run_uses_fallback_then_upgrades() {
    let rig = Rig::new().await;
    rig.gh.stop();
    let got = rig.get(MODEL).await;
    assert_eq!(got.source, InstructionSource::Fallback);
    assert_eq!(&*got.text, fallback::TEXT);
    let info = rig.describe(false).await;
    assert_eq!(info.source, InstructionSource::Fallback);
    assert!(info.note.is_some());

    rig.gh.restart().unwrap();
    rig.advance(60);
    let got = rig.get(MODEL).await;
    assert_eq!(got.source, InstructionSource::GitHub);
    assert_eq!(&*got.text, fake_prompt(DEFAULT_TAG, FILE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_github_call() {
    let rig = Rig::new().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let e = rig.engine.clone();
        tasks.push(tokio::spawn(async move {
            e.resolve(Some(MODEL)).await.unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().source, InstructionSource::GitHub);
    }
    assert_eq!((rig.count(API), rig.count(RAW)), (1, 1));

    rig.gh.reset_requests();
    rig.advance(TTL);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let e = rig.engine.clone();
        tasks.push(tokio::spawn(async move {
            e.resolve(Some(MODEL)).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    rig.settle().await;
    assert_eq!((rig.count(API), rig.count(RAW)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_or_deleted_cache_is_refetched() {
    let mut rig = Rig::new().await;
    rig.get(MODEL).await;

    // Corrupted on disk, then the actor restarts: the copy is refused and fetched in full.
    std::fs::write(rig.cached_file(), "garbage").unwrap();
    rig.restart().await;
    rig.gh.reset_requests();
    let got = rig.get(MODEL).await;
    assert_eq!(&*got.text, fake_prompt(DEFAULT_TAG, FILE));
    let raw: Vec<_> = rig
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(RAW))
        .collect();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].if_none_match, None);
    assert_eq!(
        std::fs::read_to_string(rig.cached_file()).unwrap(),
        *got.text
    );

    // Deleted while running: memory keeps serving, a full fetch rewrites the cache.
    std::fs::remove_dir_all(Paths::under(rig.root.path()).instructions_cache_dir()).unwrap();
    rig.gh.reset_requests();
    rig.engine.check_cache().await;
    assert_eq!(&*rig.get(MODEL).await.text, fake_prompt(DEFAULT_TAG, FILE));
    rig.settle().await;
    let raw: Vec<_> = rig
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(RAW))
        .collect();
    assert_eq!(raw.len(), 1);
    assert_eq!(
        raw[0].if_none_match, None,
        "a deleted cache is fetched in full"
    );
    assert!(rig.cached_file().exists());

    // Purge drops disk and memory; the next request fetches again.
    rig.engine.purge().await.unwrap();
    assert!(!rig.cached_file().exists());
    rig.gh.reset_requests();
    assert_eq!(rig.get(MODEL).await.source, InstructionSource::GitHub);
    assert_eq!(rig.count(RAW), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_wins_and_reloads_and_unknown_models_use_default_family() {
    let rig = Rig::new().await;
    let dir = Paths::under(rig.root.path()).instructions_override_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gpt-5.2-codex.md"), "MY OWN instructions v1\n").unwrap();
    rig.engine.reload_overrides().await;
    let got = rig.get(MODEL).await;
    assert!(matches!(got.source, InstructionSource::Override { .. }));
    assert_eq!(&*got.text, "MY OWN instructions v1\n");
    assert_eq!(rig.count(RAW), 0, "an override needs no prompt file");

    std::fs::write(dir.join("gpt-5.2-codex.md"), "MY OWN instructions v2\n").unwrap();
    rig.engine.reload_overrides().await;
    assert_eq!(&*rig.get(MODEL).await.text, "MY OWN instructions v2\n");

    std::fs::remove_file(dir.join("gpt-5.2-codex.md")).unwrap();
    rig.engine.reload_overrides().await;
    assert_eq!(rig.get(MODEL).await.source, InstructionSource::GitHub);

    let unknown = rig.get("some-future-model").await;
    assert_eq!(unknown.family, "default");
    assert_eq!(&*unknown.text, fake_prompt(DEFAULT_TAG, "prompt.md"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_off_never_contacts_github() {
    let gh = FakeGitHub::start().await.unwrap();
    let mut config = config_for(&gh, None);
    config.instructions.source = InstructionsSource::Off;
    let rig = Rig::with(gh, Arc::new(config), None).await;
    let got = rig.get(MODEL).await;
    assert_eq!(got.source, InstructionSource::Fallback);
    let info = rig.describe(true).await;
    assert!(info.note.unwrap().contains("off"));
    assert_eq!(rig.gh.requests().len(), 0);
}

fn signed_in(auth: &FakeAuth) -> AccessFn {
    let tokens = auth.mint_login();
    Arc::new(move || {
        let t = tokens.clone();
        Box::pin(async move {
            Ok(codexd::auth::Access {
                token: Secret::new(t.access_token),
                account_id: t.account_id.unwrap_or_default(),
            })
        })
    })
}

fn efforts(list: &[&str]) -> Vec<Effort> {
    list.iter().filter_map(|e| Effort::parse(e)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_the_release_catalog_picks_the_default_and_its_instructions() {
    let rig = Rig::new().await;
    let got = rig.engine.resolve(None).await.unwrap();
    assert_eq!(
        got.model, DEFAULT_MODEL,
        "priority 1 at our version, not {FUTURE_MODEL}"
    );
    assert!(got.default_model);
    assert_eq!(
        got.source,
        InstructionSource::CatalogFile {
            tag: DEFAULT_TAG.into()
        }
    );
    assert_eq!(
        &*got.text,
        catalog::fake_base_instructions(DEFAULT_MODEL, DEFAULT_TAG)
    );
    let info = got.info.unwrap();
    assert!(info.lite);
    assert_eq!(
        info.supported_efforts,
        efforts(&["low", "medium", "high", "xhigh", "max", "ultra"])
    );
    assert_eq!(got.client_version.version, "0.171.0");
    assert_eq!(got.client_version.source, format!("release {DEFAULT_TAG}"));
    // The catalog file was fetched once, at the tag, and is cached like a prompt file.
    assert_eq!(
        rig.gh
            .count(&format!("/openai/codex/{DEFAULT_TAG}/{CATALOG_PATH}")),
        1
    );
    let classic = rig.get(CLASSIC_MODEL).await;
    assert!(!classic.info.unwrap().lite);
    assert!(!classic.default_model);

    // The listing: by priority, the default marked, the future model not offered.
    let listing = rig.engine.models(false).await;
    assert_eq!(listing.default_model.as_deref(), Some(DEFAULT_MODEL));
    let offered: Vec<&str> = listing
        .models
        .iter()
        .filter(|m| m.visible)
        .map(|m| m.slug.as_str())
        .collect();
    assert_eq!(offered, vec![DEFAULT_MODEL, SMALL_MODEL, CLASSIC_MODEL]);
    assert!(listing.source.contains(DEFAULT_TAG), "{}", listing.source);

    // A newer release raises the compatibility version and is fetched anew.
    rig.gh.set_tag("rust-v9.1.0");
    rig.advance(TTL);
    rig.engine.models(true).await;
    let listing = rig.engine.models(false).await;
    assert_eq!(listing.client_version.version, "9.1.0");
    assert_eq!(listing.default_model.as_deref(), Some(FUTURE_MODEL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_catalog_decides_what_the_account_is_offered() {
    let auth = FakeAuth::start().await.unwrap();
    let backend = FakeBackend::start_with_registry(auth.registry())
        .await
        .unwrap();
    let gh = FakeGitHub::start().await.unwrap();
    let config = Arc::new(config_for(&gh, Some(&backend)));
    let live: Vec<_> = catalog::models("live")
        .into_iter()
        .filter(|m| m["slug"] == SMALL_MODEL || m["slug"] == CLASSIC_MODEL)
        .map(|mut m| {
            m.as_object_mut().unwrap().remove("base_instructions");
            m
        })
        .collect();
    backend.set_models(live);
    let rig = Rig::with(gh, config, Some(signed_in(&auth))).await;

    let listing = rig.engine.models(true).await;
    assert!(listing.source.contains("live"), "{}", listing.source);
    assert_eq!(listing.default_model.as_deref(), Some(SMALL_MODEL));
    assert_eq!(
        backend.models_calls(),
        vec![("0.171.0".to_string(), Some("0.171.0".to_string()))],
        "client_version and the version header carry the compatibility version"
    );
    let got = rig.engine.resolve(None).await.unwrap();
    assert_eq!(got.model, SMALL_MODEL);
    assert!(got.offered);
    // The live entry has no base instructions: the release file fills them in.
    assert_eq!(
        &*got.text,
        catalog::fake_base_instructions(SMALL_MODEL, DEFAULT_TAG)
    );
    // Listed in the release file but not offered to this account.
    assert!(!rig.get(DEFAULT_MODEL).await.offered);

    // Within the TTL no catalog call; after it, one conditional call answered 304.
    let first_fetch = listing.fetched_at;
    rig.engine.models(false).await;
    assert_eq!(backend.models_count(), 1);
    rig.advance(TTL);
    rig.engine.models(false).await;
    rig.settle().await;
    assert_eq!(backend.models_count(), 2);
    assert_eq!(rig.engine.models(false).await.fetched_at, first_fetch);

    // Live base instructions win over the release file's.
    assert!(backend.set_base_instructions(SMALL_MODEL, Some("LIVE instructions")));
    let _ = rig.engine.models(true).await;
    let got = rig.get(SMALL_MODEL).await;
    assert_eq!(got.source, InstructionSource::LiveCatalog);
    assert_eq!(&*got.text, "LIVE instructions");

    // A user's override file (per model) wins over everything.
    let dir = Paths::under(rig.root.path()).instructions_override_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{SMALL_MODEL}.md")), "MINE\n").unwrap();
    rig.engine.reload_overrides().await;
    assert_eq!(&*rig.get(SMALL_MODEL).await.text, "MINE\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_model_and_version_override_the_catalog() {
    let gh = FakeGitHub::start().await.unwrap();
    let mut config = config_for(&gh, None);
    config.backend.model = Some(CLASSIC_MODEL.into());
    config.backend.client_version = Some("0.130.0".into());
    let rig = Rig::with(gh, Arc::new(config), None).await;
    let got = rig.engine.resolve(None).await.unwrap();
    assert_eq!(got.model, CLASSIC_MODEL);
    assert!(got.default_model);
    assert_eq!(got.client_version.version, "0.130.0");
    assert_eq!(got.client_version.source, "backend.client_version");
    let listing = rig.engine.models(false).await;
    assert!(
        listing
            .models
            .iter()
            .any(|m| m.slug == DEFAULT_MODEL && !m.visible),
        "a model above the configured version is not offered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_github_stalls_only_the_first_cold_request() {
    let rig = Rig::new().await;
    rig.gh.set_delay(Duration::from_secs(40));
    let started = std::time::Instant::now();
    let first = rig.engine.resolve(Some(MODEL)).await.unwrap();
    assert_eq!(first.source, InstructionSource::Fallback);
    assert!(rig.engine.refreshing(), "the check is still running");
    // The next requests know the check is slow: they do not wait for it again.
    let again = std::time::Instant::now();
    for _ in 0..5 {
        let got = rig.engine.resolve(Some(MODEL)).await.unwrap();
        assert_eq!(got.source, InstructionSource::Fallback);
    }
    assert!(
        again.elapsed() < Duration::from_secs(3),
        "later requests waited {:?} (the first {:?})",
        again.elapsed(),
        started.elapsed() - again.elapsed()
    );
    let err = rig.engine.resolve(None).await.unwrap_err();
    assert!(err.message.contains("--model"), "{}", err.message);
}

// ----- end to end: the real daemon and client ----------------------------------------------

fn e2e_env(stack: &FakeStack) -> Env {
    Env::new().with_fakes(stack)
}

#[test]
fn e2e_instructions_status_show_override_cache_and_restart() {
    let stack = FakeStack::start_blocking();
    let env = e2e_env(&stack);
    let catalog_file = format!("/openai/codex/{DEFAULT_TAG}/{CATALOG_PATH}");

    // A cold cache: `instructions` waits like a request would, and names where things come from.
    let info = env.ctl(&["instructions", "--json"]).ok().json();
    assert_eq!(info["model"], DEFAULT_MODEL, "{info}");
    assert_eq!(info["default_model"], true, "{info}");
    assert_eq!(info["source"]["CatalogFile"]["tag"], DEFAULT_TAG, "{info}");
    assert_eq!(info["client_version"]["version"], "0.171.0", "{info}");
    assert_eq!(stack.github.count(&catalog_file), 1);

    let out = env.ctl(&["status"]).ok();
    assert!(
        out.stdout.contains(DEFAULT_MODEL) && out.stdout.contains(DEFAULT_TAG),
        "{}",
        out.stdout
    );
    let out = env.ctl(&["instructions", "--show"]).ok();
    assert_eq!(
        out.stdout,
        catalog::fake_base_instructions(DEFAULT_MODEL, DEFAULT_TAG)
    );
    assert!(out.stderr.contains("sha256") && out.stderr.contains("0.171.0"));

    // A legacy model no catalog knows still gets its prompt file.
    let legacy = env
        .ctl(&["instructions", "--model", MODEL, "--json"])
        .ok()
        .json();
    assert_eq!(legacy["source"], "GitHub", "{legacy}");
    assert_eq!(legacy["family"], "gpt-5.2-codex");

    // An override file appears while the daemon runs: picked up without a restart.
    let dir = env.paths().instructions_override_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let over = dir.join(format!("{DEFAULT_MODEL}.md"));
    std::fs::write(&over, "E2E override\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || {
            env.ctl(&["instructions", "--json"]).json()["source"]
                .get("Override")
                .is_some()
        }),
        "override not picked up"
    );
    std::fs::write(&over, "E2E override, edited\n").unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        env.ctl(&["instructions", "--show"]).stdout == "E2E override, edited\n"
    }));
    std::fs::remove_file(&over).unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        env.ctl(&["instructions", "--json"]).json()["source"]
            .get("CatalogFile")
            .is_some()
    }));

    // The user deletes the cache: refetched in full, the daemon keeps running.
    let cached = env
        .paths()
        .instructions_cache_dir()
        .join("prompts/models.json");
    assert!(cached.exists());
    let calls = stack.github.count(&catalog_file);
    std::fs::remove_dir_all(env.paths().instructions_cache_dir()).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || cached.exists()),
        "cache not rewritten"
    );
    assert_eq!(stack.github.count(&catalog_file), calls + 1);

    // A crash of the actor: it comes back with the cache from disk, no new GitHub call.
    stack.github.reset_requests();
    env.ctl(&["debug", "--panic", "instructions"]);
    let info = env.ctl(&["instructions", "--json"]).ok().json();
    assert_eq!(info["model"], DEFAULT_MODEL, "{info}");
    assert_eq!(stack.github.requests().len(), 0);

    // `data purge --cache` empties the cache; the next refresh fetches again.
    env.ctl(&["data", "purge", "--cache"]).ok();
    assert!(!cached.exists());
    let info = env
        .ctl(&["instructions", "--refresh", "--json"])
        .ok()
        .json();
    assert_eq!(info["source"]["CatalogFile"]["tag"], DEFAULT_TAG, "{info}");
    assert!(cached.exists());
}

#[test]
fn e2e_offline_first_run_then_github_answers() {
    let stack = FakeStack::start_blocking();
    stack.github.stop();
    let env = e2e_env(&stack);
    env.write_config("[instructions]\nttl_secs = 1\n");
    // Signed out and GitHub down: no catalog, so no default model; a named one falls back.
    let out = env.ctl(&["instructions", "--refresh", "--json"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--model"), "{}", out.stderr);
    let info = env
        .ctl(&["instructions", "--model", MODEL, "--json"])
        .ok()
        .json();
    assert_eq!(info["source"], "Fallback", "{info}");
    let show = env.ctl(&["instructions", "--model", MODEL, "--show"]).ok();
    assert_eq!(show.stdout, fallback::TEXT);

    stack.github.restart().unwrap();
    let info = env
        .ctl(&["instructions", "--refresh", "--json"])
        .ok()
        .json();
    assert_eq!(info["model"], DEFAULT_MODEL, "{info}");
}

#[test]
fn e2e_models_lists_the_catalog_and_marks_the_default() {
    let stack = FakeStack::start_blocking();
    let env = e2e_env(&stack);
    // Signed out: the release catalog, with a hint to sign in.
    let out = env.ctl(&["models"]).ok();
    assert!(
        out.stdout.contains(&format!("* {DEFAULT_MODEL}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[low]") && out.stdout.contains("ultra"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(FUTURE_MODEL), "{}", out.stdout);
    assert!(out.stdout.contains("codexctl login"), "{}", out.stdout);
    let all = env.ctl(&["models", "--all"]).ok();
    assert!(
        all.stdout.contains(FUTURE_MODEL) && all.stdout.contains("not offered"),
        "{}",
        all.stdout
    );
}
