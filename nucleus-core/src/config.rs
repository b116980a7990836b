//! The sandbox configuration: one serde schema shared by Rust, C (JSON) and Python.
//!
//! [`SandboxConfig::validate`] checks everything that can be checked before a process
//! exists, and every error names the field by its path (`mounts[2].target`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::cgroups::{IoLimit, Limits};
use crate::error::{Error, Result};

/// Where the sandbox's network comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// A private network namespace with only loopback, which is up.
    #[default]
    None,
    /// The host's network namespace.
    Host,
}

/// A host path made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Absolute host path. It must not contain symlinks: a symlink planted by sandboxed
    /// code must not redirect a later mount.
    pub source: PathBuf,
    /// Absolute path inside the sandbox.
    pub target: PathBuf,
    /// Mount read-only (the default).
    #[serde(default = "yes")]
    pub readonly: bool,
}

impl Mount {
    /// A read-only mount of `source` at `target`.
    pub fn readonly(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Mount {
        Mount { source: source.into(), target: target.into(), readonly: true }
    }

    /// A read-write mount of `source` at `target`.
    pub fn writable(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Mount {
        Mount { source: source.into(), target: target.into(), readonly: false }
    }
}

/// Who the sandboxed processes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// Run in a new user namespace (the default). Turning it off needs root.
    pub namespace: bool,
    /// The uid inside the sandbox.
    pub uid: u32,
    /// The gid inside the sandbox.
    pub gid: u32,
    /// The host uid the sandbox's uid maps to. Default: the caller's uid when it is not
    /// root; 65534 (nobody) when it is, so sandbox root is never host root.
    pub host_uid: Option<u32>,
    /// The host gid the sandbox's gid maps to, chosen like `host_uid`.
    pub host_gid: Option<u32>,
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig { namespace: true, uid: 0, gid: 0, host_uid: None, host_gid: None }
    }
}

/// What the seccomp filter does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompMode {
    /// Calls outside the profile fail (with EPERM unless the profile says otherwise).
    #[default]
    Enforce,
    /// Calls outside the profile are allowed and logged by the kernel (`SECCOMP_RET_LOG`),
    /// for building a profile. Not a protection.
    Log,
    /// No seccomp filter.
    Off,
}

/// The seccomp layer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeccompConfig {
    /// Enforce, log, or off.
    pub mode: SeccompMode,
    /// A profile in the OCI / Docker JSON format instead of the built-in allowlist.
    pub profile: Option<PathBuf>,
    /// The profile's expected SHA-256 (hex); a mismatch is an error.
    pub profile_sha256: Option<String>,
}

/// Resource limits (`setrlimit`) of every command. `None` keeps the default shown.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RlimitConfig {
    /// Open files (default 4096, capped at the caller's hard limit).
    pub nofile: Option<u64>,
    /// Processes of the sandbox user (default 8192).
    pub nproc: Option<u64>,
    /// Core dump size (default 0: no core dumps).
    pub core: Option<u64>,
    /// Locked memory in bytes (default 64 KiB).
    pub memlock: Option<u64>,
    /// Largest file a command may write, in bytes (default: unlimited).
    pub fsize: Option<u64>,
    /// Stack size in bytes (default 8 MiB).
    pub stack: Option<u64>,
}

/// The security layers. All are on by default; switching one off is an explicit choice
/// the security report shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// The seccomp filter.
    pub seccomp: SeccompConfig,
    /// Landlock filesystem rules derived from the mount plan (and IPC scoping).
    pub landlock: bool,
    /// Capabilities to keep (e.g. `CAP_NET_BIND_SERVICE`); all others are dropped.
    pub capabilities: Vec<String>,
    /// Allow keeping capabilities that open escape routes (`CAP_SYS_ADMIN`, ...).
    pub allow_dangerous_capabilities: bool,
    /// Resource limits.
    pub rlimits: RlimitConfig,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            seccomp: SeccompConfig::default(),
            landlock: true,
            capabilities: Vec::new(),
            allow_dangerous_capabilities: false,
            rlimits: RlimitConfig::default(),
        }
    }
}

