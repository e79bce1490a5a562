//! The compatibility version codexd claims to the Codex backend (`?client_version=` and the
//! `version` header). It is a protocol level, not an identity: the backend hides models whose
//! `minimal_client_version` is above it, so a client that claimed its own `0.1.0` would see an
//! empty catalog (upstream.md §5). Configured (`backend.client_version`), else derived from
//! the latest openai/codex release tag the instructions cache resolved, else a built-in floor.

use std::sync::{Arc, PoisonError, RwLock};

use codexd_proto::instructions::ClientVersion;
use codexd_proto::version;

use crate::config::CLIENT_VERSION_FLOOR;

/// Shared between the instructions cache (which learns the release tag) and the backend
/// client (which sends the version). Clones share the value.
#[derive(Clone, Debug)]
pub struct Compat {
    configured: Option<String>,
    tag: Arc<RwLock<Option<String>>>,
}

impl Compat {
    /// `configured` wins over anything learned later.
    pub fn new(configured: Option<String>) -> Self {
        Self {
            configured,
            tag: Arc::new(RwLock::new(None)),
        }
    }

    /// The release tag the instructions cache resolved (`rust-v0.171.0`).
    pub fn set_release_tag(&self, tag: &str) {
        *self.tag.write().unwrap_or_else(PoisonError::into_inner) = Some(tag.to_string());
    }

    /// The version to send, and where it came from.
    pub fn current(&self) -> ClientVersion {
        if let Some(v) = &self.configured {
            return ClientVersion {
                version: v.clone(),
                source: "backend.client_version".into(),
            };
        }
        let tag = self
            .tag
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // A tag older than the floor (an odd release, a test) never lowers what we claim.
        match tag
            .as_deref()
            .and_then(|t| Some((t, version::from_tag(t)?)))
        {
            Some((tag, v)) if version::at_least(&v, CLIENT_VERSION_FLOOR) => ClientVersion {
                version: v,
                source: format!("release {tag}"),
            },
            _ => ClientVersion {
                version: CLIENT_VERSION_FLOOR.into(),
                source: "built-in floor".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_then_tag_then_floor() {
        let c = Compat::new(None);
        assert_eq!(c.current().version, CLIENT_VERSION_FLOOR);
        assert_eq!(c.current().source, "built-in floor");
        c.set_release_tag("rust-v9.172.0");
        assert_eq!(c.current().version, "9.172.0");
        assert_eq!(c.current().source, "release rust-v9.172.0");
        c.set_release_tag("rust-v0.1.0");
        assert_eq!(c.current().version, CLIENT_VERSION_FLOOR);
        c.set_release_tag("nightly");
        assert_eq!(c.current().version, CLIENT_VERSION_FLOOR);
        let pinned = Compat::new(Some("0.150.0".into()));
        pinned.set_release_tag("rust-v9.0.0");
        assert_eq!(pinned.current().version, "0.150.0");
        assert_eq!(pinned.current().source, "backend.client_version");
    }
}
