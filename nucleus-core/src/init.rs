//! The sandbox's PID 1.
//!
//! Cloned by the supervisor into the new namespaces, it builds the sandbox (hostname,
//! loopback, root filesystem, identity, capabilities), then serves requests from the
//! caller's control socket: it starts commands, reaps every process (orphans included),
//! reports exits on each command's own reply socket, signals process trees, and opens
//! files inside the sandbox for the caller. It is single-threaded.
//!
//! A command starts as a child cloned with `CLONE_VM`: nothing of the init's memory is
//! copied, and the child runs on it, on a stack of its own, until it execs, so it only
//! makes system calls on data prepared before the clone. The init does not wait for it:
//! sandboxed code can stop a child before its exec, and the init keeps serving. The
//! child's close-on-exec pipe tells how it went: it hangs up when the child has exec'd or
//! exited (and no longer runs on the init's memory), holding the failure if there was one.
//!
//! When the control socket closes (the caller destroyed the sandbox or died), it exits,
//! and the kernel kills every process left in its pid namespace.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::rc::Rc;

use crate::error::{errno_text, Error, Result};
use crate::namespaces::{Namespace, ORDERED_NAMESPACES};
use crate::protocol::{self, ExecSpec, Plan, Probe, Reply, Request, SetupStep};
use crate::rlimits::{self, Rlimit};
use crate::{caps, seccomp, sys};

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
    // Made (loopback up) by the supervisor while this process built the root.
    for ns in plan.namespaces_beside() {
        enter(sync, SetupStep::handing_over(ns), ns.flag())?;
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

/// A command whose child has not yet exec'd (or failed to).
struct Starting {
    spec: ExecSpec,
    reply: OwnedFd,
    launch: Launch,
}

/// The commands the init has started, by the pid of their child.
#[derive(Default)]
struct Commands {
    /// Before their exec; a few at most, so a list.
    starting: Vec<Starting>,
    running: HashMap<libc::pid_t, Running>,
}

/// Serve requests until the control socket closes; returns the exit code.
fn serve(control: &OwnedFd, sigchld: &OwnedFd, launcher: &mut Launcher) -> i32 {
    let mut commands = Commands::default();
    let mut fds = Vec::new();
    let code = loop {
        fds.clear();
        fds.push(libc::pollfd { fd: control.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        fds.push(libc::pollfd { fd: sigchld.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        // No events asked: the hangup, always reported, is the one that counts. A failure
        // the child wrote is read after it.
        for starting in &commands.starting {
            fds.push(libc::pollfd { fd: starting.launch.pipe.as_raw_fd(), events: 0, revents: 0 });
        }
        if sys::poll(&mut fds, None).is_err() {
            break 1;
        }
        // From the last on, so that removing one leaves the places of those before it.
        for i in (0..commands.starting.len()).rev() {
            if fds[2 + i].revents != 0 {
                let starting = commands.starting.swap_remove(i);
                commands.settle(starting, launcher);
            }
        }
        if fds[1].revents != 0 {
            drain_signalfd(sigchld);
            commands.reap(launcher);
        }
        if fds[0].revents != 0 {
            match protocol::recv::<Request>(control) {
                Ok(Some((request, fds))) => handle(request, fds, &mut commands, launcher),
                // The caller closed the socket or died: the sandbox ends.
                Ok(None) | Err(_) => break 0,
            }
        }
    };
    // Children still starting keep the memory they run on (see `Launch`); the init exits
    // now, and every process of the sandbox with it.
    code
}

/// Consume the pending SIGCHLD. One read does it: a standard signal is pending at most
/// once, and `reap` collects every exited child whatever their number.
fn drain_signalfd(fd: &OwnedFd) {
    let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
    let _ = sys::read(fd.as_fd(), &mut buf);
}

impl Commands {
    /// The child of a starting command has exec'd or exited (its pipe hung up): reply
    /// `Started`, or `Failed` with what the child wrote, and take back the memory it ran on.
    fn settle(&mut self, starting: Starting, launcher: &mut Launcher) {
        let Starting { spec, reply, launch } = starting;
        let pid = launch.pid;
        // A failure is written at once, shorter than PIPE_BUF, before the hangup: one read
        // takes it whole. One byte more tells a longer report, which no child writes.
        let mut report = [0u8; FAILURE_LEN + 1];
        let read = sys::read(launch.pipe.as_fd(), &mut report);
        launcher.reclaim(launch);
        let failure = match read {
            Ok(0) => {
                let _ = protocol::send(&reply, &Reply::Started { pid }, &[]);
                self.running.insert(pid, Running { id: spec.id, reply });
                return;
            }
            Ok(n) => match Step::parse_failure(&report[..n]) {
                Some((step, errno)) => step.error(&spec, errno),
                None => Error::internal(format!("a command's child reported its failure in {n} bytes")),
            },
            Err(e) => e,
        };
        let _ = protocol::send(&reply, &Reply::Failed(failure), &[]);
    }

    /// Reap every exited process; report the ones that were commands.
    fn reap(&mut self, launcher: &mut Launcher) {
        while let Ok((pid, status)) = sys::waitpid(-1, libc::WNOHANG) {
            if pid <= 0 {
                break;
            }
            // A child that exited has hung up its pipe. Its start is settled first, so
            // that `Started` goes out before `Exited`.
            if let Some(i) = self.starting.iter().position(|s| s.launch.pid == pid) {
                let starting = self.starting.swap_remove(i);
                self.settle(starting, launcher);
            }
            if let Some(cmd) = self.running.remove(&pid) {
                let reply = if libc::WIFSIGNALED(status) {
                    Reply::Exited { code: None, signal: Some(libc::WTERMSIG(status)) }
                } else {
                    Reply::Exited { code: Some(libc::WEXITSTATUS(status)), signal: None }
                };
                let _ = protocol::send(&cmd.reply, &reply, &[]);
            }
        }
    }

    /// The pid of command `id`'s child, running or still starting.
    fn pid_of(&self, id: u64) -> Option<libc::pid_t> {
        let running = self.running.iter().find(|(_, r)| r.id == id).map(|(&pid, _)| pid);
        running.or_else(|| self.starting.iter().find(|s| s.spec.id == id).map(|s| s.launch.pid))
    }
}

fn handle(request: Request, mut fds: Vec<OwnedFd>, commands: &mut Commands, launcher: &mut Launcher) {
    match request {
        Request::Exec(spec) if fds.len() == 4 => {
            let reply = fds.pop().expect("four descriptors");
            let stdio = [fds[0].as_raw_fd(), fds[1].as_raw_fd(), fds[2].as_raw_fd()];
            // The child has its own copies of the descriptors: the init's close with `fds`.
            match launcher.start(&spec, stdio) {
                Ok(launch) => commands.starting.push(Starting { spec, reply, launch }),
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
                if let Some(pid) = commands.pid_of(id) {
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
    let is_regular = sys::fstat(fd.as_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
    if !is_regular {
        return Err(Error::Syscall { call: "open regular file".into(), path: Some(path.into()), errno: libc::EINVAL });
    }
    sys::set_nonblocking(fd.as_fd(), false)?;
    Ok(fd)
}

/// Signal a command and every process of its session (each command leads its own, from
/// the `setsid` its child makes before the exec; a child still before it is alone).
fn kill_tree(pid: libc::pid_t, signal: i32) {
    if sys::kill(-pid, signal).is_err() {
        // No process group yet: a child still starting.
        let _ = sys::kill(pid, signal);
    }
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

/// Starts commands. Holds what every command starts with, fixed once the init is built,
/// and the stacks that children no longer run on.
struct Launcher {
    /// The signals the init ignores or handles; each child sets them back to default.
    /// The init's dispositions are all set up before it serves, so they are read once.
    signals: Rc<[libc::c_int]>,
    rlimits: Rc<[Rlimit]>,
    /// Kept for the next children, so that a start maps no stack.
    spare_stacks: Vec<sys::Stack>,
}

/// Room for the few frames of a child between the clone and `execve`.
const CHILD_STACK: usize = 64 << 10;

/// The most stacks kept spare: as many as children commonly start at once.
const SPARE_STACKS: usize = 8;

/// A child between its clone and its exec, and the memory of the init it runs on.
struct Launch {
    pid: libc::pid_t,
    /// The read end of the child's close-on-exec pipe: it hangs up when the child has
    /// exec'd or exited, and then holds the child's failure, if it failed.
    pipe: OwnedFd,
    /// What the child reads (from `Box::into_raw`: the child has its address). Freed
    /// only by [`Launcher::reclaim`], like the stack: a launch dropped any other way (the
    /// init ending, or unwinding) leaves both to a child that may still run on them.
    child: NonNull<Child>,
    /// What the child runs on.
    stack: ManuallyDrop<sys::Stack>,
}

impl Launcher {
    fn new(rlimits: &[Rlimit]) -> Result<Launcher> {
        Ok(Launcher {
            signals: sys::non_default_signals().into(),
            rlimits: rlimits.into(),
            spare_stacks: vec![sys::Stack::new(CHILD_STACK)?],
        })
    }

    /// Start one command's child, which runs on while the init goes on serving. It still
    /// runs on the returned launch's memory until the launch's pipe hangs up.
    fn start(&mut self, spec: &ExecSpec, stdio: [RawFd; 3]) -> Result<Launch> {
        let probe = spec.probe.then(|| {
            let link = |ns: &Namespace| CString::new(format!("/proc/self/ns/{}", ns.proc_name()));
            ORDERED_NAMESPACES.iter().map(|ns| link(ns).expect("no NUL")).collect()
        });
        let (pipe, failure_fd) = sys::pipe()?;
        let child = Box::new(Child {
            argv: CStringArray::new(&spec.argv, "argv")?,
            env: CStringArray::new(&spec.env, "env")?,
            cwd: sys::cpath(&spec.cwd)?,
            candidates: program_candidates(spec)?,
            stdio,
            signals: Rc::clone(&self.signals),
            rlimits: Rc::clone(&self.rlimits),
            probe,
            failure_fd: failure_fd.as_raw_fd(),
        });
        let stack = match self.spare_stacks.pop() {
            Some(stack) => stack,
            None => sys::Stack::new(CHILD_STACK)?,
        };
        // Blocked so that no handler of the init runs in the child before it has reset
        // the dispositions; the child then clears its mask.
        let mask = sys::block_all_signals();
        let child = NonNull::from(Box::leak(child));
        // SAFETY: `child_main` only makes raw system calls on `child` and runs on `stack`;
        // both go into the `Launch`, which keeps them in place and unchanged until the
        // child no longer runs on them (the pipe has hung up).
        let pid = unsafe { sys::clone_vm(&stack, child_main, child.as_ptr().cast()) };
        sys::set_sigmask(&mask);
        // The child has its own copy of the write end: the pipe hangs up when that closes.
        drop(failure_fd);
        match pid {
            Ok(pid) => Ok(Launch { pid, pipe, child, stack: ManuallyDrop::new(stack) }),
            Err(e) => {
                // SAFETY: no child was made; this is the box leaked above, freed once.
                drop(unsafe { Box::from_raw(child.as_ptr()) });
                self.spare_stacks.push(stack);
                Err(e)
            }
        }
    }

    /// Take back the memory of a child that no longer runs on it (its pipe hung up).
    fn reclaim(&mut self, launch: Launch) {
        let Launch { stack, child, .. } = launch;
        // SAFETY: the box `start` made for this launch, taken back once, now that the
        // child has exec'd or exited.
        drop(unsafe { Box::from_raw(child.as_ptr()) });
        let stack = ManuallyDrop::into_inner(stack);
        if self.spare_stacks.len() < SPARE_STACKS {
            self.spare_stacks.push(stack);
        }
    }
}

/// Strings as `execve` takes them: NUL-terminated, behind a NULL-terminated array of
/// pointers to them.
struct CStringArray {
    /// What `pointers` point at; only kept alive.
    _strings: Vec<CString>,
    pointers: Vec<*const libc::c_char>,
}

impl CStringArray {
    fn new(items: &[String], field: &str) -> Result<CStringArray> {
        let strings = cstrings(items, field)?;
        let pointers = strings.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect();
        Ok(CStringArray { _strings: strings, pointers })
    }

    fn as_ptr(&self) -> *const *const libc::c_char {
        self.pointers.as_ptr()
    }
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
#[repr(u8)]
enum Step {
    Setsid,
    Dup2,
    CloseRange,
    Chdir,
    Setrlimit,
    Execve,
}

/// The length of a failure as a child writes it to its pipe: the step, then the errno.
const FAILURE_LEN: usize = 5;

impl Step {
    const ALL: [Step; 6] = [Step::Setsid, Step::Dup2, Step::CloseRange, Step::Chdir, Step::Setrlimit, Step::Execve];

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

    /// What a child that failed at this step with `errno` writes to its pipe.
    fn failure(self, errno: i32) -> [u8; FAILURE_LEN] {
        let [a, b, c, d] = errno.to_ne_bytes();
        [self as u8, a, b, c, d]
    }

    /// The step and errno of a failure as a child wrote it.
    fn parse_failure(bytes: &[u8]) -> Option<(Step, i32)> {
        let &[step, a, b, c, d] = bytes else { return None };
        let step = Step::ALL.into_iter().find(|s| *s as u8 == step)?;
        Some((step, i32::from_ne_bytes([a, b, c, d])))
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

/// One command's child, prepared before the clone. The child runs on the init's memory
/// while the init goes on: it only reads what is here and makes system calls, raw ones
/// that leave `errno` alone (see [`sys::raw_syscall`]). No allocation, no locks, no
/// panics.
struct Child {
    argv: CStringArray,
    env: CStringArray,
    cwd: CString,
    candidates: Vec<CString>,
    stdio: [RawFd; 3],
    signals: Rc<[libc::c_int]>,
    rlimits: Rc<[Rlimit]>,
    /// For a probe: the namespace links it reports, instead of running a program.
    probe: Option<Vec<CString>>,
    /// The write end of the launch's pipe, where the child writes the step it failed at.
    failure_fd: RawFd,
}

/// The call the C library's `dup2` makes (aarch64 has only `dup3`, which does the same
/// for two distinct descriptors; the init's own 0 to 2 are taken, so a command's are not).
#[cfg(target_arch = "x86_64")]
const SYS_DUP2: libc::c_long = libc::SYS_dup2;
#[cfg(target_arch = "aarch64")]
const SYS_DUP2: libc::c_long = libc::SYS_dup3;

/// The child's entry point, on a stack of the launcher's.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Child` that `Launcher::start` passed to the clone, kept in
    // place and unchanged until this child has exec'd or exited.
    let child = unsafe { &*arg.cast::<Child>() };
    let (step, errno) = child.run();
    let failure = step.failure(errno);
    let (fd, buf) = (child.failure_fd as usize, failure.as_ptr() as usize);
    // SAFETY: failure is valid for reads of its length. One write, shorter than PIPE_BUF:
    // it arrives whole, and the init reads it once the pipe hangs up, at this exit.
    let _ = unsafe { sys::raw_syscall(libc::SYS_write, &[fd, buf, failure.len()]) };
    // SAFETY: leave without running the init's exit handlers.
    unsafe { libc::_exit(127) }
}

impl Child {
    /// Become the command: returns only on failure, with the step and errno.
    fn run(&self) -> (Step, i32) {
        use sys::raw_syscall as syscall;
        // SAFETY: system calls on descriptors, and on strings, arrays and buffers of the
        // init's that stay in place and unchanged while the child runs (see `Launch`), or
        // on the child's stack.
        unsafe {
            for &sig in self.signals.iter() {
                sys::reset_signal(sig);
            }
            let empty: u64 = 0;
            let how = libc::SIG_SETMASK as usize;
            let _ = syscall(libc::SYS_rt_sigprocmask, &[how, std::ptr::from_ref(&empty) as usize, 0, 8]);
            // Its own session: a timeout or kill reaches every process the command starts.
            if let Err(errno) = syscall(libc::SYS_setsid, &[]) {
                return (Step::Setsid, errno);
            }
            for (target, fd) in (0..).zip(self.stdio) {
                if let Err(errno) = syscall(SYS_DUP2, &[fd as usize, target, 0]) {
                    return (Step::Dup2, errno);
                }
            }
            let (all, cloexec) = (libc::c_uint::MAX as usize, libc::CLOSE_RANGE_CLOEXEC as usize);
            if let Err(errno) = syscall(libc::SYS_close_range, &[3, all, cloexec]) {
                return (Step::CloseRange, errno);
            }
            if let Err(errno) = syscall(libc::SYS_chdir, &[self.cwd.as_ptr() as usize]) {
                return (Step::Chdir, errno);
            }
            if let Err(errno) = rlimits::apply(&self.rlimits) {
                return (Step::Setrlimit, errno);
            }
            if let Some(links) = &self.probe {
                report_self(links);
            }
            // execvp's rule: remember EACCES, but keep looking for a runnable program.
            let mut saved = libc::ENOENT;
            let (argv, env) = (self.argv.as_ptr() as usize, self.env.as_ptr() as usize);
            for path in &self.candidates {
                match syscall(libc::SYS_execve, &[path.as_ptr() as usize, argv, env]) {
                    Err(libc::EACCES) => saved = libc::EACCES,
                    Err(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG) | Ok(_) => {}
                    Err(other) => {
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
/// Raw system calls on stack buffers only.
fn report_self(links: &[CString]) -> ! {
    let mut ok = true;
    for path in Probe::FILES {
        ok &= copy_to_stdout(path) && put(b"\0");
    }
    let mut buf = [0u8; 256];
    for link in links {
        let (at, link, dest) = (libc::AT_FDCWD as usize, link.as_ptr() as usize, buf.as_mut_ptr() as usize);
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { sys::raw_syscall(libc::SYS_readlinkat, &[at, link, dest, buf.len()]) }.unwrap_or(0);
        ok &= put(&buf[..n.min(buf.len())]) && put(b"\0");
    }
    let readonly = sys::mounted_read_only(c"/");
    ok &= put(if readonly { b"1" } else { b"0" });
    // SAFETY: leave the child without running the init's exit handlers.
    unsafe { libc::_exit(if ok { 0 } else { 1 }) }
}

/// Write all of `bytes` to stdout.
fn put(mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: bytes is valid for reads of its length.
        match unsafe { sys::raw_syscall(libc::SYS_write, &[1, bytes.as_ptr() as usize, bytes.len()]) } {
            Ok(n) if n > 0 => bytes = &bytes[n.min(bytes.len())..],
            _ => return false,
        }
    }
    true
}

/// Copy what can be read of the file at `path` to stdout; false if stdout fails.
fn copy_to_stdout(path: &CStr) -> bool {
    let (at, flags) = (libc::AT_FDCWD as usize, (libc::O_RDONLY | libc::O_CLOEXEC) as usize);
    // SAFETY: path is a C string.
    let opened = unsafe { sys::raw_syscall(libc::SYS_openat, &[at, path.as_ptr() as usize, flags]) };
    let Ok(fd) = opened else { return true };
    let mut buf = [0u8; 4096];
    let ok = loop {
        // SAFETY: buf is valid for writes of its length.
        match unsafe { sys::raw_syscall(libc::SYS_read, &[fd, buf.as_mut_ptr() as usize, buf.len()]) } {
            Ok(n) if n > 0 => {
                if !put(&buf[..n.min(buf.len())]) {
                    break false;
                }
            }
            _ => break true, // the end, or what could not be read
        }
    };
    // SAFETY: fd was opened above and is closed once.
    let _ = unsafe { sys::raw_syscall(libc::SYS_close, &[fd]) };
    ok
}
