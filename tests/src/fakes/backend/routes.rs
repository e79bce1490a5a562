//! The fake backend's axum handlers: authorization, queued HTTP faults, `/codex/responses`
//! (validated by [`super::validate`], streamed by [`super::sse`]), `/codex/models` and
//! `/wham/*`; every response gets the usage headers.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use super::sse::*;
use super::validate::*;
use super::*;

/// The routes of the fake backend over its shared state.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/backend-api/codex/responses", post(responses))
        .route("/backend-api/codex/models", get(models))
        .route("/backend-api/wham/usage", get(wham_usage))
        .route("/backend-api/wham/accounts/check", get(accounts_check))
        .route("/backend-api/wham/{*rest}", any(wham_other))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            add_usage_headers,
        ))
        .with_state(shared)
}

// ----- handlers ----------------------------------------------------------------------------

pub(super) async fn add_usage_headers(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let usage = lock(&shared.state).usage.clone();
    for (name, value) in usage.pairs() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    resp
}

pub(super) async fn not_found() -> Response {
    json(StatusCode::NOT_FOUND, json!({ "detail": "Not Found" }))
}

/// Checks the bearer token; `Err` is the 401 to send.
pub(super) fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<AccessInfo, Box<Response>> {
    let unauthorized = |code: &str, msg: &str| {
        Box::new(api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            code,
            msg,
        ))
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized(
            "missing_authorization",
            "Missing bearer authentication in header.",
        ));
    };
    shared.registry.check_access(token).map_err(|e| match e {
        AccessError::Expired => unauthorized(
            "token_expired",
            "Provided authentication token is expired. Please try signing in again.",
        ),
        AccessError::Unknown | AccessError::Revoked => unauthorized(
            "token_invalidated",
            "Your authentication token has been invalidated. Please try signing in again.",
        ),
    })
}

pub(super) fn http_fault(fault: &BackendFault, model: &str) -> Response {
    match fault {
        BackendFault::Unauthorized => api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "token_expired",
            "Provided authentication token is expired. Please try signing in again.",
        ),
        BackendFault::ServerError { retry_after } => {
            let mut r = api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
                "An error occurred while processing your request (injected by the fake).",
            );
            if let Some(s) = retry_after
                && let Ok(v) = HeaderValue::from_str(&s.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        BackendFault::UsageLimit {
            plan_type,
            resets_at,
        } => json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "error": {
                    "type": "usage_limit_reached",
                    "message": "The usage limit has been reached",
                    "plan_type": plan_type,
                    "resets_at": resets_at,
                    "resets_in_seconds": (resets_at - now_unix()).max(0),
                }
            }),
        ),
        BackendFault::RateLimited { retry_after } => {
            let mut r = api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                "Rate limit reached. Please try again later.",
            );
            if let Some(s) = retry_after
                && let Ok(v) = HeaderValue::from_str(&s.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        BackendFault::ModelNotSupported => model_not_supported(model),
        BackendFault::Overloaded => json(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "error": {
                    "code": "server_is_overloaded",
                    "message": "Our servers are currently overloaded. Please try again later.",
                    "type": "server_error",
                }
            }),
        ),
        // Stream faults never get here.
        _ => detail(StatusCode::INTERNAL_SERVER_ERROR, "misrouted fault"),
    }
}

pub(super) fn model_not_supported(model: &str) -> Response {
    detail(
        StatusCode::BAD_REQUEST,
        &format!("The '{model}' model is not supported when using Codex with a ChatGPT account."),
    )
}

/// Pops the front fault if `want` accepts it.
pub(super) fn take_fault(
    s: &mut BackendState,
    want: impl Fn(&BackendFault) -> bool,
) -> Option<BackendFault> {
    let (fault, remaining) = s.faults.front_mut()?;
    if !want(fault) {
        return None;
    }
    let fault = fault.clone();
    if let Some(n) = remaining {
        *n = n.saturating_sub(1);
        if *n == 0 {
            s.faults.pop_front();
        }
    }
    Some(fault)
}

