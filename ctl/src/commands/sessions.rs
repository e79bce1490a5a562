//! `codexctl sessions list | show | rm | rename`: stored conversations, read from the daemon.

use codexd_proto::conversation::{SessionDetail, SessionInfo, SessionsRequest};
use codexd_proto::{Reply, Request};

use super::Ctx;
use crate::client::unexpected;
use crate::render;
use clap::Subcommand;

/// `sessions`
#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// All conversations, most recent first.
    List,
    /// One conversation in full.
    Show {
        /// Name or id prefix.
        name: String,
    },
    /// Delete a conversation.
    Rm {
        /// Name or id prefix.
        name: String,
    },
    /// Rename a conversation.
    Rename {
        /// Current name or id prefix.
        from: String,
        /// New name.
        to: String,
    },
}

/// Run `sessions`.
pub fn run(cmd: SessionsCommand, ctx: &Ctx) -> anyhow::Result<u8> {
    let req = match cmd {
        SessionsCommand::List => SessionsRequest::List,
        SessionsCommand::Show { name } => SessionsRequest::Show(name),
        SessionsCommand::Rm { name } => SessionsRequest::Remove(name),
        SessionsCommand::Rename { from, to } => SessionsRequest::Rename { from, to },
    };
    let what = req.clone();
    let mut client = ctx.connect()?;
    let reply = client.call_simple(Request::Sessions(req))?;
    match (reply, what) {
        (Reply::Sessions(list), _) => {
            if ctx.json {
                render::json(&list)?;
            } else {
                print!("{}", list_text(&list));
            }
        }
        (Reply::Session(detail), _) => {
            if ctx.json {
                render::json(&detail)?;
            } else {
                print!("{}", detail_text(&detail));
            }
        }
        (Reply::Done, what) => {
            let msg = match what {
                SessionsRequest::Remove(n) => format!("removed conversation {n}"),
                SessionsRequest::Rename { from, to } => format!("renamed {from} to {to}"),
                _ => "done".into(),
            };
            if ctx.json {
                render::json(&serde_json::json!({ "ok": true, "message": msg }))?;
            } else {
                println!("{msg}");
            }
        }
        (other, _) => return Err(unexpected(other)),
    }
    Ok(crate::exit::OK)
}

fn short(id: &str) -> &str {
    &id[..8.min(id.len())]
}

/// The table of `sessions list`.
pub fn list_text(list: &[SessionInfo]) -> String {
    use std::fmt::Write as _;
    if list.is_empty() {
        return "no stored conversations (start one with `codexctl ask`)\n".into();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8}  {:<20}  {:<18}  {:>5}  {:>8}  last used",
        "id", "name", "model", "turns", "tokens"
    );
    for s in list {
        let _ = writeln!(
            out,
            "{:<8}  {:<20}  {:<18}  {:>5}  {:>8}  {}{}",
            short(&s.id),
            s.name.as_deref().unwrap_or("-"),
            s.model,
            s.turns,
            s.tokens,
            render::when(s.last_used),
            if s.active { "  (active)" } else { "" }
        );
    }
    out
}

/// `sessions show`.
pub fn detail_text(d: &SessionDetail) -> String {
    use std::fmt::Write as _;
    let i = &d.info;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "conversation {}{} — {}, {} turn{}, {} tokens, last used {}",
        i.id,
        i.name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default(),
        i.model,
        i.turns,
        if i.turns == 1 { "" } else { "s" },
        i.tokens,
        render::when(i.last_used)
    );
    for (n, t) in d.turns.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n--- turn {} · {} · {}",
            n + 1,
            t.model,
            render::when(t.at)
        );
        let _ = writeln!(out, "> {}", t.user.replace('\n', "\n> "));
        let _ = writeln!(out, "\n{}", t.assistant.trim_end());
    }
    out
}
