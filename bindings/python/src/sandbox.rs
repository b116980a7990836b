//! `nucleus.Sandbox`: the Python handle on a core sandbox.
//!
//! The handle is a frozen pyclass around an `Arc` of the core sandbox (which is
//! `Send + Sync`), so any number of Python threads may use one sandbox at once. Every
//! call that can block runs without the GIL; arguments are converted to owned Rust values
//! first and Python objects are built after.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use nucleus_core::ExecRequest;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::config::{self, config_keywords, Fields, SandboxConfig};
use crate::errors::{closed_error, config_error, exit_after_close, internal_error, py_err, DegradedWarning};
use crate::process::{self, CompletedProcess, Process, StreamOptions};

/// A running sandbox: an isolated set of namespaces with its own root filesystem in
/// which commands run.
///
/// ``Sandbox(config=None, **kwargs)`` creates *and starts* the sandbox. The keyword
/// arguments are the fields of the config schema (``hostname``, ``env``, ``cwd``,
/// ``rootfs``, ``workspace``, ``mounts``, ``tmpfs_size``, ``network``, ``user``,
/// ``allow_degraded``, ``state_root``, ``shim_path``), plus shorthands: ``memory``
/// (bytes, or a size such as ``"512M"``), ``cpus`` (a float) and ``pids`` for the
/// ``limits`` section; ``security`` (a dict of that section), ``seccomp`` (``"enforce"``,
/// ``"log"``, ``"off"`` or a dict of the ``seccomp`` section) and ``landlock`` (a bool).
/// Given together with a :class:`SandboxConfig`, they override its fields. Use it as a
/// context manager, or call :meth:`close`; a sandbox that is garbage-collected is torn
/// down too.
///
/// A protection the host cannot enforce raises :class:`UnsupportedError`, unless
/// ``allow_degraded=True``: then the sandbox starts, :attr:`warnings` lists what is
/// missing, and each is also emitted as a :class:`DegradedWarning`. Resource limits need
/// root or a delegated cgroup v2 subtree.
#[pyclass(frozen, module = "nucleus._nucleus")]
pub struct Sandbox {
    handle: RwLock<Option<Arc<nucleus_core::Sandbox>>>,
    id: String,
}

config_keywords!(new Sandbox(config: Option<Bound<'py, SandboxConfig>> = None));

impl Sandbox {
    /// `Sandbox(config, **fields)`: the fields laid over `config`.
    fn from_fields<'py>(
        py: Python<'py>,
        config: Option<Bound<'py, SandboxConfig>>,
        fields: Fields<'py>,
    ) -> PyResult<Sandbox> {
        let base = config.as_ref().map(|c| &c.get().inner);
        let config = fields.into_config(py, base)?;
        Sandbox::start(py, config)
    }

    fn start(py: Python<'_>, config: nucleus_core::SandboxConfig) -> PyResult<Sandbox> {
        let config = config::effective(config);
        let sandbox = py
            .detach(move || {
                let sandbox = nucleus_core::Sandbox::create(config)?;
                sandbox.start()?;
                Ok::<_, nucleus_core::Error>(sandbox)
            })
            .map_err(py_err)?;
        Sandbox::wrap(py, sandbox)
    }

    /// The Python handle on a started core sandbox. Its degraded-mode warnings are
    /// emitted here, attributed to the caller's line (no Python frame is between it and
    /// this code). A filter that turns the warning into an error raises it here, and
    /// dropping the handle tears the sandbox down.
    pub fn wrap(py: Python<'_>, sandbox: nucleus_core::Sandbox) -> PyResult<Sandbox> {
        let warnings = sandbox.warnings();
        let sandbox = Sandbox { id: sandbox.id().to_owned(), handle: RwLock::new(Some(Arc::new(sandbox))) };
        let category = py.get_type::<DegradedWarning>();
        for warning in warnings {
            let message = CString::new(warning.replace('\0', "\\0")).expect("NULs replaced");
            PyErr::warn(py, category.as_any(), &message, 1)?;
        }
        Ok(sandbox)
    }

    /// The core sandbox, or `SandboxStateError` once closed.
    fn handle(&self) -> PyResult<Arc<nucleus_core::Sandbox>> {
        self.handle.read().unwrap_or_else(|p| p.into_inner()).clone().ok_or_else(closed_error)
    }

    fn status_text(&self, py: Python<'_>) -> String {
        match self.handle.read().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(h) => py.detach(|| h.status().to_string()),
            None => "closed".into(),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let handle = self.handle.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            // Teardown waits for the supervisor: do it without the GIL.
            Python::attach(|py| py.detach(move || drop(handle)));
        }
    }
}

