//! `nucleus_pool`: a warm pool of sandboxes of one config, created and started in the
//! background so that taking one costs microseconds (`nucleus_core::Pool`).
//!
//! `nucleus_pool_take` and `nucleus_pool_ready` take `const nucleus_pool *`: the Rust
//! `Pool` is `Send + Sync` and does its own locking, so many threads may take at once.

use nucleus_core::Pool;

use crate::config::nucleus_config;
use crate::ffi::{Failure, Handle};
use crate::sandbox::{nucleus_sandbox, SandboxHandle};
use crate::status::nucleus_status;

/// A pool of started sandboxes. Create it with `nucleus_pool_new`, free it with
/// `nucleus_pool_free`.
pub struct nucleus_pool {
    _private: [u8; 0],
}

impl Handle for nucleus_pool {
    type Rust = Pool;
}

/// Validate `cfg`, build one sandbox from it before returning (so a config this host
/// cannot satisfy fails here, with the error `nucleus_sandbox_start` would give), and
/// start a background thread that keeps `size` sandboxes created and started, replacing
/// each one taken. `size` must be at least 1 (`NUCLEUS_INVALID_ARGUMENT` names it). The
/// config must not set a workspace directory, which all the pool's sandboxes would share
/// (`NUCLEUS_INVALID_CONFIG` names `workspace`); each gets a private one.
///
/// Borrows `cfg` for the duration of the call; nucleus copies what it keeps.
/// The caller owns `*out` and frees it with `nucleus_pool_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_pool_new(
    cfg: *const nucleus_config,
    size: usize,
    out: *mut *mut nucleus_pool,
) -> nucleus_status {
    ffi_boundary! {
        let cfg = try_ref!(cfg);
        let out = try_out!(out);
        if size == 0 {
            return Err(Failure::invalid("size", "a pool holds at least 1 sandbox"));
        }
        let pool = Pool::new(cfg.clone(), size)?;
        out.set(nucleus_pool::into_raw(pool));
        Ok(())
    }
}

/// Take a running sandbox that no one has used: one the pool has ready, or, when none is,
/// one built during this call. The sandbox is the caller's alone from then on, exactly
/// like one from `nucleus_sandbox_create` and `nucleus_sandbox_start`: it does not go back
/// to the pool, and freeing the pool does not affect it.
///
/// If building a sandbox in the background failed since the last take, this call returns
/// that error (once) and the next goes on as usual.
///
/// Safe to call concurrently on the same pool from any number of threads.
/// The caller owns `*out` and frees it with `nucleus_sandbox_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_pool_take(
    pool: *const nucleus_pool,
    out: *mut *mut nucleus_sandbox,
) -> nucleus_status {
    ffi_boundary! {
        let pool = try_ref!(pool);
        let out = try_out!(out);
        let sandbox = pool.take()?;
        out.set(nucleus_sandbox::into_raw(SandboxHandle::new(sandbox)));
        Ok(())
    }
}

/// How many sandboxes the pool has ready now (at most its size; the background thread
/// refills it after each take).
///
/// Safe to call concurrently with other calls on the same pool.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn nucleus_pool_ready(pool: *const nucleus_pool, out: *mut usize) -> nucleus_status {
    ffi_boundary! {
        let pool = try_ref!(pool);
        let out = try_out!(out);
        out.set(pool.ready());
        Ok(())
    }
}

