//! `codexctl shell-init SHELL` (prints the integration script: widgets + key bindings) and the
//! hidden `suggest` the widgets call: one request to the warm daemon, the suggestion (or the
//! explanation) alone on stdout, a progress mark on `/dev/tty`, a bounded wait, Ctrl-C honoured.
//!
//! Contract with the scripts: exit 0 → stdout is the text to use; non-zero → stdout+stderr
//! (the widgets capture both) hold one short message to show, and the line stays untouched.

mod keys;
mod tty;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use codexd_proto::conversation::{AskMode, AskRequest, SessionSelector, ShellContext};
use codexd_proto::{ErrorCode, Reply, Request, WireError};

use super::Ctx;
use crate::cli::{ShellInitArgs, SuggestArgs};
use crate::exit;

pub use keys::{DEFAULT_EXPLAIN, DEFAULT_SUGGEST};

const BASH: &str = include_str!("../shell/codexd.bash");
const ZSH: &str = include_str!("../shell/codexd.zsh");
const FISH: &str = include_str!("../shell/codexd.fish");

/// Environment variable naming the suggest key (same as `--key`).
pub const KEY_ENV: &str = "CODEXD_SHELL_KEY";
/// Environment variable naming the explain key (same as `--explain-key`).
pub const EXPLAIN_KEY_ENV: &str = "CODEXD_SHELL_EXPLAIN_KEY";
/// Seconds `suggest` waits for the model before giving the prompt back.
pub const TIMEOUT_ENV: &str = "CODEXD_SUGGEST_TIMEOUT";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The shells we generate scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    fn parse(name: &str) -> anyhow::Result<Shell> {
        // Accept a path too ("$SHELL" is often /bin/zsh).
        let base = name.rsplit('/').next().unwrap_or(name);
        match base {
            "bash" => Ok(Shell::Bash),
            "zsh" => Ok(Shell::Zsh),
            "fish" => Ok(Shell::Fish),
            other => Err(anyhow::anyhow!(
                "no shell integration for {other:?}; supported shells are bash, zsh and fish"
            )),
        }
    }
}

/// Run `shell-init`.
pub fn init(args: ShellInitArgs) -> anyhow::Result<u8> {
    let shell = Shell::parse(&args.shell)?;
    let ctl = std::env::current_exe()
        .context("cannot find the path of codexctl itself")?
        .to_string_lossy()
        .into_owned();
    let suggest = pick_key(args.key, KEY_ENV, DEFAULT_SUGGEST)?;
    let explain = pick_key(args.explain_key, EXPLAIN_KEY_ENV, DEFAULT_EXPLAIN)?;
    if suggest == explain {
        anyhow::bail!(
            "the suggest and explain keys are both {suggest}; give --explain-key another key"
        );
    }
    let keys = (!args.no_bind).then_some((&suggest, &explain));
    print!("{}", script(shell, &ctl, keys));
    Ok(exit::OK)
}

fn pick_key(flag: Option<String>, env: &str, default: &str) -> anyhow::Result<keys::Key> {
    let spec = flag
        .or_else(|| std::env::var(env).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| default.to_string());
    keys::Key::parse(&spec).map_err(Into::into)
}

/// The whole script for `shell`: the template with the codexctl path filled in, then the
/// bindings (unless `--no-bind`).
fn script(shell: Shell, ctl: &str, keys: Option<(&keys::Key, &keys::Key)>) -> String {
    let (template, quoted) = match shell {
        Shell::Bash => (BASH, sh_quote(ctl)),
        Shell::Zsh => (ZSH, sh_quote(ctl)),
        Shell::Fish => (FISH, fish_quote(ctl)),
    };
    let mut out = template.replace("@CODEXCTL@", &quoted);
    if let Some((s, e)) = keys {
        out.push('\n');
        out.push_str(&match shell {
            Shell::Bash => format!(
                "# Keys: suggest {s}, explain {e} (emacs and vi-insert keymaps).\n\
                 bind -m emacs -x '\"{sb}\": _codexd_suggest'\n\
                 bind -m vi-insert -x '\"{sb}\": _codexd_suggest'\n\
                 bind -m emacs -x '\"{eb}\": _codexd_explain'\n\
                 bind -m vi-insert -x '\"{eb}\": _codexd_explain'\n",
                sb = s.bash().replace('\'', "'\\''"),
                eb = e.bash().replace('\'', "'\\''"),
            ),
            Shell::Zsh => format!(
                "# Keys: suggest {s}, explain {e} (emacs and vi-insert keymaps).\n\
                 bindkey -M emacs '{sz}' _codexd_suggest\n\
                 bindkey -M viins '{sz}' _codexd_suggest\n\
                 bindkey -M emacs '{ez}' _codexd_explain\n\
                 bindkey -M viins '{ez}' _codexd_explain\n",
                sz = s.zsh(),
                ez = e.zsh(),
            ),
            Shell::Fish => format!(
                "# Keys: suggest {s}, explain {e} (default and vi insert modes; re-bound when the\n\
                 # key binding set changes, since fish_vi_key_bindings erases user bindings).\n\
                 function __codexd_bind_keys --on-variable fish_key_bindings\n\
                 \x20   bind {sf} codexd_suggest\n\
                 \x20   bind -M insert {sf} codexd_suggest\n\
                 \x20   bind {ef} codexd_explain\n\
                 \x20   bind -M insert {ef} codexd_explain\n\
                 end\n\
                 __codexd_bind_keys\n",
                sf = s.fish(),
                ef = e.fish(),
            ),
        });
    }
    out
}

