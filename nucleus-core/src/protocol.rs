//! Messages between the caller and the supervisor. They travel as JSON datagrams over
//! `SOCK_SEQPACKET` unix sockets, with descriptors attached by `SCM_RIGHTS`.
//!
//! The caller holds one control socket per sandbox. The first message on it is the
//! [`Plan`]; the supervisor answers with one [`SetupReply`]. Every later request carries
//! its own reply socket, so concurrent requests from many threads never share a reply
//! stream and the control socket only ever carries short, atomic datagrams.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::namespaces::{self, Namespace};
use crate::{idmap, rootfs, sys};

/// Bumped whenever a message changes shape; caller and supervisor must agree.
pub const PROTOCOL_VERSION: u32 = 4;

/// Everything the supervisor needs to build one sandbox, compiled by the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Must equal [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The sandbox id (also the state record's name).
    pub id: String,
    /// Namespaces to create.
    pub namespaces: namespaces::NamespacePlan,
    /// Identity and id maps.
    pub user: idmap::UserPlan,
    /// The root filesystem, as an ordered list of steps.
    pub rootfs: rootfs::MountPlan,
    /// Where the workspace comes from.
    pub workspace: WorkspacePlan,
    /// Directory holding the sandbox's state record.
    pub state_root: PathBuf,
    /// seccomp, Landlock, capabilities, rlimits.
    pub security: crate::security::SecurityPlan,
    /// The sandbox's cgroup, when it has limits.
    pub cgroups: Option<crate::cgroups::Cgroups>,
}

impl Plan {
    /// The namespaces the supervisor makes beside the init, which enters them, in this
    /// order, once its root is built: making a network namespace takes the better part
    /// of a millisecond, better spent in parallel. A root caller's network and user
    /// namespaces (the init builds the root with host privileges first); a rootless
    /// caller's network namespace, inside the sandbox's user namespace.
    pub fn namespaces_beside(&self) -> Vec<Namespace> {
        let net = self.namespaces.has(Namespace::Net) && (self.user.privileged || self.user.namespace);
        let user = self.user.privileged && self.user.namespace;
        [(net, Namespace::Net), (user, Namespace::User)].into_iter().filter_map(|(on, ns)| on.then_some(ns)).collect()
    }
}

/// The host side of `/workspace`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkspacePlan {
    /// A directory the caller gave; nucleus never removes it.
    Given(PathBuf),
    /// A private directory the supervisor creates under this parent and removes.
    Private(PathBuf),
}

impl WorkspacePlan {
    /// The host directory of sandbox `id`'s workspace.
    pub fn dir(&self, id: &str) -> PathBuf {
        match self {
            WorkspacePlan::Given(dir) => dir.clone(),
            WorkspacePlan::Private(parent) => parent.join(format!("nucleus-{id}")),
        }
    }
}

/// The supervisor's answer to the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SetupReply {
    /// The sandbox is built and waits for requests.
    Ready {
        /// Host pid of the sandbox's PID 1.
        init_pid: i32,
        /// Host path of the workspace.
        workspace: PathBuf,
        /// The Landlock ABI the init enforced, if Landlock is on.
        landlock_abi: Option<i32>,
    },
    /// Building failed; the supervisor has undone everything.
    Failed(Error),
}

/// A request on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Run a command. Descriptors: stdin, stdout, stderr, reply socket.
    Exec(ExecSpec),
    /// Signal one command's process tree, or every process but PID 1 when `exec` is None.
    Kill {
        /// The id of the command, from [`ExecSpec::id`].
        exec: Option<u64>,
        /// The signal number.
        signal: i32,
    },
    /// Open a file inside the sandbox and send the descriptor back. Descriptor: reply socket.
    Open {
        /// Absolute path inside the sandbox.
        path: PathBuf,
        /// Open for writing (create or truncate) instead of reading.
        write: bool,
        /// Mode for a created file.
        mode: u32,
    },
}

/// A command as the sandbox's init runs it: everything already resolved by the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecSpec {
    /// Caller-chosen id, unique within the sandbox.
    pub id: u64,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// The complete environment, as `KEY=VALUE`.
    pub env: Vec<String>,
    /// Working directory inside the sandbox.
    pub cwd: PathBuf,
    /// Instead of executing `argv`, report the child's own view of its confinement on
    /// stdout (read by [`Probe::parse`]), after applying every layer a command gets.
    pub probe: bool,
}

/// What a probe child sees of itself, from inside the sandbox.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// `/proc/self/status`.
    pub status: String,
    /// `/proc/self/uid_map`.
    pub uid_map: String,
    /// `/proc/self/gid_map`.
    pub gid_map: String,
    /// `/proc/self/limits`.
    pub limits: String,
    /// `/proc/self/ns/<name>` link targets, by name.
    pub namespaces: Vec<(String, String)>,
    /// The root filesystem is mounted read-only.
    pub root_readonly: bool,
}

