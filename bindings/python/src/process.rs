//! Commands: `CompletedProcess` (the result of `run`), the streaming `Process` of
//! `spawn`, and the loop that drives a `run`.
//!
//! `run` is built on the core's `spawn` rather than its `exec` so that it can wait in
//! short slices: between slices it takes the GIL back just long enough to call
//! `check_signals`, so Ctrl-C raises `KeyboardInterrupt` promptly (after the command
//! has been killed).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nucleus_core::{Error, ExitStatus};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::{py_err, raise_with, CalledProcessError, TimeoutExpired};

/// How long a thread waits without the GIL before it checks for signals.
pub const SLICE: Duration = Duration::from_millis(100);

/// How long a command killed for its timeout may take to be reported dead.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The result of :meth:`Sandbox.run`, shaped like :class:`subprocess.CompletedProcess`.
///
/// ``returncode`` is the exit code, or ``-N`` when signal ``N`` ended the command.
/// ``stdout``/``stderr`` are bytes, or str when ``run`` was called with ``text=True``.
/// ``timed_out`` is true when the command was killed for its timeout (``run`` then
/// raises :class:`TimeoutExpired`, whose ``result`` is this object); ``truncated`` when
/// output beyond ``max_output`` was dropped; ``duration`` is in seconds.
#[pyclass(frozen, get_all, module = "nucleus._nucleus")]
pub struct CompletedProcess {
    /// The command as given to ``run``.
    pub args: Py<PyAny>,
    /// Exit code, or ``-signal``.
    pub returncode: i32,
    /// Collected stdout.
    pub stdout: Py<PyAny>,
    /// Collected stderr.
    pub stderr: Py<PyAny>,
    /// Killed because it ran past its timeout.
    pub timed_out: bool,
    /// Output past ``max_output`` was dropped.
    pub truncated: bool,
    /// Seconds from the request to the command's end.
    pub duration: f64,
}

#[pymethods]
impl CompletedProcess {
    /// Raise :class:`CalledProcessError` if ``returncode`` is not zero.
    fn check_returncode(slf: &Bound<'_, Self>) -> PyResult<()> {
        let me = slf.get();
        if me.returncode == 0 {
            return Ok(());
        }
        Err(called_process_error(slf))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut text = format!(
            "CompletedProcess(args={}, returncode={}",
            self.args.bind(py).repr()?,
            self.returncode
        );
        for (name, value) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let value = value.bind(py);
            if !value.is_truthy()? {
                continue;
            }
            text.push_str(&format!(", {name}={}", value.repr()?));
        }
        if self.timed_out {
            text.push_str(", timed_out=True");
        }
        if self.truncated {
            text.push_str(", truncated=True");
        }
        text.push(')');
        Ok(text)
    }
}

/// The `CalledProcessError` for a completed process.
pub fn called_process_error(result: &Bound<'_, CompletedProcess>) -> PyErr {
    let py = result.py();
    let me = result.get();
    let build = || -> PyResult<PyErr> {
        let args = PyTuple::new(
            py,
            [
                me.returncode.into_pyobject(py)?.into_any(),
                me.args.bind(py).clone(),
                me.stdout.bind(py).clone(),
                me.stderr.bind(py).clone(),
            ],
        )?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("result", result)?;
        Ok(raise_with(py.get_type::<CalledProcessError>(), args, kwargs))
    };
    build().unwrap_or_else(|e| e)
}

/// The `TimeoutExpired` for a process killed at its timeout.
pub fn timeout_error(result: &Bound<'_, CompletedProcess>, timeout: f64) -> PyErr {
    let py = result.py();
    let me = result.get();
    let build = || -> PyResult<PyErr> {
        let cmd = me.args.bind(py);
        let message = format!("Command {} timed out after {timeout} seconds", cmd.repr()?);
        let kwargs = PyDict::new(py);
        kwargs.set_item("cmd", cmd)?;
        kwargs.set_item("timeout", timeout)?;
        kwargs.set_item("stdout", me.stdout.bind(py))?;
        kwargs.set_item("stderr", me.stderr.bind(py))?;
        kwargs.set_item("result", result)?;
        Ok(raise_with(py.get_type::<TimeoutExpired>(), PyTuple::new(py, [message])?, kwargs))
    };
    build().unwrap_or_else(|e| e)
}

/// What a finished `run` collected.
pub struct RunOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    pub truncated: bool,
    pub duration: Duration,
}

