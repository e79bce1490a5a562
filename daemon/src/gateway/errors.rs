//! Errors in OpenAI's JSON shape (`{"error": {"message", "type", "param", "code"}}`), with the
//! upstream status and the headers worth keeping (`retry-after`, usage reset times).

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::upstream::UpstreamError;

/// An error answer of the gateway.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OpenAI error `type`.
    pub kind: &'static str,
    /// OpenAI error `code`.
    pub code: Option<String>,
    /// The offending parameter.
    pub param: Option<String>,
    /// What happened and what to do.
    pub message: String,
    /// Headers to send along.
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    /// A 400 about a parameter.
    pub fn invalid(param: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            message,
        )
        .with_param(param)
    }

    /// Any status.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            code: code.map(str::to_owned),
            param: None,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// Name the parameter.
    pub fn with_param(mut self, param: Option<&str>) -> Self {
        self.param = param.map(str::to_owned);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let kind = match e.status {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        };
        Self {
            status,
            kind,
            code: e.code,
            param: None,
            message: e.message,
            headers: e.headers,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_status_and_headers_are_kept() {
        let e = UpstreamError {
            status: 429,
            code: Some("usage_limit_reached".into()),
            message: "limit".into(),
            headers: vec![("retry-after".into(), "30".into())],
        };
        let r = ApiError::from(e).into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "30");
    }

    #[test]
    fn body_has_openai_shape() {
        let b = ApiError::invalid(Some("n"), "only n=1").body();
        assert_eq!(b["error"]["param"], "n");
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert!(b["error"]["code"].is_null());
    }
}
