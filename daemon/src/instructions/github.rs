//! GitHub client: the latest openai/codex release tag (`releases/latest` with
//! `If-None-Match`, falling back to the web redirect) and files from the raw host at that tag
//! (the model catalog and the legacy prompt files, with `If-None-Match`). Rate limits (403/429 with `x-ratelimit-remaining: 0`,
//! `x-ratelimit-reset`, `Retry-After`) come back as a time before which no call may be made.
//! Nothing secret is sent: no token, only our User-Agent — but GitHub sees the user's IP.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, HeaderMap, IF_NONE_MATCH, LOCATION, RETRY_AFTER};

use crate::config::GitHubConfig;

/// Each GitHub call gives up after this long; a stale copy is served meanwhile.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// When a rate-limit answer names no reset time, wait this long.
const DEFAULT_RATE_LIMIT_WAIT: u64 = 60;

/// The result of a conditional GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched<T> {
    /// 304: what we have is current.
    NotModified,
    /// 200 with a new value and its ETag.
    Fresh {
        /// The value.
        value: T,
        /// The ETag to send next time.
        etag: Option<String>,
    },
}

/// Why a GitHub call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    /// Rate-limited: no calls before `until` (unix seconds).
    #[error("GitHub's rate limit is reached; codexd waits until it resets")]
    RateLimited {
        /// Reset time, unix seconds.
        until: u64,
    },
    /// No connection, timeout, reset.
    #[error("GitHub is unreachable ({0})")]
    Unreachable(String),
    /// An error status (5xx, 404, …).
    #[error("GitHub answered HTTP {status} for {what}")]
    Status {
        /// The status code.
        status: u16,
        /// What was asked for.
        what: String,
    },
    /// A 200 we could not use.
    #[error("GitHub sent an unusable answer for {what}: {detail}")]
    Invalid {
        /// What was asked for.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

/// The GitHub endpoints (all overridable for tests).
#[derive(Clone)]
pub struct GitHub {
    http: reqwest::Client,
    config: GitHubConfig,
}

impl GitHub {
    /// A client for `config`'s endpoints using the shared HTTP client (which must not follow
    /// redirects: the web fallback reads the `Location` header).
    pub fn new(http: reqwest::Client, config: GitHubConfig) -> Self {
        Self { http, config }
    }

    fn base(url: &str) -> &str {
        url.trim_end_matches('/')
    }

    /// The raw URL of the repository file `path` at `tag`.
    pub fn file_url(&self, tag: &str, path: &str) -> String {
        format!(
            "{}/{}/{tag}/{path}",
            Self::base(&self.config.raw_url),
            self.config.repo
        )
    }

    /// `GET {api}/repos/{repo}/releases/latest` with `If-None-Match: etag`.
    pub async fn latest_tag(
        &self,
        etag: Option<&str>,
        now: u64,
    ) -> Result<Fetched<String>, GitHubError> {
        let what = "the latest release";
        let url = format!(
            "{}/repos/{}/releases/latest",
            Self::base(&self.config.api_url),
            self.config.repo
        );
        let req = self
            .http
            .get(url)
            .timeout(CALL_TIMEOUT)
            .header("Accept", "application/vnd.github+json");
        let Some((resp, etag)) = conditional(req, etag, now, what).await? else {
            return Ok(Fetched::NotModified);
        };
        let body: serde_json::Value = resp.json().await.map_err(|e| GitHubError::Invalid {
            what: what.into(),
            detail: e.to_string(),
        })?;
        let tag = body
            .get("tag_name")
            .and_then(|t| t.as_str())
            .filter(|t| valid_tag(t))
            .ok_or_else(|| GitHubError::Invalid {
                what: what.into(),
                detail: "no usable tag_name".into(),
            })?;
        Ok(Fetched::Fresh {
            value: tag.to_string(),
            etag,
        })
    }

    /// `GET {web}/{repo}/releases/latest`, which redirects to `…/releases/tag/<tag>`.
    pub async fn latest_tag_by_redirect(&self, now: u64) -> Result<String, GitHubError> {
        let what = "the release page";
        let url = format!(
            "{}/{}/releases/latest",
            Self::base(&self.config.web_url),
            self.config.repo
        );
        let resp = self
            .http
            .get(url)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        if !status.is_redirection() {
            check(status, resp.headers(), now, what)?;
            return Err(GitHubError::Invalid {
                what: what.into(),
                detail: format!("expected a redirect, got HTTP {}", status.as_u16()),
            });
        }
        header(resp.headers(), LOCATION.as_str())
            .and_then(|loc| {
                let (_, tag) = loc.trim_end_matches('/').rsplit_once("/releases/tag/")?;
                let tag = tag.split(['?', '#']).next()?.to_string();
                valid_tag(&tag).then_some(tag)
            })
            .ok_or_else(|| GitHubError::Invalid {
                what: what.into(),
                detail: "the redirect names no release tag".into(),
            })
    }

    /// `GET {raw}/{repo}/{tag}/{path}` with `If-None-Match: etag`.
    pub async fn file(
        &self,
        tag: &str,
        path: &str,
        etag: Option<&str>,
        now: u64,
    ) -> Result<Fetched<String>, GitHubError> {
        let req = self
            .http
            .get(self.file_url(tag, path))
            .timeout(CALL_TIMEOUT);
        let Some((resp, etag)) = conditional(req, etag, now, path).await? else {
            return Ok(Fetched::NotModified);
        };
        let text = resp.text().await.map_err(transport)?;
        if text.trim().is_empty() {
            return Err(GitHubError::Invalid {
                what: path.into(),
                detail: "the file is empty".into(),
            });
        }
        Ok(Fetched::Fresh { value: text, etag })
    }
}

/// Tags go into URLs and file metadata: allow only what release tags look like.
fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 100
        && !tag.contains("..")
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Send `req` with `If-None-Match: etag`: `None` for a 304, else the 2xx answer (rate limits
/// and error statuses checked) and its new ETag.
async fn conditional(
    mut req: reqwest::RequestBuilder,
    etag: Option<&str>,
    now: u64,
    what: &str,
) -> Result<Option<(reqwest::Response, Option<String>)>, GitHubError> {
    if let Some(e) = etag {
        req = req.header(IF_NONE_MATCH, e);
    }
    let resp = req.send().await.map_err(transport)?;
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    check(status, resp.headers(), now, what)?;
    let etag = header(resp.headers(), ETAG.as_str());
    Ok(Some((resp, etag)))
}

fn transport(e: reqwest::Error) -> GitHubError {
    // reqwest's message names the URL, which holds nothing secret here.
    GitHubError::Unreachable(if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        e.to_string()
    })
}

/// Map a non-success status to an error (rate limits to a reset time).
fn check(status: StatusCode, headers: &HeaderMap, now: u64, what: &str) -> Result<(), GitHubError> {
    if status.is_success() {
        return Ok(());
    }
    if let Some(until) = rate_limit_until(status, headers, now) {
        return Err(GitHubError::RateLimited { until });
    }
    Err(GitHubError::Status {
        status: status.as_u16(),
        what: what.into(),
    })
}

/// When `status`/`headers` say "rate-limited", the time (unix seconds) before which no call
/// should be made: `Retry-After` (seconds) first, then `x-ratelimit-reset`, else a minute.
pub fn rate_limit_until(status: StatusCode, headers: &HeaderMap, now: u64) -> Option<u64> {
    let remaining_zero = header(headers, "x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
    let retry_after =
        header(headers, RETRY_AFTER.as_str()).and_then(|v| v.trim().parse::<u64>().ok());
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (remaining_zero || retry_after.is_some()));
    if !limited {
        return None;
    }
    let until = retry_after
        .map(|s| now.saturating_add(s))
        .or_else(|| header(headers, "x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok()))
        .unwrap_or(now + DEFAULT_RATE_LIMIT_WAIT);
    Some(until.max(now + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rate_limits_are_recognised() {
        let now = 1000;
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "5000"),
        ]);
        assert_eq!(rate_limit_until(StatusCode::FORBIDDEN, &h, now), Some(5000));
        let h = headers(&[("retry-after", "30")]);
        assert_eq!(
            rate_limit_until(StatusCode::TOO_MANY_REQUESTS, &h, now),
            Some(1030)
        );
        assert_eq!(
            rate_limit_until(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), now),
            Some(1060)
        );
        // A 403 that is not a rate limit (e.g. a blocked repository) is an ordinary error.
        assert_eq!(
            rate_limit_until(StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            None
        );
        // A reset in the past still blocks briefly rather than not at all.
        let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "10")]);
        assert_eq!(rate_limit_until(StatusCode::FORBIDDEN, &h, now), Some(1001));
    }

    #[test]
    fn tags_are_checked() {
        assert!(valid_tag("rust-v0.171.0"));
        assert!(!valid_tag("../x"));
        assert!(!valid_tag("a/b"));
    }
}
