//! Reports as JSON: the security report, the degraded-mode warnings and the cgroup
//! counters of a sandbox, and the host preflight (`nucleus_doctor_json`).
//!
//! Each one is a NUL-terminated JSON text the library allocates and the caller frees with
//! `nucleus_string_free`. The shapes are those of the serde types in `nucleus_core`
//! (`SecurityReport`, `Stats`, `DoctorReport`), so C sees the same fields as Rust and
//! Python; new fields may appear, existing ones keep their names and meaning.

use std::ffi::c_char;

use crate::ffi::{malloc_copy, Failure};
use crate::sandbox::nucleus_sandbox;
use crate::status::nucleus_status;

/// A `malloc`ed NUL-terminated copy of `json`, for C to free with `nucleus_string_free`.
fn c_json(json: &str) -> Result<*mut c_char, Failure> {
    Ok(malloc_copy(json.as_bytes())?.as_ptr().cast())
}

/// Which protections the running sandbox `sb` has, verified from inside it by a probe
/// process confined exactly like a command (this runs that process, so it takes a few
/// milliseconds). `*out_json` gets an object:
///
/// ```text
/// {"layers": [{"layer": "seccomp", "requested": true, "enforced": true,
///              "verified": "/proc/self/status: Seccomp: 2, ..."}, ...],
///  "warnings": ["landlock is not enforced: ...", ...]}
/// ```
///
/// with one entry per layer in a fixed order (the namespaces, `uid_map`, `no_new_privs`,
/// `capabilities`, `seccomp`, `landlock`, `rlimits`, `read_only_root`), and the warnings
/// of degraded mode. The sandbox must be running (`NUCLEUS_STATE` otherwise).
///
/// Safe to call concurrently with other calls on the same sandbox.
/// The caller owns `*out_json` and frees it with `nucleus_string_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_security_report_json(
    sb: *const nucleus_sandbox,
    out_json: *mut *mut c_char,
) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        let out_json = try_out!(out_json);
        let report = sb.sandbox.security_report()?;
        out_json.set(c_json(&report.to_json())?);
        Ok(())
    }
}

/// The warnings of degraded mode: protections the config asked for that this host does
/// not enforce, as a JSON array of strings (`[]` when every protection holds; only a
/// config with `allow_degraded` can have any). Also available before start and after
/// destroy.
///
/// Safe to call concurrently with other calls on the same sandbox.
/// The caller owns `*out_json` and frees it with `nucleus_string_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_warnings_json(
    sb: *const nucleus_sandbox,
    out_json: *mut *mut c_char,
) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        let out_json = try_out!(out_json);
        let json = serde_json::to_string(&sb.sandbox.warnings())
            .map_err(|e| Failure::new(nucleus_status::NUCLEUS_INTERNAL, format!("warnings as JSON: {e}")))?;
        out_json.set(c_json(&json)?);
        Ok(())
    }
}

/// The counters of the sandbox's cgroup, as a JSON object:
///
/// ```text
/// {"memory_current": 1048576, "memory_peak": 2097152, "cpu_usec": 5310,
///  "tasks": 1, "oom_kills": 0}
/// ```
///
/// Memory is in bytes, CPU time in microseconds; `tasks` counts the sandbox's init too.
/// A counter this host's kernel does not keep is `null`. A sandbox without limits has no
/// cgroup: that is `NUCLEUS_UNSUPPORTED` (as is a sandbox whose limits were dropped in
/// degraded mode).
///
/// Safe to call concurrently with other calls on the same sandbox.
/// The caller owns `*out_json` and frees it with `nucleus_string_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_stats_json(
    sb: *const nucleus_sandbox,
    out_json: *mut *mut c_char,
) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        let out_json = try_out!(out_json);
        let stats = sb.sandbox.stats()?;
        let json = serde_json::to_string(&stats)
            .map_err(|e| Failure::new(nucleus_status::NUCLEUS_INTERNAL, format!("stats as JSON: {e}")))?;
        out_json.set(c_json(&json)?);
        Ok(())
    }
}

