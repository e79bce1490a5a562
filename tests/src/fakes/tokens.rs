//! The token registry: every token the fake issuer handed out, and whether it still works.
//!
//! Tokens belong to a *grant* (one sign-in). Refresh rotates within the grant: the old refresh
//! token is marked used and a new (id, access, refresh) triple is minted. Presenting a used
//! refresh token again is treated as token theft, like real OAuth servers do: it fails with
//! `refresh_token_reused` AND revokes the whole grant (so two racing refreshes kill the login,
//! as upstream documents). Revoking any token of a grant revokes the grant; the backend then
//! rejects all its access tokens.
//!
//! Shared (cheaply cloned) between [`super::FakeAuth`] and [`super::FakeBackend`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::jwt::{self, Identity, TokenKind};
use super::{lock, now_unix, random_token};

/// The default (public Codex) OAuth client id.
pub const DEFAULT_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

/// Registry of issued tokens; clones share state.
#[derive(Clone, Default)]
pub struct TokenRegistry {
    inner: Arc<Mutex<Registry>>,
}

struct Registry {
    /// `iss` claim of minted tokens.
    issuer: String,
    /// `aud`/`client_id` claim of minted tokens.
    client_id: String,
    grants: HashMap<u64, Grant>,
    next_grant: u64,
    access: HashMap<String, AccessRecord>,
    refresh: HashMap<String, RefreshRecord>,
    /// Refresh tokens in issue order (for `live_refresh_token`).
    refresh_order: Vec<String>,
    /// Every secret string issued or seen, in order, for log-leak scans.
    secrets: Vec<String>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            issuer: "https://auth.openai.com".into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            grants: HashMap::new(),
            next_grant: 1,
            access: HashMap::new(),
            refresh: HashMap::new(),
            refresh_order: Vec::new(),
            secrets: Vec::new(),
        }
    }
}

struct Grant {
    identity: Identity,
    revoked: bool,
}

struct AccessRecord {
    grant: u64,
    /// Server-side expiry; starts as the JWT's `exp`, [`TokenRegistry::expire_access_tokens`]
    /// moves it into the past without changing the token.
    exp: i64,
}

struct RefreshRecord {
    grant: u64,
    used: bool,
    /// When it was rotated (for crash tests telling "response lost in flight" from "never
    /// saved").
    used_at: Option<std::time::Instant>,
}

/// What the issuer knows about one refresh token (see [`TokenRegistry::refresh_token_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshTokenState {
    /// When it was rotated (`None`: still unused).
    pub used_at: Option<std::time::Instant>,
    /// Its grant was revoked.
    pub revoked: bool,
}

impl RefreshTokenState {
    /// Unused and its grant alive: a refresh with it would succeed.
    pub fn usable(&self) -> bool {
        self.used_at.is_none() && !self.revoked
    }
}

/// A freshly minted set of tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSet {
    /// OpenID id token (JWT).
    pub id_token: String,
    /// Access token (JWT); its `exp` is now + the access lifetime.
    pub access_token: String,
    /// Opaque, single-use refresh token.
    pub refresh_token: String,
    /// The account id in the tokens (`None` when the claim was omitted).
    pub account_id: Option<String>,
    /// Seconds until the access token expires (as sent in `expires_in`).
    pub expires_in: i64,
}

impl TokenSet {
    /// The Codex CLI's `auth.json` shape holding these tokens (for import tests):
    /// `{"auth_mode":"chatgpt","OPENAI_API_KEY":null,"tokens":{…},"last_refresh":"<RFC 3339>"}`.
    pub fn auth_json(&self) -> Value {
        json!({
            "auth_mode": "chatgpt",
            "OPENAI_API_KEY": null,
            "tokens": {
                "id_token": self.id_token,
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "account_id": self.account_id,
            },
            "last_refresh": rfc3339(now_unix()),
        })
    }

    /// The JSON body the token endpoint answers with.
    pub fn token_response(&self) -> Value {
        json!({
            "id_token": self.id_token,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "scope": "openid profile email offline_access",
        })
    }
}

/// Facts about a valid access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessInfo {
    /// Who the token belongs to (including the account id the backend checks).
    pub identity: Identity,
    /// Server-side expiry (unix s).
    pub exp: i64,
}

