//! `codexctl shell-init SHELL` (prints the integration script: widgets + key bindings) and the
//! hidden `suggest` the widgets call: one request to the warm daemon, the suggestion (or the
//! explanation) alone on stdout, a progress mark on `/dev/tty`, a bounded wait, Ctrl-C honoured.
//!
//! Contract with the scripts: exit 0 → stdout is the text to use; non-zero → stdout+stderr
//! (the widgets capture both) hold one short message to show, and the line stays untouched.
//! With `--typeahead`, what the user typed while waiting comes first, framed by two RS
//! (U+001E) characters, and the widget appends it to the line it ends up with.

mod keys;
mod tty;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use codexd_proto::conversation::{AskMode, AskRequest, SessionSelector, ShellContext};
use codexd_proto::{ErrorCode, Reply, Request, WireError, text};

use super::Ctx;
use crate::exit;
use crate::values::{ShellName, ShellName as Shell, ShellParser};
use clap::Args;

/// Extra `shell-init --help` text: how to load it, and why these default keys.
pub const SHELL_INIT_HELP: &str = "\
Load it from your shell's rc file (nothing is appended to any file for you):
  bash  ~/.bashrc                   eval \"$(codexctl shell-init bash)\"
  zsh   ~/.zshrc                    eval \"$(codexctl shell-init zsh)\"
  fish  ~/.config/fish/config.fish  codexctl shell-init fish | source

Type what you want at the prompt and press Alt-i: the line becomes one suggested command,
cursor at the end, never run. Press Alt-i again (or undo in zsh/fish) for your request back.
Alt-k prints an explanation below the line and leaves the line alone. Keys typed while
waiting are kept and land after the suggestion. On an error, a timeout
(CODEXD_SUGGEST_TIMEOUT, default 60 s) or Ctrl-C the line is restored. Control characters and
escape sequences are stripped from suggestions and explanations: they are shown inert.

Why Alt-i and Alt-k: both are unbound in the default emacs and vi-insert keymaps of bash,
zsh and fish and are not taken by fzf, atuin or oh-my-zsh. Alt-g is taken (bash
glob-complete-word, zsh get-line), Alt-e too (fish: edit in $EDITOR); Ctrl-L, Ctrl-R,
Up and Tab are never used. On macOS, let the terminal send Option as Meta (Terminal:
Profiles > Keyboard > Use Option as Meta key; iTerm2: Left Option key = Esc+).

In vi-insert keymaps Escape is a key of its own, and Alt-i is Escape then i: Esc then i typed
quickly would ask the model. So vi-insert gets keys that do not start with Escape: Ctrl-G
(suggest) and Ctrl-K (explain), or --vi-key / --vi-explain-key (CODEXD_SHELL_VI_KEY,
CODEXD_SHELL_VI_EXPLAIN_KEY); a --key that is not an Alt key is used there too.