/// Check what this host can enforce, without making a sandbox: user namespaces,
/// Landlock, seccomp, cgroups, whether this runs inside a container, and where the
/// supervisor executable is. `*out_json` gets an object:
///
/// ```text
/// {"checks": [{"name": "landlock", "ok": true, "detail": "ABI 6", "fix": null}, ...]}
/// ```
///
/// `fix` is a one-line remedy when `ok` is false, else `null`. A failed check is not an
/// error of this call, which returns `NUCLEUS_OK` whenever it could run.
///
/// The caller owns `*out_json` and frees it with `nucleus_string_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_doctor_json(out_json: *mut *mut c_char) -> nucleus_status {
    ffi_boundary! {
        let out_json = try_out!(out_json);
        out_json.set(c_json(&nucleus_core::doctor().to_json())?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    use super::*;
    use crate::ffi::nucleus_string_free;
    use crate::last_error::{nucleus_last_error_field, nucleus_last_error_message};
    use crate::sandbox::tests::{created, running};
    use crate::sandbox::{nucleus_sandbox_destroy, nucleus_sandbox_free};
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

    /// The JSON behind `ptr`, parsed, and the string freed.
    fn take(ptr: *mut c_char) -> serde_json::Value {
        // SAFETY: ptr is a live NUL-terminated string from the library, freed once here.
        unsafe {
            let value = serde_json::from_str(CStr::from_ptr(ptr).to_str().unwrap()).unwrap();
            nucleus_string_free(ptr);
            value
        }
    }

    #[test]
    fn null_arguments_are_reported_by_name() {
        let mut json = null_mut();
        // SAFETY: every pointer is NULL or valid.
        unsafe {
            assert_eq!(nucleus_sandbox_security_report_json(null(), &mut json), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last().1, "sb");
            assert_eq!(nucleus_sandbox_warnings_json(null(), &mut json), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(nucleus_sandbox_stats_json(null(), &mut json), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(nucleus_doctor_json(null_mut()), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last(), ("argument `out_json` is NULL".into(), "out_json".into()));
        }
        assert!(json.is_null());
    }

    #[test]
    fn doctor_lists_every_check() {
        let mut json = null_mut();
        // SAFETY: json is writable.
        assert_eq!(unsafe { nucleus_doctor_json(&mut json) }, NUCLEUS_OK);
        let report = take(json);
        let names: Vec<&str> = report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        for name in ["user_namespaces", "landlock", "seccomp", "cgroups", "container", "supervisor"] {
            assert!(names.contains(&name), "{name} missing from {report}");
        }
    }

    #[test]
    fn reports_of_a_running_sandbox() {
        let sb = running();
        let mut json = null_mut();
        // SAFETY: sb is live and freed once; json is writable.
        unsafe {
            assert_eq!(nucleus_sandbox_security_report_json(sb, &mut json), NUCLEUS_OK, "{:?}", last());
            let report = take(json);
            let seccomp = report["layers"].as_array().unwrap().iter().find(|l| l["layer"] == "seccomp").unwrap();
            assert_eq!(seccomp["requested"], true, "{report}");
            assert!(seccomp["verified"].as_str().unwrap().contains("Seccomp:"), "{report}");

            assert_eq!(nucleus_sandbox_warnings_json(sb, &mut json), NUCLEUS_OK);
            assert_eq!(take(json), serde_json::json!([]));

            // No limits, no cgroup.
            json = null_mut();
            assert_eq!(nucleus_sandbox_stats_json(sb, &mut json), NUCLEUS_UNSUPPORTED);
            assert!(json.is_null(), "out written on failure");
            assert!(last().0.contains("no cgroup"), "{:?}", last());

            assert_eq!(nucleus_sandbox_destroy(sb), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_security_report_json(sb, &mut json), NUCLEUS_STATE);
            assert_eq!(nucleus_sandbox_warnings_json(sb, &mut json), NUCLEUS_OK);
            assert_eq!(take(json), serde_json::json!([]));
            nucleus_sandbox_free(sb);
        }
    }

    #[test]
    fn security_report_needs_a_started_sandbox() {
        let sb = created(c"not-started");
        let mut json = null_mut();
        // SAFETY: sb is live and freed once; json is writable.
        unsafe {
            assert_eq!(nucleus_sandbox_security_report_json(sb, &mut json), NUCLEUS_STATE, "{:?}", last());
            assert!(json.is_null());
            nucleus_sandbox_free(sb);
        }
    }
}