/// Why an access token is not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// Never issued by this registry.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Its grant was revoked (logout, reuse detection, [`TokenRegistry::revoke_all`]).
    Revoked,
}

/// Why a refresh failed; `code()` is the OpenAI error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshError {
    /// Never issued, or its grant was revoked: `refresh_token_invalidated`.
    Invalidated,
    /// Already used once: `refresh_token_reused` (the grant is revoked as a consequence).
    Reused,
}

impl RefreshError {
    /// The `error.code` the real issuer answers with.
    pub fn code(self) -> &'static str {
        match self {
            RefreshError::Invalidated => "refresh_token_invalidated",
            RefreshError::Reused => "refresh_token_reused",
        }
    }
}

impl TokenRegistry {
    /// An empty registry minting tokens with `iss` = `https://auth.openai.com` and the default
    /// client id.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `iss` and client id put into minted tokens.
    pub fn set_issuer(&self, issuer: &str, client_id: &str) {
        let mut r = lock(&self.inner);
        r.issuer = issuer.to_owned();
        r.client_id = client_id.to_owned();
    }

    /// Starts a new grant for `identity` and mints its first tokens; the access token expires
    /// `access_lifetime` seconds from now (0 or negative: already expired).
    pub fn mint(&self, identity: &Identity, access_lifetime: i64) -> TokenSet {
        let mut r = lock(&self.inner);
        let grant = r.next_grant;
        r.next_grant += 1;
        r.grants.insert(
            grant,
            Grant {
                identity: identity.clone(),
                revoked: false,
            },
        );
        mint_in(&mut r, grant, access_lifetime)
    }

    /// Rotates `refresh_token`: marks it used and mints a new set in the same grant.
    pub fn rotate(
        &self,
        refresh_token: &str,
        access_lifetime: i64,
    ) -> Result<TokenSet, RefreshError> {
        let mut r = lock(&self.inner);
        let Some(rec) = r.refresh.get(refresh_token) else {
            return Err(RefreshError::Invalidated);
        };
        let (grant, used) = (rec.grant, rec.used);
        let revoked = r.grants.get(&grant).is_none_or(|g| g.revoked);
        if used {
            if let Some(g) = r.grants.get_mut(&grant) {
                g.revoked = true;
            }
            return Err(RefreshError::Reused);
        }
        if revoked {
            return Err(RefreshError::Invalidated);
        }
        if let Some(rec) = r.refresh.get_mut(refresh_token) {
            rec.used = true;
            rec.used_at = Some(std::time::Instant::now());
        }
        Ok(mint_in(&mut r, grant, access_lifetime))
    }

    /// Checks an access token the way the backend does.
    pub fn check_access(&self, token: &str) -> Result<AccessInfo, AccessError> {
        let r = lock(&self.inner);
        let rec = r.access.get(token).ok_or(AccessError::Unknown)?;
        let grant = r.grants.get(&rec.grant).ok_or(AccessError::Unknown)?;
        if grant.revoked {
            return Err(AccessError::Revoked);
        }
        if rec.exp <= now_unix() {
            return Err(AccessError::Expired);
        }
        Ok(AccessInfo {
            identity: grant.identity.clone(),
            exp: rec.exp,
        })
    }

