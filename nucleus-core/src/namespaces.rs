//! Which namespaces a sandbox gets, kept as data in the fixed order they are listed in,
//! and the clone/unshare flags that create them.

use serde::{Deserialize, Serialize};

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use crate::config::{Network, SandboxConfig};
use crate::error::{Error, Result};
use crate::idmap::UserPlan;
use crate::sys;

/// One Linux namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    /// Users and groups (`CLONE_NEWUSER`).
    User,
    /// Process ids (`CLONE_NEWPID`); the sandbox gets its own PID 1.
    Pid,
    /// Mounts (`CLONE_NEWNS`).
    Mount,
    /// Network stack (`CLONE_NEWNET`).
    Net,
    /// System V IPC and POSIX message queues (`CLONE_NEWIPC`).
    Ipc,
    /// Hostname (`CLONE_NEWUTS`).
    Uts,
    /// cgroup root (`CLONE_NEWCGROUP`).
    Cgroup,
}

/// Every namespace, in the order a report lists them.
pub const ORDERED_NAMESPACES: [Namespace; 7] = [
    Namespace::User,
    Namespace::Pid,
    Namespace::Mount,
    Namespace::Net,
    Namespace::Ipc,
    Namespace::Uts,
    Namespace::Cgroup,
];

impl Namespace {
    /// The `CLONE_NEW*` flag.
    pub fn flag(self) -> libc::c_int {
        match self {
            Namespace::User => libc::CLONE_NEWUSER,
            Namespace::Pid => libc::CLONE_NEWPID,
            Namespace::Mount => libc::CLONE_NEWNS,
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Uts => libc::CLONE_NEWUTS,
            Namespace::Cgroup => libc::CLONE_NEWCGROUP,
        }
    }

    /// Open this namespace of process `pid`.
    pub(crate) fn open_of(self, pid: libc::pid_t) -> Result<OwnedFd> {
        let path = PathBuf::from(format!("/proc/{pid}/ns/{}", self.proc_name()));
        sys::openat2(None, &path, libc::O_RDONLY, 0, 0)
    }

    /// The name the kernel uses under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Pid => "pid",
            Namespace::Mount => "mnt",
            Namespace::Net => "net",
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
            Namespace::Cgroup => "cgroup",
        }
    }
}

/// Namespaces made beside the sandbox's init, for it to enter once its root is built
/// (see [`Plan::namespaces_beside`](crate::protocol::Plan::namespaces_beside)). A child
/// process makes them, so the kernel's work runs in parallel with the supervisor's own,
/// and holds them, since a namespace lives only while a process is in it, until they
/// are opened (and a user namespace's maps written).
pub(crate) struct Holder {
    pid: libc::pid_t,
    /// Where the child reports the errno of its unshare (0: done).
    report: OwnedFd,
    kinds: Vec<Namespace>,
}

/// The calls a namespace holder makes, as it reports the one that failed.
const HOLDER_CALLS: [&str; 3] = ["setns(user)", "unshare", "bring up lo"];

impl Holder {
    /// Start a child that unshares `kinds`, in this order, from inside the user
    /// namespace open at `user`, if given (rootless: the sandbox's, which owns them). In
    /// a new network namespace it brings loopback up, off the init's path (and before a
    /// root caller's user namespace, inside which it could not).
    pub(crate) fn spawn(kinds: Vec<Namespace>, user: Option<OwnedFd>) -> Result<Holder> {
        let (report, report_in_child) = sys::pipe()?;
        let parent = std::process::id() as libc::pid_t;
        let pid = sys::fork()?;
        if pid == 0 {
            // SAFETY: a plain system call. This child of a single-threaded process dies
            // with its parent, or when killed.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            // The failed call's index in HOLDER_CALLS, with its errno.
            let failure: Option<(u8, i32)> = (|| {
                if let Some(fd) = &user {
                    sys::setns(fd.as_fd(), libc::CLONE_NEWUSER).map_err(|e| (0, e.errno().unwrap_or(0)))?;
                }
                for ns in &kinds {
                    sys::unshare(ns.flag()).map_err(|e| (1, e.errno().unwrap_or(0)))?;
                    if *ns == Namespace::Net {
                        crate::network::loopback_up().map_err(|e| (2, e.errno().unwrap_or(0)))?;
                    }
                }
                Ok(())
            })()
            .err();
            // All went well: an index past HOLDER_CALLS.
            let (call, errno) = failure.unwrap_or((u8::MAX, 0));
            let [a, b, c, d] = errno.to_ne_bytes();
            // SAFETY: plain system calls on a buffer of this function's.
            unsafe {
                libc::write(report_in_child.as_raw_fd(), [call, a, b, c, d].as_ptr().cast(), 5);
                while failure.is_none() && libc::getppid() == parent {
                    libc::pause();
                }
                libc::_exit(0)
            }
        }
        Ok(Holder { pid, report, kinds })
    }

    /// Wait for the namespaces, write a new user namespace's maps from `user`, and open
    /// them.
    pub(crate) fn open(self, user: &UserPlan) -> Result<Vec<(Namespace, OwnedFd)>> {
        let mut report = [0u8; 5];
        if sys::read(self.report.as_fd(), &mut report)? != report.len() {
            return Err(Error::supervisor("the namespace holder died"));
        }
        let [call, a, b, c, d] = report;
        if let Some(call) = HOLDER_CALLS.get(call as usize) {
            return Err(Error::Syscall { call: (*call).into(), path: None, errno: i32::from_ne_bytes([a, b, c, d]) });
        }
        if self.kinds.contains(&Namespace::User) {
            user.write_maps(self.pid)?;
        }
        self.kinds
            .iter()
            .map(|ns| Ok((*ns, ns.open_of(self.pid)?)))
            .collect()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = sys::kill(self.pid, libc::SIGKILL);
        let _ = sys::waitpid(self.pid, 0);
    }
}

/// The namespaces of one sandbox and the identity-free settings made inside them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespacePlan {
    /// Namespaces to create, in [`ORDERED_NAMESPACES`] order.
    pub create: Vec<Namespace>,
    /// Hostname set in the new UTS namespace.
    pub hostname: String,
}

impl NamespacePlan {
    /// The namespaces a config asks for.
    pub fn compile(config: &SandboxConfig) -> NamespacePlan {
        let create = ORDERED_NAMESPACES
            .into_iter()
            .filter(|ns| match ns {
                Namespace::User => config.user.namespace,
                Namespace::Net => config.network == Network::None,
                _ => true,
            })
            .collect();
        NamespacePlan { create, hostname: config.hostname.clone() }
    }

    /// Whether `ns` is created.
    pub fn has(&self, ns: Namespace) -> bool {
        self.create.contains(&ns)
    }

    /// The clone flags for every namespace but the user namespace.
    pub fn flags_without_user(&self) -> libc::c_int {
        self.create.iter().filter(|&&ns| ns != Namespace::User).fold(0, |f, ns| f | ns.flag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_creates_all_seven() {
        let plan = NamespacePlan::compile(&SandboxConfig::new());
        assert_eq!(plan.create, ORDERED_NAMESPACES.to_vec());
        assert_eq!(plan.flags_without_user() & libc::CLONE_NEWUSER, 0);
        assert_ne!(plan.flags_without_user() & libc::CLONE_NEWNET, 0);
    }

    #[test]
    fn host_network_keeps_the_host_net_namespace() {
        let plan = NamespacePlan::compile(&SandboxConfig::new().network(Network::Host));
        assert!(!plan.has(Namespace::Net));
        assert_eq!(plan.flags_without_user() & libc::CLONE_NEWNET, 0);
    }
}
