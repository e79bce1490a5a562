//! Planning a turn: which model, effort, verbosity and summaries, which base instructions, the
//! request body — everything decided before a byte is sent, as one value. Pure decisions
//! ([`choose`]) are separate from gathering their inputs ([`plan`]) so they are tested
//! without actors.

use codexd_proto::conversation::{AskRequest, Effort, Verbosity};
use codexd_proto::instructions::{ClientVersion, ModelInfo};
use codexd_proto::{ErrorCode, WireError};
use serde_json::Value;

use super::TurnEnv;
use crate::config::{BackendConfig, SummaryMode};
use crate::instructions::{self, ResolvedInstructions};
use crate::session::body::{self, TurnBody};
use crate::session::prompts;

/// Everything a turn sends.
#[derive(Debug, Clone)]
pub struct TurnPlan {
    /// The model slug.
    pub model: String,
    /// The effort sent (after clamping).
    pub effort: Option<Effort>,
    /// The effort asked for, when clamping changed it.
    pub clamped_from: Option<Effort>,
    /// A Responses-Lite model (header + body shape).
    pub lite: bool,
    /// This turn's new items, for the history (extra developer text, the user message).
    pub new_items: Vec<Value>,
    /// The request body.
    pub body: Value,
}

/// The choices, from what was asked, configured and listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Choices {
    /// Effort to send.
    pub effort: Option<Effort>,
    /// The asked-for effort when it was clamped.
    pub clamped_from: Option<Effort>,
    /// Verbosity to send.
    pub verbosity: Option<Verbosity>,
    /// `reasoning.summary` to send.
    pub summary: Option<&'static str>,
}

/// Clamp `wanted` to `supported` (empty = anything goes): the highest supported level not
/// above it, else the lowest supported one. `None` for an effort that is neither listed nor
/// one this build can rank (a typo: the caller refuses it).
pub fn clamp_effort(wanted: &Effort, supported: &[Effort]) -> Option<Effort> {
    if supported.is_empty() || supported.contains(wanted) {
        return Some(wanted.clone());
    }
    let rank = wanted.rank()?;
    supported
        .iter()
        .filter(|e| e.rank().is_some_and(|r| r <= rank))
        .max_by_key(|e| e.rank())
        .or_else(|| supported.iter().min_by_key(|e| e.rank()))
        .cloned()
}

/// Effort, verbosity and summaries for `info` (the catalog's entry, if any). An effort the
/// model does not list and that is no known level is refused, naming the model's efforts.
pub fn choose(
    req: &AskRequest,
    cfg: &BackendConfig,
    info: Option<&ModelInfo>,
) -> Result<Choices, WireError> {
    let wanted = req
        .effort
        .clone()
        .or_else(|| cfg.effort.clone())
        .or_else(|| info.and_then(|m| m.default_effort.clone()));
    let supported = info
        .map(|m| m.supported_efforts.as_slice())
        .unwrap_or_default();
    let effort = match &wanted {
        None => None,
        Some(w) => Some(clamp_effort(w, supported).ok_or_else(|| {
            let listed: Vec<&str> = supported.iter().map(Effort::as_str).collect();
            WireError::new(
                ErrorCode::BadRequest,
                format!(
                    "'{w}' is not a reasoning effort of {}; it offers {}.",
                    info.map(|m| m.slug.as_str()).unwrap_or("this model"),
                    listed.join(", ")
                ),
            )
        })?),
    };
    let clamped_from = wanted.filter(|w| Some(w) != effort.as_ref());
    // A model the catalog says has no verbosity setting gets none; an unknown one gets what
    // was asked for.
    let verbosity = if info.is_none_or(|m| m.supports_verbosity) {
        req.verbosity
            .or(cfg.verbosity)
            .or_else(|| info.and_then(|m| m.default_verbosity))
    } else {
        None
    };
    let catalog_summary = info
        .and_then(|m| m.default_summary.as_deref())
        .filter(|s| *s != "none");
    let summary = match cfg.reasoning_summary {
        Some(SummaryMode::None) => None,
        Some(mode) => Some(mode.as_str()),
        None if req.reasoning_summaries => Some("auto"),
        None => catalog_summary.map(|s| match s {
            "concise" => "concise",
            "detailed" => "detailed",
            _ => "auto",
        }),
    };
    Ok(Choices {
        effort,
        clamped_from,
        verbosity,
        summary,
    })
}

/// Refuse a model the backend would refuse at our compatibility version, naming both numbers
/// and the setting.
pub fn check_version(
    model: &str,
    info: Option<&ModelInfo>,
    client: &ClientVersion,
) -> Result<(), WireError> {
    match info.and_then(|m| m.minimal_client_version.as_deref()) {
        Some(min) if !codexd_proto::version::at_least(&client.version, min) => Err(WireError::new(
            ErrorCode::UnsupportedModel,
            format!(
                "The model '{model}' needs compatibility version {min} or later; codexd claims {} ({}). Set backend.client_version = \"{min}\" in config.toml (or CODEXD_CLIENT_VERSION), or pick another model with --model.",
                client.version, client.source
            ),
        )),
        _ => Ok(()),
    }
}