pub(super) async fn responses(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let model = parsed
        .as_ref()
        .and_then(|b| b.get("model"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    {
        let mut s = lock(&shared.state);
        s.response_count += 1;
        if let Some(f) = take_fault(&mut s, BackendFault::is_http) {
            return http_fault(&f, &model);
        }
    }
    let info = match authorize(&shared, &headers) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    if let Some(acct) = &info.identity.account_id {
        let sent = headers
            .get("chatgpt-account-id")
            .and_then(|v| v.to_str().ok());
        if sent != Some(acct.as_str()) {
            return api_error(
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                "account_mismatch",
                "ChatGPT-Account-ID header is missing or does not match the token's account.",
            );
        }
    }
    let present = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty())
    };
    for name in ["originator", "session-id"] {
        if !present(name) {
            return invalid(
                &format!("Missing required header: {name}"),
                Some(name),
                Some("missing_header"),
            );
        }
    }
    let Some(body) = parsed else {
        return invalid(
            "We could not parse the JSON body of your request.",
            None,
            Some("invalid_json"),
        );
    };
    let (script, noise, models) = {
        let s = lock(&shared.state);
        if model.is_empty() {
            return invalid("Missing required parameter: 'model'.", Some("model"), None);
        }
        let entry = s
            .models
            .iter()
            .find(|m| m.get("slug").and_then(Value::as_str) == Some(model.as_str()));
        if s.rejected_models.contains(&model) {
            return model_not_supported(&model);
        }
        // A `version` below the model's minimum is refused, as the real backend does.
        let version = headers.get("version").and_then(|v| v.to_str().ok());
        if let (Some(v), Some(min)) = (version, entry.and_then(catalog::minimal_version))
            && !catalog::version_at_least(v, min)
        {
            return invalid(
                &format!(
                    "The '{model}' model requires a newer version of Codex (minimal {min}, got {v})."
                ),
                Some("model"),
                Some("model_requires_newer_client"),
            );
        }
        let lite_model = entry
            .and_then(|m| m.get("use_responses_lite"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let lite_header = headers
            .get("x-openai-internal-codex-responses-lite")
            .and_then(|v| v.to_str().ok())
            == Some("true");
        if let Err(r) = validate_lite(&body, lite_model, lite_header) {
            return *r;
        }
        (s.script.clone(), s.noise, s.models.clone())
    };
    if let Err(r) = validate_body(&body, &model, &models) {
        return *r;
    }

    // Accepted: record, pick a stream fault, build the stream.
    let recorded = RecordedRequest {
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    };
    let input = body
        .get("input")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let user_msgs: Vec<&Value> = input
        .iter()
        .filter(|i| i.get("role").and_then(Value::as_str) == Some("user"))
        .collect();
    let turn = user_msgs.len();
    let last_user = user_msgs
        .last()
        .map(|m| last_text_part(m))
        .unwrap_or_default();
    let input_tokens = (body.to_string().len() as u64 / 4).max(1);
    let cache_key = body
        .get("prompt_cache_key")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let (fault, seq, cached) = {
        let mut s = lock(&shared.state);
        s.requests.push(recorded);
        s.seq += 1;
        let cached = s
            .cache_keys
            .insert(cache_key, input_tokens)
            .map_or(0, |prev| prev.min(input_tokens));
        (take_fault(&mut s, |f| !f.is_http()), s.seq, cached)
    };
    let ctx = TurnCtx {
        seq,
        tool: offered_tool(&body),
        model,
        turn,
        last_user,
        input_tokens,
        cached_tokens: cached,
    };
    let frames = plan(&script, &ctx, noise, fault.as_ref());
    sse_response(frames, &shared.streams)
}

pub(super) async fn models(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    lock(&shared.state).models_count += 1;
    if let Err(r) = authorize(&shared, &headers) {
        return *r;
    }
    let q = super::super::parse_query(raw.as_deref());
    if q.get("client_version").is_none_or(String::is_empty) {
        return invalid(
            "Missing required parameter: 'client_version'.",
            Some("client_version"),
            Some("missing_required_parameter"),
        );
    }
    // The backend hides models whose minimal client version is above the caller's.
    let client = q.get("client_version").cloned().unwrap_or_default();
    lock(&shared.state).models_calls.push((
        client.clone(),
        headers
            .get("version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    ));
    let visible: Vec<Value> = lock(&shared.state)
        .models
        .iter()
        .filter(|m| {
            catalog::minimal_version(m).is_none_or(|min| catalog::version_at_least(&client, min))
        })
        .cloned()
        .collect();
    let (body, etag) = models_body_and_etag(&visible);
    if etag_matches(&headers, &etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "application/json".to_owned()),
        ],
        body,
    )
        .into_response()
}

pub(super) fn models_body_and_etag(models: &[Value]) -> (String, String) {
    let body = json!({ "models": models }).to_string();
    let etag = etag_of(&[body.as_bytes()]);
    (body, etag)
}

pub(super) async fn wham_usage(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    lock(&shared.state).usage_count += 1;
    let info = match authorize(&shared, &headers) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let u = lock(&shared.state).usage.clone();
    let now = now_unix();
    let window = |used: f64, minutes: u64, reset_at: i64| {
        json!({
            "used_percent": used,
            "limit_window_seconds": minutes * 60,
            "reset_after_seconds": (reset_at - now).max(0),
            "reset_at": reset_at,
        })
    };
    json(
        StatusCode::OK,
        json!({
            "plan_type": info.identity.plan_type,
            "rate_limit": {
                "allowed": true,
                "limit_reached": false,
                "primary_window":
                    window(u.primary_used_percent, u.primary_window_minutes, u.primary_reset_at),
                "secondary_window": window(
                    u.secondary_used_percent,
                    u.secondary_window_minutes,
                    u.secondary_reset_at,
                ),
            },
            "credits": {
                "has_credits": u.credits_has_credits,
                "unlimited": u.credits_unlimited,
                "balance": u.credits_balance,
            },
        }),
    )
}

pub(super) async fn accounts_check(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    lock(&shared.state).accounts_checks += 1;
    if let Err(r) = authorize(&shared, &headers) {
        return *r;
    }
    match lock(&shared.state).accounts_check.clone() {
        Some(v) => json(StatusCode::OK, v),
        None => detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}

pub(super) async fn wham_other() -> Response {
    json(StatusCode::OK, json!({}))
}