/// An amount of bytes. In JSON either a number or a string such as `"512M"` or `"2G"`
/// (binary units: K = 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parse `"512M"`, `"2g"`, `"1024"`, `"64KiB"`.
    pub fn parse(text: &str) -> std::result::Result<ByteSize, String> {
        let t = text.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(digits);
        let number: u64 =
            number.parse().map_err(|_| format!("{text:?} is not a size such as \"512M\""))?;
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            other => return Err(format!("unknown unit {other:?} in {text:?} (use K, M, G or T)")),
        };
        number
            .checked_mul(1u64 << shift)
            .map(ByteSize)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// Everything that describes a sandbox. Build it with the chained setters or from JSON
/// with [`SandboxConfig::from_json`]; unknown JSON fields are errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// The sandbox's hostname.
    pub hostname: String,
    /// Environment every command starts with (a command's own `env` overrides it).
    pub env: BTreeMap<String, String>,
    /// Working directory of commands that do not give one.
    pub cwd: PathBuf,
    /// A root filesystem directory to use instead of the read-only view of the host.
    pub rootfs: Option<PathBuf>,
    /// Host directory mounted read-write at `/workspace`. Default: a private directory
    /// nucleus creates and removes with the sandbox.
    pub workspace: Option<PathBuf>,
    /// Further host paths to mount.
    pub mounts: Vec<Mount>,
    /// Size of the `/tmp` tmpfs (and of `/dev/shm`).
    pub tmpfs_size: ByteSize,
    /// The network the sandbox gets.
    pub network: Network,
    /// User namespace and identity.
    pub user: UserConfig,
    /// The security layers every command runs under.
    pub security: SecurityConfig,
    /// Resource limits (cgroups). None by default, and then no cgroup is made.
    pub limits: Limits,
    /// Accept protections the host cannot enforce, as warnings instead of errors.
    pub allow_degraded: bool,
    /// Directory for the per-sandbox state records. Default: `/run/nucleus` for root,
    /// `$XDG_RUNTIME_DIR/nucleus` or `/tmp/nucleus-<uid>` otherwise.
    pub state_root: Option<PathBuf>,
    /// Explicit path of the `nucleus-shim` supervisor executable.
    pub shim_path: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

/// The default `/tmp` size.
pub const DEFAULT_TMPFS_SIZE: ByteSize = ByteSize(1 << 30);

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            hostname: "sandbox".into(),
            env: BTreeMap::new(),
            cwd: PathBuf::from(crate::WORKSPACE_DIR),
            rootfs: None,
            workspace: None,
            mounts: Vec::new(),
            tmpfs_size: DEFAULT_TMPFS_SIZE,
            network: Network::None,
            user: UserConfig::default(),
            security: SecurityConfig::default(),
            limits: Limits::default(),
            allow_degraded: false,
            state_root: None,
            shim_path: None,
        }
    }
}

