//! End-to-end tests of the shell integration: real bash, zsh and fish run in tmux with the
//! script from `codexctl shell-init`, a request is typed, the key pressed, and the screen read
//! back with `capture-pane`, against a real daemon and the fake backend. Skipped (with a
//! printed reason) when tmux or the shell is not installed; `.ci/run` installs them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codexd_tests::fakes::FakeStack;
use codexd_tests::fakes::backend::BackendFault;
use codexd_tests::harness::{self, Env, signed_in_with};
use codexd_tests::tmux::Tmux;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sh {
    Bash,
    Zsh,
    Fish,
}

impl Sh {
    fn name(self) -> &'static str {
        match self {
            Sh::Bash => "bash",
            Sh::Zsh => "zsh",
            Sh::Fish => "fish",
        }
    }
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("-c")
        .arg("exit 0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn available(sh: Sh) -> bool {
    let tmux = Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if !tmux || !have(sh.name()) {
        eprintln!("skipped: tmux or {} is not installed", sh.name());
        return false;
    }
    true
}

/// A shell running in its own tmux server.
struct Term {
    pane: Tmux,
}

impl Term {
    /// Start `sh` with an rc that loads `shell-init` (plus `init_args` and `extra` rc lines).
    fn start(env: &Env, sh: Sh, init_args: &str, extra: &str) -> Term {
        let dir = env.root.path().join(format!("shell-{}", sh.name()));
        std::fs::create_dir_all(&dir).unwrap();
        let ctl = harness::bin("codexctl");
        let ctl = ctl.display();
        let command = match sh {
            Sh::Bash => {
                let rc = dir.join("bashrc");
                std::fs::write(
                    &rc,
                    format!(
                        "PS1='$ '\nunset PROMPT_COMMAND\n{extra}\neval \"$('{ctl}' shell-init bash {init_args})\"\n"
                    ),
                )
                .unwrap();
                format!("bash --noprofile --rcfile '{}' -i", rc.display())
            }
            Sh::Zsh => {
                std::fs::write(
                    dir.join(".zshrc"),
                    format!(
                        "PS1='$ '\nunset RPS1\n{extra}\neval \"$('{ctl}' shell-init zsh {init_args})\"\n"
                    ),
                )
                .unwrap();
                format!("env ZDOTDIR='{}' zsh -d -i", dir.display())
            }
            Sh::Fish => {
                let rc = dir.join("config.fish");
                std::fs::write(
                    &rc,
                    format!(
                        "function fish_prompt; echo -n '$ '; end\nfunction fish_greeting; end\nfunction fish_mode_prompt; end\n{extra}\n'{ctl}' shell-init fish {init_args} | source\n"
                    ),
                )
                .unwrap();
                format!("fish --no-config -i -C 'source {}'", rc.display())
            }
        };
        let term = Term {
            pane: Tmux::start(env, &command),
        };
        term.wait_for("the first prompt", |s| {
            s.lines().any(|l| l.starts_with('$'))
        });
        term
    }

    fn type_text(&self, text: &str) {
        self.pane.type_text(text);
    }

    fn keys(&self, keys: &[&str]) {
        self.pane.keys(keys);
    }

    #[track_caller]
    fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.pane.wait_for(what, cond)
    }

    /// Wait until the last non-empty line (the prompt line with the buffer, for one-line
    /// buffers) is `expected` and `also` holds for the screen: shells print a message first and
    /// repaint the prompt after it, so the two are read from one screen, never one after the
    /// other.
    #[track_caller]
    fn wait_for_prompt(&self, expected: &str, what: &str, also: impl Fn(&str) -> bool) -> String {
        self.wait_for(&format!("{what}, then the prompt line {expected:?}"), |s| {
            last_line(s) == expected && also(s)
        })
    }
}

