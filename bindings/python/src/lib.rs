//! `nucleus._nucleus`: the compiled half of the `nucleus` Python package.
//!
//! The package (`python/nucleus/`) re-exports these classes; the exceptions are defined
//! in `nucleus._errors` and imported here. The supervisor executable `nucleus-shim` is
//! shipped next to this module and used unless a config or `$NUCLEUS_SHIM` names
//! another.

use std::path::PathBuf;

use pyo3::prelude::*;

mod config;
mod errors;
mod pool;
mod process;
mod sandbox;

/// The directory of the shared object this code is in.
fn module_dir() -> Option<PathBuf> {
    use std::ffi::{CStr, OsStr};
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: dladdr only reads the loader's tables and fills `info` on success; the
    // returned name stays valid while the object is loaded, and is copied at once.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(module_dir as *const libc::c_void, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        let name = CStr::from_ptr(info.dli_fname);
        std::path::Path::new(OsStr::from_bytes(name.to_bytes())).parent().map(|p| p.to_path_buf())
    }
}

/// The path of the supervisor executable bundled with this package, or ``None`` if the
/// package has none (then ``$NUCLEUS_SHIM``, the ``shim_path`` config field or ``PATH``
/// must provide one).
#[pyfunction]
fn bundled_shim_path() -> Option<String> {
    config::bundled_shim().map(|p| p.to_string_lossy().into_owned())
}

/// Remove what sandboxes whose supervisor died (killed, OOM) left behind under
/// ``state_root`` (default: the per-user state directory): their private workspaces and
/// state records. Sandboxes that are still running are not touched. Returns the ids
/// that were cleaned up.
#[pyfunction]
#[pyo3(signature = (state_root = None))]
fn cleanup_stale(py: Python<'_>, state_root: Option<PathBuf>) -> PyResult<Vec<String>> {
    py.detach(|| nucleus_core::cleanup_stale(state_root.as_deref())).map_err(errors::py_err)
}

/// Check what this host can enforce, without making a sandbox. Returns a dict::
///
///     {"checks": [{"name": "landlock", "ok": True, "detail": "ABI 6", "fix": None},
///                 ...]}
///
/// with the checks ``user_namespaces``, ``landlock``, ``seccomp``, ``cgroups``,
/// ``container`` and ``supervisor``, in that order; ``fix`` is a one-line remedy when
/// ``ok`` is false. ``python -m nucleus doctor`` prints it.
#[pyfunction]
fn doctor(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let report = py.detach(nucleus_core::doctor);
    py.import("json")?.call_method1("loads", (report.to_json(),))
}

/// The compiled core of the ``nucleus`` package; import ``nucleus`` instead.
#[pymodule(gil_used = false)]
fn _nucleus(m: &Bound<'_, PyModule>) -> PyResult<()> {
    if let Some(dir) = module_dir() {
        config::set_package_dir(dir);
    }
    m.add("__version__", nucleus_core::VERSION)?;
    m.add("WORKSPACE_DIR", nucleus_core::WORKSPACE_DIR)?;
    m.add_class::<sandbox::Sandbox>()?;
    m.add_class::<pool::Pool>()?;
    m.add_class::<config::SandboxConfig>()?;
    m.add_class::<config::Mount>()?;
    m.add_class::<process::CompletedProcess>()?;
    m.add_class::<process::Process>()?;
    m.add_function(wrap_pyfunction!(bundled_shim_path, m)?)?;
    m.add_function(wrap_pyfunction!(cleanup_stale, m)?)?;
    m.add_function(wrap_pyfunction!(doctor, m)?)?;
    Ok(())
}
