//! The index of stored conversations: names, per-terminal "current" pointers, and per-session
//! counters for `sessions list`. Kept in `<sessions dir>/index.json` (atomic writes through one
//! writer task). The history files are the truth: on load, an entry whose file changed size
//! since the index was written (a crash between the history fsync and the index write) is
//! recounted from its file, and files the index does not know are adopted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use codexd_proto::conversation::SessionInfo;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::history;

/// One conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entry {
    /// Optional unique name.
    pub name: Option<String>,
    /// Created, unix seconds.
    pub created_at: u64,
    /// Last turn, unix seconds.
    pub last_used: u64,
    /// Model of the last turn.
    pub model: String,
    /// Completed turns.
    pub turns: u32,
    /// Total tokens.
    pub tokens: u64,
    /// History file size when this entry was last updated.
    pub bytes: u64,
}

/// The whole index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Index {
    /// By UUID.
    pub sessions: BTreeMap<String, Entry>,
    /// Scope key (terminal + directory) → its current conversation.
    pub scopes: BTreeMap<String, String>,
}

/// How a name or id prefix resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Exactly one.
    Found(String),
    /// Nothing.
    Missing,
    /// An id prefix matching several.
    Ambiguous(Vec<String>),
}

impl Index {
    /// Index file path.
    pub fn file(dir: &Path) -> PathBuf {
        dir.join("index.json")
    }

    /// Load and reconcile with the history files. Never fails: an unreadable index is rebuilt
    /// from the files (names and scopes are then lost, and a warning says so).
    pub fn load(dir: &Path) -> Self {
        let path = Self::file(dir);
        let mut index: Index = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "the sessions index is unreadable; rebuilding it from the history files (names are lost)");
                Index::default()
            }),
            Err(_) => Index::default(),
        };
        // Entries whose file is gone (or that never completed a turn) are dropped.
        index
            .sessions
            .retain(|id, _| history::size(&history::path(dir, id)) > 0);
        let ids: Vec<String> = index.sessions.keys().cloned().collect();
        for id in ids {
            let p = history::path(dir, &id);
            let size = history::size(&p);
            let stale = index.sessions.get(&id).is_some_and(|e| e.bytes != size);
            if stale && let Some(e) = index.sessions.get_mut(&id) {
                recount(e, &p);
            }
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) else {
                    continue;
                };
                if uuid::Uuid::parse_str(id).is_err() || index.sessions.contains_key(id) {
                    continue;
                }
                let mut e = Entry::default();
                recount(&mut e, &entry.path());
                if e.turns > 0 {
                    index.sessions.insert(id.to_owned(), e);
                }
            }
        }
        let sessions = &index.sessions;
        index.scopes.retain(|_, id| sessions.contains_key(id));
        index
    }

    /// Find by exact name, then by unique id prefix.
    pub fn lookup(&self, key: &str) -> Lookup {
        if let Some((id, _)) = self
            .sessions
            .iter()
            .find(|(_, e)| e.name.as_deref() == Some(key))
        {
            return Lookup::Found(id.clone());
        }
        if key.len() < 4 {
            return Lookup::Missing;
        }
        let hits: Vec<String> = self
            .sessions
            .keys()
            .filter(|id| id.starts_with(key))
            .cloned()
            .collect();
        match hits.len() {
            0 => Lookup::Missing,
            1 => Lookup::Found(hits[0].clone()),
            _ => Lookup::Ambiguous(hits),
        }
    }

    /// The id of a named conversation.
    pub fn by_name(&self, name: &str) -> Option<String> {
        self.sessions
            .iter()
            .find(|(_, e)| e.name.as_deref() == Some(name))
            .map(|(id, _)| id.clone())
    }

    /// Stored conversations (at least one turn), most recent first.
    pub fn list(&self, active: impl Fn(&str) -> bool) -> Vec<SessionInfo> {
        let mut v: Vec<SessionInfo> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.turns > 0)
            .map(|(id, e)| info(id, e, active(id)))
            .collect();
        v.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.id.cmp(&b.id)));
        v
    }

    /// Stored conversations count.
    pub fn stored(&self) -> u32 {
        u32::try_from(self.sessions.values().filter(|e| e.turns > 0).count()).unwrap_or(u32::MAX)
    }

    /// Forget a conversation and the scopes pointing at it.
    pub fn remove(&mut self, id: &str) -> Option<Entry> {
        self.scopes.retain(|_, v| v != id);
        self.sessions.remove(id)
    }
}

