//! `nucleus_config`: a sandbox configuration, from JSON (the schema of
//! `nucleus_core::SandboxConfig::from_json`) or built with setters. Setters store what
//! they are given; `nucleus_config_validate` and `nucleus_sandbox_create` check the whole
//! config and name the bad field.

use std::ffi::c_char;
use std::path::PathBuf;

use nucleus_core::{ByteSize, Mount, Network, SandboxConfig, SeccompMode};

use crate::ffi::{malloc_copy, Failure, Handle};
use crate::status::nucleus_status;

/// A sandbox configuration. Create it with `nucleus_config_new` or
/// `nucleus_config_from_json`, free it with `nucleus_config_free`.
pub struct nucleus_config {
    _private: [u8; 0],
}

impl Handle for nucleus_config {
    type Rust = SandboxConfig;
}

/// Values for `nucleus_config_set_network`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nucleus_network {
    /// A private network namespace with only loopback (the default).
    None = 0,
    /// The host's network namespace.
    Host = 1,
}

/// Values for `nucleus_config_set_seccomp_mode`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nucleus_seccomp_mode {
    /// System calls outside the profile fail (the default).
    Enforce = 0,
    /// System calls outside the profile are allowed and logged by the kernel, for
    /// building a profile. Not a protection; the sandbox gets a warning saying so.
    Log = 1,
    /// No seccomp filter. The security report shows the layer as not requested.
    Off = 2,
}

/// Create the default configuration: read-only view of the host, a private workspace,
/// no network, hostname `"sandbox"`.
///
/// The caller owns `*out` and frees it with `nucleus_config_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_new(out: *mut *mut nucleus_config) -> nucleus_status {
    ffi_boundary! {
        let out = try_out!(out);
        out.set(nucleus_config::into_raw(SandboxConfig::new()));
        Ok(())
    }
}

/// Parse a configuration from the `len` bytes of UTF-8 JSON at `json` (no NUL needed),
/// e.g. `{"hostname": "box", "tmpfs_size": "64M", "mounts": [{"source": "/usr/share",
/// "target": "/opt/share"}]}`. Unknown fields are errors. A parse error returns
/// `NUCLEUS_INVALID_CONFIG` and `nucleus_last_error_field` names the field.
///
/// Borrows `json` for the duration of the call; nucleus copies what it keeps.
/// The caller owns `*out` and frees it with `nucleus_config_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut nucleus_config,
) -> nucleus_status {
    ffi_boundary! {
        let out = try_out!(out);
        if json.is_null() {
            return Err(Failure::null("json"));
        }
        let json = json.cast::<u8>();
        let bytes = try_bytes!(json, len);
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Failure::invalid("json", format!("not valid UTF-8 ({e})")))?;
        let config = SandboxConfig::from_json(text)?;
        out.set(nucleus_config::into_raw(config));
        Ok(())
    }
}

/// Write `cfg` as JSON (the same schema `nucleus_config_from_json` reads) to `*out`, a
/// NUL-terminated string.
///
/// Borrows `cfg` for the duration of the call; nucleus copies what it keeps.
/// The caller owns `*out` and frees it with `nucleus_string_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_to_json(
    cfg: *const nucleus_config,
    out: *mut *mut c_char,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_ref!(cfg);
        let out = try_out!(out);
        let json = malloc_copy(cfg.to_json().as_bytes())?;
        out.set(json.as_ptr().cast());
        Ok(())
    }
}

/// Check the whole configuration as `nucleus_sandbox_create` would. On
/// `NUCLEUS_INVALID_CONFIG`, `nucleus_last_error_field` names the first bad field.
///
/// Borrows `cfg` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_validate(cfg: *const nucleus_config) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_ref!(cfg);
        cfg.validate()?;
        Ok(())
    }
}

