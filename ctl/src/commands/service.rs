//! `codexctl service install | uninstall | status`: write the user service (systemd socket +
//! service units, or a launchd agent) with absolute paths to this install's `codexd`, enable
//! it through the service manager, and report what was done. Install and uninstall are
//! idempotent; `--dry-run` prints the files and commands instead.
//!
//! The service manager tools can be swapped for tests and unusual setups with
//! `CODEXD_SYSTEMCTL` / `CODEXD_LAUNCHCTL` (a path to run instead of `systemctl` /
//! `launchctl`), and the manager itself chosen with `CODEXD_SERVICE_MANAGER=systemd|launchd`.

mod units;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use codexd_proto::{Reply, Request};

use super::Ctx;
use crate::client::{Attempt, Client};
use crate::exit;
use crate::exit::Unreachable;
use clap::Subcommand;
use units::UnitFile;

/// `service`
#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Write and enable the user service (systemd socket unit or launchd agent).
    Install {
        /// Show the files and commands without doing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Disable and remove the user service.
    Uninstall {
        /// Show what would be done without doing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Is the service installed and active?
    Status,
}

/// Which service manager to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manager {
    Systemd,
    Launchd,
}

impl Manager {
    fn detect() -> anyhow::Result<Manager> {
        match std::env::var("CODEXD_SERVICE_MANAGER").ok().as_deref() {
            Some("systemd") => Ok(Manager::Systemd),
            Some("launchd") => Ok(Manager::Launchd),
            Some(other) if !other.is_empty() => anyhow::bail!(
                "CODEXD_SERVICE_MANAGER={other:?} is not known; use systemd or launchd, or unset it"
            ),
            _ if cfg!(target_os = "macos") => Ok(Manager::Launchd),
            _ => Ok(Manager::Systemd),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::Launchd => "launchd",
        }
    }
}

fn home() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()))
        .context("cannot find your home directory; set HOME")
}

/// `~/.config/systemd/user` (honouring `XDG_CONFIG_HOME`).
fn systemd_unit_dir() -> anyhow::Result<PathBuf> {
    let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(c) => PathBuf::from(c),
        None => home()?.join(".config"),
    };
    Ok(config.join("systemd").join("user"))
}

fn launch_agents_dir() -> anyhow::Result<PathBuf> {
    Ok(home()?.join("Library").join("LaunchAgents"))
}

fn launchd_log_dir() -> anyhow::Result<PathBuf> {
    Ok(home()?.join("Library").join("Logs").join("codexd"))
}

fn tool(manager: Manager) -> String {
    let (env, default) = match manager {
        Manager::Systemd => ("CODEXD_SYSTEMCTL", "systemctl"),
        Manager::Launchd => ("CODEXD_LAUNCHCTL", "launchctl"),
    };
    std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn gui_domain() -> String {
    format!("gui/{}", codexd_proto::socket::current_uid())
}

/// The absolute path of the `codexd` to run.
fn codexd_path() -> anyhow::Result<PathBuf> {
    let bin = crate::autostart::daemon_binary();
    let resolved = if bin.components().count() > 1 {
        bin
    } else {
        // Only a bare name was found: look it up on PATH now, since units need a full path.
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join(&bin))
            .find(|p| p.is_file())
            .with_context(|| {
                "cannot find codexd next to codexctl or on PATH; install it, or set CODEXD_BIN to its path"
            })?
    };
    std::fs::canonicalize(&resolved).with_context(|| {
        format!(
            "cannot find codexd at {}; install it next to codexctl or set CODEXD_BIN",
            resolved.display()
        )
    })
}

/// The files the service consists of, for the current manager.
fn files(manager: Manager, codexd: &Path) -> anyhow::Result<Vec<UnitFile>> {
    Ok(match manager {
        Manager::Systemd => units::systemd(&systemd_unit_dir()?, codexd),
        Manager::Launchd => vec![units::launchd(
            &launch_agents_dir()?,
            codexd,
            &launchd_log_dir()?,
            &service_socket(),
        )],
    })
}

/// The unit files as installed, whatever binary they name.
fn installed_paths(manager: Manager) -> anyhow::Result<Vec<PathBuf>> {
    Ok(match manager {
        Manager::Systemd => {
            let dir = systemd_unit_dir()?;
            vec![
                dir.join("codexd.socket"),
                dir.join("codexd.service"),
                dir.join("codexd-gateway-tcp.socket"),
            ]
        }
        Manager::Launchd => vec![launch_agents_dir()?.join(format!("{}.plist", units::LABEL))],
    })
}