/// The last non-empty line of a screen.
fn last_line(screen: &str) -> String {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// The progress mark's frames.
const MARKS: [char; 4] = ['◐', '◓', '◑', '◒'];

/// How long a person takes between two keys: at this pace Escape and a letter are two keys,
/// not an Alt chord (bash waits 500 ms, zsh 400 ms for more of a sequence).
const HUMAN_PACE: Duration = Duration::from_millis(150);

/// A daemon signed in at the fakes, the backend answering every suggestion with `command`.
fn signed_in_suggesting(command: &str) -> (FakeStack, Env) {
    signed_in_with(|_, stack| stack.backend.set_suggest_command(Some(command)))
}

fn marker(env: &Env) -> PathBuf {
    env.root.path().join("marker")
}

/// Type a request, press Alt-i: the line becomes the suggestion, which is not run; a second
/// press brings the request back.
fn suggestion_replaces_the_line(sh: Sh) {
    if !available(sh) {
        return;
    }
    let (stack, env) = signed_in_suggesting("unused");
    let cmd = format!("touch {}", marker(&env).display());
    stack.backend.set_suggest_command(Some(&cmd));
    let t = Term::start(&env, sh, "", "");
    t.type_text("create the marker file");
    t.keys(&["M-i"]);
    t.wait_for_prompt(&format!("$ {cmd}"), "the suggestion", |_| true);
    // Not run: give a wrongly executed command time to show.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!marker(&env).exists(), "the suggestion was executed");
    // The model saw the request and the shell context.
    let req = stack
        .backend
        .last_request()
        .expect("a request reached the backend");
    let text = req.body.to_string();
    assert!(text.contains("create the marker file"), "{text}");
    // Second press: the original request is back.
    t.keys(&["M-i"]);
    t.wait_for_prompt("$ create the marker file", "the original request", |_| true);
    assert!(!marker(&env).exists());
}

/// Not signed in: one short message, the line (with quotes) unchanged.
fn error_keeps_the_line(sh: Sh) {
    if !available(sh) {
        return;
    }
    let env = Env::new();
    let t = Term::start(&env, sh, "", "");
    let line = r#"grep -r "it's" 'a b' $HOME"#;
    t.type_text(line);
    t.keys(&["M-i"]);
    let s = t.wait_for_prompt(&format!("$ {line}"), "the error message", |s| {
        s.contains("codexctl login")
    });
    assert_eq!(
        s.lines().filter(|l| l.contains("codexctl login")).count(),
        1,
        "{s}"
    );
    // The cursor is still at the end: typed text lands after the line.
    t.type_text("X");
    t.wait_for("typed text at the end", |s| {
        s.lines().any(|l| l.trim_end() == format!("$ {line}X"))
    });
}

/// The rc line that switches `sh` to vi keys.
fn vi_rc(sh: Sh) -> &'static str {
    match sh {
        Sh::Bash => "set -o vi",
        Sh::Zsh => "bindkey -v",
        // --no-config skips the handler that loads a key binding set when the variable
        // changes, so the function is called too (its first call only sets the variable).
        Sh::Fish => "set -g fish_key_bindings fish_vi_key_bindings; fish_vi_key_bindings",
    }
}

/// vi-insert mode: Ctrl-G suggests, Ctrl-K explains (Alt keys are Escape-prefixed there).
fn vi_mode_works(sh: Sh) {
    if !available(sh) {
        return;
    }
    // (No path in the suggestion: fish would show a completion hint after it.)
    let (stack, env) = signed_in_suggesting("echo vi-suggested");
    let t = Term::start(&env, sh, "", vi_rc(sh));
    t.type_text("say it");
    t.keys(&["C-g"]);
    t.wait_for_prompt("$ echo vi-suggested", "the suggestion", |_| true);
    stack.backend.set_suggest_command(None);
    stack.backend.set_answer(Some("EXPLAINED-VI: long listing"));
    t.keys(&["C-k"]);
    t.wait_for_prompt("$ echo vi-suggested", "the explanation", |s| {
        s.contains("EXPLAINED-VI: long listing")
    });
}

