//! Finding, sealing and spawning the supervisor executable (`nucleus-shim`).
//!
//! The library never forks: the executable is started with `posix_spawn`, which is safe
//! in a multithreaded caller, once per caller process; it becomes the
//! zygote (`zygote.rs`) that forks each sandbox's supervisor. It runs from a sealed `memfd` copy, made once per caller
//! process, so nothing inside a sandbox can rewrite the binary through `/proc/<pid>/exe`
//! (CVE-2019-5736).

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::sys;

/// The supervisor executable's file name.
pub const SHIM_NAME: &str = "nucleus-shim";

/// Environment variable naming the supervisor executable.
pub const SHIM_ENV: &str = "NUCLEUS_SHIM";

/// The descriptor number the zygote finds its socket at.
pub const ZYGOTE_FD: i32 = 3;

/// The sealed copy lives at or above this descriptor number, clear of the ones the
/// spawn's file actions write.
const SPAWN_FD_FLOOR: i32 = 10;

/// Find the supervisor: the explicit path, then `$NUCLEUS_SHIM`, then next to the loaded
/// library, then next to the running executable (and its parent directory, where cargo
/// puts test binaries), then the path fixed at build time, then `$PATH`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os(SHIM_ENV) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(Error::config(SHIM_ENV, format!("{} is not a file", path.display())));
    }
    let mut candidates = Vec::new();
    if let Some(dir) = loaded_library_dir() {
        candidates.push(dir.join(SHIM_NAME));
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            candidates.push(dir.join(SHIM_NAME));
        }
    }
    if let Some(path) = option_env!("NUCLEUS_SHIM_BUILD_PATH") {
        candidates.push(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|d| d.join(SHIM_NAME)));
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| Error::Unsupported {
        layer: "supervisor".into(),
        reason: format!(
            "cannot find the {SHIM_NAME} executable; build it (cargo build -p nucleus-core --bin nucleus-shim) \
             and set {SHIM_ENV} or the shim_path config field"
        ),
    })
}

/// The directory of the shared object that contains this code, when it is one.
fn loaded_library_dir() -> Option<PathBuf> {
    // SAFETY: dladdr only reads loader tables; info is written on success.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(loaded_library_dir as *const libc::c_void, &mut info) == 0
            || info.dli_fname.is_null()
        {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(info.dli_fname);
        Path::new(OsStr::from_bytes(name.to_bytes())).parent().map(Path::to_path_buf)
    }
}

/// Sealed in-memory copies of supervisor executables, one per path, for the whole process.
fn sealed_copies() -> &'static Mutex<HashMap<PathBuf, Arc<OwnedFd>>> {
    static COPIES: OnceLock<Mutex<HashMap<PathBuf, Arc<OwnedFd>>>> = OnceLock::new();
    COPIES.get_or_init(Default::default)
}

/// A sealed memfd holding the bytes of `path`, shared by every sandbox of this process.
fn sealed_copy(path: &Path) -> Result<Arc<OwnedFd>> {
    let mut copies = sealed_copies().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(fd) = copies.get(path) {
        return Ok(fd.clone());
    }
    let bytes = std::fs::read(path).map_err(|e| Error::Syscall {
        call: "read".into(),
        path: Some(path.to_path_buf()),
        errno: e.raw_os_error().unwrap_or(0),
    })?;
    const MFD_EXEC: u32 = 0x10;
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let memfd = sys::memfd_create(c"nucleus-shim", flags | MFD_EXEC)
        .or_else(|_| sys::memfd_create(c"nucleus-shim", flags))?;
    // The spawn's file actions rewrite descriptors 0-3 in the child before it execs
    // /proc/self/fd/N; a copy at one of those numbers would be replaced by then.
    let memfd = sys::dup_above(memfd.as_fd(), SPAWN_FD_FLOOR)?;
    sys::write_all(memfd.as_fd(), &bytes)?;
    sys::add_seals(
        memfd.as_fd(),
        libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE,
    )?;
    let memfd = Arc::new(memfd);
    copies.insert(path.to_path_buf(), memfd.clone());
    Ok(memfd)
}

/// A running supervisor process (a child of this process's zygote).
#[derive(Debug)]
pub(crate) struct Supervisor {
    pid: libc::pid_t,
    pidfd: OwnedFd,
}

impl Supervisor {
    pub(crate) fn new(pid: libc::pid_t, pidfd: OwnedFd) -> Supervisor {
        Supervisor { pid, pidfd }
    }

