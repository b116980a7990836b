//! The boundary machinery every `extern "C"` function uses: the [`Failure`] a body
//! returns, the [`ffi_boundary!`] macro that turns it (or a panic) into a status and the
//! thread's last error, the [`Handle`] casts between opaque C pointers and Rust values,
//! the argument-checking macros, and the buffers the library allocates for C.

use std::any::Any;
use std::ffi::{c_char, c_void, CStr};
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::last_error;
use crate::status::nucleus_status;

/// Why a call failed, before it becomes a status and the thread's last error.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: nucleus_status,
    pub(crate) message: String,
    pub(crate) errno: i32,
    /// The config field path or the parameter name the failure is about, or "".
    pub(crate) field: String,
}

impl Failure {
    /// A NULL pointer where one is not allowed.
    pub(crate) fn null(param: &str) -> Failure {
        Failure {
            status: nucleus_status::NUCLEUS_NULL_ARGUMENT,
            message: format!("argument `{param}` is NULL"),
            errno: 0,
            field: param.to_owned(),
        }
    }

    /// An argument the library cannot use.
    pub(crate) fn invalid(param: &str, reason: impl Display) -> Failure {
        Failure {
            status: nucleus_status::NUCLEUS_INVALID_ARGUMENT,
            message: format!("invalid argument `{param}`: {reason}"),
            errno: 0,
            field: param.to_owned(),
        }
    }

    /// Any other status, with a message.
    pub(crate) fn new(status: nucleus_status, message: impl Into<String>) -> Failure {
        Failure { status, message: message.into(), errno: 0, field: String::new() }
    }
}

impl From<nucleus_core::Error> for Failure {
    fn from(e: nucleus_core::Error) -> Failure {
        Failure {
            status: nucleus_status::from_kind(e.kind()),
            message: e.to_string(),
            errno: e.errno().unwrap_or(0),
            field: e.field().unwrap_or("").to_owned(),
        }
    }
}

/// What a fallible body returns.
pub(crate) type Outcome = Result<(), Failure>;

/// Run `body`, catching a panic; record the outcome as the thread's last error and
/// return its status. Used through [`ffi_boundary!`].
pub(crate) fn boundary(body: impl FnOnce() -> Outcome) -> nucleus_status {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            last_error::clear();
            return nucleus_status::NUCLEUS_OK;
        }
        Ok(Err(failure)) => failure,
        Err(payload) => Failure::new(
            nucleus_status::NUCLEUS_PANIC,
            format!("nucleus panicked (this is a bug, please report it): {}", panic_text(&*payload)),
        ),
    };
    let status = failure.status;
    last_error::set(failure);
    status
}