/// vi-insert mode at a person's pace: Esc then `i` goes back to insert mode, Esc then `k`
/// recalls history; neither reaches the model.
fn vi_escape_keeps_its_meaning(sh: Sh) {
    if !available(sh) {
        return;
    }
    let (stack, env) = signed_in_suggesting("echo never");
    let t = Term::start(&env, sh, "", vi_rc(sh));
    // Esc, pause, i: insert before the cursor (Esc moved it onto the last character).
    t.type_text("echo draft");
    t.keys(&["Escape"]);
    std::thread::sleep(HUMAN_PACE);
    t.keys(&["i"]);
    std::thread::sleep(HUMAN_PACE);
    t.type_text("Q");
    t.wait_for_prompt("$ echo drafQt", "text inserted after Esc i", |_| true);
    t.keys(&["Enter"]);
    t.wait_for_prompt("$", "the command's output and a fresh prompt", |s| {
        s.lines().any(|l| l.trim_end() == "drafQt")
    });
    // Esc, pause, k on the empty line: the previous command comes back.
    t.keys(&["Escape"]);
    std::thread::sleep(HUMAN_PACE);
    t.keys(&["k"]);
    t.wait_for_prompt("$ echo drafQt", "history recalled by Esc k", |_| true);
    assert!(
        stack.backend.last_request().is_none(),
        "an Escape key reached the model"
    );
}

/// An answer carrying escape sequences is shown inert: the suggestion shows what would really
/// run, and an explanation can neither rename the terminal nor erase the screen.
fn escapes_are_shown_inert(sh: Sh) {
    if !available(sh) {
        return;
    }
    let (stack, env) = signed_in_suggesting("unused");
    let victim = marker(&env);
    std::fs::write(&victim, "keep me").unwrap();
    let attack = format!("rm {} #\x1b[2K\x1b[1Gecho hello", victim.display());
    stack.backend.set_suggest_command(Some(&attack));
    let t = Term::start(&env, sh, "", "");
    t.type_text("say hello");
    t.keys(&["M-i"]);
    let shown = format!("$ rm {} #echo hello", victim.display());
    t.wait_for_prompt(&shown, "the whole suggestion, inert", |_| true);
    assert!(victim.exists());

    stack.backend.set_suggest_command(None);
    stack.backend.set_answer(Some(
        "\x1b]2;pwned\x07\x1b[2J\x1b[HINERT-EXPLANATION \x1b[31mred\x1b[0m",
    ));
    t.keys(&["M-k"]);
    let s = t.wait_for_prompt(&shown, "the explanation", |s| {
        s.contains("INERT-EXPLANATION red")
    });
    assert!(s.contains("say hello") || s.contains(&shown), "{s}");
    let title = t.pane.tmux(&["display-message", "-p", "#{pane_title}"]);
    assert!(
        !title.contains("pwned"),
        "the answer renamed the terminal: {title}"
    );
}

/// Keys typed while waiting are kept: after the suggestion, and after Ctrl-C.
fn typeahead_survives(sh: Sh) {
    if !available(sh) {
        return;
    }
    let (stack, env) = signed_in_suggesting("ls -la");
    stack.backend.set_deltas(Some(1));
    stack.backend.set_delta_delay(Duration::from_secs(6));
    let t = Term::start(&env, sh, "", "");
    t.type_text("list files");
    t.keys(&["M-i"]);
    t.wait_for("the progress mark", |s| s.contains(MARKS));
    t.type_text(" | head");
    // Still waiting when the keys arrived (the mark goes before the line is set), so what
    // follows shows type-ahead kept, not keys typed after the suggestion.
    let s = t.pane.screen();
    assert!(
        s.contains(MARKS),
        "the answer came before the type-ahead:\n{s}"
    );
    t.wait_for_prompt(
        "$ ls -la | head",
        "the suggestion with the type-ahead",
        |_| true,
    );

    stack.backend.set_fault_forever(BackendFault::HangAfter(1));
    t.keys(&["C-u"]);
    t.type_text("wait forever");
    t.keys(&["M-i"]);
    t.wait_for("the progress mark", |s| s.contains(MARKS));
    t.type_text(" please");
    t.keys(&["C-c"]);
    t.wait_for_prompt("$ wait forever please", "the cancel message", |s| {
        s.contains("codexd: cancelled")
    });
}