impl Probe {
    /// The files a probe child copies to stdout, in this order.
    pub const FILES: [&'static CStr; 4] =
        [c"/proc/self/status", c"/proc/self/uid_map", c"/proc/self/gid_map", c"/proc/self/limits"];

    /// Read a probe child's stdout: each of [`Probe::FILES`], then the link target of
    /// `/proc/self/ns/<name>` for each of [`namespaces::ORDERED_NAMESPACES`], each ended by
    /// a NUL; then `1` if the root is read-only, else `0`. The child makes only system
    /// calls, so it writes raw fields rather than JSON. `None` if fields are missing.
    pub fn parse(bytes: &[u8]) -> Option<Probe> {
        let mut fields = bytes.split(|&b| b == 0).map(|f| String::from_utf8_lossy(f).into_owned());
        let mut next = || fields.next();
        let (status, uid_map, gid_map, limits) = (next()?, next()?, next()?, next()?);
        let namespaces = namespaces::ORDERED_NAMESPACES
            .iter()
            .map(|ns| Some((ns.proc_name().to_string(), next()?)))
            .collect::<Option<_>>()?;
        let root_readonly = next()? == "1";
        Some(Probe { status, uid_map, gid_map, limits, namespaces, root_readonly })
    }
}

/// A message on a request's own reply socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    /// The command runs (its `execve` succeeded) with this pid (inside the sandbox).
    Started {
        /// Pid inside the sandbox's pid namespace.
        pid: i32,
    },
    /// The command's main process ended.
    Exited {
        /// Exit code, if it exited.
        code: Option<i32>,
        /// Terminating signal, if it was killed.
        signal: Option<i32>,
    },
    /// The requested file is open; the descriptor is attached.
    Opened,
    /// The request failed; for an exec, the command did not start.
    Failed(Error),
}

/// Refuse a peer built with another protocol version (`theirs`, the library's).
pub(crate) fn check_version(theirs: u32) -> Result<()> {
    if theirs == PROTOCOL_VERSION {
        return Ok(());
    }
    Err(Error::supervisor(format!(
        "protocol version {theirs} from the library, {PROTOCOL_VERSION} in {}: use the shim built with the library",
        crate::shim::SHIM_NAME
    )))
}

/// Send one message with descriptors.
pub fn send<T: Serialize>(sock: &impl AsFd, msg: &T, fds: &[RawFd]) -> Result<()> {
    let bytes = serde_json::to_vec(msg).map_err(|e| Error::internal(format!("encode: {e}")))?;
    sys::send_with_fds(sock.as_fd(), &bytes, fds)
}

/// Receive one message and its descriptors; `None` when the peer has closed.
pub fn recv<T: DeserializeOwned>(sock: &impl AsFd) -> Result<Option<(T, Vec<OwnedFd>)>> {
    let Some((bytes, fds)) = sys::recv_with_fds(sock.as_fd())? else {
        return Ok(None);
    };
    let msg = serde_json::from_slice(&bytes)
        .map_err(|e| Error::supervisor(format!("malformed message: {e}")))?;
    Ok(Some((msg, fds)))
}

/// Messages between the supervisor and the sandbox's init while the sandbox is built.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SetupStep {
    /// Supervisor to init: go on (a rootless init's user namespace has its maps).
    Proceed,
    /// Supervisor to init: the workspace directory exists.
    Workspace,
    /// Supervisor to init: the sandbox's cgroup exists; write `0` to each attached file
    /// to move in (cgroup v1, where the init is born outside).
    Cgroup,
    /// Supervisor to init: the network namespace to enter once the root is built; the
    /// descriptor is attached.
    Network,
    /// Supervisor to init: the user namespace to enter after that, maps written (root
    /// callers); the descriptor is attached.
    UserNamespace,
    /// Init to supervisor: the sandbox is built (with this Landlock ABI, if any).
    Built(Option<i32>),
    /// Init to supervisor: building failed.
    Failed(Error),
}

impl SetupStep {
    /// The step that hands over a namespace made beside the init (network or user).
    pub fn handing_over(ns: Namespace) -> SetupStep {
        match ns {
            Namespace::Net => SetupStep::Network,
            _ => SetupStep::UserNamespace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_fields_are_read_in_order_and_a_short_report_is_refused() {
        let mut raw = b"Name:\tx\n\0 0 0 1\n\0 0 0 2\n\0Max open files\0".to_vec();
        for ns in namespaces::ORDERED_NAMESPACES {
            raw.extend_from_slice(format!("{}:[1]\0", ns.proc_name()).as_bytes());
        }
        raw.push(b'1');
        let probe = Probe::parse(&raw).unwrap();
        assert_eq!((probe.status.as_str(), probe.uid_map.as_str()), ("Name:\tx\n", " 0 0 1\n"));
        assert_eq!((probe.gid_map.as_str(), probe.limits.as_str()), (" 0 0 2\n", "Max open files"));
        assert_eq!(probe.namespaces[1], ("pid".to_string(), "pid:[1]".to_string()));
        assert!(probe.root_readonly);
        assert!(Probe::parse(b"Name:\tx\n\0 0 0 1\n").is_none());
    }
}
