//! Self-tests: the fakes enforce the rules the real services enforce (PKCE, exact redirect URI,
//! single-use codes, rotating refresh tokens, revocation, no item ids, SSE order, ETag/304,
//! rate limits) and their faults do what they say. Driven with reqwest over real sockets.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use super::auth::pkce_pair;
use super::backend::{BackendFault, Fixture};
use super::catalog::{CLASSIC_MODEL, DEFAULT_MODEL, FUTURE_MODEL};
use super::github::{DEFAULT_TAG, RateLimitFault};
use super::tokens::{DEFAULT_CLIENT_ID, TokenSet};
use super::{FakeBackend, FakeGitHub, FakeServer, FakeStack, wait_until};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A started stack, an HTTP client and a freshly minted login: where backend tests begin.
async fn signed_in()
-> Result<(FakeStack, reqwest::Client, TokenSet), Box<dyn std::error::Error + Send + Sync>> {
    let stack = FakeStack::start().await?;
    let login = stack.auth.mint_login();
    Ok((stack, client(), login))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("reqwest client")
}

fn redirect_uri(port: u16) -> String {
    format!("http://localhost:{port}/auth/callback")
}

/// Calls authorize and returns (code, state) from the redirect.
async fn authorize(
    c: &reqwest::Client,
    issuer: &str,
    redirect: &str,
    challenge: &str,
) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
    let resp = c
        .get(format!("{issuer}/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", redirect),
            ("scope", "openid profile email offline_access"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("id_token_add_organizations", "true"),
            ("codex_cli_simplified_flow", "true"),
            ("state", "st4te-value"),
            ("originator", "codex_cli_rs"),
        ])
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let loc = resp
        .headers()
        .get("location")
        .ok_or("no location")?
        .to_str()?;
    let url = url::Url::parse(loc)?;
    assert!(loc.starts_with(redirect));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    Ok((
        q.get("code").cloned().ok_or("no code")?,
        q.get("state").cloned().ok_or("no state")?,
    ))
}

async fn exchange(
    c: &reqwest::Client,
    issuer: &str,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> reqwest::Result<reqwest::Response> {
    c.post(format!("{issuer}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", DEFAULT_CLIENT_ID),
            ("code_verifier", verifier),
        ])
        .send()
        .await
}

/// Upstream's JSON refresh request.
fn refresh_body(refresh_token: &str) -> Value {
    json!({
        "client_id": DEFAULT_CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    })
}

/// A valid `/codex/responses` body with the given input.
fn body(input: Value) -> Value {
    json!({
        "model": CLASSIC_MODEL,
        "instructions": "FAKE prompt",
        "input": input,
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": { "effort": "medium", "summary": "auto" },
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "conv-1",
    })
}

fn user(text: &str) -> Value {
    json!({
        "type": "message", "role": "user",
        "content": [{ "type": "input_text", "text": text }],
    })
}

async fn post_responses(
    c: &reqwest::Client,
    backend: &FakeBackend,
    access: &str,
    account: Option<&str>,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    let mut req = c
        .post(format!("{}/codex/responses", backend.base_url()))
        .bearer_auth(access)
        .header("originator", "codexd_test")
        .header("session-id", "conv-1")
        .header("accept", "text/event-stream")
        .json(body);
    if let Some(a) = account {
        req = req.header("ChatGPT-Account-ID", a);
    }
    req.send().await
}

/// [`post_responses`] as the signed-in `login` (its access token and account id).
async fn post_as(
    c: &reqwest::Client,
    backend: &FakeBackend,
    login: &TokenSet,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    post_responses(
        c,
        backend,
        &login.access_token,
        login.account_id.as_deref(),
        body,
    )
    .await
}

