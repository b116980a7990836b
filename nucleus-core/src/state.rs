//! On-disk records, one per live sandbox, so that a sandbox whose supervisor died (killed,
//! OOM) can still be found and cleaned up by [`cleanup_stale`].
//!
//! Records are written atomically (a temporary file opened with `O_NOFOLLOW | O_EXCL`,
//! then renamed) into a directory owned by the caller, and removed on teardown: whenever
//! a process dies, a record is either whole or absent. They are not synced to disk: what
//! they list (processes, cgroups, mounts) does not outlive the host, save a private
//! workspace in the temporary directory; a host crash can leave a record cut short,
//! which [`cleanup_stale`] removes.

use std::ffi::{CStr, CString};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
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
/// read, write or search permission of a directory inside it, or made it deeper than this
/// process may open descriptors: it holds two at a time, climbing back up through `..`.
/// Never follows symlinks.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    // Most workspaces are left empty: one rmdir instead of a walk.
    if std::fs::remove_dir(dir).is_ok() {
        return Ok(());
    }
    let top = match open_dir(None, &sys::cpath(dir)?) {
        Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
        other => other.map_err(|e| e.with_path(dir))?,
    };
    let removal = empty_tree(top).and_then(|()| std::fs::remove_dir(dir).map_err(|e| io_error("rmdir", dir, e)));
    removal.map_err(|e| Error::Syscall {
        call: "remove workspace".into(),
        path: Some(dir.into()),
        errno: e.errno().unwrap_or(0),
    })
}

/// A directory on the way down: its name in its parent, its identity, and the
/// subdirectories it still holds.
struct Level {
    name: Option<CString>,
    id: (u64, u64),
    pending: Vec<CString>,
}

/// Remove everything below the directory open at `top`, depth first.
fn empty_tree(top: OwnedFd) -> Result<()> {
    let mut cur = top;
    let mut levels = vec![Level { name: None, id: take_over(&cur)?, pending: clear_files(&cur)? }];
    loop {
        let level = levels.last_mut().expect("the top level is popped last");
        if let Some(name) = level.pending.pop() {
            let child = match open_dir(Some(&cur), &name) {
                Err(e) if e.errno() == Some(libc::ENOENT) => continue,
                other => other?,
            };
            levels.push(Level { name: Some(name), id: take_over(&child)?, pending: clear_files(&child)? });
            cur = child;
            continue;
        }
        let Some(Level { name: Some(name), .. }) = levels.pop() else { return Ok(()) };
        // Back up to the parent, which must be the directory this one was opened from.
        let parent = open_dir(Some(&cur), c"..")?;
        if Some(identity(&parent)?) != levels.last().map(|l| l.id) {
            return Err(Error::Syscall { call: "open ..".into(), path: None, errno: libc::ESTALE });
        }
        // SAFETY: a directory descriptor and a C string.
        let r = unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
        sys::check(r as _, "unlinkat", None)?;
        cur = parent;
    }
}

/// Unlink every entry of `dir` that is not a directory; return the names of the
/// directories.
fn clear_files(dir: &OwnedFd) -> Result<Vec<CString>> {
    let mut subdirs = Vec::new();
    // SAFETY: fdopendir takes a descriptor of its own (a duplicate), which closedir closes.
    let stream = unsafe { libc::fdopendir(libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0)) };
    if stream.is_null() {
        return Err(Error::last_os("fdopendir", None));
    }
    let result = (|| loop {
        // SAFETY: stream is open; the entry is read before the next readdir.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            return Ok(());
        }
        // SAFETY: d_name is NUL-terminated within the entry.
        let (name, kind) = unsafe { (CStr::from_ptr((*entry).d_name.as_ptr()).to_owned(), (*entry).d_type) };
        if name.as_bytes() == b"." || name.as_bytes() == b".." {
            continue;
        }
        if kind == libc::DT_DIR || (kind == libc::DT_UNKNOWN && is_dir_at(dir, &name)) {
            subdirs.push(name);
        } else {
            // SAFETY: a directory descriptor and a C string.
            sys::check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } as _, "unlinkat", None)?;
        }
    })();
    // SAFETY: stream came from fdopendir and is closed once.
    unsafe { libc::closedir(stream) };
    result.map(|()| subdirs)
}

/// Open directory `name` (at `parent`, or a path) for reading, without following a
/// symlink. One that cannot be read gets its owner's permissions back first.
fn open_dir(parent: Option<&OwnedFd>, name: &CStr) -> Result<OwnedFd> {
    let at = parent.map_or(libc::AT_FDCWD, |p| p.as_raw_fd());
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a directory descriptor (or AT_FDCWD) and a C string.
    let open = || sys::check(unsafe { libc::openat(at, name.as_ptr(), flags) } as _, "openat", None);
    let fd = match open() {
        Err(e) if e.errno() == Some(libc::EACCES) => {
            // SAFETY: as above.
            sys::check(unsafe { libc::fchmodat(at, name.as_ptr(), 0o700, 0) } as _, "fchmodat", None)?;
            open()?
        }
        other => other?,
    };
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as _) })
}

