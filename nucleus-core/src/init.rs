//! The sandbox's PID 1.
//!
//! Cloned by the supervisor into the new namespaces, it builds the sandbox (hostname,
//! loopback, root filesystem, identity, capabilities), then serves requests from the
//! caller's control socket: it forks commands, reaps every process (orphans included),
//! reports exits on each command's own reply socket, signals process trees, and opens
//! files inside the sandbox for the caller. It is single-threaded, so forking and running
//! Rust code in the child is sound here.
//!
//! When the control socket closes (the caller destroyed the sandbox or died), it exits,
//! and the kernel kills every process left in its pid namespace.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::namespaces::Namespace;
use crate::protocol::{self, ChildFailure, ExecSpec, Plan, Probe, Reply, Request, SetupStep};
use crate::rlimits::{self, Rlimit};
use crate::{caps, network, seccomp, sys};

/// Run the init; never returns.
pub(crate) fn run(plan: &Plan, control: &OwnedFd, sync: OwnedFd, workspace: &Path) -> ! {
    let built = setup(plan, &sync, workspace).and_then(|landlock_abi| {
        let sigchld = watch_children()?;
        // The init installs the seccomp filters itself, once: every command inherits them
        // through fork and keeps them across execve, so no command pays for compiling
        // them into the kernel, and PID 1 is confined like the rest.
        if let Some(filters) = &plan.security.seccomp {
            seccomp::apply(&filters.programs()).map_err(|errno| Error::Syscall {
                call: "seccomp(SECCOMP_SET_MODE_FILTER)".into(),
                path: None,
                errno,
            })?;
        }
        Ok((landlock_abi, sigchld))
    });
    let code = match built {
        Ok((landlock_abi, sigchld)) => match protocol::send(&sync, &SetupStep::Built(landlock_abi), &[]) {
            Ok(()) => {
                drop(sync);
                serve(control, &sigchld, &plan.security.rlimits)
            }
            Err(_) => 1,
        },
        Err(e) => {
            let _ = protocol::send(&sync, &SetupStep::Failed(e), &[]);
            1
        }
    };
    // SAFETY: _exit skips atexit handlers that belong to the supervisor.
    unsafe { libc::_exit(code) }
}

/// Block SIGCHLD and return a signalfd that reports it.
fn watch_children() -> Result<OwnedFd> {
    sys::sigmask(libc::SIG_BLOCK, &[libc::SIGCHLD]);
    sys::signalfd(&[libc::SIGCHLD])
}

fn wait_proceed(sync: &OwnedFd) -> Result<()> {
    match protocol::recv::<SetupStep>(sync)? {
        Some((SetupStep::Proceed, _)) => Ok(()),
        _ => Err(Error::supervisor("supervisor went away during setup")),
    }
}

/// Build the sandbox; returns the Landlock ABI enforced, if Landlock is on.
fn setup(plan: &Plan, sync: &OwnedFd, workspace: &Path) -> Result<Option<i32>> {
    // If the supervisor dies, so does the sandbox (armed again after the identity change).
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
    wait_proceed(sync)?;
    if plan.namespaces.has(Namespace::Cgroup) {
        // Made now, not at clone time, so that its root is the init's own cgroup (the
        // supervisor has put it there), not the supervisor's.
        sys::unshare(libc::CLONE_NEWCGROUP)?;
    }
    if plan.namespaces.has(Namespace::Uts) {
        sys::sethostname(&plan.namespaces.hostname)?;
    }
    if plan.namespaces.has(Namespace::Net) {
        network::loopback_up()?;
    }
    plan.rootfs.apply(workspace)?;
    let user = &plan.user;
    if user.namespace && user.privileged {
        sys::unshare(libc::CLONE_NEWUSER)?;
        protocol::send(sync, &SetupStep::NeedMaps, &[])?;
        wait_proceed(sync)?;
    }
    // The bounding set goes while CAP_SETPCAP is still held; a change of uid away from
    // 0 (no user namespace) would drop it.
    let keep = &plan.security.capabilities;
    caps::drop_bounding(keep)?;
    // Supplementary groups can only be dropped where setgroups is allowed.
    sys::set_identity(user.uid, user.gid, user.privileged)?;
    caps::set(keep)?;
    sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1)?;
    // Not dumpable: nothing in the sandbox may ptrace or read /proc/1/{mem,exe,...}.
    sys::prctl(libc::PR_SET_DUMPABLE, 0)?;
    // Changing credentials cleared the parent-death signal; arm it again. Should the
    // supervisor already be gone, reporting `Built` to it fails and the init exits.
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
    sys::chdir(Path::new("/"))?;
    // Last, so the init itself and every command it forks share one Landlock domain.
    plan.security.landlock.as_ref().map(|l| l.apply()).transpose()
}

/// A command that is still running.
struct Running {
    id: u64,
    reply: OwnedFd,
}

