//! Key names for `shell-init --key`: parse a portable spelling (`alt-i`, `ctrl-x ctrl-g`) and
//! write it in each shell's own notation. Keys that would break line editing or the terminal
//! are refused, so every accepted key yields a script each shell parses.

use std::fmt;

/// Default key for "suggest" in emacs keymaps: Alt-i. Unbound in bash, zsh and fish defaults
/// (Alt-g is bash's `glob-complete-word` and zsh's `get-line`), and not used by fzf, atuin or
/// oh-my-zsh.
pub const DEFAULT_SUGGEST: &str = "alt-i";
/// Default key for "explain" in emacs keymaps: Alt-k. Unbound in all three shells (Alt-e is
/// fish's "edit in $EDITOR") and by the common plugins.
pub const DEFAULT_EXPLAIN: &str = "alt-k";
/// Default key for "suggest" in vi-insert keymaps: Ctrl-G. In vi-insert an Alt key is Escape
/// followed by a letter, so Esc then `i` typed quickly would read as Alt-i; Ctrl-G is a plain
/// byte, inserts itself in bash's vi-insert, is zsh viins' rarely used `list-expand`, and is
/// unbound in fish's insert mode. It is also the key that cancels a wait.
pub const DEFAULT_VI_SUGGEST: &str = "ctrl-g";
/// Default key for "explain" in vi-insert keymaps: Ctrl-K (self-insert in bash's vi-insert and
/// zsh viins, unbound in fish's insert mode; no terminal meaning).
pub const DEFAULT_VI_EXPLAIN: &str = "ctrl-k";

/// One keystroke: a character with optional Ctrl/Alt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stroke {
    alt: bool,
    ctrl: bool,
    ch: char,
}

impl Stroke {
    /// The byte a terminal sends for Ctrl+`ch` (ASCII `ch` & 0x1f).
    fn ctrl_byte(self) -> Option<u8> {
        (self.ctrl && self.ch.is_ascii()).then_some((self.ch as u8) & 0x1f)
    }
}

/// A key sequence, e.g. Alt-i or Ctrl-x Ctrl-g.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(Vec<Stroke>);

/// Why a key spelling was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not understood.
    #[error(
        "cannot read the key {0:?}; write it like alt-i, ctrl-x ctrl-g or M-i (letters, digits and punctuation; strokes separated by spaces)"
    )]
    Syntax(String),
    /// Would take a key the shell or the terminal needs.
    #[error(
        "the key {key:?} is {what}; binding it would break the shell, pick another (for example alt-i or ctrl-x ctrl-g)"
    )]
    Reserved {
        /// The spelling given.
        key: String,
        /// What the key does.
        what: &'static str,
    },
    /// An Escape-prefixed key for a vi-insert keymap, where Escape is a key of its own.
    #[error(
        "the vi-insert key {0:?} starts with Escape (Alt/Meta keys do), so Esc then a letter typed quickly would trigger it; pick a Ctrl key such as ctrl-g or ctrl-x ctrl-g"
    )]
    EscapeInVi(String),
}