/// The identity of the directory open at `dir`, after giving its owner full access to it
/// again (sandboxed code may have taken away what removing its entries needs).
fn take_over(dir: &OwnedFd) -> Result<(u64, u64)> {
    let st = sys::fstat(dir.as_fd())?;
    if st.st_mode & 0o700 != 0o700 {
        // SAFETY: a directory descriptor.
        sys::check(unsafe { libc::fchmod(dir.as_raw_fd(), 0o700) } as _, "fchmod", None)?;
    }
    Ok((st.st_dev, st.st_ino))
}

/// The device and inode of an open file.
fn identity(fd: &OwnedFd) -> Result<(u64, u64)> {
    sys::fstat(fd.as_fd()).map(|st| (st.st_dev, st.st_ino))
}

/// Whether `name` at `dir` is a directory (not following a symlink).
fn is_dir_at(dir: &OwnedFd, name: &CStr) -> bool {
    // SAFETY: st is plain data written by the call before it is read.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFDIR
    }
}

/// Clean up after sandboxes whose supervisor is gone: remove their private workspaces,
/// cgroups and records. Returns the ids cleaned. Safe to run while other sandboxes are live.
/// A sandbox that cannot be cleaned does not hold up the others: the error names every
/// failure, and its record stays for the next call.
pub fn cleanup_stale(root: Option<&Path>) -> Result<Vec<String>> {
    let root = root.map_or_else(default_root, Path::to_path_buf);
    let mut cleaned = Vec::new();
    let mut errors = Vec::new();
    for (id, entry) in entries(&root)? {
        let result = match entry {
            Entry::Whole(record) => clean_if_stale(&root, &record).map(|stale| {
                if stale {
                    cleaned.push(record.id);
                }
            }),
            Entry::Cut => remove(&root, &id),
            // Another version's: its own library cleans it.
            Entry::Foreign => Ok(()),
        };
        errors.extend(result.err());
    }
    Error::first_of(errors).map(|()| cleaned)
}

/// Clean up after sandbox `id` if its supervisor is gone; true if there was anything.
pub(crate) fn cleanup_one(root: &Path, id: &str) -> Result<bool> {
    let path = record_path(root, id);
    let Ok(bytes) = std::fs::read(&path) else { return Ok(false) };
    let record: Record = serde_json::from_slice(&bytes)
        .map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
    clean_if_stale(root, &record)
}

/// Every part is tried even when another fails; the record goes last, once the rest is
/// gone, so that a later call can retry.
fn clean_if_stale(root: &Path, record: &Record) -> Result<bool> {
    if record.supervisor_alive() {
        return Ok(false);
    }
    let mut errors = Vec::new();
    if let Some(ws) = &record.private_workspace {
        errors.extend(remove_tree(ws).err());
    }
    errors.extend(crate::cgroups::remove(&record.id, &record.cgroups).err());
    if errors.is_empty() {
        errors.extend(remove(root, &record.id).err());
    }
    Error::first_of(errors).map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nucleus-state-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// The record of a sandbox whose supervisor is gone (this process, started at another time).
    fn stale(id: &str) -> Record {
        Record {
            id: id.into(),
            supervisor_pid: std::process::id() as i32,
            supervisor_start: 1,
            private_workspace: None,
            cgroups: Vec::new(),
        }
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
        let live = Record { supervisor_start: sys::process_start_time(me).unwrap(), ..stale("live") };
        let dead = Record { private_workspace: Some(ws.clone()), ..stale("dead") };
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
    fn a_record_that_cannot_be_cleaned_holds_up_no_other() {
        let root = scratch("holdup");
        ensure_root(&root).unwrap();
        let ws = root.join("ws");
        std::fs::create_dir_all(ws.join("a/b")).unwrap();
        // A cgroup not named after its sandbox is refused: this record cannot be cleaned.
        let stuck = Record { cgroups: vec![root.join("not-stuck")], ..stale("stuck") };
        let fine = Record { private_workspace: Some(ws.clone()), ..stale("fine") };
        write(&root, &stuck).unwrap();
        write(&root, &fine).unwrap();
        let e = cleanup_stale(Some(&root)).unwrap_err();
        assert!(e.to_string().contains("not-stuck"), "{e}");
        assert!(!ws.exists() && !record_path(&root, "fine").exists());
        assert!(record_path(&root, "stuck").exists(), "kept for the next call");
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