impl SandboxConfig {
    /// The default configuration: read-only host view, private workspace, no network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse a JSON config; errors name the offending field.
    pub fn from_json(json: &str) -> Result<Self> {
        let mut de = serde_json::Deserializer::from_str(json);
        let config: SandboxConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { "<root>".to_owned() } else { field };
            Error::config(field, e.into_inner().to_string())
        })?;
        Ok(config)
    }

    /// This config as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("config serializes")
    }

    /// Set the hostname.
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.hostname = name.into();
        self
    }

    /// Add a default environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Set the default working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = dir.into();
        self
    }

    /// Use `dir` as the root filesystem.
    pub fn rootfs(mut self, dir: impl Into<PathBuf>) -> Self {
        self.rootfs = Some(dir.into());
        self
    }

    /// Mount host directory `dir` read-write at `/workspace`.
    pub fn workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workspace = Some(dir.into());
        self
    }

    /// Add a mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Set the size of `/tmp`.
    pub fn tmpfs_size(mut self, bytes: u64) -> Self {
        self.tmpfs_size = ByteSize(bytes);
        self
    }

    /// Choose the network.
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// Set the user namespace and identity.
    pub fn user(mut self, user: UserConfig) -> Self {
        self.user = user;
        self
    }

    /// Set the security layers.
    pub fn security(mut self, security: SecurityConfig) -> Self {
        self.security = security;
        self
    }

    /// Set the resource limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Accept unenforceable protections as warnings.
    pub fn allow_degraded(mut self, allow: bool) -> Self {
        self.allow_degraded = allow;
        self
    }

    /// Keep state records under `dir`.
    pub fn state_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_root = Some(dir.into());
        self
    }

    /// Use the supervisor executable at `path`.
    pub fn shim_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.shim_path = Some(path.into());
        self
    }

    /// Check the whole config; the error names the first bad field.
    pub fn validate(&self) -> Result<()> {
        validate_hostname(&self.hostname)?;
        validate_env(&self.env, "env")?;
        sandbox_path(&self.cwd, "cwd")?;
        if let Some(rootfs) = &self.rootfs {
            host_dir(rootfs, "rootfs")?;
        }
        if let Some(ws) = &self.workspace {
            host_dir(ws, "workspace")?;
        }
        let mut targets = vec![PathBuf::from(crate::WORKSPACE_DIR)];
        for (i, m) in self.mounts.iter().enumerate() {
            host_path(&m.source, &format!("mounts[{i}].source"))?;
            let field = format!("mounts[{i}].target");
            let target = sandbox_path(&m.target, &field)?;
            if target == Path::new("/") {
                return Err(Error::config(field, "cannot mount over the sandbox root"));
            }
            if ["/proc", "/dev"].iter().any(|p| target.starts_with(p)) {
                return Err(Error::config(field, "cannot mount over /proc or /dev"));
            }
            if targets.contains(&target) {
                return Err(Error::config(field, format!("{} is mounted twice", target.display())));
            }
            targets.push(target);
        }
        if self.tmpfs_size.0 < 4096 {
            return Err(Error::config("tmpfs_size", "must be at least 4096 bytes"));
        }
        self.validate_user()?;
        crate::seccomp::validate(&self.security.seccomp)?;
        crate::caps::validate(&self.security)?;
        crate::rlimits::validate(&self.security.rlimits)?;
        self.limits.validate()?;
        if let Some(dir) = &self.state_root {
            if !dir.is_absolute() {
                return Err(Error::config("state_root", "must be an absolute path"));
            }
        }
        if let Some(path) = &self.shim_path {
            if !path.is_file() {
                return Err(Error::config("shim_path", format!("{} is not a file", path.display())));
            }
        }
        Ok(())
    }

    fn validate_user(&self) -> Result<()> {
        let root = crate::sys::euid() == 0;
        if !self.user.namespace && !root {
            return Err(Error::config(
                "user.namespace",
                "running without a user namespace needs root; leave it on",
            ));
        }
        if !root {
            let (uid, gid) = (crate::sys::euid(), crate::sys::egid());
            if self.user.host_uid.is_some_and(|h| h != uid) {
                return Err(Error::config(
                    "user.host_uid",
                    format!("an unprivileged caller can only map its own uid {uid}"),
                ));
            }
            if self.user.host_gid.is_some_and(|h| h != gid) {
                return Err(Error::config(
                    "user.host_gid",
                    format!("an unprivileged caller can only map its own gid {gid}"),
                ));
            }
        }
        Ok(())
    }
}

fn validate_hostname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "hostname",
            format!("{name:?} is not a hostname (1-64 of a-z, 0-9, '-', '.')"),
        ))
    }
}

/// Check environment variables; `field` is the map's own field path.
pub(crate) fn validate_env(env: &BTreeMap<String, String>, field: &str) -> Result<()> {
    for (key, value) in env {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(Error::config(
                format!("{field}.{key}"),
                "a variable name must be non-empty, without '=' or NUL",
            ));
        }
        if value.contains('\0') {
            return Err(Error::config(format!("{field}.{key}"), "value contains a NUL byte"));
        }
    }
    Ok(())
}

/// A path inside the sandbox: absolute, without `..`; returned normalized.
pub(crate) fn sandbox_path(path: &Path, field: &str) -> Result<PathBuf> {
    if !path.is_absolute() {
        return Err(Error::config(field, format!("{} must be an absolute path", path.display())));
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::config(
                    field,
                    format!("{} must not contain '..'", path.display()),
                ));
            }
        }
    }
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(Error::config(field, "path contains a NUL byte"));
    }
    Ok(out)
}

