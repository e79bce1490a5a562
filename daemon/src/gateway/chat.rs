//! `POST /v1/chat/completions`.
use super::Gateway;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
/// The handler.
pub async fn handle(_gw: Arc<Gateway>, _headers: HeaderMap, _body: Bytes) -> Response {
    super::models::not_found().await
}
