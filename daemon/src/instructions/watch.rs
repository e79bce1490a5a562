//! File watching: the override directory (through its parent, because editors replace files
//! and the directory itself may not exist yet) and the cache directory (so a user deleting or
//! damaging the cache causes a refetch). Debounced on the runtime, so one save is one reload —
//! and an idle daemon has no timer ticking (a debouncer thread polling every 50 ms was the
//! daemon's only idle wakeup source).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::UnboundedReceiver;

/// Quiet time before a burst of events is handled.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Something in (or the existence of) the override directory.
    Overrides,
    /// Something in the cache directory.
    Cache,
}

/// Keeps the watcher alive; dropping it stops watching.
pub struct Watcher {
    _watcher: RecommendedWatcher,
}

/// Watch `override_dir`'s parent and `cache_dir`'s parent (both created if missing) and call
/// `on_change` from the watcher's thread for every relevant event (undebounced: feed them to
/// [`next_batch`]).
pub fn start(
    override_dir: &Path,
    cache_dir: &Path,
    on_change: impl Fn(Change) + Send + 'static,
) -> notify::Result<Watcher> {
    let override_dir = override_dir.to_path_buf();
    let cache_dir = cache_dir.to_path_buf();
    let roots: Vec<PathBuf> = [&override_dir, &cache_dir]
        .iter()
        .map(|d| {
            d.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| (*d).clone())
        })
        .collect();
    for root in &roots {
        std::fs::create_dir_all(root)?;
    }
    let (o, c) = (override_dir, cache_dir);
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        let event = match result {
            Ok(event) => event,
            Err(e) => {
                tracing::debug!(error = %e, "file watcher error");
                return;
            }
        };
        // Opens and read-only closes are reported too; the reload opens the cache files
        // itself, so counting those as changes would reload forever.
        if event.kind.is_access() {
            return;
        }
        let overrides = event
            .paths
            .iter()
            .any(|p| p.starts_with(&o) || o.starts_with(p));
        let cache = event
            .paths
            .iter()
            .any(|p| p.starts_with(&c) || c.starts_with(p));
        if overrides {
            on_change(Change::Overrides);
        }
        if cache {
            on_change(Change::Cache);
        }
    })?;
    for root in roots {
        watcher.watch(&root, RecursiveMode::Recursive)?;
    }
    Ok(Watcher { _watcher: watcher })
}

/// Wait for the next burst of changes and coalesce it until [`DEBOUNCE`] of quiet: `(overrides
/// changed, cache changed)`, or `None` once the watcher is gone.
pub async fn next_batch(rx: &mut UnboundedReceiver<Change>) -> Option<(bool, bool)> {
    let first = rx.recv().await?;
    let (mut overrides, mut cache) = (first == Change::Overrides, first == Change::Cache);
    while let Ok(Some(next)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
        overrides |= next == Change::Overrides;
        cache |= next == Change::Cache;
    }
    Some((overrides, cache))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_one_batch() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..5 {
            tx.send(Change::Overrides).unwrap();
        }
        tx.send(Change::Cache).unwrap();
        assert_eq!(next_batch(&mut rx).await, Some((true, true)));
        drop(tx);
        assert_eq!(next_batch(&mut rx).await, None);
    }
}
