//! Which endpoint URLs codexd may send tokens to: HTTPS anywhere, plain HTTP only to this
//! machine (127.0.0.0/8, `::1`, `localhost` — the local fakes tests and proxies use). Checked
//! at config load, so a `http://` backend never gets the chance to carry an access token in
//! clear.

use url::{Host, Url};

/// One endpoint setting to check.
pub struct Endpoint<'a> {
    /// The setting's name in `config.toml`, e.g. `backend.url`.
    pub setting: &'a str,
    /// The environment variable that overrides it.
    pub env_var: &'a str,
    /// Whether the value came from that variable.
    pub from_env: bool,
    /// The URL.
    pub url: &'a str,
}

/// Why an endpoint URL is refused.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL at all.
    #[error(
        "{source_name} = {url:?} is not a valid URL ({why}); fix it or remove it to use the default"
    )]
    Invalid {
        /// Setting (and variable) name.
        source_name: String,
        /// The value.
        url: String,
        /// The parser's complaint.
        why: String,
    },
    /// Plain HTTP (or another scheme) to a non-loopback host.
    #[error(
        "{source_name} = {url:?} would send sign-in tokens unencrypted: codexd only talks HTTPS, except to this machine (127.0.0.1, ::1, localhost); use an https:// URL"
    )]
    Insecure {
        /// Setting (and variable) name.
        source_name: String,
        /// The value.
        url: String,
    },
}

/// True when `url` may be used: `https`, or `http` to a loopback host.
pub fn is_allowed(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// Check every endpoint; the first refused one is the error, naming its setting (and the
/// environment variable when the value came from one).
pub fn check(endpoints: &[Endpoint<'_>]) -> Result<(), EndpointError> {
    for e in endpoints {
        let source_name = if e.from_env {
            format!("{} (from {})", e.setting, e.env_var)
        } else {
            e.setting.to_owned()
        };
        let url = Url::parse(e.url).map_err(|why| EndpointError::Invalid {
            source_name: source_name.clone(),
            url: e.url.to_owned(),
            why: why.to_string(),
        })?;
        if !is_allowed(&url) {
            return Err(EndpointError::Insecure {
                source_name,
                url: e.url.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(u: &str) -> bool {
        is_allowed(&Url::parse(u).unwrap())
    }

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        assert!(ok("https://chatgpt.com/backend-api"));
        assert!(ok("http://127.0.0.1:9/backend-api"));
        assert!(ok("http://127.8.0.1"));
        assert!(ok("http://[::1]:8080"));
        assert!(ok("http://localhost:1455"));
        assert!(ok("http://LOCALHOST"));
        assert!(!ok("http://chatgpt.com/backend-api"));
        assert!(!ok("http://10.0.0.1"));
        assert!(!ok("http://localhost.evil.example"));
        assert!(!ok("http://[::2]"));
        assert!(!ok("ftp://127.0.0.1"));
    }

    #[test]
    fn error_names_the_setting_and_variable() {
        let err = check(&[Endpoint {
            setting: "backend.url",
            env_var: "CODEXD_BACKEND_URL",
            from_env: true,
            url: "http://chatgpt.com/backend-api",
        }])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("backend.url (from CODEXD_BACKEND_URL)"),
            "{err}"
        );
        assert!(err.contains("unencrypted"), "{err}");
    }
}
