//! Commands in a running sandbox: the request, the collected output of [`exec`], and the
//! streaming [`Process`] of [`spawn`].
//!
//! Each command gets pipes made by the caller and passed to the sandbox's init, so its
//! output flows straight to the caller. `exec` drives all of them from the calling thread
//! with `poll`, never blocking the command: past the output cap bytes are read and
//! dropped.
//!
//! [`exec`]: crate::Sandbox::exec
//! [`spawn`]: crate::Sandbox::spawn

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::validate_env;
use crate::error::{Error, Result};
use crate::protocol::{self, Reply};
use crate::sys;

/// The default cap on each of stdout and stderr collected by `exec`.
pub const DEFAULT_MAX_OUTPUT: usize = 16 << 20;

/// How long a command killed for its timeout may take to be reported dead.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// A command to run in a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Program and arguments; the program is looked up in `$PATH` when it has no `/`.
    pub argv: Vec<String>,
    /// Environment on top of the sandbox's defaults.
    pub env: BTreeMap<String, String>,
    /// Working directory; default the sandbox's `cwd`.
    pub cwd: Option<PathBuf>,
    /// Bytes fed to stdin (exec only); stdin is then closed.
    pub stdin: Vec<u8>,
    /// Kill the command and every process of its session after this long (exec only).
    pub timeout: Option<Duration>,
    /// Keep at most this many bytes of each of stdout and stderr (exec only).
    pub max_output: Option<usize>,
}

