//! The C ABI of nucleus: `libnucleus.so` / `libnucleus.a` and `include/nucleus.h`.
//!
//! Every function is an `extern "C" fn` written out in full in the module of the object
//! it works on (`config`, `sandbox`, `exec`, `process`, `pool`, `report`), so a `grep`
//! for a C name finds its Rust body. Each body runs inside [`ffi_boundary!`], which catches panics, turns
//! errors into a [`nucleus_status`] and records the thread's last error; pointers go
//! through [`try_ref!`], [`try_mut!`], [`try_out!`] and [`try_str!`], which turn NULL and
//! invalid UTF-8 into statuses instead of crashes.
//!
//! The header is generated from these sources by cbindgen (`cbindgen.toml`) and checked
//! in; `tests/header.rs` fails when it is stale.
//!
//! # Safety
//!
//! The functions are `unsafe` because they take raw pointers from C. Each one's contract
//! is its doc comment (which is also its documentation in the header): every pointer is
//! NULL or points to what the doc says, a handle is one the library returned and has not
//! freed, and lengths describe the memory they come with.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]
// `#[must_use]` on each fallible function is what makes cbindgen emit NUCLEUS_MUST_USE;
// the one on `nucleus_status` covers Rust callers.
#![allow(clippy::double_must_use)]

#[macro_use]
mod ffi;

pub mod config;
pub mod exec;
pub mod last_error;
pub mod pool;
pub mod process;
pub mod report;
pub mod sandbox;
pub mod status;
pub mod version;

pub use config::{nucleus_config, nucleus_seccomp_mode};
pub use exec::{nucleus_exec, nucleus_exec_result};
pub use ffi::{nucleus_bytes_free, nucleus_string_free};
pub use pool::nucleus_pool;
pub use process::nucleus_process;
pub use sandbox::{nucleus_sandbox, nucleus_sandbox_state};
pub use status::nucleus_status;