/// Single-quote for bash/zsh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Single-quote for fish (only `\` and `'` are special inside).
fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Run `suggest`.
pub fn suggest(args: SuggestArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    Shell::parse(&args.shell)?;
    let line = match args.line {
        Some(l) => l,
        None => std::io::read_to_string(std::io::stdin()).context("cannot read the line")?,
    };
    if line.trim().is_empty() {
        eprintln!("codexd: type a request first, then press the key");
        return Ok(exit::BAD_INPUT);
    }
    let context = ShellContext {
        shell: args
            .shell
            .rsplit('/')
            .next()
            .unwrap_or(&args.shell)
            .to_string(),
        os: os_description(),
        cwd: std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        last_status: args.last_status,
    };
    let mode = if args.explain {
        AskMode::ExplainCommand(context)
    } else {
        AskMode::SuggestCommand(context)
    };
    let request = Request::Ask(AskRequest {
        prompt: line,
        context: None,
        session: SessionSelector::Ephemeral,
        model: None,
        effort: None,
        verbosity: None,
        reasoning_summaries: false,
        developer_instructions: None,
        mode,
    });
    let timeout = std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64);

    let outcome = wait_for_answer(ctx, request, timeout);
    match outcome {
        Waited::Answer(text) => {
            let text = if args.explain {
                text.trim().to_string()
            } else {
                clean_command(&text)
            };
            if text.is_empty() {
                eprintln!("codexd: the model gave no {}; try rewording the line", {
                    if args.explain {
                        "explanation"
                    } else {
                        "command"
                    }
                });
                return Ok(exit::BACKEND);
            }
            print!("{text}");
            Ok(exit::OK)
        }
        Waited::Failed(err) => {
            eprintln!("codexd: {}", short_message(&err));
            Ok(exit::for_error(&err))
        }
        Waited::Interrupted => {
            eprintln!("codexd: cancelled");
            Ok(exit::CANCELLED)
        }
        Waited::TimedOut => {
            eprintln!(
                "codexd: no answer within {} s; try again, or raise {TIMEOUT_ENV}",
                timeout.as_secs_f64().round()
            );
            Ok(exit::BACKEND)
        }
    }
}

enum Waited {
    Answer(String),
    Failed(anyhow::Error),
    Interrupted,
    TimedOut,
}

/// Send the request on a worker thread and wait for the answer, Ctrl-C, a signal or the
/// deadline, drawing the progress mark meanwhile. Leaving early simply exits: the daemon sees
/// the connection close and cancels the turn.
fn wait_for_answer(ctx: &Ctx, request: Request, timeout: Duration) -> Waited {
    enum Msg {
        Done(Box<anyhow::Result<Reply>>),
        Interrupt,
    }
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut tty = tty::Tty::open();
    if let Some(t) = &tty {
        let (itx, irx) = mpsc::channel::<()>();
        t.watch_interrupt(itx);
        let tx = tx.clone();
        std::thread::spawn(move || {
            if irx.recv().is_ok() {
                let _ = tx.send(Msg::Interrupt);
            }
        });
    }
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        let tx = tx.clone();
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let _ = tx.send(Msg::Interrupt);
            }
        });
    }
    let connect = ctx.connect();
    std::thread::spawn(move || {
        let result = connect.and_then(|mut client| client.call(request, &mut |_| Ok(())));
        let _ = tx.send(Msg::Done(Box::new(result)));
    });

    let deadline = Instant::now() + timeout;
    // Draw the mark only when the answer is not instant, so fast answers do not flicker.
    let mut next_tick = Instant::now() + Duration::from_millis(150);
    let result = loop {
        let now = Instant::now();
        if now >= deadline {
            break Waited::TimedOut;
        }
        match rx
            .recv_timeout(next_tick.min(deadline).saturating_duration_since(now))
            .map(|m| match m {
                Msg::Done(b) => Ok(*b),
                Msg::Interrupt => Err(()),
            }) {
            Ok(Ok(Ok(Reply::Answer(outcome)))) => break Waited::Answer(outcome.text),
            Ok(Ok(Ok(other))) => break Waited::Failed(crate::client::unexpected(other)),
            Ok(Ok(Err(e))) => {
                let cancelled = e
                    .downcast_ref::<WireError>()
                    .is_some_and(|w| w.code == ErrorCode::Cancelled);
                break if cancelled {
                    Waited::Interrupted
                } else {
                    Waited::Failed(e)
                };
            }
            Ok(Err(())) => break Waited::Interrupted,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(t) = tty.as_mut() {
                    t.tick();
                }
                next_tick = Instant::now() + Duration::from_millis(100);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Waited::Failed(anyhow::anyhow!("the request thread stopped unexpectedly"));
            }
        }
    };
    if let Some(t) = tty.as_mut() {
        t.restore();
    }
    result
}