impl Key {
    /// Parse `alt-i`, `M-i`, `ctrl-x ctrl-g`, `C-x C-g`, `\ei` (bash notation).
    pub fn parse(spec: &str) -> Result<Key, KeyError> {
        let spec = spec.trim();
        if let Some(rest) = spec.strip_prefix("\\e") {
            let ch = single_char(rest).ok_or_else(|| KeyError::Syntax(spec.to_string()))?;
            return Self::check(
                spec,
                Key(vec![Stroke {
                    alt: true,
                    ctrl: false,
                    ch,
                }]),
            );
        }
        let strokes = spec
            .split_whitespace()
            .map(parse_stroke)
            .collect::<Option<Vec<_>>>()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| KeyError::Syntax(spec.to_string()))?;
        Self::check(spec, Key(strokes))
    }

    fn check(spec: &str, key: Key) -> Result<Key, KeyError> {
        let Some(first) = key.0.first() else {
            return Err(KeyError::Syntax(spec.to_string()));
        };
        let reserved = |what| KeyError::Reserved {
            key: spec.to_string(),
            what,
        };
        // Anywhere in the sequence: bytes the terminal itself acts on, or that cannot be
        // written in every shell's notation.
        for stroke in &key.0 {
            let what = match stroke.ctrl_byte() {
                Some(0x13) => "Ctrl-S (flow control: it freezes the terminal)",
                Some(0x11) => "Ctrl-Q (flow control: it resumes a frozen terminal)",
                Some(0x03) => "Ctrl-C (interrupt)",
                Some(0x1a) => "Ctrl-Z (suspend)",
                Some(0x1c) => "Ctrl-\\ (quit signal)",
                Some(0x00) => "Ctrl-@ (a NUL byte, which fish cannot bind)",
                Some(0x1b) => "Escape (vi mode, and the start of every Alt key)",
                _ => continue,
            };
            return Err(reserved(what));
        }
        // Alt-[ and Alt-O are how arrow, function and paste keys begin (CSI `ESC [`, SS3
        // `ESC O`): binding them breaks those keys or makes them fire the widget.
        if let Some(s) = key
            .0
            .iter()
            .find(|s| s.alt && !s.ctrl && matches!(s.ch, '[' | 'O'))
        {
            return Err(reserved(if s.ch == '[' {
                "Alt-[ (the start of arrow and function keys)"
            } else {
                "Alt-O (the start of arrow and function keys in application mode)"
            }));
        }
        if key.0.len() == 1 && first.ctrl && !first.alt {
            return Err(match first.ch {
                'm' | 'j' => reserved("Enter"),
                'i' => reserved("Tab (completion)"),
                'd' => reserved("Ctrl-D (end of input)"),
                'l' => reserved("Ctrl-L (clear screen)"),
                'r' => reserved("Ctrl-R (history search)"),
                'h' => reserved("Backspace"),
                _ => return Ok(key),
            });
        }
        Ok(key)
    }

    /// Whether the key starts with Escape (every Alt/Meta key does): such a key cannot be told
    /// apart from Esc then a letter, so it must not be bound where Escape is a key of its own.
    pub fn escape_prefixed(&self) -> bool {
        self.0.first().is_some_and(|s| s.alt)
    }

    /// Refuse an Escape-prefixed key for a vi-insert keymap.
    pub fn for_vi(self, spec: &str) -> Result<Key, KeyError> {
        if self.escape_prefixed() {
            Err(KeyError::EscapeInVi(spec.trim().to_string()))
        } else {
            Ok(self)
        }
    }

    /// bash readline notation, inside double quotes: `\ei`, `\C-x\C-s`.
    pub fn bash(&self) -> String {
        self.0
            .iter()
            .map(|s| {
                let mut out = String::new();
                if s.alt {
                    out.push_str("\\e");
                }
                if s.ctrl {
                    out.push_str("\\C-");
                }
                out.push_str(&escape_char(s.ch, &['"', '\\']));
                out
            })
            .collect()
    }

    /// zsh bindkey notation (single-quoted by the script): `^[i`, `^X^S`.
    pub fn zsh(&self) -> String {
        self.0
            .iter()
            .map(|s| {
                let mut out = String::new();
                if s.alt {
                    out.push_str("^[");
                }
                if s.ctrl {
                    out.push('^');
                    out.push(s.ch.to_ascii_uppercase());
                } else if s.ch == '^' {
                    out.push_str("\\^");
                } else if s.ch == '\\' {
                    out.push_str("\\\\");
                } else if s.ch == '\'' {
                    out.push_str("'\\''");
                } else {
                    out.push(s.ch);
                }
                out
            })
            .collect()
    }

    /// fish bind notation (unquoted): `\ei`, `\cx\cs`.
    pub fn fish(&self) -> String {
        self.0
            .iter()
            .map(|s| {
                let mut out = String::new();
                if s.alt {
                    out.push_str("\\e");
                }
                // Letters as `\cx`; every other byte as `\xHH`, which fish reads the same in any
                // position (a bare `\` or `;` would be taken as syntax).
                match s.ctrl_byte() {
                    Some(_) if s.ch.is_ascii_lowercase() => {
                        out.push_str("\\c");
                        out.push(s.ch);
                    }
                    Some(b) => out.push_str(&format!("\\x{b:02x}")),
                    None if s.ch.is_ascii_alphanumeric() => out.push(s.ch),
                    None => out.push_str(&format!("\\x{:02x}", s.ch as u32)),
                }
                out
            })
            .collect()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .0
            .iter()
            .map(|s| {
                format!(
                    "{}{}{}",
                    if s.alt { "Alt-" } else { "" },
                    if s.ctrl { "Ctrl-" } else { "" },
                    s.ch
                )
            })
            .collect();
        f.write_str(&words.join(" "))
    }
}

fn single_char(s: &str) -> Option<char> {
    let mut it = s.chars();
    let c = it.next()?;
    (it.next().is_none() && (c.is_ascii_graphic())).then_some(c)
}

