//! `codexd-fakes`: runs the fake OpenAI issuer, ChatGPT backend and GitHub on 127.0.0.1 so a
//! person can try codexd by hand without touching the network.
//!
//! ```text
//! cargo run -p codexd-tests --bin codexd-fakes -- [--approve-device] [--write-auth-json FILE]
//! # or, in the background, then load the variables into this shell:
//! cargo run -q -p codexd-tests --bin codexd-fakes > /tmp/codexd-fakes.env &
//! sleep 2; . /tmp/codexd-fakes.env
//! ```
//!
//! It prints `export CODEXD_…=…` lines on stdout (paste them into the shell that runs codexd
//! and codexctl), help on stderr, and serves until Ctrl-C; then it prints what it saw.
//!
//! Completing a browser sign-in by hand: the fake's `/oauth/authorize` has no login form — it
//! validates the request and *auto-approves*, answering `302` to codexd's callback
//! (`http://localhost:<port>/auth/callback?code=…&state=…`). So open the sign-in URL codexd
//! prints in a browser on the same machine, or run `curl -sL '<url>'`: following the redirect
//! delivers the code to codexd's callback listener and the login completes. For the
//! manual-paste flow, run `curl -s -o /dev/null -w '%{redirect_url}\n' '<url>'` and paste the
//! printed URL into codexd.
//!
//! Device-code sign-in: with `--approve-device` every device code is approved on its first
//! poll; without it, device logins stay pending forever.
//!
//! Every sign-in identifies as `fake.user@example.com` on the `plus` plan. Answers are
//! `turn <n>: <your last message>`. Prompt files are made up ("FAKE prompt.md for …").

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use codexd_tests::fakes::{FakeAuth, FakeBackend, FakeGitHub};

/// Run the fake OpenAI issuer, ChatGPT backend and GitHub locally for manual testing.
#[derive(Parser)]
#[command(name = "codexd-fakes", version)]
struct Args {
    /// Approve device-code sign-ins automatically on their first poll.
    #[arg(long)]
    approve_device: bool,
    /// Port of the fake issuer (0 = any free port).
    #[arg(long, default_value_t = 0)]
    auth_port: u16,
    /// Port of the fake backend (0 = any free port).
    #[arg(long, default_value_t = 0)]
    backend_port: u16,
    /// Port of the fake GitHub (0 = any free port).
    #[arg(long, default_value_t = 0)]
    github_port: u16,
    /// Pause between streamed text deltas, in milliseconds (to watch streaming).
    #[arg(long, default_value_t = 30)]
    delta_delay_ms: u64,
    /// Also mint a login and write it as a Codex CLI `auth.json` to FILE (to try importing).
    #[arg(long, value_name = "FILE")]
    write_auth_json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let auth = FakeAuth::start_on(args.auth_port)
        .await
        .context("starting the fake issuer")?;
    let backend = FakeBackend::start_on(args.backend_port, auth.registry())
        .await
        .context("starting the fake backend")?;
    let github = FakeGitHub::start_on(args.github_port)
        .await
        .context("starting the fake GitHub")?;
    if args.approve_device {
        auth.auto_approve_after_polls(Some(1));
    }
    backend.set_delta_delay(std::time::Duration::from_millis(args.delta_delay_ms));

    if let Some(path) = &args.write_auth_json {
        let login = auth.mint_login();
        let text = serde_json::to_string_pretty(&login.auth_json())?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote a fake Codex CLI auth.json to {}", path.display());
    }

    println!("export CODEXD_AUTH_ISSUER={}", auth.url());
    println!("export CODEXD_BACKEND_URL={}", backend.base_url());
    println!("export CODEXD_GITHUB_API_URL={}", github.url());
    println!("export CODEXD_GITHUB_URL={}", github.url());
    println!("export CODEXD_GITHUB_RAW_URL={}", github.url());
    eprintln!();
    eprintln!("Fakes are running; paste the export lines above into the shell that runs codexd.");
    eprintln!("Browser sign-in auto-approves: open the URL codexd prints (or `curl -sL '<url>'`).");
    if args.approve_device {
        eprintln!("Device codes are approved on their first poll.");
    } else {
        eprintln!("Device codes stay pending (start with --approve-device to approve them).");
    }
    eprintln!("Ctrl-C to stop.");

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;

    eprintln!(
        "\nissuer: {} authorize, {} token calls ({} refreshes), {} revokes",
        auth.authorize_count(),
        auth.token_calls(),
        auth.refresh_count(),
        auth.revoke_count()
    );
    eprintln!(
        "backend: {} responses requests ({} accepted), {} cancelled streams, {} model lists",
        backend.response_count(),
        backend.requests().len(),
        backend.cancelled_streams(),
        backend.models_count()
    );
    eprintln!("github: {} requests", github.requests().len());
    Ok(())
}
