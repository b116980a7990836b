//! The sandbox's PID 1.
//!
//! Cloned by the supervisor into the new namespaces, it builds the sandbox (hostname,
//! loopback, root filesystem, identity, capabilities), then serves requests from the
//! caller's control socket: it starts commands, reaps every process (orphans included),
//! reports exits on each command's own reply socket, signals process trees, and opens
//! files inside the sandbox for the caller. It is single-threaded.
//!
//! A command starts as a vfork-style child (`CLONE_VM | CLONE_VFORK`): nothing of the
//! init's memory is copied, and the init sleeps until the child has exec'd, so whether the
//! command started is known when the clone returns. The child runs on the init's memory,
//! so it only makes system calls on data prepared before the clone.
//!
//! When the control socket closes (the caller destroyed the sandbox or died), it exits,
//! and the kernel kills every process left in its pid namespace.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::error::{errno_text, Error, Result};
use crate::namespaces::{Namespace, ORDERED_NAMESPACES};
use crate::protocol::{self, ExecSpec, Plan, Probe, Reply, Request, SetupStep};
use crate::rlimits::{self, Rlimit};
use crate::{caps, network, seccomp, sys};

/// Run the init; never returns. `trees` are the prebuilt trees sent with the plan.
pub(crate) fn run(plan: &Plan, control: &OwnedFd, sync: OwnedFd, trees: Vec<OwnedFd>) -> ! {
    let built = setup(plan, &sync, trees).and_then(|landlock_abi| {
        let sigchld = watch_children()?;
        // The init installs the seccomp filters itself, once: every command inherits them
        // and keeps them across execve, so no command pays for compiling them into the
        // kernel, and PID 1 is confined like the rest.
        if let Some(filters) = &plan.security.seccomp {
            seccomp::apply(&filters.programs()).map_err(|errno| Error::Syscall {
                call: "seccomp(SECCOMP_SET_MODE_FILTER)".into(),
                path: None,
                errno,
            })?;
        }
        let launcher = Launcher::new(&plan.security.rlimits)?;
        Ok((landlock_abi, sigchld, launcher))
    });
    let code = match built {
        Ok((abi, sigchld, mut launcher)) => match protocol::send(&sync, &SetupStep::Built(abi), &[]) {
            Ok(()) => {
                drop(sync);
                serve(control, &sigchld, &mut launcher)
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

/// Wait for the supervisor's `expected` step and the descriptors it carries.
fn receive(sync: &OwnedFd, expected: SetupStep) -> Result<Vec<OwnedFd>> {
    match protocol::recv::<SetupStep>(sync)? {
        Some((step, fds)) if std::mem::discriminant(&step) == std::mem::discriminant(&expected) => Ok(fds),
        _ => Err(Error::supervisor(format!("the supervisor did not send {expected:?}"))),
    }
}

/// Enter the namespace (of type `kind`) the supervisor sends with `step`.
fn enter(sync: &OwnedFd, step: SetupStep, kind: libc::c_int) -> Result<()> {
    match <[OwnedFd; 1]>::try_from(receive(sync, step.clone())?) {
        Ok([namespace]) => sys::setns(namespace.as_fd(), kind).map_err(|e| e.with_call(&format!("setns({step:?})"))),
        Err(_) => Err(Error::supervisor("a namespace came without its descriptor")),
    }
}

/// Build the sandbox; returns the Landlock ABI enforced, if Landlock is on.
fn setup(plan: &Plan, sync: &OwnedFd, trees: Vec<OwnedFd>) -> Result<Option<i32>> {
    // If the supervisor dies, so does the sandbox (armed again after the identity change).
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
    receive(sync, SetupStep::Proceed)?;
    if plan.namespaces.has(Namespace::Uts) {
        sys::sethostname(&plan.namespaces.hostname)?;
    }
    plan.rootfs.apply(&plan.workspace.dir(&plan.id), &trees, || receive(sync, SetupStep::Workspace).map(drop))?;
    drop(trees);
    if plan.cgroups.as_ref().is_some_and(|c| !c.born_inside()) {
        // Born outside its cgroup (v1): move in, before any command runs.
        for tasks in receive(sync, SetupStep::Cgroup)? {
            sys::write_all(tasks.as_fd(), b"0")?;
        }
    }
    if plan.namespaces.has(Namespace::Cgroup) {
        // Made now, not at clone time, so that its root is the init's own cgroup, not
        // the supervisor's.
        sys::unshare(libc::CLONE_NEWCGROUP)?;
    }
    let user = &plan.user;
    // Made by the supervisor while this process built the root. Loopback is brought up
    // before a root caller's init enters its user namespace, where it could not.
    for ns in plan.namespaces_beside() {
        enter(sync, SetupStep::handing_over(ns), ns.flag())?;
        if ns == Namespace::Net {
            network::loopback_up()?;
        }
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
fn serve(control: &OwnedFd, sigchld: &OwnedFd, launcher: &mut Launcher) -> i32 {
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
                Ok(Some((request, fds))) => handle(request, fds, &mut running, launcher),
                // The caller closed the socket or died: the sandbox ends.
                Ok(None) | Err(_) => return 0,
            }
        }
    }
}

/// Consume the pending SIGCHLD. One read does it: a standard signal is pending at most
/// once, and `reap` collects every exited child whatever their number.
fn drain_signalfd(fd: &OwnedFd) {
    let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
    let _ = sys::read(fd.as_fd(), &mut buf);
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
    launcher: &mut Launcher,
) {
    match request {
        Request::Exec(spec) if fds.len() == 4 => {
            let reply = fds.pop().expect("four descriptors");
            let stdio = [fds[0].as_raw_fd(), fds[1].as_raw_fd(), fds[2].as_raw_fd()];
            match launcher.start(&spec, stdio) {
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

/// Starts commands. Holds what every command starts with, fixed once the init is built.
struct Launcher {
    /// The stack each child runs on until it execs; one suffices, as the init sleeps
    /// meanwhile.
    stack: sys::Stack,
    /// The signals the init ignores or handles; each child sets them back to default.
    /// The init's dispositions are all set up before it serves, so they are read once.
    signals: Vec<libc::c_int>,
    rlimits: Vec<Rlimit>,
}

/// Room for the few frames of a child between the clone and `execve`.
const CHILD_STACK: usize = 64 << 10;

impl Launcher {
    fn new(rlimits: &[Rlimit]) -> Result<Launcher> {
        let stack = sys::Stack::new(CHILD_STACK)?;
        Ok(Launcher { stack, signals: sys::non_default_signals(), rlimits: rlimits.to_vec() })
    }

    /// Start one command; returns its pid once it runs (its `execve` succeeded).
    fn start(&mut self, spec: &ExecSpec, stdio: [RawFd; 3]) -> Result<libc::pid_t> {
        let argv = cstrings(&spec.argv, "argv")?;
        let env = cstrings(&spec.env, "env")?;
        let cwd = sys::cpath(&spec.cwd)?;
        let candidates = program_candidates(spec)?;
        let links = spec.probe.then(|| {
            let link = |ns: &Namespace| CString::new(format!("/proc/self/ns/{}", ns.proc_name()));
            ORDERED_NAMESPACES.iter().map(|ns| link(ns).expect("no NUL")).collect::<Vec<_>>()
        });
        let mut child = Child {
            argv: null_terminated(&argv),
            env: null_terminated(&env),
            cwd: &cwd,
            candidates: &candidates,
            stdio,
            signals: &self.signals,
            rlimits: &self.rlimits,
            probe: links.as_deref(),
            failure: None,
        };
        // Blocked so that no handler of the init runs in the child before it has reset
        // the dispositions; the child then clears its mask.
        let mask = sys::block_all_signals();
        let arg = std::ptr::addr_of_mut!(child).cast();
        // SAFETY: `child_main` only makes system calls on `child`, which outlives the
        // child's use of it: this thread sleeps until the child has exec'd or exited.
        let pid = unsafe { sys::clone_vfork(&mut self.stack, child_main, arg) };
        sys::set_sigmask(&mask);
        let pid = pid?;
        match child.failure {
            None => Ok(pid),
            Some((step, errno)) => Err(step.error(spec, errno)),
        }
    }
}

/// Pointers to `items`, then NULL, as `execve` takes them.
fn null_terminated(items: &[CString]) -> Vec<*const libc::c_char> {
    items.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect()
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

/// The step at which a child failed to become its command.
#[derive(Debug, Clone, Copy)]
enum Step {
    Setsid,
    Dup2,
    CloseRange,
    Chdir,
    Setrlimit,
    Execve,
}

impl Step {
    fn call(self) -> &'static str {
        match self {
            Step::Setsid => "setsid",
            Step::Dup2 => "dup2",
            Step::CloseRange => "close_range",
            Step::Chdir => "chdir",
            Step::Setrlimit => "setrlimit",
            Step::Execve => "execve",
        }
    }

    /// The caller's error for a command that failed at this step.
    fn error(self, spec: &ExecSpec, errno: i32) -> Error {
        let why = errno_text(errno);
        let reason = match self {
            Step::Execve => why,
            Step::Chdir => format!("working directory {}: {why}", spec.cwd.display()),
            step => format!("{}: {why}", step.call()),
        };
        Error::ExecFailed { program: spec.argv.first().cloned().unwrap_or_default(), reason, errno }
    }
}

/// One command's child, prepared before the clone. The child shares the init's memory
/// until it execs: it reads what is here, writes `failure`, and otherwise only makes
/// system calls. No allocation, no locks, no panics.
struct Child<'a> {
    argv: Vec<*const libc::c_char>,
    env: Vec<*const libc::c_char>,
    cwd: &'a CStr,
    candidates: &'a [CString],
    stdio: [RawFd; 3],
    signals: &'a [libc::c_int],
    rlimits: &'a [Rlimit],
    /// For a probe: the namespace links it reports, instead of running a program.
    probe: Option<&'a [CString]>,
    /// Where the child leaves the step it failed at, with the errno.
    failure: Option<(Step, i32)>,
}

/// The child's entry point, on the launcher's stack.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Child` that `Launcher::start` passed to the clone.
    let child = unsafe { &mut *arg.cast::<Child<'_>>() };
    child.failure = Some(child.run());
    // SAFETY: leave without running the init's exit handlers.
    unsafe { libc::_exit(127) }
}

impl Child<'_> {
    /// Become the command: returns only on failure, with the step and errno.
    fn run(&self) -> (Step, i32) {
        let errno = sys::errno;
        // SAFETY: system calls on descriptors and on strings and arrays prepared by the
        // init, which stay alive while the init sleeps.
        unsafe {
            for &sig in self.signals {
                sys::reset_signal(sig);
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            // Its own session: a timeout or kill reaches every process the command starts.
            if libc::setsid() == -1 {
                return (Step::Setsid, errno());
            }
            for (target, fd) in (0..).zip(self.stdio) {
                if libc::dup2(fd, target) == -1 {
                    return (Step::Dup2, errno());
                }
            }
            // The raw call: glibc has a wrapper only from 2.34 on.
            let cloexec = libc::CLOSE_RANGE_CLOEXEC as libc::c_uint;
            if libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, cloexec) == -1 {
                return (Step::CloseRange, errno());
            }
            if libc::chdir(self.cwd.as_ptr()) == -1 {
                return (Step::Chdir, errno());
            }
            if let Err(e) = rlimits::apply(self.rlimits) {
                return (Step::Setrlimit, e);
            }
            if let Some(links) = self.probe {
                report_self(links);
            }
            // execvp's rule: remember EACCES, but keep looking for a runnable program.
            let mut saved = libc::ENOENT;
            for path in self.candidates {
                libc::execve(path.as_ptr(), self.argv.as_ptr(), self.env.as_ptr());
                match errno() {
                    libc::EACCES => saved = libc::EACCES,
                    libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG => {}
                    other => {
                        saved = other;
                        break;
                    }
                }
            }
            (Step::Execve, saved)
        }
    }
}

/// In a probe child, confined like any command: write what it sees of itself to stdout,
/// in the order [`Probe::parse`] reads, and exit. What it cannot read is an empty field.
/// System calls on stack buffers only.
fn report_self(links: &[CString]) -> ! {
    let mut ok = true;
    for path in Probe::FILES {
        ok &= copy_to_stdout(path) && put(b"\0");
    }
    let mut buf = [0u8; 256];
    for link in links {
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { libc::readlink(link.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        ok &= put(&buf[..n.max(0) as usize]) && put(b"\0");
    }
    // SAFETY: st is written by statvfs (a statfs system call in glibc) before it is read.
    let readonly = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c"/".as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    };
    ok &= put(if readonly { b"1" } else { b"0" });
    // SAFETY: leave the child without running the init's exit handlers.
    unsafe { libc::_exit(if ok { 0 } else { 1 }) }
}

/// Write all of `bytes` to stdout.
fn put(mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: bytes is valid for reads of its length.
        let n = unsafe { libc::write(1, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// Copy what can be read of the file at `path` to stdout; false if stdout fails.
fn copy_to_stdout(path: &CStr) -> bool {
    // SAFETY: path is a C string; buf is valid for writes of its length; fd is closed once.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd == -1 {
            return true;
        }
        let mut buf = [0u8; 4096];
        let ok = loop {
            match libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) {
                n if n > 0 => {
                    if !put(&buf[..n as usize]) {
                        break false;
                    }
                }
                _ => break true, // the end, or what could not be read
            }
        };
        libc::close(fd);
        ok
    }
}
