//! `nucleus_exec` (a command request), `nucleus_sandbox_exec` (run it to completion) and
//! `nucleus_exec_result` (what it did).

use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use nucleus_core::{ExecOutput, ExecRequest, ExitStatus};

use crate::ffi::{c_str, Failure, Handle};
use crate::sandbox::nucleus_sandbox;
use crate::status::nucleus_status;

/// A command to run: argv plus optional environment, working directory, stdin bytes,
/// timeout and output cap. Create it with `nucleus_exec_new`, free it with
/// `nucleus_exec_free`. One request can be run any number of times, in any sandbox.
pub struct nucleus_exec {
    _private: [u8; 0],
}

impl Handle for nucleus_exec {
    type Rust = ExecRequest;
}

/// What a command run by `nucleus_sandbox_exec` did. Free it with
/// `nucleus_exec_result_free`.
pub struct nucleus_exec_result {
    _private: [u8; 0],
}

/// What is behind a `nucleus_exec_result`. The output buffers carry one extra NUL after
/// the data so C can print text output directly.
pub(crate) struct ExecResult {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    timed_out: bool,
    oom_killed: bool,
    peak_memory: Option<u64>,
    truncated: bool,
    duration: Duration,
}

impl Handle for nucleus_exec_result {
    type Rust = ExecResult;
}

impl From<ExecOutput> for ExecResult {
    fn from(output: ExecOutput) -> ExecResult {
        let terminated = |mut bytes: Vec<u8>| {
            bytes.push(0);
            bytes
        };
        ExecResult {
            status: output.status,
            stdout: terminated(output.stdout),
            stderr: terminated(output.stderr),
            timed_out: output.timed_out,
            oom_killed: output.oom_killed,
            peak_memory: output.peak_memory,
            truncated: output.truncated,
            duration: output.duration,
        }
    }
}

/// The strings of a C argv, each checked and named `argv[i]` in errors.
///
/// # Safety
/// `argv` is NULL or points to `argc` pointers, each NULL or a NUL-terminated string.
pub(crate) unsafe fn argv_strings(argv: *const *const c_char, argc: usize) -> Result<Vec<String>, Failure> {
    if argv.is_null() {
        return Err(Failure::null("argv"));
    }
    if argc == 0 {
        return Err(Failure::invalid("argc", "needs at least the program name"));
    }
    // SAFETY: by this function's contract.
    let pointers = unsafe { std::slice::from_raw_parts(argv, argc) };
    pointers
        .iter()
        .enumerate()
        // SAFETY: by this function's contract.
        .map(|(i, &arg)| unsafe { c_str(arg, &format!("argv[{i}]")) }.map(str::to_owned))
        .collect()
}

/// Create a request to run the `argc` strings of `argv` (the program, looked up in the
/// sandbox's `$PATH` when it has no `/`, then its arguments).
///
/// Borrows `argv` for the duration of the call; nucleus copies what it keeps.
/// The caller owns `*out` and frees it with `nucleus_exec_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_new(
    argv: *const *const c_char,
    argc: usize,
    out: *mut *mut nucleus_exec,
) -> nucleus_status {
    ffi_boundary! {
        let out = try_out!(out);
        // SAFETY: the C caller passes argc string pointers at argv (the C contract).
        let argv = unsafe { argv_strings(argv, argc) }?;
        out.set(nucleus_exec::into_raw(ExecRequest::new(argv)));
        Ok(())
    }
}

/// Create a request to run `script` with `/bin/sh -c`.
///
/// Borrows `script` for the duration of the call; nucleus copies what it keeps.
/// The caller owns `*out` and frees it with `nucleus_exec_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_new_shell(
    script: *const c_char,
    out: *mut *mut nucleus_exec,
) -> nucleus_status {
    ffi_boundary! {
        let script = try_str!(script);
        let out = try_out!(out);
        out.set(nucleus_exec::into_raw(ExecRequest::shell(script)));
        Ok(())
    }
}

/// Set the environment variable `key` to `value` for this command, on top of the
/// sandbox's environment.
///
/// Borrows `key` and `value` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_set_env(
    req: *mut nucleus_exec,
    key: *const c_char,
    value: *const c_char,
) -> nucleus_status {
    ffi_boundary! {
        let req = try_mut!(req);
        let key = try_str!(key);
        let value = try_str!(value);
        req.env.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

/// Set the command's working directory inside the sandbox (absolute).
///
/// Borrows `path` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_set_cwd(req: *mut nucleus_exec, path: *const c_char) -> nucleus_status {
    ffi_boundary! {
        let req = try_mut!(req);
        req.cwd = Some(PathBuf::from(try_str!(path)));
        Ok(())
    }
}

/// Feed the `len` bytes at `data` to the command's stdin, then close it
/// (`nucleus_sandbox_exec` only). `data` may be NULL when `len` is 0.
///
/// Borrows `data` for the duration of the call; nucleus copies what it keeps.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_set_stdin(
    req: *mut nucleus_exec,
    data: *const u8,
    len: usize,
) -> nucleus_status {
    ffi_boundary! {
        let req = try_mut!(req);
        req.stdin = try_bytes!(data, len).to_vec();
        Ok(())
    }
}