/// `returncode` the way `subprocess` reports it.
pub fn returncode(status: ExitStatus) -> i32 {
    match (status.code, status.signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        (None, None) => -1,
    }
}

/// One output stream being collected, without ever blocking the command: past the cap,
/// bytes are read and dropped.
struct Collector {
    file: Option<File>,
    data: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Collector {
    fn new(file: Option<File>, cap: usize) -> Result<Collector, Error> {
        if let Some(f) = &file {
            set_nonblocking(f)?;
        }
        Ok(Collector { file, data: Vec::new(), cap, truncated: false })
    }

    /// Read what is there now; closes the stream at EOF.
    fn read_available(&mut self) -> Result<(), Error> {
        let mut buf = [0u8; 65536];
        while let Some(f) = &mut self.file {
            match f.read(&mut buf) {
                Ok(0) => self.file = None,
                Ok(n) => {
                    let room = self.cap.saturating_sub(self.data.len());
                    self.data.extend_from_slice(&buf[..n.min(room)]);
                    self.truncated |= n > room;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("read", &e)),
            }
        }
        Ok(())
    }
}

/// The state of a `run` between slices.
pub struct Run {
    child: nucleus_core::Process,
    stdin: Option<File>,
    input: Vec<u8>,
    written: usize,
    out: Collector,
    err: Collector,
    started: Instant,
    deadline: Option<Instant>,
    timed_out: bool,
}

impl Run {
    /// Take over a just-spawned command: feed it `input`, collect at most `cap` bytes of
    /// each output stream, and kill it at `timeout`.
    pub fn new(
        mut child: nucleus_core::Process,
        input: Vec<u8>,
        cap: usize,
        timeout: Option<Duration>,
        started: Instant,
    ) -> Result<Run, Error> {
        // Without input, stdin is closed at once: the command sees EOF.
        let stdin = child.stdin.take().filter(|_| !input.is_empty());
        if let Some(f) = &stdin {
            set_nonblocking(f)?;
        }
        let out = Collector::new(child.stdout.take(), cap)?;
        let err = Collector::new(child.stderr.take(), cap)?;
        Ok(Run {
            child,
            stdin,
            input,
            written: 0,
            out,
            err,
            started,
            deadline: timeout.map(|t| started + t),
            timed_out: false,
        })
    }

    /// Drive the command until it ends or `slice_end` passes; `Some` when it ended.
    /// Blocks: call without the GIL.
    pub fn step(&mut self, slice_end: Instant) -> Result<Option<RunOutput>, Error> {
        loop {
            let now = Instant::now();
            if let Some(deadline) = self.deadline {
                if now >= deadline {
                    if self.timed_out {
                        return Err(Error::Timeout {
                            what: "killing the timed-out command".into(),
                            after: KILL_GRACE,
                        });
                    }
                    self.timed_out = true;
                    self.child.kill(libc::SIGKILL)?;
                    self.deadline = Some(now + KILL_GRACE);
                }
            }
            let until = match self.deadline {
                Some(d) => d.min(slice_end),
                None => slice_end,
            };
            let left = until.saturating_duration_since(now);
            let exited = if self.out.file.is_none() && self.err.file.is_none() && self.stdin.is_none() {
                self.child.wait_timeout(left)?
            } else {
                self.poll_streams(left)?;
                self.child.try_wait()?
            };
            if let Some(status) = exited {
                // What the command wrote before it exited is in the pipes. Processes it
                // left in the background may hold them open, so take what is there.
                self.out.read_available()?;
                self.err.read_available()?;
                return Ok(Some(RunOutput {
                    status,
                    truncated: self.out.truncated || self.err.truncated,
                    stdout: std::mem::take(&mut self.out.data),
                    stderr: std::mem::take(&mut self.err.data),
                    timed_out: self.timed_out,
                    duration: self.started.elapsed(),
                }));
            }
            if Instant::now() >= slice_end {
                return Ok(None);
            }
        }
    }

