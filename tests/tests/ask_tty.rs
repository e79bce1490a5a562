//! `codexctl ask` on a real terminal (tmux): the answer's Markdown is rendered (no raw `**` or
//! code fences on screen, the code itself shown), while piped output stays raw text.
#![allow(clippy::unwrap_used)]

use codexd_tests::harness::{bin, signed_in_with};
use codexd_tests::tmux::{self, Tmux};

const ANSWER: &str = "# Listing files\n\nUse **ls** with two flags:\n\n- `-l` long format\n- `-a` hidden files\n\n```sh\nls -la /tmp\n```\n";

#[test]
fn markdown_is_rendered_on_a_terminal_and_raw_when_piped() {
    if !tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let (stack, env) = signed_in_with(|env, _| {
        env.set("CODEXD_SCOPE", "tty|/");
        env.unset("NO_COLOR");
    });
    stack.backend.set_answer(Some(ANSWER));

    let pane = Tmux::start(
        &env,
        &format!(
            "{} ask 'how do I list files?'; echo EXIT=$?; sleep 60",
            bin("codexctl").display()
        ),
    );
    let screen = pane.wait_for("the answer and the exit code", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("ls -la /tmp"), "{screen}");
    assert!(screen.contains("Listing files"), "{screen}");
    assert!(
        !screen.contains("**ls**"),
        "emphasis must be rendered: {screen}"
    );
    assert!(
        !screen.contains("```"),
        "code fences must be rendered: {screen}"
    );

    // Piped: the raw text, exactly.
    let out = env.ctl(&["ask", "again"]).ok();
    assert_eq!(out.stdout.trim_end(), ANSWER.trim_end());
}

/// Escape sequences in an answer are stripped on a terminal (the title stays, nothing is
/// erased), with Markdown and with `--raw`; piped, the answer is byte-exact.
#[test]
fn escape_sequences_are_stripped_on_a_terminal_only() {
    if !tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    const HOSTILE: &str =
        "\x1b]2;pwned\x07\x1b[2J\x1b[HINERT-ANSWER \x1b[31mred\x1b[0m done\x1b]0;again\x1b\\\n";
    let (stack, env) = signed_in_with(|env, _| env.set("CODEXD_SCOPE", "tty|/"));
    stack.backend.set_answer(Some(HOSTILE));
    stack.backend.set_deltas(Some(7));

    let ctl = bin("codexctl");
    let pane = Tmux::start(
        &env,
        &format!(
            "echo BEFORE-MARK; {c} ask 'rendered'; {c} ask --raw 'raw'; echo EXIT=$?; sleep 60",
            c = ctl.display()
        ),
    );
    let screen = pane.wait_for("both answers and the exit code", |s| {
        s.contains("EXIT=") && s.matches("INERT-ANSWER red done").count() == 2
    });
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        screen.contains("BEFORE-MARK"),
        "the answer erased the screen: {screen}"
    );
    let title = pane.tmux(&["display-message", "-p", "#{pane_title}"]);
    assert!(
        !title.contains("pwned") && !title.contains("again"),
        "the answer renamed the terminal: {title}"
    );

    // Piped: the raw text, exactly.
    let out = env.ctl(&["ask", "again"]).ok();
    assert_eq!(out.stdout, HOSTILE);
}
