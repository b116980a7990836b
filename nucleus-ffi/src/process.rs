//! `nucleus_sandbox_spawn` and `nucleus_process`: a command that runs while the caller
//! reads and writes its streams through plain file descriptors.

use std::os::fd::IntoRawFd;
use std::time::Duration;

use nucleus_core::{ExitStatus, Process};

use crate::exec::nucleus_exec;
use crate::ffi::{Failure, Handle};
use crate::sandbox::nucleus_sandbox;
use crate::status::nucleus_status;

/// A command started by `nucleus_sandbox_spawn`. Free it with `nucleus_process_free`.
pub struct nucleus_process {
    _private: [u8; 0],
}

impl Handle for nucleus_process {
    type Rust = Process;
}

/// Start `req` in the running sandbox `sb` and return at once. `*stdin_fd`, `*stdout_fd`
/// and `*stderr_fd` get the caller's ends of the command's pipes (close-on-exec set):
/// write to stdin and close it to send EOF; read stdout and stderr until EOF. The request
/// must not set stdin, a timeout or an output cap (those are for `nucleus_sandbox_exec`;
/// `NUCLEUS_INVALID_CONFIG` names the field). A command that has not started within 30 s
/// is killed and the call returns `NUCLEUS_TIMEOUT`.
///
/// Safe to call concurrently on the same sandbox from any number of threads.
/// Borrows `req` for the duration of the call; nucleus copies what it keeps.
/// The caller owns `*out` and frees it with `nucleus_process_free`.
/// The caller owns `*stdin_fd`, `*stdout_fd` and `*stderr_fd` and closes them with
/// `close(2)`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_spawn(
    sb: *const nucleus_sandbox,
    req: *const nucleus_exec,
    out: *mut *mut nucleus_process,
    stdin_fd: *mut i32,
    stdout_fd: *mut i32,
    stderr_fd: *mut i32,
) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        let req = try_ref!(req);
        let out = try_out!(out);
        let stdin_fd = try_out!(stdin_fd);
        let stdout_fd = try_out!(stdout_fd);
        let stderr_fd = try_out!(stderr_fd);
        let mut process = sb.sandbox.spawn(req)?;
        let missing = || Failure::new(nucleus_status::NUCLEUS_INTERNAL, "spawned process lacks a stream");
        let stdin = process.stdin.take().ok_or_else(missing)?;
        let stdout = process.stdout.take().ok_or_else(missing)?;
        let stderr = process.stderr.take().ok_or_else(missing)?;
        stdin_fd.set(stdin.into_raw_fd());
        stdout_fd.set(stdout.into_raw_fd());
        stderr_fd.set(stderr.into_raw_fd());
        out.set(nucleus_process::into_raw(process));
        Ok(())
    }
}

/// The command's pid inside the sandbox.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_process_pid(process: *const nucleus_process, out: *mut i32) -> nucleus_status {
    ffi_boundary! {
        let process = try_ref!(process);
        let out = try_out!(out);
        out.set(process.pid());
        Ok(())
    }
}

/// Write an exit status to the two out-parameters: the code (-1 when a signal ended the
/// command) and the signal (0 when it exited).
fn set_status(status: ExitStatus, exit_code: crate::ffi::Out<i32>, signal: crate::ffi::Out<i32>) {
    exit_code.set(status.code.unwrap_or(-1));
    signal.set(status.signal.unwrap_or(0));
}

/// Wait for the command to end. `*exit_code` gets its exit code (-1 when a signal ended
/// it) and `*signal` the signal (0 when it exited). Waiting again returns the same.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_process_wait(
    process: *mut nucleus_process,
    exit_code: *mut i32,
    signal: *mut i32,
) -> nucleus_status {
    ffi_boundary! {
        let process = try_mut!(process);
        let exit_code = try_out!(exit_code);
        let signal = try_out!(signal);
        let status = process.wait()?;
        set_status(status, exit_code, signal);
        Ok(())
    }
}

/// As `nucleus_process_wait`, but wait at most `timeout_ms` milliseconds (0 only checks).
/// When the command is still running then, returns `NUCLEUS_TIMEOUT` and writes nothing.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_process_wait_timeout(
    process: *mut nucleus_process,
    timeout_ms: u64,
    exit_code: *mut i32,
    signal: *mut i32,
) -> nucleus_status {
    ffi_boundary! {
        let process = try_mut!(process);
        let exit_code = try_out!(exit_code);
        let signal = try_out!(signal);
        match process.wait_timeout(Duration::from_millis(timeout_ms))? {
            Some(status) => set_status(status, exit_code, signal),
            None => {
                return Err(Failure::new(
                    nucleus_status::NUCLEUS_TIMEOUT,
                    format!("the process is still running after {timeout_ms} ms"),
                ))
            }
        }
        Ok(())
    }
}

