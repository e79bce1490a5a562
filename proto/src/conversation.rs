//! Conversation payloads: asking, streamed answer events, sessions, usage.

use serde::{Deserialize, Serialize};

/// Reasoning effort (`reasoning.effort`): open-ended, because each model lists its own in the
/// catalog (today `low` … `xhigh`, `max`, `ultra`; older ones had `minimal`). Whether a model
/// takes a given effort is the catalog's call, not this type's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Effort(String);

/// The efforts known today, lowest first: used to clamp a wanted effort to the nearest one a
/// model supports, and offered as completion hints. Others are accepted too.
pub const KNOWN_EFFORTS: &[&str] = &["minimal", "low", "medium", "high", "xhigh", "max", "ultra"];

impl Effort {
    /// Parse a spelling: 1–32 characters of `a-z`, `0-9`, `_`, `-` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then_some(Effort(s))
    }

    /// The backend's spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Position among [`KNOWN_EFFORTS`] (`None` for an effort this build does not know).
    pub fn rank(&self) -> Option<usize> {
        KNOWN_EFFORTS.iter().position(|k| *k == self.0)
    }
}

impl std::fmt::Display for Effort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Effort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Effort::parse(s).ok_or_else(|| {
            format!(
                "'{s}' is not a reasoning effort (a word such as {}; `codexctl models` lists each model's)",
                KNOWN_EFFORTS.join(", ")
            )
        })
    }
}

impl TryFrom<String> for Effort {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Effort> for String {
    fn from(e: Effort) -> String {
        e.0
    }
}

/// Output verbosity (`text.verbosity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
}

impl Verbosity {
    /// The backend's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verbosity::Low => "low",
            Verbosity::Medium => "medium",
            Verbosity::High => "high",
        }
    }

    /// Parse the backend's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "low" => Verbosity::Low,
            "medium" => Verbosity::Medium,
            "high" => Verbosity::High,
            _ => return None,
        })
    }
}

impl std::str::FromStr for Verbosity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verbosity::parse(s).ok_or_else(|| format!("'{s}' is not a verbosity (low, medium or high)"))
    }
}

/// Which conversation a turn belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionSelector {
    /// The current conversation of a context the client computed (terminal + directory);
    /// created on first use.
    Current {
        /// Opaque key naming the context.
        scope: String,
    },
    /// A named conversation; created on first use.
    Named(String),
    /// A fresh conversation, optionally named; it becomes the scope's current one.
    New {
        /// Context key whose current conversation this becomes.
        scope: String,
        /// Optional name.
        name: Option<String>,
    },
    /// A one-off turn that is never stored (shell suggestions).
    Ephemeral,
}

/// Context about the user's shell, for command suggestions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellContext {
    /// `bash`, `zsh` or `fish`.
    pub shell: String,
    /// Operating system description.
    pub os: String,
    /// Working directory.
    pub cwd: String,
    /// Exit status of the last command, if known.
    pub last_status: Option<i32>,
}

/// What kind of answer is wanted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AskMode {
    /// Ordinary conversation.
    Chat,
    /// Turn the prompt into exactly one shell command (no prose, no Markdown).
    SuggestCommand(ShellContext),
    /// Explain the command in the prompt briefly.
    ExplainCommand(ShellContext),
}

/// Body of `Request::Ask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AskRequest {
    /// The user's prompt.
    pub prompt: String,
    /// Piped-in text, sent as context before the prompt.
    pub context: Option<String>,
    /// Which conversation.
    pub session: SessionSelector,
    /// Model override (else the session's, else the configured default).
    pub model: Option<String>,
    /// Reasoning effort override; clamped to what the model supports.
    pub effort: Option<Effort>,
    /// Verbosity override.
    pub verbosity: Option<Verbosity>,
    /// Ask for reasoning summaries (shown with `ask --reasoning`).
    pub reasoning_summaries: bool,
    /// Extra developer instructions for this turn.
    pub developer_instructions: Option<String>,
    /// Conversation or shell helper.
    pub mode: AskMode,
}

