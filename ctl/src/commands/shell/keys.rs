//! Key names for `shell-init --key`: parse a portable spelling (`alt-i`, `ctrl-x ctrl-s`) and
//! write it in each shell's own notation. Keys that would break line editing are refused.

use std::fmt;

/// Default key for "suggest": Alt-i. Unbound in bash, zsh and fish defaults (Alt-g is bash's
/// `glob-complete-word` and zsh's `get-line`), and not used by fzf, atuin or oh-my-zsh.
pub const DEFAULT_SUGGEST: &str = "alt-i";
/// Default key for "explain": Alt-k. Unbound in all three shells (Alt-e is fish's "edit in
/// $EDITOR") and by the common plugins.
pub const DEFAULT_EXPLAIN: &str = "alt-k";

/// One keystroke: a character with optional Ctrl/Alt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stroke {
    alt: bool,
    ctrl: bool,
    ch: char,
}

/// A key sequence, e.g. Alt-i or Ctrl-x Ctrl-s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(Vec<Stroke>);

/// Why a key spelling was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not understood.
    #[error(
        "cannot read the key {0:?}; write it like alt-i, ctrl-x ctrl-s or M-i (letters, digits and punctuation; strokes separated by spaces)"
    )]
    Syntax(String),
    /// Would take a key the shell needs.
    #[error(
        "the key {key:?} is {what}; binding it would break the shell, pick another (default {default})"
    )]
    Reserved {
        /// The spelling given.
        key: String,
        /// What the key does.
        what: &'static str,
        /// The default to suggest instead.
        default: &'static str,
    },
}

impl Key {
    /// Parse `alt-i`, `M-i`, `ctrl-x ctrl-s`, `C-x C-s`, `\ei` (bash notation).
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
            default: DEFAULT_SUGGEST,
        };
        if key.0.len() == 1 && first.ctrl && !first.alt {
            return Err(match first.ch {
                'm' | 'j' => reserved("Enter"),
                'i' => reserved("Tab (completion)"),
                'c' => reserved("Ctrl-C (interrupt)"),
                'd' => reserved("Ctrl-D (end of input)"),
                'l' => reserved("Ctrl-L (clear screen)"),
                'r' => reserved("Ctrl-R (history search)"),
                'z' => reserved("Ctrl-Z (suspend)"),
                '[' => reserved("Escape (vi mode)"),
                _ => return Ok(key),
            });
        }
        Ok(key)
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
                if s.ctrl {
                    out.push_str("\\c");
                    out.push(s.ch);
                } else if s.ch.is_ascii_alphanumeric() {
                    out.push(s.ch);
                } else {
                    out.push('\\');
                    out.push(s.ch);
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
        let seq = Key::parse("ctrl-x ctrl-S").expect("sequence");
        assert_eq!(seq.bash(), "\\C-x\\C-s");
        assert_eq!(seq.zsh(), "^X^S");
        assert_eq!(seq.fish(), "\\cx\\cs");
    }

    #[test]
    fn breaking_keys_are_refused() {
        for k in ["ctrl-m", "ctrl-i", "ctrl-c", "ctrl-l", "ctrl-r", "C-j"] {
            assert!(
                matches!(Key::parse(k), Err(KeyError::Reserved { .. })),
                "{k}"
            );
        }
        for k in ["", "x", "alt-", "ctrl-1", "alt-ab", "hyper-x"] {
            assert!(matches!(Key::parse(k), Err(KeyError::Syntax(_))), "{k}");
        }
    }

    #[test]
    fn punctuation_is_escaped() {
        let k = Key::parse("alt-\"").expect("quote");
        assert_eq!(k.bash(), "\\e\\\"");
        let k = Key::parse("alt-'").expect("apostrophe");
        assert_eq!(k.zsh(), "^['\\''");
        assert_eq!(k.fish(), "\\e\\'");
    }
}