/// Free a pool: stop its background thread (waiting for a sandbox it is building) and
/// destroy the sandboxes still in it (errors of that teardown are not reported).
/// Sandboxes taken from it stay valid and keep running.
///
/// Calling with NULL is fine. Must not be called twice with the same value, nor while
/// another call uses `pool`.
#[no_mangle]
pub unsafe extern "C" fn nucleus_pool_free(pool: *mut nucleus_pool) {
    ffi_boundary!(default = ();
        // SAFETY: pool is NULL or a live pool handle the caller gives up.
        unsafe { nucleus_pool::free(pool) }
    )
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    use super::*;
    use crate::config::{nucleus_config_free, nucleus_config_new, nucleus_config_set_hostname};
    use crate::last_error::{nucleus_last_error_field, nucleus_last_error_message};
    use crate::sandbox::{
        nucleus_sandbox_destroy, nucleus_sandbox_free, nucleus_sandbox_id, nucleus_sandbox_state, nucleus_sandbox_status,
    };
    use crate::status::nucleus_status::*;

    fn field() -> String {
        // SAFETY: the getter returns a live NUL-terminated string.
        unsafe { CStr::from_ptr(nucleus_last_error_field()) }.to_str().unwrap().to_owned()
    }

    fn message() -> String {
        // SAFETY: the getter returns a live NUL-terminated string.
        unsafe { CStr::from_ptr(nucleus_last_error_message()) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn null_and_bad_arguments_are_reported_by_name() {
        let mut cfg = null_mut();
        let mut pool = null_mut();
        let mut sb = null_mut();
        let mut ready = 7usize;
        // SAFETY: every pointer is NULL or valid; cfg is freed once.
        unsafe {
            assert_eq!(nucleus_pool_new(null(), 1, &mut pool), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(field(), "cfg");
            assert_eq!(nucleus_config_new(&mut cfg), NUCLEUS_OK);
            assert_eq!(nucleus_pool_new(cfg, 1, null_mut()), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(field(), "out");
            assert_eq!(nucleus_pool_new(cfg, 0, &mut pool), NUCLEUS_INVALID_ARGUMENT);
            assert_eq!(field(), "size");
            assert_eq!(message(), "invalid argument `size`: a pool holds at least 1 sandbox");
            assert_eq!(nucleus_config_set_hostname(cfg, c"not a hostname".as_ptr()), NUCLEUS_OK);
            assert_eq!(nucleus_pool_new(cfg, 2, &mut pool), NUCLEUS_INVALID_CONFIG);
            assert_eq!(field(), "hostname");
            nucleus_config_free(cfg);
            assert_eq!(nucleus_pool_take(null(), &mut sb), NUCLEUS_NULL_ARGUMENT);
            assert_eq!(field(), "pool");
            assert_eq!(nucleus_pool_ready(null(), &mut ready), NUCLEUS_NULL_ARGUMENT);
            nucleus_pool_free(null_mut());
        }
        assert!(pool.is_null() && sb.is_null() && ready == 7, "outputs written on failure");
    }

    #[test]
    fn taken_sandboxes_run_and_outlive_the_pool() {
        let mut cfg = null_mut();
        let mut pool = null_mut();
        let (mut a, mut b) = (null_mut(), null_mut());
        let (mut id_a, mut id_b) = (null(), null());
        let mut state = nucleus_sandbox_state::Stopped;
        let mut ready = 0usize;
        // SAFETY: every pointer is valid; each handle is freed once.
        unsafe {
            assert_eq!(nucleus_config_new(&mut cfg), NUCLEUS_OK);
            assert_eq!(nucleus_pool_new(cfg, 1, &mut pool), NUCLEUS_OK, "{}", message());
            nucleus_config_free(cfg);
            assert_eq!(nucleus_pool_ready(pool, &mut ready), NUCLEUS_OK);
            assert_eq!(ready, 1);
            assert_eq!(nucleus_pool_take(pool, &mut a), NUCLEUS_OK, "{}", message());
            assert_eq!(nucleus_pool_take(pool, &mut b), NUCLEUS_OK, "{}", message());
            nucleus_pool_free(pool);
            assert_eq!(nucleus_sandbox_id(a, &mut id_a), NUCLEUS_OK);
            assert_eq!(nucleus_sandbox_id(b, &mut id_b), NUCLEUS_OK);
            assert_ne!(CStr::from_ptr(id_a), CStr::from_ptr(id_b));
            for sb in [a, b] {
                assert_eq!(nucleus_sandbox_status(sb, &mut state), NUCLEUS_OK);
                assert_eq!(state, nucleus_sandbox_state::Running);
                assert_eq!(nucleus_sandbox_destroy(sb), NUCLEUS_OK);
                nucleus_sandbox_free(sb);
            }
        }
    }
}
