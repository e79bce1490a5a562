//! `codexctl status`: daemon, actors, sign-in, instructions, sessions, usage windows.

use codexd_proto::status::DaemonStatus;
use codexd_proto::{Reply, Request};

use super::Ctx;
use crate::client::unexpected;
use crate::render;

/// Run `status`.
pub fn run(ctx: &Ctx) -> anyhow::Result<u8> {
    let mut client = ctx.connect()?;
    let status = match client.call_simple(Request::Status)? {
        Reply::Status(s) => *s,
        other => return Err(unexpected(other)),
    };
    if ctx.json {
        render::json(&status)?;
    } else {
        print!("{}", text(&status));
    }
    Ok(crate::exit::OK)
}

/// The human rendering.
pub fn text(s: &DaemonStatus) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "codexd {} (pid {}), up {}",
        s.version,
        s.pid,
        render::duration(s.uptime_secs)
    );
    let _ = writeln!(
        w,
        "  socket:  {}{}",
        s.socket,
        if s.socket_activated {
            " (socket-activated)"
        } else {
            ""
        }
    );
    let _ = writeln!(w, "  config:  {}", s.config_path);
    if let Some(rss) = s.rss_bytes {
        let _ = writeln!(w, "  memory:  {}", render::bytes(rss));
    }
    for e in &s.endpoints {
        let _ = writeln!(w, "  endpoint {} = {}", e.name, e.url);
    }
    let actors: Vec<String> = s
        .actors
        .iter()
        .map(|a| {
            if a.restarts == 0 {
                format!("{} {}", a.kind.name(), a.state)
            } else {
                format!("{} {} ({} restarts)", a.kind.name(), a.state, a.restarts)
            }
        })
        .collect();
    let _ = writeln!(w, "  actors:  {}", actors.join(", "));

    if let Some(auth) = &s.auth {
        match &auth.account {
            Some(a) => {
                let _ = writeln!(
                    w,
                    "sign-in: {}{} — account {}",
                    a.email.as_deref().unwrap_or("(no email)"),
                    a.plan
                        .as_deref()
                        .map(|p| format!(" ({p} plan)"))
                        .unwrap_or_default(),
                    a.account_id
                );
                if let Some(exp) = a.access_expires_at {
                    let _ = writeln!(w, "  access token expires {}", render::when(exp));
                }
                if let Some(r) = a.last_refresh {
                    let _ = writeln!(w, "  last refresh {}", render::when(r));
                }
            }
            None => {
                let _ = writeln!(w, "sign-in: not signed in (run `codexctl login`)");
            }
        }
        let _ = writeln!(w, "  credentials: {}", auth.store);
        if let Some(note) = &auth.store_note {
            let _ = writeln!(w, "  note: {note}");
        }
        if let Some(reason) = &auth.sign_in_again {
            let _ = writeln!(w, "  SIGN IN AGAIN: {reason}");
        }
        if let Some(why) = &auth.unsaved {
            let _ = writeln!(
                w,
                "  WARNING: the refreshed sign-in exists only in memory ({why}); codexd keeps retrying the save. Free space or fix permissions now: restarting codexd before it is saved signs you out."
            );
        }
        if let Some(err) = &auth.last_refresh_error {
            let _ = writeln!(w, "  last refresh failed: {err}");
        }
        if auth.login_in_progress {
            let _ = writeln!(w, "  a sign-in is in progress");
        }
    }
    if let Some(i) = &s.instructions {
        let source = super::instructions::source_text(&i.source, i.tag.as_deref());
        let _ = writeln!(
            w,
            "instructions: {} → {} ({source}{})",
            i.model,
            i.file,
            i.note
                .as_deref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default()
        );
    }
    if let Some(sess) = &s.sessions {
        let _ = writeln!(
            w,
            "sessions: {} stored, {} active",
            sess.stored, sess.active
        );
    }
    if let Some(l) = &s.limits {
        for (name, win) in [("5-hour", &l.primary), ("weekly", &l.secondary)] {
            if let Some(win) = win {
                let reset = win
                    .resets_at
                    .map(|t| format!(", resets {}", render::when(t)))
                    .unwrap_or_default();
                let _ = writeln!(w, "usage {name}: {:.0}% used{reset}", win.used_percent);
            }
        }
        if let Some(c) = &l.credits {
            let _ = writeln!(
                w,
                "credits: {}",
                if c.unlimited {
                    "unlimited".to_string()
                } else if c.has_credits {
                    c.balance.clone().unwrap_or_else(|| "yes".into())
                } else {
                    "none".into()
                }
            );
        }
    }
    if let Some(dir) = &s.request_logging {
        let _ = writeln!(
            w,
            "WARNING: request logging is ON — prompts and answers are written to {dir} (turn off: codexctl logs --requests off)"
        );
    }
    out
}
