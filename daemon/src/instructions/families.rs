//! Model families as data: which prompt file a model slug uses. The built-in table follows
//! upstream's layout (upstream.md section 6); `[instructions] families` in config.toml replaces
//! it, so a new model needs a config line, not a release.

use crate::config::FamilyRule;

/// Name of the family every unknown model falls back to.
pub const DEFAULT_FAMILY: &str = "default";

/// The built-in table: (slug prefix, family, prompt file). The empty prefix is the default.
const BUILTIN: &[(&str, &str, &str)] = &[
    ("gpt-5.2-codex", "gpt-5.2-codex", "gpt-5.2-codex_prompt.md"),
    (
        "gpt-5.1-codex-max",
        "gpt-5.1-codex-max",
        "gpt-5.1-codex-max_prompt.md",
    ),
    ("gpt-5-codex", "gpt-5-codex", "gpt_5_codex_prompt.md"),
    ("gpt-5.1-codex", "gpt-5-codex", "gpt_5_codex_prompt.md"),
    ("codex-", "gpt-5-codex", "gpt_5_codex_prompt.md"),
    ("gpt-5.2", "gpt-5.2", "gpt_5_2_prompt.md"),
    ("gpt-5.1", "gpt-5.1", "gpt_5_1_prompt.md"),
    ("", DEFAULT_FAMILY, "prompt.md"),
];

/// The family table in use.
#[derive(Debug, Clone)]
pub struct Families {
    rules: Vec<FamilyRule>,
}

/// The family a model maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The matching rule.
    pub rule: FamilyRule,
    /// True when no prefix matched and the default family was used.
    pub unknown: bool,
}

impl Families {
    /// The built-in table.
    #[cfg(test)]
    pub fn builtin() -> Self {
        Self::from_rules(Vec::new())
    }

    /// `configured` if non-empty (invalid rules dropped with a warning), else the built-in
    /// table. A default rule (empty prefix) is always present, so every model resolves.
    pub fn from_rules(configured: Vec<FamilyRule>) -> Self {
        let mut rules: Vec<FamilyRule> = if configured.is_empty() {
            BUILTIN
                .iter()
                .map(|(prefix, family, file)| FamilyRule {
                    prefix: (*prefix).into(),
                    family: (*family).into(),
                    file: (*file).into(),
                })
                .collect()
        } else {
            configured
                .into_iter()
                .filter(|r| {
                    let ok = safe_name(&r.family) && safe_name(&r.file);
                    if !ok {
                        tracing::warn!(family = %r.family, file = %r.file, "ignoring an instructions.families rule: family and file must be plain names (letters, digits, '.', '_', '-')");
                    }
                    ok
                })
                .collect()
        };
        if !rules.iter().any(|r| r.prefix.is_empty()) {
            rules.push(FamilyRule {
                prefix: String::new(),
                family: DEFAULT_FAMILY.into(),
                file: "prompt.md".into(),
            });
        }
        Self { rules }
    }

    /// The family of `model`: the longest matching prefix wins, so the most specific rule
    /// applies whatever the table's order.
    pub fn resolve(&self, model: &str) -> Resolved {
        let rule = self
            .rules
            .iter()
            .filter(|r| model.starts_with(r.prefix.as_str()))
            .max_by_key(|r| r.prefix.len())
            .or_else(|| self.rules.last())
            .cloned()
            .unwrap_or_else(|| FamilyRule {
                prefix: String::new(),
                family: DEFAULT_FAMILY.into(),
                file: "prompt.md".into(),
            });
        Resolved {
            unknown: rule.prefix.is_empty(),
            rule,
        }
    }

    /// Every distinct prompt file.
    pub fn files(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.rules {
            if !out.contains(&r.file) {
                out.push(r.file.clone());
            }
        }
        out
    }
}

/// A name that is safe as a single path component (no separators, no `..`).
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_prefix_wins() {
        let f = Families::builtin();
        let file = |m: &str| f.resolve(m).rule.file;
        assert_eq!(file("gpt-5.2-codex"), "gpt-5.2-codex_prompt.md");
        assert_eq!(file("gpt-5.1-codex-max-xyz"), "gpt-5.1-codex-max_prompt.md");
        assert_eq!(file("gpt-5.1-codex-mini"), "gpt_5_codex_prompt.md");
        assert_eq!(file("codex-mini-latest"), "gpt_5_codex_prompt.md");
        assert_eq!(file("gpt-5.2"), "gpt_5_2_prompt.md");
        assert_eq!(file("gpt-5.1"), "gpt_5_1_prompt.md");
        let unknown = f.resolve("o3");
        assert!(unknown.unknown);
        assert_eq!(unknown.rule.family, DEFAULT_FAMILY);
        assert!(!f.resolve("gpt-5.2").unknown);
    }

    #[test]
    fn configured_table_replaces_builtin_and_keeps_a_default() {
        let f = Families::from_rules(vec![
            FamilyRule {
                prefix: "my-".into(),
                family: "mine".into(),
                file: "mine.md".into(),
            },
            FamilyRule {
                prefix: "bad".into(),
                family: "../x".into(),
                file: "x.md".into(),
            },
        ]);
        assert_eq!(f.resolve("my-model").rule.family, "mine");
        assert_eq!(f.resolve("bad-model").rule.family, DEFAULT_FAMILY);
        assert_eq!(f.files(), vec!["mine.md", "prompt.md"]);
    }

    #[test]
    fn safe_names() {
        assert!(safe_name("gpt-5.2-codex_prompt.md"));
        assert!(!safe_name("../etc"));
        assert!(!safe_name("a/b"));
        assert!(!safe_name(""));
    }
}