/// The list line of one conversation.
pub fn info(id: &str, e: &Entry, active: bool) -> SessionInfo {
    SessionInfo {
        id: id.to_owned(),
        name: e.name.clone(),
        model: e.model.clone(),
        turns: e.turns,
        tokens: e.tokens,
        created_at: e.created_at,
        last_used: e.last_used,
        active,
    }
}

/// Recount an entry's counters from its history file.
fn recount(e: &mut Entry, path: &Path) {
    match history::load(path) {
        Ok(h) => {
            e.turns = u32::try_from(h.turns.len()).unwrap_or(u32::MAX);
            e.tokens = h.tokens();
            if let Some(last) = h.turns.last() {
                e.last_used = last.at;
                e.model = last.model.clone();
            }
            if e.created_at == 0 {
                e.created_at = h.created_at;
            }
            e.bytes = h.bytes;
        }
        Err(err) => {
            tracing::warn!(file = %path.display(), error = %err, "cannot read a conversation history");
        }
    }
}

/// Writes index snapshots in the background, newest wins; one writer per registry.
#[derive(Clone)]
pub struct IndexWriter {
    tx: mpsc::UnboundedSender<Vec<u8>>,
}

impl IndexWriter {
    /// Start the writer task for `dir` (must run inside a tokio runtime).
    pub fn start(dir: PathBuf) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(mut snapshot) = rx.recv().await {
                // Coalesce: only the newest snapshot matters.
                while let Ok(newer) = rx.try_recv() {
                    snapshot = newer;
                }
                let dir = dir.clone();
                let res = tokio::task::spawn_blocking(move || {
                    crate::fsutil::create_private_dir(&dir)?;
                    crate::fsutil::write_atomic(&Index::file(&dir), &snapshot, 0o600)
                })
                .await;
                match res {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot write the sessions index"),
                    Err(e) => tracing::warn!(error = %e, "the sessions index writer failed"),
                }
            }
        });
        Self { tx }
    }

    /// Queue a snapshot of `index`.
    pub fn save(&self, index: &Index) {
        match serde_json::to_vec_pretty(index) {
            Ok(bytes) => {
                let _ = self.tx.send(bytes);
            }
            Err(e) => tracing::warn!(error = %e, "cannot serialise the sessions index"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::history::{Turn, append};

    fn turn(at: u64) -> Turn {
        Turn {
            at,
            model: "m1".into(),
            user: "q".into(),
            input: vec![],
            output: vec![],
            text: "a".into(),
            usage: None,
        }
    }

    #[test]
    fn reconciles_with_history_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = uuid::Uuid::new_v4().to_string();
        let b = uuid::Uuid::new_v4().to_string();
        let gone = uuid::Uuid::new_v4().to_string();
        let size = append(&history::path(dir.path(), &a), &a, 1, &turn(5)).expect("append");
        let mut idx = Index::default();
        idx.sessions.insert(
            a.clone(),
            Entry {
                name: Some("work".into()),
                turns: 1,
                bytes: size,
                last_used: 5,
                ..Entry::default()
            },
        );
        idx.sessions.insert(
            gone.clone(),
            Entry {
                turns: 3,
                ..Entry::default()
            },
        );
        idx.scopes.insert("tty1".into(), gone.clone());
        std::fs::write(
            Index::file(dir.path()),
            serde_json::to_vec(&idx).expect("json"),
        )
        .expect("write");
        // A turn landed in a's history after the index was written, and b has no entry.
        append(&history::path(dir.path(), &a), &a, 1, &turn(9)).expect("append");
        append(&history::path(dir.path(), &b), &b, 2, &turn(7)).expect("append");

        let idx = Index::load(dir.path());
        assert!(!idx.sessions.contains_key(&gone));
        assert!(idx.scopes.is_empty());
        let ea = &idx.sessions[&a];
        assert_eq!(
            (ea.turns, ea.last_used, ea.name.as_deref()),
            (2, 9, Some("work"))
        );
        assert_eq!(idx.sessions[&b].turns, 1);
        assert_eq!(idx.lookup("work"), Lookup::Found(a.clone()));
        assert_eq!(idx.lookup(&b[..8]), Lookup::Found(b.clone()));
        assert_eq!(idx.lookup("no"), Lookup::Missing);
        let list = idx.list(|_| false);
        assert_eq!(list[0].id, a, "most recent first");
    }
}