impl AskRequest {
    /// A request with every option left to the daemon's defaults (model, effort, verbosity
    /// from the catalog and config; no piped context, no extra instructions).
    pub fn new(prompt: impl Into<String>, session: SessionSelector, mode: AskMode) -> Self {
        Self {
            prompt: prompt.into(),
            context: None,
            session,
            model: None,
            effort: None,
            verbosity: None,
            reasoning_summaries: false,
            developer_instructions: None,
            mode,
        }
    }
}

/// Streamed progress of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AskEvent {
    /// The turn was accepted and sent.
    Started {
        /// Session id (UUID) of the conversation.
        session: String,
        /// Session name, if any.
        name: Option<String>,
        /// The model used.
        model: String,
        /// The effort used, after clamping.
        effort: Option<Effort>,
    },
    /// A piece of the answer text.
    TextDelta(String),
    /// A piece of a reasoning summary.
    ReasoningDelta(String),
    /// Something worth telling the user (effort clamped, retrying, …).
    Notice(String),
}

/// Token counts of one turn (`response.usage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// `input_tokens`
    pub input: u64,
    /// `input_tokens_details.cached_tokens`
    pub cached_input: u64,
    /// `output_tokens`
    pub output: u64,
    /// `output_tokens_details.reasoning_tokens`
    pub reasoning_output: u64,
    /// `total_tokens`
    pub total: u64,
}

/// The end of a successful turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AskOutcome {
    /// Session id (UUID).
    pub session: String,
    /// The whole answer text.
    pub text: String,
    /// Token usage, if the backend reported it.
    pub usage: Option<TokenUsage>,
    /// Rate-limit windows seen on this response.
    pub limits: Option<RateLimits>,
}

/// One usage window from the `x-codex-primary-*` / `x-codex-secondary-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UsageWindow {
    /// Percent of the window used.
    pub used_percent: f64,
    /// Window length in minutes (≈300 for primary, ≈10080 for secondary).
    pub window_minutes: Option<u64>,
    /// When the window resets, unix seconds.
    pub resets_at: Option<u64>,
}

/// Credits state from the `x-codex-credits-*` headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credits {
    /// `x-codex-credits-has-credits`
    pub has_credits: bool,
    /// `x-codex-credits-unlimited`
    pub unlimited: bool,
    /// `x-codex-credits-balance`, as sent.
    pub balance: Option<String>,
}

/// The plan's usage windows, as last seen on a backend response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimits {
    /// The ≈5-hour window.
    pub primary: Option<UsageWindow>,
    /// The weekly window.
    pub secondary: Option<UsageWindow>,
    /// Credits, if reported.
    pub credits: Option<Credits>,
    /// When these were captured, unix seconds.
    pub captured_at: u64,
}

/// Body of `Request::Sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionsRequest {
    /// All stored conversations, most recent first.
    List,
    /// One conversation in full (by name or id prefix).
    Show(String),
    /// Delete a conversation.
    Remove(String),
    /// Rename a conversation.
    Rename {
        /// Current name or id prefix.
        from: String,
        /// New name.
        to: String,
    },
}

/// One stored conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// UUID.
    pub id: String,
    /// Name, if any.
    pub name: Option<String>,
    /// Model of the last turn.
    pub model: String,
    /// Completed turns.
    pub turns: u32,
    /// Total tokens over all turns.
    pub tokens: u64,
    /// Created, unix seconds.
    pub created_at: u64,
    /// Last used, unix seconds.
    pub last_used: u64,
    /// Whether a live actor holds it right now.
    pub active: bool,
}

/// One turn, for `sessions show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnSummary {
    /// What the user sent (prompt, with piped context if any).
    pub user: String,
    /// The answer text.
    pub assistant: String,
    /// When the turn completed, unix seconds.
    pub at: u64,
    /// Model used.
    pub model: String,
    /// Token usage.
    pub usage: Option<TokenUsage>,
}

/// One conversation in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDetail {
    /// Summary.
    pub info: SessionInfo,
    /// The turns, oldest first.
    pub turns: Vec<TurnSummary>,
}

/// Sessions part of `codexctl status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsSummary {
    /// Live session actors.
    pub active: u32,
    /// Stored conversations.
    pub stored: u32,
}
