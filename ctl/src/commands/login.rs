//! `codexctl login` and `codexctl logout`. Progress and the sign-in URL go to stderr (the URL
//! on its own line, so scripts and tests can pick it up); stdout gets only the final account
//! line, or JSON with `--json`.

use std::io::BufRead as _;

use codexd_proto::auth::{LoginEvent, LoginMethod, LoginRequest};
use codexd_proto::{Event, Reply, Request};

use super::Ctx;
use crate::client::unexpected;
use crate::render;
use clap::Args;

/// `login`
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Device-code sign-in, for SSH and headless machines.
    #[arg(long, conflicts_with_all = ["paste", "import_codex"])]
    pub device: bool,
    /// Print the URL and paste the final redirect URL back (no callback listener needed).
    #[arg(long, conflicts_with_all = ["device", "import_codex"])]
    pub paste: bool,
    /// Import an existing Codex CLI sign-in (default $CODEX_HOME/auth.json or ~/.codex/auth.json).
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "")]
    pub import_codex: Option<String>,
    /// Never try to open a browser (the URL is printed either way).
    #[arg(long)]
    pub no_browser: bool,
}

/// `logout`
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Delete local credentials without revoking them; they stay valid at OpenAI until they expire.
    #[arg(long)]
    pub local_only: bool,
}

/// Run `login`.
pub fn login(args: LoginArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let method = if args.device {
        LoginMethod::Device
    } else if args.paste {
        LoginMethod::Paste
    } else if let Some(path) = args.import_codex {
        LoginMethod::ImportCodex {
            path: Some(import_path(&path)?),
        }
    } else {
        LoginMethod::Browser {
            open_browser: !args.no_browser,
        }
    };
    let mut client = ctx.connect()?;
    client.cancel_on_ctrl_c()?;
    let input = client.input_sender();
    let fancy = render::stderr_is_fancy();
    let mut on_event = |ev: Event| -> anyhow::Result<()> {
        let Event::Login(ev) = ev else { return Ok(()) };
        match ev {
            LoginEvent::AuthorizeUrl {
                url,
                browser_opened,
                timeout_secs,
            } => {
                if browser_opened {
                    eprintln!(
                        "Your browser should open for the ChatGPT sign-in. If it does not, open this address:"
                    );
                } else {
                    eprintln!("Open this address in a browser to sign in with ChatGPT:");
                }
                eprintln!();
                eprintln!("{url}");
                eprintln!();
                if !args.paste {
                    eprintln!(
                        "If the browser shows an error page instead of \"Signed in to codexd\", run `codexctl login` again; on another machine or over SSH use `codexctl login --device`, or `codexctl login --paste` to paste the address the browser ended on."
                    );
                    eprintln!(
                        "Waiting for the sign-in to finish (Ctrl-C cancels; gives up after {})…",
                        render::duration(timeout_secs)
                    );
                }
            }
            LoginEvent::DeviceCode {
                verification_url,
                user_code,
                expires_in_secs,
            } => {
                eprintln!("On any device, open {verification_url}");
                eprintln!(
                    "and enter this code (valid {}):",
                    render::duration(expires_in_secs)
                );
                eprintln!();
                eprintln!("    {user_code}");
                eprintln!();
                eprintln!("Waiting for approval (Ctrl-C cancels)…");
            }
            LoginEvent::AwaitingPaste => {
                eprintln!(
                    "After signing in, your browser ends on an address starting with http://localhost"
                );
                eprintln!(
                    "(the page itself may fail to load). Paste that whole address here and press Enter:"
                );
                read_and_send(&input)?;
            }
            LoginEvent::PasteRejected { reason } => {
                eprintln!("{reason}");
                eprintln!("Paste the address again:");
                read_and_send(&input)?;
            }
            LoginEvent::Notice(text) => {
                if fancy {
                    eprintln!("note: {text}");
                } else {
                    eprintln!("{text}");
                }
            }
        }
        Ok(())
    };
    let reply = client.call(Request::Login(LoginRequest { method }), &mut on_event)?;
    let Reply::LoggedIn(account) = reply else {
        return Err(unexpected(reply));
    };
    if ctx.json {
        render::json(&account)?;
    } else {
        println!(
            "Signed in as {}{} (account {}); credentials in {}",
            account.email.as_deref().unwrap_or("(no email)"),
            account
                .plan
                .as_deref()
                .map(|p| format!(", {p} plan"))
                .unwrap_or_default(),
            account.account_id,
            account.store
        );
    }
    Ok(crate::exit::OK)
}

/// The file to import, resolved here (the daemon's environment and working directory may
/// differ from this shell's): PATH made absolute, else `$CODEX_HOME/auth.json`, else
/// `~/.codex/auth.json`.
fn import_path(given: &str) -> anyhow::Result<String> {
    let path = if !given.is_empty() {
        std::path::PathBuf::from(given)
    } else if let Some(home) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
        std::path::PathBuf::from(home).join("auth.json")
    } else {
        directories::BaseDirs::new()
            .map(|b| b.home_dir().join(".codex/auth.json"))
            .ok_or_else(|| anyhow::anyhow!("cannot find your home directory; pass the path: codexctl login --import-codex PATH"))?
    };
    let path = if path.is_absolute() {
        path
    } else {
        std::env::current_dir()?.join(path)
    };
    eprintln!("Importing {}", path.display());
    Ok(path.display().to_string())
}

/// Read one line from stdin and send it to the daemon; end of input cancels the sign-in.
fn read_and_send(input: &crate::client::InputSender) -> anyhow::Result<()> {
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the pasted address: {e}"))?;
    if n == 0 {
        anyhow::bail!("no address was pasted (end of input); run `codexctl login --paste` again");
    }
    input.send(line.trim().to_owned())
}

/// Run `logout`.
pub fn logout(args: LogoutArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let mut client = ctx.connect()?;
    let reply = client.call_simple(Request::Logout {
        local_only: args.local_only,
    })?;
    let Reply::LoggedOut(out) = reply else {
        return Err(unexpected(reply));
    };
    if ctx.json {
        render::json(&out)?;
        if args.local_only && out.was_signed_in {
            eprintln!(
                "warning: the tokens were NOT revoked and stay valid at OpenAI until they expire"
            );
        }
        return Ok(crate::exit::OK);
    }
    if !out.was_signed_in {
        println!("You were not signed in.");
    } else if out.revoked {
        println!("Signed out: the sign-in was revoked at OpenAI.");
    } else {
        println!(
            "Signed out locally only. The tokens were NOT revoked: they stay valid at OpenAI until they expire."
        );
        println!(
            "To revoke them, sign in again and run `codexctl logout`, or remove codexd's access in your ChatGPT account settings."
        );
    }
    for place in &out.removed {
        println!("Deleted credentials from {place}");
    }
    Ok(crate::exit::OK)
}