/// Seconds as a `Duration`, or a `ConfigError` naming `field`.
pub fn seconds(value: f64, field: &str) -> PyResult<Duration> {
    // NaN is not more than zero either.
    if value.is_nan() || value <= 0.0 {
        return Err(config_error(field, format!("must be more than zero seconds, not {value}")));
    }
    Duration::try_from_secs_f64(value).map_err(|e| config_error(field, e.to_string()))
}

/// The command as argv: a string is one program name (or a script with `shell=True`),
/// anything else a sequence of strings or paths.
fn argv(py: Python<'_>, args: &Bound<'_, PyAny>, shell: bool) -> PyResult<Vec<String>> {
    let os = py.import("os")?;
    let mut argv: Vec<String> = if args.is_instance_of::<PyString>() || args.is_instance_of::<PyBytes>() {
        vec![os.call_method1("fsdecode", (args,))?.extract()?]
    } else {
        let mut v = Vec::new();
        for item in args.try_iter()? {
            v.push(os.call_method1("fsdecode", (item?,))?.extract()?);
        }
        v
    };
    if shell {
        argv.splice(0..0, ["/bin/sh".to_string(), "-c".to_string()]);
    }
    if argv.is_empty() {
        return Err(config_error("argv", "needs a program name"));
    }
    Ok(argv)
}

/// Bytes to send: `bytes`-like, or `str` (encoded as UTF-8).
fn data_bytes(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<u8>> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    // Any other object with the buffer protocol (bytearray, memoryview, array...).
    let view = value
        .py()
        .get_type::<pyo3::types::PyMemoryView>()
        .call1((value,))
        .map_err(|_| config_error(field, format!("must be str or bytes, not {}", type_name(value))))?;
    let b = view.call_method0("tobytes")?;
    Ok(b.cast::<PyBytes>()?.as_bytes().to_vec())
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

fn env_map(env: Option<&Bound<'_, PyAny>>) -> PyResult<BTreeMap<String, String>> {
    let Some(env) = env else { return Ok(BTreeMap::new()) };
    let mut map = BTreeMap::new();
    for item in env.call_method0("items")?.try_iter()? {
        let (k, v): (String, String) = item?.extract()?;
        map.insert(k, v);
    }
    Ok(map)
}

fn decode<'py>(
    py: Python<'py>,
    data: Vec<u8>,
    text: bool,
    encoding: Option<&str>,
    errors: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let bytes = PyBytes::new(py, &data).into_any();
    if !text {
        return Ok(bytes);
    }
    bytes.call_method1("decode", (encoding.unwrap_or("utf-8"), errors.unwrap_or("replace")))
}

#[pymethods]
impl Sandbox {
    /// Create and start a sandbox from a JSON config (the schema shared with the Rust
    /// and C APIs).
    #[staticmethod]
    fn from_json(py: Python<'_>, json: &str) -> PyResult<Sandbox> {
        let config = nucleus_core::SandboxConfig::from_json(json).map_err(py_err)?;
        Sandbox::start(py, config)
    }

    /// The sandbox's id (16 hex digits; also the name of its state record).
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    /// ``"running"``, ``"stopped"`` (ended by itself) or ``"closed"``.
    #[getter]
    fn status(&self, py: Python<'_>) -> String {
        self.status_text(py)
    }

    /// Whether :meth:`close` has been called.
    #[getter]
    fn closed(&self) -> bool {
        self.handle.read().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    /// The config the sandbox was created from.
    #[getter]
    fn config(&self) -> PyResult<SandboxConfig> {
        Ok(SandboxConfig { inner: self.handle()?.config().clone() })
    }

    /// Host path of the directory mounted at ``/workspace``.
    #[getter]
    fn workspace_path(&self) -> PyResult<Option<String>> {
        Ok(self.handle()?.workspace_path().map(|p| p.to_string_lossy().into_owned()))
    }

    /// Host pid of the sandbox's PID 1.
    #[getter]
    fn init_pid(&self) -> PyResult<Option<i32>> {
        Ok(self.handle()?.init_pid())
    }

    /// Host pid of the sandbox's supervisor process.
    #[getter]
    fn supervisor_pid(&self) -> PyResult<Option<i32>> {
        Ok(self.handle()?.supervisor_pid())
    }

    /// Warnings of degraded mode: each protection the config asked for that this host
    /// does not enforce (empty unless ``allow_degraded=True``, or seccomp is in log
    /// mode). The same texts were emitted as :class:`DegradedWarning` at creation.
    #[getter]
    fn warnings(&self) -> PyResult<Vec<String>> {
        Ok(self.handle()?.warnings())
    }

    /// Which protections hold, verified from inside the running sandbox by a probe
    /// process confined exactly like a command. Returns a dict::
    ///
    ///     {"layers": [{"layer": "seccomp", "requested": True, "enforced": True,
    ///                  "verified": "/proc/self/status: Seccomp: 2, ..."}, ...],
    ///      "warnings": [...]}
    ///
    /// with one entry per layer in a fixed order (the namespaces, ``uid_map``,
    /// ``no_new_privs``, ``capabilities``, ``seccomp``, ``landlock``, ``rlimits``,
    /// ``read_only_root``) and the warnings of degraded mode.
    fn security_report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle()?;
        let report = py.detach(|| handle.security_report()).map_err(py_err)?;
        py.import("json")?.call_method1("loads", (report.to_json(),))
    }