/// `data:` payloads that parse as JSON, in order.
fn sse_events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .flat_map(|block| block.lines())
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_redirect_and_single_use_codes() -> TestResult {
    let stack = FakeStack::start().await?;
    let (c, issuer, redirect) = (client(), stack.auth.url(), redirect_uri(1455));

    // Wrong verifier: rejected, and the code is consumed by the attempt.
    let (verifier, challenge) = pkce_pair();
    let (code, state) = authorize(&c, &issuer, &redirect, &challenge).await?;
    assert_eq!(state, "st4te-value");
    let (wrong, _) = pkce_pair();
    let r = exchange(&c, &issuer, &code, &redirect, &wrong).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await?["error"], "invalid_grant");
    let r = exchange(&c, &issuer, &code, &redirect, &verifier).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // redirect_uri mismatch.
    let (code, _) = authorize(&c, &issuer, &redirect, &challenge).await?;
    let r = exchange(&c, &issuer, &code, &redirect_uri(1457), &verifier).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.json::<Value>().await?["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("redirect_uri")
    );

    // Success, then the code cannot be used again.
    let (code, _) = authorize(&c, &issuer, &redirect, &challenge).await?;
    let r = exchange(&c, &issuer, &code, &redirect, &verifier).await?;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await?;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().ok_or("access")?;
    let claims = super::jwt::decode(access).ok_or("jwt")?;
    assert_eq!(
        claims[super::jwt::AUTH_CLAIM]["chatgpt_account_id"],
        json!(stack.auth.identity().account_id)
    );
    let r = exchange(&c, &issuer, &code, &redirect, &verifier).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let issued = stack.auth.issued_tokens();
    for s in [access, &code, &verifier, "st4te-value"] {
        assert!(issued.iter().any(|t| t == s), "missing secret {s}");
    }
    assert_eq!(stack.auth.code_exchange_count(), 5);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_rejects_bad_requests_and_can_deny() -> TestResult {
    let stack = FakeStack::start().await?;
    let c = client();
    let url = format!("{}/oauth/authorize", stack.auth.url());
    let (_, challenge) = pkce_pair();
    let base = |client_id: &str, redirect: &str, method: &str| {
        vec![
            ("response_type".to_owned(), "code".to_owned()),
            ("client_id".into(), client_id.into()),
            ("redirect_uri".into(), redirect.into()),
            ("scope".into(), "openid profile email offline_access".into()),
            ("code_challenge".into(), challenge.clone()),
            ("code_challenge_method".into(), method.into()),
            ("state".into(), "s".into()),
            ("originator".into(), "codex_cli_rs".into()),
        ]
    };
    let mut not_allow_listed = base(DEFAULT_CLIENT_ID, &redirect_uri(1455), "S256");
    not_allow_listed.pop();
    not_allow_listed.push(("originator".into(), "codexd".into()));
    for q in [
        base("app_other", &redirect_uri(1455), "S256"),
        base(
            DEFAULT_CLIENT_ID,
            "http://192.168.1.2:1455/auth/callback",
            "S256",
        ),
        base(DEFAULT_CLIENT_ID, &redirect_uri(1455), "plain"),
        not_allow_listed.clone(),
    ] {
        let r = c.get(&url).query(&q).send().await?;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q:?}");
    }
    let r = c.get(&url).query(&not_allow_listed).send().await?;
    assert_eq!(
        r.json::<Value>().await?["error"],
        "missing_required_parameter",
        "an originator off the allow-list dead-ends like the real consent page"
    );
    stack.auth.set_deny_entitlement(true);
    let r = c
        .get(&url)
        .query(&base(DEFAULT_CLIENT_ID, &redirect_uri(1455), "S256"))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str()?;
    assert!(loc.contains("error=access_denied"), "{loc}");
    assert!(
        loc.contains("error_description=missing_codex_entitlement"),
        "{loc}"
    );
    assert!(loc.contains("state=s"), "{loc}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_reuse_kills_the_login() -> TestResult {
    let stack = FakeStack::start().await?;
    let c = client();
    let token_url = format!("{}/oauth/token", stack.auth.url());
    let login = stack.auth.mint_login();

    // JSON refresh.
    let r = c
        .post(&token_url)
        .json(&refresh_body(&login.refresh_token))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    let second: Value = r.json().await?;
    let rt2 = second["refresh_token"].as_str().ok_or("rt")?.to_owned();
    assert_ne!(rt2, login.refresh_token);
    assert_eq!(stack.auth.live_refresh_token(), Some(rt2.clone()));

    // Form refresh with the new token.
    let r = c
        .post(&token_url)
        .form(&[
            ("client_id", DEFAULT_CLIENT_ID),
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    let third: Value = r.json().await?;
    let access3 = third["access_token"].as_str().ok_or("at")?.to_owned();

    // Reusing an old one: refresh_token_reused, and the whole login dies.
    let r = c.post(&token_url).json(&refresh_body(&rt2)).send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await?["error"]["code"],
        "refresh_token_reused"
    );
    assert_eq!(stack.auth.live_refresh_token(), None);
    let r = post_responses(
        &c,
        &stack.backend,
        &access3,
        login.account_id.as_deref(),
        &body(json!([user("hi")])),
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Unknown token, and the expired switch.
    let refresh = |rt: String| c.post(&token_url).json(&refresh_body(&rt)).send();
    let r = refresh("rt_unknown".into()).await?;
    assert_eq!(
        r.json::<Value>().await?["error"]["code"],
        "refresh_token_invalidated"
    );
    stack.auth.set_refresh_expired(true);
    let fresh = stack.auth.mint_login();
    let r = refresh(fresh.refresh_token.clone()).await?;
    assert_eq!(
        r.json::<Value>().await?["error"]["code"],
        "refresh_token_expired"
    );
    assert_eq!(stack.auth.refresh_count(), 5);

    // Injected 500s come first, then normal service.
    stack.auth.set_refresh_expired(false);
    stack.auth.fail_token_requests(2);
    for _ in 0..2 {
        let r = refresh(fresh.refresh_token.clone()).await?;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let r = refresh(fresh.refresh_token.clone()).await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(stack.auth.token_calls(), 8);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_tokens_are_rejected_by_the_backend() -> TestResult {
    let (stack, c, login) = signed_in().await?;
    let acct = login.account_id.as_deref();
    let ok = post_as(&c, &stack.backend, &login, &body(json!([user("a")]))).await?;
    assert_eq!(ok.status(), StatusCode::OK);
    ok.text().await?;

    // Revoke failing first: the token stays valid.
    stack.auth.set_revoke_failing(true);
    let revoke = |t: String| {
        c.post(format!("{}/oauth/revoke", stack.auth.url()))
            .json(&json!({
                "token": t, "token_type_hint": "refresh_token", "client_id": DEFAULT_CLIENT_ID,
            }))
            .send()
    };
    assert_eq!(
        revoke(login.refresh_token.clone()).await?.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    stack.auth.set_revoke_failing(false);
    let r = revoke(login.refresh_token.clone()).await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await?, json!({}));
    assert_eq!(stack.auth.revoke_count(), 2);
    assert_eq!(
        stack.auth.revoked_tokens(),
        vec![login.refresh_token.clone()]
    );

    let r = post_as(&c, &stack.backend, &login, &body(json!([user("a")]))).await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await?["error"]["code"],
        "token_invalidated"
    );

    // Server-side expiry: 401 token_expired.
    let other = stack.auth.mint_login();
    stack.auth.expire_access_tokens();
    let r = post_responses(
        &c,
        &stack.backend,
        &other.access_token,
        acct,
        &body(json!([user("a")])),
    )
    .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await?["error"]["code"], "token_expired");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_order_history_and_item_ids() -> TestResult {
    let (stack, c, login) = signed_in().await?;
    let r = post_as(&c, &stack.backend, &login, &body(json!([user("hello")]))).await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["x-codex-primary-window-minutes"], "300");
    assert_eq!(r.headers()["x-codex-secondary-window-minutes"], "10080");
    assert!(r.headers().contains_key("x-codex-credits-balance"));
    let events = sse_events(&r.text().await?);
    let t = types(&events);
    assert_eq!(t.first().map(String::as_str), Some("response.created"));
    assert_eq!(t.last().map(String::as_str), Some("response.completed"));
    let pos = |name: &str| t.iter().position(|x| x == name).unwrap_or(usize::MAX);
    assert!(pos("response.output_item.added") < pos("response.reasoning_summary_text.delta"));
    assert!(pos("response.reasoning_summary_text.delta") < pos("response.output_text.delta"));
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(deltas, "turn 1: hello");
    let done: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
        .map(|e| &e["item"])
        .collect();
    assert_eq!(done.len(), 2);
    assert_eq!(done[0]["type"], "reasoning");
    assert_eq!(done[1]["content"][0]["text"], "turn 1: hello");
    let usage = &events.last().ok_or("no events")?["response"]["usage"];
    assert!(usage["total_tokens"].as_u64().unwrap_or(0) > 0);

    // Echoing output items with their ids: rejected.
    let mut history = vec![
        user("hello"),
        done[0].clone(),
        done[1].clone(),
        user("again"),
    ];
    let r = post_as(&c, &stack.backend, &login, &body(json!(history))).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let msg = r.json::<Value>().await?["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(msg.contains("not found"), "{msg}");

    // Without ids it works, and the turn count grows.
    for item in &mut history {
        if let Some(m) = item.as_object_mut() {
            m.remove("id");
            m.remove("status");
        }
    }
    let r = post_as(&c, &stack.backend, &login, &body(json!(history))).await?;
    assert_eq!(r.status(), StatusCode::OK);
    let events = sse_events(&r.text().await?);
    let completed = events.last().ok_or("no events")?;
    assert_eq!(completed["type"], "response.completed");
    assert!(
        completed["response"]["usage"]["input_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    let reqs = stack.backend.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].texts_of("user"), vec!["hello", "again"]);
    assert_eq!(reqs[1].header("originator"), Some("codexd_test"));
    assert_eq!(stack.backend.response_count(), 3);

    // Other validation: store, account header, wrong content type for assistant.
    let mut b = body(json!([user("x")]));
    b["store"] = json!(true);
    let r = post_as(&c, &stack.backend, &login, &b).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post_responses(
        &c,
        &stack.backend,
        &login.access_token,
        None,
        &body(json!([user("x")])),
    )
    .await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let bad = json!([{
        "type": "message", "role": "assistant",
        "content": [{ "type": "input_text", "text": "x" }],
    }]);
    let r = post_as(&c, &stack.backend, &login, &body(bad)).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let mut b = body(json!([user("x")]));
    b["reasoning"]["effort"] = json!("max");
    let r = post_as(&c, &stack.backend, &login, &b).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_contract_lite_versions_and_rejected_shapes() -> TestResult {
    let (stack, c, login) = signed_in().await?;
    let acct = login.account_id.as_deref();
    let send = |body: Value, extra: Vec<(&'static str, &'static str)>| {
        let mut req = c
            .post(format!("{}/codex/responses", stack.backend.base_url()))
            .bearer_auth(&login.access_token)
            .header("originator", "codexd_test")
            .header("session-id", "conv-1")
            .header("ChatGPT-Account-ID", acct.unwrap_or_default())
            .json(&body);
        for (k, v) in extra {
            req = req.header(k, v);
        }
        req.send()
    };
    let lite_body = || {
        let mut b = body(json!([user("x")]));
        b["model"] = json!(DEFAULT_MODEL);
        b["reasoning"] = json!({"effort": "low", "context": "all_turns"});
        let o = b.as_object_mut().expect("object");
        o.remove("tools");
        o.remove("instructions");
        b
    };
    const LITE: (&str, &str) = ("x-openai-internal-codex-responses-lite", "true");
    // The lite contract.
    assert_eq!(
        send(lite_body(), vec![LITE]).await?.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(lite_body(), vec![]).await?.status(),
        StatusCode::BAD_REQUEST,
        "a lite model without the header"
    );
    let mut no_context = lite_body();
    no_context["reasoning"] = json!({"effort": "low"});
    let r = send(no_context, vec![LITE]).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await?.contains("all_turns"));
    for key in ["tools", "instructions"] {
        let mut b = lite_body();
        b[key] = if key == "tools" {
            json!([])
        } else {
            json!("x")
        };
        assert_eq!(
            send(b, vec![LITE]).await?.status(),
            StatusCode::BAD_REQUEST,
            "{key}"
        );
    }
    // Versions: below the model's minimum is refused; at or above is served.
    let r = send(lite_body(), vec![LITE, ("version", "0.130.0")]).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await?.contains("requires a newer version"));
    assert_eq!(
        send(lite_body(), vec![LITE, ("version", "0.171.0")])
            .await?
            .status(),
        StatusCode::OK
    );
    let mut future = lite_body();
    future["model"] = json!(FUTURE_MODEL);
    assert_eq!(
        send(future, vec![LITE, ("version", "0.171.0")])
            .await?
            .status(),
        StatusCode::BAD_REQUEST
    );
    // Rejected shapes: system items, unsupported parameters, item references.
    let system = body(
        json!([{"type": "message", "role": "system", "content": [{"type": "input_text", "text": "x"}]}]),
    );
    assert_eq!(
        send(system, vec![]).await?.status(),
        StatusCode::BAD_REQUEST
    );
    for (param, value) in [
        ("temperature", json!(0.2)),
        ("max_output_tokens", json!(5)),
        ("previous_response_id", json!("resp_1")),
    ] {
        let mut b = body(json!([user("x")]));
        b[param] = value;
        assert_eq!(
            send(b, vec![]).await?.status(),
            StatusCode::BAD_REQUEST,
            "{param}"
        );
    }
    let reference = body(json!([{"type": "item_reference", "id": "msg_1"}]));
    assert_eq!(
        send(reference, vec![]).await?.status(),
        StatusCode::BAD_REQUEST
    );
    // The underscore session header no longer counts.
    let r = c
        .post(format!("{}/codex/responses", stack.backend.base_url()))
        .bearer_auth(&login.access_token)
        .header("originator", "codexd_test")
        .header("session_id", "conv-1")
        .header("ChatGPT-Account-ID", acct.unwrap_or_default())
        .json(&body(json!([user("x")])))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The catalog is filtered by client_version.
    let models = |v: &'static str| {
        c.get(format!(
            "{}/codex/models?client_version={v}",
            stack.backend.base_url()
        ))
        .bearer_auth(&login.access_token)
        .send()
    };
    let slugs = |v: Value| -> Vec<String> {
        v["models"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["slug"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(slugs(models("0.1.0").await?.json().await?).is_empty());
    let at_171 = slugs(models("0.171.0").await?.json().await?);
    assert!(
        at_171.contains(&DEFAULT_MODEL.to_string()) && !at_171.contains(&FUTURE_MODEL.to_string())
    );
    assert!(slugs(models("9.0.0").await?.json().await?).contains(&FUTURE_MODEL.to_string()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_faults() -> TestResult {
    let (stack, c, login) = signed_in().await?;
    let b = body(json!([user("x")]));
    let send = || post_as(&c, &stack.backend, &login, &b);

    stack.backend.push_fault(BackendFault::Unauthorized, 1);
    stack.backend.push_fault(
        BackendFault::ServerError {
            retry_after: Some(2),
        },
        1,
    );
    stack
        .backend
        .push_fault(BackendFault::usage_limit_in(60), 1);
    stack.backend.push_fault(BackendFault::ModelNotSupported, 1);
    stack.backend.push_fault(BackendFault::Overloaded, 1);
    let r = send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = send().await?;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.headers()["retry-after"], "2");
    assert!(r.headers().contains_key("x-codex-primary-used-percent"));
    let r = send().await?;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let v: Value = r.json().await?;
    assert_eq!(v["error"]["type"], "usage_limit_reached");
    assert!(v["error"]["resets_at"].as_i64().is_some());
    let r = send().await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await?["detail"],
        format!(
            "The '{CLASSIC_MODEL}' model is not supported when using Codex with a ChatGPT account."
        )
    );
    let r = send().await?;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.json::<Value>().await?["error"]["code"],
        "server_is_overloaded"
    );

    // Stream cut after 2 events: no response.completed.
    stack.backend.push_fault(BackendFault::CutAfter(2), 1);
    let t = types(&sse_events(&send().await?.text().await?));
    assert_eq!(t.len(), 2);
    assert!(!t.iter().any(|x| x == "response.completed"));

    // response.failed.
    stack.backend.push_fault(
        BackendFault::failed("context_length_exceeded", "too long"),
        1,
    );
    let ev = sse_events(&send().await?.text().await?);
    assert_eq!(types(&ev), ["response.created", "response.failed"]);
    assert_eq!(
        ev[1]["response"]["error"]["code"],
        "context_length_exceeded"
    );

    // Noise: unknown events and a garbage line, yet the known events are all there.
    stack.backend.set_noise(true);
    let text = send().await?.text().await?;
    assert!(text.contains("data: {this is not json"));
    let t = types(&sse_events(&text));
    assert!(t.iter().any(|x| x == "codex.fake_unknown"));
    assert_eq!(t.last().map(String::as_str), Some("response.completed"));
    stack.backend.set_noise(false);

    // Fixtures.
    stack
        .backend
        .push_fault(BackendFault::Fixture(Fixture::Incomplete), 1);
    assert_eq!(
        types(&sse_events(&send().await?.text().await?)),
        ["response.output_item.done"]
    );
    stack
        .backend
        .push_fault(BackendFault::Fixture(Fixture::ZeroUsage), 1);
    let ev = sse_events(&send().await?.text().await?);
    assert_eq!(ev[2]["response"]["usage"]["total_tokens"], 0);
    assert!(ev[2]["response"]["usage"]["input_tokens_details"].is_null());

    // A hanging stream whose client leaves is counted as cancelled.
    stack.backend.push_fault(BackendFault::HangAfter(1), 1);
    let mut r = send().await?;
    let first = r.chunk().await?.ok_or("no first chunk")?;
    assert!(String::from_utf8_lossy(&first).contains("response.created"));
    assert_eq!(stack.backend.open_streams(), 1);
    drop(r);
    assert!(eventually(|| stack.backend.cancelled_streams() == 1).await);
    assert_eq!(stack.backend.open_streams(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_etag() -> TestResult {
    let (stack, c, login) = signed_in().await?;
    let url = format!(
        "{}/codex/models?client_version=0.171.0",
        stack.backend.base_url()
    );
    let r = c.get(&url).bearer_auth(&login.access_token).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r.headers()["etag"].to_str()?.to_owned();
    let v: Value = r.json().await?;
    assert_eq!(
        v["models"][0]["slug"], DEFAULT_MODEL,
        "{FUTURE_MODEL} is above 0.171.0"
    );
    assert_eq!(
        v["models"][1]["supported_reasoning_levels"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let r = c
        .get(&url)
        .bearer_auth(&login.access_token)
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(
        stack
            .backend
            .set_base_instructions(DEFAULT_MODEL, Some("FAKE base"))
    );
    let r = c
        .get(&url)
        .bearer_auth(&login.access_token)
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await?["models"][0]["base_instructions"],
        "FAKE base"
    );
    let r = c.get(&url).send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .get(format!("{}/wham/tasks/list", stack.backend.base_url()))
        .send()
        .await?;
    assert_eq!(r.json::<Value>().await?, json!({}));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_flow() -> TestResult {
    let stack = FakeStack::start().await?;
    let c = client();
    let issuer = stack.auth.url();
    let v: Value = c
        .post(format!("{issuer}/api/accounts/deviceauth/usercode"))
        .json(&json!({ "client_id": DEFAULT_CLIENT_ID }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(v["interval"], "1");
    let poll = || {
        c.post(format!("{issuer}/api/accounts/deviceauth/token"))
            .json(&json!({ "device_auth_id": v["device_auth_id"], "user_code": v["user_code"] }))
            .send()
    };
    assert_eq!(poll().await?.status(), StatusCode::FORBIDDEN);
    assert_eq!(stack.auth.approve_device(), 1);
    let r = poll().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let d: Value = r.json().await?;
    let code = d["authorization_code"].as_str().ok_or("code")?;
    let verifier = d["code_verifier"].as_str().ok_or("verifier")?;
    assert_eq!(super::auth::pkce_challenge(verifier), d["code_challenge"]);
    let r = exchange(
        &c,
        &issuer,
        code,
        &format!("{issuer}/deviceauth/callback"),
        verifier,
    )
    .await?;
    assert_eq!(r.status(), StatusCode::OK);

    stack.auth.set_device_enabled(false);
    let r = c
        .post(format!("{issuer}/api/accounts/deviceauth/usercode"))
        .json(&json!({ "client_id": DEFAULT_CLIENT_ID }))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_etags_rate_limits_and_outage() -> TestResult {
    let gh = FakeGitHub::start().await?;
    let c = client();
    let latest = format!("{}/repos/openai/codex/releases/latest", gh.url());
    let r = c.get(&latest).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r.headers()["etag"].to_str()?.to_owned();
    assert_eq!(r.headers()["x-ratelimit-remaining"], "59");
    assert_eq!(r.json::<Value>().await?["tag_name"], DEFAULT_TAG);
    let r = c.get(&latest).header("if-none-match", &etag).send().await?;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "59");

    let file = format!(
        "{}/openai/codex/{DEFAULT_TAG}/codex-rs/core/prompt.md",
        gh.url()
    );
    let r = c.get(&file).send().await?;
    let fetag = r.headers()["etag"].to_str()?.to_owned();
    assert!(
        r.text()
            .await?
            .starts_with("FAKE prompt.md for rust-v0.171.0")
    );
    let r = c.get(&file).header("if-none-match", &fetag).send().await?;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = c
        .get(format!(
            "{}/openai/codex/{DEFAULT_TAG}/codex-rs/core/nope.md",
            gh.url()
        ))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = c
        .get(format!("{}/openai/codex/releases/latest", gh.url()))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(
        r.headers()["location"]
            .to_str()?
            .ends_with("/openai/codex/releases/tag/rust-v0.171.0")
    );

    gh.set_rate_budget(1);
    assert_eq!(c.get(&latest).send().await?.status(), StatusCode::OK);
    let r = c.get(&latest).send().await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    gh.set_rate_limited(Some(RateLimitFault::TooMany { retry_after: 7 }));
    let r = c.get(&file).send().await?;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");
    gh.clear_faults();
    assert_eq!(gh.count("/repos/"), 4);
    assert_eq!(
        gh.requests()
            .iter()
            .filter(|r| r.if_none_match.is_some())
            .count(),
        2
    );

    // Unreachable: even the pooled keep-alive connection of `c` stops working.
    gh.stop();
    assert!(c.get(&latest).send().await.is_err());
    assert!(client().get(&latest).send().await.is_err());
    gh.restart()?;
    assert_eq!(c.get(&latest).send().await?.status(), StatusCode::OK);
    Ok(())
}

#[test]
fn stack_from_a_plain_test() {
    let stack = FakeStack::start_blocking();
    let env = stack.env();
    assert_eq!(env.len(), 5);
    assert!(
        env.iter()
            .any(|(k, v)| k == "CODEXD_BACKEND_URL" && v.ends_with("/backend-api"))
    );
    let login = stack.auth.mint_login();
    let rt = stack.runtime().expect("owned runtime");
    let text = rt.block_on(async {
        let c = client();
        post_responses(
            &c,
            &stack.backend,
            &login.access_token,
            login.account_id.as_deref(),
            &body(json!([user("sync")])),
        )
        .await?
        .text()
        .await
    });
    assert!(text.is_ok_and(|t| t.contains("response.completed")));
    assert!(wait_until(Duration::from_secs(2), || stack
        .backend
        .finished_streams()
        == 1));
    // The JSON shape tests import.
    let auth_json = login.auth_json();
    assert_eq!(
        auth_json["tokens"]["refresh_token"],
        json!(login.refresh_token)
    );
    drop(stack);
}