/// Run an infallible `body`, returning `default` if it panics. Leaves the last error alone.
pub(crate) fn boundary_or<T>(default: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(default)
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// The body of every fallible `extern "C"` function: `ffi_boundary! { ...; Ok(()) }`.
/// Inside, `?` converts `nucleus_core::Error` and `return Err(Failure)` fails the call.
/// The second form, `ffi_boundary!(default = value; ...)`, is for functions that cannot
/// fail (destructors, static getters): a panic there returns `value`.
macro_rules! ffi_boundary {
    (default = $default:expr; $($body:tt)*) => {
        $crate::ffi::boundary_or($default, move || { $($body)* })
    };
    ($($body:tt)*) => {
        $crate::ffi::boundary(move || -> $crate::ffi::Outcome { $($body)* })
    };
}

/// An opaque C type backed by a boxed Rust value (rustls' `Castable`, always `Box`: every
/// handle here is owned by exactly one C variable and freed once).
pub(crate) trait Handle: Sized {
    /// The Rust value behind the pointer.
    type Rust;

    /// Move `value` to the heap and hand out the pointer C will own.
    fn into_raw(value: Self::Rust) -> *mut Self {
        Box::into_raw(Box::new(value)).cast()
    }

    /// Borrow the value behind `ptr`, or `None` when it is NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or came from [`Handle::into_raw`] of this type and is not freed.
    unsafe fn as_ref<'a>(ptr: *const Self) -> Option<&'a Self::Rust> {
        // SAFETY: by this function's contract.
        unsafe { ptr.cast::<Self::Rust>().as_ref() }
    }

    /// Borrow the value behind `ptr` mutably, or `None` when it is NULL.
    ///
    /// # Safety
    /// As [`Handle::as_ref`], and no other reference to the value is alive.
    unsafe fn as_mut<'a>(ptr: *mut Self) -> Option<&'a mut Self::Rust> {
        // SAFETY: by this function's contract.
        unsafe { ptr.cast::<Self::Rust>().as_mut() }
    }

    /// Drop the value behind `ptr`; NULL is ignored.
    ///
    /// # Safety
    /// As [`Handle::as_mut`], and `ptr` is not used afterwards.
    unsafe fn free(ptr: *mut Self) {
        if !ptr.is_null() {
            // SAFETY: by this function's contract the box is ours to drop.
            drop(unsafe { Box::from_raw(ptr.cast::<Self::Rust>()) });
        }
    }
}

/// `let x = try_ref!(x);` borrows the handle `x` or fails the call with
/// `NUCLEUS_NULL_ARGUMENT` naming `x`. The C contract makes `x` NULL or a live handle.
macro_rules! try_ref {
    ($ptr:ident) => {
        // SAFETY: the C caller passes NULL or a live handle of this type (the C contract).
        match unsafe { $crate::ffi::Handle::as_ref($ptr) } {
            Some(value) => value,
            None => return Err($crate::ffi::Failure::null(stringify!($ptr))),
        }
    };
}

/// `let x = try_mut!(x);` as [`try_ref!`], mutably. The C contract says a mutable handle
/// is not used by two threads at once.
macro_rules! try_mut {
    ($ptr:ident) => {
        // SAFETY: the C caller passes NULL or a live handle that no other call is using.
        match unsafe { $crate::ffi::Handle::as_mut($ptr) } {
            Some(value) => value,
            None => return Err($crate::ffi::Failure::null(stringify!($ptr))),
        }
    };
}

/// `let out = try_out!(out);` checks an out-parameter; write it with [`Out::set`] as the
/// last step, so nothing is written on failure.
macro_rules! try_out {
    ($ptr:ident) => {
        match $crate::ffi::Out::new($ptr) {
            Some(out) => out,
            None => return Err($crate::ffi::Failure::null(stringify!($ptr))),
        }
    };
}

/// `let s = try_str!(s);` reads a NUL-terminated UTF-8 argument as `&str`, failing with
/// `NUCLEUS_NULL_ARGUMENT` or `NUCLEUS_INVALID_ARGUMENT` naming `s`.
macro_rules! try_str {
    ($ptr:ident) => {
        // SAFETY: the C caller passes NULL or a NUL-terminated string (the C contract).
        match unsafe { $crate::ffi::c_str($ptr, stringify!($ptr)) } {
            Ok(s) => s,
            Err(failure) => return Err(failure),
        }
    };
}

/// `let b = try_bytes!(data, len);` borrows `len` bytes at `data`; `data` may be NULL only
/// when `len` is 0.
macro_rules! try_bytes {
    ($ptr:ident, $len:ident) => {
        // SAFETY: the C caller passes `len` readable bytes at `data` (the C contract).
        match unsafe { $crate::ffi::c_bytes($ptr, $len, stringify!($ptr)) } {
            Ok(b) => b,
            Err(failure) => return Err(failure),
        }
    };
}

/// A checked, non-NULL out-parameter.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    pub(crate) fn new(ptr: *mut T) -> Option<Out<T>> {
        NonNull::new(ptr).map(Out)
    }

    /// Write the result. The previous content is not read or dropped.
    pub(crate) fn set(self, value: T) {
        // SAFETY: the C caller passes a pointer to writable memory for a T.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// The UTF-8 string at `ptr`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, param: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(param));
    }
    // SAFETY: by this function's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| Failure::invalid(param, format!("not valid UTF-8 ({e})")))
}

/// The `len` bytes at `ptr`.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes that outlive `'a`.
pub(crate) unsafe fn c_bytes<'a>(ptr: *const u8, len: usize, param: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::null(param));
    }
    // SAFETY: by this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A `malloc`ed copy of `bytes` followed by a NUL that is not part of the data, freed by
