//! Turning nucleus errors into the Python exceptions of `nucleus._errors`.
//!
//! The exception classes are written in Python (so they can inherit from `ValueError`,
//! `OSError`, `TimeoutError` and the `subprocess` errors) and imported here.

use std::path::Path;

use nucleus_core::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

pyo3::import_exception!(nucleus._errors, NucleusError);
pyo3::import_exception!(nucleus._errors, ConfigError);
pyo3::import_exception!(nucleus._errors, UnsupportedError);
pyo3::import_exception!(nucleus._errors, SandboxStateError);
pyo3::import_exception!(nucleus._errors, SandboxError);
pyo3::import_exception!(nucleus._errors, ExecError);
pyo3::import_exception!(nucleus._errors, TimeoutExpired);
pyo3::import_exception!(nucleus._errors, CalledProcessError);
pyo3::import_exception!(nucleus._errors, InternalError);
pyo3::import_exception!(nucleus._errors, DegradedWarning);

/// A core error with the binding's conversion to a Python exception.
///
/// (`From<nucleus_core::Error> for PyErr` cannot be written here directly: both types
/// are foreign to this crate. Functions return `Result<T, NucleusErr>` where `?` on a
/// core error is wanted, and `.map_err(py_err)` elsewhere.)
#[derive(Debug)]
pub struct NucleusErr(pub Error);

impl From<Error> for NucleusErr {
    fn from(e: Error) -> Self {
        NucleusErr(e)
    }
}

impl From<NucleusErr> for PyErr {
    fn from(e: NucleusErr) -> PyErr {
        Python::attach(|py| to_py_err(py, &e.0))
    }
}

/// Convert a core error; usable as `.map_err(py_err)`.
pub fn py_err(e: Error) -> PyErr {
    PyErr::from(NucleusErr(e))
}

/// The stable `kind` string of an error kind.
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidConfig => "invalid_config",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::Syscall => "syscall",
        ErrorKind::State => "state",
        ErrorKind::Timeout => "timeout",
        ErrorKind::ExecFailed => "exec_failed",
        ErrorKind::Supervisor => "supervisor",
        ErrorKind::Internal => "internal",
    }
}

/// The error that stopped the operation (the primary one of a `WithCleanup`).
fn primary(e: &Error) -> &Error {
    match e {
        Error::WithCleanup { primary, .. } => self::primary(primary),
        other => other,
    }
}

fn to_py_err(py: Python<'_>, e: &Error) -> PyErr {
    match build(py, e) {
        Ok(err) => err,
        Err(failed) => failed,
    }
}

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", kind_name(e.kind()))?;
    kwargs.set_item("errno", e.errno())?;
    kwargs.set_item("path", e.path().map(Path::to_string_lossy))?;
    let class = match e.kind() {
        ErrorKind::InvalidConfig => {
            kwargs.set_item("field", e.field().unwrap_or_default())?;
            py.get_type::<ConfigError>()
        }
        ErrorKind::Unsupported => {
            if let Error::Unsupported { layer, .. } = primary(e) {
                kwargs.set_item("layer", layer)?;
            }
            py.get_type::<UnsupportedError>()
        }
        ErrorKind::Syscall => {
            if let Error::Syscall { call, .. } = primary(e) {
                kwargs.set_item("syscall", call)?;
            }
            py.get_type::<SandboxError>()
        }
        ErrorKind::Supervisor => py.get_type::<SandboxError>(),
        ErrorKind::State => py.get_type::<SandboxStateError>(),
        ErrorKind::Timeout => {
            if let Error::Timeout { after, .. } = primary(e) {
                kwargs.set_item("timeout", after.as_secs_f64())?;
            }
            py.get_type::<TimeoutExpired>()
        }
        ErrorKind::ExecFailed => {
            if let Error::ExecFailed { program, .. } = primary(e) {
                kwargs.set_item("program", program)?;
            }
            py.get_type::<ExecError>()
        }
        ErrorKind::Internal => py.get_type::<InternalError>(),
    };
    let args = PyTuple::new(py, [e.to_string()])?;
    Ok(PyErr::from_value(class.call(args, Some(&kwargs))?))
}

/// A `ConfigError` for an argument checked by the binding itself.
pub fn config_error(field: &str, reason: impl Into<String>) -> PyErr {
    py_err(Error::InvalidConfig { field: field.into(), reason: reason.into() })
}

/// An `InternalError` for a bug in the binding.
pub fn internal_error(reason: impl Into<String>) -> PyErr {
    py_err(Error::Internal { reason: reason.into() })
}

/// A `SandboxStateError` for a sandbox that has been closed.
pub fn closed_error() -> PyErr {
    py_err(Error::State { expected: "running".into(), actual: "closed".into() })
}

/// What `__exit__` of a context manager that closes returns: an error from closing is
/// raised only when the block itself raised nothing, so it never hides the block's.
pub fn exit_after_close(closed: PyResult<()>, exc_type: &Option<Bound<'_, PyAny>>) -> PyResult<bool> {
    if exc_type.is_none() {
        closed?;
    }
    Ok(false)
}

/// Construct one of the Python exception classes with keyword arguments.
pub fn raise_with<'py>(
    class: Bound<'py, pyo3::types::PyType>,
    args: Bound<'py, PyTuple>,
    kwargs: Bound<'py, PyDict>,
) -> PyErr {
    match class.call(args, Some(&kwargs)) {
        Ok(value) => PyErr::from_value(value),
        Err(e) => e,
    }
}
