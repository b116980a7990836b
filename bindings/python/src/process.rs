//! Commands: `CompletedProcess` (the result of `run`) and the streaming `Process` of
//! `spawn`.
//!
//! `run` itself is the core's `exec_cancellable` (see `sandbox.rs`); `Process.wait`
//! waits in short slices without the GIL and takes it back between them just long
//! enough to call `check_signals`, so Ctrl-C raises `KeyboardInterrupt` promptly.

use std::fs::File;
use std::os::fd::IntoRawFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nucleus_core::ExitStatus;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::{py_err, raise_with, CalledProcessError, TimeoutExpired};

/// How long a thread waits without the GIL before it checks for signals.
pub const SLICE: Duration = Duration::from_millis(100);

/// The result of :meth:`Sandbox.run`, shaped like :class:`subprocess.CompletedProcess`.
///
/// ``returncode`` is the exit code, or ``-N`` when signal ``N`` ended the command.
/// ``stdout``/``stderr`` are bytes, or str when ``run`` was called with ``text=True``.
/// ``timed_out`` is true when the command was killed for its timeout (``run`` then
/// raises :class:`TimeoutExpired`, whose ``result`` is this object); ``truncated`` when
/// output beyond ``max_output`` was dropped; ``duration`` is in seconds.
/// ``oom_killed`` is true when the OOM killer ended a process of the sandbox while the
/// command ran (only with a memory limit); ``peak_memory`` is the most memory the
/// sandbox has used at once so far, in bytes, or ``None`` without a cgroup.
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
    /// The OOM killer ended a process of the sandbox while the command ran.
    pub oom_killed: bool,
    /// The sandbox's peak memory so far in bytes, when it has a cgroup.
    pub peak_memory: Option<u64>,
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
        if self.oom_killed {
            text.push_str(", oom_killed=True");
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

/// `returncode` the way `subprocess` reports it.
pub fn returncode(status: ExitStatus) -> i32 {
    match (status.code, status.signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        (None, None) => -1,
    }
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
