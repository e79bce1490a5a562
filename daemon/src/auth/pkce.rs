//! PKCE (RFC 7636, S256) and the OAuth `state` value: random, base64url without padding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// A verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// Sent only with the code exchange.
    pub verifier: Secret,
    /// base64url(SHA-256(verifier)), sent in the authorize URL.
    pub challenge: String,
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The S256 challenge of `verifier`.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Pkce {
    /// 64 random bytes → an 86-character verifier, and its challenge.
    pub fn generate() -> Self {
        let verifier = random_b64(64);
        let challenge = challenge_of(&verifier);
        Self {
            verifier: Secret::new(verifier),
            challenge,
        }
    }
}

/// A fresh `state`: 32 random bytes, base64url. Not a credential, but kept out of logs anyway.
pub fn new_state() -> Secret {
    Secret::new(random_b64(32))
}

/// Compare two strings in time independent of where they differ (the state check).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn shapes() {
        let p = Pkce::generate();
        assert_eq!(p.verifier.expose().len(), 86);
        assert_eq!(p.challenge.len(), 43);
        assert_eq!(challenge_of(p.verifier.expose()), p.challenge);
        assert_eq!(new_state().expose().len(), 43);
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
