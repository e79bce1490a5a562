//! Model text made safe to show on a terminal, and the one rule that turns a model answer into a
//! command line. Daemon and clients share this module so that a suggestion is cleaned by the
//! same rule wherever it is cleaned.
//!
//! What [`strip_controls`] removes, and why: a terminal obeys control characters, so model text
//! that carries them can hide what a line really holds (`rm x #\e[2K\e[1Gecho hi` is shown as
//! `echo hi`), rename the window or erase the screen. Removed are:
//! - C0 controls (U+0000–U+001F) except newline and tab, and DEL (U+007F);
//! - C1 controls (U+0080–U+009F);
//! - whole escape sequences, not just their ESC: CSI (`ESC [` … final byte, or U+009B …),
//!   OSC/DCS/SOS/PM/APC strings (`ESC ]`, `ESC P`, `ESC X`, `ESC ^`, `ESC _` or their C1 forms,
//!   up to BEL or ST; an unterminated one runs to the end of the text), `ESC N`/`ESC O` with
//!   the character they shift, and any other `ESC` with its intermediate and final bytes;
//! - the Unicode bidirectional embedding, override and isolate controls (U+202A–U+202E,
//!   U+2066–U+2069), which reorder what is shown without changing what runs.

/// Remove control characters and escape sequences from `text` (see the module doc); newline
/// and tab are kept, everything else printable is kept byte for byte.
pub fn strip_controls(text: &str) -> String {
    let mut s = ControlStripper::default();
    let mut out = s.push(text);
    s.finish();
    out.shrink_to_fit();
    out
}

/// Where the stripper is inside an escape sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// Plain text.
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// After `ESC N` or `ESC O` (single shift): the next character belongs to the sequence
    /// (`ESC O A` is the Up key in application mode).
    SingleShift,
    /// After ESC and intermediate bytes (U+0020–U+002F), waiting for the final byte.
    EscapeIntermediate,
    /// Inside a CSI sequence, waiting for its final byte (U+0040–U+007E).
    Csi,
    /// Inside an OSC/DCS/SOS/PM/APC string, waiting for BEL or ST.
    Str,
    /// Inside a string, just after an ESC (ST is `ESC \`).
    StrEscape,
}

/// [`strip_controls`] for text that arrives in pieces (streamed deltas): an escape sequence
/// split across two pieces is still removed whole.
#[derive(Debug, Clone, Default)]
pub struct ControlStripper {
    state: State,
}

impl ControlStripper {
    /// A stripper in the plain-text state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next piece; returns its printable part.
    pub fn push(&mut self, piece: &str) -> String {
        let mut out = String::with_capacity(piece.len());
        for c in piece.chars() {
            self.state = match self.state {
                State::Text => match c {
                    '\u{1b}' => State::Escape,
                    '\u{9b}' => State::Csi,
                    '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => State::Str,
                    c if keep(c) => {
                        out.push(c);
                        State::Text
                    }
                    _ => State::Text,
                },
                State::Escape => match c {
                    '[' => State::Csi,
                    ']' | 'P' | 'X' | '^' | '_' => State::Str,
                    'N' | 'O' => State::SingleShift,
                    '\u{1b}' => State::Escape,
                    '\u{20}'..='\u{2f}' => State::EscapeIntermediate,
                    // A final byte ends the sequence; anything else cancels it and is text
                    // the sequence never consumed (kept if printable, like a newline).
                    '\u{30}'..='\u{7e}' => State::Text,
                    c => {
                        if keep(c) {
                            out.push(c);
                        }
                        State::Text
                    }
                },
                State::SingleShift => match c {
                    '\u{1b}' => State::Escape,
                    '\u{20}'..='\u{7e}' => State::Text,
                    c => {
                        if keep(c) {
                            out.push(c);
                        }
                        State::Text
                    }
                },
                State::EscapeIntermediate => match c {
                    '\u{20}'..='\u{2f}' => State::EscapeIntermediate,
                    '\u{30}'..='\u{7e}' => State::Text,
                    '\u{1b}' => State::Escape,
                    c => {
                        if keep(c) {
                            out.push(c);
                        }
                        State::Text
                    }
                },
                State::Csi => match c {
                    '\u{40}'..='\u{7e}' => State::Text,
                    '\u{1b}' => State::Escape,
                    // Parameters, intermediates, and anything a broken sequence carries stay
                    // inside it until a final byte: a terminal would not show them either.
                    _ => State::Csi,
                },
                State::Str => match c {
                    '\u{7}' | '\u{9c}' => State::Text,
                    '\u{1b}' => State::StrEscape,
                    _ => State::Str,
                },
                State::StrEscape => match c {
                    '\\' => State::Text,
                    '\u{1b}' => State::StrEscape,
                    _ => State::Str,
                },
            };
        }
        out
    }

    /// End of the text: forget any unfinished sequence (its bytes were already dropped).
    pub fn finish(&mut self) {
        self.state = State::Text;
    }
}

