//! `nucleus.Pool`: the Python handle on a core pool of started sandboxes.
//!
//! Like `Sandbox`, a frozen pyclass around an `Arc` of the `Send + Sync` core object, so
//! any number of Python threads may take from one pool at once, without the GIL.

use std::sync::{Arc, RwLock};

use pyo3::prelude::*;

use crate::config::{self, config_keywords, Fields, SandboxConfig};
use crate::errors::{exit_after_close, py_err, SandboxStateError};
use crate::sandbox::Sandbox;

/// A warm pool: sandboxes of one config, created and started in the background, so
/// that :meth:`take` returns a running sandbox in microseconds instead of milliseconds.
///
/// ``Pool(size, config=None, **kwargs)`` takes the same config and keyword arguments as
/// :class:`Sandbox`. It builds one sandbox before returning (so a config this host
/// cannot satisfy raises here, as :class:`Sandbox` would), then a background thread
/// keeps ``size`` sandboxes ready and replaces each one taken. ``size`` must be at least
/// 1, and ``workspace`` must not be given (the pool's sandboxes would all share it);
/// either raises :class:`ConfigError` naming the field.
///
/// A taken sandbox is the caller's alone, exactly like one from ``Sandbox(...)``: it is
/// never handed out again, and closing the pool does not affect it. Use the pool as a
/// context manager, or call :meth:`close`; a pool that is garbage-collected is closed
/// too.
#[pyclass(frozen, module = "nucleus._nucleus")]
pub struct Pool {
    handle: RwLock<Option<Arc<nucleus_core::Pool>>>,
    size: usize,
}

config_keywords!(new Pool(size: isize, config: Option<Bound<'py, SandboxConfig>> = None));

impl Pool {
    /// `Pool(size, config, **fields)`: a pool of the fields laid over `config`.
    fn from_fields<'py>(
        py: Python<'py>,
        size: isize,
        config: Option<Bound<'py, SandboxConfig>>,
        fields: Fields<'py>,
    ) -> PyResult<Pool> {
        let base = config.as_ref().map(|c| &c.get().inner);
        let config = config::effective(fields.into_config(py, base)?);
        // A negative size is as wrong as 0, for which the core names the field.
        let size = usize::try_from(size).unwrap_or(0);
        let pool = py.detach(|| nucleus_core::Pool::new(config, size)).map_err(py_err)?;
        Ok(Pool { handle: RwLock::new(Some(Arc::new(pool))), size })
    }

    /// The core pool, or `SandboxStateError` once closed.
    fn handle(&self) -> PyResult<Arc<nucleus_core::Pool>> {
        let handle = self.handle.read().unwrap_or_else(|p| p.into_inner()).clone();
        handle.ok_or_else(|| SandboxStateError::new_err("the pool is closed"))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let handle = self.handle.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            // Closing waits for the refill thread and the idle sandboxes' teardown.
            Python::attach(|py| py.detach(move || drop(handle)));
        }
    }
}

#[pymethods]
impl Pool {
    /// A running sandbox that no one has used: one the pool has ready, or, when none is,
    /// one built now. If building a sandbox in the background failed since the last
    /// ``take``, this raises that error (once); the next call goes on as usual.
    fn take(&self, py: Python<'_>) -> PyResult<Sandbox> {
        let handle = self.handle()?;
        // The handle goes into the closure: if the pool was closed meanwhile, this is its
        // last reference, and dropping it (closing the pool) waits without the GIL.
        let sandbox = py.detach(move || handle.take()).map_err(py_err)?;
        Sandbox::wrap(py, sandbox)
    }

    /// How many sandboxes are ready to be taken now (0 once closed).
    #[getter]
    fn ready(&self) -> usize {
        self.handle.read().unwrap_or_else(|p| p.into_inner()).as_ref().map_or(0, |pool| pool.ready())
    }

    /// How many sandboxes the pool keeps ready.
    #[getter]
    fn size(&self) -> usize {
        self.size
    }

    /// Whether :meth:`close` has been called.
    #[getter]
    fn closed(&self) -> bool {
        self.handle.read().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    /// Stop the background thread and destroy the sandboxes still in the pool; sandboxes
    /// already taken are not affected. Idempotent; afterwards :meth:`take` raises
    /// :class:`SandboxStateError`. A ``take`` running in another thread meanwhile
    /// finishes first, and the pool is closed when it returns.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let handle = self.handle.write().unwrap_or_else(|p| p.into_inner()).take();
        match handle.and_then(Arc::into_inner) {
            Some(pool) => py.detach(move || pool.close()).map_err(py_err),
            None => Ok(()),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Close the pool. An error from closing does not hide one from the block.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        exit_after_close(self.close(py), &exc_type)
    }

    fn __repr__(&self) -> String {
        if self.closed() {
            format!("<nucleus.Pool size={} closed>", self.size)
        } else {
            format!("<nucleus.Pool size={} ready={}>", self.size, self.ready())
        }
    }
}
