//! The zygote: one `nucleus-shim` process per caller process that forks a supervisor for
//! each new sandbox.
//!
//! Starting the supervisor from its executable costs about a millisecond per sandbox
//! (exec, dynamic linking, runtime start-up); forking a small single-threaded process
//! that is already running costs a tenth of that. The library itself still never forks:
//! the caller spawns the zygote once with `posix_spawn` (see [`crate::shim`]) and from
//! then on sends it each sandbox's control socket. The zygote forks, the child becomes
//! that sandbox's supervisor, and the zygote answers with a pidfd of it, which the
//! caller polls to learn when the supervisor has finished cleaning up.
//!
//! The zygote holds nothing of a sandbox once it has forked: it closes the control socket
//! at once, so the caller's socket stays the sandbox's only lifeline. It exits when the
//! caller process goes (its socket reaches EOF); the supervisors it forked carry on with
//! their own lifelines.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::shim::{self, Supervisor};
use crate::protocol::{self, PROTOCOL_VERSION};
use crate::{supervisor, sys};

/// Caller to zygote; the new sandbox's control socket and a socket for the answer are
/// attached. Answers go to their own socket, so any number of threads (or processes that
/// share the zygote after a fork) can ask at once without getting each other's answer.
#[derive(Debug, Serialize, Deserialize)]
struct Fork {
    /// Must equal [`PROTOCOL_VERSION`]: a zygote from another build refuses.
    version: u32,
}

/// Zygote to caller, on the request's answer socket.
#[derive(Debug, Serialize, Deserialize)]
enum Forked {
    /// The supervisor runs with this (host) pid; its pidfd is attached.
    Supervisor(libc::pid_t),
    /// It could not be forked.
    Failed(Error),
}

/// The zygote's loop: fork a supervisor for each control socket received on `socket`,
/// until the caller closes it.
pub(crate) fn serve(socket: OwnedFd) -> Result<()> {
    // The kernel reaps the supervisors; the caller watches them through their pidfds.
    sys::set_signal_handler(libc::SIGCHLD, libc::SIG_IGN)?;
    loop {
        let Some((Fork { version }, fds)) = protocol::recv::<Fork>(&socket)? else {
            return Ok(());
        };
        // A malformed request has nowhere to be answered; dropping its descriptors is
        // the answer (the caller sees EOF).
        let Ok([control, answer]) = <[OwnedFd; 2]>::try_from(fds) else { continue };
        if let Err(e) = protocol::check_version(version) {
            let _ = protocol::send(&answer, &Forked::Failed(e), &[]);
            continue;
        }
        let forked = sys::fork().and_then(|pid| {
            if pid == 0 {
                // The supervisor keeps only its own sandbox's socket. SAFETY: this child
                // exits below and never uses `socket` or `answer` again.
                unsafe {
                    libc::close(socket.as_raw_fd());
                    libc::close(answer.as_raw_fd());
                }
                // The supervisor waits for its init itself.
                let code = match sys::set_signal_handler(libc::SIGCHLD, libc::SIG_DFL) {
                    Ok(()) => supervisor::supervise(control),
                    Err(_) => 1,
                };
                // SAFETY: _exit skips the exit handlers, which belong to the zygote.
                unsafe { libc::_exit(code) }
            }
            drop(control);
            Ok((pid, sys::pidfd_open(pid)?))
        });
        // The caller may have gone meanwhile; that is its supervisor's business.
        let _ = match forked {
            Ok((pid, pidfd)) => protocol::send(&answer, &Forked::Supervisor(pid), &[pidfd.as_raw_fd()]),
            Err(e) => protocol::send(&answer, &Forked::Failed(e), &[]),
        };
    }
}

/// A zygote this process spawned.
struct Zygote {
    socket: OwnedFd,
    /// Its pid, to reap it should it ever die before this process.
    pid: libc::pid_t,
}

impl Zygote {
    fn spawn(path: &Path) -> Result<Zygote> {
        let (mine, theirs) = sys::seqpacket_pair()?;
        let pid = shim::spawn(path, &theirs)?;
        Ok(Zygote { socket: mine, pid })
    }

    /// Ask for a supervisor serving `control`; returns the socket its answer comes on,
    /// or `None` if the zygote is gone.
    fn ask(&self, control: &OwnedFd) -> Result<Option<OwnedFd>> {
        let (answer, answer_theirs) = sys::seqpacket_pair()?;
        let request = Fork { version: PROTOCOL_VERSION };
        match protocol::send(&self.socket, &request, &[control.as_raw_fd(), answer_theirs.as_raw_fd()]) {
            Err(Error::Syscall { errno: libc::EPIPE | libc::ECONNRESET, .. }) => Ok(None),
            other => other.map(|()| Some(answer)),
        }
    }
}

