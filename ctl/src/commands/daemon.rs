//! `codexctl daemon start | stop | restart | status | run`.

use std::time::{Duration, Instant};

use codexd_proto::Request;

use super::Ctx;
use crate::autostart;
use crate::client::{Attempt, Client};
use crate::exit;
use clap::Subcommand;

/// `daemon`
#[derive(Subcommand, Debug)]
pub enum DaemonCommand {
    /// Start the daemon in the background (no-op when running).
    Start,
    /// Stop the daemon.
    Stop,
    /// Stop, then start.
    Restart,
    /// Is it running? (exit 0 yes, 3 no)
    Status,
    /// Run the daemon in the foreground (execs codexd).
    Run,
}

/// Run a `daemon` subcommand.
pub fn run(cmd: DaemonCommand, ctx: &Ctx) -> anyhow::Result<u8> {
    let socket = codexd_proto::socket::socket_path();
    match cmd {
        DaemonCommand::Start => start(ctx),
        DaemonCommand::Stop => stop(&socket, ctx),
        DaemonCommand::Restart => {
            stop(&socket, ctx)?;
            start(ctx)
        }
        DaemonCommand::Status => match Client::try_connect(&socket)? {
            Attempt::Connected(c) => {
                report(ctx, true, Some(c.daemon_pid), &c.daemon_version, &socket);
                Ok(exit::OK)
            }
            Attempt::NoDaemon => {
                report(ctx, false, None, "", &socket);
                Ok(exit::DAEMON)
            }
        },
        DaemonCommand::Run => exec_foreground(),
    }
}

fn report(ctx: &Ctx, running: bool, pid: Option<u32>, version: &str, socket: &std::path::Path) {
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ "running": running, "pid": pid, "version": version, "socket": socket })
        );
    } else if let Some(pid) = pid {
        println!(
            "codexd {version} is running (pid {pid}) on {}",
            socket.display()
        );
    } else {
        println!("codexd is not running (socket {})", socket.display());
    }
}

fn start(ctx: &Ctx) -> anyhow::Result<u8> {
    let c = crate::connect::connect(
        crate::connect::Policy::always_start(),
        &super::service::Installed,
    )?;
    report(ctx, true, Some(c.daemon_pid), &c.daemon_version, &c.socket);
    Ok(exit::OK)
}

fn stop(socket: &std::path::Path, ctx: &Ctx) -> anyhow::Result<u8> {
    let mut client = match Client::try_connect(socket)? {
        Attempt::Connected(c) => c,
        Attempt::NoDaemon => {
            if !ctx.json {
                println!("codexd is not running");
            }
            return Ok(exit::OK);
        }
    };
    let pid = client.daemon_pid;
    client.call_simple(Request::Shutdown)?;
    drop(client);
    // Wait until it no longer answers (it finishes running requests first, bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(Client::try_connect(socket), Ok(Attempt::NoDaemon))
            && !codexd_proto::process::alive(pid)
        {
            if !ctx.json {
                println!("codexd (pid {pid}) stopped");
            }
            return Ok(exit::OK);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("codexd (pid {pid}) did not stop within 10 s; stop it with `kill {pid}`")
}

fn exec_foreground() -> anyhow::Result<u8> {
    use std::os::unix::process::CommandExt as _;
    let bin = autostart::daemon_binary();
    let err = std::process::Command::new(&bin).exec();
    Err(anyhow::anyhow!("cannot run {}: {err}", bin.display()))
}
