//! `nucleus.Mount` and `nucleus.SandboxConfig`, and turning keyword arguments into the
//! core config.
//!
//! Keyword arguments become a dict shaped like the JSON schema, which goes through
//! `SandboxConfig::from_json`: one parser for Rust, C and Python, and every error names
//! the field.

use std::path::PathBuf;
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors::{config_error, py_err};

/// The keyword arguments of `SandboxConfig(...)`, `Sandbox(...)` and `Pool(...)`, listed
/// once.
///
/// pyo3 takes a constructor's signature only as literal tokens, so this macro writes
/// them all out from the one list:
/// - `config_keywords!(struct)` defines [`Fields`], one member per keyword;
/// - `config_keywords!(new Class(lead: Type [= default], ...))` defines `Class.__new__`,
///   taking the leading parameters (their types may name the lifetime `'py`) and then
///   every keyword (keyword-only, default `None`), and hands them to
///   `Class::from_fields(py, lead..., fields)`.
///
/// [`Fields::into_config`] maps the members onto the core config.
macro_rules! config_keywords {
    (@ [$($name:ident)*] struct) => {
        /// The keyword arguments of `Sandbox(...)`, `SandboxConfig(...)` and `Pool(...)`, as
        /// given.
        pub struct Fields<'py> {
            $(pub $name: Option<Bound<'py, PyAny>>,)*
        }
    };
    (@ [$($name:ident)*] new $class:ident ($($lead:ident: $lead_ty:ty $(= $default:tt)?),*)) => {
        #[pymethods]
        impl $class {
            #[new]
            #[pyo3(signature = ($($lead $(= $default)?,)* *, $($name = None),*))]
            #[allow(clippy::too_many_arguments)]
            fn new<'py>(
                py: Python<'py>,
                $($lead: $lead_ty,)*
                $($name: Option<Bound<'py, PyAny>>,)*
            ) -> PyResult<$class> {
                $class::from_fields(py, $($lead,)* $crate::config::Fields { $($name),* })
            }
        }
    };
    ($($what:tt)*) => {
        $crate::config::config_keywords!(@ [
            hostname env cwd rootfs workspace mounts tmpfs_size network user allow_degraded
            state_root shim_path memory cpus pids security seccomp landlock
        ] $($what)*);
    };
}
pub(crate) use config_keywords;

/// Where the package keeps its bundled supervisor executable; set at import.
static BUNDLED_SHIM: OnceLock<PathBuf> = OnceLock::new();

/// Record the package directory (the one holding the extension module).
pub fn set_package_dir(dir: PathBuf) {
    let _ = BUNDLED_SHIM.set(dir.join(nucleus_core::shim::SHIM_NAME));
}

/// The bundled supervisor, when the package has one.
pub fn bundled_shim() -> Option<PathBuf> {
    BUNDLED_SHIM.get().filter(|p| p.is_file()).cloned()
}

/// The config a sandbox is created from: the bundled supervisor is filled in unless the
/// config or `$NUCLEUS_SHIM` names one.
pub fn effective(mut config: nucleus_core::SandboxConfig) -> nucleus_core::SandboxConfig {
    if config.shim_path.is_none() && std::env::var_os(nucleus_core::shim::SHIM_ENV).is_none() {
        config.shim_path = bundled_shim();
    }
    config
}

/// A host path made visible inside the sandbox.
///
/// ``Mount(source, target, readonly=True)``: ``source`` is an absolute host path
/// (without symlinks), ``target`` an absolute path inside the sandbox.
#[pyclass(frozen, eq, module = "nucleus._nucleus")]
#[derive(Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute host path.
    #[pyo3(get)]
    source: String,
    /// Absolute path inside the sandbox.
    #[pyo3(get)]
    target: String,
    /// Whether the mount is read-only.
    #[pyo3(get)]
    readonly: bool,
}

#[pymethods]
impl Mount {
    #[new]
    #[pyo3(signature = (source, target, readonly = true))]
    fn new(source: PathBuf, target: PathBuf, readonly: bool) -> Mount {
        Mount {
            source: source.to_string_lossy().into_owned(),
            target: target.to_string_lossy().into_owned(),
            readonly,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Mount({}, {}, readonly={})",
            PyString::new(py, &self.source).repr()?,
            PyString::new(py, &self.target).repr()?,
            py_bool(self.readonly)
        ))
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The whole description of a sandbox, validated.
///
/// ``SandboxConfig(**kwargs)`` takes the same keyword arguments as
/// :class:`Sandbox`; ``SandboxConfig.from_json(text)`` parses the JSON schema shared with
/// the Rust and C APIs. Bad input raises :class:`ConfigError` naming the field.
#[pyclass(frozen, module = "nucleus._nucleus")]
pub struct SandboxConfig {
    pub(crate) inner: nucleus_core::SandboxConfig,
}

config_keywords!(new SandboxConfig());

impl SandboxConfig {
    fn from_fields<'py>(py: Python<'py>, fields: Fields<'py>) -> PyResult<SandboxConfig> {
        Ok(SandboxConfig { inner: fields.into_config(py, None)? })
    }
}

#[pymethods]
impl SandboxConfig {
    /// Parse a config from its JSON text.
    #[staticmethod]
    fn from_json(json: &str) -> PyResult<SandboxConfig> {
        let inner = nucleus_core::SandboxConfig::from_json(json).map_err(py_err)?;
        Ok(SandboxConfig { inner })
    }

    /// The config as JSON text (accepted by ``from_json`` and by the C API).
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The config as a dict shaped like the JSON schema.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (self.inner.to_json(),))
    }

    /// Check the whole config against this host (paths exist, ids are allowed); raises
    /// :class:`ConfigError` naming the first bad field.
    fn validate(&self) -> PyResult<()> {
        self.inner.validate().map_err(py_err)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<SandboxConfig>() {
            Ok(other) => self.inner == other.get().inner,
            Err(_) => false,
        }
    }

    fn __repr__(&self) -> String {
        format!("SandboxConfig.from_json({:?})", self.inner.to_json())
    }
}

