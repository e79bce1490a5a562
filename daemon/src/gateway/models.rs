//! `GET /v1/models`, `GET /v1/models/{id}` (only what this account is offered), the Codex
//! catalog with `?client_version=` (what the Codex CLI fetches from a custom provider), and
//! `POST /v1/responses/compact` (passthrough).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::Gateway;
use super::errors::ApiError;
use super::responses::{conversation_key, relay_headers, with_headers};
use super::upstream::{Endpoint, ModelInfo, UpstreamCall};

fn model_object(m: &ModelInfo) -> Value {
    json!({
        "id": m.slug,
        "object": "model",
        "created": 0,
        "owned_by": "openai",
        "display_name": m.display_name,
        "context_window": m.context_window,
        "reasoning_efforts": m.efforts,
    })
}

/// `GET /v1/models[?client_version=]`.
pub async fn list(gw: Arc<Gateway>, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(v) = q.get("client_version") {
        return match gw.codex_catalog(Some(v.clone())).await {
            Ok(catalog) => axum::Json(catalog).into_response(),
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    match gw.models().await {
        Ok(models) => axum::Json(json!({
            "object": "list",
            "data": models.iter().map(model_object).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `GET /v1/models/{id}`.
pub async fn one(gw: Arc<Gateway>, Path(id): Path<String>) -> Response {
    match gw.models().await {
        Ok(models) => match models.iter().find(|m| m.slug == id) {
            Some(m) => axum::Json(model_object(m)).into_response(),
            None => ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("model_not_found"),
                format!(
                    "The model '{id}' is not offered to this ChatGPT account; `GET /v1/models` lists the ones that are."
                ),
            )
            .with_param(Some("model"))
            .into_response(),
        },
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /v1/responses/compact`: the body goes through unchanged; the JSON answer comes back.
pub async fn compact(gw: Arc<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::invalid(None, format!("The request body is not valid JSON: {e}"))
                .into_response();
        }
    };
    let call = UpstreamCall {
        endpoint: Endpoint::Compact,
        conversation: conversation_key(&headers, &parsed),
        relay_headers: relay_headers(&headers),
        body: parsed,
    };
    let mut stream = match gw.send(call).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match stream.events.next().await {
        Some(Ok(ev)) => with_headers(
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                ev.data,
            )
                .into_response(),
            &stream.headers,
        ),
        Some(Err(e)) => ApiError::from(e).into_response(),
        None => ApiError::from(super::responses::unfinished()).into_response(),
    }
}

/// Anything else.
pub async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        "The codexd gateway serves /v1/responses, /v1/responses/compact, /v1/chat/completions and /v1/models.",
    )
    .into_response()
}