/// Set the sandbox's hostname.
///
/// Borrows `hostname` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_hostname(
    cfg: *mut nucleus_config,
    hostname: *const c_char,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.hostname = try_str!(hostname).to_owned();
        Ok(())
    }
}

/// Set the environment variable `key` to `value` for every command (a command's own
/// environment overrides it). Setting a key again replaces its value.
///
/// Borrows `key` and `value` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_env(
    cfg: *mut nucleus_config,
    key: *const c_char,
    value: *const c_char,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        let key = try_str!(key);
        let value = try_str!(value);
        cfg.env.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

/// Set the working directory (inside the sandbox) of commands that do not choose one.
/// Default `/workspace`.
///
/// Borrows `path` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_cwd(
    cfg: *mut nucleus_config,
    path: *const c_char,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.cwd = PathBuf::from(try_str!(path));
        Ok(())
    }
}

/// Mount the host directory `path` read-write at `/workspace` instead of a private
/// directory nucleus creates and removes.
///
/// Borrows `path` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_workspace(
    cfg: *mut nucleus_config,
    path: *const c_char,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.workspace = Some(PathBuf::from(try_str!(path)));
        Ok(())
    }
}

/// Use the host directory `path` as the sandbox's root filesystem instead of the
/// read-only view of the host.
///
/// Borrows `path` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_rootfs(
    cfg: *mut nucleus_config,
    path: *const c_char,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.rootfs = Some(PathBuf::from(try_str!(path)));
        Ok(())
    }
}

/// Add a mount of the host path `source` (absolute, no symlinks) at `target` (absolute,
/// inside the sandbox), read-only unless `readonly` is false.
///
/// Borrows `source` and `target` for the duration of the call; nucleus copies what it
/// keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_add_mount(
    cfg: *mut nucleus_config,
    source: *const c_char,
    target: *const c_char,
    readonly: bool,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        let source = PathBuf::from(try_str!(source));
        let target = PathBuf::from(try_str!(target));
        cfg.mounts.push(Mount { source, target, readonly });
        Ok(())
    }
}

/// Set the size of the sandbox's `/tmp` (and `/dev/shm`) in bytes; at least 4096.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_tmpfs_size(
    cfg: *mut nucleus_config,
    bytes: u64,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.tmpfs_size = ByteSize(bytes);
        Ok(())
    }
}

/// Choose the network: one of the `nucleus_network` values (`NUCLEUS_NETWORK_NONE`,
/// `NUCLEUS_NETWORK_HOST`). Any other value returns `NUCLEUS_INVALID_ARGUMENT`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_network(
    cfg: *mut nucleus_config,
    network: u32,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.network = match network {
            n if n == nucleus_network::None as u32 => Network::None,
            n if n == nucleus_network::Host as u32 => Network::Host,
            other => return Err(Failure::invalid("network", format!("{other} is not a nucleus_network value"))),
        };
        Ok(())
    }
}

/// Accept protections the host cannot enforce (Landlock on an old kernel, resource limits
/// without a usable cgroup, ...) as warnings instead of failing `nucleus_sandbox_create`
/// with `NUCLEUS_UNSUPPORTED`. Default false. `nucleus_sandbox_warnings_json` then lists
/// what is not enforced.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_allow_degraded(
    cfg: *mut nucleus_config,
    allow: bool,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.allow_degraded = allow;
        Ok(())
    }
}

/// Limit the memory of all the sandbox's processes together (tmpfs pages included, swap
/// off) to `bytes`; past it the OOM killer ends the biggest process
/// (`nucleus_exec_result_oom_killed`). At least 1 MiB; 0 removes the limit (the default).
///
/// Any limit gives the sandbox a cgroup, which needs root or a delegated cgroup v2
/// subtree: elsewhere `nucleus_sandbox_create` fails with `NUCLEUS_UNSUPPORTED` unless
/// degraded mode is allowed. Other limits (`cpu_weight`, `io`, `cgroup_parent`) are set
/// through the `limits` section of `nucleus_config_from_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_memory_limit(
    cfg: *mut nucleus_config,
    bytes: u64,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.limits.memory = (bytes != 0).then_some(ByteSize(bytes));
        Ok(())
    }
}