/// Whether a character in plain text is shown.
fn keep(c: char) -> bool {
    matches!(c, '\n' | '\t')
        || !(c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
}

/// Turn a model answer into one command line: controls stripped ([`strip_controls`]), Markdown
/// fences and surrounding backticks dropped, a leading `$ ` prompt sign removed, blank lines
/// around it trimmed.
pub fn clean_suggestion(text: &str) -> String {
    let text = strip_controls(text);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .collect();
    let joined = lines.join("\n");
    let mut s = joined.trim();
    while s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        s = s[1..s.len() - 1].trim();
    }
    let s = s.strip_prefix("$ ").unwrap_or(s);
    s.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shown(c: char) -> bool {
        !c.is_control() || c == '\n' || c == '\t'
    }

    #[test]
    fn the_reported_attack_is_shown_inert() {
        assert_eq!(
            strip_controls("rm /tmp/victim #\x1b[2K\x1b[1Gecho hello"),
            "rm /tmp/victim #echo hello"
        );
        // Window title (OSC ended by BEL and by ST), erase screen, a C1 CSI.
        assert_eq!(strip_controls("a\x1b]0;pwned\x07b"), "ab");
        assert_eq!(strip_controls("a\x1b]2;pwned\x1b\\b"), "ab");
        assert_eq!(strip_controls("a\x1b[2Jb\u{9b}1;2Hc"), "abc");
        assert_eq!(strip_controls("a\x1bPq#0;2\x1b\\b\x1b_x\u{9c}c"), "abc");
        // Other ESC forms: charset designation, keypad mode, save cursor, single shift.
        assert_eq!(strip_controls("a\x1b(Bb\x1b=c\x1b7d\x1bOAe"), "abcde");
        // Carriage return, backspace, bell, DEL, NUL; newline and tab kept.
        assert_eq!(strip_controls("x\ry\x08z\x07\x7f\0\n\tw"), "xyz\n\tw");
        // Bidi overrides.
        assert_eq!(strip_controls("ls \u{202e}txt.exe"), "ls txt.exe");
        // Unterminated OSC: the rest is dropped.
        assert_eq!(strip_controls("a\x1b]0;title"), "a");
        // Unicode text is untouched.
        assert_eq!(strip_controls("échó 'ü' — ✓"), "échó 'ü' — ✓");
    }

    #[test]
    fn a_sequence_split_across_pieces_is_removed_whole() {
        let mut s = ControlStripper::new();
        let mut out = s.push("one \x1b]0;ti");
        out += &s.push("tle\x07two \x1b[");
        out += &s.push("31mthree");
        s.finish();
        assert_eq!(out, "one two three");
    }

    #[test]
    fn suggestions_are_cleaned_by_one_rule() {
        assert_eq!(clean_suggestion("```bash\nls -la\n```"), "ls -la");
        assert_eq!(clean_suggestion("`git status`"), "git status");
        assert_eq!(clean_suggestion("  $ echo hi \n"), "echo hi");
        assert_eq!(clean_suggestion("\x1b[31m$ ls\x1b[0m"), "ls");
        assert_eq!(
            clean_suggestion("for f in *; do\n  echo \"$f\"\ndone"),
            "for f in *; do\n  echo \"$f\"\ndone"
        );
    }

    proptest! {
        #[test]
        fn output_never_holds_a_control(s in any::<String>()) {
            let out = strip_controls(&s);
            prop_assert!(out.chars().all(shown), "{out:?}");
            let bidi = out.chars().any(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'));
            prop_assert!(!bidi, "{:?}", out);
        }

        #[test]
        fn control_heavy_text_is_clean(s in "([\\x00-\\x20\\x7f-\\u{a0}\\[\\]\\\\;0-9a-zA-Z~P_^X]|\\u{1b})*") {
            let out = strip_controls(&s);
            prop_assert!(out.chars().all(shown), "{out:?}");
            // Idempotent: cleaning clean text changes nothing.
            prop_assert_eq!(strip_controls(&out), out.clone());
        }

        #[test]
        fn pieces_agree_with_the_whole(s in any::<String>(), cut in any::<prop::sample::Index>()) {
            let chars: Vec<char> = s.chars().collect();
            let at = if chars.is_empty() { 0 } else { cut.index(chars.len()) };
            let (a, b): (String, String) = (chars[..at].iter().collect(), chars[at..].iter().collect());
            let mut st = ControlStripper::new();
            let joined = st.push(&a) + &st.push(&b);
            prop_assert_eq!(joined, strip_controls(&s));
        }

        #[test]
        fn plain_text_is_kept_byte_for_byte(s in "[^\\p{Cc}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}]*") {
            prop_assert_eq!(strip_controls(&s), s);
        }

        #[test]
        fn suggestions_hold_no_control(s in any::<String>()) {
            let out = clean_suggestion(&s);
            prop_assert!(out.chars().all(shown), "{out:?}");
        }
    }
}
