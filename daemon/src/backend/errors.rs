//! Backend failures → [`WireError`]s with the right [`ErrorCode`] and a message that says what
//! happened and what to do next. Covers HTTP error responses (status + JSON body) and the
//! `response.failed` / `error` events inside a stream. Bodies are never echoed wholesale: only
//! the server's own `message`/`detail` text, shortened.

use codexd_proto::conversation::RateLimits;
use codexd_proto::{ErrorCode, WireError};
use serde_json::Value;

/// How the turn driver should react to a failed HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpFailure {
    /// 401: refresh the token once and retry.
    Unauthorized,
    /// 5xx: retry with backoff; `error` is what to report when retries run out.
    Retryable(WireError),
    /// The model is not offered to this account; the driver adds the list of models.
    UnsupportedModel {
        /// The server's sentence.
        message: String,
    },
    /// Report as is.
    Fatal(WireError),
}

/// The server's error fields, from any of the shapes it uses:
/// `{"error": {"message","type","code",…}}`, `{"detail": "…"}`, or plain text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ErrorBody {
    /// `error.type`
    pub kind: Option<String>,
    /// `error.code`
    pub code: Option<String>,
    /// `error.message` or `detail`
    pub message: Option<String>,
    /// `error.plan_type` (usage limit)
    pub plan_type: Option<String>,
    /// `error.resets_at`, or now + `error.resets_in_seconds`
    pub resets_at: Option<u64>,
}

impl ErrorBody {
    /// Parse a response body; never fails.
    pub fn parse(body: &str, now: u64) -> Self {
        let Ok(v) = serde_json::from_str::<Value>(body) else {
            let text = body.trim();
            return Self {
                message: (!text.is_empty() && !text.starts_with('<')).then(|| shorten(text)),
                ..Self::default()
            };
        };
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let err = v.get("error");
        let (kind, code, message) = match err {
            Some(Value::String(code)) => (None, Some(code.clone()), s(v.get("error_description"))),
            Some(e) => (s(e.get("type")), s(e.get("code")), s(e.get("message"))),
            None => (None, None, None),
        };
        let detail = match v.get("detail") {
            Some(Value::String(d)) => Some(d.clone()),
            Some(other @ (Value::Object(_) | Value::Array(_))) => Some(other.to_string()),
            _ => None,
        };
        let resets_at = err
            .and_then(|e| e.get("resets_at"))
            .and_then(Value::as_u64)
            .or_else(|| {
                err.and_then(|e| e.get("resets_in_seconds"))
                    .and_then(Value::as_u64)
                    .map(|s| now + s)
            });
        Self {
            kind,
            code,
            message: message.or(detail).map(|m| shorten(&m)),
            plan_type: err.and_then(|e| s(e.get("plan_type"))),
            resets_at,
        }
    }

