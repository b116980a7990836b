//! `nucleus_sandbox`: the lifecycle (create, start, status, kill, destroy, free) and
//! moving files in and out. Commands are in `exec.rs` and `process.rs`.
//!
//! Every function but `nucleus_sandbox_free` takes `const nucleus_sandbox *`: the Rust
//! `Sandbox` is `Send + Sync` and does its own locking, so any of them may run
//! concurrently on one sandbox.

use std::ffi::{c_char, CString};

use nucleus_core::{Sandbox, Status};

use crate::config::nucleus_config;
use crate::ffi::{malloc_copy, Handle};
use crate::status::nucleus_status;

/// A sandbox. Create it with `nucleus_sandbox_create`, free it with
/// `nucleus_sandbox_free`.
pub struct nucleus_sandbox {
    _private: [u8; 0],
}

/// What is behind a `nucleus_sandbox`: the sandbox and its id as a C string.
pub(crate) struct SandboxHandle {
    pub(crate) sandbox: Sandbox,
    id: CString,
}

impl SandboxHandle {
    pub(crate) fn new(sandbox: Sandbox) -> SandboxHandle {
        let id = CString::new(sandbox.id()).expect("sandbox ids are hex digits");
        SandboxHandle { sandbox, id }
    }
}

impl Handle for nucleus_sandbox {
    type Rust = SandboxHandle;
}

/// Where a sandbox is in its life, from `nucleus_sandbox_status`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nucleus_sandbox_state {
    /// The supervisor is building the sandbox.
    Creating = 0,
    /// Built, waiting for `nucleus_sandbox_start`.
    Created = 1,
    /// Running commands.
    Running = 2,
    /// Destroyed, or ended by itself.
    Stopped = 3,
}

impl From<Status> for nucleus_sandbox_state {
    fn from(status: Status) -> Self {
        match status {
            Status::Creating => nucleus_sandbox_state::Creating,
            Status::Created => nucleus_sandbox_state::Created,
            Status::Running => nucleus_sandbox_state::Running,
            Status::Stopped => nucleus_sandbox_state::Stopped,
        }
    }
}

/// Validate `cfg` and start building a sandbox from it in a new supervisor process.
/// Returns at once; `nucleus_sandbox_start` waits until the sandbox is ready.
///
/// Borrows `cfg` for the duration of the call; nucleus copies what it keeps.
/// The caller owns `*out` and frees it with `nucleus_sandbox_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_create(
    cfg: *const nucleus_config,
    out: *mut *mut nucleus_sandbox,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_ref!(cfg);
        let out = try_out!(out);
        let sandbox = Sandbox::create(cfg.clone())?;
        out.set(nucleus_sandbox::into_raw(SandboxHandle::new(sandbox)));
        Ok(())
    }
}

/// Wait until the sandbox is built and make it ready for commands. If building failed,
/// the sandbox is torn down and the error returned (a later start returns
/// `NUCLEUS_STATE`).
///
/// Safe to call concurrently with other calls on the same sandbox.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_start(sb: *const nucleus_sandbox) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        sb.sandbox.start()?;
        Ok(())
    }
}

/// The sandbox's id (16 hex digits, also the name of its state record).
///
/// `*out` is a NUL-terminated string valid until `sb` is freed; do not free it.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_id(
    sb: *const nucleus_sandbox,
    out: *mut *const c_char,
) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        let out = try_out!(out);
        out.set(sb.id.as_ptr());
        Ok(())
    }
}

/// Where the sandbox is in its life: one of the `nucleus_sandbox_state` values. Notices a
/// sandbox whose supervisor ended by itself.
///
/// Safe to call concurrently with other calls on the same sandbox.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_status(
    sb: *const nucleus_sandbox,
    out: *mut nucleus_sandbox_state,
) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        let out = try_out!(out);
        out.set(sb.sandbox.status().into());
        Ok(())
    }
}

/// Send `signal` (e.g. `SIGKILL`) to every process in the sandbox except its init. The
/// sandbox must be running.
///
/// Safe to call concurrently with other calls on the same sandbox.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_kill(sb: *const nucleus_sandbox, signal: i32) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        sb.sandbox.kill(signal)?;
        Ok(())
    }
}

