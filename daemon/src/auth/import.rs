//! One-time import of a Codex CLI sign-in from its `auth.json`
//! (`{"auth_mode":"chatgpt","tokens":{"id_token","access_token","refresh_token","account_id"},…}`).
//! The source file is only read, never modified; every rejection names the exact problem.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::oauth::TokenResponse;
use crate::secret::Secret;

/// Largest `auth.json` we read (a real one is a few KiB).
const MAX_SIZE: u64 = 1024 * 1024;

/// The file to import: `path`, else `$CODEX_HOME/auth.json`, else `~/.codex/auth.json`.
pub fn default_path(path: Option<&str>) -> Result<PathBuf, String> {
    if let Some(p) = path.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(home) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home).join("auth.json"));
    }
    directories::BaseDirs::new()
        .map(|b| b.home_dir().join(".codex/auth.json"))
        .ok_or_else(|| {
            "cannot find your home directory; pass the path: codexctl login --import-codex PATH"
                .into()
        })
}

/// Read and check a Codex CLI `auth.json` (blocking).
pub fn read(path: &Path) -> Result<TokenResponse, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{shown} does not exist; sign in with the Codex CLI first or pass the right path"
        ),
        _ => format!("cannot read {shown}: {e}"),
    })?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if meta.len() > MAX_SIZE {
        return Err(format!(
            "{shown} is {} bytes, far larger than a Codex CLI auth.json",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    parse(&bytes).map_err(|why| format!("{shown} cannot be imported: {why}"))
}

/// Check the content of an `auth.json`.
pub fn parse(bytes: &[u8]) -> Result<TokenResponse, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "it is not valid JSON (line {} column {})",
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(top) = &v else {
        return Err("it is not a JSON object".into());
    };
    match top.get("auth_mode") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m.eq_ignore_ascii_case("chatgpt") => {}
        Some(Value::String(m)) => {
            return Err(format!(
                "its auth_mode is {m:?}, but only a ChatGPT sign-in (auth_mode \"chatgpt\") can be imported"
            ));
        }
        Some(_) => return Err("its auth_mode is not a string".into()),
    }
    let tokens = match top.get("tokens") {
        Some(Value::Object(t)) => t,
        None | Some(Value::Null) => {
            let api_key = top.get("OPENAI_API_KEY").is_some_and(|k| !k.is_null());
            return Err(if api_key {
                "it holds an API key, not a ChatGPT sign-in; codexd needs a ChatGPT sign-in".into()
            } else {
                "it has no \"tokens\" object (is the Codex CLI signed in?)".into()
            });
        }
        Some(_) => return Err("its \"tokens\" field is not an object".into()),
    };
    let field = |name: &str| -> Result<Secret, String> {
        match tokens.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Secret::new(s.trim())),
            Some(Value::String(_)) => Err(format!("tokens.{name} is empty")),
            None | Some(Value::Null) => Err(format!("tokens.{name} is missing")),
            Some(_) => Err(format!("tokens.{name} is not a string")),
        }
    };
    let id = field("id_token")?;
    let access = field("access_token")?;
    let refresh = field("refresh_token")?;
    for (name, t) in [("id_token", &id), ("access_token", &access)] {
        super::jwt::parse(t.expose()).map_err(|e| format!("tokens.{name} is not readable: {e}"))?;
    }
    Ok(TokenResponse {
        id_token: Some(id),
        access_token: Some(access),
        refresh_token: Some(refresh),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJub25lIn0.eyJleHAiOjF9.sig";

    fn file(tokens: &str) -> String {
        format!(
            r#"{{"auth_mode":"chatgpt","OPENAI_API_KEY":null,"tokens":{tokens},"last_refresh":"2025-01-01T00:00:00Z"}}"#
        )
    }

    #[test]
    fn good_file() {
        let t = parse(
            file(&format!(r#"{{"id_token":"{JWT}","access_token":"{JWT}","refresh_token":"rt","account_id":"a"}}"#))
                .as_bytes(),
        )
        .expect("ok");
        assert_eq!(t.refresh_token.expect("rt").expose(), "rt");
    }

    #[test]
    fn precise_rejections() {
        let err = |s: &str| parse(s.as_bytes()).expect_err("rejected");
        assert!(err("{").contains("not valid JSON"));
        assert!(err("[]").contains("not a JSON object"));
        assert!(err(r#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk"}"#).contains("auth_mode"));
        assert!(err(r#"{"OPENAI_API_KEY":"sk-x"}"#).contains("API key"));
        assert!(
            err(&file(&format!(
                r#"{{"id_token":"{JWT}","access_token":"{JWT}"}}"#
            )))
            .contains("tokens.refresh_token is missing")
        );
        assert!(
            err(&file(&format!(
                r#"{{"id_token":"x","access_token":"{JWT}","refresh_token":"r"}}"#
            )))
            .contains("tokens.id_token is not readable")
        );
        let e = err(&file(
            r#"{"id_token":"SECRET.SECRET","access_token":"a","refresh_token":"r"}"#,
        ));
        assert!(!e.contains("SECRET"));
    }
}
