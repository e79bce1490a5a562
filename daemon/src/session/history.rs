//! One conversation's history on disk: `<sessions dir>/<uuid>.jsonl`, append-only JSON lines.
//! The first line names the conversation; each further line is one completed turn with the
//! exact items sent and received (ids stripped), so the next turn can replay them.
//!
//! Durability: a turn is appended with one `write` and fsynced before the answer is reported
//! as done. A crash mid-append leaves a torn last line; loading ignores it and truncates the
//! file back to its last complete line, so the next append starts clean.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use codexd_proto::conversation::TokenUsage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One completed turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Completed at, unix seconds.
    pub at: u64,
    /// Model used.
    pub model: String,
    /// What the user sent, for display (prompt, then piped context if any).
    pub user: String,
    /// Items this turn added to the input (developer messages, the user message).
    pub input: Vec<Value>,
    /// Finished output items (assistant message, reasoning with `encrypted_content`).
    pub output: Vec<Value>,
    /// The answer text.
    pub text: String,
    /// Token usage.
    pub usage: Option<TokenUsage>,
}

/// A line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    /// First line.
    Meta {
        /// The conversation's UUID.
        id: String,
        /// Created, unix seconds.
        created_at: u64,
    },
    /// A turn.
    Turn(Turn),
}

/// A loaded history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Created, unix seconds (0 when the file has no header).
    pub created_at: u64,
    /// Turns, oldest first.
    pub turns: Vec<Turn>,
    /// Bytes of complete lines (the file size after any repair).
    pub bytes: u64,
}

impl History {
    /// Every input item of every turn, in order: what the next request replays.
    pub fn items(&self) -> Vec<Value> {
        self.turns
            .iter()
            .flat_map(|t| t.input.iter().chain(t.output.iter()).cloned())
            .collect()
    }

    /// Total tokens over all turns.
    pub fn tokens(&self) -> u64 {
        self.turns
            .iter()
            .filter_map(|t| t.usage.map(|u| u.total))
            .sum()
    }
}

/// Path of a conversation's file.
pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.jsonl"))
}

/// Load a history; a missing file is an empty history. A torn or garbled last line is
/// dropped and cut off the file; garbled lines in the middle are skipped.
pub fn load(path: &Path) -> io::Result<History> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let mut history = History::default();
    let mut good_end = 0usize;
    let mut start = 0usize;
    while start < buf.len() {
        let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') else {
            break; // torn tail: no newline
        };
        let line = &buf[start..start + nl];
        match serde_json::from_slice::<Line>(line) {
            Ok(Line::Meta { created_at, .. }) => history.created_at = created_at,
            Ok(Line::Turn(t)) => history.turns.push(t),
            Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "skipping an unreadable line in a conversation history")
            }
        }
        start += nl + 1;
        good_end = start;
    }
    if good_end < buf.len() {
        tracing::warn!(file = %path.display(), dropped = buf.len() - good_end, "conversation history ended in a torn line (crash during a write?); cutting it off");
        file.set_len(good_end as u64)?;
        file.sync_all()?;
    }
    history.bytes = good_end as u64;
    Ok(history)
}

/// Append a turn (creating the file with its header first), fsync, and return the new size.
pub fn append(path: &Path, id: &str, created_at: u64, turn: &Turn) -> io::Result<u64> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("history path has no directory"))?;
    let new = !path.exists();
    if new {
        crate::fsutil::create_private_dir(dir)?;
    }
    let mut out = Vec::new();
    if new {
        serde_json::to_writer(
            &mut out,
            &Line::Meta {
                id: id.to_owned(),
                created_at,
            },
        )?;
        out.push(b'\n');
    }
    serde_json::to_writer(&mut out, &Line::Turn(turn.clone()))?;
    out.push(b'\n');
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let before = f.metadata()?.len();
    if let Err(e) = f.write_all(&out).and_then(|()| f.sync_data()) {
        // A full disk can take part of the line: cut it off again, or the next turn's line
        // would be glued to it and both would be unreadable.
        if f.set_len(before).and_then(|()| f.sync_data()).is_err() {
            tracing::warn!(file = %path.display(), "a failed history append could not be undone; the torn line is dropped when the file is next loaded");
        }
        return Err(e);
    }
    let len = f.metadata()?.len();
    if new {
        crate::fsutil::sync_dir(dir)?;
    }
    Ok(len)
}

/// Delete a conversation's file (missing is fine).
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Size of a file, 0 when missing.
pub fn size(path: &Path) -> u64 {
    File::open(path)
        .and_then(|f| f.metadata())
        .map(|m| m.len())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(n: u64) -> Turn {
        Turn {
            at: n,
            model: "m".into(),
            user: format!("q{n}"),
            input: vec![
                json!({"type":"message","role":"user","content":[{"type":"input_text","text":format!("q{n}")}]}),
            ],
            output: vec![json!({"type":"reasoning","summary":[],"encrypted_content":"enc"})],
            text: format!("a{n}"),
            usage: Some(TokenUsage {
                total: 10,
                ..TokenUsage::default()
            }),
        }
    }

    #[test]
    fn appends_and_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), "abc");
        assert_eq!(load(&p).expect("load"), History::default());
        append(&p, "abc", 7, &turn(1)).expect("append");
        let size = append(&p, "abc", 7, &turn(2)).expect("append");
        let h = load(&p).expect("load");
        assert_eq!(h.created_at, 7);
        assert_eq!(h.turns, vec![turn(1), turn(2)]);
        assert_eq!(h.bytes, size);
        assert_eq!(h.tokens(), 20);
        assert_eq!(h.items().len(), 4);
    }

    #[test]
    fn torn_last_line_is_dropped_and_repaired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), "abc");
        let good = append(&p, "abc", 7, &turn(1)).expect("append");
        let mut f = OpenOptions::new().append(true).open(&p).expect("open");
        f.write_all(br#"{"kind":"turn","at":2,"mod"#)
            .expect("write");
        drop(f);
        let h = load(&p).expect("load");
        assert_eq!(h.turns, vec![turn(1)]);
        assert_eq!(size(&p), good, "torn tail cut off");
        append(&p, "abc", 7, &turn(3)).expect("append");
        assert_eq!(load(&p).expect("load").turns, vec![turn(1), turn(3)]);
    }
}
