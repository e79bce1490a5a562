//! Typed values of the command line that several commands share: shell names (a name or a
//! path, as `$SHELL` gives it) and open-ended words with completion hints (efforts).

use clap::ValueEnum;
use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;

/// The shells `shell-init` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellName {
    /// bash 4 or newer.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// Parses a shell name or a path to one (`$SHELL` is often `/bin/zsh`); completions offer the
/// names. Anything else is a usage error (exit 2).
#[derive(Clone, Copy, Debug)]
pub struct ShellParser;

/// Reasoning efforts completions offer; any other token is accepted too (the daemon checks it
/// against the model catalog).
pub const EFFORT_HINTS: &[&str] = &["low", "medium", "high", "xhigh", "max", "ultra"];

/// An open-ended value: completions offer the hints, parsing accepts any non-empty token.
#[derive(Clone, Copy, Debug)]
pub struct Hinted(pub &'static [&'static str]);

impl ShellName {
    /// The shell's name as its users write it.
    pub fn name(self) -> &'static str {
        match self {
            ShellName::Bash => "bash",
            ShellName::Zsh => "zsh",
            ShellName::Fish => "fish",
        }
    }
}

impl TypedValueParser for ShellParser {
    type Value = ShellName;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<ShellName, clap::Error> {
        let text = value.to_string_lossy();
        let base = text.rsplit('/').next().unwrap_or(&text);
        ShellName::from_str(base, true).map_err(|_| {
            clap::Error::raw(
                ErrorKind::InvalidValue,
                format!(
                    "no shell integration for {text:?}; supported shells are bash, zsh and fish\n"
                ),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            ShellName::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

impl TypedValueParser for Hinted {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        match value.to_str().map(str::trim) {
            Some(v) if !v.is_empty() && !v.contains(char::is_whitespace) => Ok(v.to_string()),
            _ => Err(clap::Error::raw(
                ErrorKind::InvalidValue,
                format!(
                    "{} needs one word, for example {}\n",
                    arg.map_or_else(|| "the value".to_string(), ToString::to_string),
                    self.0.join(", ")
                ),
            )
            .with_cmd(cmd)),
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|v| PossibleValue::new(*v))))
    }
}