/// Kill the command, and every process it started, after `timeout_ms` milliseconds
/// (`nucleus_sandbox_exec` only); the result then reports `timed_out`. 0 is
/// `NUCLEUS_INVALID_ARGUMENT`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_set_timeout_ms(req: *mut nucleus_exec, timeout_ms: u64) -> nucleus_status {
    ffi_boundary! {
        let req = try_mut!(req);
        if timeout_ms == 0 {
            return Err(Failure::invalid("timeout_ms", "must be more than zero"));
        }
        req.timeout = Some(Duration::from_millis(timeout_ms));
        Ok(())
    }
}

/// Keep at most `bytes` of each of stdout and stderr (`nucleus_sandbox_exec` only); the
/// rest is read and dropped, and the result reports `truncated`. Default 16 MiB.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_set_max_output(req: *mut nucleus_exec, bytes: usize) -> nucleus_status {
    ffi_boundary! {
        let req = try_mut!(req);
        req.max_output = Some(bytes);
        Ok(())
    }
}

/// Free a request.
///
/// Calling with NULL is fine. Must not be called twice with the same value.
#[no_mangle]
pub unsafe extern "C" fn nucleus_exec_free(req: *mut nucleus_exec) {
    ffi_boundary!(default = ();
        // SAFETY: req is NULL or a live request handle the caller gives up.
        unsafe { nucleus_exec::free(req) }
    )
}

/// Run `req` in the running sandbox `sb` to completion: feed its stdin, collect its
/// stdout and stderr, wait for it to end or for its timeout. A command that runs but
/// fails (non-zero exit, killed, timed out) is `NUCLEUS_OK` with a result saying so; a
/// command that cannot start is `NUCLEUS_EXEC_FAILED`; one that has not started (reached
/// its `execve`) by its timeout, or within 30 s without one, is killed and the call
/// returns `NUCLEUS_TIMEOUT`; a sandbox that is not running is `NUCLEUS_STATE`.
///
/// Safe to call concurrently on the same sandbox (and with the same request) from any
/// number of threads: that is why `sb` is `const`.
/// Borrows `req` for the duration of the call; nucleus copies what it keeps.
/// The caller owns `*out` and frees it with `nucleus_exec_result_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_exec(
    sb: *const nucleus_sandbox,
    req: *const nucleus_exec,
    out: *mut *mut nucleus_exec_result,
) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        let req = try_ref!(req);
        let out = try_out!(out);
        let output = sb.sandbox.exec(req)?;
        out.set(nucleus_exec_result::into_raw(output.into()));
        Ok(())
    }
}

/// The command's exit code, or -1 when a signal ended it (see
/// `nucleus_exec_result_signal`).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_result_exit_code(
    result: *const nucleus_exec_result,
    out: *mut i32,
) -> nucleus_status {
    ffi_boundary! {
        let result = try_ref!(result);
        let out = try_out!(out);
        out.set(result.status.code.unwrap_or(-1));
        Ok(())
    }
}

/// The signal that ended the command (e.g. 9 for `SIGKILL` after a timeout), or 0 when it
/// exited.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_result_signal(
    result: *const nucleus_exec_result,
    out: *mut i32,
) -> nucleus_status {
    ffi_boundary! {
        let result = try_ref!(result);
        let out = try_out!(out);
        out.set(result.status.signal.unwrap_or(0));
        Ok(())
    }
}

/// The command's collected stdout: `*data` points to `*len` bytes, followed by a NUL that
/// `*len` does not count (the output itself may contain NULs).
///
/// `*data` is valid until `result` is freed; do not free it.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_result_stdout(
    result: *const nucleus_exec_result,
    data: *mut *const u8,
    len: *mut usize,
) -> nucleus_status {
    ffi_boundary! {
        let result = try_ref!(result);
        let data = try_out!(data);
        let len = try_out!(len);
        data.set(result.stdout.as_ptr());
        len.set(result.stdout.len() - 1);
        Ok(())
    }
}

/// The command's collected stderr: `*data` points to `*len` bytes, followed by a NUL that
/// `*len` does not count (the output itself may contain NULs).
///
/// `*data` is valid until `result` is freed; do not free it.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_result_stderr(
    result: *const nucleus_exec_result,
    data: *mut *const u8,
    len: *mut usize,
) -> nucleus_status {
    ffi_boundary! {
        let result = try_ref!(result);
        let data = try_out!(data);
        let len = try_out!(len);
        data.set(result.stderr.as_ptr());
        len.set(result.stderr.len() - 1);
        Ok(())
    }
}