/// `--no-bind`: the widgets exist, no key is bound to them.
fn no_bind_defines_widgets_only(sh: Sh) {
    if !available(sh) {
        return;
    }
    let env = Env::new();
    let t = Term::start(&env, sh, "--no-bind", "");
    let probe = match sh {
        Sh::Bash => {
            "echo W=$(declare -F _codexd_suggest _codexd_explain | wc -l) B=$(bind -X | grep -c _codexd)"
        }
        Sh::Zsh => "echo W=$(zle -l | grep -c _codexd) B=$(bindkey -M emacs | grep -c _codexd)",
        Sh::Fish => {
            "echo W=(functions -a | string match -e codexd_ | string match -v -e __ | count) B=(bind | string match -e codexd | count)"
        }
    };
    t.type_text(probe);
    t.keys(&["Enter"]);
    let s = t.wait_for("the probe output", |s| {
        s.lines().any(|l| l.starts_with("W="))
    });
    let line = s.lines().find(|l| l.starts_with("W=")).unwrap().trim();
    assert_eq!(line, "W=2 B=0", "{s}");
}

/// While waiting a progress mark is drawn; Ctrl-C gives the line back unchanged.
fn ctrl_c_restores_the_line(sh: Sh) {
    if !available(sh) {
        return;
    }
    let (stack, env) = signed_in_suggesting("echo never");
    stack.backend.set_fault_forever(BackendFault::HangAfter(1));
    let t = Term::start(&env, sh, "", "");
    t.type_text("wait forever");
    t.keys(&["M-i"]);
    // The request stays on screen while waiting (bash clears the row for a widget; the
    // integration draws it again), with the mark on the same row.
    t.wait_for("the request and the progress mark on one row", |s| {
        s.lines()
            .any(|l| l.starts_with("$ wait forever") && l.contains(MARKS))
    });
    t.keys(&["C-c"]);
    t.wait_for_prompt("$ wait forever", "the cancel message, no mark", |s| {
        s.contains("codexd: cancelled") && !s.contains(MARKS)
    });
}

/// Explain prints below the explained line (which stays in the scrollback), then the prompt
/// with the line untouched.
fn explain_prints_below_the_line(sh: Sh) {
    if !available(sh) {
        return;
    }
    let stack = FakeStack::start_blocking();
    let env = Env::new().with_fakes(&stack);
    stack
        .backend
        .set_answer(Some("EXPLAINED: lists files, long format."));
    let tokens = stack.auth.mint_login();
    let path = env.home().join("codex-auth.json");
    std::fs::write(&path, tokens.auth_json().to_string()).unwrap();
    env.ctl(&["login", "--import-codex", path.to_str().unwrap()])
        .ok();
    let t = Term::start(&env, sh, "", "");
    t.type_text("ls -l");
    t.keys(&["M-k"]);
    let s = t.wait_for_prompt("$ ls -l", "the explanation", |s| {
        s.contains("EXPLAINED: lists files")
    });
    let lines: Vec<&str> = s.lines().map(str::trim_end).collect();
    let at = lines
        .iter()
        .position(|l| l.contains("EXPLAINED: lists files"))
        .unwrap();
    assert!(
        lines[..at].contains(&"$ ls -l"),
        "the explained line is not above the explanation:\n{s}"
    );
}

