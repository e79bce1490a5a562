//! Durable file writes: temp file in the same directory, fsync, rename, fsync the directory.
//! A crash at any point leaves either the old or the new file, never a torn one — plus, when
//! it struck between create and rename, a `.<name>.<pid>.<n>.tmp` leftover that may hold a
//! secret (a refresh token); [`remove_stale_temps`] deletes those at start and in every
//! delete path, and [`stale_temps`] lets `data list` count them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Atomically replace `path` with `bytes`, created with `mode` (e.g. 0o600 for secrets).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent directory"))?;
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed or the file existed before: set the mode exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// fsync a directory so a rename or create in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create a directory (and parents) with mode 0700 for the leaf.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Total size in bytes of a file or of every file below a directory (0 if missing).
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}

/// True for a name [`write_atomic`] gives its temp files: `.<name>.<pid>.<random>.tmp`.
fn is_atomic_temp(file_name: &str) -> bool {
    let Some(inner) = file_name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
    else {
        return false;
    };
    let mut parts = inner.rsplitn(3, '.');
    let (Some(random), Some(pid), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(random) && digits(pid) && !target.is_empty()
}

/// Leftover temp files of interrupted atomic writes in `dir` (and below, when `recursive`).
pub fn stale_temps(dir: &Path, recursive: bool) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let path = e.path();
        if kind.is_dir() && recursive {
            out.extend(stale_temps(&path, true));
        } else if kind.is_file() && e.file_name().to_str().is_some_and(is_atomic_temp) {
            out.push(path);
        }
    }
    out
}

/// Delete the leftover temp files of interrupted atomic writes in `dir` (and below, when
/// `recursive`); returns how many were removed. Only call this while no write to that
/// directory is in flight (at start, or from the actor that owns the directory).
pub fn remove_stale_temps(dir: &Path, recursive: bool) -> io::Result<usize> {
    let mut removed = 0;
    for path in stale_temps(dir, recursive) {
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if removed > 0 {
        let _ = sync_dir(dir);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("sub/creds.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[test]
    fn stale_temps_are_found_and_removed_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::create_dir(d.join("sub")).unwrap();
        for name in [
            ".credentials.json.123.456.tmp",
            "sub/.index.json.1.2.tmp",
            "credentials.json",
            ".hidden.tmp",
            "x.1.2.tmp",
            ".a.b.tmp",
        ] {
            fs::write(d.join(name), "x").unwrap();
        }
        assert_eq!(stale_temps(d, false).len(), 1);
        assert_eq!(stale_temps(d, true).len(), 2);
        assert_eq!(remove_stale_temps(d, true).unwrap(), 2);
        assert!(d.join("credentials.json").exists());
        assert!(d.join(".hidden.tmp").exists());
        assert!(d.join("x.1.2.tmp").exists());
        assert!(stale_temps(d, true).is_empty());
    }
}