/// Whether the command was killed because it ran past its timeout.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_result_timed_out(
    result: *const nucleus_exec_result,
    out: *mut bool,
) -> nucleus_status {
    ffi_boundary! {
        let result = try_ref!(result);
        let out = try_out!(out);
        out.set(result.timed_out);
        Ok(())
    }
}

/// Whether the OOM killer ended a process of the sandbox while the command ran (the
/// sandbox's memory limit was reached). Always false for a sandbox without a memory
/// limit. The command itself may have survived if the killer chose another process; its
/// exit status says.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_result_oom_killed(
    result: *const nucleus_exec_result,
    out: *mut bool,
) -> nucleus_status {
    ffi_boundary! {
        let result = try_ref!(result);
        let out = try_out!(out);
        out.set(result.oom_killed);
        Ok(())
    }
}

/// The most memory the sandbox had in use at once, in bytes, up to the command's end
/// (the sandbox's peak since it started, not this command's alone).
///
/// `NUCLEUS_UNSUPPORTED`, with `*out` left untouched, when it is not known: the sandbox
/// has no cgroup (no limits were set, or they were dropped in degraded mode) or the
/// kernel does not keep the value (cgroup v2 before Linux 5.19).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_result_peak_memory(
    result: *const nucleus_exec_result,
    out: *mut u64,
) -> nucleus_status {
    ffi_boundary! {
        let result = try_ref!(result);
        let out = try_out!(out);
        let peak = result.peak_memory.ok_or_else(|| {
            Failure::new(
                nucleus_status::NUCLEUS_UNSUPPORTED,
                "peak memory is not known: the sandbox has no cgroup (set a limit) or the kernel does not keep memory.peak",
            )
        })?;
        out.set(peak);
        Ok(())
    }
}

/// Whether output past the cap (`nucleus_exec_set_max_output`) was dropped.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_result_truncated(
    result: *const nucleus_exec_result,
    out: *mut bool,
) -> nucleus_status {
    ffi_boundary! {
        let result = try_ref!(result);
        let out = try_out!(out);
        out.set(result.truncated);
        Ok(())
    }
}

/// How long the command took, from the request to its end, in nanoseconds.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_exec_result_duration_ns(
    result: *const nucleus_exec_result,
    out: *mut u64,
) -> nucleus_status {
    ffi_boundary! {
        let result = try_ref!(result);
        let out = try_out!(out);
        out.set(u64::try_from(result.duration.as_nanos()).unwrap_or(u64::MAX));
        Ok(())
    }
}