    fn is(&self, what: &str) -> bool {
        self.kind.as_deref() == Some(what) || self.code.as_deref() == Some(what)
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 400;
    let s = s.trim();
    if s.chars().count() <= MAX {
        return s.to_owned();
    }
    let cut: String = s.chars().take(MAX).collect();
    format!("{cut}…")
}

/// Classify a non-2xx response.
pub fn classify_http(
    status: u16,
    body: &str,
    limits: Option<&RateLimits>,
    now: u64,
) -> HttpFailure {
    let e = ErrorBody::parse(body, now);
    let server_says = e
        .message
        .as_deref()
        .map(|m| m.trim_end_matches('.').to_owned())
        .unwrap_or_else(|| format!("HTTP {status} with no explanation"));
    if e.is("usage_limit_reached") {
        return HttpFailure::Fatal(usage_limit(&e, limits, now));
    }
    if e.is("usage_not_included") {
        return HttpFailure::Fatal(usage_not_included());
    }
    if e.is("context_length_exceeded") {
        return HttpFailure::Fatal(context_too_long());
    }
    if server_says.contains("not supported when using Codex with a ChatGPT account") {
        return HttpFailure::UnsupportedModel {
            message: server_says,
        };
    }
    match status {
        401 => HttpFailure::Unauthorized,
        429 => HttpFailure::Fatal(
            WireError::new(
                ErrorCode::Overloaded,
                format!(
                    "The Codex backend is rate-limiting requests ({server_says}); wait a little and ask again."
                ),
            )
            .with_retry_at(e.resets_at),
        ),
        503 if e.is("server_is_overloaded") || e.is("slow_down") => {
            HttpFailure::Retryable(overloaded())
        }
        500..=599 => HttpFailure::Retryable(WireError::new(
            ErrorCode::Backend,
            format!(
                "The Codex backend failed with HTTP {status} ({server_says}) and kept failing after retries; try again in a few minutes."
            ),
        )),
        400 | 422 => HttpFailure::Fatal(WireError::new(
            ErrorCode::BadRequest,
            format!(
                "The Codex backend rejected the request: {server_says}. Check the model and options (`codexctl models` lists what your plan offers)."
            ),
        )),
        403 => HttpFailure::Fatal(WireError::new(
            ErrorCode::Backend,
            format!(
                "The Codex backend refused the request (HTTP 403: {server_says}). Check that your workspace has Codex enabled, or sign in again with `codexctl login`."
            ),
        )),
        _ => HttpFailure::Fatal(WireError::new(
            ErrorCode::Backend,
            format!("The Codex backend answered HTTP {status}: {server_says}."),
        )),
    }
}

/// `response.failed` / `error` events: `code` and `message` from the event.
pub fn classify_failed(
    code: Option<&str>,
    message: Option<&str>,
    limits: Option<&RateLimits>,
    now: u64,
) -> WireError {
    let msg = message.map(shorten).unwrap_or_default();
    match code.unwrap_or("") {
        "context_length_exceeded" => context_too_long(),
        "usage_not_included" => usage_not_included(),
        "insufficient_quota" | "usage_limit_reached" => usage_limit(
            &ErrorBody {
                message: Some(msg),
                ..ErrorBody::default()
            },
            limits,
            now,
        ),
        "rate_limit_exceeded" => {
            let wait = try_again_in(&msg);
            WireError::new(
                ErrorCode::Overloaded,
                match wait {
                    Some(s) => format!(
                        "The Codex backend is rate-limiting requests; try again in {}.",
                        codexd_proto::human::duration(s)
                    ),
                    None => {
                        "The Codex backend is rate-limiting requests; wait a little and ask again."
                            .into()
                    }
                },
            )
            .with_retry_at(wait.map(|s| now + s))
        }
        "server_is_overloaded" | "slow_down" => overloaded(),
        "" => WireError::new(
            ErrorCode::Backend,
            if msg.is_empty() {
                "The Codex backend reported a failure without details; ask again.".to_string()
            } else {
                format!("The Codex backend reported a failure: {msg}")
            },
        ),
        other => WireError::new(
            ErrorCode::Backend,
            format!("The Codex backend reported a failure ({other}): {msg}"),
        ),
    }
}

/// Seconds from "… try again in 5s." / "… in 1.5 seconds".
fn try_again_in(msg: &str) -> Option<u64> {
    let lower = msg.to_ascii_lowercase();
    let rest = &lower[lower.find("try again in")? + "try again in".len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let v: f64 = num.parse().ok()?;
    let unit = rest.trim_start()[num.len()..].trim_start();
    let secs = if unit.starts_with("ms") {
        v / 1000.0
    } else if unit.starts_with("min") {
        v * 60.0
    } else {
        v
    };
    Some(secs.ceil().max(1.0) as u64)
}

fn usage_not_included() -> WireError {
    WireError::new(
        ErrorCode::UsageNotIncluded,
        "Your ChatGPT plan does not include Codex. Upgrade the plan (or sign in with another account using `codexctl login`) to use it.",
    )
}

fn context_too_long() -> WireError {
    WireError::new(
        ErrorCode::ContextTooLong,
        "This conversation is longer than the model's context window. Start a fresh one with `codexctl ask --new`, or send less piped text.",
    )
}

fn overloaded() -> WireError {
    WireError::new(
        ErrorCode::Overloaded,
        "The Codex backend is overloaded right now; try again in a minute.",
    )
}

/// "You have reached your plus usage limit for the 5-hour window; it resets at 14:05 (in 2 h 11 min)."
fn usage_limit(e: &ErrorBody, limits: Option<&RateLimits>, now: u64) -> WireError {
    let plan = e
        .plan_type
        .as_deref()
        .map(|p| format!("{p} "))
        .unwrap_or_default();
    let window = which_window(e.resets_at, limits, now);
    let mut msg = format!("You have reached your {plan}usage limit");
    if let Some(w) = window {
        msg.push_str(&format!(" for the {w} window"));
    }
    match e.resets_at {
        Some(at) if at > now => msg.push_str(&format!(
            "; it resets at {} (in {}). Ask again then, or add credits to your plan.",
            codexd_proto::human::clock(at),
            codexd_proto::human::duration(at - now)
        )),
        _ => msg.push_str(". Wait for the window to reset (`codexctl status` shows when), or add credits to your plan."),
    }
    WireError::new(ErrorCode::UsageLimit, msg).with_retry_at(e.resets_at)
}

/// Which window ran out: the one the headers show full, else guessed from the reset time.
fn which_window(
    resets_at: Option<u64>,
    limits: Option<&RateLimits>,
    now: u64,
) -> Option<&'static str> {
    if let Some(l) = limits {
        let full = |w: &Option<codexd_proto::conversation::UsageWindow>| {
            w.as_ref().is_some_and(|w| w.used_percent >= 100.0)
        };
        if full(&l.secondary) {
            return Some("weekly");
        }
        if full(&l.primary) {
            return Some("5-hour");
        }
    }
    let at = resets_at?;
    Some(if at.saturating_sub(now) <= 5 * 3600 + 60 {
        "5-hour"
    } else {
        "weekly"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn fatal(f: HttpFailure) -> WireError {
        match f {
            HttpFailure::Fatal(e) | HttpFailure::Retryable(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn usage_limit_names_plan_window_and_reset() {
        let body = format!(
            r#"{{"error":{{"type":"usage_limit_reached","plan_type":"plus","resets_at":{}}}}}"#,
            NOW + 2 * 3600 + 11 * 60
        );
        let e = fatal(classify_http(429, &body, None, NOW));
        assert_eq!(e.code, ErrorCode::UsageLimit);
        assert_eq!(e.retry_at, Some(NOW + 2 * 3600 + 11 * 60));
        assert!(
            e.message.starts_with(
                "You have reached your plus usage limit for the 5-hour window; it resets at "
            ),
            "{}",
            e.message
        );
        assert!(e.message.contains("(in 2 h 11 min)"), "{}", e.message);
        // Older shape: resets_in_seconds; a far reset is the weekly window.
        let body = r#"{"error":{"type":"usage_limit_reached","plan_type":"pro","resets_in_seconds":259200}}"#;
        let e = fatal(classify_http(429, body, None, NOW));
        assert!(
            e.message.contains("pro usage limit for the weekly window"),
            "{}",
            e.message
        );
        assert_eq!(e.retry_at, Some(NOW + 259_200));
    }

    #[test]
    fn each_failure_has_its_code() {
        let nf = |s, b: &str| classify_http(s, b, None, NOW);
        assert_eq!(
            nf(401, r#"{"error":{"code":"token_expired"}}"#),
            HttpFailure::Unauthorized
        );
        assert_eq!(
            fatal(nf(403, r#"{"error":{"code":"usage_not_included"}}"#)).code,
            ErrorCode::UsageNotIncluded
        );
        assert_eq!(
            fatal(nf(
                400,
                r#"{"error":{"code":"context_length_exceeded","message":"x"}}"#
            ))
            .code,
            ErrorCode::ContextTooLong
        );
        assert!(matches!(
            nf(
                400,
                r#"{"detail":"The 'gpt-x' model is not supported when using Codex with a ChatGPT account."}"#
            ),
            HttpFailure::UnsupportedModel { .. }
        ));
        assert!(matches!(
            nf(503, r#"{"error":{"code":"server_is_overloaded"}}"#),
            HttpFailure::Retryable(WireError {
                code: ErrorCode::Overloaded,
                ..
            })
        ));
        assert!(matches!(
            nf(502, "<html>bad gateway</html>"),
            HttpFailure::Retryable(_)
        ));
        let bad = fatal(nf(
            400,
            r#"{"error":{"message":"Unsupported value: 'xhigh'"}}"#,
        ));
        assert_eq!(bad.code, ErrorCode::BadRequest);
        assert!(bad.message.contains("Unsupported value: 'xhigh'"));
        assert_eq!(
            fatal(nf(429, r#"{"error":{"code":"rate_limit_exceeded"}}"#)).code,
            ErrorCode::Overloaded
        );
    }

    #[test]
    fn stream_failures() {
        let f = |c, m| classify_failed(Some(c), Some(m), None, NOW);
        assert_eq!(
            f("context_length_exceeded", "too long").code,
            ErrorCode::ContextTooLong
        );
        assert_eq!(
            f("usage_not_included", "").code,
            ErrorCode::UsageNotIncluded
        );
        assert_eq!(f("insufficient_quota", "").code, ErrorCode::UsageLimit);
        let r = f(
            "rate_limit_exceeded",
            "Rate limit reached. Please try again in 5s.",
        );
        assert_eq!(r.code, ErrorCode::Overloaded);
        assert_eq!(r.retry_at, Some(NOW + 5));
        assert!(r.message.contains("try again in 5 s"), "{}", r.message);
        assert_eq!(f("weird", "boom").code, ErrorCode::Backend);
    }
}