/// Serve requests until the control socket closes; returns the exit code.
fn serve(control: &OwnedFd, sigchld: &OwnedFd, rlimits: &[Rlimit]) -> i32 {
    let mut running: HashMap<libc::pid_t, Running> = HashMap::new();
    loop {
        let mut fds = [
            libc::pollfd { fd: control.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: sigchld.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        if sys::poll(&mut fds, None).is_err() {
            return 1;
        }
        if fds[1].revents != 0 {
            drain_signalfd(sigchld);
            reap(&mut running);
        }
        if fds[0].revents != 0 {
            match protocol::recv::<Request>(control) {
                Ok(Some((request, fds))) => handle(request, fds, &mut running, rlimits),
                // The caller closed the socket or died: the sandbox ends.
                Ok(None) | Err(_) => return 0,
            }
        }
    }
}

fn drain_signalfd(fd: &OwnedFd) {
    let mut buf = [0u8; 128 * 8];
    while matches!(sys::read(fd.as_fd(), &mut buf), Ok(n) if n > 0) {}
}

/// Reap every exited process; report the ones that were commands.
fn reap(running: &mut HashMap<libc::pid_t, Running>) {
    while let Ok((pid, status)) = sys::waitpid(-1, libc::WNOHANG) {
        if pid <= 0 {
            break;
        }
        if let Some(cmd) = running.remove(&pid) {
            let reply = if libc::WIFSIGNALED(status) {
                Reply::Exited { code: None, signal: Some(libc::WTERMSIG(status)) }
            } else {
                Reply::Exited { code: Some(libc::WEXITSTATUS(status)), signal: None }
            };
            let _ = protocol::send(&cmd.reply, &reply, &[]);
        }
    }
}

fn handle(
    request: Request,
    mut fds: Vec<OwnedFd>,
    running: &mut HashMap<libc::pid_t, Running>,
    rlimits: &[Rlimit],
) {
    match request {
        Request::Exec(spec) if fds.len() == 5 => {
            let status = fds.pop().expect("five descriptors");
            let reply = fds.pop().expect("five descriptors");
            let stdio = [fds[0].as_raw_fd(), fds[1].as_raw_fd(), fds[2].as_raw_fd()];
            match start(&spec, stdio, &status, rlimits) {
                Ok(pid) => {
                    let _ = protocol::send(&reply, &Reply::Started { pid }, &[]);
                    running.insert(pid, Running { id: spec.id, reply });
                }
                Err(e) => {
                    let _ = protocol::send(&reply, &Reply::Failed(e), &[]);
                }
            }
        }
        Request::Kill { exec, signal } => match exec {
            None => {
                // From PID 1, pid -1 means every other process of the namespace.
                let _ = sys::kill(-1, signal);
            }
            Some(id) => {
                if let Some((&pid, _)) = running.iter().find(|(_, r)| r.id == id) {
                    kill_tree(pid, signal);
                }
            }
        },
        Request::Open { path, write, mode } if fds.len() == 1 => {
            let reply = &fds[0];
            let _ = match open_inside(&path, write, mode) {
                Ok(file) => protocol::send(reply, &Reply::Opened, &[file.as_raw_fd()]),
                Err(e) => protocol::send(reply, &Reply::Failed(e), &[]),
            };
        }
        _ => {} // a malformed request: the caller sees its reply socket close
    }
}

/// Open a regular file inside the sandbox. Resolution stays inside the sandbox's root
/// (it is the init's root), and a FIFO or device planted by sandboxed code cannot block
/// or trick the caller: only regular files are handed out.
fn open_inside(path: &Path, write: bool, mode: u32) -> Result<OwnedFd> {
    let access = if write { libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC } else { libc::O_RDONLY };
    let flags = access | libc::O_NOCTTY | libc::O_NONBLOCK;
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    let fd = sys::openat2(None, path, flags, mode, resolve)?;
    // SAFETY: st is written by fstat before it is read.
    let is_regular = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd.as_raw_fd(), &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
    };
    if !is_regular {
        return Err(Error::Syscall { call: "open regular file".into(), path: Some(path.into()), errno: libc::EINVAL });
    }
    sys::set_nonblocking(fd.as_fd(), false)?;
    Ok(fd)
}

/// Signal a command and every process of its session (each command leads its own).
fn kill_tree(pid: libc::pid_t, signal: i32) {
    let _ = sys::kill(-pid, signal);
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Some(other) = entry.file_name().to_str().and_then(|n| n.parse::<libc::pid_t>().ok()) else {
            continue;
        };
        if other != 1 && session_of(other) == Some(pid) {
            let _ = sys::kill(other, signal);
        }
    }
}

/// The session id of `pid` (field 6 of `/proc/pid/stat`).
fn session_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(3)?.parse().ok()
}