/// Free a result; the views from `nucleus_exec_result_stdout` and
/// `nucleus_exec_result_stderr` end with it.
///
/// Calling with NULL is fine. Must not be called twice with the same value.
#[no_mangle]
pub unsafe extern "C" fn nucleus_exec_result_free(result: *mut nucleus_exec_result) {
    ffi_boundary!(default = ();
        // SAFETY: result is NULL or a live result handle the caller gives up.
        unsafe { nucleus_exec_result::free(result) }
    )
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    use super::*;
    use crate::last_error::{nucleus_last_error_field, nucleus_last_error_message};
    use crate::sandbox::nucleus_sandbox_free;
    use crate::sandbox::tests::{created, running};
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

    fn shell(script: &CStr) -> *mut nucleus_exec {
        let mut req = null_mut();
        // SAFETY: valid pointers.
        assert_eq!(unsafe { nucleus_exec_new_shell(script.as_ptr(), &mut req) }, NUCLEUS_OK);
        req
    }

    #[test]
    fn argv_is_checked_element_by_element() {
        let mut req = null_mut();
        let bad = c"\xff";
        let argv = [c"echo".as_ptr(), null()];
        // SAFETY: argv holds the given number of pointers.
        unsafe {
            assert_eq!(nucleus_exec_new(null(), 1, &mut req), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last().1, "argv");
            assert_eq!(nucleus_exec_new(argv.as_ptr(), 0, &mut req), NUCLEUS_INVALID_ARGUMENT);
            assert_eq!(last().1, "argc");
            assert_eq!(nucleus_exec_new(argv.as_ptr(), 2, &mut req), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(last(), ("argument `argv[1]` is NULL".into(), "argv[1]".into()));
            let argv = [c"echo".as_ptr(), bad.as_ptr()];
            assert_eq!(nucleus_exec_new(argv.as_ptr(), 2, &mut req), NUCLEUS_INVALID_ARGUMENT);
            assert_eq!(last().1, "argv[1]");
            assert!(req.is_null());
            assert_eq!(nucleus_exec_new(argv.as_ptr(), 1, &mut req), NUCLEUS_OK);
            assert_eq!(nucleus_exec_set_timeout_ms(req, 0), NUCLEUS_INVALID_ARGUMENT);
            assert_eq!(last().1, "timeout_ms");
            nucleus_exec_free(req);
            nucleus_exec_free(null_mut());
            nucleus_exec_result_free(null_mut());
        }
    }

    #[test]
    fn exec_before_start_is_a_state_error() {
        let sb = created(c"early");
        let req = shell(c"true");
        let mut result = null_mut();
        // SAFETY: valid pointers, each freed once.
        unsafe {
            assert_eq!(nucleus_sandbox_exec(sb, req, &mut result), NUCLEUS_STATE);
            assert_eq!(last().0, "sandbox is creating, but this needs it running");
            assert!(result.is_null());
            nucleus_exec_free(req);
            nucleus_sandbox_free(sb);
        }
    }

    #[test]
    fn exec_reports_output_status_and_flags() {
        let sb = running();
        let req = shell(c"read line; echo \"$line $GREETING $(pwd)\"; echo err >&2; exit 3");
        let mut result = null_mut();
        let (mut data, mut len) = (null(), 0usize);
        let (mut code, mut signal, mut flag, mut ns) = (0, 0, true, 0u64);
        // SAFETY: valid pointers, each freed once.
        unsafe {
            assert_eq!(nucleus_exec_set_env(req, c"GREETING".as_ptr(), c"hi".as_ptr()), NUCLEUS_OK);
            assert_eq!(nucleus_exec_set_cwd(req, c"/tmp".as_ptr()), NUCLEUS_OK);
            assert_eq!(nucleus_exec_set_stdin(req, b"in\n".as_ptr(), 3), NUCLEUS_OK);
            assert_eq!(nucleus_exec_set_timeout_ms(req, 10_000), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_exec(sb, req, &mut result), NUCLEUS_OK, "{:?}", last());
            assert_eq!(nucleus_exec_result_stdout(result, &mut data, &mut len), NUCLEUS_OK);
            assert_eq!(std::slice::from_raw_parts(data, len + 1), b"in hi /tmp\n\0");
            assert_eq!(nucleus_exec_result_stderr(result, &mut data, &mut len), NUCLEUS_OK);
            assert_eq!(std::slice::from_raw_parts(data, len), b"err\n");
            assert_eq!(nucleus_exec_result_exit_code(result, &mut code), NUCLEUS_OK);
            assert_eq!(code, 3);
            assert_eq!(nucleus_exec_result_signal(result, &mut signal), NUCLEUS_OK);
            assert_eq!(signal, 0);
            assert_eq!(nucleus_exec_result_timed_out(result, &mut flag), NUCLEUS_OK);
            assert!(!flag);
            assert_eq!(nucleus_exec_result_truncated(result, &mut flag), NUCLEUS_OK);
            assert!(!flag);
            assert_eq!(nucleus_exec_result_duration_ns(result, &mut ns), NUCLEUS_OK);
            assert!(ns > 0);
            flag = true;
            assert_eq!(nucleus_exec_result_oom_killed(result, &mut flag), NUCLEUS_OK);
            assert!(!flag);
            // Without limits there is no cgroup to read a peak from.
            let mut peak = 7u64;
            assert_eq!(nucleus_exec_result_peak_memory(result, &mut peak), NUCLEUS_UNSUPPORTED);
            assert_eq!(peak, 7, "out written on failure");
            assert!(last().0.starts_with("peak memory is not known"), "{:?}", last());
            assert_eq!(nucleus_exec_result_peak_memory(result, null_mut()), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(nucleus_exec_result_oom_killed(null(), &mut flag), NUCLEUS_NULL_ARGUMENT);
            nucleus_exec_result_free(result);
            nucleus_exec_free(req);

            let req = shell(c"sleep 10");
            assert_eq!(nucleus_exec_set_timeout_ms(req, 200), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_exec(sb, req, &mut result), NUCLEUS_OK, "{:?}", last());
            assert_eq!(nucleus_exec_result_timed_out(result, &mut flag), NUCLEUS_OK);
            assert!(flag);
            assert_eq!(nucleus_exec_result_exit_code(result, &mut code), NUCLEUS_OK);
            assert_eq!(code, -1);
            assert_eq!(nucleus_exec_result_signal(result, &mut signal), NUCLEUS_OK);
            assert_eq!(signal, libc::SIGKILL);
            nucleus_exec_result_free(result);
            nucleus_exec_free(req);

            let argv = [c"/no/such/program".as_ptr()];
            let mut req = null_mut();
            assert_eq!(nucleus_exec_new(argv.as_ptr(), 1, &mut req), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_exec(sb, req, &mut result), NUCLEUS_EXEC_FAILED);
            assert_eq!(crate::last_error::nucleus_last_error_errno(), libc::ENOENT);
            nucleus_exec_free(req);
            nucleus_sandbox_free(sb);
        }
    }
}
