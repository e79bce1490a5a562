//! `codexctl gateway on|off|status|key [--rotate]|config opencode|codex|env`: the
//! OpenAI-compatible gateway other tools point at. The config printers produce ready-to-paste
//! snippets; none of them embeds the key itself where the tool can read it from a command or
//! file instead.

use clap::{Subcommand, ValueEnum};
use codexd_proto::gateway::{GatewayReply, GatewayRequest, GatewayStatus};
use codexd_proto::{Reply, Request};

use super::Ctx;
use crate::client::unexpected;
use crate::render;

/// `codexctl gateway …`
#[derive(Subcommand, Debug)]
pub enum GatewayCommand {
    /// Turn the loopback TCP listener on (remembered across restarts).
    On,
    /// Turn the loopback TCP listener off.
    Off,
    /// Listeners, key file, requests served, last error.
    Status,
    /// Print the TCP key (what `Authorization: Bearer` must carry).
    Key {
        /// Write a new key first; the old one stops working at once.
        #[arg(long)]
        rotate: bool,
    },
    /// Print a ready-to-paste configuration for a tool.
    Config {
        /// Which tool.
        #[arg(value_enum)]
        tool: Tool,
    },
}

/// Tools `gateway config` knows.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Tool {
    /// OpenCode provider (`opencode.json`).
    Opencode,
    /// Codex CLI custom provider (`~/.codex/config.toml`).
    Codex,
    /// `OPENAI_BASE_URL` / `OPENAI_API_KEY` lines for the SDKs.
    Env,
}

fn call(ctx: &Ctx, req: GatewayRequest) -> anyhow::Result<GatewayReply> {
    match ctx.connect()?.call_simple(Request::Gateway(req))? {
        Reply::Gateway(r) => Ok(r),
        other => Err(unexpected(other)),
    }
}

fn status(ctx: &Ctx) -> anyhow::Result<GatewayStatus> {
    match call(ctx, GatewayRequest::Status)? {
        GatewayReply::Status(s) => Ok(s),
        GatewayReply::Key(_) => {
            anyhow::bail!("the daemon answered with a key instead of the gateway status")
        }
    }
}

fn key(ctx: &Ctx, rotate: bool) -> anyhow::Result<String> {
    match call(ctx, GatewayRequest::Key { rotate })? {
        GatewayReply::Key(k) => Ok(k.0),
        GatewayReply::Status(_) => {
            anyhow::bail!("the daemon answered with a status instead of the key")
        }
    }
}

fn base_url(s: &GatewayStatus) -> String {
    format!("http://127.0.0.1:{}/v1", s.port)
}

fn print_status(s: &GatewayStatus) {
    println!(
        "unix socket   {}",
        s.unix_socket.as_deref().unwrap_or("off")
    );
    let tcp = if !s.tcp_enabled {
        "off (turn on with `codexctl gateway on`)".to_owned()
    } else if s.tcp_listening.is_empty() {
        format!(
            "on, not listening: {}",
            s.tcp_error.as_deref().unwrap_or("unknown error")
        )
    } else {
        format!("on, {}", s.tcp_listening.join(" "))
    };
    println!("loopback tcp  {tcp}");
    if s.activated {
        println!("activation    sockets passed in by the service manager");
    }
    println!(
        "key file      {}{}",
        s.key_file,
        s.key_error
            .as_ref()
            .map(|e| format!("  ({e})"))
            .unwrap_or_default()
    );
    println!(
        "requests      {} served, {} refused",
        s.requests_served, s.requests_refused
    );
    if let Some(e) = &s.last_error {
        println!("last error    {e}");
    }
}

fn warn_if_off(s: &GatewayStatus) {
    if !s.tcp_enabled {
        eprintln!("note: the gateway's TCP listener is off; turn it on with `codexctl gateway on`");
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Run `gateway`.
pub fn run(cmd: GatewayCommand, ctx: &Ctx) -> anyhow::Result<u8> {
    match cmd {
        GatewayCommand::On | GatewayCommand::Off => {
            let on = matches!(cmd, GatewayCommand::On);
            let s = match call(ctx, GatewayRequest::SetTcp(on))? {
                GatewayReply::Status(s) => s,
                GatewayReply::Key(_) => {
                    anyhow::bail!("the daemon answered with a key instead of the gateway status")
                }
            };
            if ctx.json {
                render::json(&s)?;
            } else {
                print_status(&s);
            }
            if on && s.tcp_listening.is_empty() && !s.activated {
                return Ok(crate::exit::FAILURE);
            }
        }
        GatewayCommand::Status => {
            let s = status(ctx)?;
            if ctx.json {
                render::json(&s)?;
            } else {
                print_status(&s);
            }
        }
        GatewayCommand::Key { rotate } => {
            println!("{}", key(ctx, rotate)?);
        }
        GatewayCommand::Config { tool } => {
            let s = status(ctx)?;
            let base = base_url(&s);
            match tool {
                Tool::Env => {
                    warn_if_off(&s);
                    println!("export OPENAI_BASE_URL={base}");
                    println!("export OPENAI_API_KEY=\"$(codexctl gateway key)\"");
                }
                Tool::Codex => {
                    warn_if_off(&s);
                    let exe = std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "codexctl".into());
                    println!("# ~/.codex/config.toml — the Codex CLI through codexd's gateway.");
                    println!(
                        "# The CLI keeps no ChatGPT login of its own: codexd holds the only one."
                    );
                    println!("model_provider = \"codexd\"");
                    println!();
                    println!("[model_providers.codexd]");
                    println!("name = \"codexd\"");
                    println!("base_url = {}", json_string(&base));
                    println!("wire_api = \"responses\"");
                    println!();
                    println!("[model_providers.codexd.auth]");
                    println!("command = {}", json_string(&exe));
                    println!("args = [\"gateway\", \"key\"]");
                    println!(
                        "# Rerun only after a 401 (the key changes only with `gateway key --rotate`)."
                    );
                    println!("refresh_interval_ms = 0");
                }
                Tool::Opencode => {
                    warn_if_off(&s);
                    let fetch = |refresh: bool| -> anyhow::Result<_> {
                        match ctx.connect()?.call_simple(Request::Models { refresh })? {
                            Reply::Models(c) => Ok(c.models),
                            other => Err(unexpected(other)),
                        }
                    };
                    // The catalog is fetched lazily: ask for it, then give it a few seconds.
                    let mut models = fetch(true)?;
                    for _ in 0..20 {
                        if !models.is_empty() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(250));
                        models = fetch(false)?;
                    }
                    if models.is_empty() {
                        eprintln!(
                            "note: the model list is not available yet (`codexctl models --refresh`); add models under \"models\" by hand"
                        );
                    }
                    let mut m = serde_json::Map::new();
                    for model in models {
                        m.insert(
                            model.slug.clone(),
                            serde_json::json!({ "name": model.display_name.unwrap_or(model.slug) }),
                        );
                    }
                    let cfg = serde_json::json!({
                        "$schema": "https://opencode.ai/config.json",
                        "provider": {
                            "codexd": {
                                "npm": "@ai-sdk/openai",
                                "name": "codexd (ChatGPT sign-in)",
                                "options": {
                                    "baseURL": base,
                                    "apiKey": format!("{{file:{}}}", s.key_file),
                                },
                                "models": m,
                            }
                        }
                    });
                    println!("{}", serde_json::to_string_pretty(&cfg)?);
                }
            }
        }
    }
    Ok(crate::exit::OK)
}
