//! `codexctl` — the small synchronous client of codexd. No async runtime, no HTTP: it frames
//! a request, streams the reply, and exits. Errors are printed once, here.
//!
//! Layout: [`cli`] (the command line and its dispatch), [`commands`] (one module per
//! subcommand, with its arguments), [`values`] (shared typed values), [`connect`] (the connect
//! policy), [`client`] (socket, handshake, requests), [`autostart`] (starting the daemon),
//! [`render`] (text output), [`exit`] (exit codes).

mod autostart;
mod cli;
mod client;
mod commands;
mod connect;
mod exit;
mod render;
mod values;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cli::refuse_idle_flags(&cli);
    let ctx = commands::Ctx::new(cli.json, cli.no_autostart);
    match cli::run(cli.command, &ctx) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            render::restore_terminal();
            let code = exit::for_error(&err);
            if code == exit::CANCELLED && client::ctrl_c_pressed() {
                eprintln!("codexctl: cancelled");
            } else if code == exit::CANCELLED {
                // Not the user's Ctrl-C: say who ended it and why.
                eprintln!("codexctl: {err:#}");
            } else if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            } else if ctx.json {
                let obj = serde_json::json!({ "error": format!("{err:#}"), "exit_code": code });
                eprintln!("{obj}");
            } else {
                eprintln!("codexctl: {err:#}");
            }
            ExitCode::from(code)
        }
    }
}

/// Output piped into `head` and closed early is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
