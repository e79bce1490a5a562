//! Startup and shutdown, in order: hardening (no core dumps, descriptor limit) → config → logging → state lock → socket → actors → serve →
//! `READY=1` → wait for SIGTERM/SIGINT/`shutdown` → drain → remove our socket.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use codexd_proto::status::ActorKind;
use interprocess::os::unix::uds_local_socket::tokio::Listener as TokioListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthActor, AuthDeps};
use crate::backend::Backend;
use crate::backend::compat::Compat;
use crate::config::{Config, config_path};
use crate::instructions::{InstructionCacheActor, InstructionDeps};
use crate::log::{LogActor, RequestLog};
use crate::paths::Paths;
use crate::server::{self, Services, listener};
use crate::session::{SessionDeps, SessionRegistry};
use crate::supervisor::Supervised;

/// Command-line choices for the daemon.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also log to stderr (foreground use, journal under systemd).
    pub log_to_stderr: bool,
}

/// Run the daemon until it is told to stop. `activated` is the socket systemd passed, taken
/// by `main` before any thread started.
pub fn run(options: Options, activated: Option<OwnedFd>) -> anyhow::Result<()> {
    // First, before any thread or descriptor exists: no core dumps, all the descriptors allowed.
    let hardened = crate::hardening::harden();
    let paths = Paths::from_env()?;
    let config_path = config_path(&paths);
    let mut config = Config::load(&config_path)?;
    let configured_cap = config.server.max_connections;
    (config.server.max_connections, config.server.max_streams) = crate::hardening::connection_caps(
        configured_cap,
        config.server.max_streams,
        hardened.nofile,
    );
    let config = Arc::new(config);
    let log_guard = crate::log::init(&config.log, &paths, options.log_to_stderr)?;
    if config.server.max_connections < configured_cap {
        tracing::warn!(
            configured = configured_cap,
            cap = config.server.max_connections,
            open_files = ?hardened.nofile,
            "max_connections lowered to what the open-file limit allows; raise `ulimit -n` (LimitNOFILE= in the unit) to serve more"
        );
    }
    if !hardened.no_core {
        tracing::warn!(
            "could not set the core-file limit to 0; a crash may write the sign-in to a core file"
        );
    }
    let _lock = lock_state_dir(&paths)?;
    // Holding the lock, no write of ours is in flight: leftovers of a crash can go.
    remove_crash_leftovers(&paths);
    let socket = codexd_proto::socket::socket_path();
    let socket_for_status = socket.clone();
    let bound = listener::listen(&socket, activated)?;
    tracing::info!(version = codexd_proto::VERSION, pid = std::process::id(), socket = %socket.display(), activated = bound.activated, non_dumpable = hardened.non_dumpable, open_files = ?hardened.nofile, max_connections = config.server.max_connections, max_streams = config.server.max_streams, "codexd starting");

    let workers = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(2);
    let system = actix::System::with_tokio_rt(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("the tokio runtime could not be built")
    });
    let live_log = log_guard.live.clone();
    let result = system.block_on(async move {
        let listener = TokioListener::try_from(bound.listener)
            .context("cannot register the socket with the runtime")?;
        let shutdown = CancellationToken::new();
        let svc = start_services(Start {
            config,
            config_path,
            paths,
            socket: socket_for_status,
            socket_activated: bound.activated,
            live_log,
            shutdown: shutdown.clone(),
        })
        .await?;

        spawn_signal_handlers(shutdown.clone())?;
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        tracing::info!("codexd ready");
        server::serve(listener, svc.clone(), shutdown).await;
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        svc.auth.disable_restarts();
        svc.instructions.disable_restarts();
        svc.sessions.disable_restarts();
        svc.log.disable_restarts();
        tracing::info!("codexd stopped");
        anyhow::Ok(())
    });
    // The listener unlinked its socket file when it dropped (an adopted one is left alone).
    drop(log_guard);
    result
}

/// What [`start_services`] builds on.
struct Start {
    config: Arc<Config>,
    config_path: std::path::PathBuf,
    paths: Paths,
    socket: std::path::PathBuf,
    socket_activated: bool,
    live_log: crate::log::live::LiveLog,
    shutdown: CancellationToken,
}