/// Fork and exec one command. The child reports a failure before `execve` succeeds on
/// its status pipe (close-on-exec, so a successful exec closes it with nothing written).
fn start(spec: &ExecSpec, stdio: [RawFd; 3], status: &OwnedFd, rlimits: &[Rlimit]) -> Result<libc::pid_t> {
    let argv = cstrings(&spec.argv, "argv")?;
    let env = cstrings(&spec.env, "env")?;
    let cwd = sys::cpath(&spec.cwd)?;
    let candidates = program_candidates(spec)?;
    let pid = sys::fork()?;
    if pid == 0 {
        let failure = exec_child(&argv, &env, &cwd, &candidates, stdio, rlimits, spec.probe);
        let bytes = serde_json::to_vec(&failure).unwrap_or_default();
        let _ = sys::write_all(status.as_fd(), &bytes);
        // SAFETY: leave without running the init's destructors.
        unsafe { libc::_exit(127) }
    }
    Ok(pid)
}

fn cstrings(items: &[String], field: &str) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| CString::new(s.as_str()).map_err(|_| Error::config(field, "contains a NUL byte")))
        .collect()
}

/// The paths `execve` is tried on: argv\[0\] itself if it has a slash, else each `$PATH`
/// directory of the command's own environment, as `execvp` does.
fn program_candidates(spec: &ExecSpec) -> Result<Vec<CString>> {
    let program = spec.argv.first().ok_or_else(|| Error::config("argv", "must not be empty"))?;
    if program.contains('/') {
        return cstrings(std::slice::from_ref(program), "argv[0]");
    }
    let path = spec
        .env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/bin:/usr/bin:/bin");
    let dirs: Vec<String> = path
        .split(':')
        .map(|dir| if dir.is_empty() { "." } else { dir })
        .map(|dir| format!("{}/{program}", dir.trim_end_matches('/')))
        .collect();
    cstrings(&dirs, "argv[0]")
}

/// In the forked child: set up and exec; returns only on failure.
fn exec_child(
    argv: &[CString],
    env: &[CString],
    cwd: &CString,
    candidates: &[CString],
    stdio: [RawFd; 3],
    rlimits: &[Rlimit],
    probe: bool,
) -> ChildFailure {
    let fail = |step: &str| ChildFailure { step: step.into(), errno: sys::errno() };
    // SAFETY: single-threaded child of a single-threaded process; every pointer passed
    // below refers to data owned by this frame.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        if libc::setsid() == -1 {
            return fail("setsid");
        }
        for (target, fd) in stdio.into_iter().enumerate() {
            if libc::dup2(fd, target as RawFd) == -1 {
                return fail("dup2");
            }
        }
        if sys::cloexec_from(3).is_err() {
            return fail("close_range");
        }
        if libc::chdir(cwd.as_ptr()) == -1 {
            return fail("chdir");
        }
        if let Err(errno) = rlimits::apply(rlimits) {
            return ChildFailure { step: "setrlimit".into(), errno };
        }
        if probe {
            report_self();
        }
        let argv_ptrs: Vec<*const libc::c_char> =
            argv.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        let env_ptrs: Vec<*const libc::c_char> =
            env.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]).collect();
        // execvp's rule: remember EACCES, but keep looking for a runnable program.
        let mut saved = libc::ENOENT;
        for path in candidates {
            libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr());
            match sys::errno() {
                libc::EACCES => saved = libc::EACCES,
                libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG => {}
                other => {
                    saved = other;
                    break;
                }
            }
        }
        ChildFailure { step: "execve".into(), errno: saved }
    }
}

/// In a probe child, confined like any command: write what it sees of itself to stdout
/// as JSON and exit.
fn report_self() -> ! {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let namespaces = crate::namespaces::ORDERED_NAMESPACES
        .iter()
        .map(|ns| {
            let link = std::fs::read_link(format!("/proc/self/ns/{}", ns.proc_name()));
            (ns.proc_name().to_string(), link.map(|l| l.display().to_string()).unwrap_or_default())
        })
        .collect();
    // SAFETY: st is written by statvfs before it is read.
    let root_readonly = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c"/".as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    };
    let probe = Probe {
        status: read("/proc/self/status"),
        uid_map: read("/proc/self/uid_map"),
        gid_map: read("/proc/self/gid_map"),
        limits: read("/proc/self/limits"),
        namespaces,
        root_readonly,
    };
    let bytes = serde_json::to_vec(&probe).unwrap_or_default();
    // SAFETY: descriptor 1 is the stdout pipe set up for this child.
    let stdout = unsafe { std::os::fd::BorrowedFd::borrow_raw(1) };
    let code = if sys::write_all(stdout, &bytes).is_ok() { 0 } else { 1 };
    // SAFETY: leave the child without running destructors.
    unsafe { libc::_exit(code) }
}