/// [`nucleus_bytes_free`] or [`nucleus_string_free`].
pub(crate) fn malloc_copy(bytes: &[u8]) -> Result<NonNull<u8>, Failure> {
    // SAFETY: malloc has no preconditions; a non-NULL result has room for len + 1 bytes,
    // which the copy and the NUL fill.
    unsafe {
        let ptr = NonNull::new(libc::malloc(bytes.len() + 1).cast::<u8>()).ok_or_else(|| Failure {
            status: nucleus_status::NUCLEUS_SYSCALL,
            message: format!("malloc of {} bytes: out of memory", bytes.len() + 1),
            errno: libc::ENOMEM,
            field: String::new(),
        })?;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), bytes.len());
        ptr.as_ptr().add(bytes.len()).write(0);
        Ok(ptr)
    }
}

/// Free a byte buffer the library allocated, such as the data of
/// `nucleus_sandbox_read_file`.
///
/// Calling with NULL is fine. Must not be called twice with the same value.
#[no_mangle]
pub unsafe extern "C" fn nucleus_bytes_free(data: *mut u8) {
    ffi_boundary!(default = ();
        // SAFETY: data is NULL or a buffer from malloc_copy that C has not freed.
        unsafe { libc::free(data.cast::<c_void>()) }
    )
}

/// Free a string the library allocated, such as the one from `nucleus_config_to_json`.
///
/// Calling with NULL is fine. Must not be called twice with the same value.
#[no_mangle]
pub unsafe extern "C" fn nucleus_string_free(string: *mut c_char) {
    ffi_boundary!(default = ();
        // SAFETY: string is NULL or a buffer from malloc_copy that C has not freed.
        unsafe { libc::free(string.cast::<c_void>()) }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::last_error::{nucleus_last_error_field, nucleus_last_error_message};

    fn message() -> String {
        // SAFETY: the message is a live NUL-terminated string until the next call.
        unsafe { CStr::from_ptr(nucleus_last_error_message()) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn a_panic_becomes_nucleus_panic_with_its_message() {
        let status = ffi_boundary! { panic!("boom {}", 42) };
        assert_eq!(status, nucleus_status::NUCLEUS_PANIC);
        assert_eq!(message(), "nucleus panicked (this is a bug, please report it): boom 42");
        let value: i32 = ffi_boundary!(default = -1; panic!("static message"));
        assert_eq!(value, -1);
    }

    #[test]
    fn success_clears_the_last_error() {
        let status = ffi_boundary! { Err(Failure::invalid("thing", "too big")) };
        assert_eq!(status, nucleus_status::NUCLEUS_INVALID_ARGUMENT);
        assert_eq!(message(), "invalid argument `thing`: too big");
        // SAFETY: the field is a live NUL-terminated string until the next call.
        assert_eq!(unsafe { CStr::from_ptr(nucleus_last_error_field()) }.to_str().unwrap(), "thing");
        assert_eq!(ffi_boundary! { Ok(()) }, nucleus_status::NUCLEUS_OK);
        assert_eq!(message(), "");
    }

    #[test]
    fn strings_are_checked_for_null_and_utf8() {
        let bad = c"\xff\xfe";
        // SAFETY: both are NUL-terminated literals or NULL.
        unsafe {
            assert_eq!(c_str(c"fine".as_ptr(), "p").unwrap(), "fine");
            assert_eq!(c_str(std::ptr::null(), "p").unwrap_err().status, nucleus_status::NUCLEUS_NULL_ARGUMENT);
            let e = c_str(bad.as_ptr(), "hostname").unwrap_err();
            assert_eq!(e.status, nucleus_status::NUCLEUS_INVALID_ARGUMENT);
            assert!(e.message.starts_with("invalid argument `hostname`: not valid UTF-8"), "{}", e.message);
            assert_eq!(c_bytes(std::ptr::null(), 0, "data").unwrap(), b"");
            assert_eq!(c_bytes(std::ptr::null(), 3, "data").unwrap_err().field, "data");
        }
    }

    #[test]
    fn malloced_copies_are_nul_terminated_and_freeable() {
        let ptr = malloc_copy(b"abc").unwrap();
        // SAFETY: the copy has 4 readable bytes.
        assert_eq!(unsafe { std::slice::from_raw_parts(ptr.as_ptr(), 4) }, b"abc\0");
        // SAFETY: freed once; NULL is fine.
        unsafe {
            nucleus_bytes_free(ptr.as_ptr());
            nucleus_bytes_free(std::ptr::null_mut());
            nucleus_string_free(std::ptr::null_mut());
        }
    }
}