fn parse_stroke(word: &str) -> Option<Stroke> {
    let mut alt = false;
    let mut ctrl = false;
    let mut rest = word;
    loop {
        let lower = rest.to_ascii_lowercase();
        let skip = ["alt-", "meta-", "m-", "option-"]
            .iter()
            .find(|p| lower.starts_with(*p) && rest.len() > p.len())
            .map(|p| (p.len(), true))
            .or_else(|| {
                ["ctrl-", "control-", "c-"]
                    .iter()
                    .find(|p| lower.starts_with(*p) && rest.len() > p.len())
                    .map(|p| (p.len(), false))
            });
        match skip {
            Some((n, true)) => {
                alt = true;
                rest = &rest[n..];
            }
            Some((n, false)) => {
                ctrl = true;
                rest = &rest[n..];
            }
            None => break,
        }
    }
    let mut ch = single_char(rest)?;
    if ctrl {
        // Terminals send the same byte for Ctrl-A and Ctrl-a; only letters and a few
        // punctuation marks have a Ctrl form at all.
        ch = ch.to_ascii_lowercase();
        if !(ch.is_ascii_lowercase() || matches!(ch, '[' | ']' | '\\' | '^' | '_' | '@')) {
            return None;
        }
    }
    if !alt && !ctrl && word.split_whitespace().count() == 1 && ch.is_ascii_graphic() {
        // A bare printable key would stop it from being typed; refuse it (handled by check
        // only for Ctrl keys, so flag it as a syntax problem here).
        return None;
    }
    Some(Stroke { alt, ctrl, ch })
}

fn escape_char(c: char, specials: &[char]) -> String {
    if specials.contains(&c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_render_per_shell() {
        let k = Key::parse(DEFAULT_SUGGEST).expect("default parses");
        assert_eq!(k.bash(), "\\ei");
        assert_eq!(k.zsh(), "^[i");
        assert_eq!(k.fish(), "\\ei");
        assert_eq!(k.to_string(), "Alt-i");
    }

    #[test]
    fn spellings_agree() {
        let a = Key::parse("alt-x").expect("alt");
        assert_eq!(Key::parse("M-x"), Ok(a.clone()));
        assert_eq!(Key::parse("Meta-x"), Ok(a.clone()));
        assert_eq!(Key::parse("\\ex"), Ok(a));
        let seq = Key::parse("ctrl-x ctrl-G").expect("sequence");
        assert_eq!(seq.bash(), "\\C-x\\C-g");
        assert_eq!(seq.zsh(), "^X^G");
        assert_eq!(seq.fish(), "\\cx\\cg");
    }

    #[test]
    fn breaking_keys_are_refused() {
        for k in [
            "ctrl-m",
            "ctrl-i",
            "ctrl-c",
            "ctrl-l",
            "ctrl-r",
            "C-j",
            // Flow control, also as the second key and with Alt.
            "ctrl-s",
            "ctrl-q",
            "ctrl-x ctrl-s",
            "ctrl-x ctrl-q",
            "alt-ctrl-s",
            // Signals and bytes fish cannot bind.
            "ctrl-x ctrl-c",
            "ctrl-x ctrl-z",
            "ctrl-\\",
            "ctrl-@",
            "ctrl-x ctrl-[",
            // Escape-sequence prefixes.
            "alt-[",
            "M-O",
            "\\e[",
            "ctrl-x alt-[",
        ] {
            assert!(
                matches!(Key::parse(k), Err(KeyError::Reserved { .. })),
                "{k}: {:?}",
                Key::parse(k)
            );
        }
        for k in ["", "x", "alt-", "ctrl-1", "alt-ab", "hyper-x"] {
            assert!(matches!(Key::parse(k), Err(KeyError::Syntax(_))), "{k}");
        }
        // The examples the messages give are accepted.
        for k in ["alt-i", "ctrl-x ctrl-g", "M-i", "ctrl-g", "alt-o"] {
            assert!(Key::parse(k).is_ok(), "{k}");
        }
        let msg = Key::parse("ctrl-x ctrl-s").unwrap_err().to_string();
        assert!(
            msg.contains("flow control") && msg.contains("ctrl-x ctrl-g"),
            "{msg}"
        );
    }

    #[test]
    fn vi_keys_never_start_with_escape() {
        for k in ["alt-i", "M-k", "\\ei", "alt-ctrl-g"] {
            let key = Key::parse(k).expect(k);
            assert!(matches!(key.for_vi(k), Err(KeyError::EscapeInVi(_))), "{k}");
        }
        for k in [DEFAULT_VI_SUGGEST, DEFAULT_VI_EXPLAIN, "ctrl-x alt-i"] {
            let key = Key::parse(k).expect(k);
            assert!(key.for_vi(k).is_ok(), "{k}");
        }
    }

    #[test]
    fn punctuation_is_escaped() {
        let k = Key::parse("alt-\"").expect("quote");
        assert_eq!(k.bash(), "\\e\\\"");
        let k = Key::parse("alt-'").expect("apostrophe");
        assert_eq!(k.zsh(), "^['\\''");
        assert_eq!(k.fish(), "\\e\\x27");
        let k = Key::parse("ctrl-x ctrl-]").expect("ctrl punctuation");
        assert_eq!(k.fish(), "\\cx\\x1d");
    }
}