    /// The counters of the sandbox's cgroup, as a dict: ``memory_current`` and
    /// ``memory_peak`` (bytes), ``cpu_usec`` (CPU time of all its processes, in
    /// microseconds), ``tasks`` (alive now, its init included) and ``oom_kills``. A
    /// counter this host's kernel does not keep is ``None``. Raises
    /// :class:`UnsupportedError` for a sandbox without limits, which has no cgroup.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle()?;
        let stats = py.detach(|| handle.stats()).map_err(py_err)?;
        // Through the core's serde shape, so a counter added there appears here too.
        let json = serde_json::to_string(&stats).map_err(|e| internal_error(format!("stats as JSON: {e}")))?;
        py.import("json")?.call_method1("loads", (json,))
    }

    /// Run a command to completion and return a :class:`CompletedProcess`, like
    /// :func:`subprocess.run` with captured output.
    ///
    /// ``args`` is a sequence of strings (or a single program name); with
    /// ``shell=True``, a string run by ``/bin/sh -c``. ``input`` (bytes or str) is fed
    /// to stdin, which is otherwise closed. ``env`` adds to the sandbox's environment.
    /// Output is bytes unless ``text=True`` (or ``encoding``/``errors`` is given):
    /// then it is decoded as ``encoding`` (default UTF-8) with ``errors`` (default
    /// ``"replace"``, as output of untrusted code is often not valid text). At most
    /// ``max_output`` bytes of each stream are kept (default 16 MiB); the rest is
    /// dropped and ``truncated`` set. With a memory limit, ``oom_killed`` tells whether
    /// the OOM killer struck while the command ran and ``peak_memory`` the sandbox's
    /// peak so far.
    ///
    /// Raises :class:`TimeoutExpired` (with the partial output and the
    /// ``CompletedProcess`` as ``result``) if the command ran past ``timeout`` seconds,
    /// after killing it and everything it started; :class:`CalledProcessError` if
    /// ``check=True`` and it exited non-zero; :class:`ExecError` if it could not start.
    /// Ctrl-C kills the command and raises ``KeyboardInterrupt``.
    #[pyo3(signature = (
        args, *, input=None, cwd=None, env=None, timeout=None, shell=false, text=false,
        encoding=None, errors=None, check=false, max_output=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn run<'py>(
        &self,
        py: Python<'py>,
        args: Bound<'py, PyAny>,
        input: Option<Bound<'py, PyAny>>,
        cwd: Option<PathBuf>,
        env: Option<Bound<'py, PyAny>>,
        timeout: Option<f64>,
        shell: bool,
        text: bool,
        encoding: Option<String>,
        errors: Option<String>,
        check: bool,
        max_output: Option<usize>,
    ) -> PyResult<Bound<'py, CompletedProcess>> {
        let handle = self.handle()?;
        let mut request = ExecRequest::new(argv(py, &args, shell)?);
        request.env = env_map(env.as_ref())?;
        request.cwd = cwd;
        request.stdin = match &input {
            Some(v) if !v.is_none() => data_bytes(v, "input")?,
            _ => Vec::new(),
        };
        request.timeout = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        request.max_output = match max_output {
            Some(0) => return Err(config_error("max_output", "must be at least 1")),
            other => other,
        };
        // The core runs the command; every 100 ms it asks whether to stop, which takes
        // the GIL back just long enough to see a pending Ctrl-C. The command is killed
        // before the KeyboardInterrupt is raised.
        let mut interrupt: Option<PyErr> = None;
        let output = py
            .detach(|| {
                let mut cancel = || {
                    Python::attach(|py| match py.check_signals() {
                        Ok(()) => false,
                        Err(e) => {
                            interrupt = Some(e);
                            true
                        }
                    })
                };
                handle.exec_cancellable(&request, &mut cancel)
            })
            .map_err(py_err)?;
        let Some(output) = output else {
            return Err(interrupt.unwrap_or_else(|| {
                pyo3::exceptions::PyKeyboardInterrupt::new_err("the command was cancelled")
            }));
        };
        let text = text || encoding.is_some() || errors.is_some();
        let result = Bound::new(
            py,
            CompletedProcess {
                args: args.unbind(),
                returncode: process::returncode(output.status),
                stdout: decode(py, output.stdout, text, encoding.as_deref(), errors.as_deref())?.unbind(),
                stderr: decode(py, output.stderr, text, encoding.as_deref(), errors.as_deref())?.unbind(),
                timed_out: output.timed_out,
                oom_killed: output.oom_killed,
                peak_memory: output.peak_memory,
                truncated: output.truncated,
                duration: output.duration.as_secs_f64(),
            },
        )?;
        if result.get().timed_out {
            return Err(process::timeout_error(&result, timeout.unwrap_or_default()));
        }
        if check && result.get().returncode != 0 {
            return Err(process::called_process_error(&result));
        }
        Ok(result)
    }

    /// Start a command and return a :class:`Process` at once, like
    /// :class:`subprocess.Popen` with ``stdin``, ``stdout`` and ``stderr`` all pipes.
    ///
    /// ``text=True`` (or ``encoding``/``errors``) gives text streams (default UTF-8 with
    /// ``errors="replace"``); ``bufsize`` is as for ``Popen`` (``None`` or ``-1``: the
    /// default buffer size, ``0``: unbuffered, ``1``: line-buffered in text mode).
    #[pyo3(signature = (
        args, *, cwd=None, env=None, shell=false, text=false, encoding=None, errors=None,
        bufsize=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        &self,
        py: Python<'_>,
        args: Bound<'_, PyAny>,
        cwd: Option<PathBuf>,
        env: Option<Bound<'_, PyAny>>,
        shell: bool,
        text: bool,
        encoding: Option<String>,
        errors: Option<String>,
        bufsize: Option<i64>,
    ) -> PyResult<Process> {
        let bufsize = bufsize.unwrap_or(-1);
        let handle = self.handle()?;
        let mut request = ExecRequest::new(argv(py, &args, shell)?);
        request.env = env_map(env.as_ref())?;
        request.cwd = cwd;
        let child = py.detach(|| handle.spawn(&request)).map_err(py_err)?;
        let text = text || encoding.is_some() || errors.is_some();
        let opts = StreamOptions { text, encoding, errors, bufsize };
        Process::new(py, child, args.unbind(), &opts)
    }

    /// Write ``data`` (bytes, or str as UTF-8) to the file at ``path`` inside the
    /// sandbox, creating it (mode 0644) or truncating it. Symlinks resolve inside the
    /// sandbox, never to the host.
    fn write_file(&self, py: Python<'_>, path: PathBuf, data: Bound<'_, PyAny>) -> PyResult<()> {
        let handle = self.handle()?;
        let data = data_bytes(&data, "data")?;
        py.detach(|| handle.write_file(&path, &data)).map_err(py_err)
    }

    /// The whole content of the file at ``path`` inside the sandbox, as bytes.
    fn read_file<'py>(&self, py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyBytes>> {
        let handle = self.handle()?;
        let data = py.detach(|| handle.read_file(&path)).map_err(py_err)?;
        Ok(PyBytes::new(py, &data))
    }

    /// Send ``signal`` (default SIGKILL) to every process in the sandbox except its
    /// PID 1; the sandbox stays usable.
    #[pyo3(signature = (signal = 9))]
    fn kill(&self, py: Python<'_>, signal: i32) -> PyResult<()> {
        let handle = self.handle()?;
        py.detach(|| handle.kill(signal)).map_err(py_err)
    }

    /// Tear the sandbox down: every process in it dies and its mounts, private
    /// workspace and state record are removed. Idempotent; afterwards every other
    /// method raises :class:`SandboxStateError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let handle = self.handle.write().unwrap_or_else(|p| p.into_inner()).take();
        match handle {
            Some(handle) => py.detach(move || handle.destroy()).map_err(py_err),
            None => Ok(()),
        }
    }

    /// The same as :meth:`close`.
    fn destroy(&self, py: Python<'_>) -> PyResult<()> {
        self.close(py)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Close the sandbox. An error from closing does not hide one from the block.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        exit_after_close(self.close(py), &exc_type)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<nucleus.Sandbox id={} status={}>", self.id, self.status_text(py))
    }
}
