//! codexd's own developer messages for the shell helpers (written for this project), and the
//! clean-up of a suggested command. The conversation mode adds none: the model family's base
//! instructions are enough.

use codexd_proto::conversation::{AskMode, ShellContext};

/// The developer message a mode adds before the user's text, if any.
pub fn mode_message(mode: &AskMode) -> Option<String> {
    match mode {
        AskMode::Chat => None,
        AskMode::SuggestCommand(sh) => Some(format!(
            "You turn a request typed at a shell prompt into a single command line.\n\
             Shell: {shell}. System: {os}. Working directory: {cwd}.{status}\n\
             Reply with exactly one command line for that shell and nothing else: no \
             explanation, no Markdown, no code fences, no surrounding quotes, no leading `$`. \
             If the text already is a command, return it corrected or improved. Chain steps \
             with the shell's own operators when more than one step is needed. Prefer safe, \
             commonly available tools; never add destructive flags the user did not ask for.",
            shell = sh.shell,
            os = sh.os,
            cwd = sh.cwd,
            status = last_status(sh),
        )),
        AskMode::ExplainCommand(sh) => Some(format!(
            "Explain the shell command the user sends, for someone at a {shell} prompt on {os} \
             (working directory {cwd}).{status}\n\
             Answer in plain text, at most a few short sentences: what it does, then any risk \
             worth knowing (deleting files, overwriting, network access, needing root). No \
             Markdown headings or code fences.",
            shell = sh.shell,
            os = sh.os,
            cwd = sh.cwd,
            status = last_status(sh),
        )),
    }
}

fn last_status(sh: &ShellContext) -> String {
    match sh.last_status {
        Some(0) | None => String::new(),
        Some(n) => format!(" The previous command exited with status {n}."),
    }
}

/// Clean a suggested command: the shared rule in `codexd_proto::text` (controls and escape
/// sequences stripped, fences, backticks and a leading `$ ` dropped).
pub fn clean_suggestion(text: &str) -> String {
    codexd_proto::text::clean_suggestion(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh() -> ShellContext {
        ShellContext {
            shell: "zsh".into(),
            os: "Linux".into(),
            cwd: "/tmp".into(),
            last_status: Some(2),
        }
    }

    #[test]
    fn modes_carry_the_shell_context() {
        assert!(mode_message(&AskMode::Chat).is_none());
        let s = mode_message(&AskMode::SuggestCommand(sh())).expect("message");
        assert!(s.contains("zsh") && s.contains("/tmp") && s.contains("status 2"));
        assert!(mode_message(&AskMode::ExplainCommand(sh())).is_some());
    }

    #[test]
    fn suggestions_lose_fences_and_backticks() {
        assert_eq!(clean_suggestion("```bash\nls -la\n```"), "ls -la");
        assert_eq!(clean_suggestion("`git status`"), "git status");
        assert_eq!(clean_suggestion("  $ echo hi \n"), "echo hi");
        assert_eq!(
            clean_suggestion("find . -name '*.rs'"),
            "find . -name '*.rs'"
        );
    }
}
