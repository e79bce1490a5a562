//! Retry policy for backend calls, as plain functions so it is tested without a server.
//!
//! - 5xx and transport errors: up to [`MAX_RETRIES`] retries, waiting 200 ms × 2^(n-1) with
//!   ±10 % jitter, or what `Retry-After` says (when it is not absurdly long).
//! - A stream that breaks before anything reached the user: the whole turn is sent again, up
//!   to [`MAX_STREAM_RESENDS`] times. After text was shown, resending would duplicate it, so
//!   the error is reported instead.
//! - 401: one token refresh, one retry (handled by the turn driver).
//! - 429: never retried here — a usage limit lasts hours and hammering it helps nobody.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// Retries after a 5xx or transport error.
pub const MAX_RETRIES: u32 = 4;
/// Whole-turn resends after a broken stream.
pub const MAX_STREAM_RESENDS: u32 = 5;
/// First backoff step.
pub const BASE_DELAY: Duration = Duration::from_millis(200);
/// A `Retry-After` longer than this is not waited out; the error is reported instead.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Backoff before retry number `retry` (1-based); `jitter` in `[-1, 1]` scales ±10 %.
pub fn backoff(retry: u32, jitter: f64) -> Duration {
    let exp = retry.saturating_sub(1).min(16);
    let base = BASE_DELAY.as_secs_f64() * f64::from(1u32 << exp);
    Duration::from_secs_f64(base * (1.0 + 0.1 * jitter.clamp(-1.0, 1.0)))
}

/// The wait before retry number `retry`: `Retry-After` when the server sent one, else the
/// jittered backoff. `None` means the server asked for a wait too long to sit through.
pub fn delay(retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
    match retry_after {
        Some(d) if d > MAX_RETRY_AFTER => None,
        Some(d) => Some(d),
        None => Some(backoff(retry, rand::random_range(-1.0..=1.0))),
    }
}

/// `Retry-After` (seconds; the HTTP-date form is not used by this backend) or `retry-after-ms`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(2, 0.0), Duration::from_millis(400));
        assert_eq!(backoff(4, 0.0), Duration::from_millis(1600));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(220));
        assert_eq!(backoff(1, -1.0), Duration::from_millis(180));
        assert_eq!(
            backoff(1, 7.0),
            Duration::from_millis(220),
            "jitter is clamped"
        );
        for retry in 1..=MAX_RETRIES {
            let d = delay(retry, None).expect("a delay");
            let base = backoff(retry, 0.0).as_secs_f64();
            assert!(d.as_secs_f64() >= base * 0.9 - 1e-9 && d.as_secs_f64() <= base * 1.1 + 1e-9);
        }
    }

    #[test]
    fn retry_after_wins_unless_too_long() {
        assert_eq!(
            delay(1, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(delay(1, Some(Duration::from_secs(3600))), None);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
    }
}