/// The daemon's message (which says what to do next), on one line.
fn short_message(err: &anyhow::Error) -> String {
    let wire = err.downcast_ref::<WireError>();
    let text = wire.map_or_else(|| format!("{err:#}"), |w| w.message.clone());
    let mut one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let sign_in =
        wire.is_some_and(|w| matches!(w.code, ErrorCode::NotSignedIn | ErrorCode::SignInAgain));
    if sign_in && !one_line.contains("codexctl login") {
        one_line.push_str(" (run `codexctl login`)");
    }
    one_line
}

/// Make a model answer usable as a command line: drop Markdown fences and a leading prompt
/// sign, trim blank lines around it.
fn clean_command(text: &str) -> String {
    let mut t = text.trim();
    if let Some(rest) = t.strip_prefix("```") {
        // Skip the info string ("bash", "sh", …) on the fence line.
        let body = rest.split_once('\n').map_or("", |(_, b)| b);
        t = body.trim_end().strip_suffix("```").unwrap_or(body).trim();
    }
    if t.len() > 2
        && !t.contains('\n')
        && let Some(rest) = t.strip_prefix('`').and_then(|r| r.strip_suffix('`'))
    {
        t = rest.trim();
    }
    if let Some(rest) = t.strip_prefix("$ ") {
        t = rest.trim_start();
    }
    t.to_string()
}

/// "Linux (Debian GNU/Linux 12 (bookworm))", "macOS 14.5", or the bare OS name.
fn os_description() -> String {
    match std::env::consts::OS {
        "linux" => std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .map_or_else(|| "Linux".to_string(), |d| format!("Linux ({d})")),
        "macos" => std::process::Command::new("sw_vers")
            .arg("-productVersion")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| format!("macOS {}", String::from_utf8_lossy(&o.stdout).trim()))
            .unwrap_or_else(|| "macOS".to_string()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_model_answers() {
        assert_eq!(clean_command("ls -la\n"), "ls -la");
        assert_eq!(clean_command("```bash\nls -la\n```"), "ls -la");
        assert_eq!(clean_command("`ls -la`"), "ls -la");
        assert_eq!(clean_command("$ ls -la"), "ls -la");
        assert_eq!(
            clean_command("for f in *; do\n  echo \"$f\"\ndone"),
            "for f in *; do\n  echo \"$f\"\ndone"
        );
    }

    #[test]
    fn scripts_fill_in_the_path_and_keys() {
        let s = keys::Key::parse(DEFAULT_SUGGEST).expect("key");
        let e = keys::Key::parse(DEFAULT_EXPLAIN).expect("key");
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let bound = script(shell, "/opt/it's here/codexctl", Some((&s, &e)));
            assert!(!bound.contains("@CODEXCTL@"));
            assert!(bound.contains("it"), "{bound}");
            let unbound = script(shell, "/x/codexctl", None);
            assert!(
                !unbound.contains("bind -") && !unbound.contains("bindkey "),
                "{shell:?}: {unbound}"
            );
        }
        let bash = script(Shell::Bash, "/x/codexctl", Some((&s, &e)));
        assert!(bash.contains(r#"bind -m vi-insert -x '"\ei": _codexd_suggest'"#));
        let zsh = script(Shell::Zsh, "/x/codexctl", Some((&s, &e)));
        assert!(zsh.contains("bindkey -M viins '^[k' _codexd_explain"));
        let fish = script(Shell::Fish, "/x/codexctl", Some((&s, &e)));
        assert!(fish.contains("bind -M insert \\ei codexd_suggest"));
    }

    #[test]
    fn shell_names() {
        assert_eq!(Shell::parse("/bin/zsh").ok(), Some(Shell::Zsh));
        assert!(Shell::parse("tcsh").is_err());
    }
}