    /// Wait up to `left` for any stream to be ready, then move what can be moved.
    fn poll_streams(&mut self, left: Duration) -> Result<(), Error> {
        let mut fds = Vec::with_capacity(3);
        for c in [&self.out, &self.err] {
            if let Some(f) = &c.file {
                fds.push(libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
        }
        if let Some(f) = &self.stdin {
            fds.push(libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLOUT, revents: 0 });
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: fds is a valid array of initialised pollfd structs of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(io_error("poll", &e));
            }
        }
        self.out.read_available()?;
        self.err.read_available()?;
        if let Some(f) = &mut self.stdin {
            loop {
                if self.written == self.input.len() {
                    self.stdin = None;
                    break;
                }
                match f.write(&self.input[self.written..]) {
                    Ok(n) => self.written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // The command closed its stdin: the rest of the input is not wanted.
                    // (Python ignores SIGPIPE, so this is EPIPE, not a signal.)
                    Err(_) => {
                        self.stdin = None;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Kill the command and wait briefly for it (after an interrupt).
    pub fn abandon(&mut self) {
        let _ = self.child.kill(libc::SIGKILL);
        let _ = self.child.wait_timeout(Duration::from_secs(1));
    }
}

fn set_nonblocking(f: &File) -> Result<(), Error> {
    let fd = f.as_raw_fd();
    // SAFETY: fcntl on a descriptor this File owns; no pointers involved.
    let rc = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            flags
        } else {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK)
        }
    };
    if rc < 0 {
        return Err(io_error("fcntl", &std::io::Error::last_os_error()));
    }
    Ok(())
}

fn io_error(call: &str, e: &std::io::Error) -> Error {
    Error::Syscall { call: call.into(), path: None, errno: e.raw_os_error().unwrap_or(0) }
}

/// A command started with :meth:`Sandbox.spawn`, shaped like :class:`subprocess.Popen`.
///
/// ``stdin``, ``stdout`` and ``stderr`` are ordinary Python file objects (binary, or
/// text when spawned with ``text=True``); reading them blocks without holding the GIL
/// and ``for line in p.stdout`` yields lines as the command writes them. ``returncode``
/// is ``None`` until :meth:`poll` or :meth:`wait` has seen the command end.
#[pyclass(frozen, module = "nucleus._nucleus")]
pub struct Process {
    inner: Mutex<nucleus_core::Process>,
    status: Mutex<Option<ExitStatus>>,
    pid: i32,
    args: Py<PyAny>,
    stdin: Py<PyAny>,
    stdout: Py<PyAny>,
    stderr: Py<PyAny>,
}

/// Options for the Python file objects of a spawned process.
pub struct StreamOptions {
    pub text: bool,
    pub encoding: Option<String>,
    pub errors: Option<String>,
    pub bufsize: i64,
}

impl Process {
    /// Wrap a spawned core process; its pipes become Python file objects.
    pub fn new(
        py: Python<'_>,
        mut inner: nucleus_core::Process,
        args: Py<PyAny>,
        opts: &StreamOptions,
    ) -> PyResult<Process> {
        let stdin = wrap_stream(py, inner.stdin.take(), true, opts)?;
        let stdout = wrap_stream(py, inner.stdout.take(), false, opts)?;
        let stderr = wrap_stream(py, inner.stderr.take(), false, opts)?;
        Ok(Process {
            pid: inner.pid(),
            inner: Mutex::new(inner),
            status: Mutex::new(None),
            args,
            stdin,
            stdout,
            stderr,
        })
    }

    fn lock(&self) -> MutexGuard<'_, nucleus_core::Process> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, status: ExitStatus) -> i32 {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
        returncode(status)
    }

    fn known(&self) -> Option<i32> {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).map(returncode)
    }
}

/// A pipe end as a Python file object, like `subprocess.Popen` makes them.
fn wrap_stream(py: Python<'_>, file: Option<File>, write: bool, opts: &StreamOptions) -> PyResult<Py<PyAny>> {
    let Some(file) = file else { return Ok(py.None()) };
    let io = py.import("io")?;
    let fd = file.into_raw_fd();
    let kwargs = PyDict::new(py);
    kwargs.set_item("buffering", if opts.bufsize < 0 { -1 } else { opts.bufsize.min(i64::from(i32::MAX)) })?;
    if opts.bufsize == 1 {
        // Line buffering only exists in text mode; in binary mode, the default size.
        kwargs.set_item("buffering", -1)?;
    }
    let mode = if write { "wb" } else { "rb" };
    let binary = match io.call_method("open", (fd, mode), Some(&kwargs)) {
        Ok(f) => f,
        Err(e) => {
            // SAFETY: the descriptor is ours and nothing else took ownership of it.
            unsafe { libc::close(fd) };
            return Err(e);
        }
    };
    if !opts.text {
        return Ok(binary.unbind());
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("encoding", opts.encoding.as_deref().unwrap_or("utf-8"))?;
    kwargs.set_item("errors", opts.errors.as_deref().unwrap_or("replace"))?;
    if write {
        kwargs.set_item("write_through", true)?;
        kwargs.set_item("line_buffering", opts.bufsize == 1)?;
    }
    Ok(io.getattr("TextIOWrapper")?.call((binary,), Some(&kwargs))?.unbind())
}

#[pymethods]
impl Process {
    /// The command's pid inside the sandbox.
    #[getter]
    fn pid(&self) -> i32 {
        self.pid
    }

    /// The command as given to ``spawn``.
    #[getter]
    fn args(&self, py: Python<'_>) -> Py<PyAny> {
        self.args.clone_ref(py)
    }

    /// The command's stdin (a writable file object); close it to send EOF.
    #[getter]
    fn stdin(&self, py: Python<'_>) -> Py<PyAny> {
        self.stdin.clone_ref(py)
    }

    /// The command's stdout (a readable file object).
    #[getter]
    fn stdout(&self, py: Python<'_>) -> Py<PyAny> {
        self.stdout.clone_ref(py)
    }

    /// The command's stderr (a readable file object).
    #[getter]
    fn stderr(&self, py: Python<'_>) -> Py<PyAny> {
        self.stderr.clone_ref(py)
    }

    /// Exit code (or ``-signal``) once the end has been seen, else ``None``.
    #[getter]
    fn returncode(&self) -> Option<i32> {
        self.known()
    }

    /// The return code if the command has ended, else ``None``; does not wait.
    fn poll(&self, py: Python<'_>) -> PyResult<Option<i32>> {
        if let Some(code) = self.known() {
            return Ok(Some(code));
        }
        let status = py.detach(|| self.lock().try_wait()).map_err(py_err)?;
        Ok(status.map(|s| self.record(s)))
    }

    /// Wait for the command to end and return its return code. With a ``timeout`` (in
    /// seconds), raise :class:`TimeoutExpired` if it is still running then; the command
    /// is not killed. Ctrl-C interrupts the wait.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<i32> {
        let deadline = match timeout {
            Some(t) => Some(Instant::now() + crate::sandbox::seconds(t, "timeout")?),
            None => None,
        };
        loop {
            if let Some(code) = self.known() {
                return Ok(code);
            }
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
                None => SLICE,
            };
            let status = py.detach(|| self.lock().wait_timeout(slice)).map_err(py_err)?;
            if let Some(status) = status {
                return Ok(self.record(status));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let kwargs = PyDict::new(py);
                kwargs.set_item("cmd", self.args.bind(py))?;
                kwargs.set_item("timeout", timeout.unwrap_or_default())?;
                let message = format!(
                    "Command {} did not end within {} seconds",
                    self.args.bind(py).repr()?,
                    timeout.unwrap_or_default()
                );
                return Err(raise_with(py.get_type::<TimeoutExpired>(), PyTuple::new(py, [message])?, kwargs));
            }
            py.check_signals()?;
        }
    }

    /// Send ``signal`` to the command and every process of its session.
    fn send_signal(&self, py: Python<'_>, signal: i32) -> PyResult<()> {
        if self.known().is_some() {
            return Ok(());
        }
        py.detach(|| self.lock().kill(signal)).map_err(py_err)
    }

    /// Kill the command (SIGKILL).
    fn kill(&self, py: Python<'_>) -> PyResult<()> {
        self.send_signal(py, libc::SIGKILL)
    }

    /// Ask the command to stop (SIGTERM).
    fn terminate(&self, py: Python<'_>) -> PyResult<()> {
        self.send_signal(py, libc::SIGTERM)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Close the pipes and wait for the command, like ``subprocess.Popen``.
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        for stream in [&self.stdout, &self.stderr, &self.stdin] {
            let stream = stream.bind(py);
            if !stream.is_none() {
                // A broken pipe on closing stdin is not worth an exception here.
                let _ = stream.call_method0("close");
            }
        }
        self.wait(py, None).map(drop)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<nucleus.Process pid={} args={} returncode={}>",
            self.pid,
            self.args.bind(py).repr()?,
            match self.known() {
                Some(c) => c.to_string(),
                None => "None".into(),
            }
        ))
    }
}