    /// Revokes the grant `token` (a refresh or access token) belongs to. Returns whether the
    /// token was known.
    pub fn revoke(&self, token: &str) -> bool {
        let mut r = lock(&self.inner);
        let grant = r
            .refresh
            .get(token)
            .map(|x| x.grant)
            .or_else(|| r.access.get(token).map(|x| x.grant));
        match grant.and_then(|g| r.grants.get_mut(&g)) {
            Some(g) => {
                g.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Revokes every grant (as if the user signed out everywhere or the server invalidated
    /// all sessions).
    pub fn revoke_all(&self) {
        let mut r = lock(&self.inner);
        for g in r.grants.values_mut() {
            g.revoked = true;
        }
    }

    /// Makes every access token issued so far expired *server-side*. Their JWT `exp` claims do
    /// not change, so a client only learns about it from the backend's 401 (reactive refresh).
    pub fn expire_access_tokens(&self) {
        let past = now_unix() - 1;
        let mut r = lock(&self.inner);
        for a in r.access.values_mut() {
            a.exp = a.exp.min(past);
        }
    }

    /// Whether `token` is a known refresh token, when it was used, and whether its grant is
    /// revoked; `None` if unknown.
    pub fn refresh_token_state(&self, token: &str) -> Option<RefreshTokenState> {
        let r = lock(&self.inner);
        let rec = r.refresh.get(token)?;
        Some(RefreshTokenState {
            used_at: rec.used_at,
            revoked: r.grants.get(&rec.grant).is_none_or(|g| g.revoked),
        })
    }

    /// Remembers a secret that was not minted here (authorization codes, PKCE verifiers, OAuth
    /// states, device ids) so it shows up in [`TokenRegistry::issued_tokens`].
    pub fn record_secret(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut r = lock(&self.inner);
        if !r.secrets.iter().any(|s| s == secret) {
            r.secrets.push(secret.to_owned());
        }
    }

    /// Every secret string issued or seen, in order: id/access/refresh tokens, authorization
    /// codes, code verifiers, OAuth states, device auth ids. For scanning logs for leaks.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.inner).secrets.clone()
    }

    /// The newest refresh token that is unused and whose grant is not revoked.
    pub fn live_refresh_token(&self) -> Option<String> {
        let r = lock(&self.inner);
        r.refresh_order
            .iter()
            .rev()
            .find(|t| {
                r.refresh.get(t.as_str()).is_some_and(|rec| {
                    !rec.used && r.grants.get(&rec.grant).is_some_and(|g| !g.revoked)
                })
            })
            .cloned()
    }
}

fn mint_in(r: &mut Registry, grant: u64, access_lifetime: i64) -> TokenSet {
    let identity = r
        .grants
        .get(&grant)
        .map(|g| g.identity.clone())
        .unwrap_or_default();
    let now = now_unix();
    let exp = now.saturating_add(access_lifetime);
    let id_token = jwt::encode(&jwt::claims(
        &identity,
        TokenKind::Id,
        &r.issuer,
        &r.client_id,
        now,
        exp,
    ));
    let access_token = jwt::encode(&jwt::claims(
        &identity,
        TokenKind::Access,
        &r.issuer,
        &r.client_id,
        now,
        exp,
    ));
    let refresh_token = random_token("rt_fake_", 32);
    r.access
        .insert(access_token.clone(), AccessRecord { grant, exp });
    r.refresh.insert(
        refresh_token.clone(),
        RefreshRecord {
            grant,
            used: false,
            used_at: None,
        },
    );
    r.refresh_order.push(refresh_token.clone());
    for s in [&id_token, &access_token, &refresh_token] {
        r.secrets.push(s.clone());
    }
    TokenSet {
        id_token,
        access_token,
        refresh_token,
        account_id: identity.account_id.clone(),
        expires_in: access_lifetime,
    }
}

/// Formats unix seconds as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`); out-of-range times read
/// as the epoch.
pub fn rfc3339(unix: i64) -> String {
    let at =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        at.date(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn rotation_and_reuse_kill_the_grant() {
        let reg = TokenRegistry::new();
        let first = reg.mint(&Identity::default(), 3600);
        assert!(reg.check_access(&first.access_token).is_ok());
        let second = reg.rotate(&first.refresh_token, 3600).expect("rotate");
        assert_eq!(reg.live_refresh_token(), Some(second.refresh_token.clone()));
        assert_eq!(
            reg.rotate(&first.refresh_token, 3600),
            Err(RefreshError::Reused)
        );
        assert_eq!(
            reg.check_access(&second.access_token),
            Err(AccessError::Revoked)
        );
        assert_eq!(
            reg.rotate(&second.refresh_token, 3600),
            Err(RefreshError::Invalidated)
        );
        assert_eq!(reg.live_refresh_token(), None);
    }

    #[test]
    fn expiry_is_server_side() {
        let reg = TokenRegistry::new();
        let t = reg.mint(&Identity::default(), 3600);
        reg.expire_access_tokens();
        assert_eq!(reg.check_access(&t.access_token), Err(AccessError::Expired));
        let short = reg.mint(&Identity::default(), 0);
        assert_eq!(
            reg.check_access(&short.access_token),
            Err(AccessError::Expired)
        );
        assert_eq!(reg.check_access("nope"), Err(AccessError::Unknown));
    }
}