/// Read the answer to a request for a supervisor; `None` when the zygote died before
/// answering.
fn answer(answer: &OwnedFd) -> Result<Option<Supervisor>> {
    match protocol::recv::<Forked>(answer)? {
        Some((Forked::Supervisor(pid), mut fds)) if fds.len() == 1 => Ok(Some(Supervisor::new(pid, fds.remove(0)))),
        Some((Forked::Supervisor(_), _)) => Err(Error::supervisor("the zygote sent no pidfd")),
        Some((Forked::Failed(e), _)) => Err(e),
        None => Ok(None),
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        // A dead zygote, or one inherited through fork() (not this process's child: then
        // this only closes this process's copy of the socket).
        let _ = sys::waitpid(self.pid, libc::WNOHANG);
    }
}

/// Which zygote serves a request. Supervisors start from the zygote's state, not the
/// calling thread's, so there is one per supervisor executable, effective user, process
/// (a child made with fork() gets its own, and does not keep its parent's alive) and set
/// of user, mount and network namespaces of the calling thread (`Network::Host` means its
/// network). Other state (capabilities, no_new_privs, cgroup) is the process's when its
/// zygote was spawned.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    euid: u32,
    process: u32,
    namespaces: [u64; 3],
}

impl Key {
    fn of_caller(path: &Path) -> Key {
        let inode = |name: &str| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!("/proc/thread-self/ns/{name}")).map_or(0, |m| m.ino())
        };
        Key {
            path: path.to_path_buf(),
            euid: sys::euid(),
            process: std::process::id(),
            namespaces: [inode("user"), inode("mnt"), inode("net")],
        }
    }
}

fn zygotes() -> &'static Mutex<HashMap<Key, Arc<Zygote>>> {
    static ZYGOTES: OnceLock<Mutex<HashMap<Key, Arc<Zygote>>>> = OnceLock::new();
    ZYGOTES.get_or_init(Default::default)
}

/// This process's zygote for `key`, spawned on first use. Zygotes inherited through
/// fork() are forgotten here.
fn zygote(key: &Key) -> Result<Arc<Zygote>> {
    let mut zygotes = zygotes().lock().unwrap_or_else(|p| p.into_inner());
    zygotes.retain(|k, _| k.process == key.process);
    if let Some(zygote) = zygotes.get(key) {
        return Ok(zygote.clone());
    }
    let zygote = Arc::new(Zygote::spawn(&key.path)?);
    zygotes.insert(key.clone(), zygote.clone());
    Ok(zygote)
}

/// A supervisor asked of the zygote and not yet answered.
pub(crate) struct Pending {
    key: Key,
    zygote: Arc<Zygote>,
    /// The caller's and the supervisor's ends of the new sandbox's control socket.
    control: (OwnedFd, OwnedFd),
    answer: Option<OwnedFd>,
}

/// Ask this process's zygote for `path` (spawned on first use) for a supervisor for a new
/// sandbox; the caller goes on with other work while it is forked.
pub(crate) fn request_supervisor(path: &Path) -> Result<Pending> {
    let key = Key::of_caller(path);
    let zygote = zygote(&key)?;
    let control = sys::seqpacket_pair()?;
    let answer = zygote.ask(&control.1)?;
    Ok(Pending { key, zygote, control, answer })
}

impl Pending {
    /// The supervisor and the caller's end of its control socket. A zygote that has died
    /// is replaced once.
    pub(crate) fn wait(self) -> Result<(Supervisor, OwnedFd)> {
        let Pending { key, zygote, control, answer: first } = self;
        if let Some(supervisor) = first.as_ref().map(answer).transpose()?.flatten() {
            return Ok((supervisor, control.0));
        }
        forget(&key, &zygote);
        // A fresh socket: a supervisor forked by the zygote that died before answering
        // sees EOF on its copy and exits.
        let (mine, theirs) = sys::seqpacket_pair()?;
        let zygote = self::zygote(&key)?;
        match zygote.ask(&theirs)?.as_ref().map(answer).transpose()?.flatten() {
            Some(supervisor) => Ok((supervisor, mine)),
            None => {
                forget(&key, &zygote);
                Err(Error::supervisor(format!("the {} zygote exits as soon as it starts", shim::SHIM_NAME)))
            }
        }
    }
}

/// Drop a zygote found dead from the table (unless another thread already replaced it).
fn forget(key: &Key, zygote: &Arc<Zygote>) {
    let mut zygotes = zygotes().lock().unwrap_or_else(|p| p.into_inner());
    if zygotes.get(key).is_some_and(|z| Arc::ptr_eq(z, zygote)) {
        zygotes.remove(key);
    }
}
