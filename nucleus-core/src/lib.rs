//! nucleus: in-process Linux sandboxes for untrusted code.
//!
//! ```no_run
//! use nucleus_core::{ExecRequest, Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::create(SandboxConfig::new().hostname("demo"))?;
//! sandbox.start()?;
//! let out = sandbox.exec(&ExecRequest::shell("echo hello from $(hostname)"))?;
//! assert_eq!(out.stdout, b"hello from demo\n");
//! sandbox.destroy()?;
//! # Ok::<(), nucleus_core::Error>(())
//! ```
//!
//! The library never forks. Each sandbox is run by a small single-threaded supervisor
//! process (`nucleus-shim`), forked by a zygote the library spawns once per process, and
//! the library talks to it over a socket; the README describes the process model.

pub mod cgroups;
pub mod config;
pub mod error;
pub mod idmap;
pub mod namespaces;
pub mod process;
pub mod doctor;
pub mod landlock;
pub mod pool;
pub mod protocol;
pub mod report;
pub mod rlimits;
pub mod rootfs;
pub mod sandbox;
pub mod seccomp;
pub mod security;
pub mod shim;
pub mod state;
pub mod supervisor;

mod bpf;
mod caps;
mod init;
mod network;
mod syscalls;
mod sys;
mod zygote;

pub use config::{
    ByteSize, Mount, Network, RlimitConfig, SandboxConfig, SeccompConfig, SeccompMode, SecurityConfig,
    UserConfig,
};
pub use doctor::{doctor, DoctorReport};
pub use report::{LayerReport, SecurityReport};
pub use cgroups::{IoLimit, Limits, Stats};
pub use error::{Error, ErrorKind, Result};
pub use pool::Pool;
pub use process::{ExecOutput, ExecRequest, ExitStatus, Process};
pub use sandbox::{Sandbox, Status};
pub use state::cleanup_stale;

/// The library's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the workspace appears inside every sandbox.
pub const WORKSPACE_DIR: &str = "/workspace";