/// Run `service`.
pub fn run(cmd: ServiceCommand, ctx: &Ctx) -> anyhow::Result<u8> {
    let manager = Manager::detect()?;
    match cmd {
        ServiceCommand::Install { dry_run } => install(manager, dry_run, ctx),
        ServiceCommand::Uninstall { dry_run } => uninstall(manager, dry_run, ctx),
        ServiceCommand::Status => status(manager, ctx),
    }
}

/// A command line for the manager tool.
struct Step {
    args: Vec<String>,
    /// Failure is expected sometimes (e.g. "not loaded") and not an error.
    may_fail: bool,
}

impl Step {
    fn new(args: &[&str]) -> Step {
        Step {
            args: args.iter().map(|s| s.to_string()).collect(),
            may_fail: false,
        }
    }

    fn lenient(mut self) -> Step {
        self.may_fail = true;
        self
    }

    fn display(&self, tool: &str) -> String {
        let base = Path::new(tool)
            .file_name()
            .map_or_else(|| tool.to_string(), |n| n.to_string_lossy().into_owned());
        std::iter::once(base)
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Run one step; returns its stdout.
fn run_step(tool: &str, step: &Step) -> anyhow::Result<Option<String>> {
    let out = Command::new(tool).args(&step.args).output();
    let out = match out {
        Ok(o) => o,
        Err(e) if step.may_fail => {
            let _ = e;
            return Ok(None);
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot run `{}`: {e}; is the service manager installed? (the files are written; set CODEXD_SYSTEMCTL/CODEXD_LAUNCHCTL to use another tool)",
                step.display(tool)
            ));
        }
    };
    if out.status.success() {
        return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    if step.may_fail {
        return Ok(None);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::bail!(
        "`{}` failed ({}): {}; fix that and run `codexctl service install` again",
        step.display(tool),
        out.status,
        stderr.trim()
    )
}

fn install(manager: Manager, dry_run: bool, ctx: &Ctx) -> anyhow::Result<u8> {
    let codexd = codexd_path()?;
    let files = files(manager, &codexd)?;
    let tool = tool(manager);
    let changed: Vec<&UnitFile> = files
        .iter()
        .filter(|f| std::fs::read_to_string(&f.path).ok().as_deref() != Some(&f.content))
        .collect();
    let mut steps = Vec::new();
    match manager {
        Manager::Systemd => {
            steps.push(Step::new(&["--user", "daemon-reload"]));
            steps.push(Step::new(&["--user", "enable", "--now", "codexd.socket"]));
            if !changed.is_empty() {
                // A running daemon picks up a changed unit (new binary path) on restart.
                steps.push(Step::new(&["--user", "try-restart", "codexd.service"]).lenient());
            }
        }
        Manager::Launchd => {
            let target = format!("{}/{}", gui_domain(), units::LABEL);
            if !changed.is_empty() {
                steps.push(Step::new(&["bootout", &target]).lenient());
            }
            let plist = files[0].path.to_string_lossy().into_owned();
            steps.push(
                Step::new(&["bootstrap", &gui_domain(), &plist]).lenient_if(changed.is_empty()),
            );
        }
    }

    if dry_run {
        for f in &files {
            println!("==> {} <==", f.path.display());
            print!("{}", f.content);
        }
        println!("==> commands <==");
        for s in &steps {
            println!("{}", s.display(&tool));
        }
        return Ok(exit::OK);
    }

    for f in &files {
        let dir = f.path.parent().context("unit path has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if manager == Manager::Launchd {
        let logs = launchd_log_dir()?;
        std::fs::create_dir_all(&logs)
            .with_context(|| format!("cannot create the log directory {}", logs.display()))?;
    }
    let mut report = Vec::new();
    for f in &files {
        if changed.iter().any(|c| c.path == f.path) {
            write_file(&f.path, &f.content)?;
            report.push(format!("wrote {}", f.path.display()));
        } else {
            report.push(format!("unchanged {}", f.path.display()));
        }
    }
    // A daemon that codexctl started itself holds the socket path; hand it over.
    if manager == Manager::Systemd
        && let Some(pid) = stop_unmanaged_daemon()?
    {
        report.push(format!(
            "stopped codexd (pid {pid}), which codexctl had started, so the service owns the socket"
        ));
    }
    for s in &steps {
        run_step(&tool, s)?;
        report.push(format!("ran {}", s.display(&tool)));
    }
    if ctx.json {
        crate::render::json(&serde_json::json!({
            "manager": manager.name(),
            "codexd": codexd,
            "files": files.iter().map(|f| &f.path).collect::<Vec<_>>(),
            "changed": !changed.is_empty(),
            "done": report,
        }))?;
    } else {
        for line in &report {
            println!("{line}");
        }
        match manager {
            Manager::Systemd => println!(
                "codexd now starts on demand through codexd.socket (socket $XDG_RUNTIME_DIR/codexd/codexd.sock); codexctl no longer starts it itself"
            ),
            Manager::Launchd => println!(
                "codexd now runs as the launchd agent {} (logs in {})",
                units::LABEL,
                launchd_log_dir()?.display()
            ),
        }
    }
    Ok(exit::OK)
}

impl Step {
    fn lenient_if(self, yes: bool) -> Step {
        if yes { self.lenient() } else { self }
    }
}

fn write_file(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("codexd-tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(content.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// If a daemon answers on the default socket and was not started by the service manager,
/// shut it down and wait (bounded) until it is gone.
fn stop_unmanaged_daemon() -> anyhow::Result<Option<u32>> {
    let socket = codexd_proto::socket::socket_path();
    let Ok(Attempt::Connected(mut client)) = Client::try_connect(&socket) else {
        return Ok(None);
    };
    let activated = match client.call_simple(Request::Status) {
        Ok(Reply::Status(s)) => s.socket_activated,
        _ => false,
    };
    if activated {
        return Ok(None);
    }
    let pid = client.daemon_pid;
    client.call_simple(Request::Shutdown).context(
        "cannot stop the running codexd; stop it with `codexctl daemon stop` and try again",
    )?;
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(Client::try_connect(&socket), Ok(Attempt::NoDaemon)) {
            return Ok(Some(pid));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!(
        "codexd (pid {pid}) did not stop within 10 s; stop it with `kill {pid}` and run `codexctl service install` again"
    )
}

fn uninstall(manager: Manager, dry_run: bool, ctx: &Ctx) -> anyhow::Result<u8> {
    let tool = tool(manager);
    let present: Vec<PathBuf> = installed_paths(manager)?
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    let mut steps = Vec::new();
    let mut after = Vec::new();
    if !present.is_empty() {
        match manager {
            Manager::Systemd => {
                steps.push(
                    Step::new(&[
                        "--user",
                        "disable",
                        "--now",
                        "codexd.socket",
                        "codexd.service",
                    ])
                    .lenient(),
                );
                after.push(Step::new(&["--user", "daemon-reload"]).lenient());
            }
            Manager::Launchd => {
                steps.push(
                    Step::new(&["bootout", &format!("{}/{}", gui_domain(), units::LABEL)])
                        .lenient(),
                );
            }
        }
    }
    if dry_run {
        for p in &present {
            println!("would remove {}", p.display());
        }
        for s in steps.iter().chain(&after) {
            println!("would run {}", s.display(&tool));
        }
        if present.is_empty() {
            println!(
                "the {} service is not installed; nothing to do",
                manager.name()
            );
        }
        return Ok(exit::OK);
    }
    let mut report = Vec::new();
    for s in &steps {
        run_step(&tool, s)?;
        report.push(format!("ran {}", s.display(&tool)));
    }
    for p in &present {
        std::fs::remove_file(p).with_context(|| format!("cannot remove {}", p.display()))?;
        report.push(format!("removed {}", p.display()));
    }
    for s in &after {
        run_step(&tool, s)?;
        report.push(format!("ran {}", s.display(&tool)));
    }
    if ctx.json {
        crate::render::json(&serde_json::json!({
            "manager": manager.name(),
            "removed": present,
            "done": report,
        }))?;
    } else if present.is_empty() {
        println!(
            "the {} service is not installed; nothing to do",
            manager.name()
        );
    } else {
        for line in &report {
            println!("{line}");
        }
        println!("codexctl starts codexd itself again when needed");
    }
    Ok(exit::OK)
}

fn status(manager: Manager, ctx: &Ctx) -> anyhow::Result<u8> {
    let tool = tool(manager);
    let paths = installed_paths(manager)?;
    let installed = paths.iter().all(|p| p.exists());
    let query = |args: &[&str]| -> String {
        Command::new(&tool)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_string())
    };
    let (state, active) = match manager {
        Manager::Systemd => {
            let enabled = query(&["--user", "is-enabled", "codexd.socket"]);
            let socket = query(&["--user", "is-active", "codexd.socket"]);
            let service = query(&["--user", "is-active", "codexd.service"]);
            let active = socket == "active";
            (
                serde_json::json!({"socket_enabled": enabled, "socket": socket, "service": service}),
                active,
            )
        }
        Manager::Launchd => {
            let loaded = Command::new(&tool)
                .args(["print", &format!("{}/{}", gui_domain(), units::LABEL)])
                .output()
                .is_ok_and(|o| o.status.success());
            (serde_json::json!({"loaded": loaded}), loaded)
        }
    };
    if ctx.json {
        crate::render::json(&serde_json::json!({
            "manager": manager.name(),
            "installed": installed,
            "files": paths,
            "active": active,
            "state": state,
            "defers_autostart": defers_autostart(),
        }))?;
    } else {
        println!("manager:   {}", manager.name());
        println!(
            "installed: {}",
            if installed {
                "yes"
            } else {
                "no (run `codexctl service install`)"
            }
        );
        for p in &paths {
            println!(
                "  {} {}",
                p.display(),
                if p.exists() { "" } else { "(missing)" }
            );
        }
        match manager {
            Manager::Systemd => println!(
                "socket:    {} ({}), service: {}",
                state["socket"].as_str().unwrap_or("unknown"),
                state["socket_enabled"].as_str().unwrap_or("unknown"),
                state["service"].as_str().unwrap_or("unknown")
            ),
            Manager::Launchd => println!(
                "agent:     {}",
                if active { "loaded" } else { "not loaded" }
            ),
        }
    }
    Ok(if installed && active {
        exit::OK
    } else {
        exit::DAEMON
    })
}

/// The service manager installed on this machine, as [`crate::connect`] sees it.
pub struct Installed;

impl crate::connect::ServiceManager for Installed {
    fn defers_autostart(&self) -> bool {
        defers_autostart()
    }

    fn start_and_connect(&self, socket: &Path) -> anyhow::Result<Client> {
        start_installed_service(socket)
    }
}

/// Whether an installed service manager owns starting the daemon (then codexctl does not):
/// the systemd socket unit (ours, or a packaged one the user enabled) or the launchd agent is
/// installed, and codexctl uses the socket path that service listens on.
pub fn defers_autostart() -> bool {
    let Ok(manager) = Manager::detect() else {
        return false;
    };
    let installed = match manager {
        Manager::Systemd => systemd_unit_dir().is_ok_and(|dir| {
            dir.join("codexd.socket").exists()
                || dir
                    .join("sockets.target.wants")
                    .join("codexd.socket")
                    .exists()
        }),
        Manager::Launchd => launchd_plist().is_ok_and(|p| p.exists()),
    };
    installed && uses_service_socket(manager)
}

/// The default socket path (what the service listens on; `CODEXD_SOCKET` aside).
fn service_socket() -> PathBuf {
    codexd_proto::socket::socket_path_from(
        None,
        std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        codexd_proto::socket::current_uid(),
    )
}

/// The installed agent's plist path.
fn launchd_plist() -> anyhow::Result<PathBuf> {
    Ok(launch_agents_dir()?.join(format!("{}.plist", units::LABEL)))
}

/// The socket codexctl will use is the one the service listens on (the default path, or the
/// one the launchd plist pins; an explicit `CODEXD_SOCKET` elsewhere means someone runs their
/// own daemon).
fn uses_service_socket(manager: Manager) -> bool {
    let actual = codexd_proto::socket::socket_path();
    match manager {
        Manager::Systemd => {
            std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|v| !v.is_empty())
                && actual == service_socket()
        }
        Manager::Launchd => {
            let pinned = launchd_plist()
                .ok()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .and_then(|text| units::pinned_socket(&text));
            actual == pinned.unwrap_or_else(service_socket)
        }
    }
}

/// How long the launchd agent has to answer after `launchctl kickstart`.
const KICKSTART_WAIT: Duration = Duration::from_secs(5);

/// Nothing answered on `socket` although the service is installed. launchd restarts the agent
/// only after a failure, so after a clean `codexctl daemon stop` it is started here on demand
/// (`launchctl kickstart`); under systemd the socket unit starts the daemon by itself, so
/// nothing answering means the unit is not running.
pub fn start_installed_service(socket: &Path) -> anyhow::Result<Client> {
    let manager = Manager::detect()?;
    match manager {
        Manager::Launchd => {
            let tool = tool(manager);
            let target = format!("{}/{}", gui_domain(), units::LABEL);
            let step = Step::new(&["kickstart", &target]);
            run_step(&tool, &step).map_err(|e| {
                Unreachable(format!(
                    "the codexd launchd agent is installed but not running, and starting it failed: {e:#}; see `codexctl service status`"
                ))
            })?;
            let deadline = Instant::now() + KICKSTART_WAIT;
            loop {
                if let Attempt::Connected(c) = Client::try_connect(socket)? {
                    return Ok(c);
                }
                if Instant::now() > deadline {
                    return Err(Unreachable(format!(
                        "started the codexd launchd agent ({}) but nothing answered on {} within {} s; see {} and `codexctl service status`",
                        step.display(&tool),
                        socket.display(),
                        KICKSTART_WAIT.as_secs(),
                        launchd_log_dir()?.join("codexd.err.log").display()
                    ))
                    .into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Manager::Systemd => Err(Unreachable(format!(
            "the codexd user service is installed, so codexctl leaves starting the daemon to it, but nothing answered on {}; check `codexctl service status` (or `systemctl --user start codexd.socket`)",
            socket.display()
        ))
        .into()),
    }
}