/// Limit the sandbox's CPU bandwidth to `cpus` CPUs (1.5 is 150 ms of CPU time per
/// 100 ms), between 0.01 and 4096; 0 removes the limit (the default). A value that is
/// not a finite number is `NUCLEUS_INVALID_ARGUMENT`; one out of range is reported by
/// validation as `limits.cpus`. Needs a cgroup, as `nucleus_config_set_memory_limit`
/// explains.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_cpus(cfg: *mut nucleus_config, cpus: f64) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        if !cpus.is_finite() {
            return Err(Failure::invalid("cpus", format!("{cpus} is not a number of CPUs")));
        }
        cfg.limits.cpus = (cpus != 0.0).then_some(cpus);
        Ok(())
    }
}

/// Allow at most `pids` tasks (processes and threads) in the sandbox at once, its init
/// included; at least 2. 0 removes the limit (the default). Needs a cgroup, as
/// `nucleus_config_set_memory_limit` explains.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_pids_limit(cfg: *mut nucleus_config, pids: u64) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.limits.pids = (pids != 0).then_some(pids);
        Ok(())
    }
}

/// Choose what the seccomp filter does: one of the `nucleus_seccomp_mode` values
/// (`NUCLEUS_SECCOMP_MODE_ENFORCE`, the default, `NUCLEUS_SECCOMP_MODE_LOG`,
/// `NUCLEUS_SECCOMP_MODE_OFF`). Any other value returns `NUCLEUS_INVALID_ARGUMENT`. A
/// custom profile, its checksum, kept capabilities and rlimits are set through the
/// `security` section of `nucleus_config_from_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_seccomp_mode(
    cfg: *mut nucleus_config,
    mode: u32,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.security.seccomp.mode = match mode {
            m if m == nucleus_seccomp_mode::Enforce as u32 => SeccompMode::Enforce,
            m if m == nucleus_seccomp_mode::Log as u32 => SeccompMode::Log,
            m if m == nucleus_seccomp_mode::Off as u32 => SeccompMode::Off,
            other => return Err(Failure::invalid("mode", format!("{other} is not a nucleus_seccomp_mode value"))),
        };
        Ok(())
    }
}

/// Turn the Landlock filesystem rules (derived from the mounts) on or off. Default true;
/// on a kernel without Landlock, true makes `nucleus_sandbox_create` fail with
/// `NUCLEUS_UNSUPPORTED` unless degraded mode is allowed.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_landlock(cfg: *mut nucleus_config, enabled: bool) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.security.landlock = enabled;
        Ok(())
    }
}

/// Keep the per-sandbox state records under the absolute host directory `path`.
///
/// Borrows `path` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_state_root(
    cfg: *mut nucleus_config,
    path: *const c_char,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.state_root = Some(PathBuf::from(try_str!(path)));
        Ok(())
    }
}

/// Use the supervisor executable at `path` instead of finding `nucleus-shim` (by
/// `$NUCLEUS_SHIM`, next to libnucleus, next to the program, at the build path, in
/// `$PATH`).
///
/// Borrows `path` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_config_set_shim_path(
    cfg: *mut nucleus_config,
    path: *const c_char,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_mut!(cfg);
        cfg.shim_path = Some(PathBuf::from(try_str!(path)));
        Ok(())
    }
}

