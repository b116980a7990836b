//! The thread-local last error (libgit2 style): set by every call that returns an error
//! status, cleared by every call that returns `NUCLEUS_OK`, read by the three getters.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

use crate::ffi::Failure;

/// The last failure on this thread, in the form the getters hand out.
struct LastError {
    message: CString,
    field: CString,
    errno: i32,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

/// A C string of `text`; an embedded NUL (from a path, say) is shown as `\0`.
fn c_string(text: String) -> CString {
    CString::new(text).unwrap_or_else(|e| {
        let text = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\\0");
        CString::new(text).expect("no NUL left")
    })
}

pub(crate) fn set(failure: Failure) {
    let last = LastError {
        message: c_string(failure.message),
        field: c_string(failure.field),
        errno: failure.errno,
    };
    LAST_ERROR.with(|cell| *cell.borrow_mut() = Some(last));
}

pub(crate) fn clear() {
    LAST_ERROR.with(|cell| *cell.borrow_mut() = None);
}

/// A pointer into this thread's last error, or to a static "".
fn with_last(pick: impl FnOnce(&LastError) -> *const c_char) -> *const c_char {
    LAST_ERROR.with(|cell| cell.borrow().as_ref().map_or(c"".as_ptr(), pick))
}

/// The message of the last error on this thread, e.g.
/// `"invalid config: mounts[0].target: /x/../y must not contain '..'"`, or `""` when the
/// last call succeeded.
///
/// Never NULL. The string is valid until the next `nucleus_*` call on this thread that
/// returns a `nucleus_status`; do not free it.
#[no_mangle]
pub extern "C" fn nucleus_last_error_message() -> *const c_char {
    ffi_boundary!(default = c"".as_ptr(); with_last(|last| last.message.as_ptr()))
}

/// The errno behind the last error on this thread (for `NUCLEUS_SYSCALL` and
/// `NUCLEUS_EXEC_FAILED`), or 0 if there is none.
#[no_mangle]
pub extern "C" fn nucleus_last_error_errno() -> c_int {
    ffi_boundary!(default = 0;
        LAST_ERROR.with(|cell| cell.borrow().as_ref().map_or(0, |last| last.errno))
    )
}

/// What the last error on this thread is about: the config field's path for
/// `NUCLEUS_INVALID_CONFIG` (e.g. `"mounts[2].target"`, `"env.A=B"`, `"timeout"`), the
/// parameter's name for `NUCLEUS_NULL_ARGUMENT` and `NUCLEUS_INVALID_ARGUMENT` (e.g.
/// `"hostname"`), otherwise `""`.
///
/// Never NULL. The string is valid until the next `nucleus_*` call on this thread that
/// returns a `nucleus_status`; do not free it.
#[no_mangle]
pub extern "C" fn nucleus_last_error_field() -> *const c_char {
    ffi_boundary!(default = c"".as_ptr(); with_last(|last| last.field.as_ptr()))
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::status::nucleus_status;

    fn text(ptr: *const c_char) -> String {
        assert!(!ptr.is_null());
        // SAFETY: the getters return live NUL-terminated strings.
        unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn getters_are_empty_until_an_error_and_per_thread() {
        std::thread::spawn(|| {
            assert_eq!(text(nucleus_last_error_message()), "");
            assert_eq!(text(nucleus_last_error_field()), "");
            assert_eq!(nucleus_last_error_errno(), 0);
            set(Failure {
                status: nucleus_status::NUCLEUS_SYSCALL,
                message: "open /a\0b: Permission denied".into(),
                errno: 13,
                field: String::new(),
            });
            assert_eq!(text(nucleus_last_error_message()), "open /a\\0b: Permission denied");
            assert_eq!(nucleus_last_error_errno(), 13);
            std::thread::spawn(|| assert_eq!(nucleus_last_error_errno(), 0)).join().unwrap();
            clear();
            assert_eq!(nucleus_last_error_errno(), 0);
        })
        .join()
        .unwrap();
    }
}
