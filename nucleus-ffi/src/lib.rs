//! The C ABI of nucleus. The functions arrive with the C API issue; the crate exists so the
//! workspace layout and the `libnucleus` artifact name are fixed from the start.

pub use nucleus_core::VERSION;