/// Free a configuration. Sandboxes created from it are not affected.
///
/// Calling with NULL is fine. Must not be called twice with the same value.
#[no_mangle]
pub unsafe extern "C" fn nucleus_config_free(cfg: *mut nucleus_config) {
    ffi_boundary!(default = ();
        // SAFETY: cfg is NULL or a live config handle the caller gives up.
        unsafe { nucleus_config::free(cfg) }
    )
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    use super::*;
    use crate::last_error::{nucleus_last_error_field, nucleus_last_error_message};
    use crate::status::nucleus_status::*;

    fn last() -> (String, String) {
        // SAFETY: the getters return live NUL-terminated strings.
        unsafe {
            (
                CStr::from_ptr(nucleus_last_error_message()).to_str().unwrap().to_owned(),
                CStr::from_ptr(nucleus_last_error_field()).to_str().unwrap().to_owned(),
            )
        }
    }

    fn from_json(json: &str) -> (nucleus_status, *mut nucleus_config) {
        let mut cfg = null_mut();
        // SAFETY: json is readable for its length; cfg is writable.
        let status = unsafe { nucleus_config_from_json(json.as_ptr().cast(), json.len(), &mut cfg) };
        (status, cfg)
    }

    #[test]
    fn bad_json_names_the_field_and_writes_nothing() {
        let (status, cfg) = from_json(r#"{"mounts": [{"source": "/usr", "target": 3}]}"#);
        assert_eq!(status, NUCLEUS_INVALID_CONFIG);
        assert!(cfg.is_null(), "out written on failure");
        let (message, field) = last();
        assert_eq!(field, "mounts[0].target");
        assert!(message.starts_with("invalid config: mounts[0].target: "), "{message}");

        let (status, _) = from_json(r#"{"hostnam": "x"}"#);
        assert_eq!(status, NUCLEUS_INVALID_CONFIG);
        assert!(last().0.contains("unknown field `hostnam`"), "{}", last().0);
    }

    #[test]
    fn json_is_not_read_past_len_and_must_be_utf8() {
        let text = r#"{"hostname": "box"}garbage"#;
        let mut cfg = null_mut();
        // SAFETY: text is readable for the given length; cfg is writable.
        let status = unsafe { nucleus_config_from_json(text.as_ptr().cast(), 19, &mut cfg) };
        assert_eq!(status, NUCLEUS_OK);
        // SAFETY: cfg is the live handle just returned.
        assert_eq!(unsafe { nucleus_config::as_ref(cfg) }.unwrap().hostname, "box");
        // SAFETY: freed once.
        unsafe { nucleus_config_free(cfg) };

        let bad = b"{\"hostname\": \"\xff\"}";
        let mut cfg = null_mut();
        // SAFETY: as above.
        let status = unsafe { nucleus_config_from_json(bad.as_ptr().cast(), bad.len(), &mut cfg) };
        assert_eq!(status, NUCLEUS_INVALID_ARGUMENT);
        assert_eq!(last().1, "json");
    }

    #[test]
    fn null_arguments_are_reported_by_name() {
        let mut cfg = null_mut();
        // SAFETY: every pointer is NULL or valid.
        unsafe {
            assert_eq!(nucleus_config_new(null_mut()), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last(), ("argument `out` is NULL".into(), "out".into()));
            assert_eq!(nucleus_config_from_json(null(), 0, &mut cfg), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last().1, "json");
            assert_eq!(nucleus_config_set_hostname(null_mut(), c"x".as_ptr()), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last().1, "cfg");
            assert_eq!(nucleus_config_new(&mut cfg), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_hostname(cfg, null()), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last().1, "hostname");
            assert_eq!(nucleus_config_set_env(cfg, c"K".as_ptr(), null()), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last().1, "value");
            assert_eq!(nucleus_config_set_network(cfg, 7), NUCLEUS_INVALID_ARGUMENT);
            assert_eq!(last(), ("invalid argument `network`: 7 is not a nucleus_network value".into(), "network".into()));
            assert_eq!(nucleus_config_set_seccomp_mode(cfg, 3), NUCLEUS_INVALID_ARGUMENT);
            assert_eq!(last(), ("invalid argument `mode`: 3 is not a nucleus_seccomp_mode value".into(), "mode".into()));
            assert_eq!(nucleus_config_set_cpus(cfg, f64::NAN), NUCLEUS_INVALID_ARGUMENT);
            assert_eq!(last().1, "cpus");
            assert_eq!(nucleus_config_set_cpus(cfg, f64::INFINITY), NUCLEUS_INVALID_ARGUMENT);
            assert_eq!(nucleus_config_set_memory_limit(null_mut(), 1), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(nucleus_config_set_pids_limit(null_mut(), 1), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(nucleus_config_set_landlock(null_mut(), true), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last().1, "cfg");
            nucleus_config_free(cfg);
            nucleus_config_free(null_mut());
        }
    }

    #[test]
    fn setters_build_the_config_and_validation_names_the_field() {
        let mut cfg = null_mut();
        // SAFETY: every pointer is NULL or valid; cfg is freed once.
        unsafe {
            assert_eq!(nucleus_config_new(&mut cfg), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_hostname(cfg, c"box".as_ptr()), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_env(cfg, c"A".as_ptr(), c"1".as_ptr()), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_network(cfg, nucleus_network::Host as u32), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_tmpfs_size(cfg, 1 << 20), NUCLEUS_OK);
            assert_eq!(nucleus_config_add_mount(cfg, c"/usr".as_ptr(), c"/x/../y".as_ptr(), true), NUCLEUS_OK);
            let rust = nucleus_config::as_ref(cfg).unwrap();
            assert_eq!(rust.hostname, "box");
            assert_eq!(rust.network, Network::Host);
            assert_eq!(rust.tmpfs_size, ByteSize(1 << 20));
            assert_eq!(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG);
            assert_eq!(last().1, "mounts[0].target");

            let mut json = null_mut();
            assert_eq!(nucleus_config_to_json(cfg, &mut json), NUCLEUS_OK);
            let text = CStr::from_ptr(json).to_str().unwrap();
            assert_eq!(SandboxConfig::from_json(text).unwrap(), *rust);
            crate::ffi::nucleus_string_free(json);
            nucleus_config_free(cfg);
        }
    }

    #[test]
    fn limit_and_security_setters_fill_their_sections() {
        let mut cfg = null_mut();
        // SAFETY: cfg is valid and freed once.
        unsafe {
            assert_eq!(nucleus_config_new(&mut cfg), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_memory_limit(cfg, 256 << 20), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_cpus(cfg, 1.5), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_pids_limit(cfg, 64), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_seccomp_mode(cfg, nucleus_seccomp_mode::Log as u32), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_landlock(cfg, false), NUCLEUS_OK);
            let rust = nucleus_config::as_ref(cfg).unwrap();
            assert_eq!(rust.limits.memory, Some(ByteSize(256 << 20)));
            assert_eq!(rust.limits.cpus, Some(1.5));
            assert_eq!(rust.limits.pids, Some(64));
            assert_eq!(rust.security.seccomp.mode, SeccompMode::Log);
            assert!(!rust.security.landlock);
            assert_eq!(nucleus_config_validate(cfg), NUCLEUS_OK, "{:?}", last());

            // Out of range: validation names the field.
            assert_eq!(nucleus_config_set_cpus(cfg, 0.001), NUCLEUS_OK);
            assert_eq!(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG);
            assert_eq!(last().1, "limits.cpus");
            assert_eq!(nucleus_config_set_pids_limit(cfg, 1), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_cpus(cfg, 0.0), NUCLEUS_OK);
            assert_eq!(nucleus_config_validate(cfg), NUCLEUS_INVALID_CONFIG);
            assert_eq!(last().1, "limits.pids");

            // 0 removes each limit again.
            assert_eq!(nucleus_config_set_memory_limit(cfg, 0), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_pids_limit(cfg, 0), NUCLEUS_OK);
            assert!(nucleus_config::as_ref(cfg).unwrap().limits.is_empty());
            nucleus_config_free(cfg);
        }
    }
}
