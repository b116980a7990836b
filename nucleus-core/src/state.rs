//! On-disk records, one per live sandbox, so that a sandbox whose supervisor died (killed,
//! OOM) can still be found and cleaned up by [`cleanup_stale`].
//!
//! Records are written atomically (a temporary file opened with `O_NOFOLLOW | O_EXCL`,
//! then renamed) into a directory owned by the caller, and removed on teardown: whenever
//! a process dies, a record is either whole or absent. They are not synced to disk: what
//! they list (processes, cgroups, mounts) does not outlive the host, save a private
//! workspace in the temporary directory; a host crash can leave a record cut short,
//! which [`cleanup_stale`] removes.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sys;

/// What is known about one sandbox on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Sandbox id.
    pub id: String,
    /// Host pid of the supervisor.
    pub supervisor_pid: i32,
    /// Start time of the supervisor (tells it apart from a later process with its pid).
    pub supervisor_start: u64,
    /// A workspace directory nucleus created and must remove.
    pub private_workspace: Option<PathBuf>,
    /// The sandbox's cgroup directories, which nucleus creates and must remove.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
}

impl Record {
    /// Whether the supervisor this record names is still running.
    pub fn supervisor_alive(&self) -> bool {
        sys::process_start_time(self.supervisor_pid) == Some(self.supervisor_start)
    }
}

/// The default state directory: `/run/nucleus` for root, else
/// `$XDG_RUNTIME_DIR/nucleus`, else `/tmp/nucleus-<uid>`.
pub fn default_root() -> PathBuf {
    let uid = sys::euid();
    if uid == 0 {
        return PathBuf::from("/run/nucleus");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => Path::new(&dir).join("nucleus"),
        _ => PathBuf::from(format!("/tmp/nucleus-{uid}")),
    }
}

fn io_error(call: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Syscall { call: call.into(), path: Some(path.into()), errno: e.raw_os_error().unwrap_or(0) }
}

/// Create `root` (mode 0700) if needed and check that it is a real directory owned by us.
pub(crate) fn ensure_root(root: &Path) -> Result<()> {
    match std::fs::DirBuilder::new().recursive(true).mode(0o700).create(root) {
        Ok(()) => {}
        Err(e) => return Err(io_error("mkdir", root, e)),
    }
    let meta = std::fs::symlink_metadata(root).map_err(|e| io_error("lstat", root, e))?;
    if !meta.is_dir() || meta.uid() != sys::euid() {
        return Err(Error::config(
            "state_root",
            format!("{} must be a directory owned by uid {}", root.display(), sys::euid()),
        ));
    }
    Ok(())
}

fn record_path(root: &Path, id: &str) -> PathBuf {
    root.join(format!("{id}.json"))
}

/// Write `record` atomically under `root`.
pub(crate) fn write(root: &Path, record: &Record) -> Result<()> {
    let path = record_path(root, &record.id);
    let tmp = root.join(format!(".{}.tmp", record.id));
    let bytes = serde_json::to_vec(record).map_err(|e| Error::internal(e.to_string()))?;
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        file.write_all(&bytes)?;
        std::fs::rename(&tmp, &path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("write state record", &path, e)
    })
}

/// Remove the record of sandbox `id`; a missing record is fine.
pub(crate) fn remove(root: &Path, id: &str) -> Result<()> {
    let path = record_path(root, id);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("unlink", &path, e)),
        _ => Ok(()),
    }
}

/// Every record under `root`.
pub fn list(root: &Path) -> Result<Vec<Record>> {
    Ok(entries(root)?
        .into_iter()
        .filter_map(|(_, entry)| match entry {
            Entry::Whole(record) => Some(record),
            Entry::Cut | Entry::Foreign => None,
        })
        .collect())
}

/// What a record file holds.
enum Entry {
    Whole(Record),
    /// Cut short, or zeros where its text should be: what a host crash leaves of a record
    /// that was never synced (they are renamed into place whole).
    Cut,
    /// Whole, but not a record this version reads.
    Foreign,
}

/// The id of every record file under `root`, with what it holds.
fn entries(root: &Path) -> Result<Vec<(String, Entry)>> {
    let dir = match std::fs::read_dir(root) {
        Ok(dir) => dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("readdir", root, e)),
    };
    Ok(dir
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|x| x == "json"))
        .filter_map(|path| {
            let id = path.file_stem()?.to_str()?.to_owned();
            let bytes = std::fs::read(&path).ok()?; // gone meanwhile
            let entry = match serde_json::from_slice::<Record>(&bytes) {
                Ok(record) => Entry::Whole(record),
                Err(e) if e.is_eof() || bytes.iter().all(|&b| b == 0) => Entry::Cut,
                Err(_) => Entry::Foreign,
            };
            Some((id, entry))
        })
        .collect())
}

