//! `nucleus_status`: what every fallible C function returns, and the one mapping from
//! `nucleus_core::ErrorKind` to it.

use std::ffi::c_char;

use nucleus_core::ErrorKind;

/// cbindgen:prefix-with-name=false
/// The result of a call. `NUCLEUS_OK` is 0; every other value is an error, and the
/// thread's last error (`nucleus_last_error_message`) says what happened.
///
/// Codes come in groups with gaps between them: 1-99 the caller's arguments, 100-199
/// the configuration and the host, 200-299 the system, 300-399 lifecycle and commands,
/// 900-999 bugs in nucleus. A code is never reused for another meaning and new codes are
/// only added, so a program may switch on these values and should treat an unknown one
/// as a generic failure.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum nucleus_status {
    /// Success.
    NUCLEUS_OK = 0,

    // 1-99: the caller's arguments.
    /// A pointer argument that must not be NULL was NULL; the last error names it.
    NUCLEUS_NULL_ARGUMENT = 1,
    /// An argument had a value the function cannot use (invalid UTF-8, an unknown enum
    /// value, a zero timeout, ...); the last error names the parameter.
    NUCLEUS_INVALID_ARGUMENT = 2,

    // 100-199: the configuration and the host.
    /// The configuration (or an exec request) is invalid; `nucleus_last_error_field`
    /// gives the field's path, e.g. `mounts[2].target`.
    NUCLEUS_INVALID_CONFIG = 100,
    /// The host cannot enforce a requested protection and degraded mode is off, or the
    /// supervisor executable cannot be found. Also returned for a value the sandbox or
    /// the host does not have: `nucleus_sandbox_stats_json` and
    /// `nucleus_exec_result_peak_memory` of a sandbox without a cgroup.
    NUCLEUS_UNSUPPORTED = 101,

    // 200-299: the system.
    /// A system call failed; `nucleus_last_error_errno` gives its errno.
    NUCLEUS_SYSCALL = 200,
    /// The sandbox's supervisor process misbehaved or went away.
    NUCLEUS_SUPERVISOR = 201,

    // 300-399: lifecycle and commands.
    /// The sandbox (or process) is in the wrong state for the call, e.g. exec before
    /// start or after destroy.
    NUCLEUS_STATE = 300,
    /// An operation did not finish in time (for `nucleus_process_wait_timeout`: the
    /// process is still running).
    NUCLEUS_TIMEOUT = 301,
    /// The command could not be started in the sandbox (not found, not executable, bad
    /// working directory); `nucleus_last_error_errno` gives the errno.
    NUCLEUS_EXEC_FAILED = 302,

    // 900-999: bugs in nucleus.
    /// An internal error in nucleus; the message describes it. Please report it.
    NUCLEUS_INTERNAL = 900,
    /// nucleus panicked; the call had no effect it could report. Please report it.
    NUCLEUS_PANIC = 901,
}

impl nucleus_status {
    /// The status for an error of `kind`. This is the only place the C API maps error
    /// kinds; the match is exhaustive, so a new kind in `nucleus_core` does not compile
    /// until it has a code here.
    pub(crate) fn from_kind(kind: ErrorKind) -> nucleus_status {
        use nucleus_status::*;
        match kind {
            ErrorKind::InvalidConfig => NUCLEUS_INVALID_CONFIG,
            ErrorKind::Unsupported => NUCLEUS_UNSUPPORTED,
            ErrorKind::Syscall => NUCLEUS_SYSCALL,
            ErrorKind::State => NUCLEUS_STATE,
            ErrorKind::Timeout => NUCLEUS_TIMEOUT,
            ErrorKind::ExecFailed => NUCLEUS_EXEC_FAILED,
            ErrorKind::Supervisor => NUCLEUS_SUPERVISOR,
            ErrorKind::Internal => NUCLEUS_INTERNAL,
        }
    }