    /// Host pid of the supervisor.
    pub(crate) fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Wait up to `timeout` for the supervisor to exit.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut fds = [libc::pollfd { fd: self.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match sys::poll(&mut fds, Some(left)) {
                Ok(n) if n > 0 => return true,
                _ if left.is_zero() => return false,
                _ => {}
            }
        }
    }

    /// Kill the supervisor (last resort when it does not exit by itself).
    pub(crate) fn kill(&self) {
        // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, self.pidfd.as_raw_fd(), libc::SIGKILL, 0, 0) };
        // Valgrind may not know the call: kill by pid, which cannot have been reused
        // while the pidfd says the process still runs.
        if r < 0 && sys::errno() == libc::ENOSYS && !self.wait(Duration::ZERO) {
            let _ = sys::kill(self.pid, libc::SIGKILL);
        }
    }
}

/// Start the executable at `path` (it becomes a zygote (`zygote.rs`)) with `socket` as
/// its descriptor 3 and /dev/null as its standard streams (stderr is inherited when
/// `NUCLEUS_DEBUG` is set). Returns its pid.
pub(crate) fn spawn(path: &Path, socket: &OwnedFd) -> Result<libc::pid_t> {
    let memfd = sealed_copy(path);
    let program = match &memfd {
        Ok(fd) => CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL"),
        Err(_) => sys::cpath(path)?,
    };
    let argv0 = CString::new(SHIM_NAME).expect("no NUL");
    let argv = [argv0.as_ptr(), std::ptr::null()];
    let debug = std::env::var_os("NUCLEUS_DEBUG").is_some();
    let env_debug = CString::new("NUCLEUS_DEBUG=1").expect("no NUL");
    let envp = if debug { [env_debug.as_ptr(), std::ptr::null()] } else { [std::ptr::null(); 2] };
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer handed to posix_spawn points at live, NUL-terminated data;
    // the attribute and action objects are initialised before use and destroyed after.
    let rc = unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawnattr_init(&mut attr);
        let null = c"/dev/null";
        libc::posix_spawn_file_actions_addopen(&mut actions, 0, null.as_ptr(), libc::O_RDONLY, 0);
        libc::posix_spawn_file_actions_addopen(&mut actions, 1, null.as_ptr(), libc::O_WRONLY, 0);
        if !debug {
            libc::posix_spawn_file_actions_addopen(&mut actions, 2, null.as_ptr(), libc::O_WRONLY, 0);
        }
        // dup2 clears close-on-exec on the copy, so only this socket is inherited.
        libc::posix_spawn_file_actions_adddup2(&mut actions, socket.as_raw_fd(), ZYGOTE_FD);
        // A fresh session keeps terminal signals (Ctrl-C) away from the zygote and the
        // supervisors it forks: they must outlive the caller long enough to clean up. Signal state inherited from
        // the host (ignored SIGCHLD, blocked signals) is reset.
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigemptyset(&mut none);
        libc::posix_spawnattr_setsigdefault(&mut attr, &all);
        libc::posix_spawnattr_setsigmask(&mut attr, &none);
        libc::posix_spawnattr_setflags(
            &mut attr,
            (libc::POSIX_SPAWN_SETSIGDEF
                | libc::POSIX_SPAWN_SETSIGMASK
                | libc::POSIX_SPAWN_SETSID as libc::c_int) as libc::c_short,
        );
        let rc = libc::posix_spawn(
            &mut pid,
            program.as_ptr(),
            &actions,
            &attr,
            argv.as_ptr() as *const *mut libc::c_char,
            envp.as_ptr() as *const *mut libc::c_char,
        );
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        rc
    };
    if rc != 0 {
        return Err(Error::Syscall { call: "posix_spawn".into(), path: Some(path.into()), errno: rc });
    }
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_copy_stays_clear_of_the_descriptors_the_spawn_rewrites() {
        let path = std::env::current_exe().unwrap();
        let copy = sealed_copy(&path).unwrap();
        assert!(copy.as_raw_fd() >= SPAWN_FD_FLOOR, "fd {}", copy.as_raw_fd());
        assert!(Arc::ptr_eq(&copy, &sealed_copy(&path).unwrap()), "one copy per path");
        // Sealed: the running binary cannot be rewritten through it.
        let e = sys::write(copy.as_fd(), b"x").unwrap_err();
        assert_eq!(e.errno(), Some(libc::EPERM));
    }
}
