//! Reading what a user pastes in the `--paste` flow: the final redirect URL
//! (`http://localhost:1455/auth/callback?code=…&state=…`), its query alone, or `code#state`.
//! The state is checked by the caller exactly like the callback listener checks it.

use crate::secret::Secret;

/// What a redirect carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Redirect {
    /// An authorization code and the state it came with.
    Code {
        /// The authorization code.
        code: Secret,
        /// The state echoed by the server.
        state: String,
    },
    /// The server refused (`error`, `error_description`) — with the state, when present.
    Error {
        /// OAuth error code.
        error: String,
        /// Its description.
        description: Option<String>,
        /// The state echoed by the server.
        state: Option<String>,
    },
}

/// Turn query pairs into a [`Redirect`].
pub fn from_pairs<'a>(
    pairs: impl Iterator<Item = (String, String)> + 'a,
) -> Result<Redirect, String> {
    let (mut code, mut state, mut error, mut description) = (None, None, None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "code" => code = Some(v),
            "state" => state = Some(v),
            "error" => error = Some(v),
            "error_description" => description = Some(v),
            _ => {}
        }
    }
    if let Some(error) = error {
        return Ok(Redirect::Error {
            error,
            description,
            state,
        });
    }
    match (
        code.filter(|c| !c.is_empty()),
        state.filter(|s| !s.is_empty()),
    ) {
        (Some(code), Some(state)) => Ok(Redirect::Code {
            code: Secret::new(code),
            state,
        }),
        (None, _) => Err("it has no `code` parameter".into()),
        (Some(_), None) => Err("it has no `state` parameter".into()),
    }
}

/// Parse one pasted line.
pub fn parse(input: &str) -> Result<Redirect, String> {
    let input = input.trim().trim_matches(|c| c == '"' || c == '\'');
    if input.is_empty() {
        return Err("the input is empty".into());
    }
    if input.contains("://") {
        let url = url::Url::parse(input).map_err(|_| "it is not a valid URL".to_string())?;
        return from_pairs(url.query_pairs().into_owned());
    }
    if input.contains('=') {
        let query = input.trim_start_matches('?');
        return from_pairs(url::form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    match input.split_once('#') {
        Some((code, state)) if !code.is_empty() && !state.is_empty() => Ok(Redirect::Code {
            code: Secret::new(code),
            state: state.to_owned(),
        }),
        _ => Err("paste the whole address your browser ended on (it starts with http://127.0.0.1 or http://localhost), or code#state".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_url_query_and_code_hash_state() {
        let want = Redirect::Code {
            code: Secret::new("c1"),
            state: "s1".into(),
        };
        assert_eq!(
            parse("http://localhost:1455/auth/callback?code=c1&state=s1").expect("url"),
            want
        );
        assert_eq!(parse("  code=c1&state=s1\n").expect("query"), want);
        assert_eq!(parse("c1#s1").expect("hash"), want);
    }

    #[test]
    fn errors_and_rejections() {
        assert!(matches!(
            parse("http://localhost:1/auth/callback?error=access_denied&state=s"),
            Ok(Redirect::Error { error, .. }) if error == "access_denied"
        ));
        assert!(parse("").is_err());
        assert!(parse("justacode").is_err());
        assert!(parse("http://localhost:1/auth/callback?code=c").is_err());
        assert!(parse("http://localhost:1/auth/callback?state=s").is_err());
    }
}