/// The backend client, the supervised actors and the gateway (listening), in dependency
/// order: tokens → backend client → catalog → conversations → logs → gateway.
async fn start_services(s: Start) -> anyhow::Result<Arc<Services>> {
    let Start {
        config,
        config_path,
        paths,
        socket,
        socket_activated,
        live_log,
        shutdown,
    } = s;
    let http = crate::http::client(Duration::from_secs(config.backend.connect_timeout_secs))
        .context("cannot build the HTTP client")?;
    let request_log = RequestLog::new(
        config.log.request_logging,
        paths.request_log_dir(),
        config.log.request_log_max_bytes,
    );
    let auth = {
        let deps = AuthDeps {
            config: config.clone(),
            paths: paths.clone(),
            http: http.clone(),
        };
        Supervised::start(ActorKind::Auth, move || AuthActor::new(deps.clone()))
    };
    let backend = Backend::new(
        http.clone(),
        config.clone(),
        auth.clone(),
        Compat::new(config.backend.client_version.clone()),
        request_log.clone(),
    );
    let instructions = {
        let deps = InstructionDeps {
            config: config.clone(),
            paths: paths.clone(),
            http: http.clone(),
            backend: backend.clone(),
        };
        Supervised::start(ActorKind::Instructions, move || {
            InstructionCacheActor::new(deps.clone())
        })
    };
    let sessions = {
        let deps = SessionDeps {
            config: config.clone(),
            paths: paths.clone(),
            backend: backend.clone(),
            instructions: instructions.clone(),
        };
        Supervised::start(ActorKind::Sessions, move || {
            SessionRegistry::new(deps.clone())
        })
    };
    let log = {
        let request_log = request_log.clone();
        Supervised::start(ActorKind::Log, move || {
            LogActor::new(live_log.clone(), request_log.clone())
        })
    };
    let gateway = Arc::new(
        crate::gateway::Gateway::new(
            config.gateway.clone(),
            Arc::new(crate::gateway::backend_port::BackendPort::new(
                backend,
                instructions.clone(),
                config.clone(),
            )),
            paths.data_dir.join("gateway.key"),
        )
        .with_request_log(request_log),
    );
    crate::gateway::listeners::start(
        &gateway,
        &socket,
        paths.state_dir.join("gateway-tcp"),
        shutdown.clone(),
    )
    .await;
    Ok(Arc::new(Services {
        config,
        config_path,
        paths,
        socket,
        socket_activated,
        started: Instant::now(),
        test_hooks: std::env::var("CODEXD_TEST_HOOKS").is_ok_and(|v| v == "1"),
        shutdown,
        auth,
        instructions,
        sessions,
        log,
        gateway,
    }))
}

/// Delete temp files of atomic writes a crash interrupted (one may hold a live refresh token).
fn remove_crash_leftovers(paths: &Paths) {
    for (dir, recursive) in temp_dirs(paths) {
        match crate::fsutil::remove_stale_temps(&dir, recursive) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(dir = %dir.display(), removed = n, "removed temp files left by an interrupted write")
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove temp files left by an interrupted write")
            }
        }
    }
}

/// Every directory codexd writes atomically into, and whether to look below it.
pub fn temp_dirs(paths: &Paths) -> [(std::path::PathBuf, bool); 4] {
    [
        // Only the credentials file lives directly in the data dir.
        (paths.data_dir.clone(), false),
        (paths.sessions_dir(), false),
        (paths.cache_dir.clone(), true),
        (paths.state_dir.clone(), true),
    ]
}

fn spawn_signal_handlers(shutdown: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        shutdown.cancel();
    });
    Ok(())
}

/// Hold an exclusive lock on the state directory for the daemon's life, so two daemons never
/// write the same files. The lock file holds our pid for the "already running" message.
fn lock_state_dir(paths: &Paths) -> anyhow::Result<File> {
    crate::fsutil::create_private_dir(&paths.state_dir).with_context(|| {
        format!(
            "cannot create the state directory {}",
            paths.state_dir.display()
        )
    })?;
    let path = paths.lock_file();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    if let Err(e) = file.try_lock() {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        return Err(match e {
            std::fs::TryLockError::WouldBlock => anyhow::anyhow!(
                "codexd is already running (pid {}) for this user (lock {}); use `codexctl daemon stop` to stop it",
                pid.trim(),
                path.display()
            ),
            std::fs::TryLockError::Error(e) => {
                anyhow::Error::new(e).context(format!("cannot lock {}", path.display()))
            }
        });
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
}