    /// The C name of this status, NUL-terminated.
    fn name(self) -> &'static std::ffi::CStr {
        use nucleus_status::*;
        match self {
            NUCLEUS_OK => c"NUCLEUS_OK",
            NUCLEUS_NULL_ARGUMENT => c"NUCLEUS_NULL_ARGUMENT",
            NUCLEUS_INVALID_ARGUMENT => c"NUCLEUS_INVALID_ARGUMENT",
            NUCLEUS_INVALID_CONFIG => c"NUCLEUS_INVALID_CONFIG",
            NUCLEUS_UNSUPPORTED => c"NUCLEUS_UNSUPPORTED",
            NUCLEUS_SYSCALL => c"NUCLEUS_SYSCALL",
            NUCLEUS_SUPERVISOR => c"NUCLEUS_SUPERVISOR",
            NUCLEUS_STATE => c"NUCLEUS_STATE",
            NUCLEUS_TIMEOUT => c"NUCLEUS_TIMEOUT",
            NUCLEUS_EXEC_FAILED => c"NUCLEUS_EXEC_FAILED",
            NUCLEUS_INTERNAL => c"NUCLEUS_INTERNAL",
            NUCLEUS_PANIC => c"NUCLEUS_PANIC",
        }
    }

    /// Every status, for the name lookup and the tests.
    const ALL: [nucleus_status; 12] = {
        use nucleus_status::*;
        [
            NUCLEUS_OK,
            NUCLEUS_NULL_ARGUMENT,
            NUCLEUS_INVALID_ARGUMENT,
            NUCLEUS_INVALID_CONFIG,
            NUCLEUS_UNSUPPORTED,
            NUCLEUS_SYSCALL,
            NUCLEUS_SUPERVISOR,
            NUCLEUS_STATE,
            NUCLEUS_TIMEOUT,
            NUCLEUS_EXEC_FAILED,
            NUCLEUS_INTERNAL,
            NUCLEUS_PANIC,
        ]
    };
}

/// The name of a status value, e.g. `"NUCLEUS_STATE"` for `NUCLEUS_STATE`, or
/// `"NUCLEUS_UNKNOWN_STATUS"` for a value that is not a status. Takes `uint32_t` so any
/// value is safe to pass.
///
/// The string is static: never NULL, do not free it.
#[no_mangle]
pub extern "C" fn nucleus_status_name(status: u32) -> *const c_char {
    ffi_boundary!(default = c"NUCLEUS_UNKNOWN_STATUS".as_ptr();
        nucleus_status::ALL
            .iter()
            .find(|s| **s as u32 == status)
            .map_or(c"NUCLEUS_UNKNOWN_STATUS", |s| s.name())
            .as_ptr()
    )
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::path::PathBuf;
    use std::time::Duration;

    use nucleus_core::Error;

    use super::*;

    #[test]
    fn every_core_error_has_its_own_status() {
        use nucleus_status::*;
        let cases = [
            (Error::InvalidConfig { field: "f".into(), reason: "r".into() }, NUCLEUS_INVALID_CONFIG),
            (Error::Unsupported { layer: "l".into(), reason: "r".into() }, NUCLEUS_UNSUPPORTED),
            (Error::Syscall { call: "c".into(), path: Some(PathBuf::from("/p")), errno: 1 }, NUCLEUS_SYSCALL),
            (Error::State { expected: "e".into(), actual: "a".into() }, NUCLEUS_STATE),
            (Error::Timeout { what: "w".into(), after: Duration::from_secs(1) }, NUCLEUS_TIMEOUT),
            (Error::ExecFailed { program: "p".into(), reason: "r".into(), errno: 2 }, NUCLEUS_EXEC_FAILED),
            (Error::Supervisor { reason: "r".into() }, NUCLEUS_SUPERVISOR),
            (Error::Internal { reason: "r".into() }, NUCLEUS_INTERNAL),
        ];
        for (error, status) in cases {
            assert_eq!(nucleus_status::from_kind(error.kind()), status, "{error:?}");
        }
    }

    #[test]
    fn names_match_the_c_identifiers() {
        let name = |s: u32| {
            // SAFETY: the name is a static NUL-terminated string.
            unsafe { CStr::from_ptr(nucleus_status_name(s)) }.to_str().unwrap()
        };
        assert_eq!(name(0), "NUCLEUS_OK");
        assert_eq!(name(300), "NUCLEUS_STATE");
        assert_eq!(name(901), "NUCLEUS_PANIC");
        assert_eq!(name(7), "NUCLEUS_UNKNOWN_STATUS");
        for status in nucleus_status::ALL {
            assert_eq!(name(status as u32), format!("{status:?}"));
        }
    }
}