impl ExecRequest {
    /// A request to run `argv`.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecRequest {
            argv: argv.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            cwd: None,
            stdin: Vec::new(),
            timeout: None,
            max_output: None,
        }
    }

    /// Run `script` with `/bin/sh -c`.
    pub fn shell(script: impl Into<String>) -> Self {
        Self::new(["/bin/sh".to_string(), "-c".to_string(), script.into()])
    }

    /// Set an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Set the working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Feed these bytes to stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// Kill the command after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Keep at most `bytes` of each output stream.
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = Some(bytes);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(Error::config("argv", "needs a program name"));
        }
        for (i, arg) in self.argv.iter().enumerate() {
            if arg.contains('\0') {
                return Err(Error::config(format!("argv[{i}]"), "contains a NUL byte"));
            }
        }
        validate_env(&self.env, "env")?;
        if let Some(cwd) = &self.cwd {
            crate::config::sandbox_path(cwd, "cwd")?;
        }
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::config("timeout", "must be more than zero"));
        }
        Ok(())
    }

    /// Reject the fields that only `exec` uses.
    pub(crate) fn validate_for_spawn(&self) -> Result<()> {
        self.validate()?;
        let only_exec = [
            ("stdin", !self.stdin.is_empty(), "write to Process::stdin instead"),
            ("timeout", self.timeout.is_some(), "use Process::wait_timeout instead"),
            ("max_output", self.max_output.is_some(), "read Process::stdout yourself"),
        ];
        match only_exec.into_iter().find(|(_, set, _)| *set) {
            Some((field, _, hint)) => Err(Error::config(field, format!("not used by spawn; {hint}"))),
            None => Ok(()),
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// The result of [`crate::Sandbox::exec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// How the command ended.
    pub status: ExitStatus,
    /// Collected stdout (at most the output cap).
    pub stdout: Vec<u8>,
    /// Collected stderr (at most the output cap).
    pub stderr: Vec<u8>,
    /// The command was killed because it ran past its timeout.
    pub timed_out: bool,
    /// The OOM killer ended a process of the sandbox while the command ran (from the
    /// cgroup's `oom_kill` counter; always false without a memory limit).
    pub oom_killed: bool,
    /// The most memory the sandbox has used at once so far, in bytes, where the kernel
    /// keeps it (cgroup v1, v2 from Linux 5.19); `None` without limits.
    pub peak_memory: Option<u64>,
    /// Output past the cap was dropped.
    pub truncated: bool,
    /// From the request to the command's end.
    pub duration: Duration,
}

impl ExecOutput {
    /// Exit code, when it exited.
    pub fn code(&self) -> Option<i32> {
        self.status.code
    }

    /// stdout as text (lossy UTF-8).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (lossy UTF-8).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The caller's ends of a started command.
pub(crate) struct Launched {
    pub(crate) id: u64,
    pub(crate) pid: i32,
    pub(crate) stdin: OwnedFd,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
    pub(crate) reply: OwnedFd,
}

/// The descriptors of one command, both ends, made by the caller.
pub(crate) struct Pipes {
    pub(crate) mine: [OwnedFd; 4],
    pub(crate) theirs: [OwnedFd; 4],
}

impl Pipes {
    /// stdin, stdout, stderr, reply socket. The init gets the read end of stdin and the
    /// write ends of the rest.
    pub(crate) fn new() -> Result<Pipes> {
        let (stdin_r, stdin_w) = sys::pipe()?;
        let (stdout_r, stdout_w) = sys::pipe()?;
        let (stderr_r, stderr_w) = sys::pipe()?;
        let (reply_mine, reply_theirs) = sys::seqpacket_pair()?;
        Ok(Pipes {
            mine: [stdin_w, stdout_r, stderr_r, reply_mine],
            theirs: [stdin_r, stdout_w, stderr_w, reply_theirs],
        })
    }
}

/// After the request went out: wait until the init reports the command running (its
/// `execve` succeeded) or failed to start, until `deadline`. With `cancel`, it is asked
/// every 100 ms; `None` when it says to stop waiting.
pub(crate) fn await_start(
    id: u64,
    mine: [OwnedFd; 4],
    deadline: Instant,
    cancel: Option<&mut dyn FnMut() -> bool>,
) -> Result<Option<Launched>> {
    let [stdin, stdout, stderr, reply] = mine;
    if !wait_readable(&reply, Some(deadline), "command start", cancel)? {
        return Ok(None);
    }
    match protocol::recv::<Reply>(&reply)? {
        Some((Reply::Started { pid }, _)) => Ok(Some(Launched { id, pid, stdin, stdout, stderr, reply })),
        Some((Reply::Failed(e), _)) => Err(e),
        Some((other, _)) => Err(Error::supervisor(format!("unexpected reply {other:?}"))),
        None => Err(Error::supervisor("the sandbox ended before the command started")),
    }
}

/// Wait until `fd` is readable: `true`. With `cancel`, it is asked every 100 ms: `false`
/// once it says to stop. Past `deadline`, a timeout naming `what`.
fn wait_readable(
    fd: &OwnedFd,
    deadline: Option<Instant>,
    what: &str,
    mut cancel: Option<&mut dyn FnMut() -> bool>,
) -> Result<bool> {
    let waiting = Instant::now();
    let mut fds = [libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if sys::poll(&mut fds, poll_slice(left, cancel.is_some()))? > 0 {
            return Ok(true);
        }
        if cancel.as_mut().is_some_and(|cancel| cancel()) {
            return Ok(false);
        }
        if left.is_some_and(|left| left.is_zero()) {
            return Err(Error::Timeout { what: what.into(), after: waiting.elapsed() });
        }
    }
}

/// How long one poll waits: what is `left` before the deadline (`None`: no deadline), at
/// most [`CANCEL_CHECK`] when there is a cancel to ask.
fn poll_slice(left: Option<Duration>, cancellable: bool) -> Option<Duration> {
    match (left, cancellable) {
        (left, false) => left,
        (None, true) => Some(CANCEL_CHECK),
        (Some(left), true) => Some(left.min(CANCEL_CHECK)),
    }
}

/// One output stream being collected.
struct Collector {
    fd: Option<OwnedFd>,
    data: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Collector {
    fn new(fd: OwnedFd, cap: usize) -> Result<Collector> {
        set_nonblocking(&fd)?;
        Ok(Collector { fd: Some(fd), data: Vec::new(), cap, truncated: false })
    }

    /// Read what is there now through `buf`; closes the stream at EOF.
    fn read_available(&mut self, buf: &mut [u8]) -> Result<()> {
        while let Some(fd) = &self.fd {
            match sys::read(fd.as_fd(), buf) {
                Ok(0) => self.fd = None,
                Ok(n) => {
                    let room = self.cap.saturating_sub(self.data.len());
                    self.data.extend_from_slice(&buf[..n.min(room)]);
                    self.truncated |= n > room;
                }
                Err(Error::Syscall { errno: libc::EAGAIN, .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// How often a cancellable `exec` asks whether to stop.
const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// Feed stdin, collect stdout and stderr, and wait for the exit (or the timeout) of a
/// command started by `exec`. `kill` asks the init to kill the command's tree. With
/// `cancel`, it is asked every 100 ms; when it says so the command is killed and `None`
/// returned.
pub(crate) fn collect(
    launched: Launched,
    input: &[u8],
    max_output: usize,
    deadline: Option<Instant>,
    started: Instant,
    kill: impl Fn() -> Result<()>,
    mut cancel: Option<&mut dyn FnMut() -> bool>,
) -> Result<Option<ExecOutput>> {
    let Launched { stdin, stdout, stderr, reply, .. } = launched;
    let mut stdin = if input.is_empty() { None } else { Some(stdin) };
    if let Some(fd) = &stdin {
        set_nonblocking(fd)?;
    }
    let mut written = 0;
    let mut out = Collector::new(stdout, max_output)?;
    let mut err = Collector::new(stderr, max_output)?;
    // One read buffer for the whole command: zeroing 64 KiB per read showed in profiles.
    let mut buf = [0u8; 65536];
    let mut deadline = deadline;
    let mut timed_out = false;
    let status = loop {
        let mut fds = Vec::with_capacity(4);
        fds.push(libc::pollfd { fd: reply.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        for c in [&out, &err] {
            if let Some(fd) = &c.fd {
                fds.push(libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
        }
        if let Some(fd) = &stdin {
            fds.push(libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 });
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        sys::poll(&mut fds, poll_slice(left, cancel.is_some()))?;
        if let Some(cancel) = cancel.as_mut() {
            if cancel() {
                kill()?;
                return Ok(None);
            }
        }
        out.read_available(&mut buf)?;
        err.read_available(&mut buf)?;
        if let Some(fd) = &stdin {
            match write_stdin(fd, &input[written..]) {
                Ok(n) => written += n,
                // The command closed its stdin: the rest of the input is not wanted.
                Err(_) => written = input.len(),
            }
            if written == input.len() {
                stdin = None;
            }
        }
        if fds[0].revents != 0 {
            match protocol::recv::<Reply>(&reply)? {
                Some((Reply::Exited { code, signal }, _)) => break ExitStatus { code, signal },
                Some((other, _)) => return Err(Error::supervisor(format!("unexpected reply {other:?}"))),
                None => return Err(Error::supervisor("the sandbox ended while the command ran")),
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if timed_out {
                return Err(Error::Timeout { what: "killing the timed-out command".into(), after: KILL_GRACE });
            }
            timed_out = true;
            kill()?;
            deadline = Some(Instant::now() + KILL_GRACE);
        }
    };
    // The command has exited; what it wrote before is in the pipes. Processes it left
    // in the background may hold the pipes open, so take what is there and stop.
    out.read_available(&mut buf)?;
    err.read_available(&mut buf)?;
    Ok(Some(ExecOutput {
        status,
        truncated: out.truncated || err.truncated,
        stdout: out.data,
        stderr: err.data,
        timed_out,
        oom_killed: false,
        peak_memory: None,
        duration: started.elapsed(),
    }))
}

/// Make the caller's end of a command's pipe non-blocking. It is a fresh pipe end with
/// no other status flags, so this needs no `F_GETFL` first.
fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    sys::set_status_flags(fd.as_fd(), libc::O_NONBLOCK)
}

/// Write to a pipe without letting SIGPIPE reach the host process: the signal is
/// blocked on this thread for the call and a pending one it caused is consumed.
fn write_stdin(fd: &OwnedFd, data: &[u8]) -> Result<usize> {
    let old = sys::sigmask(libc::SIG_BLOCK, &[libc::SIGPIPE]);
    // SAFETY: sigismember only reads the set.
    let was_blocked = unsafe { libc::sigismember(&old, libc::SIGPIPE) == 1 };
    let result = sys::write(fd.as_fd(), data);
    if matches!(result, Err(Error::Syscall { errno: libc::EPIPE, .. })) && !was_blocked {
        // SAFETY: the set is initialised; a zero timeout only polls.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
        }
    }
    sys::set_sigmask(&old);
    match result {
        Err(Error::Syscall { errno: libc::EAGAIN, .. }) => Ok(0),
        other => other,
    }
}

/// A command started with [`crate::Sandbox::spawn`], whose streams the caller reads and
/// writes while it runs.
pub struct Process {
    pid: i32,
    /// The command's stdin; drop it to send EOF.
    pub stdin: Option<File>,
    /// The command's stdout.
    pub stdout: Option<File>,
    /// The command's stderr.
    pub stderr: Option<File>,
    reply: OwnedFd,
    status: Option<ExitStatus>,
    killer: Box<dyn Fn(i32) -> Result<()> + Send + Sync>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process").field("pid", &self.pid).field("status", &self.status).finish()
    }
}

impl Process {
    pub(crate) fn new(launched: Launched, killer: Box<dyn Fn(i32) -> Result<()> + Send + Sync>) -> Process {
        Process {
            pid: launched.pid,
            stdin: Some(File::from(launched.stdin)),
            stdout: Some(File::from(launched.stdout)),
            stderr: Some(File::from(launched.stderr)),
            reply: launched.reply,
            status: None,
            killer,
        }
    }

    /// The command's pid inside the sandbox.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Wait for the command to end.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.wait_until(None).map(|s| s.expect("no deadline"))
    }

    /// Wait at most `timeout`; `None` if the command is still running then.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    /// The status if the command has ended, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.wait_until(Some(Instant::now()))
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        match wait_readable(&self.reply, deadline, "wait", None) {
            Ok(_) => {}
            Err(Error::Timeout { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        match protocol::recv::<Reply>(&self.reply)? {
            Some((Reply::Exited { code, signal }, _)) => {
                let status = ExitStatus { code, signal };
                self.status = Some(status);
                Ok(Some(status))
            }
            Some((other, _)) => Err(Error::supervisor(format!("unexpected reply {other:?}"))),
            None => Err(Error::supervisor("the sandbox ended while the command ran")),
        }
    }

    /// Send `signal` to the command and every process of its session.
    pub fn kill(&self, signal: i32) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        (self.killer)(signal)
    }
}