/// Write the `len` bytes at `data` to the file `path` inside the sandbox, creating it
/// with mode 0644 or truncating it. Symlinks resolve inside the sandbox, never to the
/// host. `data` may be NULL when `len` is 0.
///
/// Borrows `path` and `data` for the duration of the call; nucleus copies what it keeps.
/// Safe to call concurrently with other calls on the same sandbox.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_write_file(
    sb: *const nucleus_sandbox,
    path: *const c_char,
    data: *const u8,
    len: usize,
) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        let path = try_str!(path);
        let data = try_bytes!(data, len);
        sb.sandbox.write_file(path, data)?;
        Ok(())
    }
}

/// Read the whole file `path` inside the sandbox into a new buffer: `*data` gets its
/// bytes and `*len` their number. The buffer is followed by a NUL that `*len` does not
/// count, so a text file can be used as a C string.
///
/// Borrows `path` for the duration of the call; nucleus copies what it keeps.
/// The caller owns `*data` and frees it with `nucleus_bytes_free`.
/// Safe to call concurrently with other calls on the same sandbox.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_read_file(
    sb: *const nucleus_sandbox,
    path: *const c_char,
    data: *mut *mut u8,
    len: *mut usize,
) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        let path = try_str!(path);
        let data = try_out!(data);
        let len = try_out!(len);
        let bytes = sb.sandbox.read_file(path)?;
        let buffer = malloc_copy(&bytes)?;
        data.set(buffer.as_ptr());
        len.set(bytes.len());
        Ok(())
    }
}

/// Tear the sandbox down: every process in it dies, and its mounts, private workspace and
/// state record are removed. Calling it again returns `NUCLEUS_OK`. The handle stays
/// valid (its calls return `NUCLEUS_STATE`) until `nucleus_sandbox_free`.
///
/// Safe to call concurrently with other calls on the same sandbox.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_sandbox_destroy(sb: *const nucleus_sandbox) -> nucleus_status {
    ffi_boundary! {
        let sb = try_ref!(sb);
        sb.sandbox.destroy()?;
        Ok(())
    }
}

