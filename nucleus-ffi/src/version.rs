//! The library and ABI versions.

use std::ffi::c_char;

/// The ABI version; `#define NUCLEUS_ABI_VERSION` in the header (from `cbindgen.toml`'s
/// `after_includes`) must equal it, which `tests/header.rs` checks. Raise it whenever a
/// signature, a handle's meaning or a status value changes incompatibly.
pub(crate) const ABI_VERSION: u32 = 1;

/// The library version as a NUL-terminated string.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The version of the nucleus library, e.g. `"0.1.0"`.
///
/// The string is static: never NULL, do not free it.
#[no_mangle]
pub extern "C" fn nucleus_version() -> *const c_char {
    ffi_boundary!(default = VERSION.as_ptr().cast(); VERSION.as_ptr().cast())
}

/// The ABI version of the loaded library. A program compiled against `nucleus.h` can
/// compare it with `NUCLEUS_ABI_VERSION` to detect that it runs with a library it was not
/// built for.
#[no_mangle]
pub extern "C" fn nucleus_abi_version() -> u32 {
    ffi_boundary!(default = ABI_VERSION; ABI_VERSION)
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    #[test]
    fn version_is_the_core_version() {
        // SAFETY: the version is a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(nucleus_version()) };
        assert_eq!(v.to_str().unwrap(), nucleus_core::VERSION);
        assert_eq!(nucleus_abi_version(), ABI_VERSION);
    }
}