macro_rules! per_shell {
    ($($scenario:ident),*) => {
        mod bash {
            $(#[test] fn $scenario() { super::$scenario(super::Sh::Bash) })*
        }
        mod zsh {
            $(#[test] fn $scenario() { super::$scenario(super::Sh::Zsh) })*
        }
        mod fish {
            $(#[test] fn $scenario() { super::$scenario(super::Sh::Fish) })*
        }
    };
}

per_shell!(
    suggestion_replaces_the_line,
    error_keeps_the_line,
    vi_mode_works,
    no_bind_defines_widgets_only,
    ctrl_c_restores_the_line,
    explain_prints_below_the_line,
    vi_escape_keeps_its_meaning,
    escapes_are_shown_inert,
    typeahead_survives
);

/// Multi-line buffers and special characters reach the model byte for byte (zsh: Alt-Enter
/// inserts a newline into the buffer).
#[test]
fn multi_line_buffer_reaches_the_model_intact() {
    if !available(Sh::Zsh) {
        return;
    }
    let (stack, env) = signed_in_suggesting("echo done");
    let t = Term::start(&env, Sh::Zsh, "", "");
    t.type_text(r#"for f in "*.rs"; do"#);
    t.keys(&["M-Enter"]);
    t.type_text(r#"  echo 'it''s' $f \n; done"#);
    t.keys(&["M-i"]);
    t.wait_for("the suggestion", |s| s.contains("$ echo done"));
    let req = stack.backend.last_request().expect("request");
    let user = req.texts_of("user").join("\n");
    assert!(
        user.contains("for f in \"*.rs\"; do\n  echo 'it''s' $f \\n; done"),
        "{user}"
    );
}

/// The script itself: keys from the flag and the environment, nothing appended to rc files.
#[test]
fn shell_init_honours_keys_and_refuses_bad_ones() {
    let mut env = Env::new();
    let out = env
        .ctl(&["shell-init", "zsh", "--key", "ctrl-x ctrl-g"])
        .ok();
    assert!(
        out.stdout
            .contains("bindkey -M viins '^X^G' _codexd_suggest"),
        "{}",
        out.stdout
    );
    env.set("CODEXD_SHELL_KEY", "alt-j");
    let out = env.ctl(&["shell-init", "bash"]).ok();
    assert!(
        out.stdout
            .contains(r#"bind -m emacs -x '"\ej": _codexd_suggest'"#),
        "{}",
        out.stdout
    );
    let out = env.ctl(&["shell-init", "fish", "--key", "ctrl-l"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("clear screen"), "{}", out.stderr);
    // Flow control (also as a second key), escape-sequence prefixes, unbindable bytes.
    for key in [
        "ctrl-x ctrl-s",
        "ctrl-q",
        "alt-[",
        "M-O",
        "ctrl-@",
        "ctrl-\\",
    ] {
        let out = env.ctl(&["shell-init", "fish", "--key", key]);
        assert_ne!(out.code, 0, "{key}");
        assert!(out.stdout.is_empty(), "{key}: {}", out.stdout);
        // The example offered instead is a safe key.
        assert!(
            out.stderr.contains("for example alt-i or ctrl-x ctrl-g"),
            "{}",
            out.stderr
        );
    }
    // vi-insert keys never start with Escape; an Alt --key leaves vi-insert on its default.
    let out = env.ctl(&["shell-init", "bash", "--vi-key", "alt-j"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Escape"), "{}", out.stderr);
    let out = env.ctl(&["shell-init", "bash", "--key", "alt-j"]).ok();
    assert!(
        out.stdout
            .contains(r#"bind -m vi-insert -x '"\C-g": _codexd_suggest'"#),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("-m vi-insert -x '\"\\e"),
        "{}",
        out.stdout
    );
    // Flags that would do nothing are usage errors.
    for flag in ["--json", "--no-autostart"] {
        let out = env.ctl(&["shell-init", "zsh", flag]);
        assert_eq!(out.code, 2, "{flag}: {out:?}");
    }
    assert_eq!(env.ctl(&["shell-init", "tcsh"]).code, 2);
    let out = env.ctl(&["shell-init", "tcsh"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("bash, zsh and fish"), "{}", out.stderr);
    // Nothing but the script: no file anywhere in HOME was written.
    assert!(
        std::fs::read_dir(env.home()).unwrap().next().is_none(),
        "shell-init wrote into HOME"
    );
}

/// The hidden `suggest` itself: a stuck backend gives the prompt back after
/// `CODEXD_SUGGEST_TIMEOUT`, a backend error is one short line, and stdout stays empty.
#[test]
fn suggest_is_bounded_and_fails_cleanly() {
    let (stack, mut env) = signed_in_suggesting("echo never");
    stack.backend.set_fault_forever(BackendFault::HangAfter(1));
    env.set("CODEXD_SUGGEST_TIMEOUT", "0.5");
    let started = Instant::now();
    let out = env.ctl(&["suggest", "--shell", "bash", "--", "hang please"]);
    assert!(started.elapsed() < Duration::from_secs(10), "{out:?}");
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.contains("no answer within"), "{out:?}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out:?}");

    stack.backend.clear_faults();
    stack
        .backend
        .set_fault_forever(BackendFault::ModelNotSupported);
    let out = env.ctl(&["suggest", "--shell", "zsh", "--", "list files"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out:?}");

    stack.backend.clear_faults();
    let out = env
        .ctl(&["suggest", "--shell", "fish", "--", "list files"])
        .ok();
    assert_eq!(out.stdout, "echo never");
    assert!(out.stderr.is_empty(), "{out:?}");
}
