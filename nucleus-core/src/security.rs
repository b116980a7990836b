//! The security layers as one plan: what the caller compiled for seccomp, Landlock,
//! capabilities and rlimits, and the host checks that make an unenforceable layer an
//! error — or, in degraded mode, a warning the caller can read.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{SandboxConfig, SeccompMode};
use crate::error::{Error, Result};
use crate::landlock::{self, LandlockPlan};
use crate::rlimits::{self, Rlimit};
use crate::rootfs::MountPlan;
use crate::seccomp::SeccompPlan;

/// The compiled security layers of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityPlan {
    /// seccomp filters, if any.
    pub seccomp: Option<SeccompPlan>,
    /// Landlock rules, if Landlock is on and the kernel has it.
    pub landlock: Option<LandlockPlan>,
    /// Capability numbers kept (normally none).
    pub capabilities: Vec<u8>,
    /// Resource limits of every command.
    pub rlimits: Vec<Rlimit>,
}

impl SecurityPlan {
    /// Compile the layers of `config` for this host. Returns the plan and the warnings of
    /// degraded mode; a layer the host cannot enforce is an error without it.
    /// `shim` is the supervisor executable, asked for the Landlock ABI when this process
    /// cannot query it.
    pub fn compile(config: &SandboxConfig, mounts: &MountPlan, shim: &Path) -> Result<(SecurityPlan, Vec<String>)> {
        let security = &config.security;
        let mut warnings = Vec::new();
        let degrade = |warnings: &mut Vec<String>, layer: &str, reason: String| -> Result<()> {
            if config.allow_degraded {
                warnings.push(format!("{layer} is not enforced: {reason}"));
                Ok(())
            } else {
                Err(Error::Unsupported { layer: layer.into(), reason })
            }
        };
        let mut seccomp = SeccompPlan::compile(&security.seccomp, &security.capabilities)?;
        if seccomp.is_some() && !seccomp_available() {
            degrade(&mut warnings, "seccomp", "the kernel has no seccomp filter mode (CONFIG_SECCOMP_FILTER); use a kernel with it, or set security.seccomp.mode = \"off\"".into())?;
            seccomp = None;
        }
        let mut landlock_plan = None;
        if security.landlock {
            match landlock::host_abi(shim) {
                0 => degrade(&mut warnings, "landlock", "the kernel has no Landlock (Linux 5.13+ with landlock in the lsm= boot list); enable it, or set security.landlock = false".into())?,
                abi => landlock_plan = Some(LandlockPlan::compile(mounts, abi)),
            }
        }
        if security.seccomp.mode == SeccompMode::Log {
            warnings.push("seccomp is in log mode: calls outside the profile are allowed and logged".into());
        }
        let plan = SecurityPlan {
            seccomp,
            landlock: landlock_plan,
            capabilities: crate::caps::compile(security)?,
            rlimits: rlimits::compile(&security.rlimits)?,
        };
        Ok((plan, warnings))
    }
}

/// Whether seccomp filters can be installed: `Seccomp:` in `/proc/self/status` and
/// `PR_GET_SECCOMP` answering. A kernel fact, looked up once per process.
pub fn seccomp_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // SAFETY: PR_GET_SECCOMP takes no pointers.
        let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
        mode >= 0
            && std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("\nSeccomp_filters:"))
    })
}
