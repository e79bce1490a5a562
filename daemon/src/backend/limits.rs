//! Usage windows from the `x-codex-*` response headers: the ≈5-hour window (`primary`), the
//! weekly window (`secondary`) and credits. Captured from every backend response (errors
//! included) so `codexctl status` and the usage-limit message can show them.

use codexd_proto::conversation::{Credits, RateLimits, UsageWindow};
use reqwest::header::HeaderMap;

/// Read the usage headers; `None` when the response carried none of them.
pub fn from_headers(headers: &HeaderMap, now: u64) -> Option<RateLimits> {
    let primary = window(headers, "primary", now);
    let secondary = window(headers, "secondary", now);
    let credits = credits(headers);
    if primary.is_none() && secondary.is_none() && credits.is_none() {
        return None;
    }
    Some(RateLimits {
        primary,
        secondary,
        credits,
        captured_at: now,
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn window(headers: &HeaderMap, which: &str, now: u64) -> Option<UsageWindow> {
    let used_percent: f64 = header(headers, &format!("x-codex-{which}-used-percent"))?
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())?;
    let window_minutes =
        header(headers, &format!("x-codex-{which}-window-minutes")).and_then(|v| v.parse().ok());
    // Newer servers send an absolute reset time; older ones the seconds until it.
    let resets_at = header(headers, &format!("x-codex-{which}-reset-at"))
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| {
            header(headers, &format!("x-codex-{which}-reset-after-seconds"))
                .and_then(|v| v.parse::<u64>().ok())
                .map(|s| now + s)
        });
    Some(UsageWindow {
        used_percent,
        window_minutes,
        resets_at,
    })
}

fn flag(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

fn credits(headers: &HeaderMap) -> Option<Credits> {
    let has = header(headers, "x-codex-credits-has-credits");
    let unlimited = header(headers, "x-codex-credits-unlimited");
    let balance = header(headers, "x-codex-credits-balance");
    if has.is_none() && unlimited.is_none() && balance.is_none() {
        return None;
    }
    Some(Credits {
        has_credits: has.is_some_and(flag),
        unlimited: unlimited.is_some_and(flag),
        balance: balance.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_static(k),
                HeaderValue::from_str(v).expect("header value"),
            );
        }
        h
    }

    #[test]
    fn reads_both_windows_and_credits() {
        let h = headers(&[
            ("x-codex-primary-used-percent", "12.5"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-at", "1000"),
            ("x-codex-secondary-used-percent", "40"),
            ("x-codex-secondary-reset-after-seconds", "60"),
            ("x-codex-credits-has-credits", "true"),
            ("x-codex-credits-unlimited", "false"),
            ("x-codex-credits-balance", "12.00"),
        ]);
        let l = from_headers(&h, 500).expect("limits");
        let p = l.primary.expect("primary");
        assert_eq!(p.used_percent, 12.5);
        assert_eq!(p.window_minutes, Some(300));
        assert_eq!(p.resets_at, Some(1000));
        assert_eq!(l.secondary.expect("secondary").resets_at, Some(560));
        let c = l.credits.expect("credits");
        assert!(c.has_credits && !c.unlimited);
        assert_eq!(c.balance.as_deref(), Some("12.00"));
        assert_eq!(l.captured_at, 500);
    }

    #[test]
    fn nothing_without_headers_and_garbage_is_ignored() {
        assert!(from_headers(&HeaderMap::new(), 1).is_none());
        let h = headers(&[("x-codex-primary-used-percent", "lots")]);
        assert!(from_headers(&h, 1).is_none());
    }
}
