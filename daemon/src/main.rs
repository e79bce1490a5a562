//! `codexd` — the daemon binary. Runs in the foreground (never forks): systemd and launchd
//! want it that way, and `codexctl daemon start` detaches it itself.

use clap::Parser;

/// codexd: the per-user daemon behind codexctl.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Do not copy log lines to stderr (they still go to the log files).
    #[arg(long)]
    quiet: bool,
}

fn main() -> std::process::ExitCode {
    // First, while single-threaded: take the sockets passed by systemd (this unsets LISTEN_*);
    // the gateway's named ones are kept aside for it.
    let activated = codexd::gateway::listeners::take_activated_fds();
    let args = Args::parse();
    match codexd::run::run(
        codexd::run::Options {
            log_to_stderr: !args.quiet,
        },
        activated,
    ) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("codexd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
