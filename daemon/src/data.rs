//! Data controls: every place codexd stores something, with sizes, and purging by kind.
//! Credentials are never purged here: only logout deletes them, after revoking.

use std::path::Path;

use codexd_proto::data::{DataLocation, DataRequest};
use codexd_proto::{ErrorCode, WireError};

use crate::fsutil::disk_usage;
use crate::services::Services;

/// Run a directory walk or delete on a blocking thread, off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, WireError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        WireError::new(
            ErrorCode::Internal,
            "a disk operation failed unexpectedly; see `codexctl logs` and try again",
        )
    })
}

/// Answer `Request::Data`.
pub async fn handle(req: DataRequest, svc: &Services) -> Result<Vec<DataLocation>, WireError> {
    match req {
        DataRequest::List => {
            let (paths, config_path, socket) = (
                svc.paths.clone(),
                svc.config_path.clone(),
                svc.socket.clone(),
            );
            blocking(move || locations(&paths, &config_path, &socket)).await
        }
        DataRequest::Purge {
            logs,
            cache,
            sessions,
        } => {
            let mut purged = Vec::new();
            if logs {
                let dir = svc.paths.log_dir.clone();
                purged.push(
                    blocking(move || {
                        let before = disk_usage(&dir);
                        purge_logs(&dir).map_err(|e| storage("logs", &dir, e))?;
                        Ok::<_, WireError>(freed("logs", &dir, before))
                    })
                    .await??,
                );
            }
            if cache {
                let dir = svc.paths.cache_dir.clone();
                let before = blocking({
                    let dir = dir.clone();
                    move || disk_usage(&dir)
                })
                .await?;
                svc.instructions
                    .send(crate::instructions::PurgeCache)
                    .await??;
                purged.push(
                    blocking(move || {
                        crate::fsutil::remove_stale_temps(&dir, true)
                            .map_err(|e| storage("cache", &dir, e))?;
                        Ok::<_, WireError>(freed("cache", &dir, before))
                    })
                    .await??,
                );
            }
            if sessions {
                let dir = svc.paths.sessions_dir();
                let before = blocking({
                    let dir = dir.clone();
                    move || disk_usage(&dir)
                })
                .await?;
                svc.sessions.send(crate::session::PurgeSessions).await??;
                purged.push(
                    blocking(move || {
                        // A crash mid-save of the index leaves temp copies the purge must
                        // not miss.
                        crate::fsutil::remove_stale_temps(&dir, false)
                            .map_err(|e| storage("sessions", &dir, e))?;
                        Ok::<_, WireError>(freed("sessions", &dir, before))
                    })
                    .await??,
                );
            }
            tracing::info!(logs, cache, sessions, "data purged on request");
            Ok(purged)
        }
    }
}

fn loc(what: &str, path: &Path, note: Option<&str>) -> DataLocation {
    DataLocation {
        what: what.into(),
        path: path.display().to_string(),
        bytes: Some(disk_usage(path)),
        note: note.map(Into::into),
    }
}

/// Every storage location (walks directories: call it off the async workers).
pub fn locations(p: &crate::paths::Paths, config_path: &Path, socket: &Path) -> Vec<DataLocation> {
    vec![
        loc("config", config_path, None),
        loc(
            "credentials file",
            &p.credentials_file(),
            Some(
                "used when no OS keyring is available or credentials_store = \"file\"; deleted by `codexctl logout`",
            ),
        ),
        loc("sessions", &p.sessions_dir(), None),
        loc("cache", &p.cache_dir, None),
        loc("logs", &p.log_dir, None),
        loc("socket", socket, None),
        leftover_temps(p),
    ]
}

/// Temp files of interrupted writes (a crash mid-save), counted so that none hides.
fn leftover_temps(p: &crate::paths::Paths) -> DataLocation {
    let files: Vec<_> = crate::run::temp_dirs(p)
        .iter()
        .flat_map(|(dir, recursive)| crate::fsutil::stale_temps(dir, *recursive))
        .collect();
    let bytes = files.iter().map(|f| disk_usage(f)).sum();
    let note = match files.len() {
        0 => "none; a crash mid-save can leave some, removed at the next start".to_owned(),
        n => format!(
            "{n} file(s) from interrupted writes (may hold a sign-in): {}; removed at the next start, by `codexctl logout` and by `codexctl data purge`",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    DataLocation {
        what: "interrupted writes".into(),
        path: p.data_dir.display().to_string(),
        bytes: Some(bytes),
        note: Some(note),
    }
}

fn storage(what: &str, path: &Path, e: std::io::Error) -> WireError {
    WireError::new(
        ErrorCode::Storage,
        format!("could not delete the {what} in {}: {e}", path.display()),
    )
}

fn freed(what: &str, path: &Path, before: u64) -> DataLocation {
    DataLocation {
        what: what.into(),
        path: path.display().to_string(),
        bytes: Some(before.saturating_sub(disk_usage(path))),
        note: Some("deleted".into()),
    }
}

/// Delete request logs and old log files; empty the files still open for writing (deleting
/// them would make the daemon write into an unlinked file until the next rotation).
fn purge_logs(dir: &Path) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let today = utc_date(crate::now_unix());
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains(&today))
        {
            std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// `YYYY-MM-DD` (UTC), as tracing-appender names daily files (it uses the same `time` crate).
fn utc_date(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date()
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc_date(0), "1970-01-01");
        assert_eq!(super::utc_date(1_795_651_200), "2026-11-26");
    }
}