/// Free a sandbox, tearing it down first if `nucleus_sandbox_destroy` has not (errors of
/// that teardown are not reported; call `nucleus_sandbox_destroy` to see them). Processes
/// from `nucleus_sandbox_spawn` stay valid handles, but their commands are gone.
///
/// Calling with NULL is fine. Must not be called twice with the same value, nor while
/// another call uses `sb`.
#[no_mangle]
pub unsafe extern "C" fn nucleus_sandbox_free(sb: *mut nucleus_sandbox) {
    ffi_boundary!(default = ();
        // SAFETY: sb is NULL or a live sandbox handle the caller gives up.
        unsafe { nucleus_sandbox::free(sb) }
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    use super::*;
    use crate::config::{nucleus_config_free, nucleus_config_new, nucleus_config_set_hostname};
    use crate::ffi::nucleus_bytes_free;
    use crate::last_error::{nucleus_last_error_field, nucleus_last_error_message};
    use crate::status::nucleus_status::*;

    fn message() -> String {
        // SAFETY: the getter returns a live NUL-terminated string.
        unsafe { CStr::from_ptr(nucleus_last_error_message()) }.to_str().unwrap().to_owned()
    }

    /// A created (not started) sandbox with the given hostname.
    pub(crate) fn created(hostname: &CStr) -> *mut nucleus_sandbox {
        let mut cfg = null_mut();
        let mut sb = null_mut();
        // SAFETY: every pointer is valid; cfg is freed once.
        unsafe {
            assert_eq!(nucleus_config_new(&mut cfg), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_hostname(cfg, hostname.as_ptr()), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_create(cfg, &mut sb), NUCLEUS_OK, "{}", message());
            nucleus_config_free(cfg);
        }
        sb
    }

    /// A running sandbox.
    pub(crate) fn running() -> *mut nucleus_sandbox {
        let sb = created(c"ffi-test");
        // SAFETY: sb is live.
        assert_eq!(unsafe { nucleus_sandbox_start(sb) }, NUCLEUS_OK, "{}", message());
        sb
    }

    #[test]
    fn null_arguments_are_reported_by_name() {
        let mut state = nucleus_sandbox_state::Stopped;
        let mut sb = null_mut();
        // SAFETY: every pointer is NULL or valid.
        unsafe {
            assert_eq!(nucleus_sandbox_create(null(), &mut sb), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(message(), "argument `cfg` is NULL");
            assert_eq!(CStr::from_ptr(nucleus_last_error_field()).to_str().unwrap(), "cfg");
            assert_eq!(nucleus_sandbox_start(null()), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(nucleus_sandbox_status(null(), &mut state), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(nucleus_sandbox_destroy(null()), NUCLEUS_NULL_ARGUMENT);
            nucleus_sandbox_free(null_mut());
        }
        assert!(sb.is_null());
    }

    #[test]
    fn bad_config_fails_create_naming_the_field() {
        let mut sb = null_mut();
        let mut cfg = null_mut();
        // SAFETY: every pointer is valid; cfg is freed once.
        unsafe {
            assert_eq!(nucleus_config_new(&mut cfg), NUCLEUS_OK);
            assert_eq!(nucleus_config_set_hostname(cfg, c"not a hostname".as_ptr()), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_create(cfg, &mut sb), NUCLEUS_INVALID_CONFIG);
            assert_eq!(CStr::from_ptr(nucleus_last_error_field()).to_str().unwrap(), "hostname");
            assert!(message().starts_with("invalid config: hostname: "), "{}", message());
            nucleus_config_free(cfg);
        }
        assert!(sb.is_null(), "out written on failure");
    }

    #[test]
    fn lifecycle_and_files() {
        let sb = created(c"lifecycle");
        let mut state = nucleus_sandbox_state::Stopped;
        let mut id = null();
        let (mut data, mut len) = (null_mut(), 0usize);
        // SAFETY: every pointer is valid; sb and data are freed once.
        unsafe {
            assert_eq!(nucleus_sandbox_id(sb, &mut id), NUCLEUS_OK);
            assert_eq!(CStr::from_ptr(id).to_bytes().len(), 16);
            // Before start: files and kill are state errors.
            assert_eq!(nucleus_sandbox_read_file(sb, c"/etc/hostname".as_ptr(), &mut data, &mut len), NUCLEUS_STATE);
            assert!(data.is_null());
            assert_eq!(nucleus_sandbox_start(sb), NUCLEUS_OK, "{}", message());
            assert_eq!(nucleus_sandbox_status(sb, &mut state), NUCLEUS_OK);
            assert_eq!(state, nucleus_sandbox_state::Running);

            let text = b"hello\0binary";
            let path = c"/workspace/f";
            assert_eq!(nucleus_sandbox_write_file(sb, path.as_ptr(), text.as_ptr(), text.len()), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_read_file(sb, path.as_ptr(), &mut data, &mut len), NUCLEUS_OK);
            assert_eq!(std::slice::from_raw_parts(data, len + 1), b"hello\0binary\0");
            nucleus_bytes_free(data);
            assert_eq!(nucleus_sandbox_write_file(sb, path.as_ptr(), null(), 0), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_write_file(sb, path.as_ptr(), null(), 1), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(nucleus_sandbox_write_file(sb, c"relative".as_ptr(), null(), 0), NUCLEUS_INVALID_CONFIG);
            assert_eq!(CStr::from_ptr(nucleus_last_error_field()).to_str().unwrap(), "path");

            assert_eq!(nucleus_sandbox_kill(sb, libc::SIGKILL), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_destroy(sb), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_destroy(sb), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_status(sb, &mut state), NUCLEUS_OK);
            assert_eq!(state, nucleus_sandbox_state::Stopped);
            assert_eq!(nucleus_sandbox_start(sb), NUCLEUS_STATE);
            nucleus_sandbox_free(sb);
        }
    }
}
