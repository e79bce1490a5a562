//! File watching: the override directory (through its parent, because editors replace files
//! and the directory itself may not exist yet) and the cache directory (so a user deleting or
//! damaging the cache causes a refetch). Debounced, so one save is one reload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

/// Quiet time before a burst of events is reported.
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
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

/// Watch `override_dir`'s parent and `cache_dir`'s parent (both created if missing) and call
/// `on_change` from the watcher's thread for each debounced batch.
pub fn start(
    override_dir: &Path,
    cache_dir: &Path,
    on_change: impl Fn(Change) + Send + 'static,
) -> notify_debouncer_full::notify::Result<Watcher> {
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
    let (o, c) = (override_dir.clone(), cache_dir.clone());
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        let events = match result {
            Ok(events) => events,
            Err(errors) => {
                for e in errors {
                    tracing::debug!(error = %e, "file watcher error");
                }
                return;
            }
        };
        let (mut overrides, mut cache) = (false, false);
        // notify 8 also reports opens and read-only closes (inotify IN_OPEN/IN_CLOSE_NOWRITE);
        // the reload below opens the cache files itself, so counting those as changes made
        // an endless reload loop at idle (~47 wakeups/s, found by the bench's idle case).
        for event in events.iter().filter(|e| !e.kind.is_access()) {
            for p in &event.paths {
                overrides |= p.starts_with(&o) || o.starts_with(p);
                cache |= p.starts_with(&c) || c.starts_with(p);
            }
        }
        if overrides {
            on_change(Change::Overrides);
        }
        if cache {
            on_change(Change::Cache);
        }
    })?;
    for root in roots {
        debouncer.watch(&root, RecursiveMode::Recursive)?;
    }
    Ok(Watcher {
        _debouncer: debouncer,
    })
}
