//! `codexctl status`: daemon, actors, sign-in, instructions, sessions, usage windows.

use std::fmt::Write as _;

use codexd_proto::auth::{AccountSummary, AuthStatus};
use codexd_proto::conversation::RateLimits;
use codexd_proto::instructions::InstructionsInfo;
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

/// The human rendering: the daemon itself, then each part the daemon reported (a part it
/// left out is left out here too).
pub fn text(s: &DaemonStatus) -> String {
    let mut out = String::new();
    daemon_section(&mut out, s);
    if let Some(auth) = &s.auth {
        auth_section(&mut out, auth);
    }
    if let Some(i) = &s.instructions {
        instructions_line(&mut out, i);
    }
    if let Some(sess) = &s.sessions {
        let _ = writeln!(
            out,
            "sessions: {} stored, {} active",
            sess.stored, sess.active
        );
    }
    if let Some(l) = &s.limits {
        limits_section(&mut out, l);
    }
    if let Some(dir) = &s.request_logging {
        let _ = writeln!(
            out,
            "WARNING: request logging is ON — prompts and answers are written to {dir} (turn off: codexctl logs --requests off)"
        );
    }
    out
}

/// The daemon's own lines: version, pid and uptime, socket, config, memory, endpoint
/// overrides, and its actors (with their restarts, when any).
fn daemon_section(w: &mut String, s: &DaemonStatus) {
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
}

/// The sign-in lines: the account (or how to sign in), where credentials are kept, and
/// every problem that needs the user: sign in again, an unsaved refresh, a failed refresh.
fn auth_section(w: &mut String, auth: &AuthStatus) {
    match &auth.account {
        Some(a) => account_lines(w, a),
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

/// The signed-in account: email, plan and id, then its token expiry and last refresh.
fn account_lines(w: &mut String, a: &AccountSummary) {
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

/// The default model's instructions: model, prompt file, and where the text comes from.
fn instructions_line(w: &mut String, i: &InstructionsInfo) {
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

/// The usage windows last seen (5-hour, weekly: percent used and reset time) and credits.
fn limits_section(w: &mut String, l: &RateLimits) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_proto::conversation::{Credits, SessionsSummary, UsageWindow};
    use codexd_proto::status::{ActorKind, ActorStatus, EndpointOverride};

    fn status() -> DaemonStatus {
        DaemonStatus {
            version: "1.2.3".into(),
            pid: 42,
            uptime_secs: 90,
            socket: "/run/codexd.sock".into(),
            socket_activated: true,
            config_path: "/etc/codexd.toml".into(),
            rss_bytes: Some(12_000_000),
            actors: vec![
                ActorStatus {
                    kind: ActorKind::Auth,
                    state: "running".into(),
                    restarts: 0,
                },
                ActorStatus {
                    kind: ActorKind::Log,
                    state: "running".into(),
                    restarts: 2,
                },
            ],
            auth: Some(AuthStatus {
                account: Some(AccountSummary {
                    email: Some("a@example.com".into()),
                    plan: Some("plus".into()),
                    account_id: "acc-1".into(),
                    access_expires_at: None,
                    last_refresh: None,
                    store: "keyring".into(),
                }),
                store: "keyring".into(),
                store_note: Some("why not".into()),
                last_refresh_error: Some("offline".into()),
                sign_in_again: None,
                login_in_progress: true,
                unsaved: None,
            }),
            instructions: None,
            sessions: Some(SessionsSummary {
                active: 1,
                stored: 3,
            }),
            limits: Some(RateLimits {
                primary: Some(UsageWindow {
                    used_percent: 12.4,
                    window_minutes: Some(300),
                    resets_at: None,
                }),
                secondary: None,
                credits: Some(Credits {
                    has_credits: true,
                    unlimited: false,
                    balance: None,
                }),
                captured_at: 0,
            }),
            request_logging: Some("/tmp/logs".into()),
            endpoints: vec![EndpointOverride {
                name: "auth.issuer".into(),
                url: "http://127.0.0.1:1".into(),
            }],
        }
    }

    #[test]
    fn every_section_renders_in_order() {
        let text = text(&status());
        let expected = "\
codexd 1.2.3 (pid 42), up 1 min
  socket:  /run/codexd.sock (socket-activated)
  config:  /etc/codexd.toml
  memory:  12.0 MB
  endpoint auth.issuer = http://127.0.0.1:1
  actors:  auth running, log running (2 restarts)
sign-in: a@example.com (plus plan) — account acc-1
  credentials: keyring
  note: why not
  last refresh failed: offline
  a sign-in is in progress
sessions: 3 stored, 1 active
usage 5-hour: 12% used
credits: yes
WARNING: request logging is ON — prompts and answers are written to /tmp/logs (turn off: codexctl logs --requests off)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn signed_out_daemon_says_how_to_sign_in_and_skips_missing_sections() {
        let mut s = status();
        s.auth.as_mut().unwrap().account = None;
        s.limits = None;
        s.request_logging = None;
        let text = text(&s);
        assert!(text.contains("sign-in: not signed in (run `codexctl login`)\n"));
        assert!(!text.contains("usage "));
        assert!(!text.contains("WARNING"));
    }
}