config_keywords!(struct);

impl<'py> Fields<'py> {
    /// Build the core config: `base` (if any) with these fields laid over it.
    pub fn into_config(
        self,
        py: Python<'py>,
        base: Option<&nucleus_core::SandboxConfig>,
    ) -> PyResult<nucleus_core::SandboxConfig> {
        let json = py.import("json")?;
        let doc = match base {
            Some(base) => json.call_method1("loads", (base.to_json(),))?.cast_into::<PyDict>()?,
            None => PyDict::new(py),
        };
        let os = py.import("os")?;
        let fspath = |v: Bound<'py, PyAny>| -> PyResult<Bound<'py, PyAny>> {
            os.call_method1("fspath", (v,))
        };
        let plain = [
            ("hostname", self.hostname),
            ("tmpfs_size", self.tmpfs_size),
            ("network", self.network),
            ("allow_degraded", self.allow_degraded),
        ];
        for (key, value) in plain {
            if let Some(v) = value {
                doc.set_item(key, v)?;
            }
        }
        let paths = [
            ("cwd", self.cwd),
            ("rootfs", self.rootfs),
            ("workspace", self.workspace),
            ("state_root", self.state_root),
            ("shim_path", self.shim_path),
        ];
        for (key, value) in paths {
            if let Some(v) = value {
                doc.set_item(key, fspath(v)?)?;
            }
        }
        if let Some(env) = self.env {
            doc.set_item("env", py.get_type::<PyDict>().call1((env,))?)?;
        }
        if let Some(user) = self.user {
            doc.set_item("user", py.get_type::<PyDict>().call1((user,))?)?;
        }
        if let Some(mounts) = self.mounts {
            let list = PyList::empty(py);
            for (i, item) in mounts.try_iter()?.enumerate() {
                list.append(mount_dict(py, &item?, i, &fspath)?)?;
            }
            doc.set_item("mounts", list)?;
        }
        // memory, cpus and pids go into the "limits" section, over what it holds.
        let limits = [("memory", self.memory), ("cpus", self.cpus), ("pids", self.pids)];
        if limits.iter().any(|(_, v)| v.is_some()) {
            let section = section(py, &doc, "limits")?;
            for (key, value) in limits {
                if let Some(v) = value {
                    section.set_item(key, v)?;
                }
            }
        }
        // security= is the "security" section as a dict; its keys replace the same keys
        // of the base config's section. seccomp= (a mode string, or the whole "seccomp"
        // dict) and landlock= are shorthands laid over that.
        if let Some(security) = self.security {
            let given = py.get_type::<PyDict>().call1((security,))?.cast_into::<PyDict>()?;
            section(py, &doc, "security")?.update(given.as_mapping())?;
        }
        if let Some(seccomp) = self.seccomp {
            let security = section(py, &doc, "security")?;
            if seccomp.is_instance_of::<PyString>() {
                section(py, &security, "seccomp")?.set_item("mode", seccomp)?;
            } else {
                security.set_item("seccomp", py.get_type::<PyDict>().call1((seccomp,))?)?;
            }
        }
        if let Some(landlock) = self.landlock {
            section(py, &doc, "security")?.set_item("landlock", landlock)?;
        }
        let text: String = json.call_method1("dumps", (doc,)).map_err(|e| {
            config_error("<root>", format!("cannot express the config as JSON: {e}"))
        })?.extract()?;
        nucleus_core::SandboxConfig::from_json(&text).map_err(py_err)
    }
}

/// The dict at `doc[key]`, made (empty) when missing; a copy of it when it is one, so a
/// dict the caller passed in is never changed.
fn section<'py>(py: Python<'py>, doc: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyDict>> {
    let section = match doc.get_item(key)? {
        Some(existing) if existing.is_instance_of::<PyDict>() => existing.cast_into::<PyDict>()?.copy()?,
        Some(other) => return Err(config_error(key, format!("must be a dict, not {}", other.get_type().name()?))),
        None => PyDict::new(py),
    };
    doc.set_item(key, &section)?;
    Ok(section)
}

/// A mount given as `Mount`, a dict, or a `(source, target[, readonly])` tuple.
fn mount_dict<'py>(
    py: Python<'py>,
    item: &Bound<'py, PyAny>,
    index: usize,
    fspath: &dyn Fn(Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(m) = item.cast::<Mount>() {
        let m = m.get();
        let d = PyDict::new(py);
        d.set_item("source", &m.source)?;
        d.set_item("target", &m.target)?;
        d.set_item("readonly", m.readonly)?;
        return Ok(d.into_any());
    }
    if let Ok(d) = item.cast::<PyDict>() {
        let d = d.copy()?;
        for key in ["source", "target"] {
            if let Some(v) = d.get_item(key)? {
                if !v.is_instance_of::<PyString>() {
                    d.set_item(key, fspath(v)?)?;
                }
            }
        }
        return Ok(d.into_any());
    }
    if let Ok(t) = item.cast::<PyTuple>() {
        if t.len() == 2 || t.len() == 3 {
            let d = PyDict::new(py);
            d.set_item("source", fspath(t.get_item(0)?)?)?;
            d.set_item("target", fspath(t.get_item(1)?)?)?;
            if t.len() == 3 {
                d.set_item("readonly", t.get_item(2)?)?;
            }
            return Ok(d.into_any());
        }
    }
    Err(config_error(
        &format!("mounts[{index}]"),
        "must be a nucleus.Mount, a dict or a (source, target[, readonly]) tuple",
    ))
}