/// Remove a directory tree nucleus created, even where sandboxed code took away the
/// write or search permission of a directory inside it. Never follows symlinks.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    // Most workspaces are left empty: one rmdir instead of a walk.
    if std::fs::remove_dir(dir).is_ok() {
        return Ok(());
    }
    if let Err(first) = std::fs::remove_dir_all(dir) {
        if first.kind() == std::io::ErrorKind::NotFound {
            return Ok(());
        }
        restore_dir_permissions(dir);
        std::fs::remove_dir_all(dir).map_err(|e| io_error("remove workspace", dir, e))?;
    }
    Ok(())
}

fn restore_dir_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        if meta.is_dir() {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    restore_dir_permissions(&entry.path());
                }
            }
        }
    }
}

/// Clean up after sandboxes whose supervisor is gone: remove their private workspaces,
/// cgroups and records. Returns the ids cleaned. Safe to run while other sandboxes are live.
pub fn cleanup_stale(root: Option<&Path>) -> Result<Vec<String>> {
    let root = root.map_or_else(default_root, Path::to_path_buf);
    let mut cleaned = Vec::new();
    for (id, entry) in entries(&root)? {
        match entry {
            Entry::Whole(record) => {
                if clean_if_stale(&root, &record)? {
                    cleaned.push(record.id);
                }
            }
            Entry::Cut => remove(&root, &id)?,
            // Another version's: its own library cleans it.
            Entry::Foreign => {}
        }
    }
    Ok(cleaned)
}

/// Clean up after sandbox `id` if its supervisor is gone; true if there was anything.
pub(crate) fn cleanup_one(root: &Path, id: &str) -> Result<bool> {
    let path = record_path(root, id);
    let Ok(bytes) = std::fs::read(&path) else { return Ok(false) };
    let record: Record = serde_json::from_slice(&bytes)
        .map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
    clean_if_stale(root, &record)
}

fn clean_if_stale(root: &Path, record: &Record) -> Result<bool> {
    if record.supervisor_alive() {
        return Ok(false);
    }
    if let Some(ws) = &record.private_workspace {
        remove_tree(ws)?;
    }
    crate::cgroups::remove(&record.id, &record.cgroups)?;
    remove(root, &record.id)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nucleus-state-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn records_round_trip_and_stale_ones_are_cleaned() {
        let root = scratch("roundtrip");
        ensure_root(&root).unwrap();
        let ws = root.join("ws");
        std::fs::create_dir_all(ws.join("locked")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(ws.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
        let me = std::process::id() as i32;
        let live = Record {
            id: "live".into(),
            supervisor_pid: me,
            supervisor_start: sys::process_start_time(me).unwrap(),
            private_workspace: None,
            cgroups: Vec::new(),
        };
        let dead = Record {
            id: "dead".into(),
            supervisor_pid: me,
            supervisor_start: 1,
            private_workspace: Some(ws.clone()),
            cgroups: Vec::new(),
        };
        write(&root, &live).unwrap();
        write(&root, &dead).unwrap();
        // What a host crash can leave of a record that was never synced.
        std::fs::write(record_path(&root, "cut"), b"{\"id\":\"cu").unwrap();
        std::fs::write(record_path(&root, "other"), b"{\"id\":\"other\"}").unwrap();
        std::fs::write(record_path(&root, "zeros"), [0u8; 64]).unwrap();
        assert_eq!(list(&root).unwrap().len(), 2);
        assert_eq!(cleanup_stale(Some(&root)).unwrap(), vec!["dead".to_string()]);
        assert!(!ws.exists());
        assert!(!record_path(&root, "cut").exists());
        assert!(record_path(&root, "other").exists());
        assert!(!record_path(&root, "zeros").exists());
        std::fs::remove_file(record_path(&root, "other")).unwrap();
        assert_eq!(list(&root).unwrap(), vec![live]);
        remove(&root, "live").unwrap();
        remove(&root, "live").unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_state_root_that_is_a_file_is_refused() {
        let root = scratch("file");
        std::fs::write(&root, b"x").unwrap();
        let e = ensure_root(&root).unwrap_err();
        assert!(e.to_string().contains(&root.display().to_string()), "{e}");
        std::fs::remove_file(&root).unwrap();
    }
}