/// Plan a turn of a conversation whose previous items are `history`.
pub async fn plan(
    env: &TurnEnv,
    req: &AskRequest,
    last_model: Option<&str>,
    history: &[Value],
    conversation: &str,
) -> Result<TurnPlan, WireError> {
    let resolved: ResolvedInstructions = env
        .instructions
        .send(instructions::GetInstructions {
            model: req.model.clone().or(last_model.map(str::to_owned)),
        })
        .await??;
    let info = resolved.info.as_ref();
    check_version(&resolved.model, info, &resolved.client_version)?;
    let choices = choose(req, &env.config.backend, info)?;
    let lite = info.is_some_and(|m| m.lite);

    let mut new_items = Vec::new();
    if let Some(extra) = req
        .developer_instructions
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        new_items.push(body::developer_message(extra));
    }
    new_items.push(body::user_message(&req.prompt, req.context.as_deref()));
    let mode = prompts::mode_message(&req.mode);
    let body = body::body(&TurnBody {
        model: &resolved.model,
        base_instructions: &resolved.text,
        mode_message: mode.as_deref(),
        history,
        new_items: &new_items,
        effort: choices.effort.as_ref(),
        summary: choices.summary,
        verbosity: choices.verbosity,
        lite,
        conversation,
    });
    Ok(TurnPlan {
        model: resolved.model,
        effort: choices.effort,
        clamped_from: choices.clamped_from,
        lite,
        new_items,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_proto::conversation::{AskMode, SessionSelector};
    use codexd_proto::instructions::ModelSource;

    fn e(s: &str) -> Effort {
        Effort::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    fn efforts(list: &[&str]) -> Vec<Effort> {
        list.iter().map(|s| e(s)).collect()
    }

    fn info(levels: &[&str], default: &str, summary: &str, verbosity: bool) -> ModelInfo {
        ModelInfo {
            slug: "m".into(),
            display_name: None,
            default_effort: Some(e(default)),
            supported_efforts: efforts(levels),
            context_window: None,
            has_base_instructions: true,
            description: None,
            lite: true,
            minimal_client_version: Some("0.142.2".into()),
            visible: true,
            priority: Some(1),
            supports_verbosity: verbosity,
            default_verbosity: Some(Verbosity::Low),
            default_summary: Some(summary.into()),
            source: ModelSource::Live,
        }
    }

    fn ask() -> AskRequest {
        AskRequest::new("hi", SessionSelector::Ephemeral, AskMode::Chat)
    }

    #[test]
    fn effort_is_clamped_to_the_listed_levels() {
        let listed = efforts(&["low", "medium", "high"]);
        assert_eq!(clamp_effort(&e("xhigh"), &[]), Some(e("xhigh")));
        assert_eq!(clamp_effort(&e("ultra"), &listed), Some(e("high")));
        assert_eq!(clamp_effort(&e("minimal"), &listed), Some(e("low")));
        assert_eq!(clamp_effort(&e("medium"), &listed), Some(e("medium")));
        assert_eq!(
            clamp_effort(&e("turbo"), &listed),
            None,
            "a typo is refused"
        );
        assert_eq!(
            clamp_effort(&e("turbo"), &efforts(&["turbo", "low"])),
            Some(e("turbo")),
            "a listed effort is sent even when this build does not know it"
        );
        let mut r = ask();
        r.effort = Some(e("huge"));
        let m = info(&["low", "medium"], "low", "none", true);
        let err = choose(&r, &BackendConfig::default(), Some(&m)).unwrap_err();
        assert!(err.message.contains("low, medium"), "{}", err.message);
    }

    #[test]
    fn catalog_defaults_apply_unless_asked_or_configured() {
        let m = info(&["low", "medium", "high", "max"], "low", "none", true);
        let c = choose(&ask(), &BackendConfig::default(), Some(&m)).unwrap();
        assert_eq!(c.effort, Some(e("low")));
        assert_eq!(c.verbosity, Some(Verbosity::Low));
        assert_eq!(c.summary, None, "catalog default none: no summary");
        let mut r = ask();
        r.effort = Some(e("ultra"));
        r.reasoning_summaries = true;
        let c = choose(&r, &BackendConfig::default(), Some(&m)).unwrap();
        assert_eq!(c.effort, Some(e("max")));
        assert_eq!(c.clamped_from, Some(e("ultra")));
        assert_eq!(c.summary, Some("auto"));
        let cfg = BackendConfig {
            reasoning_summary: Some(SummaryMode::None),
            ..BackendConfig::default()
        };
        assert_eq!(choose(&r, &cfg, Some(&m)).unwrap().summary, None);
        let no_verbosity = info(&["low"], "low", "detailed", false);
        let c = choose(&ask(), &BackendConfig::default(), Some(&no_verbosity)).unwrap();
        assert_eq!(c.verbosity, None);
        assert_eq!(c.summary, Some("detailed"));
    }

    #[test]
    fn a_model_above_the_version_is_refused_with_both_numbers() {
        let m = info(&["low"], "low", "none", true);
        let old = ClientVersion {
            version: "0.124.0".into(),
            source: "backend.client_version".into(),
        };
        let err = check_version("m", Some(&m), &old).err().map(|e| e.message);
        let msg = err.unwrap_or_default();
        assert!(
            msg.contains("0.142.2")
                && msg.contains("0.124.0")
                && msg.contains("backend.client_version")
        );
        let new = ClientVersion {
            version: "0.171.0".into(),
            source: "release rust-v0.171.0".into(),
        };
        assert!(check_version("m", Some(&m), &new).is_ok());
        assert!(check_version("m", None, &old).is_ok());
    }
}