Keys are written like alt-i, ctrl-x ctrl-g or M-i. Refused: keys the shell or terminal needs
(Enter, Tab, Ctrl-C/D/L/R/Z, flow control Ctrl-S/Ctrl-Q, Ctrl-\\, Ctrl-@, Escape) and Alt-[ /
Alt-O, which start arrow and function keys. --no-bind defines the widgets only
(bash/zsh: _codexd_suggest, _codexd_explain; fish: codexd_suggest, codexd_explain), for
example: bindkey '^[s' _codexd_suggest";

/// `shell-init`
#[derive(Args, Debug)]
pub struct ShellInitArgs {
    /// bash, zsh or fish (a path such as $SHELL works too).
    #[arg(value_parser = ShellParser)]
    pub shell: ShellName,
    /// Key for "suggest" (default Alt-i; also CODEXD_SHELL_KEY).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Key for "explain" (default Alt-k; also CODEXD_SHELL_EXPLAIN_KEY).
    #[arg(long, value_name = "KEY")]
    pub explain_key: Option<String>,
    /// Key for "suggest" in vi-insert mode, never an Alt key (default Ctrl-G; also
    /// CODEXD_SHELL_VI_KEY).
    #[arg(long, value_name = "KEY")]
    pub vi_key: Option<String>,
    /// Key for "explain" in vi-insert mode, never an Alt key (default Ctrl-K; also
    /// CODEXD_SHELL_VI_EXPLAIN_KEY).
    #[arg(long, value_name = "KEY")]
    pub vi_explain_key: Option<String>,
    /// Define the widgets only; bind no keys.
    #[arg(long)]
    pub no_bind: bool,
}

/// `suggest` (hidden; the shell widgets call it)
#[derive(Args, Debug)]
pub struct SuggestArgs {
    /// bash, zsh or fish.
    #[arg(long, value_parser = ShellParser)]
    pub shell: ShellName,
    /// Explain instead of suggest.
    #[arg(long)]
    pub explain: bool,
    /// Exit status of the previous command.
    #[arg(long)]
    pub last_status: Option<i32>,
    /// Print what was typed while waiting first, framed by two RS characters.
    #[arg(long)]
    pub typeahead: bool,
    /// Text to draw on the cursor's row while waiting (bash clears the row for a widget).
    #[arg(long, value_name = "TEXT")]
    pub redraw: Option<String>,
    /// The command line (else stdin).
    pub line: Option<String>,
}

pub use keys::{DEFAULT_EXPLAIN, DEFAULT_SUGGEST};

const BASH: &str = include_str!("../shell/codexd.bash");
const ZSH: &str = include_str!("../shell/codexd.zsh");
const FISH: &str = include_str!("../shell/codexd.fish");

/// Environment variable naming the suggest key (same as `--key`).
pub const KEY_ENV: &str = "CODEXD_SHELL_KEY";
/// Environment variable naming the explain key (same as `--explain-key`).
pub const EXPLAIN_KEY_ENV: &str = "CODEXD_SHELL_EXPLAIN_KEY";
/// Environment variable naming the vi-insert suggest key (same as `--vi-key`).
pub const VI_KEY_ENV: &str = "CODEXD_SHELL_VI_KEY";
/// Environment variable naming the vi-insert explain key (same as `--vi-explain-key`).
pub const VI_EXPLAIN_KEY_ENV: &str = "CODEXD_SHELL_VI_EXPLAIN_KEY";
/// Seconds `suggest` waits for the model before giving the prompt back.
pub const TIMEOUT_ENV: &str = "CODEXD_SUGGEST_TIMEOUT";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Frames the type-ahead at the start of `suggest --typeahead` output (ASCII RS).
const TYPEAHEAD_MARK: char = '\u{1e}';

/// The keys one script binds: emacs-style keymaps (bash/zsh emacs, fish default) and
/// vi-insert keymaps, where no key may start with Escape.
struct Bindings {
    suggest: keys::Key,
    explain: keys::Key,
    vi_suggest: keys::Key,
    vi_explain: keys::Key,
}

/// Run `shell-init`.
pub fn init(args: ShellInitArgs) -> anyhow::Result<u8> {
    let shell = args.shell;
    let ctl = std::env::current_exe()
        .context("cannot find the path of codexctl itself")?
        .to_string_lossy()
        .into_owned();
    let bindings = pick_bindings(&args)?;
    print!(
        "{}",
        script(shell, &ctl, (!args.no_bind).then_some(&bindings))
    );
    Ok(exit::OK)
}

fn pick_bindings(args: &ShellInitArgs) -> anyhow::Result<Bindings> {
    let spec = |flag: &Option<String>, env: &str| {
        flag.clone()
            .or_else(|| std::env::var(env).ok().filter(|v| !v.trim().is_empty()))
    };
    let emacs = |flag, env, default: &str| -> anyhow::Result<(keys::Key, bool)> {
        let given = spec(flag, env);
        let key = keys::Key::parse(given.as_deref().unwrap_or(default))?;
        Ok((key, given.is_some()))
    };
    // A vi key: its own flag or variable; else the emacs key the user chose, when it does not
    // start with Escape; else the vi default.
    let vi = |flag, env, chosen: &(keys::Key, bool), default: &str| -> anyhow::Result<keys::Key> {
        match spec(flag, env) {
            Some(s) => Ok(keys::Key::parse(&s)?.for_vi(&s)?),
            None if chosen.1 && !chosen.0.escape_prefixed() => Ok(chosen.0.clone()),
            None => Ok(keys::Key::parse(default)?),
        }
    };
    let suggest = emacs(&args.key, KEY_ENV, DEFAULT_SUGGEST)?;
    let explain = emacs(&args.explain_key, EXPLAIN_KEY_ENV, DEFAULT_EXPLAIN)?;
    let vi_suggest = vi(&args.vi_key, VI_KEY_ENV, &suggest, keys::DEFAULT_VI_SUGGEST)?;
    let vi_explain = vi(
        &args.vi_explain_key,
        VI_EXPLAIN_KEY_ENV,
        &explain,
        keys::DEFAULT_VI_EXPLAIN,
    )?;
    if suggest.0 == explain.0 {
        anyhow::bail!(
            "the suggest and explain keys are both {}; give --explain-key another key",
            suggest.0
        );
    }
    if vi_suggest == vi_explain {
        anyhow::bail!(
            "the vi-insert suggest and explain keys are both {vi_suggest}; give --vi-explain-key another key"
        );
    }
    Ok(Bindings {
        suggest: suggest.0,
        explain: explain.0,
        vi_suggest,
        vi_explain,
    })
}

/// The whole script for `shell`: the template with the codexctl path filled in, then the
/// bindings (unless `--no-bind`).
fn script(shell: Shell, ctl: &str, keys: Option<&Bindings>) -> String {
    let (template, quoted) = match shell {
        Shell::Bash => (BASH, sh_quote(ctl)),
        Shell::Zsh => (ZSH, sh_quote(ctl)),
        Shell::Fish => (FISH, fish_quote(ctl)),
    };
    let mut out = template.replace("@CODEXCTL@", &quoted);
    if let Some(b) = keys {
        let (s, e, vs, ve) = (&b.suggest, &b.explain, &b.vi_suggest, &b.vi_explain);
        out.push('\n');
        out.push_str(&match shell {
            Shell::Bash => format!(
                "# Keys: suggest {s}, explain {e} (emacs keymap); {vs}, {ve} (vi-insert keymap).\n\
                 bind -m emacs -x '\"{sb}\": _codexd_suggest'\n\
                 bind -m vi-insert -x '\"{vsb}\": _codexd_suggest'\n\
                 bind -m emacs -x '\"{eb}\": _codexd_explain'\n\
                 bind -m vi-insert -x '\"{veb}\": _codexd_explain'\n",
                sb = bash_keyseq(s),
                eb = bash_keyseq(e),
                vsb = bash_keyseq(vs),
                veb = bash_keyseq(ve),
            ),
            Shell::Zsh => format!(
                "# Keys: suggest {s}, explain {e} (emacs keymap); {vs}, {ve} (viins keymap).\n\
                 bindkey -M emacs '{sz}' _codexd_suggest\n\
                 bindkey -M viins '{vsz}' _codexd_suggest\n\
                 bindkey -M emacs '{ez}' _codexd_explain\n\
                 bindkey -M viins '{vez}' _codexd_explain\n",
                sz = s.zsh(),
                ez = e.zsh(),
                vsz = vs.zsh(),
                vez = ve.zsh(),
            ),
            Shell::Fish => format!(
                "# Keys: suggest {s}, explain {e} (default mode); {vs}, {ve} (vi insert mode).\n\
                 # Re-bound when the key binding set changes: fish_vi_key_bindings erases user\n\
                 # bindings. Any set other than the default one has a vi insert mode.\n\
                 function __codexd_bind_keys --on-variable fish_key_bindings\n\
                 \x20   if test \"$fish_key_bindings\" = fish_default_key_bindings\n\
                 \x20       bind {sf} codexd_suggest\n\
                 \x20       bind {ef} codexd_explain\n\
                 \x20   else\n\
                 \x20       bind -M insert {vsf} codexd_suggest\n\
                 \x20       bind -M insert {vef} codexd_explain\n\
                 \x20   end\n\
                 end\n\
                 __codexd_bind_keys\n",
                sf = s.fish(),
                ef = e.fish(),
                vsf = vs.fish(),
                vef = ve.fish(),
            ),
        });
    }
    out
}

/// A key in bash `bind` notation, for a single-quoted `bind -x` argument.
fn bash_keyseq(k: &keys::Key) -> String {
    k.bash().replace('\'', "'\\''")
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
    let line = match args.line {
        Some(l) => l,
        None => std::io::read_to_string(std::io::stdin()).context("cannot read the line")?,
    };
    if line.trim().is_empty() {
        eprintln!("codexd: type a request first, then press the key");
        return Ok(exit::BAD_INPUT);
    }
    let context = ShellContext {
        shell: args.shell.name().to_string(),
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
    let request = Request::Ask(AskRequest::new(line, SessionSelector::Ephemeral, mode));
    let timeout = std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64);

    let (outcome, typed) = wait_for_answer(ctx, request, timeout, args.redraw.as_deref());
    if args.typeahead && !typed.is_empty() {
        // Before anything else on stdout: the widget splits it off and puts it back on the
        // line. RS cannot occur in either part (controls are stripped from both).
        print!("{TYPEAHEAD_MARK}{typed}{TYPEAHEAD_MARK}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    match outcome {
        Waited::Answer(text) => {
            // The text goes to a terminal: the one shared rule strips what could drive it.
            let text = if args.explain {
                text::strip_controls(&text).trim().to_string()
            } else {
                text::clean_suggestion(&text)
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
/// deadline, drawing the progress mark meanwhile; also returns what was typed meanwhile.
/// Leaving early simply exits: the daemon sees the connection close and cancels the turn.
fn wait_for_answer(
    ctx: &Ctx,
    request: Request,
    timeout: Duration,
    redraw: Option<&str>,
) -> (Waited, String) {
    enum Msg {
        Done(Box<anyhow::Result<Reply>>),
        Interrupt,
    }
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut tty = tty::Tty::open(redraw);
    if let Some(t) = tty.as_mut() {
        let (itx, irx) = mpsc::channel::<()>();
        t.watch_keys(itx);
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
    let typed = tty.as_mut().map(tty::Tty::typeahead).unwrap_or_default();
    if let Some(t) = tty.as_mut() {
        t.restore();
    }
    (result, typed)
}

/// The daemon's message (which says what to do next), on one line, stripped of controls (it
/// can quote the backend, and it is printed on the terminal).
fn short_message(err: &anyhow::Error) -> String {
    let wire = err.downcast_ref::<WireError>();
    let text = wire.map_or_else(|| format!("{err:#}"), |w| w.message.clone());
    let text = text::strip_controls(&text);
    let mut one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let sign_in =
        wire.is_some_and(|w| matches!(w.code, ErrorCode::NotSignedIn | ErrorCode::SignInAgain));
    if sign_in && !one_line.contains("codexctl login") {
        one_line.push_str(" (run `codexctl login`)");
    }
    one_line
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

    fn key(k: &str) -> keys::Key {
        keys::Key::parse(k).expect(k)
    }

    fn defaults() -> Bindings {
        Bindings {
            suggest: key(DEFAULT_SUGGEST),
            explain: key(DEFAULT_EXPLAIN),
            vi_suggest: key(keys::DEFAULT_VI_SUGGEST),
            vi_explain: key(keys::DEFAULT_VI_EXPLAIN),
        }
    }

    #[test]
    fn scripts_fill_in_the_path_and_keys() {
        let b = defaults();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let bound = script(shell, "/opt/it's here/codexctl", Some(&b));
            assert!(!bound.contains("@CODEXCTL@"));
            assert!(bound.contains("it"), "{bound}");
            let unbound = script(shell, "/x/codexctl", None);
            assert!(
                !unbound.contains("bind -") && !unbound.contains("bindkey "),
                "{shell:?}: {unbound}"
            );
        }
        let bash = script(Shell::Bash, "/x/codexctl", Some(&b));
        assert!(bash.contains(r#"bind -m emacs -x '"\ei": _codexd_suggest'"#));
        assert!(bash.contains(r#"bind -m vi-insert -x '"\C-g": _codexd_suggest'"#));
        assert!(!bash.contains(r#"bind -m vi-insert -x '"\e"#), "{bash}");
        let zsh = script(Shell::Zsh, "/x/codexctl", Some(&b));
        assert!(zsh.contains("bindkey -M emacs '^[k' _codexd_explain"));
        assert!(zsh.contains("bindkey -M viins '^K' _codexd_explain"));
        let fish = script(Shell::Fish, "/x/codexctl", Some(&b));
        assert!(fish.contains("bind -M insert \\cg codexd_suggest"));
        assert!(fish.contains("bind \\ei codexd_suggest"));
        assert!(!fish.contains("-M insert \\e"), "{fish}");
    }

    /// Every key spelling `Key::parse` accepts.
    fn every_accepted_key() -> Vec<keys::Key> {
        let mut specs = Vec::new();
        for c in '!'..='~' {
            for form in [
                format!("alt-{c}"),
                format!("ctrl-{c}"),
                format!("alt-ctrl-{c}"),
                format!("ctrl-x ctrl-{c}"),
                format!("ctrl-x alt-{c}"),
                format!("ctrl-] ctrl-{c}"),
                format!("\\e{c}"),
            ] {
                specs.push(form);
            }
        }
        specs
            .iter()
            .filter_map(|s| keys::Key::parse(s).ok())
            .collect()
    }

    /// Run `program args… file` on `text`; its failure output, if any.
    fn shell_check(program: &str, args: &[&str], text: &str) -> Option<String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("script");
        std::fs::write(&file, text).expect("write");
        let out = match std::process::Command::new(program)
            .args(args)
            .arg(&file)
            .output()
        {
            Ok(o) => o,
            Err(_) => {
                eprintln!("skipped {program}: not installed");
                return None;
            }
        };
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (!out.status.success() || !err.trim().is_empty())
            .then(|| format!("{program} {args:?}: {:?}\n{err}", out.status))
    }

    /// The script of every shell parses (and, for zsh and fish, runs its `bindkey`/`bind`
    /// lines without a complaint) for every accepted key, in both keymaps.
    #[test]
    fn every_accepted_key_yields_a_script_that_parses() {
        let all = every_accepted_key();
        assert!(all.len() > 300, "{}", all.len());
        let other = key("ctrl-x ctrl-g");
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut text = script(shell, "/x/codexctl", None);
            for k in &all {
                let vi = if k.escape_prefixed() {
                    other.clone()
                } else {
                    k.clone()
                };
                let b = Bindings {
                    suggest: k.clone(),
                    explain: other.clone(),
                    vi_suggest: vi,
                    vi_explain: other.clone(),
                };
                let full = script(shell, "/x/codexctl", Some(&b));
                text.push_str(&full[script(shell, "/x/codexctl", None).len()..]);
            }
            let checks: &[(&str, &[&str])] = match shell {
                Shell::Bash => &[("bash", &["-n"])],
                Shell::Zsh => &[("zsh", &["-n"]), ("zsh", &["-f"])],
                Shell::Fish => &[("fish", &["--no-execute"]), ("fish", &["--no-config"])],
            };
            for (program, args) in checks {
                if let Some(failure) = shell_check(program, args, &text) {
                    panic!("{failure}");
                }
            }
        }
    }
}