fn host_path(path: &Path, field: &str) -> Result<()> {
    if !path.is_absolute() {
        return Err(Error::config(field, format!("{} must be an absolute path", path.display())));
    }
    if let Err(e) = std::fs::symlink_metadata(path) {
        return Err(Error::config(field, format!("{}: {e}", path.display())));
    }
    Ok(())
}

fn host_dir(path: &Path, field: &str) -> Result<()> {
    host_path(path, field)?;
    if !path.is_dir() {
        return Err(Error::config(field, format!("{} is not a directory", path.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(ByteSize::parse("512M"), Ok(ByteSize(512 << 20)));
        assert_eq!(ByteSize::parse("2g"), Ok(ByteSize(2 << 30)));
        assert_eq!(ByteSize::parse("64KiB"), Ok(ByteSize(64 << 10)));
        assert_eq!(ByteSize::parse("4096"), Ok(ByteSize(4096)));
        assert_eq!(
            ByteSize::parse("12X").unwrap_err(),
            "unknown unit \"x\" in \"12X\" (use K, M, G or T)"
        );
        assert!(ByteSize::parse("M").is_err());
        assert!(ByteSize::parse("99999999999T").is_err());
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = SandboxConfig::from_json(r#"{"tmpfs_size": "12X"}"#).unwrap_err();
        assert_eq!(e.field(), Some("tmpfs_size"));
        let e = SandboxConfig::from_json(r#"{"mounts": [{"source": "/a", "target": 3}]}"#)
            .unwrap_err();
        assert_eq!(e.field(), Some("mounts[0].target"));
        let e = SandboxConfig::from_json(r#"{"hostnam": "x"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `hostnam`"), "{e}");
        let e = SandboxConfig::from_json(r#"{"network": "internet"}"#).unwrap_err();
        assert_eq!(e.field(), Some("network"));
    }

    #[test]
    fn json_round_trips_and_accepts_sizes_as_text() {
        let c = SandboxConfig::from_json(
            r#"{"hostname": "box", "tmpfs_size": "64M", "network": "host",
                "mounts": [{"source": "/usr", "target": "/opt/usr"}]}"#,
        )
        .unwrap();
        assert_eq!(c.tmpfs_size, ByteSize(64 << 20));
        assert!(c.mounts[0].readonly, "mounts are read-only unless asked");
        assert_eq!(SandboxConfig::from_json(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn validation_names_the_bad_field() {
        let bad = |c: SandboxConfig| c.validate().unwrap_err();
        assert_eq!(bad(SandboxConfig::new().hostname("a b")).field(), Some("hostname"));
        assert_eq!(bad(SandboxConfig::new().cwd("rel")).field(), Some("cwd"));
        assert_eq!(bad(SandboxConfig::new().env("A=B", "1")).field(), Some("env.A=B"));
        let e = bad(SandboxConfig::new().mount(Mount::readonly("/usr", "/x/../y")));
        assert_eq!(e.field(), Some("mounts[0].target"));
        let e = bad(SandboxConfig::new().mount(Mount::readonly("/nonexistent-x", "/y")));
        assert_eq!(e.field(), Some("mounts[0].source"));
        assert!(e.to_string().contains("/nonexistent-x"), "{e}");
        let e = bad(SandboxConfig::new().mount(Mount::readonly("/usr", "/workspace")));
        assert_eq!(e.to_string(), "invalid config: mounts[0].target: /workspace is mounted twice");
        let e = bad(SandboxConfig::new().mount(Mount::readonly("/usr", "/proc/x")));
        assert_eq!(e.field(), Some("mounts[0].target"));
        assert_eq!(bad(SandboxConfig::new().workspace("/etc/passwd")).field(), Some("workspace"));
        assert_eq!(bad(SandboxConfig::new().tmpfs_size(10)).field(), Some("tmpfs_size"));
        assert_eq!(bad(SandboxConfig::new().state_root("run")).field(), Some("state_root"));
        SandboxConfig::new().mount(Mount::readonly("/usr", "/opt/./usr")).validate().unwrap();
    }
}