/// Send `signal` to the command and every process of its session. Does nothing once the
/// command has been waited for.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_process_kill(process: *mut nucleus_process, signal: i32) -> nucleus_status {
    ffi_boundary! {
        let process = try_mut!(process);
        process.kill(signal)?;
        Ok(())
    }
}

/// Free a process handle. This does not kill the command: it runs on until it ends or
/// its sandbox is destroyed. The descriptors from `nucleus_sandbox_spawn` are the
/// caller's and stay open.
///
/// Calling with NULL is fine. Must not be called twice with the same value.
#[no_mangle]
pub unsafe extern "C" fn nucleus_process_free(process: *mut nucleus_process) {
    ffi_boundary!(default = ();
        // SAFETY: process is NULL or a live process handle the caller gives up.
        unsafe { nucleus_process::free(process) }
    )
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    use std::ptr::null_mut;

    use super::*;
    use crate::exec::{nucleus_exec_free, nucleus_exec_new_shell, nucleus_exec_set_timeout_ms};
    use crate::sandbox::nucleus_sandbox_free;
    use crate::sandbox::tests::running;
    use crate::status::nucleus_status::*;

    #[test]
    fn spawn_streams_wait_and_kill() {
        let sb = running();
        let mut req = null_mut();
        let mut process = null_mut();
        let (mut fd_in, mut fd_out, mut fd_err) = (-1, -1, -1);
        let (mut code, mut signal, mut pid) = (0, 0, 0);
        // SAFETY: valid pointers; each handle and fd is freed or closed once.
        unsafe {
            assert_eq!(nucleus_exec_new_shell(c"tr a-z A-Z; echo done >&2".as_ptr(), &mut req), NUCLEUS_OK);
            assert_eq!(
                nucleus_sandbox_spawn(sb, req, &mut process, &mut fd_in, &mut fd_out, null_mut()),
                NUCLEUS_NULL_ARGUMENT
            );
            assert!(process.is_null() && fd_in == -1);
            assert_eq!(nucleus_sandbox_spawn(sb, req, &mut process, &mut fd_in, &mut fd_out, &mut fd_err), NUCLEUS_OK);
            assert_eq!(nucleus_process_pid(process, &mut pid), NUCLEUS_OK);
            assert!(pid > 1);
            let mut stdin = File::from_raw_fd(fd_in);
            stdin.write_all(b"shout\n").unwrap();
            drop(stdin);
            let mut text = String::new();
            File::from_raw_fd(fd_out).read_to_string(&mut text).unwrap();
            assert_eq!(text, "SHOUT\n");
            text.clear();
            File::from_raw_fd(fd_err).read_to_string(&mut text).unwrap();
            assert_eq!(text, "done\n");
            assert_eq!(nucleus_process_wait(process, &mut code, &mut signal), NUCLEUS_OK);
            assert_eq!((code, signal), (0, 0));
            nucleus_process_free(process);

            // A timeout is for exec only.
            assert_eq!(nucleus_exec_set_timeout_ms(req, 5), NUCLEUS_OK);
            process = null_mut();
            assert_eq!(
                nucleus_sandbox_spawn(sb, req, &mut process, &mut fd_in, &mut fd_out, &mut fd_err),
                NUCLEUS_INVALID_CONFIG
            );
            assert!(process.is_null());
            nucleus_exec_free(req);

            assert_eq!(nucleus_exec_new_shell(c"sleep 30".as_ptr(), &mut req), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_spawn(sb, req, &mut process, &mut fd_in, &mut fd_out, &mut fd_err), NUCLEUS_OK);
            for fd in [fd_in, fd_out, fd_err] {
                libc::close(fd);
            }
            assert_eq!(nucleus_process_wait_timeout(process, 50, &mut code, &mut signal), NUCLEUS_TIMEOUT);
            assert_eq!(nucleus_process_kill(process, libc::SIGTERM), NUCLEUS_OK);
            assert_eq!(nucleus_process_wait_timeout(process, 10_000, &mut code, &mut signal), NUCLEUS_OK);
            assert_eq!((code, signal), (-1, libc::SIGTERM));
            nucleus_process_free(process);
            nucleus_process_free(null_mut());
            nucleus_exec_free(req);
            nucleus_sandbox_free(sb);
        }
    }
}
