//! `codexctl ask` on a real terminal (tmux): the answer's Markdown is rendered (no raw `**` or
//! code fences on screen, the code itself shown), while piped output stays raw text.
#![allow(clippy::unwrap_used)]

use codexd_tests::fakes::FakeStack;
use codexd_tests::harness::{Env, bin};
use codexd_tests::tmux::{self, Tmux};

const ANSWER: &str = "# Listing files\n\nUse **ls** with two flags:\n\n- `-l` long format\n- `-a` hidden files\n\n```sh\nls -la /tmp\n```\n";

#[test]
fn markdown_is_rendered_on_a_terminal_and_raw_when_piped() {
    if !tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let stack = FakeStack::start_blocking();
    let mut env = Env::new().with_fakes(&stack);
    env.set("CODEXD_SCOPE", "tty|/");
    env.unset("NO_COLOR");
    env.import_login(&stack);
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
